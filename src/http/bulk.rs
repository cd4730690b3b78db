//! Bulk jobs over HTTP: create (202 with `Location`), read, list, cancel, the items with their
//! outcomes, and an export's result. A shop key sees and creates only its shop's jobs.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use futures_util::stream as futures_stream;
use serde::{Deserialize, Serialize};

use super::openapi::Problem;
use super::{Caller, Error};
use crate::bulk::{Action, Item, Job, JobState, NewJob, Outcome, Params, Runner};
use crate::domain::OrderId;
use crate::persistence::Database;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewJobBody {
    /// `hold`, `release`, `cancel`, `approve_requests`, `reject_requests` (each order's buyer's
    /// request that waits for the seller; `reject_requests` takes TikTok's reason code as its
    /// reason), `tags_add`, `tags_remove`, `retry_workflow`, `replay_dead_letters` or `export`.
    #[schema(value_type = String, pattern = "^(hold|release|cancel|tags_add|tags_remove|retry_workflow|replay_dead_letters|export)$")]
    action: String,
    /// The orders: a search in the order query syntax (every order it matches now)…
    query: Option<String>,
    /// …or these ids (at most 10,000). Exactly one of `query` and `ids`.
    #[schema(value_type = Option<Vec<OrderId>>, min_items = 1, max_items = 10000)]
    ids: Option<Vec<String>>,
    /// `reason` for hold and cancel; `tags` for tags_add and tags_remove.
    #[serde(default)]
    #[schema(value_type = Object)]
    params: serde_json::Value,
}

/// A bulk job and where it stands.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct JobBody {
    id: i64,
    action: String,
    #[schema(value_type = Object)]
    params: serde_json::Value,
    query: Option<String>,
    /// `created`, `running`, `canceling`, `canceled`, `completed`, `failed`.
    state: String,
    total: i64,
    processed: i64,
    succeeded: i64,
    failed: i64,
    created_by: String,
    shop_id: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl From<Job> for JobBody {
    fn from(j: Job) -> Self {
        Self {
            id: j.id,
            action: j.action.as_str().to_owned(),
            params: serde_json::to_value(&j.params).unwrap_or_default(),
            query: j.query,
            state: j.state.as_str().to_owned(),
            total: j.total,
            processed: j.processed,
            succeeded: j.succeeded,
            failed: j.failed,
            created_by: j.created_by,
            shop_id: j.shop_id.map(|s| s.as_str().to_owned()),
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            updated_at: j.updated_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct JobList {
    jobs: Vec<JobBody>,
}

/// One target order and what became of it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ItemBody {
    seq: i64,
    order_id: String,
    /// `succeeded`, `failed`, or null while pending.
    outcome: Option<String>,
    reason: Option<String>,
    processed_at: Option<DateTime<Utc>>,
}

impl From<Item> for ItemBody {
    fn from(i: Item) -> Self {
        Self {
            seq: i.seq,
            order_id: i.order_id,
            outcome: i.outcome.map(|o| o.as_str().to_owned()),
            reason: i.reason,
            processed_at: i.processed_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ItemPage {
    items: Vec<ItemBody>,
    /// Pass as `after` for the next page; null at the end.
    next_after: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ItemsQuery {
    /// Only items with this outcome: `succeeded`, `failed` or `pending`.
    #[param(pattern = "^(succeeded|failed|pending)$")]
    outcome: Option<String>,
    /// Items after this `seq` (the previous page's `next_after`).
    #[param(minimum = 0)]
    after: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ResultQuery {
    /// `jsonl` (default) or `csv`.
    #[param(pattern = "^(jsonl|csv)$")]
    format: Option<String>,
}

async fn visible_job(caller: &Caller, db: &Database, id: i64) -> Result<Job, Error> {
    db.bulk()
        .get(id)
        .await?
        .filter(|j| j.visible_to(&caller.scope))
        .ok_or_else(|| Error::NotFound(format!("bulk job {id}")))
}

/// Creates a job; its target set is fixed now. 202 with `Location`; progress at the job's URL,
/// on `GET /api/v1/events?types=bulk_job`.
#[utoipa::path(
    tag = "bulk jobs",
    request_body = NewJobBody,
    responses((status = 202, description = "Accepted: the job, with `Location`", body = JobBody))
)]
#[post("/bulk-jobs")]
pub(super) async fn create(
    caller: Caller,
    db: web::Data<Database>,
    runner: web::Data<Runner>,
    body: web::Json<NewJobBody>,
) -> Result<HttpResponse, Error> {
    let body = body.into_inner();
    let params: Params = if body.params.is_null() {
        Params::default()
    } else {
        serde_json::from_value(body.params)
            .map_err(|e| Error::BadRequest(format!("params: {e}")))?
    };
    let new = NewJob::asked(
        &body.action,
        params,
        body.query,
        body.ids,
        caller.scope.clone(),
        caller.name.clone(),
    )?;
    let job = db.bulk().create(&new).await?.map_err(Error::NotAllowed)?;
    runner.wake();
    audit(&caller, &db, "bulk_job.created", &job).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/bulk-jobs/{}", job.id)))
        .json(JobBody::from(job)))
}

/// Records in the audit that `caller` did `action` (`bulk_job.created`, `bulk_job.canceled`)
/// to `job`.
pub(super) async fn audit(
    caller: &Caller,
    db: &Database,
    action: &str,
    job: &Job,
) -> Result<(), Error> {
    let detail = serde_json::json!({
        "action": job.action.as_str(), "query": job.query, "total": job.total,
    });
    let target = format!("bulk job {}", job.id);
    caller
        .audit(db, action, &target, job.shop_id.as_ref(), detail)
        .await
}

/// The jobs this key may see, newest first.
#[utoipa::path(tag = "bulk jobs", params(ListQuery), responses((status = 200, description = "OK", body = JobList)))]
#[get("/bulk-jobs")]
pub(super) async fn list(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Error> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Error::BadRequest("limit must be 1 to 500".into()));
    }
    let jobs = db.bulk().list(&caller.scope, limit).await?;
    Ok(HttpResponse::Ok().json(JobList {
        jobs: jobs.into_iter().map(JobBody::from).collect(),
    }))
}

#[utoipa::path(
    tag = "bulk jobs",
    params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = JobBody))
)]
#[get("/bulk-jobs/{id}")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(JobBody::from(visible_job(&caller, &db, *path).await?)))
}

/// Stops a job that has not finished: what is done stays done, the rest is not touched.
#[utoipa::path(
    tag = "bulk jobs",
    params(("id" = i64, Path)),
    responses((status = 200, description = "Canceling (or already finished: 422)", body = JobBody))
)]
#[post("/bulk-jobs/{id}/cancel")]
pub(super) async fn cancel(
    caller: Caller,
    db: web::Data<Database>,
    runner: web::Data<Runner>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    let job = visible_job(&caller, &db, *path).await?;
    if job.state.is_final() {
        return Err(Error::NotAllowed(format!(
            "bulk job {} is {}",
            job.id, job.state
        )));
    }
    let job = db
        .bulk()
        .cancel(job.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("bulk job {path}")))?;
    runner.wake();
    audit(&caller, &db, "bulk_job.canceled", &job).await?;
    Ok(HttpResponse::Ok().json(JobBody::from(job)))
}

/// The job's items in order, with their outcome and, for a failure, why.
#[utoipa::path(
    tag = "bulk jobs",
    params(("id" = i64, Path), ItemsQuery),
    responses((status = 200, description = "OK", body = ItemPage))
)]
#[get("/bulk-jobs/{id}/items")]
pub(super) async fn items(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<i64>,
    query: web::Query<ItemsQuery>,
) -> Result<HttpResponse, Error> {
    let job = visible_job(&caller, &db, *path).await?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest("limit must be 1 to 1000".into()));
    }
    let (outcome, pending) = match query.outcome.as_deref() {
        None => (None, false),
        Some("pending") => (None, true),
        Some(raw) => (Some(Outcome::parse(raw)?), false),
    };
    let after = query.after.map_or(0, |a| a.saturating_add(1));
    let items = db
        .bulk()
        .items(job.id, outcome, pending, after, limit)
        .await?;
    let next_after = (items.len() as u64 == limit)
        .then(|| items.last().map(|i| i.seq))
        .flatten();
    Ok(HttpResponse::Ok().json(ItemPage {
        items: items.into_iter().map(ItemBody::from).collect(),
        next_after,
    }))
}

/// An export's result: one line per order (JSON Lines, or CSV with a header row), in the
/// job's order, as the orders stand when downloaded.
#[utoipa::path(
    tag = "bulk jobs",
    params(("id" = i64, Path), ResultQuery),
    responses(
        (status = 200, description = "The orders", body = String, content_type = "application/x-ndjson"),
        (status = 422, description = "Not an export, or not completed yet", body = Problem, content_type = "application/problem+json")
    )
)]
#[get("/bulk-jobs/{id}/result")]
pub(super) async fn result(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<i64>,
    query: web::Query<ResultQuery>,
) -> Result<HttpResponse, Error> {
    let job = visible_job(&caller, &db, *path).await?;
    let csv = match query.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "format {other:?}: use jsonl or csv"
            )));
        }
    };
    export(db.get_ref().clone(), job, csv)
}

/// An export job's result as a download: one line per order, as the orders stand now; 422 if
/// the job is not a completed export. (The dashboard's download link serves it too.)
pub(super) fn export(db: Database, job: Job, csv: bool) -> Result<HttpResponse, Error> {
    if job.action != Action::Export {
        return Err(Error::NotAllowed(format!(
            "bulk job {} is a {}, not an export",
            job.id, job.action
        )));
    }
    if job.state != JobState::Completed {
        return Err(Error::NotAllowed(format!(
            "bulk job {} is {}; its result is ready once completed",
            job.id, job.state
        )));
    }
    let scope = job.scope();
    let header = csv.then(|| {
        Bytes::from_static(b"id,shop_id,status,stage,version,currency,total_amount,updated_at\n")
    });
    let pages = futures_stream::unfold(Some(0_i64), move |after| {
        let db = db.clone();
        let scope = scope.clone();
        async move {
            let after = after?;
            let page = match db
                .bulk()
                .items(job.id, Some(Outcome::Succeeded), false, after, 500)
                .await
            {
                Ok(page) => page,
                Err(e) => return Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
            };
            if page.is_empty() {
                return None;
            }
            let next = page.last().map(|i| i.seq + 1);
            let ids: Vec<&str> = page.iter().map(|i| i.order_id.as_str()).collect();
            let records = match db.orders().details(&ids).await {
                Ok(records) => records,
                Err(e) => return Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
            };
            let mut out = Vec::new();
            for item in &page {
                let Some(record) = OrderId::parse(&item.order_id)
                    .ok()
                    .and_then(|id| records.get(&id))
                else {
                    continue;
                };
                if !scope.allows(&record.order.shop_id) {
                    continue;
                }
                if csv {
                    let o = &record.order;
                    out.extend_from_slice(
                        format!(
                            "{},{},{},{},{},{},{},{}\n",
                            o.id,
                            o.shop_id,
                            o.status,
                            o.stage,
                            o.version,
                            o.total
                                .map(|m| m.currency().to_string())
                                .unwrap_or_default(),
                            o.total.map(|m| m.to_string()).unwrap_or_default(),
                            o.updated_at.to_rfc3339()
                        )
                        .as_bytes(),
                    );
                } else {
                    let line = super::orders::detail_json(record.clone());
                    out.extend_from_slice(line.as_bytes());
                    out.push(b'\n');
                }
            }
            Some((Ok::<_, actix_web::Error>(Bytes::from(out)), next))
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_stream::iter(header.map(Ok::<_, actix_web::Error>)),
        pages,
    );
    Ok(HttpResponse::Ok()
        .content_type(if csv {
            "text/csv"
        } else {
            "application/x-ndjson"
        })
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"bulk-job-{}.{}\"",
                job.id,
                if csv { "csv" } else { "jsonl" }
            ),
        ))
        .streaming(body))
}
