//! Creators' outgoing webhooks over HTTP: subscribe a URL to event kinds of a shop (the signing
//! secret is shown once), list and remove subscriptions, read the delivery log, and send a dead
//! delivery again.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{Caller, Error};
use crate::domain::ShopId;
use crate::integrations::tiktok::client::Client;
use crate::notifications::{DeliveryState, WebhookDelivery, WebhookSubscription};
use crate::persistence::Database;

/// A creator's webhook subscription (its secret is shown once, when it is made).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SubscriptionBody {
    id: i64,
    shop_id: ShopId,
    url: String,
    events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<WebhookSubscription> for SubscriptionBody {
    fn from(s: WebhookSubscription) -> Self {
        Self {
            id: s.id,
            shop_id: s.shop_id,
            url: s.url,
            events: s.events,
            secret: None,
            created_at: s.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SubscriptionList {
    subscriptions: Vec<SubscriptionBody>,
}

/// One delivery of an event to a subscription.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DeliveryBody {
    id: i64,
    subscription_id: i64,
    message_id: i64,
    event_kind: String,
    state: DeliveryState,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl From<WebhookDelivery> for DeliveryBody {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: d.id,
            subscription_id: d.subscription_id,
            message_id: d.message_id,
            event_kind: d.event_kind,
            state: d.state,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct DeliveryList {
    deliveries: Vec<DeliveryBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Subscribe {
    #[schema(value_type = ShopId)]
    shop_id: String,
    /// An absolute http(s) URL.
    #[schema(
        pattern = "^https?://[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?(\\.[A-Za-z]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?)*(:[1-9][0-9]{0,3})?(/[!-~]*)?$"
    )]
    url: String,
    /// Routing-key patterns: `order.transition.#`, `order.transition.shipped`,
    /// `inventory.low_stock`, …
    #[schema(min_items = 1, value_type = Vec<super::openapi::EventPattern>)]
    events: Vec<String>,
    /// At least 16 characters; generated when absent.
    #[schema(min_length = 16)]
    secret: Option<String>,
}

const EVENT_FAMILIES: [&str; 2] = ["order.transition", "inventory.low_stock"];

fn valid_pattern(p: &str) -> bool {
    let words: Vec<&str> = p.split('.').collect();
    !p.is_empty()
        && words.iter().all(|w| {
            *w == "*"
                || *w == "#"
                || (!w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        })
        && EVENT_FAMILIES.iter().any(|f| {
            f.split('.')
                .zip(words.iter())
                .all(|(a, b)| a == *b || *b == "*" || *b == "#")
        })
}

#[utoipa::path(
    tag = "notifications",
    request_body = Subscribe,
    responses((status = 201, description = "Subscribed; the secret is shown once", body = SubscriptionBody))
)]
#[post("/notifications/subscriptions")]
pub(super) async fn subscribe(
    caller: Caller,
    db: web::Data<Database>,
    client: web::Data<Client>,
    body: web::Json<Subscribe>,
) -> Result<HttpResponse, Error> {
    let shop = ShopId::parse(&body.shop_id)?;
    caller.require_shop(&shop)?;
    let url = reqwest::Url::parse(&body.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| Error::BadRequest("url must be an absolute http(s) URL".into()))?;
    if body.events.is_empty() {
        return Err(Error::BadRequest(
            "events must name at least one event kind".into(),
        ));
    }
    if let Some(bad) = body.events.iter().find(|e| !valid_pattern(e)) {
        return Err(Error::BadRequest(format!(
            "unknown event kind {bad:?}; use order.transition.<stage>, order.transition.# or inventory.low_stock"
        )));
    }
    let secret = match &body.secret {
        Some(s) if s.len() < 16 => {
            return Err(Error::BadRequest(
                "secret must be at least 16 characters".into(),
            ));
        }
        Some(s) => s.clone(),
        None => hex::encode(rand::random::<[u8; 24]>()),
    };
    let sealed = client.vault().seal(&SecretString::from(secret.clone()));
    let sub = db
        .notifications()
        .subscribe(&shop, url.as_str(), &body.events, sealed)
        .await?;
    let detail = serde_json::json!({ "url": url.as_str(), "events": body.events });
    let target = format!("notification subscription {}", sub.id);
    caller
        .audit(&db, "subscription.created", &target, Some(&shop), detail)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(SubscriptionBody {
            secret: Some(secret),
            ..sub.into()
        }))
}

async fn visible(caller: &Caller, db: &Database) -> Result<Vec<WebhookSubscription>, Error> {
    Ok(db.notifications().subscriptions(&caller.scope).await?)
}

#[utoipa::path(
    tag = "notifications",
    responses((status = 200, description = "OK", body = SubscriptionList))
)]
#[get("/notifications/subscriptions")]
pub(super) async fn subscriptions(
    caller: Caller,
    db: web::Data<Database>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(SubscriptionList {
        subscriptions: visible(&caller, &db)
            .await?
            .into_iter()
            .map(SubscriptionBody::from)
            .collect(),
    }))
}

#[utoipa::path(
    tag = "notifications",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Unsubscribed"))
)]
#[delete("/notifications/subscriptions/{id}")]
pub(super) async fn unsubscribe(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    let sub = db.notifications().subscription(*path).await?;
    caller.require_shop(&sub.shop_id)?;
    db.notifications().unsubscribe(sub.id).await?;
    let target = format!("notification subscription {}", sub.id);
    let detail = serde_json::json!({ "url": sub.url });
    caller
        .audit(
            &db,
            "subscription.deleted",
            &target,
            Some(&sub.shop_id),
            detail,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct LogQuery {
    #[param(value_type = Option<DeliveryState>)]
    state: Option<String>,
    subscription_id: Option<i64>,
    /// At most this many, newest first (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

#[utoipa::path(
    tag = "notifications",
    params(LogQuery),
    responses((status = 200, description = "OK", body = DeliveryList))
)]
#[get("/notifications/deliveries")]
pub(super) async fn deliveries(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, Error> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest("limit must be 1 to 1000".into()));
    }
    let state = query
        .state
        .as_deref()
        .map(DeliveryState::parse)
        .transpose()
        .map_err(|_| Error::BadRequest("state must be pending, delivered or dead".into()))?;
    let ids: Vec<i64> = visible(&caller, &db)
        .await?
        .into_iter()
        .map(|s| s.id)
        .filter(|id| query.subscription_id.is_none_or(|wanted| wanted == *id))
        .collect();
    let log = db
        .notifications()
        .deliveries(&caller.scope, &ids, state, limit)
        .await?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        deliveries: log.into_iter().map(DeliveryBody::from).collect(),
    }))
}

#[utoipa::path(
    tag = "notifications",
    params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = DeliveryBody))
)]
#[post("/notifications/deliveries/{id}/redeliver")]
pub(super) async fn redeliver(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    let delivery = db.notifications().delivery(*path).await?;
    let sub = db
        .notifications()
        .subscription(delivery.subscription_id)
        .await?;
    caller.require_shop(&sub.shop_id)?;
    let again = db.notifications().redeliver(delivery.id).await?;
    Ok(HttpResponse::Ok().json(DeliveryBody::from(again)))
}
