//! The journal's batch on PostgreSQL: one statement, one round trip.
//!
//! Every row of the batch travels as arrays (`UNNEST($1::text[], …)`), and the key rows, the log
//! rows and the narrow snapshot upsert are data-modifying CTEs of a single statement, which
//! PostgreSQL runs as one transaction: no `BEGIN`/`COMMIT`, no round trip per table. A batch
//! with no key rows (almost every one) runs the same text less the key rows' CTE. Under load
//! every round trip is a wait for the server process to be scheduled, and a batch of five of
//! them cost ~9 ms where the statements ran for ~1.5 ms. The text never changes, so the server
//! parses and plans it once per connection.
//!
//! Dedupe happens inside the statement: `seen` finds the batch's keys already recorded (on a
//! log row, or as a key row in `webhook_inbox`), and each row carries its commit's key, kept
//! only when that key was not seen (or is empty: a command). All CTEs read the snapshot from
//! before the statement; two commits of one key are never in flight at once (a key names one
//! order's delivery, and an order's actor waits for its commit), and the unique index on the
//! log's `dedupe_key` stands behind that. The caller removes a batch's own repeated keys first
//! (the first commit of a key wins).
//!
//! The arrays are encoded straight from slices borrowed from the commits (sqlx, not sea-orm's
//! owned values, which copied every string of every row: this function's share of the
//! daemon's samples went from 9.3% to 8.0%, docs/PERFORMANCE.md, session 28).
//! Nullable columns travel as a sentinel that `NULLIF` turns back into NULL: `''` for text
//! (never a legitimate value in these columns) and `i64::MIN` for integers.

use std::collections::HashSet;

use sea_orm::DbErr;
use sea_orm::sqlx::postgres::{PgArguments, Postgres};
use sea_orm::sqlx::{Arguments, Encode, Row, Type};

use super::commit::{Commit, Placed, Texts, log_rows};
use crate::persistence::FetchEncoded;

const NO_INT: i64 = i64::MIN;

const BATCH: &str = "\
WITH seen AS ( \
  SELECT dedupe_key FROM order_events WHERE dedupe_key = ANY($1::text[]) \
  UNION ALL SELECT dedupe_key FROM webhook_inbox WHERE dedupe_key = ANY($1::text[]) \
), keys AS ( \
  INSERT INTO webhook_inbox (dedupe_key, event_type, shop_id, order_id, received_at) \
  SELECT k, t, s, o, now() FROM UNNEST($2::text[], $3::int4[], $4::text[], $5::text[]) AS u(k, t, s, o) \
  WHERE k NOT IN (SELECT dedupe_key FROM seen) \
), log AS ( \
  INSERT INTO order_events (position, slot, order_id, seq, kind, from_status, to_status, from_stage, \
  to_stage, cause, payload, dedupe_key, effects, created_at) \
  SELECT n, sl, o, NULLIF(s, $30), k, NULLIF(fs, ''), NULLIF(ts, ''), NULLIF(fg, ''), NULLIF(tg, ''), \
  c, p, NULLIF(dk, ''), NULLIF(ef, ''), now() \
  FROM UNNEST($6::text[], $7::int8[], $8::int2[], $9::text[], $10::int8[], $11::text[], $12::text[], \
  $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[]) \
  AS u(d, n, sl, o, s, k, fs, ts, fg, tg, c, p, dk, ef) \
  WHERE d = '' OR d NOT IN (SELECT dedupe_key FROM seen) \
), snapshots AS ( \
  INSERT INTO orders (id, shop_id, created_at, status, stage, stage_reason, held_from, version, tiktok_update_time, updated_at, tiktok_create_time) \
  SELECT i, sh, now(), st, sg, NULLIF(sr, ''), NULLIF(hf, ''), v, NULLIF(ut, $30), now(), NULLIF(ct, $30) \
  FROM UNNEST($20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[], $27::int8[], $28::int8[], $29::int8[]) \
  AS u(d, i, sh, st, sg, sr, hf, v, ut, ct) \
  WHERE d = '' OR d NOT IN (SELECT dedupe_key FROM seen) \
  ON CONFLICT (id) DO UPDATE SET status = excluded.status, stage = excluded.stage, \
  stage_reason = excluded.stage_reason, held_from = excluded.held_from, version = excluded.version, \
  tiktok_update_time = excluded.tiktok_update_time, updated_at = excluded.updated_at, \
  tiktok_create_time = excluded.tiktok_create_time \
) \
SELECT dedupe_key FROM seen";

/// [`BATCH`] for a node of a cluster: the `fence` CTE keeps the batch's slots this node still
/// holds at the epochs it presents, locking their lease rows `FOR SHARE` (a takeover's update
/// waits for this statement; after it, this finds nothing), and every row of a slot not kept
/// is left out; each log row records the epoch it was written under (the one presented for
/// its slot, bound per row: a row is kept only where the lease holds at that epoch, so no
/// lookup of `fence` per row is needed). The answer also names the slots kept.
static FENCED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let edits = [
        (
            "WITH seen AS (",
            "WITH fence AS ( \
  SELECT l.slot, l.epoch FROM slot_leases l JOIN UNNEST($31::int2[], $32::int8[]) AS h(slot, epoch) \
  ON l.slot = h.slot AND l.epoch = h.epoch WHERE l.owner = $33 AND l.expires_at > now() \
  ORDER BY l.slot FOR SHARE OF l \
), seen AS (",
        ),
        (
            "FROM UNNEST($2::text[], $3::int4[], $4::text[], $5::text[]) AS u(k, t, s, o) \
  WHERE k NOT IN (SELECT dedupe_key FROM seen)",
            "FROM UNNEST($2::text[], $3::int4[], $4::text[], $5::text[], $34::int2[]) AS u(k, t, s, o, ksl) \
  WHERE k NOT IN (SELECT dedupe_key FROM seen) AND ksl IN (SELECT slot FROM fence)",
        ),
        (
            "$19::text[]) \
  AS u(d, n, sl, o, s, k, fs, ts, fg, tg, c, p, dk, ef) \
  WHERE d = '' OR d NOT IN (SELECT dedupe_key FROM seen)",
            "$19::text[], $36::int8[]) \
  AS u(d, n, sl, o, s, k, fs, ts, fg, tg, c, p, dk, ef, ep) \
  WHERE (d = '' OR d NOT IN (SELECT dedupe_key FROM seen)) AND sl IN (SELECT slot FROM fence)",
        ),
        (
            "$29::int8[]) \
  AS u(d, i, sh, st, sg, sr, hf, v, ut, ct) \
  WHERE d = '' OR d NOT IN (SELECT dedupe_key FROM seen)",
            "$29::int8[], $35::int2[]) \
  AS u(d, i, sh, st, sg, sr, hf, v, ut, ct, ssl) \
  WHERE (d = '' OR d NOT IN (SELECT dedupe_key FROM seen)) AND ssl IN (SELECT slot FROM fence)",
        ),
        (
            "dedupe_key, effects, created_at) ",
            "dedupe_key, effects, created_at, epoch) ",
        ),
        ("NULLIF(ef, ''), now() ", "NULLIF(ef, ''), now(), ep "),
    ];
    let mut sql = BATCH
        .strip_suffix("SELECT dedupe_key FROM seen")
        .expect("the batch statement ends with its answer")
        .to_owned();
    for (from, to) in edits {
        assert!(sql.contains(from), "the batch statement changed: {from}");
        sql = sql.replace(from, to);
    }
    sql + "SELECT dedupe_key, NULL::int2 FROM seen UNION ALL SELECT NULL, slot FROM fence"
});

/// `sql` without its `keys` CTE: for a batch with no key rows (almost every batch: a key row is
/// written only for a delivery that changes nothing and asks for nothing), which then does not
/// start, at every execution, an insert into `webhook_inbox` of nothing (its executor node, the
/// table and its index opened, the arrays unnested). Its parameters are still bound (empty), so
/// both texts take the same arguments.
fn without_keys(sql: &str) -> String {
    let start = sql
        .find("), keys AS (")
        .expect("the batch statement has key rows");
    let end = sql
        .find("), log AS (")
        .expect("the batch statement has log rows");
    format!("{}{}", &sql[..start], &sql[end..])
}

static BATCH_WITHOUT_KEYS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| without_keys(BATCH));

static FENCED_WITHOUT_KEYS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| without_keys(&FENCED));

/// The batch statement's text: fenced (a node of a cluster) or not, with the key rows' CTE or
/// without it.
fn statement(fenced: bool, with_keys: bool) -> &'static str {
    match (fenced, with_keys) {
        (false, true) => BATCH,
        (false, false) => BATCH_WITHOUT_KEYS.as_str(),
        (true, true) => FENCED.as_str(),
        (true, false) => FENCED_WITHOUT_KEYS.as_str(),
    }
}

/// The text of a nullable column: `''` stands for NULL (see the module's notes).
fn text(v: Option<&str>) -> &str {
    v.unwrap_or_default()
}

/// Appends one row to a set of columns.
fn push<T, const N: usize>(columns: &mut [Vec<T>; N], row: [T; N]) {
    for (column, value) in columns.iter_mut().zip(row) {
        column.push(value);
    }
}

/// The batch's parameters, encoded as they are added: every text column is bound as a slice
/// borrowed from the commits (no copy of a string per row, as owned values would need).
struct Parameters(PgArguments);

impl Parameters {
    fn add<'t, T: Encode<'t, Postgres> + Type<Postgres>>(&mut self, value: T) -> Result<(), DbErr> {
        self.0
            .add(value)
            .map_err(|e| DbErr::Custom(format!("encoding the journal's batch: {e}")))
    }

    fn texts<const N: usize>(&mut self, columns: &[Vec<&str>; N]) -> Result<(), DbErr> {
        columns.iter().try_for_each(|c| self.add(&c[..]))
    }
}

/// Writes `placed` (no two with the same dedupe key) in one statement: the key rows, log rows
/// and — for `narrow` — snapshots of the commits whose key was not seen before. Returns the
/// keys that were. `narrow` are the commits whose snapshot this statement writes (the newest of
/// each order in the batch; an order whose detail changed is written by the caller).
pub(super) async fn write_batch(
    db: &impl FetchEncoded,
    placed: &[&Placed],
    narrow: &[&Commit],
    fence: Option<&Fence>,
) -> Result<Batch, DbErr> {
    let mut keys = Vec::new();
    let mut key_rows: [Vec<&str>; 3] = Default::default();
    let mut key_slots: Vec<i16> = Vec::new();
    let mut key_types = Vec::new();
    for p in placed {
        let Some(entry) = &p.inbox else { continue };
        keys.push(entry.dedupe_key.as_str());
        if p.applied.is_empty() && p.effects.is_empty() {
            push(
                &mut key_rows,
                [
                    entry.dedupe_key.as_str(),
                    p.order.shop_id.as_str(),
                    p.order.id.as_str(),
                ],
            );
            key_types.push(entry.event_type);
            key_slots.push(p.order.id.slot());
        }
    }

    let rows = log_rows(placed)?;
    let mut commit_keys = Vec::with_capacity(rows.len());
    let mut positions = Vec::with_capacity(rows.len());
    let mut slots = Vec::with_capacity(rows.len());
    let mut seqs = Vec::with_capacity(rows.len());
    let mut log: [Vec<&str>; 8] = Default::default();
    let mut payloads = Texts::default();
    let mut effects = Texts::default();
    for row in &rows {
        commit_keys.push(text(row.commit_key));
        positions.push(row.position);
        slots.push(row.slot);
        seqs.push(row.seq.unwrap_or(NO_INT));
        payloads.push_payload(row)?;
        effects.push_effects(row)?;
        push(
            &mut log,
            [
                row.order_id,
                row.kind,
                text(row.from_status),
                text(row.to_status),
                text(row.from_stage),
                text(row.to_stage),
                row.cause,
                text(row.dedupe_key),
            ],
        );
    }

    let mut snapshots: [Vec<&str>; 7] = Default::default();
    let mut numbers: [Vec<i64>; 3] = Default::default();
    let mut snapshot_slots: Vec<i16> = Vec::new();
    for commit in narrow {
        let order = &commit.order;
        snapshot_slots.push(order.id.slot());
        push(
            &mut snapshots,
            [
                text(commit.inbox.as_ref().map(|i| i.dedupe_key.as_str())),
                order.id.as_str(),
                order.shop_id.as_str(),
                order.status.as_str(),
                order.stage.as_str(),
                text(order.stage_reason.as_deref()),
                text(order.held_from.map(|s| s.as_str())),
            ],
        );
        push(
            &mut numbers,
            [
                order.version,
                order.update_time.unwrap_or(NO_INT),
                order.create_time.unwrap_or(NO_INT),
            ],
        );
    }

    let [key_key, key_shop, key_order] = key_rows;
    let with_keys = !key_key.is_empty();
    let [order_ids, kinds, fs, ts, fg, tg, causes, dedupe_keys] = log;
    let mut p = Parameters(PgArguments::default());
    // The encoded arrays in one allocation, not one per doubling: the JSON texts, and a
    // generous ~320 bytes for the other columns of each row.
    let size = payloads.buffer.len() + effects.buffer.len() + 320 * (rows.len() + narrow.len());
    p.0.reserve(36, size);
    p.add(&keys[..])?;
    p.add(&key_key[..])?;
    p.add(&key_types[..])?;
    p.texts(&[key_shop, key_order])?;
    p.add(&commit_keys[..])?;
    p.add(&positions[..])?;
    p.add(&slots[..])?;
    p.add(&order_ids[..])?;
    p.add(&seqs[..])?;
    p.texts(&[kinds, fs, ts, fg, tg, causes])?;
    p.add(&payloads.slices()[..])?;
    p.add(&dedupe_keys[..])?;
    p.add(&effects.slices()[..])?;
    p.texts(&snapshots)?;
    numbers.iter().try_for_each(|n| p.add(&n[..]))?;
    p.add(NO_INT)?;
    let Some(fence) = fence else {
        return Ok(Batch {
            seen: db
                .fetch_encoded(statement(false, with_keys), p.0)
                .await?
                .iter()
                .map(|row| row.try_get::<String, _>(0))
                .collect::<Result<_, _>>()
                .map_err(decoding)?,
            held: None,
        });
    };
    let (held_slots, epochs): (Vec<i16>, Vec<i64>) = fence.held.iter().copied().unzip();
    debug_assert!(
        held_slots.is_sorted_by(|a, b| a < b),
        "a fence's slots sorted, once each"
    );
    p.add(&held_slots[..])?;
    p.add(&epochs[..])?;
    p.add(fence.node.as_str())?;
    p.add(&key_slots[..])?;
    p.add(&snapshot_slots[..])?;
    // Each log row's epoch, the one presented for its slot (`held` is sorted by slot). A row
    // of a slot not presented is left out by the fence, so its 0 is never written.
    let row_epochs: Vec<i64> = slots
        .iter()
        .map(|slot| held_slots.binary_search(slot).map_or(0, |i| epochs[i]))
        .collect();
    p.add(&row_epochs[..])?;
    let mut batch = Batch {
        seen: HashSet::new(),
        held: Some(HashSet::new()),
    };
    for row in db.fetch_encoded(statement(true, with_keys), p.0).await? {
        let key: Option<String> = row.try_get(0).map_err(decoding)?;
        let slot: Option<i16> = row.try_get(1).map_err(decoding)?;
        match (key, slot) {
            (Some(key), _) => {
                batch.seen.insert(key);
            }
            (None, Some(slot)) => {
                batch.held.get_or_insert_default().insert(slot);
            }
            (None, None) => {}
        }
    }
    Ok(batch)
}

fn decoding(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Custom(format!("reading the journal's batch answer: {e}"))
}

/// The slots a cluster node presents with a batch: those it holds, at their epochs.
pub(super) struct Fence {
    pub node: String,
    /// Sorted by slot, each slot once.
    pub held: Vec<(i16, i64)>,
}

/// What a batch found: the keys already recorded, and (fenced) the slots still held.
pub(super) struct Batch {
    pub seen: HashSet<String>,
    /// `None`: not fenced (a single node).
    pub held: Option<HashSet<i16>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_without_key_rows_leaves_out_only_their_insert() {
        for fenced in [false, true] {
            let (with, without) = (statement(fenced, true), statement(fenced, false));
            assert!(with.contains("INSERT INTO webhook_inbox"));
            assert!(!without.contains("INSERT INTO webhook_inbox"));
            assert!(!without.contains("keys AS"));
            // Keys recorded as key rows earlier are still found: the dedupe reads the inbox.
            assert!(without.contains("SELECT dedupe_key FROM webhook_inbox"));
            for part in [
                "INSERT INTO order_events",
                "INSERT INTO orders",
                "ON CONFLICT (id)",
            ] {
                assert!(without.contains(part), "{part}");
            }
            assert_eq!(
                with.len() - without.len(),
                with.find("), log AS (").unwrap() - with.find("), keys AS (").unwrap()
            );
        }
        assert!(statement(true, false).contains("FOR SHARE OF l"));
        assert!(!statement(false, false).contains("slot_leases"));
    }
}
