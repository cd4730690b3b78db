//! A buyer's requests after a sale, as TikTok's Return & Refund API keeps them: a cancellation
//! asked for before the order ships, a refund, return or replacement asked for after; the
//! seller's approval or rejection, checked as TikTok checks it (the request is the shop's and
//! waits for the seller; a return's decision fits what was asked; a rejection gives one of the
//! reasons Get Reject Reasons lists for the request as it stands; a repeated idempotency key
//! gets the first answer and changes nothing); each change announced by webhook (topics 11 and
//! 12), an approved cancellation also by the order's CANCELLED.

use chrono::Utc;
use serde_json::{Value, json};

use crate::world::World;
use tiktok_wire::code;

/// No request of that id in the shop.
pub const REQUEST_NOT_FOUND: i64 = 21_003_001;
/// The request does not wait for the seller (answered, withdrawn, or not yet back).
pub const REQUEST_NOT_PENDING: i64 = 21_003_002;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Cancellation,
    Return,
}

impl RequestKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "cancellation" => Some(Self::Cancellation),
            "return" => Some(Self::Return),
            _ => None,
        }
    }
}

pub struct SimRequest {
    pub kind: RequestKind,
    pub order_id: String,
    pub shop_id: String,
    pub status: String,
    /// Returns only: REFUND, RETURN_AND_REFUND or REPLACEMENT.
    pub return_type: Option<String>,
    pub create_time: i64,
    pub update_time: i64,
}

/// The reasons a seller may reject a request for, by what the request waits for: TikTok's
/// reason names and their texts (a list of the sandbox's, in TikTok's naming style; TikTok's own
/// lists vary by market and are only read through Get Reject Reasons).
const CANCELLATION_REASONS: &[(&str, &str)] = &[
    (
        "seller_reject_apply_product_has_been_packed",
        "The parcel is already packed",
    ),
    (
        "seller_reject_apply_buyer_agreed_to_keep_order",
        "The buyer agreed to keep the order",
    ),
];
const RETURN_REASONS: &[(&str, &str)] = &[
    (
        "seller_reject_return_outside_return_window",
        "The return window has closed",
    ),
    (
        "seller_reject_return_item_used_or_damaged_by_buyer",
        "The item was used or damaged by the buyer",
    ),
];
const RECEIVED_PACKAGE_REASONS: &[(&str, &str)] = &[
    (
        "seller_reject_received_package_wrong_item",
        "The parcel returned another item",
    ),
    (
        "seller_reject_received_package_damaged",
        "The item came back damaged",
    ),
];

impl SimRequest {
    /// What Get Reject Reasons lists for the request as it stands (nothing for a request that
    /// waits for no answer).
    fn reject_reasons(&self) -> &'static [(&'static str, &'static str)] {
        if self.outcome(false).is_none() {
            return &[];
        }
        match (self.kind, self.status.as_str()) {
            (RequestKind::Cancellation, _) => CANCELLATION_REASONS,
            (RequestKind::Return, "BUYER_SHIPPED_ITEM") => RECEIVED_PACKAGE_REASONS,
            (RequestKind::Return, _) => RETURN_REASONS,
        }
    }

    /// The decision a seller's answer must name (returns only), and the status it leads to.
    fn outcome(&self, approve: bool) -> Option<(Option<String>, &'static str)> {
        let verb = if approve { "APPROVE" } else { "REJECT" };
        let (what, status) = match (self.kind, self.status.as_str()) {
            (RequestKind::Cancellation, "CANCELLATION_REQUEST_PENDING") => {
                let status = if approve {
                    "CANCELLATION_REQUEST_COMPLETE"
                } else {
                    "CANCELLATION_REQUEST_CANCELLED"
                };
                return Some((None, status));
            }
            (RequestKind::Return, "BUYER_SHIPPED_ITEM") => (
                "RECEIVED_PACKAGE",
                if approve {
                    "RETURN_OR_REFUND_REQUEST_SUCCESS"
                } else {
                    "REJECT_RECEIVE_PACKAGE"
                },
            ),
            (RequestKind::Return, "REPLACEMENT_REQUEST_PENDING") => (
                "REPLACEMENT",
                if approve {
                    "REPLACEMENT_REQUEST_COMPLETE"
                } else {
                    "REPLACEMENT_REQUEST_REJECT"
                },
            ),
            (RequestKind::Return, "RETURN_OR_REFUND_REQUEST_PENDING") => {
                match (self.return_type.as_deref(), approve) {
                    (Some("REFUND"), true) => ("REFUND", "RETURN_OR_REFUND_REQUEST_SUCCESS"),
                    (Some("REFUND"), false) => ("REFUND", "REFUND_OR_RETURN_REQUEST_REJECT"),
                    (_, true) => ("RETURN", "AWAITING_BUYER_SHIP"),
                    (_, false) => ("RETURN", "REFUND_OR_RETURN_REQUEST_REJECT"),
                }
            }
            _ => return None,
        };
        Some((Some(format!("{verb}_{what}")), status))
    }
}

impl World {
    /// The buyer of `order_id` asks to cancel it (TikTok lets a buyer ask once the order is paid
    /// and before it ships) or, with `return_type`, for a refund, return or replacement (once it
    /// has shipped); announced by webhook. The request's id, or why the buyer cannot ask.
    pub fn buyer_request(
        &mut self,
        order_id: &str,
        kind: RequestKind,
        return_type: Option<&str>,
    ) -> Result<String, String> {
        let order = self
            .orders
            .get(order_id)
            .ok_or_else(|| format!("no order {order_id}"))?;
        let status = order.wire.status.as_str();
        let (prefix, pending, return_type) = match kind {
            RequestKind::Cancellation if status == "AWAITING_SHIPMENT" => {
                ("CX", "CANCELLATION_REQUEST_PENDING", None)
            }
            RequestKind::Return
                if matches!(status, "AWAITING_COLLECTION" | "IN_TRANSIT" | "DELIVERED") =>
            {
                let return_type = return_type.unwrap_or("REFUND");
                let pending = match return_type {
                    "REFUND" | "RETURN_AND_REFUND" => "RETURN_OR_REFUND_REQUEST_PENDING",
                    "REPLACEMENT" => "REPLACEMENT_REQUEST_PENDING",
                    other => return Err(format!("no return type {other}")),
                };
                ("RX", pending, Some(return_type.to_owned()))
            }
            _ => {
                return Err(format!(
                    "the buyer cannot ask that of an order that is {status}"
                ));
            }
        };
        let shop_id = order.shop_id.clone();
        let id = format!("{prefix}{}", self.next_id());
        let now = Utc::now().timestamp();
        self.requests.insert(
            id.clone(),
            SimRequest {
                kind,
                order_id: order_id.to_owned(),
                shop_id,
                status: pending.to_owned(),
                return_type,
                create_time: now,
                update_time: now,
            },
        );
        self.announce_request(&id);
        Ok(id)
    }

    /// The buyer sends the returned item back: an approved return (AWAITING_BUYER_SHIP) becomes
    /// BUYER_SHIPPED_ITEM, for the seller to receive and then refund or dispute.
    pub fn buyer_ships_back(&mut self, return_id: &str) -> bool {
        match self.requests.get_mut(return_id) {
            Some(r) if r.status == "AWAITING_BUYER_SHIP" => {
                r.status = "BUYER_SHIPPED_ITEM".into();
                r.update_time = Utc::now().timestamp().max(r.update_time + 1);
                self.announce_request(return_id);
                true
            }
            _ => false,
        }
    }

    /// The seller of `shop_id` approves or rejects request `id`, by Approve/Reject Cancellation
    /// or Approve/Reject Return with `body`. TikTok's answer data, or its code and message.
    pub fn answer_request(
        &mut self,
        shop_id: &str,
        kind: RequestKind,
        id: &str,
        approve: bool,
        idempotency_key: &str,
        body: &Value,
    ) -> Result<Value, (i64, String)> {
        if let Some(first) = self.answers.get(idempotency_key) {
            return Ok(first.clone());
        }
        let noun = match kind {
            RequestKind::Cancellation => "cancellation",
            RequestKind::Return => "return",
        };
        let request = self
            .requests
            .get(id)
            .filter(|r| r.shop_id == shop_id && r.kind == kind)
            .ok_or((REQUEST_NOT_FOUND, format!("{noun} {id} not found")))?;
        let verb = if approve { "approved" } else { "rejected" };
        let (decision, status) = request.outcome(approve).ok_or_else(|| {
            (
                REQUEST_NOT_PENDING,
                format!("{noun} {id} is {} and cannot be {verb}", request.status),
            )
        })?;
        let given = body.get("decision").and_then(Value::as_str);
        if decision.is_some() && given != decision.as_deref() {
            return Err((
                code::INVALID_PARAM,
                format!(
                    "decision must be {} for this {noun}, not {}",
                    decision.unwrap_or_default(),
                    given.unwrap_or("none")
                ),
            ));
        }
        let reason = body.get("reject_reason").and_then(Value::as_str);
        if !approve && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err((code::INVALID_PARAM, "reject_reason is required".into()));
        }
        if let Some(reason) = reason.filter(|_| !approve)
            && !request
                .reject_reasons()
                .iter()
                .any(|(name, _)| *name == reason)
        {
            return Err((
                code::INVALID_PARAM,
                format!("reject_reason {reason} is not a reason to reject {noun} {id} for"),
            ));
        }
        let order_id = request.order_id.clone();
        let cancels = kind == RequestKind::Cancellation && approve;
        if let Some(request) = self.requests.get_mut(id) {
            request.status = status.to_owned();
            request.update_time = Utc::now().timestamp().max(request.update_time + 1);
        }
        self.announce_request(id);
        if cancels {
            if let Some(order) = self.orders.get_mut(&order_id) {
                order.cancel_ids.push(id.to_owned());
            }
            self.set_status(&order_id, "CANCELLED", true);
        }
        let answer = json!({});
        self.answers
            .insert(idempotency_key.to_owned(), answer.clone());
        Ok(answer)
    }

    /// Get Reject Reasons for request `return_or_cancel_id` of `shop_id`: `{reasons: [{name,
    /// text}]}`, the reasons its rejection may give as it stands (none if it waits for no
    /// answer), or TikTok's code and message for a request the shop does not have.
    pub fn reject_reasons(&self, shop_id: &str, id: &str) -> Result<Value, (i64, String)> {
        let request = self
            .requests
            .get(id)
            .filter(|r| r.shop_id == shop_id)
            .ok_or((REQUEST_NOT_FOUND, format!("request {id} not found")))?;
        let reasons: Vec<Value> = request
            .reject_reasons()
            .iter()
            .map(|(name, text)| json!({ "name": name, "text": text }))
            .collect();
        Ok(json!({ "reasons": reasons }))
    }

    /// Queues the CANCELLATION_STATUS_CHANGE (11) or RETURN_STATUS_CHANGE (12) webhook of the
    /// request's current status, with the fields TikTok documents for each.
    fn announce_request(&mut self, id: &str) {
        let n = self.next_id();
        let Some(r) = self.requests.get(id) else {
            return;
        };
        let (kind, data) = match r.kind {
            RequestKind::Cancellation => (
                11,
                json!({
                    "order_id": r.order_id, "cancellations_role": "BUYER",
                    "cancel_status": r.status, "cancel_id": id, "create_time": r.create_time,
                }),
            ),
            RequestKind::Return => (
                12,
                json!({
                    "order_id": r.order_id, "return_role": "BUYER",
                    "return_type": r.return_type, "return_status": r.status,
                    "return_id": id, "create_time": r.create_time,
                    "update_time": r.update_time,
                }),
            ),
        };
        let body = json!({
            "type": kind,
            "tts_notification_id": format!("73800662841{:08}", n),
            "shop_id": r.shop_id,
            "timestamp": Utc::now().timestamp(),
            "data": data,
        });
        self.outbox.push(body.to_string().into_bytes());
    }
}
