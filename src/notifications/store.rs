//! Creators' outgoing webhooks: subscriptions (shop, URL, event patterns, sealed secret) and
//! the delivery log. A bus message becomes one delivery per matching subscription (once per
//! message id); the sender takes due deliveries, and each attempt's outcome is written back:
//! delivered, retried later, or dead after the last attempt.

use chrono::{DateTime, Utc};
use entities::{notification_deliveries, webhook_subscriptions};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::domain::serde_text::text_enum;
use crate::domain::{Scope, ShopId};
use crate::persistence::{Database, Error};

/// Bumped whenever this process subscribes or unsubscribes: the notify consumer's copy of the
/// subscriptions is read again at its next batch.
static SUBSCRIPTIONS_CHANGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times this process changed the subscriptions.
pub(super) fn subscriptions_changed() -> u64 {
    SUBSCRIPTIONS_CHANGED.load(std::sync::atomic::Ordering::SeqCst)
}

fn note_subscriptions_changed() {
    SUBSCRIPTIONS_CHANGED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryState ("delivery state") {
        /// Not delivered yet; tried (again) at `next_attempt_at`.
        Pending = "pending",
        Delivered = "delivered",
        /// Its attempts are spent; an operator may send it again.
        Dead = "dead",
    }
}

#[derive(Debug, Clone)]
pub struct WebhookSubscription {
    pub id: i64,
    pub shop_id: ShopId,
    pub url: String,
    /// Routing-key patterns (`order.transition.#`, `inventory.low_stock`, …).
    pub events: Vec<String>,
    /// The signing secret, sealed.
    pub secret_enc: String,
    pub created_at: DateTime<Utc>,
}

fn corrupt(what: String) -> Error {
    Error::Db(DbErr::Custom(what))
}

impl TryFrom<webhook_subscriptions::Model> for WebhookSubscription {
    type Error = Error;

    fn try_from(row: webhook_subscriptions::Model) -> Result<Self, Error> {
        let bad = |e: String| corrupt(format!("webhook subscription {}: {e}", row.id));
        Ok(Self {
            id: row.id,
            shop_id: ShopId::parse(&row.shop_id).map_err(|e| bad(e.to_string()))?,
            events: serde_json::from_value(row.events).map_err(|e| bad(e.to_string()))?,
            url: row.url,
            secret_enc: row.secret_enc,
            created_at: row.created_at.to_utc(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: i64,
    pub subscription_id: i64,
    pub message_id: i64,
    pub event_kind: String,
    pub body: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<notification_deliveries::Model> for WebhookDelivery {
    type Error = Error;

    fn try_from(row: notification_deliveries::Model) -> Result<Self, Error> {
        Ok(Self {
            state: DeliveryState::parse(&row.state)
                .map_err(|e| corrupt(format!("delivery {}: {e}", row.id)))?,
            id: row.id,
            subscription_id: row.subscription_id,
            message_id: row.message_id,
            event_kind: row.event_kind,
            body: row.body,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at.to_utc(),
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: row.created_at.to_utc(),
            delivered_at: row.delivered_at.map(|t| t.to_utc()),
        })
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
        shop_id: &ShopId,
        url: &str,
        events: &[String],
        secret_enc: String,
    ) -> Result<WebhookSubscription, Error> {
        webhook_subscriptions::ActiveModel {
            shop_id: Set(shop_id.as_str().to_owned()),
            url: Set(url.to_owned()),
            events: Set(serde_json::json!(events)),
            secret_enc: Set(secret_enc),
            created_at: Set(Utc::now().fixed_offset()),
            ..Default::default()
        }
        .insert(&self.db.conn)
        .await
        .inspect(|_| note_subscriptions_changed())?
        .try_into()
    }

    /// The subscriptions `scope` may see.
    pub async fn subscriptions(&self, scope: &Scope) -> Result<Vec<WebhookSubscription>, Error> {
        let mut query =
            webhook_subscriptions::Entity::find().order_by_asc(webhook_subscriptions::Column::Id);
        if let Some(shop) = scope.narrow(None) {
            query = query.filter(webhook_subscriptions::Column::ShopId.eq(shop.as_str()));
        }
        let reader = self.db.reader(scope).await?;
        let rows = query.all(&reader).await?;
        reader.done();
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn subscription(&self, id: i64) -> Result<WebhookSubscription, Error> {
        webhook_subscriptions::Entity::find_by_id(id)
            .one(&self.db.conn)
            .await?
            .map(TryInto::try_into)
            .transpose()?
            .ok_or_else(|| Error::NotFound(format!("webhook subscription {id}")))
    }

    pub async fn unsubscribe(&self, id: i64) -> Result<(), Error> {
        let deleted = webhook_subscriptions::Entity::delete_by_id(id)
            .exec(&self.db.conn)
            .await?;
        note_subscriptions_changed();
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
                state: Set(DeliveryState::Pending.as_str().to_owned()),
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
        notification_deliveries::Entity::find()
            .filter(notification_deliveries::Column::State.eq(DeliveryState::Pending.as_str()))
            .filter(notification_deliveries::Column::NextAttemptAt.lte(now.fixed_offset()))
            .order_by_asc(notification_deliveries::Column::NextAttemptAt)
            .limit(limit)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
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
                    Expr::value(DeliveryState::Delivered.as_str()),
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
                    Expr::value(match retry_at {
                        Some(_) => DeliveryState::Pending.as_str(),
                        None => DeliveryState::Dead.as_str(),
                    }),
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
        scope: &Scope,
        subscription_ids: &[i64],
        state: Option<DeliveryState>,
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
            query = query.filter(notification_deliveries::Column::State.eq(state.as_str()));
        }
        let reader = self.db.reader(scope).await?;
        let rows = query.all(&reader).await?;
        reader.done();
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// A dead delivery back in the queue, attempts reset.
    pub async fn redeliver(&self, id: i64) -> Result<WebhookDelivery, Error> {
        let row = notification_deliveries::Entity::find_by_id(id)
            .one(&self.db.conn)
            .await?
            .filter(|r| r.state == DeliveryState::Dead.as_str())
            .ok_or_else(|| Error::NotFound(format!("dead delivery {id}")))?;
        let mut active: notification_deliveries::ActiveModel = row.into();
        active.state = Set(DeliveryState::Pending.as_str().to_owned());
        active.attempts = Set(0);
        active.next_attempt_at = Set(Utc::now().fixed_offset());
        active.update(&self.db.conn).await?.try_into()
    }

    pub async fn delivery(&self, id: i64) -> Result<WebhookDelivery, Error> {
        notification_deliveries::Entity::find_by_id(id)
            .one(&self.db.conn)
            .await?
            .map(TryInto::try_into)
            .transpose()?
            .ok_or_else(|| Error::NotFound(format!("delivery {id}")))
    }
}
