//! Why an order changed, as its audit trail records it: one type, one text form.

use std::fmt;

/// The cause of an order change (texts boxed, or a webhook's key inline: a cause travels in
/// every message, so it is kept small). Its text form (`Display`) is what the audit trail stores and
/// the history API shows: `webhook:<dedupe key>`, `poll`, `user:<key name>`,
/// `rule:<template>/<step>`, `integration:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cause {
    /// A TikTok webhook, by the delivery's dedupe key (`tts:<notification id>`, or
    /// `sha256:<body hash>`).
    Webhook(compact_str::CompactString),
    /// The reconciliation poller.
    Poll,
    /// An API caller, by the name of its key.
    User(Box<str>),
    /// A workflow step (boxed: it is the largest, and causes travel in every message).
    Rule(Box<Rule>),
    /// An outside system: `tiktok` (a fetched detail), `carrier` (tracking), …
    Integration(Box<str>),
}

/// A workflow step: its template and step names. The rules that choose a template are
/// template `rules`, step `choose`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    pub template: String,
    pub step: String,
}

impl Cause {
    /// Step `step` of workflow template `template`.
    pub fn rule(template: impl Into<String>, step: impl Into<String>) -> Self {
        Cause::Rule(Box::new(Rule {
            template: template.into(),
            step: step.into(),
        }))
    }

    /// The rules that choose an order's template.
    pub fn rules_choice() -> Self {
        Cause::rule("rules", "choose")
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Webhook(key) => write!(f, "webhook:{key}"),
            Cause::Poll => f.write_str("poll"),
            Cause::User(name) => write!(f, "user:{name}"),
            Cause::Rule(rule) => write!(f, "rule:{}/{}", rule.template, rule.step),
            Cause::Integration(name) => write!(f, "integration:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_has_one_text_form() {
        let rule = Cause::rule("standard", "ship");
        assert_eq!(rule.to_string(), "rule:standard/ship");
        assert_eq!(Cause::rules_choice().to_string(), "rule:rules/choose");
        assert_eq!(
            Cause::Webhook("tts:123".into()).to_string(),
            "webhook:tts:123"
        );
        assert_eq!(Cause::Poll.to_string(), "poll");
        assert_eq!(Cause::User("ops".into()).to_string(), "user:ops");
        assert_eq!(
            Cause::Integration("carrier".into()).to_string(),
            "integration:carrier"
        );
    }
}
