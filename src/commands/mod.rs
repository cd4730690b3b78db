//! What a person (through the API) or a bulk job can do to an order. Each command goes through
//! the order's actor with the version the caller expects and is recorded with the caller as its
//! cause; what needs more than the actor (the workflow run, TikTok) is done here, so the HTTP
//! handlers and the bulk runner share one implementation.

mod reasons;

use std::sync::Arc;

use serde_json::json;

pub use reasons::RejectReasons;

use crate::actors::{self, Envelope, RegistryHandle, Reply};
use crate::domain::{
    AfterSale, AfterSaleKind, Answer, Cause, Invalid, Msg, OrderId, RejectReason, Scope, ShopId,
    Stage, Tag,
};
use crate::integrations::tiktok::client::{self, Client};
use crate::journal::InboxEntry;
use crate::persistence::workflows::{Run, StepRecord};
use crate::persistence::{self, Database};
use crate::workflow::Action;
use crate::workflow::run::{Status as RunStatus, StepStatus};

/// Most characters a hold's or a cancellation's reason has.
pub const MAX_REASON: usize = 500;

/// A hold's or a cancellation's reason, as every face takes it: trimmed, 1 to 500 characters.
pub fn reason(raw: &str) -> Result<String, Invalid> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(Invalid::new(
            "reason",
            format!("must be 1 to {MAX_REASON} characters"),
        ));
    }
    Ok(reason.to_owned())
}

/// A command on one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Hold {
        reason: String,
    },
    Release,
    Tag {
        add: Vec<Tag>,
        remove: Vec<Tag>,
    },
    Prioritise {
        priority: i32,
    },
    RetryWorkflow,
    /// A seller cancellation, asked of TikTok.
    Cancel {
        reason: String,
    },
    /// The seller's answer to a buyer's request (`cancel_id` or `return_id`; none: the order's
    /// request that waits for the seller, as a bulk job answers) given to TikTok: approve, or
    /// reject for a reason (TikTok's code).
    Answer {
        request: Option<String>,
        approve: bool,
        reason: Option<String>,
    },
}

impl Command {
    /// The answer to request `request`, as every face takes it: a rejection's reason is
    /// required (TikTok's reject reason code, 1 to 500 characters); an approval takes none.
    pub fn answer(request: &str, approve: bool, reason: Option<&str>) -> Result<Self, Invalid> {
        let request = request.trim();
        if request.is_empty() || request.len() > 64 {
            return Err(Invalid::new(
                "request",
                "must be a request id of 1 to 64 characters",
            ));
        }
        let reason = match (approve, reason.map(str::trim).filter(|r| !r.is_empty())) {
            (true, _) => None,
            (false, Some(raw)) => Some(self::reason(raw)?),
            (false, None) => {
                return Err(Invalid::new(
                    "reason",
                    "a rejection needs TikTok's reject reason code",
                ));
            }
        };
        Ok(Command::Answer {
            request: Some(request.to_owned()),
            approve,
            reason,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not there, or not visible to the caller (the same answer, so no other shop's order can
    /// be probed).
    #[error("order {0} not found")]
    NotFound(OrderId),
    /// Refused by the rules: the order's state, or the workflow's.
    #[error("{0}")]
    NotAllowed(String),
    /// TikTok refused the cancellation or the answer (what it refused, and its words).
    #[error("TikTok refused the {0}: {1}")]
    Refused(&'static str, #[source] client::Error),
    /// TikTok could not be asked; worth a retry.
    #[error("cannot reach TikTok now")]
    TikTok(#[source] client::Error),
    #[error(transparent)]
    Engine(#[from] actors::Error),
    #[error(transparent)]
    Storage(#[from] persistence::Error),
}

impl Error {
    /// TikTok's failure to take `what` (a cancellation, an answer): worth a retry if it may
    /// pass, else its refusal.
    fn from_tiktok(what: &'static str, e: client::Error) -> Self {
        if e.is_transient() {
            Error::TikTok(e)
        } else {
            Error::Refused(what, e)
        }
    }
}

/// The commands, over the engine, the database and the TikTok client. Cheap to clone.
#[derive(Clone)]
pub struct Commands {
    pub db: Database,
    pub registry: RegistryHandle,
    pub client: Client,
    pub reasons: RejectReasons,
}

/// Who gives a command: their scope, their name (the cause the audit trail records), and for a
/// bulk job the key that makes a repeated item take effect once.
pub struct Caller<'a> {
    pub scope: &'a Scope,
    pub name: &'a str,
    pub dedupe: Option<String>,
}

impl Commands {
    /// Runs `command` on order `id` if it is at `expected_version`.
    pub async fn run(
        &self,
        caller: Caller<'_>,
        id: OrderId,
        expected_version: i64,
        command: Command,
    ) -> Result<Reply, Error> {
        if !self.db.orders().visible(caller.scope, &id).await? {
            return Err(Error::NotFound(id));
        }
        let cause = Cause::User(caller.name.into());
        let inbox = caller.dedupe.map(|dedupe_key| InboxEntry {
            dedupe_key: dedupe_key.into(),
            event_type: 0,
        });
        match command {
            Command::Hold { reason } => {
                let msg = Msg::Hold {
                    reason,
                    expected_version,
                };
                self.submit(id, msg, cause, inbox).await
            }
            Command::Release => {
                let msg = Msg::ReleaseHold { expected_version };
                self.submit(id, msg, cause, inbox).await
            }
            Command::Tag { add, remove } => {
                let msg = Msg::Tag {
                    add: add.into(),
                    remove: remove.into(),
                    expected_version,
                };
                self.submit(id, msg, cause, inbox).await
            }
            Command::Prioritise { priority } => {
                if self.db.runs().of_order(&id).await?.is_none() {
                    return Err(Error::NotAllowed(format!(
                        "order {id} has no workflow run to prioritise yet"
                    )));
                }
                let msg = Msg::Prioritise {
                    priority,
                    expected_version,
                };
                self.submit(id, msg, cause, inbox).await
            }
            Command::RetryWorkflow => {
                let (run, steps) = self.db.runs().of_order(&id).await?.ok_or_else(|| {
                    Error::NotAllowed(format!("order {id} has no workflow run to retry"))
                })?;
                let dead = dead_step(&id, &run, &steps)?;
                let msg = Msg::RetryWorkflow {
                    resume_at: resume_stage(&steps),
                    expected_version,
                };
                let reply = self.submit(id, msg, cause, inbox).await?;
                self.db.runs().replay_dead_letter(dead).await?;
                Ok(reply)
            }
            Command::Cancel { reason } => {
                self.cancel(id, reason, expected_version, cause, inbox)
                    .await
            }
            Command::Answer {
                request,
                approve,
                reason,
            } => {
                let stored = match &request {
                    Some(request) => self.db.requests().one(&id, request).await?.ok_or_else(|| {
                        format!("order {id} has no request {request} from the buyer")
                    }),
                    None => self
                        .db
                        .requests()
                        .open(&[id.as_str()])
                        .await?
                        .into_values()
                        .next()
                        .ok_or_else(|| {
                            format!("order {id} has no buyer's request awaiting the seller")
                        }),
                };
                let stored = stored.map_err(Error::NotAllowed)?;
                let answer = stored.answer(approve, reason).map_err(Error::NotAllowed)?;
                let shop = self.shop_of(&id).await?;
                if !approve {
                    // A reason TikTok does not list is said before anything is recorded; if
                    // TikTok cannot list them now, TikTok judges the reason itself.
                    let wait = RejectReasons::CHECK_WAIT;
                    let listed = self.reasons.within(wait, &shop, &stored.id, &stored.status);
                    if let Some(offered) = listed.await {
                        answer.check_reason(&offered).map_err(Error::NotAllowed)?;
                    }
                }
                self.answer(id, shop, answer, expected_version, cause, inbox)
                    .await
            }
        }
    }

    /// TikTok's reasons to reject request `request` of order `id` for, where it stands: for
    /// a request that waits for the seller's answer, of an order the caller sees.
    pub async fn reject_reasons(
        &self,
        scope: &Scope,
        id: OrderId,
        request: &str,
    ) -> Result<Arc<[RejectReason]>, Error> {
        if !self.db.orders().visible(scope, &id).await? {
            return Err(Error::NotFound(id));
        }
        let stored = self.db.requests().one(&id, request).await?.ok_or_else(|| {
            Error::NotAllowed(format!(
                "order {id} has no request {request} from the buyer"
            ))
        })?;
        if !stored.awaits_seller() {
            return Err(Error::NotAllowed(format!(
                "request {request} is {}: TikTok waits for no answer to it",
                stored.status
            )));
        }
        let shop = self.shop_of(&id).await?;
        self.reasons
            .of(&shop, &stored.id, &stored.status)
            .await
            .map_err(|e| Error::from_tiktok("question for reject reasons", e))
    }

    /// Sends dead letter `step_id` (a workflow step that gave up) back to its run, attempts
    /// from zero, and takes the order out of the `exception` the failure put it in, back to the
    /// stage its last completed step reached. `None` if there is no such dead letter in the
    /// caller's scope.
    pub async fn replay_dead_letter(
        &self,
        caller: Caller<'_>,
        step_id: i64,
    ) -> Result<Option<Run>, Error> {
        match self.db.runs().dead_letter(step_id).await? {
            Some((_, run)) if caller.scope.allows(&run.shop_id) => {}
            _ => return Ok(None),
        }
        let Some(run) = self.db.runs().replay_dead_letter(step_id).await? else {
            return Ok(None);
        };
        let steps = self
            .db
            .runs()
            .of_order(&run.order_id)
            .await?
            .map(|(_, s)| s)
            .unwrap_or_default();
        let msg = Msg::Progress {
            to: resume_stage(&steps),
            reason: None,
        };
        let cause = Cause::User(caller.name.into());
        if let Err(e) = self.submit(run.order_id.clone(), msg, cause, None).await {
            tracing::warn!(error = %e, "replayed run's order stays where it is");
        }
        Ok(Some(run))
    }

    async fn cancel(
        &self,
        id: OrderId,
        reason: String,
        expected_version: i64,
        cause: Cause,
        inbox: Option<InboxEntry>,
    ) -> Result<Reply, Error> {
        let shop = self.shop_of(&id).await?;
        let msg = Msg::RequestCancel {
            reason: reason.clone(),
            expected_version,
        };
        if self.submit(id.clone(), msg, cause, inbox).await? == Reply::Duplicate {
            // A repeated bulk item: asked already.
            return Ok(Reply::Duplicate);
        }
        let asked = self
            .client
            .cancel_order(
                &shop,
                &json!({ "order_id": id.as_str(), "cancel_reason": reason }),
            )
            .await;
        let tiktok = Cause::Integration("tiktok".into());
        match asked {
            Ok(answer) => {
                let text = |field: &str| {
                    answer
                        .get(field)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                };
                let update = AfterSale {
                    kind: AfterSaleKind::Cancellation,
                    id: text("cancel_id").unwrap_or_default(),
                    status: text("cancel_status").unwrap_or_else(|| "REQUESTED".into()),
                    role: Some("SELLER".into()),
                    return_type: None,
                    time: chrono::Utc::now().timestamp(),
                };
                let msg = Msg::AfterSale {
                    shop_id: shop,
                    update: Box::new(update),
                };
                self.submit(id, msg, tiktok, None).await
            }
            Err(e) => {
                let msg = Msg::CancelFailed {
                    error: e.to_string(),
                };
                if let Err(recorded) = self.submit(id, msg, tiktok, None).await {
                    tracing::warn!(error = %recorded, "cannot record TikTok's refusal to cancel");
                }
                Err(Error::from_tiktok("cancellation", e))
            }
        }
    }

    /// Records the seller's answer, then gives it to TikTok, whose webhook follows with the
    /// request's new status; a refusal is recorded beside it and said.
    async fn answer(
        &self,
        id: OrderId,
        shop: ShopId,
        answer: Answer,
        expected_version: i64,
        cause: Cause,
        inbox: Option<InboxEntry>,
    ) -> Result<Reply, Error> {
        let msg = Msg::AnswerRequest {
            answer: Box::new(answer.clone()),
            expected_version,
        };
        let reply = self.submit(id.clone(), msg, cause, inbox).await?;
        if reply == Reply::Duplicate {
            return Ok(reply);
        }
        let Err(e) = self.client.answer_request(&shop, &answer).await else {
            return Ok(reply);
        };
        let msg = Msg::AnswerFailed {
            request: answer.request,
            error: e.to_string(),
        };
        let tiktok = Cause::Integration("tiktok".into());
        if let Err(recorded) = self.submit(id, msg, tiktok, None).await {
            tracing::warn!(error = %recorded, "cannot record TikTok's refusal of an answer");
        }
        Err(Error::from_tiktok("answer", e))
    }

    /// The shop of order `id`.
    async fn shop_of(&self, id: &OrderId) -> Result<ShopId, Error> {
        Ok(self
            .db
            .orders()
            .load(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.clone()))?
            .shop_id)
    }

    async fn submit(
        &self,
        id: OrderId,
        msg: Msg,
        cause: Cause,
        inbox: Option<InboxEntry>,
    ) -> Result<Reply, Error> {
        let envelope = Envelope { msg, cause, inbox };
        Ok(self.registry.submit(id, envelope).await?)
    }
}

/// The failed run's dead step, or why the run cannot be retried.
fn dead_step(id: &OrderId, run: &Run, steps: &[StepRecord]) -> Result<i64, Error> {
    steps
        .iter()
        .rev()
        .find(|s| s.status == StepStatus::Dead)
        .filter(|_| run.status == RunStatus::Failed)
        .map(|s| s.id)
        .ok_or_else(|| {
            Error::NotAllowed(format!(
                "the workflow of order {id} is {}; only a failed one can be retried",
                run.status.as_str()
            ))
        })
}

/// The stage a retried run's order returns to: where its last done step left it.
pub fn resume_stage(steps: &[StepRecord]) -> Stage {
    steps
        .iter()
        .rev()
        .filter(|s| s.status == StepStatus::Done)
        .find_map(|s| Action::stage_after_kind(&s.action))
        .unwrap_or(Stage::Validated)
}
