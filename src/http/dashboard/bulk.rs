//! Bulk actions from the orders page: the rows selected, or every order matching the filters
//! (the confirmation says which, and how many), then a job page whose progress bar follows the
//! runner live, with the items that failed and, for an export, the download.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

use super::packing::Which;
use super::session::Viewer;
use super::{Who, page};
use crate::bulk::{Job, JobState, MAX_ITEMS, NewJob, Outcome, Params, Runner};
use crate::domain::{Search, Tag};
use crate::http::Error;
use crate::persistence::{Database, OrderFilter};

/// What each bulk action is called on the page.
pub const ACTIONS: [(&str, &str); 10] = [
    ("hold", "Hold"),
    ("release", "Release"),
    ("tags_add", "Add tags"),
    ("tags_remove", "Remove tags"),
    ("retry_workflow", "Retry failed workflows"),
    ("cancel", "Ask TikTok to cancel"),
    ("approve_requests", "Approve buyer requests"),
    ("reject_requests", "Reject buyer requests"),
    ("export", "Export"),
    (PACKING_SLIPS, "Print packing slips"),
];

/// The bulk action that is a page, not a job: the chosen orders' packing slips.
const PACKING_SLIPS: &str = "packing_slips";

/// A bulk form as the browser sends it (ids repeat, so it is read by hand).
#[derive(Default)]
struct Asked {
    csrf: String,
    action: String,
    reason: String,
    tags: String,
    /// `selected` (the ids) or `matching` (the search).
    scope: String,
    ids: Vec<String>,
    q: String,
}

impl Asked {
    fn read(body: &[u8]) -> Self {
        let mut asked = Asked::default();
        for (name, value) in form_urlencoded::parse(body) {
            let value = value.into_owned();
            match name.as_ref() {
                "csrf" => asked.csrf = value,
                "action" => asked.action = value,
                "reason" => asked.reason = value,
                "tags" => asked.tags = value,
                "scope" => asked.scope = value,
                "ids" => asked.ids.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned),
                ),
                "q" => asked.q = value,
                _ => {}
            }
        }
        asked
    }

    fn action_name(&self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(a, _)| *a == self.action)
            .map_or("?", |(_, name)| name)
    }

    fn params(&self) -> Result<Params, Error> {
        let tags = self
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Tag::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let reason = self.reason.trim();
        Ok(Params {
            reason: (!reason.is_empty()).then(|| reason.to_owned()),
            tags,
        })
    }

    /// The job as asked, checked.
    fn job(&self, viewer: &Viewer) -> Result<NewJob, Error> {
        let (query, ids) = match self.scope.as_str() {
            "matching" => (Some(self.q.clone()), None),
            _ if self.ids.is_empty() => {
                return Err(Error::BadRequest(
                    "select some orders first, or apply to all matching".into(),
                ));
            }
            _ => (None, Some(self.ids.clone())),
        };
        Ok(NewJob::asked(
            &self.action,
            self.params()?,
            query,
            ids,
            viewer.caller.scope.clone(),
            viewer.caller.name.clone(),
        )?)
    }
}

#[derive(askama::Template)]
#[template(path = "bulk_confirm.html")]
struct ConfirmPage {
    who: Option<Who>,
    section: &'static str,
    csrf: String,
    action: String,
    action_name: &'static str,
    reason: String,
    tags: String,
    scope: String,
    ids: String,
    q: String,
    count: String,
    problem: Option<String>,
}

/// What a bulk form would do, to confirm: the action, and exactly which orders. Packing
/// slips are a page, not a job: on to it at once.
#[utoipa::path(
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The confirmation page", body = String, content_type = "text/html"),
        (status = 303, description = "On to the packing slips of the orders chosen")
    )
)]
#[post("/bulk/confirm")]
pub(in crate::http) async fn confirm(
    viewer: Viewer,
    db: web::Data<Database>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    let asked = Asked::read(&body);
    if asked.action == PACKING_SLIPS {
        viewer.check(&asked.csrf)?;
        let ids = if asked.scope == "matching" {
            &[][..]
        } else {
            &asked.ids[..]
        };
        if ids.is_empty() && asked.scope != "matching" {
            return Err(Error::BadRequest(
                "select some orders first, or print all matching".into(),
            ));
        }
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, Which::href(ids, &asked.q)))
            .finish());
    }
    viewer.operate(&asked.csrf)?;
    let mut confirm = ConfirmPage {
        who: Some(viewer.who()),
        section: "orders",
        csrf: viewer.csrf.clone(),
        action: asked.action.clone(),
        action_name: asked.action_name(),
        reason: asked.reason.clone(),
        tags: asked.tags.clone(),
        scope: asked.scope.clone(),
        ids: asked.ids.join(","),
        q: asked.q.clone(),
        count: asked.ids.len().to_string(),
        problem: None,
    };
    if let Err(e) = asked.job(&viewer) {
        confirm.problem = Some(e.to_string());
        return page(&confirm);
    }
    if asked.scope == "matching" {
        let filter = OrderFilter {
            search: Some(Search::parse(&asked.q)?),
            ..OrderFilter::default()
        };
        let cap = MAX_ITEMS as u64;
        let counted = db
            .orders()
            .count_upto(&viewer.caller.scope, &filter, cap)
            .await?;
        confirm.count = if counted > cap {
            confirm.problem = Some(format!(
                "More than {MAX_ITEMS} orders match: narrow the search (one job takes at most that many)."
            ));
            format!("{MAX_ITEMS}+")
        } else {
            counted.to_string()
        };
    }
    page(&confirm)
}

/// Starts the confirmed job and opens its page.
#[utoipa::path(
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "On to the job's page"))
)]
#[post("/bulk")]
pub(in crate::http) async fn start(
    viewer: Viewer,
    db: web::Data<Database>,
    runner: web::Data<Runner>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    let asked = Asked::read(&body);
    viewer.operate(&asked.csrf)?;
    let job = db
        .bulk()
        .create(&asked.job(&viewer)?)
        .await?
        .map_err(Error::NotAllowed)?;
    runner.wake();
    crate::http::bulk::audit(&viewer.caller, &db, "bulk_job.created", &job).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/ui/bulk/{}", job.id)))
        .finish())
}

pub struct JobLine {
    id: i64,
    action: String,
    state: String,
    total: i64,
    processed: i64,
    succeeded: i64,
    failed: i64,
    percent: i64,
    created_by: String,
    created_at: String,
    target: String,
    export: bool,
}

impl From<&Job> for JobLine {
    fn from(j: &Job) -> Self {
        Self {
            id: j.id,
            action: j.action.as_str().to_owned(),
            state: j.state.as_str().to_owned(),
            total: j.total,
            processed: j.processed,
            succeeded: j.succeeded,
            failed: j.failed,
            percent: if j.total == 0 {
                100
            } else {
                j.processed * 100 / j.total
            },
            created_by: j.created_by.clone(),
            created_at: j.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            target: j.query.as_ref().map_or_else(
                || "the orders selected".to_owned(),
                |q| format!("all matching {q}"),
            ),
            export: j.action == crate::bulk::Action::Export && j.state == JobState::Completed,
        }
    }
}

pub struct FailedItem {
    order_id: String,
    reason: String,
}

#[derive(askama::Template)]
#[template(path = "bulk_job.html")]
struct JobPage {
    who: Option<Who>,
    operate: bool,
    section: &'static str,
    csrf: String,
    job: JobLine,
    failures: Vec<FailedItem>,
    running: bool,
}

#[derive(askama::Template)]
#[template(path = "bulk_jobs.html")]
struct JobsPage {
    who: Option<Who>,
    section: &'static str,
    jobs: Vec<JobLine>,
}

async fn visible(viewer: &Viewer, db: &Database, id: i64) -> Result<Job, Error> {
    db.bulk()
        .get(id)
        .await?
        .filter(|j| j.visible_to(&viewer.caller.scope))
        .ok_or_else(|| Error::NotFound(format!("bulk job {id}")))
}

/// The bulk jobs this session may see, newest first.
#[utoipa::path(tag = "dashboard", responses((status = 200, description = "The jobs", body = String, content_type = "text/html")))]
#[get("/bulk")]
pub(in crate::http) async fn jobs_page(
    viewer: Viewer,
    db: web::Data<Database>,
) -> Result<HttpResponse, Error> {
    let jobs = db.bulk().list(&viewer.caller.scope, 100).await?;
    page(&JobsPage {
        who: Some(viewer.who()),
        section: "bulk",
        jobs: jobs.iter().map(JobLine::from).collect(),
    })
}

/// A job: its progress (live while it runs), the items that failed and why, its export.
#[utoipa::path(
    tag = "dashboard",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The job's page", body = String, content_type = "text/html"))
)]
#[get("/bulk/{id}")]
pub(in crate::http) async fn job_page(
    viewer: Viewer,
    db: web::Data<Database>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    let job = visible(&viewer, &db, *path).await?;
    let failures = db
        .bulk()
        .items(job.id, Some(Outcome::Failed), false, 0, 200)
        .await?
        .into_iter()
        .map(|i| FailedItem {
            order_id: i.order_id,
            reason: i.reason.unwrap_or_default(),
        })
        .collect();
    page(&JobPage {
        who: Some(viewer.who()),
        operate: viewer.caller.role.may_operate(),
        section: "bulk",
        csrf: viewer.csrf.clone(),
        running: !job.state.is_final(),
        job: JobLine::from(&job),
        failures,
    })
}

/// Stops a running job (what is done stays done).
#[utoipa::path(
    tag = "dashboard",
    params(("id" = i64, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the job's page"))
)]
#[post("/bulk/{id}/cancel")]
pub(in crate::http) async fn cancel_job(
    viewer: Viewer,
    db: web::Data<Database>,
    runner: web::Data<Runner>,
    path: web::Path<i64>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    viewer.operate(&Asked::read(&body).csrf)?;
    let job = visible(&viewer, &db, *path).await?;
    if !job.state.is_final() {
        if let Some(job) = db.bulk().cancel(job.id).await? {
            crate::http::bulk::audit(&viewer.caller, &db, "bulk_job.canceled", &job).await?;
        }
        runner.wake();
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/ui/bulk/{}", job.id)))
        .finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct Format {
    /// `jsonl` (default) or `csv`.
    format: Option<String>,
}

/// An export's download.
#[utoipa::path(
    tag = "dashboard",
    params(("id" = i64, Path), Format),
    responses((status = 200, description = "The orders, one per line", body = String, content_type = "application/x-ndjson"))
)]
#[get("/bulk/{id}/result")]
pub(in crate::http) async fn download(
    viewer: Viewer,
    db: web::Data<Database>,
    path: web::Path<i64>,
    format: web::Query<Format>,
) -> Result<HttpResponse, Error> {
    let job = visible(&viewer, &db, *path).await?;
    let csv = format.format.as_deref() == Some("csv");
    crate::http::bulk::export(db.get_ref().clone(), job, csv)
}
