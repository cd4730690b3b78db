//! The order aggregate: the state one `OrderActor` owns, changed only by [`Order::apply`].

use std::fmt;

use compact_str::CompactString;

use super::serde_text::serde_as_text;
use super::{Event, Invalid, OrderStatus, ShopId, Stage};

/// A TikTok order id (e.g. `"576653688135258178"`): text, since ids exceed 2^53.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(CompactString);

impl OrderId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty()
            || raw.len() > 64
            || !raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Invalid::new(
                "order_id",
                format!("{raw:?} is not an order id (1 to 64 letters, digits, '_' or '-')"),
            ));
        }
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stable hash (FNV-1a), the same in every process and build, for shard routing.
    pub fn stable_hash(&self) -> u64 {
        stable_hash(&self.0)
    }

    /// The slot the order belongs to: its [`stable_hash`](Self::stable_hash) modulo [`SLOTS`].
    /// Log entries and subscription checkpoints carry it, so slots can be owned by nodes.
    pub fn slot(&self) -> i16 {
        slot_of(&self.0)
    }
}

/// FNV-1a of `text`: the same in every process and build.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The slot of an id (an order's; in cluster mode also a shop's, whose reconciliation the
/// node holding that slot runs).
pub fn slot_of(id: &str) -> i16 {
    slot_of_hash(stable_hash(id))
}

/// The slot of an id whose [`stable_hash`] is `hash`.
pub fn slot_of_hash(hash: u64) -> i16 {
    (hash % SLOTS) as i16
}

/// Orders are partitioned into this many slots. A constant a migration could change (the
/// `slot` columns would be recomputed).
pub const SLOTS: u64 = 256;

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_as_text!(OrderId, OrderId::parse);
serde_as_text!(ShopId, ShopId::parse);
serde_as_text!(OrderStatus, |raw: &str| Ok::<_, Invalid>(
    OrderStatus::parse(raw)
));
serde_as_text!(Stage, Stage::parse);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub shop_id: ShopId,
    /// What TikTok says.
    pub status: OrderStatus,
    /// What we are doing about it.
    pub stage: Stage,
    /// Why the stage is on hold or in exception.
    pub stage_reason: Option<String>,
    /// The stage to return to when a hold is released.
    pub held_from: Option<Stage>,
    /// Number of audit events; the sequence number of the last one.
    pub version: i64,
    /// TikTok's `update_time` of the newest information applied (unix seconds).
    pub update_time: Option<i64>,
    /// TikTok's `create_time`, from the detail.
    pub create_time: Option<i64>,
    /// What `decide` needs of the detail: `None` before one arrived, else what is wrong with
    /// it (empty when sound). The detail itself is kept in the audit trail and the snapshot
    /// row, not in memory, so a live order costs the same however large the order is.
    pub detail_problems: Option<Vec<String>>,
}

impl Order {
    /// The order a `Created` event brings into being (version 1).
    pub fn created(id: OrderId, event: &Event) -> Option<Self> {
        let Event::Created {
            shop_id,
            status,
            update_time,
        } = event
        else {
            return None;
        };
        Some(Self {
            id,
            shop_id: shop_id.clone(),
            status: status.clone(),
            stage: Stage::Received,
            stage_reason: None,
            held_from: None,
            version: 1,
            update_time: *update_time,
            create_time: None,
            detail_problems: None,
        })
    }

    /// Applies one event. Pure and total: replaying an order's events reproduces it.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Created { .. }
            | Event::Ignored { .. }
            | Event::AfterSaleUpdated { .. }
            | Event::Tagged { .. }
            | Event::Prioritised { .. }
            | Event::CancelRequested { .. }
            | Event::CancelFailed { .. }
            | Event::RequestAnswered { .. }
            | Event::AnswerFailed { .. }
            | Event::WorkflowRetried => {}
            Event::StatusChanged {
                to, update_time, ..
            } => {
                self.status = to.clone();
                self.seen(*update_time);
            }
            Event::DetailApplied { detail } => {
                self.seen(detail.update_time);
                self.create_time = detail.create_time.or(self.create_time);
                self.detail_problems = Some(detail.problems());
            }
            Event::StageChanged { from, to, reason } => {
                if *to == Stage::OnHold {
                    self.held_from = Some(*from);
                } else if *from == Stage::OnHold {
                    self.held_from = None;
                }
                self.stage = *to;
                self.stage_reason = reason.clone();
            }
        }
        self.version += 1;
    }

    fn seen(&mut self, update_time: i64) {
        self.update_time = Some(self.update_time.map_or(update_time, |t| t.max(update_time)));
    }

    /// Replays events from the first (`Created`); `None` if they do not start with one.
    pub fn replay<'a>(id: OrderId, events: impl IntoIterator<Item = &'a Event>) -> Option<Self> {
        let mut events = events.into_iter();
        let mut order = Self::created(id, events.next()?)?;
        for event in events {
            order.apply(event);
        }
        Some(order)
    }
}

/// One event as the audit trail records it: its sequence number and the status and stage it
/// moved the order between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub seq: i64,
    pub event: Event,
    pub status_before: Option<OrderStatus>,
    pub status_after: OrderStatus,
    pub stage_before: Option<Stage>,
    pub stage_after: Stage,
}

impl Order {
    /// Applies `events` to a copy of `current` (or creates the order), returning the new state and
    /// the audit rows; `None` if there were no events or the first does not create a missing order.
    pub fn advance(
        current: Option<&Order>,
        id: &OrderId,
        events: Vec<Event>,
    ) -> Option<(Order, Vec<Applied>)> {
        let mut order: Option<Order> = current.cloned();
        let mut applied = Vec::with_capacity(events.len());
        for event in events {
            let (status_before, stage_before) = match &order {
                Some(o) => (Some(o.status.clone()), Some(o.stage)),
                None => (None, None),
            };
            match &mut order {
                Some(o) => o.apply(&event),
                None => order = Some(Order::created(id.clone(), &event)?),
            }
            let now = order.as_ref().expect("set just above");
            applied.push(Applied {
                seq: now.version,
                status_after: now.status.clone(),
                stage_after: now.stage,
                status_before,
                stage_before,
                event,
            });
        }
        if applied.is_empty() {
            return None;
        }
        order.map(|o| (o, applied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_text_and_hash_stably() {
        let id = OrderId::parse("576653688135258178").unwrap();
        assert_eq!(id.as_str(), "576653688135258178");
        // Fixed values: routing and slots must not change between builds.
        assert_eq!(
            OrderId::parse("a").unwrap().stable_hash(),
            0xaf63dc4c8601ec8c
        );
        assert_eq!(id.slot(), (id.stable_hash() % 256) as i16);
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse("1 2").is_err());
    }

    #[test]
    fn the_migration_computes_the_same_slots_as_the_daemon() {
        assert_eq!(SLOTS, migration::SLOTS);
        for raw in ["a", "576653688135258178", "order-42", "Z_9"] {
            let id = OrderId::parse(raw).unwrap();
            assert_eq!(id.slot(), migration::slot_of(raw), "{raw}");
        }
        let slots: std::collections::HashSet<i16> = (0..5000)
            .map(|n| OrderId::parse(&format!("5766{n}")).unwrap().slot())
            .collect();
        assert_eq!(slots.len(), 256, "every slot is used");
    }
}
