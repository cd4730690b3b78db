//! Workflows over HTTP: the templates, the run of an order with its step history, and the dead
//! letters an operator inspects and replays.

use actix_web::{HttpResponse, get, post, web};
use serde_json::{Value, json};

use super::{Caller, Error};
use crate::actors::{Envelope, RegistryHandle};
use crate::domain::{Cause, Msg, OrderId, Stage};
use crate::persistence::{Database, OrderFilter};
use crate::workflow::{Action, Catalog, Template, runner};
use chrono::{DateTime, Utc};

fn describe(template: &Template) -> Value {
    json!({
        "name": template.name,
        "description": template.description,
        "steps": template.steps.iter().map(|s| json!({
            "name": s.name,
            "action": s.action.kind(),
            "when": s.when.as_ref().map(|w| w.source()),
            "retry": {
                "max_attempts": s.retry.max_attempts,
                "backoff": humantime::format_duration(s.retry.backoff).to_string(),
                "timeout": humantime::format_duration(s.retry.timeout).to_string(),
            },
        })).collect::<Vec<_>>(),
    })
}

#[get("/workflows")]
pub(super) async fn list(
    _caller: Caller,
    catalog: web::Data<Catalog>,
) -> Result<HttpResponse, Error> {
    let templates: Vec<Value> = catalog.templates().map(describe).collect();
    Ok(HttpResponse::Ok().json(json!({ "workflows": templates })))
}

#[get("/workflows/{name}")]
pub(super) async fn show(
    _caller: Caller,
    catalog: web::Data<Catalog>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let template = catalog
        .template(&path)
        .ok_or_else(|| Error::NotFound(format!("workflow {path}")))?;
    Ok(HttpResponse::Ok().json(describe(template)))
}

/// Which template the order runs, where its run is, and every step so far.
#[get("/orders/{order_id}/workflow")]
pub(super) async fn order_run(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let id = caller.visible_order(&db, &path).await?;
    let (run, steps) = db
        .runs()
        .of_order(id.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("a workflow run for order {id}")))?;
    Ok(HttpResponse::Ok().json(json!({ "run": run, "steps": steps })))
}

#[get("/dead-letters")]
pub(super) async fn dead_letters(
    caller: Caller,
    db: web::Data<Database>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let letters: Vec<Value> = db
        .runs()
        .dead_letters(500)
        .await?
        .into_iter()
        .map(|(step, run)| {
            json!({
                "id": step.id,
                "order_id": run.order_id,
                "template": run.template,
                "step": step.name,
                "action": step.action,
                "attempts": step.attempts,
                "error": step.detail,
                "failed_at": step.finished_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "dead_letters": letters })))
}

/// Sends a dead step back to its run, attempts from zero, and takes the order out of the
/// `exception` the failure put it in (back to the stage its last completed step reached).
#[post("/dead-letters/{id}/replay")]
pub(super) async fn replay(
    caller: Caller,
    db: web::Data<Database>,
    registry: web::Data<RegistryHandle>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let run = db
        .runs()
        .replay_dead_letter(*path)
        .await?
        .ok_or_else(|| Error::NotFound(format!("dead letter {path}")))?;
    let id = OrderId::parse(&run.order_id)?;
    let steps = db
        .runs()
        .of_order(id.as_str())
        .await?
        .map(|(_, s)| s)
        .unwrap_or_default();
    let resume_at = steps
        .iter()
        .rev()
        .filter(|s| s.status == "done")
        .find_map(|s| Action::stage_after_kind(&s.action))
        .unwrap_or(Stage::Validated);
    let envelope = Envelope {
        msg: Msg::Progress {
            to: resume_at,
            reason: None,
        },
        cause: Cause::User(caller.name.as_str().into()),
        inbox: None,
    };
    if let Err(e) = registry.submit(id, envelope).await {
        tracing::warn!(error = %e, "replayed run's order stays where it is");
    }
    Ok(HttpResponse::Ok().json(json!({ "run": run })))
}

#[derive(serde::Deserialize)]
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
#[post("/workflows/{name}/simulate")]
pub(super) async fn simulate(
    caller: Caller,
    db: web::Data<Database>,
    catalog: web::Data<Catalog>,
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
            let id = OrderId::parse(&order.id)?;
            if let Some(view) = db.orders().detail(&caller.scope, &id).await? {
                facts.push(runner::facts(&view));
            }
        }
        if facts.len() >= SIMULATE_LIMIT {
            truncated = true;
            break;
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = Some((last.updated_at, last.id.clone())),
            _ => break,
        }
    }
    let matched = crate::workflow::simulate::simulate(&catalog, &path, &facts);
    Ok(HttpResponse::Ok().json(json!({
        "workflow": path.as_str(),
        "evaluated": facts.len(),
        "truncated": truncated,
        "matched": matched,
    })))
}
