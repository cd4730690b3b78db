//! What a bulk job is asked to do, and the states it goes through.

use serde::{Deserialize, Serialize};

use crate::commands::Command;
use crate::domain::{Invalid, OrderId, Scope, Search, Tag};

crate::domain::serde_text::text_enum! {
    /// Where a job stands: `created` → `running` → `completed` (or `failed`); a cancel moves a
    /// job that has not finished to `canceling`, then `canceled` once its runner stops.
    pub enum JobState ("job state") {
        Created = "created",
        Running = "running",
        Canceling = "canceling",
        Canceled = "canceled",
        Completed = "completed",
        Failed = "failed",
    }
}

impl JobState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Canceled | Self::Completed | Self::Failed)
    }
}

crate::domain::serde_text::text_enum! {
    /// What a job does to each order.
    pub enum Action ("bulk action") {
        Hold = "hold",
        Release = "release",
        Cancel = "cancel",
        ApproveRequests = "approve_requests",
        RejectRequests = "reject_requests",
        TagsAdd = "tags_add",
        TagsRemove = "tags_remove",
        RetryWorkflow = "retry_workflow",
        ReplayDeadLetters = "replay_dead_letters",
        Export = "export",
    }
}

crate::domain::serde_text::text_enum! {
    /// What became of one item.
    pub enum Outcome ("item outcome") {
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

/// An action's parameters, as the job row keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `hold` and `cancel`: why (1 to 500 characters); `reject_requests`: TikTok's reject
    /// reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `tags_add` and `tags_remove`: 1 to 50 tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// The orders a job acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Every order the search matches (in the creator's scope) when the job is created.
    Query(Search),
    /// These orders (one not visible to the creator fails as not found).
    Ids(Vec<OrderId>),
}

/// A job as asked for, checked.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub action: Action,
    pub params: Params,
    pub target: Target,
    /// The text of the search, if it is one, as the job row shows it.
    pub query: Option<String>,
    pub scope: Scope,
    pub created_by: String,
}

/// Most orders one job acts on.
pub const MAX_ITEMS: usize = 250_000;
/// Most ids a job names directly (a query reaches further).
pub const MAX_IDS: usize = 10_000;

impl NewJob {
    /// A job as a caller asked for it (REST and GraphQL alike): an action by name, its params,
    /// and exactly one of a search and a list of ids; checked, naming what is wrong.
    pub fn asked(
        action: &str,
        params: Params,
        query: Option<String>,
        ids: Option<Vec<String>>,
        scope: Scope,
        created_by: String,
    ) -> Result<Self, Invalid> {
        let action = Action::parse(action)?;
        action.check(&params)?;
        let target = match (&query, ids) {
            (Some(query), None) => Target::Query(
                Search::parse(query).map_err(|e| Invalid::new("query", e.to_string()))?,
            ),
            (None, Some(ids)) => {
                if ids.is_empty() || ids.len() > MAX_IDS {
                    return Err(Invalid::new(
                        "ids",
                        format!("ids must name 1 to {MAX_IDS} orders"),
                    ));
                }
                Target::Ids(
                    ids.iter()
                        .map(|id| OrderId::parse(id))
                        .collect::<Result<_, _>>()?,
                )
            }
            _ => {
                return Err(Invalid::new("query", "give exactly one of query and ids"));
            }
        };
        Ok(Self {
            action,
            params,
            target,
            query,
            scope,
            created_by,
        })
    }
}

impl Action {
    /// Checks `params` for this action: what it needs, and nothing it does not take.
    pub fn check(self, params: &Params) -> Result<(), Invalid> {
        let reason_ok = params
            .reason
            .as_deref()
            .is_some_and(|r| crate::commands::reason(r).is_ok());
        let needs_reason = matches!(self, Action::Hold | Action::Cancel | Action::RejectRequests);
        let needs_tags = matches!(self, Action::TagsAdd | Action::TagsRemove);
        if needs_reason && !reason_ok {
            return Err(Invalid::new(
                "params.reason",
                format!("{self} needs params.reason, 1 to 500 characters"),
            ));
        }
        if !needs_reason && params.reason.is_some() {
            return Err(Invalid::new(
                "params.reason",
                format!("{self} takes no reason"),
            ));
        }
        if needs_tags && !(1..=50).contains(&params.tags.len()) {
            return Err(Invalid::new(
                "params.tags",
                format!("{self} needs params.tags, 1 to 50 tags"),
            ));
        }
        if !needs_tags && !params.tags.is_empty() {
            return Err(Invalid::new("params.tags", format!("{self} takes no tags")));
        }
        Ok(())
    }

    /// The command for one order; `None` for `export`, which changes nothing.
    pub fn command(self, params: &Params) -> Option<Command> {
        let reason = || params.reason.clone().unwrap_or_default().trim().to_owned();
        Some(match self {
            Action::Hold => Command::Hold { reason: reason() },
            Action::Release => Command::Release,
            Action::Cancel => Command::Cancel { reason: reason() },
            // Each order's request that waits for the seller.
            Action::ApproveRequests => Command::Answer {
                request: None,
                approve: true,
                reason: None,
            },
            Action::RejectRequests => Command::Answer {
                request: None,
                approve: false,
                reason: Some(reason()),
            },
            Action::TagsAdd => Command::Tag {
                add: params.tags.clone(),
                remove: Vec::new(),
            },
            Action::TagsRemove => Command::Tag {
                add: Vec::new(),
                remove: params.tags.clone(),
            },
            Action::RetryWorkflow | Action::ReplayDeadLetters => Command::RetryWorkflow,
            Action::Export => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_takes_the_params_it_needs_and_no_others() {
        let reason = Params {
            reason: Some("fraud check".into()),
            tags: vec![],
        };
        let tags = Params {
            reason: None,
            tags: vec![Tag::parse("vip").unwrap()],
        };
        assert!(Action::Hold.check(&reason).is_ok());
        assert!(Action::Hold.check(&Params::default()).is_err());
        assert!(Action::TagsAdd.check(&tags).is_ok());
        assert!(Action::TagsAdd.check(&reason).is_err());
        assert!(
            Action::Release
                .check(&tags)
                .unwrap_err()
                .reason
                .contains("takes no tags")
        );
        assert_eq!(Action::Export.command(&Params::default()), None);
        assert_eq!(
            Action::TagsRemove.command(&tags),
            Some(Command::Tag {
                add: vec![],
                remove: tags.tags.clone()
            })
        );
    }
}
