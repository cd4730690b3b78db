//! `decide`: what a message means for an order, as events (facts to record) and effects (work
//! to do after they are committed). Pure: the actor persists the events, applies them with
//! [`Order::apply`], and hands the effects to the outbox.

use serde::{Deserialize, Serialize};

use super::order::Order;
use super::status::Change;
use super::{Answer, Detail, OrderId, OrderStatus, ShopId, Stage, Tag};

/// Something that may change an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// TikTok reports a status (webhook or poll).
    Status {
        shop_id: ShopId,
        status: OrderStatus,
        update_time: i64,
    },
    /// TikTok's full order detail, fetched after a signal.
    Detail {
        shop_id: ShopId,
        detail: Box<Detail>,
    },
    /// TikTok says something in the detail changed (recipient address, packages); it must be
    /// fetched again.
    Refresh { shop_id: ShopId, update_time: i64 },
    /// A cancellation or return request changed (buyer, seller or TikTok). Recorded, and the
    /// detail is fetched again for what it did to the order.
    AfterSale {
        shop_id: ShopId,
        update: Box<AfterSale>,
    },
    /// A person or rule holds the order.
    Hold {
        reason: String,
        expected_version: i64,
    },
    /// Lift a hold.
    ReleaseHold { expected_version: i64 },
    /// A person tags or untags the order (tags are lower-case words, see [`Tag`]).
    Tag {
        add: Box<[Tag]>,
        remove: Box<[Tag]>,
        expected_version: i64,
    },
    /// A person sets how urgent the order's workflow run is (higher first).
    Prioritise {
        priority: i32,
        expected_version: i64,
    },
    /// A person asks TikTok to cancel the order (a seller cancellation). TikTok's answer is
    /// recorded after it: an [`AfterSale`] update, or [`Msg::CancelFailed`].
    RequestCancel {
        reason: String,
        expected_version: i64,
    },
    /// TikTok refused a seller cancellation, or could not be asked.
    CancelFailed { error: String },
    /// A person answers a buyer's request (approve or reject); the answer goes to TikTok
    /// after it is recorded, and a refusal is recorded as [`Msg::AnswerFailed`].
    AnswerRequest {
        answer: Box<Answer>,
        expected_version: i64,
    },
    /// TikTok refused the seller's answer to request `request`, or could not be asked.
    AnswerFailed { request: String, error: String },
    /// A person sends the order's failed workflow back to work, from the stage `resume_at`.
    RetryWorkflow {
        resume_at: Stage,
        expected_version: i64,
    },
    /// Fulfilment moved the order on (stock reserved, label bought, shipped), or failed
    /// (`Exception` with the reason). Never leaves a terminal stage, never goes back.
    Progress { to: Stage, reason: Option<String> },
}

/// A fact about an order, appended to its audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Created {
        shop_id: ShopId,
        status: OrderStatus,
        update_time: Option<i64>,
    },
    StatusChanged {
        from: OrderStatus,
        to: OrderStatus,
        update_time: i64,
    },
    /// TikTok information that was recorded but changes nothing.
    Ignored {
        status: OrderStatus,
        update_time: i64,
        reason: IgnoreReason,
    },
    DetailApplied {
        detail: Box<Detail>,
    },
    StageChanged {
        from: Stage,
        to: Stage,
        reason: Option<String>,
    },
    AfterSaleUpdated {
        update: AfterSale,
    },
    Tagged {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        added: Vec<Tag>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<Tag>,
    },
    Prioritised {
        priority: i32,
    },
    CancelRequested {
        reason: String,
    },
    CancelFailed {
        error: String,
    },
    RequestAnswered {
        answer: Answer,
    },
    AnswerFailed {
        request: String,
        error: String,
    },
    WorkflowRetried,
}

/// A cancellation or return request as TikTok reports it. Statuses are kept as TikTok spells
/// them (its documentation has typos in them), not interpreted here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterSale {
    pub kind: AfterSaleKind,
    /// `cancel_id` or `return_id`.
    pub id: String,
    pub status: String,
    /// Who asked: BUYER, SELLER, SYSTEM, …
    pub role: Option<String>,
    /// Returns only: REFUND, REPLACEMENT, RETURN_AND_REFUND.
    pub return_type: Option<String>,
    /// When TikTok changed it (unix seconds).
    pub time: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterSaleKind {
    Cancellation,
    Return,
}

impl AfterSaleKind {
    /// The name stored and searched (`cancellation`, `return`).
    pub fn as_str(self) -> &'static str {
        match self {
            AfterSaleKind::Cancellation => "cancellation",
            AfterSaleKind::Return => "return",
        }
    }

    /// The kind [`Self::as_str`] names.
    pub fn parse(name: &str) -> Option<Self> {
        [AfterSaleKind::Cancellation, AfterSaleKind::Return]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// Older (by `update_time`) than what the order already holds.
    Stale,
    /// Would move the status backwards.
    Regression,
    /// The order is COMPLETED or CANCELLED.
    Terminal,
    /// A status this build does not know.
    UnknownStatus,
}

impl Event {
    /// The `kind` column of the audit row.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Created { .. } => "created",
            Event::StatusChanged { .. } => "status_changed",
            Event::Ignored { reason, .. } => match reason {
                IgnoreReason::Stale => "stale_ignored",
                IgnoreReason::Regression => "regression_ignored",
                IgnoreReason::Terminal => "terminal_ignored",
                IgnoreReason::UnknownStatus => "unknown_status_ignored",
            },
            Event::DetailApplied { .. } => "detail_applied",
            Event::StageChanged { .. } => "stage_changed",
            Event::AfterSaleUpdated { update } => match update.kind {
                AfterSaleKind::Cancellation => "cancellation_updated",
                AfterSaleKind::Return => "return_updated",
            },
            Event::Tagged { .. } => "tagged",
            Event::Prioritised { .. } => "prioritised",
            Event::CancelRequested { .. } => "cancel_requested",
            Event::CancelFailed { .. } => "cancel_failed",
            Event::RequestAnswered { .. } => "request_answered",
            Event::AnswerFailed { .. } => "answer_failed",
            Event::WorkflowRetried => "workflow_retried",
        }
    }
}

/// Work for other components once the events are committed (written to the outbox in the same
/// transaction, then relayed over the bus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Ask TikTok for the order's detail (new order, address change).
    FetchDetail { order_id: OrderId, shop_id: ShopId },
    /// The order may now be fulfilled: start its workflow.
    StartFulfilment { order_id: OrderId, shop_id: ShopId },
    /// The order's status or stage changed: announced to analytics and creators' webhooks.
    Transitioned(Box<Transition>),
}

/// An order's move from one (status, stage) to another, as one decision left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub order_id: OrderId,
    pub shop_id: ShopId,
    /// `None` when the decision created the order.
    pub from_status: Option<OrderStatus>,
    pub from_stage: Option<Stage>,
    pub status: OrderStatus,
    pub stage: Stage,
    pub stage_reason: Option<String>,
    pub version: i64,
    /// TikTok's `update_time` of the newest information applied (unix seconds).
    pub update_time: Option<i64>,
}

impl Effect {
    /// The routing key the effect is published under: `tiktok.fetch_detail` and
    /// `workflow.start` are worked off in-process; `order.transition.<stage>` goes on the bus.
    pub fn routing_key(&self) -> &'static str {
        match self {
            Effect::FetchDetail { .. } => "tiktok.fetch_detail",
            Effect::StartFulfilment { .. } => "workflow.start",
            Effect::Transitioned(t) => &TRANSITION_KEYS[t.stage as usize],
        }
    }
}

/// `order.transition.<stage>` for every stage, in [`Stage::ALL`]'s (declaration) order: written
/// out once, not formatted again for every effect the log's readers and rows name.
static TRANSITION_KEYS: std::sync::LazyLock<[String; Stage::ALL.len()]> =
    std::sync::LazyLock::new(|| Stage::ALL.map(|stage| format!("order.transition.{stage}")));

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decision {
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
}

/// Why a command was refused; nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Rejection {
    #[error("order {0} not found")]
    NotFound(OrderId),
    #[error("order is at version {actual}, not {expected}")]
    Conflict { expected: i64, actual: i64 },
    #[error("{0}")]
    NotAllowed(String),
}

/// Decides what `msg` means for the order `id`, which is `order` if it exists.
pub fn decide(id: &OrderId, order: Option<&Order>, msg: &Msg) -> Result<Decision, Rejection> {
    let mut draft = Draft::new(id, order);
    match msg {
        Msg::Status {
            shop_id,
            status,
            update_time,
        } => {
            draft.ensure_created(shop_id, status, Some(*update_time));
            draft.observe_status(status, *update_time);
        }
        Msg::Detail { shop_id, detail } => {
            draft.ensure_created(shop_id, &detail.status, Some(detail.update_time));
            // A detail no newer than the one applied says nothing new (the poller asks often).
            let has_detail = draft.order().detail_problems.is_some();
            let newer = draft
                .order()
                .update_time
                .is_none_or(|t| detail.update_time > t);
            if has_detail && !newer {
                return Ok(draft.finish());
            }
            if draft.is_stale(detail.update_time) {
                draft.ignore(&detail.status, detail.update_time, IgnoreReason::Stale);
            } else {
                draft.observe_status(&detail.status, detail.update_time);
                draft.push(Event::DetailApplied {
                    detail: detail.clone(),
                });
                draft.revalidate();
            }
        }
        Msg::Refresh {
            shop_id,
            update_time,
        } => {
            if !draft.ensure_created(shop_id, &OrderStatus::Unpaid, Some(*update_time)) {
                draft.fetch_detail();
            }
        }
        Msg::AfterSale { shop_id, update } => {
            let created = draft.ensure_created(shop_id, &OrderStatus::Unpaid, Some(update.time));
            draft.push(Event::AfterSaleUpdated {
                update: (**update).clone(),
            });
            if !created {
                draft.fetch_detail();
            }
        }
        Msg::Hold {
            reason,
            expected_version,
        } => {
            let order = draft.command_target(*expected_version)?;
            if order.stage.is_terminal() {
                return Err(Rejection::NotAllowed(format!(
                    "order is {}; it cannot be held",
                    order.stage
                )));
            }
            if order.stage == Stage::OnHold {
                return Err(Rejection::NotAllowed("order is already on hold".into()));
            }
            draft.set_stage(Stage::OnHold, Some(reason.clone()));
        }
        Msg::Progress { to, reason } => {
            let order = draft
                .order
                .as_ref()
                .ok_or_else(|| Rejection::NotFound(id.clone()))?;
            if order.stage.is_terminal() {
                return Err(Rejection::NotAllowed(format!("order is {}", order.stage)));
            }
            let forward = match (stage_rank(order.stage), stage_rank(*to)) {
                (Some(now), Some(next)) => next > now,
                (None, Some(_)) => order.stage != Stage::OnHold,
                (_, None) => *to == Stage::Exception,
            };
            if forward {
                draft.set_stage(*to, reason.clone());
            } else if order.stage != *to {
                return Err(Rejection::NotAllowed(format!(
                    "order is {}; it cannot move to {to}",
                    order.stage
                )));
            }
        }
        Msg::ReleaseHold { expected_version } => {
            let order = draft.command_target(*expected_version)?;
            if order.stage != Stage::OnHold {
                return Err(Rejection::NotAllowed("order is not on hold".into()));
            }
            let back = order.held_from.unwrap_or(Stage::Received);
            draft.set_stage(back, None);
            draft.revalidate();
        }
        Msg::Tag {
            add,
            remove,
            expected_version,
        } => {
            draft.command_target(*expected_version)?;
            if add.is_empty() && remove.is_empty() {
                return Err(Rejection::NotAllowed("no tag to add or remove".into()));
            }
            if let Some(both) = add.iter().find(|t| remove.contains(t)) {
                return Err(Rejection::NotAllowed(format!(
                    "tag {both} is both added and removed"
                )));
            }
            draft.push(Event::Tagged {
                added: add.to_vec(),
                removed: remove.to_vec(),
            });
        }
        Msg::Prioritise {
            priority,
            expected_version,
        } => {
            let order = draft.command_target(*expected_version)?;
            if order.stage.is_terminal() {
                return Err(Rejection::NotAllowed(format!(
                    "order is {}; there is nothing left to prioritise",
                    order.stage
                )));
            }
            draft.push(Event::Prioritised {
                priority: *priority,
            });
        }
        Msg::RequestCancel {
            reason,
            expected_version,
        } => {
            let order = draft.command_target(*expected_version)?;
            if !order.status.seller_may_cancel() {
                return Err(Rejection::NotAllowed(format!(
                    "order is {}; a seller can cancel only before it ships",
                    order.status
                )));
            }
            draft.push(Event::CancelRequested {
                reason: reason.clone(),
            });
        }
        Msg::CancelFailed { error } => {
            draft
                .order
                .as_ref()
                .ok_or_else(|| Rejection::NotFound(id.clone()))?;
            draft.push(Event::CancelFailed {
                error: error.clone(),
            });
        }
        Msg::AnswerRequest {
            answer,
            expected_version,
        } => {
            draft.command_target(*expected_version)?;
            draft.push(Event::RequestAnswered {
                answer: (**answer).clone(),
            });
        }
        Msg::AnswerFailed { request, error } => {
            draft
                .order
                .as_ref()
                .ok_or_else(|| Rejection::NotFound(id.clone()))?;
            draft.push(Event::AnswerFailed {
                request: request.clone(),
                error: error.clone(),
            });
        }
        Msg::RetryWorkflow {
            resume_at,
            expected_version,
        } => {
            let order = draft.command_target(*expected_version)?;
            if order.stage.is_terminal() {
                return Err(Rejection::NotAllowed(format!(
                    "order is {}; its workflow is over",
                    order.stage
                )));
            }
            let from = order.stage;
            draft.push(Event::WorkflowRetried);
            if from == Stage::Exception {
                draft.set_stage(*resume_at, None);
            }
        }
    }
    Ok(draft.finish())
}

/// The order as the decision so far leaves it; events are applied as they are drafted so that
/// each rule sees the effect of the previous ones.
struct Draft<'a> {
    id: &'a OrderId,
    order: Option<Order>,
    stage_before: Option<Stage>,
    status_before: Option<OrderStatus>,
    events: Vec<Event>,
    effects: Vec<Effect>,
}

impl<'a> Draft<'a> {
    fn new(id: &'a OrderId, order: Option<&Order>) -> Self {
        Self {
            id,
            stage_before: order.map(|o| o.stage),
            status_before: order.map(|o| o.status.clone()),
            order: order.cloned(),
            events: Vec::new(),
            effects: Vec::new(),
        }
    }

    fn push(&mut self, event: Event) {
        match &mut self.order {
            Some(order) => order.apply(&event),
            None => self.order = Order::created(self.id.clone(), &event),
        }
        self.events.push(event);
    }

    fn order(&self) -> &Order {
        self.order.as_ref().expect("the order exists once created")
    }

    /// Creates the order if it does not exist yet; true if it did not.
    fn ensure_created(&mut self, shop_id: &ShopId, status: &OrderStatus, t: Option<i64>) -> bool {
        if self.order.is_some() {
            return false;
        }
        self.push(Event::Created {
            shop_id: shop_id.clone(),
            status: status.clone(),
            update_time: t,
        });
        self.effects.push(Effect::FetchDetail {
            order_id: self.id.clone(),
            shop_id: shop_id.clone(),
        });
        self.follow_status();
        true
    }

    fn fetch_detail(&mut self) {
        let shop_id = self.order().shop_id.clone();
        self.effects.push(Effect::FetchDetail {
            order_id: self.id.clone(),
            shop_id,
        });
    }

    fn is_stale(&self, update_time: i64) -> bool {
        self.order().update_time.is_some_and(|t| update_time < t)
    }

    fn ignore(&mut self, status: &OrderStatus, update_time: i64, reason: IgnoreReason) {
        self.push(Event::Ignored {
            status: status.clone(),
            update_time,
            reason,
        });
    }

    fn observe_status(&mut self, status: &OrderStatus, update_time: i64) {
        if self.is_stale(update_time) {
            return self.ignore(status, update_time, IgnoreReason::Stale);
        }
        match self.order().status.change_to(status) {
            Change::Same => {}
            Change::Forward => {
                self.push(Event::StatusChanged {
                    from: self.order().status.clone(),
                    to: status.clone(),
                    update_time,
                });
                self.follow_status();
            }
            Change::Regression => self.ignore(status, update_time, IgnoreReason::Regression),
            Change::FromTerminal => self.ignore(status, update_time, IgnoreReason::Terminal),
            Change::Unknown => self.ignore(status, update_time, IgnoreReason::UnknownStatus),
        }
    }

    /// Moves the stage to follow what TikTok reports has physically happened.
    fn follow_status(&mut self) {
        let stage = self.order().stage;
        let target = match self.order().status {
            OrderStatus::Cancelled => Stage::Cancelled,
            OrderStatus::Completed => Stage::Completed,
            OrderStatus::Delivered => Stage::Delivered,
            OrderStatus::InTransit => Stage::InTransit,
            OrderStatus::AwaitingCollection | OrderStatus::PartiallyShipping => Stage::Shipped,
            _ => return self.revalidate(),
        };
        let earlier = stage_rank(stage).is_none_or(|r| stage_rank(target).is_some_and(|t| t > r));
        if !stage.is_terminal() && (earlier || target.is_terminal()) && stage != target {
            self.set_stage(target, None);
        }
    }

    /// Received ⇄ Validated ⇄ Exception, from the detail and whether TikTok lets us fulfil.
    fn revalidate(&mut self) {
        let order = self.order();
        let Some(problems) = order.detail_problems.as_deref() else {
            return;
        };
        let stage = order.stage;
        if !problems.is_empty() {
            let reason = problems.join("; ");
            let already =
                stage == Stage::Exception && order.stage_reason.as_deref() == Some(&reason);
            if !stage.is_terminal() && stage != Stage::OnHold && !already {
                self.set_stage(Stage::Exception, Some(reason));
            }
            return;
        }
        let ready = order.status.may_fulfil();
        if matches!(stage, Stage::Received | Stage::Exception) {
            self.set_stage(
                if ready {
                    Stage::Validated
                } else {
                    Stage::Received
                },
                None,
            );
        }
    }

    fn set_stage(&mut self, to: Stage, reason: Option<String>) {
        let order = self.order();
        if order.stage == to && order.stage_reason == reason {
            return;
        }
        self.push(Event::StageChanged {
            from: order.stage,
            to,
            reason,
        });
    }

    fn command_target(&self, expected_version: i64) -> Result<&Order, Rejection> {
        let order = self
            .order
            .as_ref()
            .ok_or_else(|| Rejection::NotFound(self.id.clone()))?;
        if order.version != expected_version {
            return Err(Rejection::Conflict {
                expected: expected_version,
                actual: order.version,
            });
        }
        Ok(order)
    }

    fn finish(mut self) -> Decision {
        if let Some(order) = &self.order {
            let stage_moved = self.stage_before != Some(order.stage);
            if stage_moved && order.stage == Stage::Validated && order.status.may_fulfil() {
                self.effects.push(Effect::StartFulfilment {
                    order_id: self.id.clone(),
                    shop_id: order.shop_id.clone(),
                });
            }
            if stage_moved || self.status_before.as_ref() != Some(&order.status) {
                self.effects.push(Effect::Transitioned(Box::new(Transition {
                    order_id: self.id.clone(),
                    shop_id: order.shop_id.clone(),
                    from_status: self.status_before.take(),
                    from_stage: self.stage_before,
                    status: order.status.clone(),
                    stage: order.stage,
                    stage_reason: order.stage_reason.clone(),
                    version: order.version,
                    update_time: order.update_time,
                })));
            }
        }
        Decision {
            events: self.events,
            effects: self.effects,
        }
    }
}

/// Position on the fulfilment path; side stages have none.
fn stage_rank(stage: Stage) -> Option<u8> {
    Some(match stage {
        Stage::Received => 0,
        Stage::Validated => 1,
        Stage::StockReserved => 2,
        Stage::LabelPurchased => 3,
        Stage::Shipped => 4,
        Stage::InTransit => 5,
        Stage::Delivered => 6,
        Stage::Completed => 7,
        Stage::OnHold | Stage::Cancelled | Stage::Exception => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transition_is_published_under_its_stage() {
        for stage in Stage::ALL {
            let effect = Effect::Transitioned(Box::new(Transition {
                order_id: OrderId::parse("576").unwrap(),
                shop_id: ShopId::parse("shop-1").unwrap(),
                from_status: None,
                from_stage: None,
                status: OrderStatus::AwaitingShipment,
                stage,
                stage_reason: None,
                version: 1,
                update_time: None,
            }));
            assert_eq!(
                effect.routing_key(),
                format!("order.transition.{}", stage.as_str())
            );
        }
    }
}
