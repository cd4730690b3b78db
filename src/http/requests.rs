//! A buyer's requests on an order: TikTok's reasons to reject one for, and the seller's answer
//! (approve, or reject for one of those reasons), each a command through the order's actor
//! given to TikTok.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::orders::{CommandBody, VersionBody, Versioned, run};
use super::{Caller, Error};
use crate::commands::{Command, Commands};
use crate::domain::{OrderId, RejectReason};

/// The reasons TikTok lets the seller reject a request for.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RejectReasonsBody {
    /// Where the request stands decides the list (a return's parcel back has its own).
    reasons: Vec<RejectReasonBody>,
}

/// A reason TikTok lets the seller reject a buyer's request for.
#[derive(Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "RejectReason")]
pub(super) struct RejectReasonBody {
    /// The code a rejection gives as its `reason`.
    name: String,
    /// What it says, in TikTok's words.
    text: String,
}

/// TikTok's reasons to reject a buyer's request for, where it stands now (asked of TikTok's Get
/// Reject Reasons, then kept for a while): the codes `/reject` takes as `reason`, and their
/// texts. Only for a request that waits for the seller's answer (else 422).
#[utoipa::path(
    tag = "orders",
    params(
        ("order_id" = OrderId, Path, description = "A TikTok order id"),
        ("request_id" = String, Path, description = "TikTok's `cancel_id` or `return_id`"),
    ),
    responses((status = 200, description = "TikTok's reasons", body = RejectReasonsBody))
)]
#[get("/orders/{order_id}/requests/{request_id}/reject-reasons")]
pub(super) async fn reject_reasons(
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<(OrderId, String)>,
) -> Result<HttpResponse, Error> {
    let (id, request) = path.into_inner();
    let reasons = commands.reject_reasons(&caller.scope, id, &request).await?;
    let reasons = reasons.iter().map(RejectReasonBody::from).collect();
    Ok(HttpResponse::Ok().json(RejectReasonsBody { reasons }))
}

impl From<&RejectReason> for RejectReasonBody {
    fn from(r: &RejectReason) -> Self {
        Self {
            name: r.name.clone(),
            text: r.text.clone(),
        }
    }
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RejectBody {
    /// TikTok's reject reason code (e.g. `seller_reject_apply_product_has_been_packed`).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
    #[serde(default, deserialize_with = "super::whole::option_i64")]
    expected_version: Option<i64>,
}

/// Approves a buyer's cancellation, return, refund or replacement request that TikTok waits for
/// the seller to answer (`request_id` is TikTok's `cancel_id` or `return_id`; the order's
/// history and `request:open` searches name them). The answer is recorded, then given to
/// TikTok, whose webhook follows with the request's new status (an approved cancellation also
/// cancels the order); a refusal is recorded and answered 422.
#[utoipa::path(
    tag = "orders",
    params(
        ("order_id" = OrderId, Path, description = "A TikTok order id"),
        ("request_id" = String, Path, description = "TikTok's `cancel_id` or `return_id`"),
        ("If-Match" = Option<String>, Header, description = "The version the order must be at, as its ETag gives it (`\"7\"`); or `expected_version` in the body"),
    ),
    request_body = VersionBody,
    responses((status = 200, description = "TikTok took the approval", body = CommandBody))
)]
#[post("/orders/{order_id}/requests/{request_id}/approve")]
pub(super) async fn approve_request(
    req: HttpRequest,
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<(OrderId, String)>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    let (id, request) = path.into_inner();
    run(&req, &caller, &commands, id, &body, |_: VersionBody| {
        Ok(Command::answer(&request, true, None)?)
    })
    .await
}

/// Rejects a buyer's request that TikTok waits for the seller to answer, for `reason` (TikTok's
/// reject reason code); recorded and given to TikTok like an approval.
#[utoipa::path(
    tag = "orders",
    params(
        ("order_id" = OrderId, Path, description = "A TikTok order id"),
        ("request_id" = String, Path, description = "TikTok's `cancel_id` or `return_id`"),
        ("If-Match" = Option<String>, Header, description = "The version the order must be at, as its ETag gives it (`\"7\"`); or `expected_version` in the body"),
    ),
    request_body = RejectBody,
    responses((status = 200, description = "TikTok took the rejection", body = CommandBody))
)]
#[post("/orders/{order_id}/requests/{request_id}/reject")]
pub(super) async fn reject_request(
    req: HttpRequest,
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<(OrderId, String)>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    let (id, request) = path.into_inner();
    run(&req, &caller, &commands, id, &body, |body: RejectBody| {
        Ok(Command::answer(&request, false, Some(&body.reason))?)
    })
    .await
}

impl Versioned for RejectBody {
    fn expected_version(&self) -> Option<i64> {
        self.expected_version
    }
}
