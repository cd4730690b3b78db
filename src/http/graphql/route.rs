//! `/graphql` over HTTP: POST runs a query or mutation; GET upgrades to a WebSocket for
//! subscriptions (`graphql-transport-ws`, or the older `graphql-ws`), authenticated by the key
//! in `connection_init`'s payload (`{"authorization": "Bearer <key>"}`; browsers cannot set
//! headers on a WebSocket) or the upgrade request's `Authorization` header.

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Payload};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use async_graphql::Value;
use async_graphql_actix_web::GraphQLSubscription;
use serde::Deserialize;

use super::super::auth::bearer;
use super::super::openapi::Problem;
use super::{Schema, request_data};
use crate::http::{Caller, Error};
use crate::persistence::Database;
use crate::persistence::statements;

/// A GraphQL request (one per POST; batches are not accepted).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(in crate::http) struct GraphqlBody {
    /// The document: `query { orders(first: 10) { nodes { id status } } }`.
    query: String,
    operation_name: Option<String>,
    #[schema(value_type = Object)]
    variables: Option<serde_json::Value>,
}

/// A body that is not one GraphQL request, answered as GraphQL answers: 400 with an error
/// whose `extensions.code` says why.
fn unreadable(message: String) -> HttpResponse {
    let body = serde_json::json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }],
    });
    HttpResponse::BadRequest().json(body)
}

/// Runs a query or mutation. The answer is 200 when anything was resolved, 400 when the
/// document could not run at all (unparsable, invalid, too costly, bad variables); every error
/// has `extensions.code`, and `extensions.cost` reports what the document cost.
/// `Server-Timing: sql` counts the SQL statements the request ran.
#[utoipa::path(
    tag = "graphql",
    request_body = GraphqlBody,
    responses(
        (status = 200, description = "`data`, any `errors`, `extensions.cost`", body = Object),
        (status = 400, description = "The document could not run; `errors[].extensions.code` says why", body = Object),
        (status = 401, description = "No key, or not a valid one", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("")]
pub(in crate::http) async fn execute(
    req: HttpRequest,
    schema: web::Data<Schema>,
    db: web::Data<Database>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    let (answer, tally) = statements::counted(async {
        let caller = Caller::authenticate(&req).await?;
        let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => {
                let why = format!(
                    "the body must be one GraphQL request as JSON ({{\"query\": \"…\"}}): {e}"
                );
                return Ok(Err(unreadable(why)));
            }
        };
        request.data = request_data(caller, &db);
        Ok::<_, Error>(Ok(schema.execute(request).await))
    })
    .await;
    let response = match answer? {
        Ok(response) => response,
        Err(unreadable) => return Ok(unreadable),
    };
    let status = if response.data == Value::Null && response.is_err() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let timing = format!(
        "sql;desc=\"{} statements\";dur={:.3}",
        tally.statements(),
        tally.elapsed().as_secs_f64() * 1000.0
    );
    Ok(HttpResponse::build(status)
        .insert_header(("Server-Timing", timing))
        .json(response))
}

/// The key a `connection_init` payload carries: `authorization` (or `Authorization`) as
/// `Bearer <key>` or the bare key.
fn key_in(payload: &serde_json::Value) -> Option<String> {
    let value = payload
        .get("authorization")
        .or_else(|| payload.get("Authorization"))?
        .as_str()?
        .trim();
    let key = match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => key.trim(),
        _ => value,
    };
    (!key.is_empty()).then(|| key.to_owned())
}

/// Opens a subscription socket (`Sec-WebSocket-Protocol: graphql-transport-ws`).
#[utoipa::path(
    tag = "graphql",
    responses(
        (status = 101, description = "Switching to a WebSocket; subscriptions follow `graphql-transport-ws`"),
        (status = 400, description = "Not a WebSocket upgrade with a GraphQL subprotocol", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub(in crate::http) async fn subscribe(
    req: HttpRequest,
    schema: web::Data<Schema>,
    db: web::Data<Database>,
    payload: Payload,
) -> Result<HttpResponse, Error> {
    let db = db.get_ref().clone();
    let from_header = bearer(&req).map(str::to_owned);
    let source = crate::http::auth::source_of(&req);
    GraphQLSubscription::new(Schema::clone(&schema))
        .on_connection_init(move |payload| async move {
            let key = from_header.or_else(|| key_in(&payload)).ok_or_else(|| {
                async_graphql::Error::new(
                    "connection_init must carry the API key: {\"authorization\": \"Bearer <key>\"}",
                )
            })?;
            let caller = Caller::of_key(&db, &key, source)
                .await
                .map_err(|e| async_graphql::Error::new(e.to_string()))?;
            Ok(request_data(caller, &db))
        })
        .start(&req, payload)
        .map_err(|e| {
            Error::BadRequest(format!(
                "GET /graphql is the subscriptions WebSocket (Sec-WebSocket-Protocol: \
                 graphql-transport-ws); POST queries and mutations: {e}"
            ))
        })
}
