//! What GraphQL changes: the REST commands on orders, dead-letter replays and bulk jobs. Each
//! answers a payload with `userErrors` (what the caller must fix: a stale version, a bad
//! argument, a refusal), empty on success; a failure of the daemon itself is a top-level error.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::super::Error;
use super::bulk::BulkJob;
use super::errors::{UserError, fail};
use super::order::Order;
use super::query::order_id;
use crate::bulk::{NewJob, Params, Runner};
use crate::commands::{self, Command, Commands};
use crate::domain::{Invalid, Tag};
use crate::http::Caller;
use crate::persistence::Database;

pub struct Mutation;

/// The order after a command or a dead letter's replay (null if it could not be read), and
/// what stopped it if anything.
#[derive(SimpleObject)]
pub struct OrderPayload {
    order: Option<Order>,
    user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct BulkJobPayload {
    bulk_job: Option<BulkJob>,
    user_errors: Vec<UserError>,
}

/// A bulk job to create: an action over exactly one of a search and a list of ids.
#[derive(InputObject)]
pub struct BulkJobInput {
    /// `hold`, `release`, `cancel`, `approve_requests`, `reject_requests` (each order's buyer's
    /// request that waits for the seller; `reject_requests` takes TikTok's reason code as its
    /// reason), `tags_add`, `tags_remove`, `retry_workflow`, `replay_dead_letters` or `export`.
    action: String,
    /// Every order this search matches now (the set is fixed when the job is created)…
    query: Option<String>,
    /// …or these orders (at most 10,000).
    ids: Option<Vec<ID>>,
    /// `hold` and `cancel`: why; `reject_requests`: TikTok's reject reason code.
    reason: Option<String>,
    /// `tags_add` and `tags_remove`: 1 to 50 tags.
    tags: Option<Vec<String>>,
}

/// The caller, if its key may change things; a read-only key's mutation is a top-level
/// `FORBIDDEN` error, as the REST routes' 403.
fn operator<'a>(ctx: &Context<'a>) -> Result<&'a Caller> {
    let caller = ctx.data_unchecked::<Caller>();
    caller.require_operate().map_err(fail)?;
    Ok(caller)
}

/// A refusal about `field`, or a top-level error if the daemon itself failed.
fn refused(field: Option<&str>, error: impl Into<Error>) -> Result<UserError> {
    let error = error.into();
    match error {
        Error::Internal(_) | Error::Unavailable(_) | Error::NotReady(_) => Err(fail(error)),
        Error::Conflict(_) => Ok(UserError::of(Some("expectedVersion"), error)),
        Error::NotFound(_) => Ok(UserError::of(Some("id"), error)),
        other => Ok(UserError::of(field, other)),
    }
}

fn invalid(e: Invalid) -> Result<UserError> {
    let field = match e.field {
        "params.reason" => "reason",
        "params.tags" => "tags",
        other => other,
    };
    refused(Some(field), e)
}

fn tags(raw: &[String]) -> Result<Vec<Tag>, Invalid> {
    if !(1..=50).contains(&raw.len()) {
        return Err(Invalid::new("tags", "give 1 to 50 tags"));
    }
    raw.iter()
        .map(|t| Tag::parse(t).map_err(|e| Invalid::new("tags", e.reason)))
        .collect()
}

/// Runs `command` (or reports why it could not be formed) on order `id` at `expected_version`.
async fn order_command(
    ctx: &Context<'_>,
    id: ID,
    expected_version: i64,
    command: Result<Command, Invalid>,
) -> Result<OrderPayload> {
    let answer = |user_error: UserError| OrderPayload {
        order: None,
        user_errors: vec![user_error],
    };
    let id = match order_id(&id) {
        Ok(id) => id,
        Err(_) => {
            return Ok(answer(refused(
                Some("id"),
                Error::BadRequest("id: not an order id".into()),
            )?));
        }
    };
    let caller = operator(ctx)?;
    let command = match command {
        Ok(command) => command,
        Err(e) => return Ok(answer(invalid(e)?)),
    };
    let who = caller.who();
    let commands = ctx.data_unchecked::<Commands>();
    if let Err(e) = commands
        .run(who, id.clone(), expected_version, command)
        .await
    {
        return Ok(answer(refused(None, e)?));
    }
    let db = ctx.data_unchecked::<Database>();
    let order = db.orders().view(&caller.scope, &id).await.map_err(fail)?;
    Ok(OrderPayload {
        order: order.map(Order),
        user_errors: Vec::new(),
    })
}

#[Object]
impl Mutation {
    /// Holds an order for a person to look at.
    async fn hold_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: i64,
    ) -> Result<OrderPayload> {
        let command = commands::reason(&reason).map(|reason| Command::Hold { reason });
        order_command(ctx, id, expected_version, command).await
    }

    /// Lifts a hold: the order returns to the stage it was held from.
    async fn release_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i64,
    ) -> Result<OrderPayload> {
        order_command(ctx, id, expected_version, Ok(Command::Release)).await
    }

    /// Asks TikTok to cancel the order (a seller cancellation; `reason` is TikTok's code).
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: i64,
    ) -> Result<OrderPayload> {
        let command = commands::reason(&reason).map(|reason| Command::Cancel { reason });
        order_command(ctx, id, expected_version, command).await
    }

    /// Answers a buyer's request that TikTok waits for the seller to answer (`request` is its
    /// `cancel_id` or `return_id`): approve, or reject for `reason` (TikTok's reject reason
    /// code). Recorded, then given to TikTok, whose webhook follows with the new status.
    async fn answer_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        request: String,
        approve: bool,
        reason: Option<String>,
        expected_version: i64,
    ) -> Result<OrderPayload> {
        let command = Command::answer(&request, approve, reason.as_deref());
        order_command(ctx, id, expected_version, command).await
    }

    /// Adds tags (those it has already stay once).
    async fn tags_add(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
        expected_version: i64,
    ) -> Result<OrderPayload> {
        let command = self::tags(&tags).map(|add| Command::Tag {
            add,
            remove: Vec::new(),
        });
        order_command(ctx, id, expected_version, command).await
    }

    /// Removes tags.
    async fn tags_remove(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tags: Vec<String>,
        expected_version: i64,
    ) -> Result<OrderPayload> {
        let command = self::tags(&tags).map(|remove| Command::Tag {
            add: Vec::new(),
            remove,
        });
        order_command(ctx, id, expected_version, command).await
    }

    /// Sets the priority of the order's workflow run (-1000 to 1000; higher runs first).
    async fn set_order_priority(
        &self,
        ctx: &Context<'_>,
        id: ID,
        priority: i32,
        expected_version: i64,
    ) -> Result<OrderPayload> {
        let command = if (-1000..=1000).contains(&priority) {
            Ok(Command::Prioritise { priority })
        } else {
            Err(Invalid::new("priority", "priority must be -1000 to 1000"))
        };
        order_command(ctx, id, expected_version, command).await
    }

    /// Sends the order's failed workflow back to work from its dead step.
    async fn retry_workflow(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i64,
    ) -> Result<OrderPayload> {
        order_command(ctx, id, expected_version, Ok(Command::RetryWorkflow)).await
    }

    /// Sends a dead letter back to its run, attempts from zero.
    async fn replay_dead_letter(&self, ctx: &Context<'_>, id: ID) -> Result<OrderPayload> {
        let answer = |user_error: UserError| OrderPayload {
            order: None,
            user_errors: vec![user_error],
        };
        let caller = operator(ctx)?;
        let Ok(step) = id.parse::<i64>() else {
            let error = Error::BadRequest("id: not a dead letter id".into());
            return Ok(answer(refused(Some("id"), error)?));
        };
        let who = caller.who();
        let commands = ctx.data_unchecked::<Commands>();
        let run = match commands.replay_dead_letter(who, step).await {
            Ok(Some(run)) => run,
            Ok(None) => {
                let error = Error::NotFound(format!("dead letter {step}"));
                return Ok(answer(refused(Some("id"), error)?));
            }
            Err(e) => return Ok(answer(refused(None, e)?)),
        };
        let db = ctx.data_unchecked::<Database>();
        crate::http::workflows::audit_replay(caller, db, step, &run)
            .await
            .map_err(fail)?;
        let order = db
            .orders()
            .view(&caller.scope, &run.order_id)
            .await
            .map_err(fail)?;
        Ok(OrderPayload {
            order: order.map(Order),
            user_errors: Vec::new(),
        })
    }

    /// Creates a bulk job; its target set is fixed now. Follow it with `bulkJobProgress`.
    async fn bulk_job_create(
        &self,
        ctx: &Context<'_>,
        input: BulkJobInput,
    ) -> Result<BulkJobPayload> {
        let answer = |user_error: UserError| BulkJobPayload {
            bulk_job: None,
            user_errors: vec![user_error],
        };
        let caller = operator(ctx)?;
        let tags = match input.tags.as_deref().map(tags).transpose() {
            Ok(tags) => tags.unwrap_or_default(),
            Err(e) => return Ok(answer(invalid(e)?)),
        };
        let params = Params {
            reason: input.reason,
            tags,
        };
        let ids = input
            .ids
            .map(|ids| ids.into_iter().map(|id| id.0).collect());
        let new = match NewJob::asked(
            &input.action,
            params,
            input.query,
            ids,
            caller.scope.clone(),
            caller.name.clone(),
        ) {
            Ok(new) => new,
            Err(e) => return Ok(answer(invalid(e)?)),
        };
        let db = ctx.data_unchecked::<Database>();
        let job = match db.bulk().create(&new).await.map_err(fail)? {
            Ok(job) => job,
            Err(why) => return Ok(answer(refused(None, Error::NotAllowed(why))?)),
        };
        ctx.data_unchecked::<Runner>().wake();
        crate::http::bulk::audit(caller, db, "bulk_job.created", &job)
            .await
            .map_err(fail)?;
        Ok(BulkJobPayload {
            bulk_job: Some(BulkJob(job)),
            user_errors: Vec::new(),
        })
    }

    /// Stops a job that has not finished: what is done stays done.
    async fn bulk_job_cancel(&self, ctx: &Context<'_>, id: ID) -> Result<BulkJobPayload> {
        let answer = |user_error: UserError| BulkJobPayload {
            bulk_job: None,
            user_errors: vec![user_error],
        };
        let caller = operator(ctx)?;
        let db = ctx.data_unchecked::<Database>();
        let job = match id.parse::<i64>() {
            Ok(id) => db.bulk().get(id).await.map_err(fail)?,
            Err(_) => None,
        };
        let Some(job) = job.filter(|j| j.visible_to(&caller.scope)) else {
            let error = Error::NotFound(format!("bulk job {}", id.as_str()));
            return Ok(answer(refused(Some("id"), error)?));
        };
        if job.state.is_final() {
            let error = Error::NotAllowed(format!("bulk job {} is {}", job.id, job.state));
            return Ok(answer(refused(Some("id"), error)?));
        }
        let job = db.bulk().cancel(job.id).await.map_err(fail)?;
        ctx.data_unchecked::<Runner>().wake();
        if let Some(job) = &job {
            crate::http::bulk::audit(caller, db, "bulk_job.canceled", job)
                .await
                .map_err(fail)?;
        }
        Ok(BulkJobPayload {
            bulk_job: job.map(BulkJob),
            user_errors: Vec::new(),
        })
    }
}
