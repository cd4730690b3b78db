//! The relay: publishes what orders announce, from the log, and what else is owed, from the
//! outbox.
//!
//! - **The log** (subscription `relay`): every committed transition (`order.transition.<stage>`)
//!   is published with its log position as message id, then the subscription's checkpoint moves
//!   past it. A crash between publish and checkpoint only publishes again; consumers dedupe on
//!   the message id. A message the bus refuses for good is parked in the outbox for an operator.
//! - **The outbox**: messages that are not order events (`inventory.low_stock`), and rows owed
//!   from before the log. Published with the negated row id as message id (positions are
//!   positive, so the two never collide), deleted once the bus has them.
//!
//! Rows of the routing keys worked off in-process (`tiktok.fetch_detail`, `workflow.start`) are
//! left to their own subscriptions.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use metrics::{counter, histogram};
use serde::Serialize;
use serde_json::Value;

use super::{Bus, Message, Published};
use crate::journal::Entry;
use crate::journal::Tail;
use crate::persistence::Database;
use crate::persistence::outbox::{IN_PROCESS, MAX_ATTEMPTS, OutboxRow};
use crate::shutdown::Stop;
use crate::telemetry::metrics::{
    BUS_PUBLISH_FAILURES_TOTAL, BUS_PUBLISHED_TOTAL, ORDER_PROCESSING_SECONDS, OUTBOX_LAG_SECONDS,
};
use crate::telemetry::traces;

/// The relay's subscription to the log.
pub const SUBSCRIPTION: &str = "relay";

/// The least time between two reads of the log while the relay keeps up: announcements wait
/// at most this long, and a busy journal's batches are published together.
const READ_EVERY: Duration = Duration::from_millis(10);

/// How often the outbox is looked at (it holds only stock messages and old rows).
const OUTBOX_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct Relay {
    db: Database,
    bus: Bus,
    batch: u64,
}

impl Relay {
    pub fn new(db: Database, bus: Bus, batch: u64) -> Self {
        // On the board before the first message (the processing-latency alert's series too).
        let _ = histogram!(OUTBOX_LAG_SECONDS);
        let _ = histogram!(ORDER_PROCESSING_SECONDS);
        Self { db, bus, batch }
    }

    /// Relays until stopped: tails the log (woken by every commit) and looks at the outbox
    /// every half second; while the bus takes nothing, every 250 ms. On stop it saves its
    /// checkpoint.
    pub async fn run(self, committed: crate::journal::Watermark, mut stop: Stop) {
        let opened = Tail::open_or_stop(&self.db, SUBSCRIPTION, &committed, READ_EVERY, &mut stop);
        let Some(mut tail) = opened.await else {
            return;
        };
        let mut outbox_at = tokio::time::Instant::now();
        while !stop.is_stopped() {
            if tokio::time::Instant::now() >= outbox_at {
                outbox_at = tokio::time::Instant::now() + OUTBOX_EVERY;
                if let Err(e) = self.drain().await {
                    tracing::warn!(error = %e, "relay cannot read the outbox");
                }
            }
            if let Err(e) = tail.save_if_idle().await {
                tracing::warn!(error = %e, "relay cannot save its checkpoint");
            }
            // Only the wait is raced: a round (read, publish, checkpoint) runs to completion,
            // since a transaction cancelled mid-way can leave its connection in an open
            // transaction (see `Tail::ready`).
            let ready = tokio::select! {
                ready = tail.ready() => ready,
                () = tokio::time::sleep_until(outbox_at) => continue,
                () = stop.stopped() => break,
            };
            if !ready {
                break;
            }
            let step = self.relay_log(&mut tail).await;
            let pause = match step {
                Ok(Round::Done(_)) => continue,
                Ok(Round::Unavailable) => Duration::from_millis(250),
                Ok(Round::Ended) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "relay cannot read the log");
                    Duration::from_secs(1)
                }
            };
            if stop.sleep(pause).await {
                break;
            }
        }
        if let Err(e) = tail.save().await {
            tracing::warn!(error = %e, "relay cannot save its checkpoint; it repeats the last second after the restart");
        }
        tail.close().await;
    }

    /// Publishes the next entries of the log and moves the checkpoint past what the bus took.
    pub async fn relay_log(&self, tail: &mut Tail) -> Result<Round, crate::persistence::Error> {
        let Some(batch) = tail.next(self.batch).await? else {
            return Ok(Round::Ended);
        };
        let mut messages: Vec<Message> = Vec::with_capacity(batch.entries.len());
        // Traced commits' spans, open until the bus has taken their messages.
        let mut spans = Vec::new();
        for entry in &batch.entries {
            let first = messages.len();
            messages.extend(published(entry));
            if messages.len() > first && traces::on() {
                let (span, traceparent) = traces::publish_span(entry.position);
                for message in &mut messages[first..] {
                    message.traceparent.clone_from(&traceparent);
                }
                spans.push(span);
            }
        }
        if messages.is_empty() {
            tail.advance(batch.upto).await?;
            traces::forget_through(batch.upto);
            return Ok(Round::Done(0));
        }
        let published = self.bus.publish(&messages).await;
        drop(spans);
        if published.unavailable {
            return Ok(Round::Unavailable);
        }
        record_lag(batch.entries.iter().map(|e| e.created_at));
        record_processing(&batch.entries);
        counter!(BUS_PUBLISHED_TOTAL, "bus" => self.bus.kind())
            .increment(published.sent.len() as u64);
        for (id, why) in &published.poison {
            tracing::error!(position = id, %why, "message refused for good; parked in the outbox");
        }
        let parked: Vec<(String, Value)> = published
            .poison
            .iter()
            .filter_map(|(id, _)| {
                let m = messages.iter().find(|m| m.id == *id)?;
                Some((m.routing_key.clone(), serde_json::from_slice(&m.body).ok()?))
            })
            .collect();
        self.db.outbox().park(&parked, MAX_ATTEMPTS).await?;
        match published.retry.iter().map(|(id, _)| *id).min() {
            None => {
                tail.advance(batch.upto).await?;
                traces::forget_through(batch.upto);
                Ok(Round::Done(published.sent.len()))
            }
            Some(first) => {
                counter!(BUS_PUBLISH_FAILURES_TOTAL, "bus" => self.bus.kind())
                    .increment(published.retry.len() as u64);
                tracing::warn!(
                    count = published.retry.len(),
                    first = %published.retry[0].1,
                    "messages not published; will retry"
                );
                // What came before the first failure is out; the rest is published again.
                tail.advance(first - 1).await?;
                traces::forget_through(first - 1);
                Ok(Round::Unavailable)
            }
        }
    }

    /// Publishes pending rows until none is left (or one fails), as a pipeline: while one batch
    /// waits for the broker's confirms, the next is read and the previous one settled.
    pub async fn drain(&self) -> Result<Drained, crate::persistence::Error> {
        let mut drained = Drained::default();
        let mut batch = self
            .db
            .outbox()
            .pending_published_after(0, self.batch)
            .await?;
        let mut to_settle: Option<Published> = None;
        while let Some(last) = batch.last().map(|r| r.id) {
            let messages: Vec<Message> = batch.iter().map(outbox_message).collect();
            let settle = async {
                match to_settle.take() {
                    Some(done) => self.settle(done).await,
                    None => Ok(()),
                }
            };
            let outbox = self.db.outbox();
            let (published, next, settled) = tokio::join!(
                self.bus.publish(&messages),
                outbox.pending_published_after(last, self.batch),
                settle,
            );
            settled?;
            if published.unavailable {
                drained.unavailable = true;
                return Ok(drained);
            }
            record_lag(batch.iter().map(|r| r.created_at));
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

    /// Writes what became of a batch of outbox rows (their message ids are the row ids negated):
    /// sent, to retry (an attempt counted), refused for good.
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
        let sent: Vec<i64> = published.sent.iter().map(|id| -id).collect();
        self.db.outbox().delete_sent(&sent).await?;
        let retry: Vec<i64> = published.retry.iter().map(|(id, _)| -id).collect();
        self.db.outbox().mark_failed(&retry).await?;
        for (id, why) in &published.poison {
            tracing::error!(id = -id, %why, "outbox message refused for good; left in the outbox");
        }
        let poison: Vec<i64> = published.poison.iter().map(|(id, _)| -id).collect();
        self.db.outbox().give_up(&poison).await?;
        Ok(())
    }
}

/// What one look at the log did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Published what there was: this many messages.
    Done(usize),
    /// The bus took nothing, or not all: try again after a pause.
    Unavailable,
    /// The journal is gone and everything it committed was read.
    Ended,
}

/// Time from commit to publish.
fn record_lag(committed: impl Iterator<Item = DateTime<FixedOffset>>) {
    let now = Utc::now();
    for at in committed {
        let lag = (now - at.to_utc()).num_microseconds().unwrap_or(0);
        histogram!(OUTBOX_LAG_SECONDS).record(lag.max(0) as f64 / 1e6);
    }
}

/// Time from TikTok's `update_time` to the commit, per transition relayed.
fn record_processing(entries: &[Entry]) {
    let processing = histogram!(ORDER_PROCESSING_SECONDS);
    for entry in entries {
        let committed = entry.created_at.timestamp_millis();
        for posted in entry.effects.iter() {
            if let Some(at) = posted.update_time()
                && posted.routing_key.starts_with("order.transition.")
            {
                processing.record((committed - at * 1000).max(0) as f64 / 1000.0);
            }
        }
    }
}

/// The messages an entry announces: its effects that are not worked off in-process. A commit
/// announces at most one transition, so the entry's position is a unique message id.
fn published(entry: &Entry) -> impl Iterator<Item = Message> + '_ {
    entry
        .effects
        .iter()
        .filter(|p| !IN_PROCESS.contains(&&*p.routing_key))
        .map(|p| {
            envelope(
                entry.position,
                &p.routing_key,
                p,
                p.update_time(),
                entry.created_at,
            )
        })
}

/// What one drain did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Drained {
    pub sent: usize,
    /// The bus took nothing (no broker connection); nothing was counted against the rows.
    pub unavailable: bool,
}

/// The message for a payload: the payload's fields with the envelope fields every schema
/// shares — `schema` (`<first two words of the routing key>.v1`), `message_id`, `recorded_at`
/// (the commit) and, where the payload carries TikTok's `update_time`, `latency_ms` from it. A
/// payload that is not a JSON object is the envelope's `payload` field.
fn envelope(
    id: i64,
    routing_key: &str,
    payload: &impl Serialize,
    update_time: Option<i64>,
    recorded: DateTime<FixedOffset>,
) -> Message {
    let family = match routing_key.match_indices('.').nth(1) {
        Some((second, _)) => &routing_key[..second],
        None => routing_key,
    };
    let recorded = recorded.to_utc();
    // The payload as JSON, then the envelope's fields written in before its closing brace
    // (serde's `flatten` went through a map serializer, field by field), all in one buffer
    // sized for a transition's message (growing from empty, it was copied five times over).
    let mut body = Vec::with_capacity(MESSAGE_CAPACITY);
    let object = serde_json::to_writer(&mut body, payload).is_ok()
        && body.first() == Some(&b'{')
        && body.last() == Some(&b'}');
    if !object {
        body.clear();
        serde_json::to_writer(&mut body, &Wrapped { payload })
            .expect("a payload wrapped in an object always serialises");
    }
    body.pop();
    let fields_at = body.len();
    let latency = update_time.map(|t| recorded.timestamp_millis() - t * 1000);
    let fields = Fields {
        schema: Schema(family),
        message_id: id,
        recorded_at: recorded.to_rfc3339(),
        latency_ms: latency,
    };
    serde_json::to_writer(&mut body, &fields).expect("the envelope's fields always serialise");
    // The fields' own opening brace becomes the comma after the payload's last field (or goes,
    // after an empty payload's brace).
    if fields_at > 1 {
        body[fields_at] = b',';
    } else {
        body.remove(fields_at);
    }
    Message {
        id,
        routing_key: routing_key.to_owned(),
        body: body.into(),
        traceparent: None,
    }
}

/// Room for a message's body: an order transition's is ~400 bytes.
const MESSAGE_CAPACITY: usize = 640;

#[derive(Serialize)]
struct Fields<'a> {
    schema: Schema<'a>,
    message_id: i64,
    recorded_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<i64>,
}

/// A schema's name, `<family>.v1`, written without being put together first.
struct Schema<'a>(&'a str);

impl Serialize for Schema<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}.v1", self.0))
    }
}

/// A payload that is not an object, as the `payload` field of one.
#[derive(Serialize)]
struct Wrapped<P> {
    payload: P,
}

/// The message for an outbox row: its id negated (log positions are the positive ids).
fn outbox_message(row: &OutboxRow) -> Message {
    envelope(
        -row.id,
        &row.routing_key,
        &row.payload,
        row.payload.get("update_time").and_then(Value::as_i64),
        row.created_at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Effect, OrderId, OrderStatus, ShopId, Stage, Transition};

    fn recorded() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2023-11-14T22:13:30+00:00").unwrap()
    }

    #[test]
    fn a_message_is_its_payload_with_the_envelope_fields() {
        let effect = Effect::Transitioned(Box::new(Transition {
            order_id: OrderId::parse("576461413038785752").unwrap(),
            shop_id: ShopId::parse("7495340977745743000").unwrap(),
            from_status: Some(OrderStatus::Unpaid),
            from_stage: Some(Stage::Received),
            status: OrderStatus::AwaitingShipment,
            stage: Stage::Validated,
            stage_reason: None,
            version: 2,
            update_time: Some(1_700_000_000),
        }));
        let message = envelope(
            42,
            "order.transition.validated",
            &effect,
            Some(1_700_000_000),
            recorded(),
        );
        let body: Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(body["schema"], "order.transition.v1");
        assert_eq!(body["message_id"], 42);
        assert_eq!(body["recorded_at"], "2023-11-14T22:13:30+00:00");
        // Recorded ten seconds after TikTok's update_time.
        assert_eq!(body["latency_ms"], 10_000);
        assert_eq!(body["effect"], "transitioned");
        assert_eq!(body["order_id"], "576461413038785752");
        assert_eq!(body["status"], "AWAITING_SHIPMENT");
        assert_eq!(body["version"], 2);
        assert_eq!(message.routing_key, "order.transition.validated");
    }

    #[test]
    fn an_empty_payload_is_the_envelope_alone() {
        let message = envelope(
            3,
            "inventory.low_stock",
            &serde_json::json!({}),
            None,
            recorded(),
        );
        let body: Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "schema": "inventory.low_stock.v1",
                "message_id": 3,
                "recorded_at": "2023-11-14T22:13:30+00:00",
            })
        );
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_the_envelopes_payload_field() {
        let message = envelope(
            -7,
            "inventory.low_stock",
            &serde_json::json!([1, 2]),
            None,
            recorded(),
        );
        let body: Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(body["payload"], serde_json::json!([1, 2]));
        assert_eq!(body["schema"], "inventory.low_stock.v1");
        assert_eq!(body["message_id"], -7);
        assert!(body.get("latency_ms").is_none(), "{body}");
    }
}
