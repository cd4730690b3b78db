//! Workflows over HTTP: the templates, the run of an order with its step history, and the dead
//! letters an operator inspects and replays.

use actix_web::{HttpResponse, get, post, web};
use serde_json::{Value, json};

use super::{Caller, Error};
use crate::actors::{Envelope, RegistryHandle};
use crate::domain::{Msg, OrderId, Stage};
use crate::persistence::Database;
use crate::workflow::{Catalog, Template};

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
    let id = OrderId::parse(&path)?;
    if !db.order_visible(&caller.scope, &id).await? {
        return Err(Error::NotFound(format!("order {id}")));
    }
    let (run, steps) = db
        .order_run(id.as_str())
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
        .replay_dead_letter(*path)
        .await?
        .ok_or_else(|| Error::NotFound(format!("dead letter {path}")))?;
    let id = OrderId::parse(&run.order_id)?;
    let steps = db
        .order_run(id.as_str())
        .await?
        .map(|(_, s)| s)
        .unwrap_or_default();
    let resume_at = steps
        .iter()
        .rev()
        .filter(|s| s.status == "done")
        .find_map(|s| match s.action.as_str() {
            "reserve_stock" => Some(Stage::StockReserved),
            "buy_label" => Some(Stage::LabelPurchased),
            "ship" => Some(Stage::Shipped),
            _ => None,
        })
        .unwrap_or(Stage::Validated);
    let envelope = Envelope {
        msg: Msg::Progress {
            to: resume_at,
            reason: None,
        },
        cause: format!("user:{}", caller.name),
        inbox: None,
    };
    if let Err(e) = registry.submit(id, envelope).await {
        tracing::warn!(error = %e, "replayed run's order stays where it is");
    }
    Ok(HttpResponse::Ok().json(json!({ "run": run })))
}
