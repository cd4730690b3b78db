//! The journal's batch on PostgreSQL: one statement, one round trip.
//!
//! Every row of the batch travels as arrays (`UNNEST($1::text[], …)`), and the key rows, the log
//! rows and the narrow snapshot upsert are data-modifying CTEs of a single statement, which
//! PostgreSQL runs as one transaction: no `BEGIN`/`COMMIT`, no round trip per table. Under load
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
//! sqlx binds arrays without NULL elements, so nullable columns travel as a sentinel that
//! `NULLIF` turns back into NULL: `''` for text (never a legitimate value in these columns) and
//! `i64::MIN` for integers.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use super::commit::{Commit, Placed, log_rows};

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
  c, p::json, NULLIF(dk, ''), NULLIF(ef, '')::json, now() \
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
/// is left out; each log row records the epoch it was written under. The answer also names
/// the slots kept.
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
            "AS u(d, n, sl, o, s, k, fs, ts, fg, tg, c, p, dk, ef) \
  WHERE d = '' OR d NOT IN (SELECT dedupe_key FROM seen)",
            "AS u(d, n, sl, o, s, k, fs, ts, fg, tg, c, p, dk, ef) \
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
        (
            "NULLIF(ef, '')::json, now() ",
            "NULLIF(ef, '')::json, now(), (SELECT f.epoch FROM fence f WHERE f.slot = sl) ",
        ),
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

fn text(v: Option<&str>) -> String {
    v.unwrap_or_default().to_owned()
}

/// Appends one row to a set of columns.
fn push<T, const N: usize>(columns: &mut [Vec<T>; N], row: [T; N]) {
    for (column, value) in columns.iter_mut().zip(row) {
        column.push(value);
    }
}

fn texts<const N: usize>(columns: [Vec<String>; N]) -> impl Iterator<Item = Value> {
    columns.into_iter().map(Value::from)
}

/// Writes `placed` (no two with the same dedupe key) in one statement: the key rows, log rows
/// and — for `narrow` — snapshots of the commits whose key was not seen before. Returns the
/// keys that were. `narrow` are the commits whose snapshot this statement writes (the newest of
/// each order in the batch; an order whose detail changed is written by the caller).
pub(super) async fn write_batch(
    db: &impl ConnectionTrait,
    placed: &[&Placed],
    narrow: &[&Commit],
    fence: Option<&Fence>,
) -> Result<Batch, DbErr> {
    let key = |c: &Commit| text(c.inbox.as_ref().map(|i| i.dedupe_key.as_str()));

    let mut keys = Vec::new();
    let mut key_rows: [Vec<String>; 3] = Default::default();
    let mut key_slots: Vec<i16> = Vec::new();
    let mut key_types = Vec::new();
    let mut commit_keys = Vec::new();
    for p in placed {
        let Some(entry) = &p.inbox else { continue };
        keys.push(entry.dedupe_key.clone());
        if p.applied.is_empty() && p.effects.is_empty() {
            push(
                &mut key_rows,
                [
                    entry.dedupe_key.clone(),
                    p.order.shop_id.as_str().to_owned(),
                    p.order.id.as_str().to_owned(),
                ],
            );
            key_types.push(entry.event_type);
            key_slots.push(p.order.id.slot());
        }
    }

    let mut positions = Vec::new();
    let mut slots = Vec::new();
    let mut seqs = Vec::new();
    let mut log: [Vec<String>; 10] = Default::default();
    for row in log_rows(placed)? {
        commit_keys.push(text(row.commit_key));
        positions.push(row.position);
        slots.push(row.slot);
        seqs.push(row.seq.unwrap_or(NO_INT));
        let payload = match row.event {
            Some(event) => serde_json::to_string(event)
                .map_err(|e| DbErr::Custom(format!("event payload: {e}")))?,
            None => "{}".to_owned(),
        };
        push(
            &mut log,
            [
                row.order_id.to_owned(),
                row.kind.to_owned(),
                text(row.from_status),
                text(row.to_status),
                text(row.from_stage),
                text(row.to_stage),
                row.cause.to_owned(),
                payload,
                text(row.dedupe_key),
                match row.effects {
                    Some(effects) => serde_json::to_string(&effects)
                        .map_err(|e| DbErr::Custom(format!("effects: {e}")))?,
                    None => String::new(),
                },
            ],
        );
    }
    let [order_ids, kinds, rest @ ..] = log;
    let [fs, ts, fg, tg, causes, payloads, dedupe_keys, effects] = rest;

    let mut snapshots: [Vec<String>; 7] = Default::default();
    let mut numbers: [Vec<i64>; 3] = Default::default();
    let mut snapshot_slots: Vec<i16> = Vec::new();
    for commit in narrow {
        let order = &commit.order;
        snapshot_slots.push(order.id.slot());
        push(
            &mut snapshots,
            [
                key(commit),
                order.id.as_str().to_owned(),
                order.shop_id.as_str().to_owned(),
                order.status.as_str().to_owned(),
                order.stage.as_str().to_owned(),
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
    let mut values = vec![
        Value::from(keys),
        Value::from(key_key),
        Value::from(key_types),
        Value::from(key_shop),
        Value::from(key_order),
        Value::from(commit_keys),
        Value::from(positions),
        Value::from(slots),
        Value::from(order_ids),
        Value::from(seqs),
    ];
    values.extend(texts([
        kinds,
        fs,
        ts,
        fg,
        tg,
        causes,
        payloads,
        dedupe_keys,
        effects,
    ]));
    values.extend(texts(snapshots));
    values.extend(numbers.into_iter().map(Value::from));
    values.push(Value::from(NO_INT));
    let Some(fence) = fence else {
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, BATCH, values);
        let seen = db
            .query_all_raw(statement)
            .await?
            .iter()
            .map(|row| row.try_get_by_index::<String>(0))
            .collect::<Result<_, _>>()?;
        return Ok(Batch { seen, held: None });
    };
    let (slots, epochs): (Vec<i16>, Vec<i64>) = fence.held.iter().copied().unzip();
    values.extend([
        Value::from(slots),
        Value::from(epochs),
        Value::from(fence.node.clone()),
        Value::from(key_slots),
        Value::from(snapshot_slots),
    ]);
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, FENCED.as_str(), values);
    let mut batch = Batch {
        seen: HashSet::new(),
        held: Some(HashSet::new()),
    };
    for row in db.query_all_raw(statement).await? {
        match (
            row.try_get_by_index::<Option<String>>(0)?,
            row.try_get_by_index::<Option<i16>>(1)?,
        ) {
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

/// The slots a cluster node presents with a batch: those it holds, at their epochs.
pub(super) struct Fence {
    pub node: String,
    pub held: Vec<(i16, i64)>,
}

/// What a batch found: the keys already recorded, and (fenced) the slots still held.
pub(super) struct Batch {
    pub seen: HashSet<String>,
    /// `None`: not fenced (a single node).
    pub held: Option<HashSet<i16>>,
}
