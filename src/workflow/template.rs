//! Workflow templates (TOML, one per file) and the rules that pick one per order, validated and
//! compiled at load: an invalid template fails with its file, step and reason.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::condition::{self, Condition, Facts};
use crate::domain::Stage;

/// The templates shipped in `config/workflows/`, compiled in; `workflow.dir` replaces them.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "standard.toml",
        include_str!("../../config/workflows/standard.toml"),
    ),
    (
        "high_value_review.toml",
        include_str!("../../config/workflows/high_value_review.toml"),
    ),
    (
        "preorder.toml",
        include_str!("../../config/workflows/preorder.toml"),
    ),
    (
        "rules.toml",
        include_str!("../../config/workflows/rules.toml"),
    ),
];

/// The built-in templates and rules as (file name, text), as [`Catalog::from_files`] reads them.
fn built_in_files() -> impl Iterator<Item = (String, String)> {
    BUILT_IN
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    ReserveStock,
    ReleaseStock,
    Hold {
        reason: String,
    },
    ReleaseHold,
    BuyLabel,
    Ship,
    Notify {
        channel: String,
        template: String,
    },
    Tag {
        tag: String,
    },
    Untag {
        tag: String,
    },
    SetPriority {
        priority: i64,
    },
    /// Wait a duration, or until a time the order names (`release_date`).
    Wait(Wait),
    Cancel {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    For(Duration),
    UntilReleaseDate,
}

impl Action {
    /// Every action's name, as templates spell it.
    pub const KINDS: [&'static str; 12] = [
        "reserve_stock",
        "release_stock",
        "hold",
        "release_hold",
        "buy_label",
        "ship",
        "notify",
        "tag",
        "untag",
        "set_priority",
        "wait",
        "cancel",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            Action::ReserveStock => "reserve_stock",
            Action::ReleaseStock => "release_stock",
            Action::Hold { .. } => "hold",
            Action::ReleaseHold => "release_hold",
            Action::BuyLabel => "buy_label",
            Action::Ship => "ship",
            Action::Notify { .. } => "notify",
            Action::Tag { .. } => "tag",
            Action::Untag { .. } => "untag",
            Action::SetPriority { .. } => "set_priority",
            Action::Wait(_) => "wait",
            Action::Cancel { .. } => "cancel",
        }
    }

    /// The stage an order reaches once this action is done, for the actions that move it.
    pub fn stage_after(&self) -> Option<Stage> {
        Self::stage_after_kind(self.kind())
    }

    /// [`Action::stage_after`] by the action's kind, as a step's record stores it.
    pub fn stage_after_kind(kind: &str) -> Option<Stage> {
        match kind {
            "reserve_stock" => Some(Stage::StockReserved),
            "buy_label" => Some(Stage::LabelPurchased),
            "ship" => Some(Stage::Shipped),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub max_attempts: u32,
    pub backoff: Duration,
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
pub struct Step {
    pub name: String,
    pub action: Action,
    /// Skip the step unless this holds when the step is reached.
    pub when: Option<Condition>,
    pub retry: Retry,
}

#[derive(Debug)]
pub struct Template {
    pub name: String,
    pub description: String,
    /// The feature flag new runs need for the order's shop; runs in flight finish regardless.
    pub flag: Option<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
struct Rule {
    when: Condition,
    template: String,
    /// The rule is passed over for shops without this feature flag.
    flag: Option<String>,
}

/// Every template and the rules, compiled.
#[derive(Debug)]
pub struct Catalog {
    templates: BTreeMap<String, Template>,
    rules: Vec<Rule>,
    shop_overrides: HashMap<String, String>,
    vars: HashMap<String, i64>,
}

/// Why templates cannot be loaded: the file, the step (if any) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {reason}", step.as_ref().map(|s| format!(", step `{s}`")).unwrap_or_default())]
pub struct Error {
    pub file: String,
    pub step: Option<String>,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: String,
    #[serde(default)]
    description: String,
    flag: Option<String>,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    action: String,
    when: Option<String>,
    reason: Option<String>,
    channel: Option<String>,
    template: Option<String>,
    tag: Option<String>,
    priority: Option<i64>,
    #[serde(default, with = "humantime_serde")]
    duration: Option<Duration>,
    until: Option<String>,
    retry: Option<RawRetry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    backoff: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default)]
    vars: HashMap<String, i64>,
    rules: Vec<RawRule>,
    #[serde(default)]
    shops: HashMap<String, RawShop>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    when: String,
    template: String,
    flag: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShop {
    template: String,
}

impl Catalog {
    /// The templates compiled into the binary (`config/workflows/`).
    /// The templates and rules `settings` name (the compiled-in ones when `workflow.dir` is
    /// empty), with the action kinds of `workflow.action_concurrency` checked against the
    /// actions that exist; an error names the key.
    pub fn configured(
        settings: &crate::config::WorkflowSettings,
        flags: &BTreeMap<String, crate::config::FlagSettings>,
    ) -> Result<Self, crate::config::Error> {
        if let Some(kind) = settings
            .action_concurrency
            .keys()
            .find(|k| !super::Action::KINDS.contains(&k.as_str()))
        {
            return Err(crate::config::Error::Invalid {
                key: "workflow.action_concurrency",
                reason: format!("unknown action `{kind}`"),
            });
        }
        let catalog = if settings.dir.is_empty() {
            Self::built_in()
        } else {
            Self::from_dir(Path::new(&settings.dir))
        };
        let catalog = catalog.map_err(|e| crate::config::Error::Invalid {
            key: "workflow.dir",
            reason: e.to_string(),
        })?;
        if let Some(flag) = catalog.flags().find(|f| !flags.contains_key(*f)) {
            return Err(crate::config::Error::Invalid {
                key: "workflow.dir",
                reason: format!(
                    "flag `{flag}` is needed by a template or rule but not configured under [flags]"
                ),
            });
        }
        Ok(catalog)
    }

    /// The flags templates and rules need.
    pub fn flags(&self) -> impl Iterator<Item = &str> {
        self.templates
            .values()
            .filter_map(|t| t.flag.as_deref())
            .chain(self.rules.iter().filter_map(|r| r.flag.as_deref()))
    }

    pub fn built_in() -> Result<Self, Error> {
        Self::from_files(built_in_files())
    }

    /// The built-in templates and rules with one more template file, `file` holding `text`.
    pub fn with_template(file: &str, text: &str) -> Result<Self, Error> {
        Self::from_files(built_in_files().chain([(file.to_owned(), text.to_owned())]))
    }

    /// Every `*.toml` in `dir`; `rules.toml` holds the rules, the rest one template each.
    pub fn from_dir(dir: &Path) -> Result<Self, Error> {
        let unreadable = |reason: String| Error {
            file: dir.display().to_string(),
            step: None,
            reason,
        };
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| unreadable(e.to_string()))?;
        for entry in entries {
            let path = entry.map_err(|e| unreadable(e.to_string()))?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).map_err(|e| unreadable(e.to_string()))?;
                files.push((path.display().to_string(), text));
            }
        }
        files.sort();
        Self::from_files(files)
    }

    fn from_files(files: impl IntoIterator<Item = (String, String)>) -> Result<Self, Error> {
        let mut templates = BTreeMap::new();
        let mut rules_file = None;
        for (file, text) in files {
            if file.ends_with("rules.toml") {
                rules_file = Some((file, text));
                continue;
            }
            let template = parse_template(&file, &text)?;
            if templates.contains_key(&template.name) {
                return Err(Error {
                    file,
                    step: None,
                    reason: format!("a template named `{}` is already defined", template.name),
                });
            }
            templates.insert(template.name.clone(), template);
        }
        let (file, text) = rules_file.ok_or_else(|| Error {
            file: "rules.toml".into(),
            step: None,
            reason: "missing: it says which template an order runs".into(),
        })?;
        let bad = |reason: String| Error {
            file: file.clone(),
            step: None,
            reason,
        };
        let raw: RawRules = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let known = |name: &str| {
            if templates.contains_key(name) {
                Ok(())
            } else {
                Err(bad(format!("template `{name}` does not exist")))
            }
        };
        let mut rules = Vec::new();
        for rule in raw.rules {
            known(&rule.template)?;
            rules.push(Rule {
                when: Condition::compile(&rule.when).map_err(|e| bad(e.to_string()))?,
                template: rule.template,
                flag: rule.flag,
            });
        }
        let mut shop_overrides = HashMap::new();
        for (shop, choice) in raw.shops {
            known(&choice.template)?;
            shop_overrides.insert(shop, choice.template);
        }
        Ok(Self {
            templates,
            rules,
            shop_overrides,
            vars: raw.vars,
        })
    }

    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.templates.values()
    }

    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.get(name)
    }

    pub fn vars(&self) -> &HashMap<String, i64> {
        &self.vars
    }

    /// The template for an order: the shop's override, else the first rule that holds. A rule
    /// that cannot be decided is an error (the order goes to `exception`), not a silent skip.
    /// A template or rule that needs a feature flag the order's shop does not have
    /// (`flag_on(flag, shop_id)` says) is passed over.
    pub fn choose(
        &self,
        facts: &Facts,
        flag_on: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Option<&Template>, condition::Error> {
        let allowed = |flag: &Option<String>| {
            flag.as_deref()
                .is_none_or(|flag| flag_on(flag, &facts.shop_id))
        };
        if let Some(template) = self
            .shop_overrides
            .get(&facts.shop_id)
            .and_then(|name| self.templates.get(name))
            .filter(|t| allowed(&t.flag))
        {
            return Ok(Some(template));
        }
        for rule in &self.rules {
            let Some(template) = self.templates.get(&rule.template) else {
                continue;
            };
            if allowed(&rule.flag)
                && allowed(&template.flag)
                && rule.when.holds(facts, &self.vars)?
            {
                return Ok(Some(template));
            }
        }
        Ok(None)
    }
}

fn parse_template(file: &str, text: &str) -> Result<Template, Error> {
    let raw: RawTemplate = toml::from_str(text).map_err(|e| Error {
        file: file.to_owned(),
        step: None,
        reason: e.to_string(),
    })?;
    if raw.steps.is_empty() {
        return Err(Error {
            file: file.to_owned(),
            step: None,
            reason: "a template needs at least one step".into(),
        });
    }
    let mut steps = Vec::new();
    for step in raw.steps {
        let fail = |reason: String| Error {
            file: file.to_owned(),
            step: Some(step.name.clone()),
            reason,
        };
        if steps.iter().any(|s: &Step| s.name == step.name) {
            return Err(fail("two steps share this name".into()));
        }
        let need = |value: &Option<String>, field: &str| {
            value
                .clone()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| fail(format!("`{}` needs `{field}`", step.action)))
        };
        let action = match step.action.as_str() {
            "reserve_stock" => Action::ReserveStock,
            "release_stock" => Action::ReleaseStock,
            "hold" => Action::Hold {
                reason: need(&step.reason, "reason")?,
            },
            "release_hold" => Action::ReleaseHold,
            "buy_label" => Action::BuyLabel,
            "ship" => Action::Ship,
            "notify" => Action::Notify {
                channel: need(&step.channel, "channel")?,
                template: need(&step.template, "template")?,
            },
            "tag" => Action::Tag {
                tag: need(&step.tag, "tag")?,
            },
            "untag" => Action::Untag {
                tag: need(&step.tag, "tag")?,
            },
            "set_priority" => Action::SetPriority {
                priority: step
                    .priority
                    .ok_or_else(|| fail("`set_priority` needs `priority`".into()))?,
            },
            "wait" => match (step.duration, step.until.as_deref()) {
                (Some(d), None) => Action::Wait(Wait::For(d)),
                (None, Some("release_date")) => Action::Wait(Wait::UntilReleaseDate),
                (None, Some(other)) => {
                    return Err(fail(format!(
                        "`until` may only be `release_date`, not `{other}`"
                    )));
                }
                _ => {
                    return Err(fail(
                        "`wait` needs exactly one of `duration` or `until`".into(),
                    ));
                }
            },
            "cancel" => Action::Cancel {
                reason: need(&step.reason, "reason")?,
            },
            other => return Err(fail(format!("unknown action `{other}`"))),
        };
        let when = step
            .when
            .as_deref()
            .map(Condition::compile)
            .transpose()
            .map_err(|e| fail(e.to_string()))?;
        let defaults = Retry::default();
        let retry = match &step.retry {
            None => defaults,
            Some(r) => Retry {
                max_attempts: r.max_attempts.unwrap_or(defaults.max_attempts),
                backoff: r.backoff.unwrap_or(defaults.backoff),
                timeout: r.timeout.unwrap_or(defaults.timeout),
            },
        };
        if retry.max_attempts == 0 {
            return Err(fail("retry.max_attempts must be at least 1".into()));
        }
        steps.push(Step {
            name: step.name.clone(),
            action,
            when,
            retry,
        });
    }
    if let Some(flag) = &raw.flag {
        crate::domain::flag::check_name(flag).map_err(|e| Error {
            file: file.to_owned(),
            step: None,
            reason: format!("flag: {}", e.reason),
        })?;
    }
    Ok(Template {
        name: raw.name,
        description: raw.description,
        flag: raw.flag,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(total_minor: i64, order_type: &str, shop: &str) -> Facts {
        Facts {
            total_minor,
            order_type: order_type.into(),
            shop_id: shop.into(),
            ..Facts::default()
        }
    }

    #[test]
    fn the_actions_that_move_the_stage_say_where_by_value_and_by_recorded_kind() {
        for (action, stage) in [
            (Action::ReserveStock, Some(Stage::StockReserved)),
            (Action::BuyLabel, Some(Stage::LabelPurchased)),
            (Action::Ship, Some(Stage::Shipped)),
            (Action::ReleaseStock, None),
            (Action::ReleaseHold, None),
        ] {
            assert_eq!(action.stage_after(), stage, "{action:?}");
            assert_eq!(Action::stage_after_kind(action.kind()), stage, "{action:?}");
        }
    }

    #[test]
    fn the_shipped_templates_load_and_rules_pick_the_first_match() {
        let catalog = Catalog::built_in().unwrap();
        let names: Vec<&str> = catalog.templates().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["high_value_review", "preorder", "standard"]);
        let pick = |f: Facts| {
            catalog
                .choose(&f, &|_, _| false)
                .unwrap()
                .unwrap()
                .name
                .clone()
        };
        assert_eq!(pick(facts(2_560, "NORMAL", "1")), "standard");
        assert_eq!(pick(facts(50_000, "NORMAL", "1")), "high_value_review");
        assert_eq!(pick(facts(90_000, "PRE_ORDER", "1")), "preorder");
        let standard = catalog.template("standard").unwrap();
        let kinds: Vec<&str> = standard.steps.iter().map(|s| s.action.kind()).collect();
        assert_eq!(
            kinds,
            ["hold", "reserve_stock", "buy_label", "ship", "notify"]
        );
        assert_eq!(standard.steps[3].retry.max_attempts, 8);
    }

    #[test]
    fn a_shop_override_wins() {
        let files = BUILT_IN.iter().map(|(n, t)| {
            let text = if *n == "rules.toml" {
                format!("{t}\n[shops.\"777\"]\ntemplate = \"high_value_review\"\n")
            } else {
                (*t).to_owned()
            };
            ((*n).to_owned(), text)
        });
        let catalog = Catalog::from_files(files).unwrap();
        let chosen = catalog
            .choose(&facts(100, "NORMAL", "777"), &|_, _| false)
            .unwrap()
            .unwrap();
        assert_eq!(chosen.name, "high_value_review");
    }

    #[test]
    fn a_template_or_rule_behind_a_flag_is_passed_over_for_shops_without_it() {
        let express =
            "name = \"express\"\nflag = \"express\"\n[[steps]]\nname = \"s\"\naction = \"ship\"\n";
        let catalog = Catalog::from_files(BUILT_IN.iter().map(|(n, t)| {
            let text = if *n == "rules.toml" {
                format!("[[rules]]\nwhen = \"true\"\ntemplate = \"express\"\n\n[[rules]]\nwhen = \"order.total_minor > 1000\"\ntemplate = \"high_value_review\"\nflag = \"review\"\n\n{t}")
            } else {
                (*t).to_owned()
            };
            ((*n).to_owned(), text)
        }).chain([("express.toml".to_owned(), express.to_owned())]))
        .unwrap();
        let mut flags: Vec<&str> = catalog.flags().collect();
        flags.sort_unstable();
        assert_eq!(flags, ["express", "review"]);
        let pick = |shop: &str, on: &dyn Fn(&str, &str) -> bool| {
            catalog
                .choose(&facts(5_000, "NORMAL", shop), on)
                .unwrap()
                .unwrap()
                .name
                .clone()
        };
        let only_shop_1 = |flag: &str, shop: &str| flag == "express" && shop == "1";
        assert_eq!(pick("1", &only_shop_1), "express");
        assert_eq!(pick("2", &only_shop_1), "standard");
        assert_eq!(pick("2", &|flag, _| flag == "review"), "high_value_review");
        let e = Catalog::from_files([
            (
                "t.toml".to_owned(),
                "name = \"t\"\nflag = \"Bad Flag\"\n[[steps]]\nname = \"s\"\naction = \"ship\"\n"
                    .to_owned(),
            ),
            (
                "rules.toml".to_owned(),
                "[[rules]]\nwhen = \"true\"\ntemplate = \"t\"\n".to_owned(),
            ),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("t.toml: flag:"), "{e}");
    }

    #[test]
    fn invalid_templates_fail_with_file_step_and_reason() {
        let rules = (
            "rules.toml".to_owned(),
            "[[rules]]\nwhen = \"true\"\ntemplate = \"t\"\n".to_owned(),
        );
        let load = |template: &str| {
            Catalog::from_files([("t.toml".to_owned(), template.to_owned()), rules.clone()])
                .unwrap_err()
        };
        let e = load("name = \"t\"\n[[steps]]\nname = \"s1\"\naction = \"teleport\"\n");
        assert_eq!((e.file.as_str(), e.step.as_deref()), ("t.toml", Some("s1")));
        assert!(e.reason.contains("unknown action `teleport`"));
        let e = load("name = \"t\"\n[[steps]]\nname = \"h\"\naction = \"hold\"\n");
        assert!(
            e.to_string()
                .contains("t.toml, step `h`: `hold` needs `reason`"),
            "{e}"
        );
        let e = load(
            "name = \"t\"\n[[steps]]\nname = \"w\"\naction = \"ship\"\nwhen = \"order.total_minor >\"\n",
        );
        assert!(e.reason.contains("not valid CEL"));
        let e = load("name = \"t\"\n[[steps]]\nname = \"w\"\naction = \"wait\"\n");
        assert!(e.reason.contains("exactly one of"));
        let e = Catalog::from_files([
            (
                "t.toml".to_owned(),
                "name = \"t\"\n[[steps]]\nname = \"s\"\naction = \"ship\"\n".to_owned(),
            ),
            (
                "rules.toml".to_owned(),
                "[[rules]]\nwhen = \"true\"\ntemplate = \"nope\"\n".to_owned(),
            ),
        ])
        .unwrap_err();
        assert!(e.reason.contains("template `nope` does not exist"));
    }
}
