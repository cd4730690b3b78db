//! Creators' outgoing webhooks: subscriptions (shop, URL, event patterns, sealed secret) and
//! the delivery log. A bus message becomes one delivery per matching subscription (once per
//! message id); the sender takes due deliveries, and each attempt's outcome is written back:
//! delivered, retried later, or dead after the last attempt.

use chrono::{DateTime, Utc};
use entities::{notification_deliveries, webhook_subscriptions};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;

use crate::persistence::{Database, Error};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

#[derive(Debug, Clone, Serialize)]
pub struct WebhookSubscription {
    pub id: i64,
    pub shop_id: String,
    pub url: String,
    /// Routing-key patterns (`order.transition.#`, `inventory.low_stock`, …).
    pub events: Vec<String>,
    #[serde(skip)]
    pub secret_enc: String,
    pub created_at: DateTime<Utc>,
}

impl From<webhook_subscriptions::Model> for WebhookSubscription {
    fn from(row: webhook_subscriptions::Model) -> Self {
        Self {
            id: row.id,
            shop_id: row.shop_id,
            url: row.url,
            events: serde_json::from_value(row.events).unwrap_or_default(),
            secret_enc: row.secret_enc,
            created_at: row.created_at.to_utc(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookDelivery {
    pub id: i64,
    pub subscription_id: i64,
    pub message_id: i64,
    pub event_kind: String,
    #[serde(skip)]
    pub body: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<notification_deliveries::Model> for WebhookDelivery {
    fn from(row: notification_deliveries::Model) -> Self {
        Self {
            id: row.id,
            subscription_id: row.subscription_id,
            message_id: row.message_id,
            event_kind: row.event_kind,
            body: row.body,
            state: row.state,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.to_utc(),
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: row.created_at.to_utc(),
            delivered_at: row.delivered_at.map(|t| t.to_utc()),
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub enum DeliveryAttempt {
    Delivered {
        status: i32,
    },
    Failed {
        status: Option<i32>,
        error: String,
        /// `None`: that was the last attempt; the delivery is dead.
        retry_at: Option<DateTime<Utc>>,
    },
}

/// The store of creators' webhook subscriptions and their deliveries, over the shared pool.
#[derive(Clone, Copy)]
pub struct NotificationStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn notifications(&self) -> NotificationStore<'_> {
        NotificationStore { db: self }
    }
}

impl NotificationStore<'_> {
    pub async fn subscribe(
        &self,
        shop_id: &str,
        url: &str,
        events: &[String],
        secret_enc: String,
    ) -> Result<WebhookSubscription, Error> {
        Ok(webhook_subscriptions::ActiveModel {
            shop_id: Set(shop_id.to_owned()),
            url: Set(url.to_owned()),
            events: Set(serde_json::json!(events)),
            secret_enc: Set(secret_enc),
            created_at: Set(Utc::now().fixed_offset()),
            ..Default::default()
        }
        .insert(&self.db.conn)
        .await?
        .into())
    }

    pub async fn subscriptions(
        &self,
        shop_id: Option<&str>,
    ) -> Result<Vec<WebhookSubscription>, Error> {
        let mut query =
            webhook_subscriptions::Entity::find().order_by_asc(webhook_subscriptions::Column::Id);
        if let Some(shop) = shop_id {
            query = query.filter(webhook_subscriptions::Column::ShopId.eq(shop));
        }
        Ok(query
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn subscription(&self, id: i64) -> Result<WebhookSubscription, Error> {
        webhook_subscriptions::Entity::find_by_id(id)
            .one(&self.db.conn)
            .await?
            .map(Into::into)
            .ok_or_else(|| Error::NotFound(format!("webhook subscription {id}")))
    }

    pub async fn unsubscribe(&self, id: i64) -> Result<(), Error> {
        let deleted = webhook_subscriptions::Entity::delete_by_id(id)
            .exec(&self.db.conn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(Error::NotFound(format!("webhook subscription {id}")));
        }
        Ok(())
    }

    /// Queues `body` for each subscription, once per message id. Returns how many were new.
    pub async fn enqueue_deliveries(
        &self,
        subscription_ids: &[i64],
        message_id: i64,
        event_kind: &str,
        body: &str,
    ) -> Result<u64, Error> {
        if subscription_ids.is_empty() {
            return Ok(0);
        }
        let now = Utc::now().fixed_offset();
        let rows = subscription_ids
            .iter()
            .map(|id| notification_deliveries::ActiveModel {
                subscription_id: Set(*id),
                message_id: Set(message_id),
                event_kind: Set(event_kind.to_owned()),
                body: Set(body.to_owned()),
                state: Set(PENDING.to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                last_status: Set(None),
                last_error: Set(None),
                created_at: Set(now),
                delivered_at: Set(None),
                ..Default::default()
            });
        Ok(notification_deliveries::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    notification_deliveries::Column::SubscriptionId,
                    notification_deliveries::Column::MessageId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&self.db.conn)
            .await?)
    }

    /// Pending deliveries due by `now`, oldest first.
    pub async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>, Error> {
        Ok(notification_deliveries::Entity::find()
            .filter(notification_deliveries::Column::State.eq(PENDING))
            .filter(notification_deliveries::Column::NextAttemptAt.lte(now.fixed_offset()))
            .order_by_asc(notification_deliveries::Column::NextAttemptAt)
            .limit(limit)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn record_attempt(&self, id: i64, attempt: &DeliveryAttempt) -> Result<(), Error> {
        let now = Utc::now().fixed_offset();
        let mut update = notification_deliveries::Entity::update_many()
            .col_expr(
                notification_deliveries::Column::Attempts,
                Expr::col(notification_deliveries::Column::Attempts).add(1),
            )
            .filter(notification_deliveries::Column::Id.eq(id));
        update = match attempt {
            DeliveryAttempt::Delivered { status } => update
                .col_expr(
                    notification_deliveries::Column::State,
                    Expr::value(DELIVERED),
                )
                .col_expr(
                    notification_deliveries::Column::LastStatus,
                    Expr::value(*status),
                )
                .col_expr(
                    notification_deliveries::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    notification_deliveries::Column::DeliveredAt,
                    Expr::value(now),
                ),
            DeliveryAttempt::Failed {
                status,
                error,
                retry_at,
            } => update
                .col_expr(
                    notification_deliveries::Column::State,
                    Expr::value(if retry_at.is_some() { PENDING } else { DEAD }),
                )
                .col_expr(
                    notification_deliveries::Column::LastStatus,
                    Expr::value(*status),
                )
                .col_expr(
                    notification_deliveries::Column::LastError,
                    Expr::value(error.clone()),
                )
                .col_expr(
                    notification_deliveries::Column::NextAttemptAt,
                    Expr::value(retry_at.map_or(now, |t| t.fixed_offset())),
                ),
        };
        update.exec(&self.db.conn).await?;
        Ok(())
    }

    /// The delivery log, newest first; `state` and `subscription` narrow it.
    pub async fn deliveries(
        &self,
        subscription_ids: &[i64],
        state: Option<&str>,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>, Error> {
        let mut query = notification_deliveries::Entity::find()
            .filter(
                notification_deliveries::Column::SubscriptionId
                    .is_in(subscription_ids.iter().copied()),
            )
            .order_by_desc(notification_deliveries::Column::Id)
            .limit(limit);
        if let Some(state) = state {
            query = query.filter(notification_deliveries::Column::State.eq(state));
        }
        Ok(query
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A dead delivery back in the queue, attempts reset.
    pub async fn redeliver(&self, id: i64) -> Result<WebhookDelivery, Error> {
        let row = notification_deliveries::Entity::find_by_id(id)
            .one(&self.db.conn)
            .await?
            .filter(|r| r.state == DEAD)
            .ok_or_else(|| Error::NotFound(format!("dead delivery {id}")))?;
        let mut active: notification_deliveries::ActiveModel = row.into();
        active.state = Set(PENDING.to_owned());
        active.attempts = Set(0);
        active.next_attempt_at = Set(Utc::now().fixed_offset());
        Ok(active.update(&self.db.conn).await?.into())
    }

    pub async fn delivery(&self, id: i64) -> Result<WebhookDelivery, Error> {
        notification_deliveries::Entity::find_by_id(id)
            .one(&self.db.conn)
            .await?
            .map(Into::into)
            .ok_or_else(|| Error::NotFound(format!("delivery {id}")))
    }
}
