//! What an actor hands the journal, and the log rows a commit becomes on either backend.

use std::ops::Deref;

use compact_str::CompactString;
use sea_orm::DbErr;
use serde_json::value::RawValue;

use crate::domain::{Applied, Effect, Event, Order};

/// One actor's change to one order.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The order after the change.
    pub order: Order,
    /// The events of the change, with their sequence numbers.
    pub applied: Vec<Applied>,
    /// `webhook:<id>`, `poll`, `user:<key>`, `rule:<workflow/step>`, `integration:<name>`.
    pub cause: String,
    /// The dedupe key of a message from outside; `None` for commands.
    pub inbox: Option<InboxEntry>,
    pub effects: Vec<Effect>,
    /// The commit's trace context, when traces are on: the relay continues from it.
    pub trace: Option<opentelemetry::Context>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InboxEntry {
    pub dedupe_key: CompactString,
    pub event_type: i32,
}

/// What happened to a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written and durable.
    Committed,
    /// Its dedupe key was already recorded (on an event or in the inbox): nothing was written.
    Duplicate,
}

/// A commit with its place in the log: the position of its first row.
pub(crate) struct Placed {
    pub commit: Commit,
    pub position: i64,
    /// Each effect as JSON, written once: into the log's row, then kept with the log's rows in
    /// memory, so that the relay copies it into its message instead of writing it again.
    pub effects_json: Vec<Box<RawValue>>,
}

impl Placed {
    pub fn new(commit: Commit, position: i64) -> Self {
        let effects_json = commit
            .effects
            .iter()
            .map(|effect| {
                serde_json::value::to_raw_value(effect).expect("an effect always serialises")
            })
            .collect();
        Self {
            commit,
            position,
            effects_json,
        }
    }
}

impl Deref for Placed {
    type Target = Commit;
    fn deref(&self) -> &Commit {
        &self.commit
    }
}

/// The log rows a commit writes: one per event, or one carrying only its effects.
pub(crate) fn rows_of(commit: &Commit) -> i64 {
    match (commit.applied.len(), commit.effects.is_empty()) {
        (0, true) => 0,
        (0, false) => 1,
        (n, _) => n as i64,
    }
}

/// One row of the log, as both backends write it.
pub(crate) struct LogRow<'a> {
    pub position: i64,
    pub slot: i16,
    pub order_id: &'a str,
    /// `None` on a row that carries only effects.
    pub seq: Option<i64>,
    pub kind: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: Option<&'a str>,
    pub from_stage: Option<&'a str>,
    pub to_stage: Option<&'a str>,
    pub cause: &'a str,
    /// `None` on a row that carries only effects (stored as `{}`).
    pub event: Option<&'a Event>,
    /// On the commit's last row.
    pub dedupe_key: Option<&'a str>,
    /// The key of the commit the row belongs to, on every row (PostgreSQL keeps a row only if
    /// its commit's key was not seen).
    pub commit_key: Option<&'a str>,
    /// On the commit's last row, if it has effects.
    pub effects: Option<Effects<'a>>,
}

/// A commit's effects as the log stores them: `[[routing key, effect], …]`, each effect's JSON
/// copied straight into the batch's rows (no JSON text inside JSON text).
#[derive(Clone, Copy)]
pub(crate) struct Effects<'a>(pub &'a [Effect], pub &'a [Box<RawValue>]);

impl serde::Serialize for Effects<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (effect, json) in self.0.iter().zip(self.1) {
            seq.serialize_element(&(effect.routing_key(), json))?;
        }
        seq.end()
    }
}

/// The log rows' JSON texts (their payloads, their effects) written one after another into one
/// buffer: one allocation for the batch, not one per row, bound from there as slices
/// (PostgreSQL) or as one blob the statement cuts rows' texts from (SQLite).
#[derive(Default)]
pub(crate) struct Texts {
    pub buffer: Vec<u8>,
    ends: Vec<usize>,
}

impl Texts {
    /// Appends the JSON of `value`; returns where it lies (see [`Texts::span_to`]).
    fn push_json(
        &mut self,
        value: &impl serde::Serialize,
        what: &str,
    ) -> Result<(usize, usize), DbErr> {
        let start = self.buffer.len();
        serde_json::to_writer(&mut self.buffer, value)
            .map_err(|e| DbErr::Custom(format!("{what}: {e}")))?;
        Ok(self.span_to(start))
    }

    fn push(&mut self, text: &str) -> (usize, usize) {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(text.as_bytes());
        self.span_to(start)
    }

    /// Ends the text begun at byte `start`: where it lies in the buffer, its first byte counted
    /// from 1 (as SQL's `substr` counts) and its length.
    fn span_to(&mut self, start: usize) -> (usize, usize) {
        self.ends.push(self.buffer.len());
        (start + 1, self.buffer.len() - start)
    }

    /// Appends `row`'s payload: its event, or `{}` on a row that carries only effects.
    pub fn push_payload(&mut self, row: &LogRow) -> Result<(usize, usize), DbErr> {
        match row.event {
            Some(event) => self.push_json(event, "event payload"),
            None => Ok(self.push("{}")),
        }
    }

    /// Appends `row`'s effects, or an empty text (NULL in the log) on a row that has none.
    pub fn push_effects(&mut self, row: &LogRow) -> Result<(usize, usize), DbErr> {
        match &row.effects {
            Some(effects) => self.push_json(effects, "effects"),
            None => Ok(self.push("")),
        }
    }

    /// The texts, in the order they were pushed.
    pub fn slices(&self) -> Vec<&str> {
        let text = std::str::from_utf8(&self.buffer).expect("serde_json writes UTF-8");
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let slice = &text[start..end];
                start = end;
                slice
            })
            .collect()
    }
}

/// The kind of a row that carries only effects.
pub const EFFECTS_ONLY: &str = "effects";

/// The log rows of `placed`, in position order.
pub(crate) fn log_rows<'a>(placed: &[&'a Placed]) -> Result<Vec<LogRow<'a>>, DbErr> {
    let mut rows = Vec::new();
    for p in placed {
        let count = rows_of(p);
        if count == 0 {
            continue;
        }
        let effects = (!p.effects.is_empty()).then_some(Effects(&p.effects, &p.effects_json));
        let key = p.inbox.as_ref().map(|i| i.dedupe_key.as_str());
        let order_id = p.order.id.as_str();
        let slot = p.order.id.slot();
        if p.applied.is_empty() {
            rows.push(LogRow {
                position: p.position,
                slot,
                order_id,
                seq: None,
                kind: EFFECTS_ONLY,
                from_status: None,
                to_status: None,
                from_stage: None,
                to_stage: None,
                cause: &p.cause,
                event: None,
                dedupe_key: key,
                commit_key: key,
                effects,
            });
            continue;
        }
        let last = p.applied.len() - 1;
        for (i, a) in p.applied.iter().enumerate() {
            rows.push(LogRow {
                position: p.position + i as i64,
                slot,
                order_id,
                seq: Some(a.seq),
                kind: a.event.kind(),
                from_status: a.status_before.as_ref().map(|s| s.as_str()),
                to_status: Some(a.status_after.as_str()),
                from_stage: a.stage_before.map(|s| s.as_str()),
                to_stage: Some(a.stage_after.as_str()),
                cause: &p.cause,
                event: Some(&a.event),
                dedupe_key: if i == last { key } else { None },
                commit_key: key,
                effects: if i == last { effects } else { None },
            });
        }
    }
    Ok(rows)
}
