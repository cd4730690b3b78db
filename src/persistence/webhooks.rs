//! Webhooks that did not become order changes: the quarantine (bodies that could not be used,
//! and types this build does not handle), and notifications about a shop rather than an order.

use chrono::{DateTime, Utc};
use entities::{shops, webhook_inbox, webhook_quarantine};
use sea_orm::prelude::{DateTimeWithTimeZone, Expr};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, Set};

use super::{Database, Error};
use crate::domain::ShopId;
use crate::domain::serde_text::text_enum;

text_enum! {
    /// Why a webhook is in quarantine.
    pub enum QuarantineReason ("quarantine reason") {
        /// Signed correctly, but not a notification this daemon can read (answered 400).
        Malformed = "malformed",
        /// A `type` this build does not handle (answered 200, kept for later).
        UnhandledType = "unhandled_type",
    }
}

/// A quarantined webhook.
#[derive(Debug, Clone)]
pub struct QuarantinedWebhook {
    pub id: i64,
    pub reason: QuarantineReason,
    pub detail: String,
    pub event_type: Option<i64>,
    /// The raw body; bytes that are not UTF-8 are shown as U+FFFD (`body_bytes` is exact).
    pub body: String,
    pub body_bytes: usize,
    pub received_at: DateTime<Utc>,
}

/// A kept webhook's row as the quarantine list reads it: id, reason, detail, type, body (or its
/// head), the whole body's size, when it came.
type KeptRow = (
    i64,
    String,
    String,
    Option<i64>,
    Vec<u8>,
    i64,
    DateTimeWithTimeZone,
);

/// What a shop-level notification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopNotice {
    /// SELLER_DEAUTHORIZATION.
    Deauthorized,
    /// UPCOMING_AUTHORIZATION_EXPIRATION, with the time TikTok gave.
    AuthorizationExpiring(Option<DateTime<Utc>>),
}

/// The store of quarantined webhooks and shop notices, over the shared pool.
#[derive(Clone, Copy)]
pub struct WebhookStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn webhooks(&self) -> WebhookStore<'_> {
        WebhookStore { db: self }
    }
}

impl WebhookStore<'_> {
    /// Keeps a webhook body that could not be used; returns its id.
    pub async fn quarantine(
        &self,
        reason: QuarantineReason,
        detail: &str,
        event_type: Option<i64>,
        body: &[u8],
    ) -> Result<i64, Error> {
        let row = webhook_quarantine::ActiveModel {
            reason: Set(reason.as_str().to_owned()),
            detail: Set(detail.to_owned()),
            event_type: Set(event_type),
            body: Set(body.to_vec()),
            received_at: Set(Utc::now().fixed_offset()),
            ..Default::default()
        }
        .insert(&self.db.conn)
        .await?;
        Ok(row.id)
    }

    /// How many webhooks are in quarantine.
    pub async fn quarantine_count(&self) -> Result<u64, Error> {
        Ok(webhook_quarantine::Entity::find()
            .count(&self.db.conn)
            .await?)
    }

    /// The raw body of kept webhook `id`; `None` if it is not (or no longer) kept.
    pub async fn kept_body(&self, id: i64) -> Result<Option<Vec<u8>>, Error> {
        Ok(webhook_quarantine::Entity::find_by_id(id)
            .one(&self.db.conn)
            .await?
            .map(|row| row.body))
    }

    /// Takes kept webhook `id` out of quarantine; `false` if it was not kept.
    pub async fn release(&self, id: i64) -> Result<bool, Error> {
        let done = webhook_quarantine::Entity::delete_by_id(id)
            .exec(&self.db.conn)
            .await?;
        Ok(done.rows_affected > 0)
    }

    /// The newest quarantined webhooks first, each body whole, or only its first `head` bytes
    /// (read so in SQL: a page that shows the start of ten bodies does not read ten whole ones
    /// of up to `tiktok.max_webhook_bytes`). `body_bytes` is always the whole body's size.
    pub async fn quarantined(
        &self,
        limit: u64,
        head: Option<u32>,
    ) -> Result<Vec<QuarantinedWebhook>, Error> {
        use webhook_quarantine::Column;
        let body = match head {
            // An integer of ours, not a caller's text: formatted into the expression.
            Some(n) => Expr::cust(format!("substr(body, 1, {n})")),
            None => Expr::col(Column::Body),
        };
        let rows: Vec<KeptRow> = webhook_quarantine::Entity::find()
            .select_only()
            .columns([
                Column::Id,
                Column::Reason,
                Column::Detail,
                Column::EventType,
            ])
            .column_as(body, "body")
            .column_as(Expr::cust("CAST(length(body) AS BIGINT)"), "body_bytes")
            .column(Column::ReceivedAt)
            .order_by_desc(Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db.conn)
            .await?;
        rows.into_iter()
            .map(
                |(id, reason, detail, event_type, body, bytes, received_at)| {
                    Ok(QuarantinedWebhook {
                        reason: QuarantineReason::parse(&reason).map_err(|e| {
                            Error::Db(DbErr::Custom(format!("quarantined webhook {id}: {e}")))
                        })?,
                        id,
                        detail,
                        event_type,
                        body: String::from_utf8_lossy(&body).into_owned(),
                        body_bytes: usize::try_from(bytes).unwrap_or_default(),
                        received_at: received_at.with_timezone(&Utc),
                    })
                },
            )
            .collect()
    }

    /// Records a notification about a shop once: the inbox row and the shop's new state commit
    /// together. `false` if the notification was already recorded (a redelivery). A shop this
    /// daemon does not know is remembered in the inbox only.
    pub async fn record_shop_notice(
        &self,
        dedupe_key: &str,
        event_type: i64,
        shop_id: &ShopId,
        notice: ShopNotice,
    ) -> Result<bool, Error> {
        let txn = self.db.begin_write().await?;
        let now = Utc::now().fixed_offset();
        let inserted = webhook_inbox::Entity::insert(webhook_inbox::ActiveModel {
            dedupe_key: Set(dedupe_key.to_owned()),
            event_type: Set(i32::try_from(event_type).unwrap_or(i32::MAX)),
            shop_id: Set(Some(shop_id.as_str().to_owned())),
            order_id: Set(None),
            received_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(webhook_inbox::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        if let Some(shop) = shops::Entity::find_by_id(shop_id.as_str())
            .one(&txn)
            .await?
        {
            let mut shop: shops::ActiveModel = shop.into();
            match notice {
                ShopNotice::Deauthorized => {
                    shop.deauthorized_at = Set(Some(now));
                    // The tokens are worthless now; do not keep them.
                    shop.access_token_enc = Set(None);
                    shop.refresh_token_enc = Set(None);
                    shop.access_token_expires_at = Set(None);
                    shop.refresh_token_expires_at = Set(None);
                }
                ShopNotice::AuthorizationExpiring(at) => {
                    shop.authorization_expires_at = Set(at.map(|t| t.fixed_offset()));
                }
            }
            shop.updated_at = Set(now);
            shop.update(&txn).await?;
        } else {
            tracing::warn!(shop_id = %shop_id, "TikTok notification for a shop that is not registered");
        }
        txn.commit().await?;
        Ok(true)
    }
}
