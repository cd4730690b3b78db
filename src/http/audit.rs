//! The audit of operators' actions at `GET /api/v1/audit` (admin keys only). Read-only: the API
//! has no way to change or delete an entry.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Caller, Error};
use crate::persistence::{AuditEntry, Database};

/// Most entries one page holds.
const MAX_LIMIT: u64 = 500;

/// One recorded action.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct EntryBody {
    id: i64,
    at: DateTime<Utc>,
    /// `key:<id> (<name>)`, or `cli (<user>)` for the command line.
    actor: String,
    key_id: Option<i64>,
    /// The client's address, or `cli`.
    source: String,
    /// e.g. `api_key.created`, `stock.adjusted`, `bulk_job.created`, `dead_letter.replayed`.
    action: String,
    target: String,
    shop_id: Option<String>,
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

impl From<AuditEntry> for EntryBody {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            key_id: e.key_id,
            source: e.source,
            action: e.action,
            target: e.target,
            shop_id: e.shop_id,
            detail: e.detail,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AuditPage {
    entries: Vec<EntryBody>,
    /// Pass as `after` for the next page; absent on the last one.
    next: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Entries after this id (oldest first).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
    /// Only this action.
    #[param(max_length = 64)]
    action: Option<String>,
}

/// What operators did, oldest first, a page at a time.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of the audit", body = AuditPage))
)]
#[get("/audit")]
pub(super) async fn list(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::BadRequest(format!("limit: 1 to {MAX_LIMIT}")));
    }
    if query
        .action
        .as_ref()
        .is_some_and(|a| a.chars().count() > 64)
    {
        return Err(Error::BadRequest("action: at most 64 characters".into()));
    }
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(Error::BadRequest("after: an entry id, 0 or more".into()));
    }
    let entries = db
        .audit()
        .list(after, limit, query.action.as_deref())
        .await?;
    let next = (entries.len() as u64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(HttpResponse::Ok().json(AuditPage {
        entries: entries.into_iter().map(EntryBody::from).collect(),
        next,
    }))
}
