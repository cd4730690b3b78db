//! The outbox relay: publishes committed outbox rows and deletes them once the bus has them.
//! Rows of the routing keys worked off in-process (`tiktok.fetch_detail`, `workflow.start`) are
//! left to their workers. A crash between publish and delete only publishes again; consumers
//! dedupe on the message id (the row id).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use metrics::{counter, histogram};
use serde_json::Value;

use super::{Bus, Message, Published};
use crate::persistence::Database;
use crate::persistence::outbox::OutboxRow;
use crate::telemetry::metrics::{
    BUS_PUBLISH_FAILURES_TOTAL, BUS_PUBLISHED_TOTAL, OUTBOX_LAG_SECONDS,
};

#[derive(Clone)]
pub struct Relay {
    db: Database,
    bus: Bus,
    batch: u64,
    stopped: Arc<AtomicBool>,
}

impl Relay {
    pub fn new(db: Database, bus: Bus, batch: u64) -> Self {
        Self {
            db,
            bus,
            batch,
            stopped: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Relays until stopped: drains the backlog, then looks again every 20 ms (every 250 ms
    /// while the bus takes nothing).
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let relay = self.clone();
        tokio::spawn(async move {
            while !relay.stopped.load(Ordering::Acquire) {
                match relay.drain().await {
                    Ok(Drained {
                        unavailable: true, ..
                    }) => tokio::time::sleep(Duration::from_millis(250)).await,
                    Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox relay cannot read the outbox");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// Publishes pending rows until none is left (or one fails), as a pipeline: while one batch
    /// waits for the broker's confirms, the next is read and the previous one settled.
    pub async fn drain(&self) -> Result<Drained, crate::persistence::Error> {
        let mut drained = Drained::default();
        let mut batch = self.db.pending_published_after(0, self.batch).await?;
        let mut to_settle: Option<Published> = None;
        while let Some(last) = batch.last().map(|r| r.id) {
            let messages: Vec<Message> = batch.iter().map(envelope).collect();
            let settle = async {
                match to_settle.take() {
                    Some(done) => self.settle(done).await,
                    None => Ok(()),
                }
            };
            let (published, next, settled) = tokio::join!(
                self.bus.publish(&messages),
                self.db.pending_published_after(last, self.batch),
                settle,
            );
            settled?;
            if published.unavailable {
                drained.unavailable = true;
                return Ok(drained);
            }
            let now = Utc::now();
            for row in &batch {
                let lag = (now - row.created_at.to_utc())
                    .num_microseconds()
                    .unwrap_or(0);
                histogram!(OUTBOX_LAG_SECONDS).record(lag.max(0) as f64 / 1e6);
            }
            drained.sent += published.sent.len();
            let failed = !published.retry.is_empty() || !published.poison.is_empty();
            if failed {
                // Settle now and stop: the failed rows are retried from the start next round.
                self.settle(published).await?;
                return Ok(drained);
            }
            to_settle = Some(published);
            batch = next?;
        }
        if let Some(done) = to_settle {
            self.settle(done).await?;
        }
        Ok(drained)
    }

    /// Writes what became of a batch: sent, to retry (an attempt counted), refused for good.
    async fn settle(&self, published: Published) -> Result<(), crate::persistence::Error> {
        counter!(BUS_PUBLISHED_TOTAL, "bus" => self.bus.kind())
            .increment(published.sent.len() as u64);
        if !published.retry.is_empty() {
            counter!(BUS_PUBLISH_FAILURES_TOTAL, "bus" => self.bus.kind())
                .increment(published.retry.len() as u64);
            tracing::warn!(
                count = published.retry.len(),
                first = %published.retry[0].1,
                "outbox messages not published; will retry"
            );
        }
        self.db.delete_outbox_sent(&published.sent).await?;
        let retry: Vec<i64> = published.retry.iter().map(|(id, _)| *id).collect();
        self.db.mark_outbox_failed(&retry).await?;
        for (id, why) in &published.poison {
            tracing::error!(id, %why, "outbox message refused for good; left in the outbox");
        }
        let poison: Vec<i64> = published.poison.iter().map(|(id, _)| *id).collect();
        self.db.give_up_outbox(&poison).await?;
        Ok(())
    }
}

/// What one drain did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drained {
    pub sent: usize,
    /// The bus took nothing (no broker connection); nothing was counted against the rows.
    pub unavailable: bool,
}

/// The message for a row: its payload with the envelope fields every schema shares —
/// `schema` (`<first two words of the routing key>.v1`), `message_id`, `recorded_at` (the
/// commit) and, where the payload carries TikTok's `update_time`, `latency_ms` from it.
fn envelope(row: &OutboxRow) -> Message {
    let mut body = match &row.payload {
        Value::Object(map) => map.clone(),
        other => {
            let mut map = serde_json::Map::new();
            map.insert("payload".into(), other.clone());
            map
        }
    };
    let family: Vec<&str> = row.routing_key.split('.').take(2).collect();
    body.insert("schema".into(), format!("{}.v1", family.join(".")).into());
    body.insert("message_id".into(), row.id.into());
    let recorded = row.created_at.to_utc();
    body.insert("recorded_at".into(), recorded.to_rfc3339().into());
    if let Some(t) = body.get("update_time").and_then(Value::as_i64) {
        body.insert(
            "latency_ms".into(),
            (recorded.timestamp_millis() - t * 1000).into(),
        );
    }
    Message {
        id: row.id,
        routing_key: row.routing_key.clone(),
        body: serde_json::to_vec(&body).expect("a JSON map serialises"),
    }
}
