//! PostgreSQL forms of the journal's hottest statements: one fixed statement per table whose
//! rows arrive as arrays (`INSERT … SELECT … FROM UNNEST($1::text[], …)`). The text never
//! changes, so the server parses and plans it once per connection, and a batch of any size is
//! nine bind parameters instead of thousands.
//!
//! sqlx binds arrays without NULL elements, so nullable columns travel as a sentinel that
//! `NULLIF` turns back into NULL: `''` for text (never a legitimate value in these columns) and
//! `i64::MIN` for integers.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

use super::journal::Commit;
use crate::domain::Order;

const NO_INT: i64 = i64::MIN;

fn text(v: Option<&str>) -> String {
    v.unwrap_or_default().to_owned()
}

pub(super) async fn insert_inbox(
    db: &impl ConnectionTrait,
    commits: &[Commit],
) -> Result<HashSet<String>, DbErr> {
    let (mut keys, mut types, mut shops, mut orders) = (vec![], vec![], vec![], vec![]);
    for commit in commits {
        if let Some(entry) = &commit.inbox {
            keys.push(entry.dedupe_key.clone());
            types.push(entry.event_type);
            shops.push(commit.order.shop_id.as_str().to_owned());
            orders.push(commit.order.id.as_str().to_owned());
        }
    }
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO webhook_inbox (dedupe_key, event_type, shop_id, order_id, received_at) \
         SELECT k, t, s, o, now() FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::text[]) AS u(k, t, s, o) \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key",
        [
            Value::from(keys),
            Value::from(types),
            Value::from(shops),
            Value::from(orders),
        ],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}

pub(super) async fn insert_events(
    db: &impl ConnectionTrait,
    commits: &[&Commit],
) -> Result<(), DbErr> {
    let mut columns: [Vec<String>; 7] = Default::default();
    let mut seqs = Vec::new();
    for commit in commits {
        for applied in &commit.applied {
            let payload = serde_json::to_string(&applied.event)
                .map_err(|e| DbErr::Custom(format!("event payload: {e}")))?;
            let row = [
                commit.order.id.as_str().to_owned(),
                applied.event.kind().to_owned(),
                text(applied.status_before.as_ref().map(|s| s.as_str())),
                applied.status_after.as_str().to_owned(),
                text(applied.stage_before.map(|s| s.as_str())),
                commit.cause.clone(),
                payload,
            ];
            for (column, value) in columns.iter_mut().zip(row) {
                column.push(value);
            }
            // The stage after is the only other column; kept apart to keep `row` one type.
            seqs.push((applied.seq, applied.stage_after.as_str().to_owned()));
        }
    }
    if seqs.is_empty() {
        return Ok(());
    }
    let (seq, to_stage): (Vec<i64>, Vec<String>) = seqs.into_iter().unzip();
    let [
        order_id,
        kind,
        from_status,
        to_status,
        from_stage,
        cause,
        payload,
    ] = columns;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO order_events (order_id, seq, kind, from_status, to_status, from_stage, to_stage, cause, payload, created_at) \
         SELECT o, s, k, NULLIF(fs, ''), ts, NULLIF(fg, ''), tg, c, p::jsonb, now() \
         FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) \
         AS u(o, s, k, fs, ts, fg, tg, c, p)",
        [
            Value::from(order_id),
            Value::from(seq),
            Value::from(kind),
            Value::from(from_status),
            Value::from(to_status),
            Value::from(from_stage),
            Value::from(to_stage),
            Value::from(cause),
            Value::from(payload),
        ],
    );
    db.execute_raw(statement).await?;
    Ok(())
}

/// The narrow snapshot upsert (see `orders::upsert_snapshots`).
pub(super) async fn upsert_narrow(
    db: &impl ConnectionTrait,
    orders: &[&Order],
) -> Result<(), DbErr> {
    if orders.is_empty() {
        return Ok(());
    }
    let mut texts: [Vec<String>; 6] = Default::default();
    let mut ints: [Vec<i64>; 3] = Default::default();
    for order in orders {
        let row = [
            order.id.as_str().to_owned(),
            order.shop_id.as_str().to_owned(),
            order.status.as_str().to_owned(),
            order.stage.as_str().to_owned(),
            text(order.stage_reason.as_deref()),
            text(order.held_from.map(|s| s.as_str())),
        ];
        for (column, value) in texts.iter_mut().zip(row) {
            column.push(value);
        }
        let numbers = [
            order.version,
            order.update_time.unwrap_or(NO_INT),
            order.create_time.unwrap_or(NO_INT),
        ];
        for (column, value) in ints.iter_mut().zip(numbers) {
            column.push(value);
        }
    }
    let [id, shop, status, stage, reason, held] = texts;
    let [version, update_time, create_time] = ints;
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO orders (id, shop_id, created_at, status, stage, stage_reason, held_from, version, tiktok_update_time, updated_at, tiktok_create_time) \
         SELECT i, sh, now(), st, sg, NULLIF(sr, ''), NULLIF(hf, ''), v, NULLIF(ut, $10), now(), NULLIF(ct, $10) \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::int8[]) \
         AS u(i, sh, st, sg, sr, hf, v, ut, ct) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, stage = excluded.stage, \
         stage_reason = excluded.stage_reason, held_from = excluded.held_from, version = excluded.version, \
         tiktok_update_time = excluded.tiktok_update_time, updated_at = excluded.updated_at, \
         tiktok_create_time = excluded.tiktok_create_time",
        [
            Value::from(id),
            Value::from(shop),
            Value::from(status),
            Value::from(stage),
            Value::from(reason),
            Value::from(held),
            Value::from(version),
            Value::from(update_time),
            Value::from(create_time),
            Value::from(NO_INT),
        ],
    );
    db.execute_raw(statement).await?;
    Ok(())
}
