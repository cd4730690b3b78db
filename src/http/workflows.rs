//! Workflows over HTTP: the templates, the run of an order with its step history, and the dead
//! letters an operator inspects and replays.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Caller, Error};
use crate::commands::Commands;
use crate::domain::{OrderId, ShopId};
use crate::persistence::workflows::{Run, StepRecord};
use crate::persistence::{Database, OrderFilter};
use crate::workflow::run::{Status as RunStatus, StepStatus};
use crate::workflow::simulate::Match;
use crate::workflow::{Catalog, Template, runner};

/// A workflow template as the API describes it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct TemplateBody<'a> {
    name: &'a str,
    description: &'a str,
    steps: Vec<StepBody<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct StepBody<'a> {
    name: &'a str,
    action: &'static str,
    when: Option<&'a str>,
    retry: RetryBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RetryBody {
    max_attempts: u32,
    /// A humantime duration, e.g. `30s`.
    backoff: String,
    timeout: String,
}

impl<'a> From<&'a Template> for TemplateBody<'a> {
    fn from(template: &'a Template) -> Self {
        Self {
            name: &template.name,
            description: &template.description,
            steps: template
                .steps
                .iter()
                .map(|s| StepBody {
                    name: &s.name,
                    action: s.action.kind(),
                    when: s.when.as_ref().map(|w| w.source()),
                    retry: RetryBody {
                        max_attempts: s.retry.max_attempts,
                        backoff: humantime::format_duration(s.retry.backoff).to_string(),
                        timeout: humantime::format_duration(s.retry.timeout).to_string(),
                    },
                })
                .collect(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct TemplateList<'a> {
    workflows: Vec<TemplateBody<'a>>,
}

/// A workflow run.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RunBody {
    id: i64,
    order_id: OrderId,
    shop_id: ShopId,
    template: String,
    status: RunStatus,
    /// Index of the pending step.
    step: i32,
    /// Failed attempts of the pending step so far.
    attempts: i32,
    last_error: Option<String>,
    /// The SKU a `waiting` run waits for: a restock or a released reservation of it wakes the
    /// run, most urgent first.
    waiting_for: Option<String>,
    next_at: DateTime<Utc>,
    rts_sla_time: Option<i64>,
    priority: i32,
    created_at: DateTime<Utc>,
}

impl From<Run> for RunBody {
    fn from(r: Run) -> Self {
        Self {
            id: r.id,
            order_id: r.order_id,
            shop_id: r.shop_id,
            template: r.template,
            status: r.status,
            step: r.step,
            attempts: r.attempts,
            last_error: r.last_error,
            waiting_for: r.waiting_for,
            next_at: r.next_at,
            rts_sla_time: r.rts_sla_time,
            priority: r.priority,
            created_at: r.created_at,
        }
    }
}

/// A finished step of a run.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct StepRecordBody {
    id: i64,
    run_id: i64,
    seq: i32,
    name: String,
    action: String,
    status: StepStatus,
    attempts: i32,
    idempotency_key: String,
    detail: Option<String>,
    duration_micros: i64,
    finished_at: DateTime<Utc>,
}

impl From<StepRecord> for StepRecordBody {
    fn from(s: StepRecord) -> Self {
        Self {
            id: s.id,
            run_id: s.run_id,
            seq: s.seq,
            name: s.name,
            action: s.action,
            status: s.status,
            attempts: s.attempts,
            idempotency_key: s.idempotency_key,
            detail: s.detail,
            duration_micros: s.duration_micros,
            finished_at: s.finished_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct OrderRunBody {
    run: RunBody,
    steps: Vec<StepRecordBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ReplayBody {
    run: RunBody,
}

/// A step that exhausted its attempts.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DeadLetterBody {
    id: i64,
    order_id: OrderId,
    template: String,
    step: String,
    action: String,
    attempts: i32,
    error: Option<String>,
    failed_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DeadLetterList {
    dead_letters: Vec<DeadLetterBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SimulationBody<'a> {
    workflow: &'a str,
    evaluated: usize,
    truncated: bool,
    matched: Vec<Match>,
}

#[utoipa::path(
    tag = "workflows",
    responses((status = 200, description = "OK", body = TemplateList))
)]
#[get("/workflows")]
pub(super) async fn list(
    _caller: Caller,
    catalog: web::Data<Catalog>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(TemplateList {
        workflows: catalog.templates().map(TemplateBody::from).collect(),
    }))
}

#[utoipa::path(
    tag = "workflows",
    params(("name" = String, Path, description = "A workflow template name")),
    responses((status = 200, description = "OK", body = TemplateBody))
)]
#[get("/workflows/{name}")]
pub(super) async fn show(
    _caller: Caller,
    catalog: web::Data<Catalog>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let template = catalog
        .template(&path)
        .ok_or_else(|| Error::NotFound(format!("workflow {path}")))?;
    Ok(HttpResponse::Ok().json(TemplateBody::from(template)))
}

/// Which template the order runs, where its run is, and every step so far.
#[utoipa::path(
    tag = "workflows",
    params(("order_id" = OrderId, Path, description = "A TikTok order id")),
    responses((status = 200, description = "OK", body = OrderRunBody))
)]
#[get("/orders/{order_id}/workflow")]
pub(super) async fn order_run(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, Error> {
    let id = caller.visible_order(&db, path.into_inner()).await?;
    let (run, steps) = db
        .runs()
        .of_order(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("a workflow run for order {id}")))?;
    Ok(HttpResponse::Ok().json(OrderRunBody {
        run: run.into(),
        steps: steps.into_iter().map(StepRecordBody::from).collect(),
    }))
}

/// The workflow steps that gave up (newest first, at most 500), within the key's shop.
#[utoipa::path(
    tag = "workflows",
    responses((status = 200, description = "OK", body = DeadLetterList))
)]
#[get("/dead-letters")]
pub(super) async fn dead_letters(
    caller: Caller,
    db: web::Data<Database>,
) -> Result<HttpResponse, Error> {
    let dead_letters = db
        .runs()
        .dead_letters(&caller.scope, 500)
        .await?
        .into_iter()
        .map(|(step, run)| DeadLetterBody {
            id: step.id,
            order_id: run.order_id,
            template: run.template,
            step: step.name,
            action: step.action,
            attempts: step.attempts,
            error: step.detail,
            failed_at: step.finished_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(DeadLetterList { dead_letters }))
}

/// Sends a dead step back to its run, attempts from zero, and takes the order out of the
/// `exception` the failure put it in (back to the stage its last completed step reached).
/// Records in the audit that `caller` replayed dead letter `step` of `run`.
pub(super) async fn audit_replay(
    caller: &Caller,
    db: &Database,
    step: i64,
    run: &Run,
) -> Result<(), Error> {
    let detail = serde_json::json!({ "order_id": run.order_id.as_str(), "run": run.id });
    let target = format!("dead letter {step}");
    caller
        .audit(
            db,
            "dead_letter.replayed",
            &target,
            Some(&run.shop_id),
            detail,
        )
        .await
}

#[utoipa::path(
    tag = "workflows",
    params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = ReplayBody))
)]
#[post("/dead-letters/{id}/replay")]
pub(super) async fn replay(
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    let who = caller.who();
    let run = commands
        .replay_dead_letter(who, *path)
        .await?
        .ok_or_else(|| Error::NotFound(format!("dead letter {path}")))?;
    audit_replay(&caller, &commands.db, *path, &run).await?;
    Ok(HttpResponse::Ok().json(ReplayBody { run: run.into() }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SimulateBody {
    /// Orders last updated in [from, to].
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Most orders one dry run evaluates.
const SIMULATE_LIMIT: usize = 5_000;

/// Dry run over stored orders (the caller's scope): which the template would take and which of
/// its steps would run. Nothing is started, nothing changes.
#[utoipa::path(
    tag = "workflows",
    params(("name" = String, Path, description = "A workflow template name")),
    request_body = SimulateBody,
    responses((status = 200, description = "What the template would do; nothing changes", body = SimulationBody))
)]
#[post("/workflows/{name}/simulate")]
pub(super) async fn simulate(
    caller: Caller,
    db: web::Data<Database>,
    catalog: web::Data<Catalog>,
    flags: web::Data<crate::flags::Flags>,
    path: web::Path<String>,
    body: web::Json<SimulateBody>,
) -> Result<HttpResponse, Error> {
    if catalog.template(&path).is_none() {
        return Err(Error::NotFound(format!("workflow {path}")));
    }
    if body.to < body.from {
        return Err(Error::BadRequest("`to` is before `from`".into()));
    }
    let mut facts = Vec::new();
    let mut after = Some((body.to + chrono::TimeDelta::microseconds(1), String::new()));
    let mut truncated = false;
    loop {
        let filter = OrderFilter {
            updated_since: Some(body.from),
            after: after.clone(),
            limit: 500,
            ..OrderFilter::default()
        };
        let page = db.orders().list(&caller.scope, &filter).await?;
        for order in &page {
            if let Some(view) = db.orders().detail(&caller.scope, &order.id).await? {
                facts.push(runner::facts(&view));
            }
        }
        if facts.len() >= SIMULATE_LIMIT {
            truncated = true;
            break;
        }
        match page.last() {
            Some(last) if page.len() == 500 => {
                after = Some((last.updated_at, last.id.as_str().to_owned()))
            }
            _ => break,
        }
    }
    let matched = crate::workflow::simulate::simulate(
        &catalog,
        &|flag, shop| flags.on(flag, shop),
        &path,
        &facts,
    );
    Ok(HttpResponse::Ok().json(SimulationBody {
        workflow: path.as_str(),
        evaluated: facts.len(),
        truncated,
        matched,
    }))
}
