//! Workflows: the templates and the steps and conditions in each, the runs in flight, and the
//! dead letters grouped by what went wrong, each group replayable at once.

use std::collections::BTreeMap;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

use super::session::Viewer;
use super::{Who, back, page};
use crate::commands::Commands;
use crate::http::Error;
use crate::persistence::Database;
use crate::workflow::Catalog;

pub struct TemplateView {
    name: String,
    description: String,
    steps: Vec<(String, String, String)>,
}

pub struct RunLine {
    order_id: String,
    template: String,
    status: String,
    step: i32,
    attempts: i32,
    next_at: String,
    error: String,
}

/// One dead letter: its id, its order, when it failed.
pub struct Letter {
    id: i64,
    order_id: String,
    failed_at: String,
}

/// Dead letters with the same step and error.
pub struct Group {
    step: String,
    error: String,
    ids: String,
    letters: Vec<Letter>,
}

#[derive(askama::Template)]
#[template(path = "workflows.html")]
struct WorkflowsPage {
    who: Option<Who>,
    operate: bool,
    section: &'static str,
    csrf: String,
    done: Option<String>,
    templates: Vec<TemplateView>,
    runs: Vec<RunLine>,
    groups: Vec<Group>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct Done {
    done: Option<String>,
}

/// Templates, runs in flight and dead letters.
#[utoipa::path(
    tag = "dashboard",
    params(Done),
    responses((status = 200, description = "The workflows page", body = String, content_type = "text/html"))
)]
#[get("/workflows")]
pub(in crate::http) async fn workflows_page(
    viewer: Viewer,
    db: web::Data<Database>,
    catalog: web::Data<Catalog>,
    done: web::Query<Done>,
) -> Result<HttpResponse, Error> {
    let scope = &viewer.caller.scope;
    let runs = db.runs();
    let (in_flight, letters) =
        futures_util::try_join!(runs.in_flight(scope, 200), runs.dead_letters(scope, 500))?;
    let mut groups: BTreeMap<(String, String), Vec<Letter>> = BTreeMap::new();
    for (step, run) in letters {
        let error = step.detail.unwrap_or_default();
        let key: String = error.chars().take(120).collect();
        groups.entry((step.name, key)).or_default().push(Letter {
            id: step.id,
            order_id: run.order_id.as_str().to_owned(),
            failed_at: step.finished_at.format("%Y-%m-%d %H:%M").to_string(),
        });
    }
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|((step, error), letters)| Group {
            ids: letters
                .iter()
                .map(|l| l.id.to_string())
                .collect::<Vec<_>>()
                .join(","),
            step,
            error,
            letters,
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.letters.len()));
    page(&WorkflowsPage {
        who: Some(viewer.who()),
        operate: viewer.caller.role.may_operate(),
        section: "workflows",
        csrf: viewer.csrf.clone(),
        done: done.done.clone(),
        templates: catalog
            .templates()
            .map(|t| TemplateView {
                name: t.name.clone(),
                description: t.description.clone(),
                steps: t
                    .steps
                    .iter()
                    .map(|s| {
                        (
                            s.name.clone(),
                            s.action.kind().to_owned(),
                            s.when
                                .as_ref()
                                .map_or(String::new(), |w| w.source().to_owned()),
                        )
                    })
                    .collect(),
            })
            .collect(),
        runs: in_flight
            .into_iter()
            .map(|r| RunLine {
                order_id: r.order_id.as_str().to_owned(),
                template: r.template,
                status: r.status.as_str().to_owned(),
                step: r.step,
                attempts: r.attempts,
                next_at: r.next_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                error: r.last_error.unwrap_or_default(),
            })
            .collect(),
        groups,
    })
}

/// Replays dead letters (one, or a whole group): each step runs again from attempt one.
#[utoipa::path(
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the workflows page, saying how many"))
)]
#[post("/dead-letters/replay")]
pub(in crate::http) async fn replay(
    viewer: Viewer,
    commands: web::Data<Commands>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    let (mut csrf, mut ids) = (String::new(), Vec::new());
    for (name, value) in form_urlencoded::parse(&body) {
        match name.as_ref() {
            "csrf" => csrf = value.into_owned(),
            "ids" => ids.extend(
                value
                    .split(',')
                    .filter_map(|id| id.trim().parse::<i64>().ok()),
            ),
            _ => {}
        }
    }
    viewer.operate(&csrf)?;
    let mut replayed = 0;
    for id in ids {
        let who = viewer.caller.who();
        if let Some(run) = commands.replay_dead_letter(who, id).await? {
            crate::http::workflows::audit_replay(&viewer.caller, &commands.db, id, &run).await?;
            replayed += 1;
        }
    }
    let done = format!(
        "Replayed {replayed} dead {}",
        if replayed == 1 { "letter" } else { "letters" }
    );
    Ok(back("/ui/workflows", ("done", done)))
}
