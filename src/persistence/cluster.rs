//! The cluster's rows on PostgreSQL: the nodes alive (by heartbeat) and a lease per slot of
//! orders. Every statement that locks lease rows locks them in slot order (`ORDER BY slot FOR
//! UPDATE`, and the writers' `FOR SHARE` likewise): a renewal and a batch that locked the same
//! rows in different orders deadlocked, and PostgreSQL broke each deadlock only after a second. Every time is the database's clock (`now()`), never a node's, so nodes whose clocks
//! disagree still agree on who holds what. Taking a slot is one conditional update that raises
//! its epoch; the journal checks that epoch where its rows land.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::{Database, Error};
use crate::domain::SLOTS;

/// A cluster node's name and the slots it holds with their epochs: what its background writes
/// present, checked against the lease rows where they land.
pub type Fence<'a> = (&'a str, &'a [(i16, i64)]);

/// A node that registered, and how recently it said it is alive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeRow {
    pub node_id: String,
    pub advertise_url: String,
    /// Milliseconds since its last heartbeat, by the database clock.
    pub heartbeat_age_ms: i64,
    /// The `cluster.lease` it runs with, in milliseconds (`None`: a node of an earlier version).
    pub lease_ms: Option<i64>,
}

/// One slot's lease.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseRow {
    pub slot: i16,
    pub owner: Option<String>,
    pub epoch: i64,
    /// Milliseconds until it ends (negative: ended), by the database clock; `None`: never held.
    pub expires_in_ms: Option<i64>,
}

impl LeaseRow {
    /// Held by someone whose lease has not ended.
    pub fn live(&self) -> bool {
        self.owner.is_some() && self.expires_in_ms.is_some_and(|ms| ms > 0)
    }
}

pub struct ClusterStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn cluster(&self) -> ClusterStore<'_> {
        ClusterStore { db: self }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl ClusterStore<'_> {
    async fn run(&self, sql: &str, values: Vec<Value>) -> Result<Vec<sea_orm::QueryResult>, Error> {
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        Ok(self.db.conn.query_all_raw(statement).await?)
    }

    /// Makes the lease rows of every slot, once (the first node in cluster mode does it).
    pub async fn ensure_slots(&self) -> Result<(), Error> {
        self.run(
            "INSERT INTO slot_leases (slot, epoch) SELECT s, 0 FROM generate_series(0, $1::int - 1) AS s \
             ON CONFLICT (slot) DO NOTHING",
            vec![Value::from(SLOTS as i32)],
        )
        .await?;
        Ok(())
    }

    /// Says `node` is alive and where it is reached, as the process `incarnation`. A node's row
    /// is its process's while that process keeps beating: another process presenting the same
    /// node id gets `false` (and changes nothing) until the row's process has been silent for
    /// `lease` or has left.
    pub async fn heartbeat(
        &self,
        node: &str,
        advertise_url: &str,
        incarnation: &str,
        lease: Duration,
    ) -> Result<bool, Error> {
        let rows = self
            .run(
                "INSERT INTO cluster_nodes (node_id, advertise_url, started_at, heartbeat_at, incarnation, lease_ms) \
                 VALUES ($1, $2, now(), now(), $3, $4) ON CONFLICT (node_id) DO UPDATE \
                 SET advertise_url = excluded.advertise_url, heartbeat_at = now(), lease_ms = excluded.lease_ms, \
                 incarnation = excluded.incarnation, started_at = CASE \
                 WHEN cluster_nodes.incarnation = excluded.incarnation THEN cluster_nodes.started_at \
                 ELSE now() END \
                 WHERE cluster_nodes.incarnation IS NULL OR cluster_nodes.incarnation = excluded.incarnation \
                 OR cluster_nodes.heartbeat_at <= now() - $4 * interval '1 millisecond' \
                 RETURNING node_id",
                vec![
                    node.into(),
                    advertise_url.into(),
                    incarnation.into(),
                    millis(lease).into(),
                ],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// The registered nodes, the most recently heard from first.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>, Error> {
        let rows = self
            .run(
                "SELECT node_id, advertise_url, \
                 (EXTRACT(EPOCH FROM (now() - heartbeat_at)) * 1000)::int8 AS age, lease_ms \
                 FROM cluster_nodes ORDER BY heartbeat_at DESC, node_id",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(NodeRow {
                    node_id: r.try_get_by_index(0)?,
                    advertise_url: r.try_get_by_index(1)?,
                    heartbeat_age_ms: r.try_get_by_index(2)?,
                    lease_ms: r.try_get_by_index(3)?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(Error::from)
    }

    /// Every slot's lease, by slot.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, Error> {
        let rows = self
            .run(
                "SELECT slot, owner, epoch, \
                 (EXTRACT(EPOCH FROM (expires_at - now())) * 1000)::int8 AS left_ms \
                 FROM slot_leases ORDER BY slot",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRow {
                    slot: r.try_get_by_index(0)?,
                    owner: r.try_get_by_index(1)?,
                    epoch: r.try_get_by_index(2)?,
                    expires_in_ms: r.try_get_by_index(3)?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(Error::from)
    }

    /// Takes those of `slots` that nobody holds (never held, released, or lease ended; or
    /// held by `node` itself under an epoch it no longer knows), each with its epoch raised.
    /// Returns the slots taken with their new epochs.
    pub async fn acquire(
        &self,
        node: &str,
        slots: &[i16],
        lease: Duration,
    ) -> Result<Vec<(i16, i64)>, Error> {
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .run(
                "UPDATE slot_leases SET owner = $1, epoch = epoch + 1, acquired_at = now(), \
                 expires_at = now() + $3 * interval '1 millisecond' \
                 WHERE slot IN (SELECT slot FROM slot_leases WHERE slot = ANY($2::int2[]) \
                 AND (owner IS NULL OR owner = $1 OR expires_at IS NULL OR expires_at <= now()) \
                 ORDER BY slot FOR UPDATE) \
                 RETURNING slot, epoch",
                vec![node.into(), slots.to_vec().into(), millis(lease).into()],
            )
            .await?;
        pairs(&rows)
    }

    /// Extends the leases `node` holds at the epochs it knows; returns the slots extended (a
    /// slot missing from the answer was taken over: its writes are fenced from now on).
    pub async fn renew(
        &self,
        node: &str,
        held: &[(i16, i64)],
        lease: Duration,
    ) -> Result<Vec<i16>, Error> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let (slots, epochs): (Vec<i16>, Vec<i64>) = held.iter().copied().unzip();
        let rows = self
            .run(
                "UPDATE slot_leases SET expires_at = now() + $4 * interval '1 millisecond' \
                 WHERE slot IN (SELECT l.slot FROM slot_leases l \
                 JOIN UNNEST($2::int2[], $3::int8[]) AS h(slot, epoch) \
                 ON l.slot = h.slot AND l.epoch = h.epoch WHERE l.owner = $1 \
                 AND l.expires_at > now() ORDER BY l.slot FOR UPDATE OF l) \
                 RETURNING slot",
                vec![
                    node.into(),
                    slots.into(),
                    epochs.into(),
                    millis(lease).into(),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| r.try_get_by_index::<i16>(0).map_err(Error::from))
            .collect()
    }

    /// Gives `held` back (a graceful stop, or slots placed on another node): free at once for
    /// whoever takes them next. Returns how many were still this node's.
    pub async fn release(&self, node: &str, held: &[(i16, i64)]) -> Result<u64, Error> {
        if held.is_empty() {
            return Ok(0);
        }
        let (slots, epochs): (Vec<i16>, Vec<i64>) = held.iter().copied().unzip();
        let rows = self
            .run(
                "UPDATE slot_leases SET owner = NULL, expires_at = now() \
                 WHERE slot IN (SELECT l.slot FROM slot_leases l \
                 JOIN UNNEST($2::int2[], $3::int8[]) AS h(slot, epoch) \
                 ON l.slot = h.slot AND l.epoch = h.epoch WHERE l.owner = $1 \
                 ORDER BY l.slot FOR UPDATE OF l) \
                 RETURNING slot",
                vec![node.into(), slots.into(), epochs.into()],
            )
            .await?;
        Ok(rows.len() as u64)
    }

    /// `node` leaves the cluster: its row goes, so nobody places slots on it.
    pub async fn leave(&self, node: &str, incarnation: &str) -> Result<(), Error> {
        self.run(
            "DELETE FROM cluster_nodes WHERE node_id = $1 AND incarnation = $2",
            vec![node.into(), incarnation.into()],
        )
        .await?;
        Ok(())
    }

    /// Forgets nodes not heard from for `after` (they hold nothing: their leases ended).
    pub async fn forget_silent(&self, after: Duration) -> Result<(), Error> {
        self.run(
            "DELETE FROM cluster_nodes WHERE heartbeat_at < now() - $1 * interval '1 millisecond'",
            vec![millis(after).into()],
        )
        .await?;
        Ok(())
    }
    /// Starts the shared position counter after the log's largest position (or raises it,
    /// should a single node have written since the cluster last ran).
    pub async fn ensure_head(&self) -> Result<(), Error> {
        self.run(
            "INSERT INTO log_head (id, next) SELECT 0, coalesce(max(position), 0) + 1 FROM order_events \
             ON CONFLICT (id) DO UPDATE SET next = greatest(log_head.next, excluded.next)",
            vec![],
        )
        .await?;
        Ok(())
    }

    /// The next position the shared head will hand out: every position any node drew (and so
    /// may have written) lies below it.
    pub async fn head(&self) -> Result<i64, Error> {
        let rows = self
            .run("SELECT next FROM log_head WHERE id = 0", vec![])
            .await?;
        let next: Option<i64> = match rows.first() {
            Some(row) => row.try_get_by_index(0)?,
            None => None,
        };
        Ok(next.unwrap_or(0))
    }

    /// Draws `size` positions for `node` from the shared head and, in the same statement,
    /// sets its floor to `floor` (its oldest batch in flight) or else to the block's first
    /// position: no reader passes the block before the node says it is done with it. Returns
    /// the block's first position. `incarnation`: the process drawing, which must hold the
    /// node's row (a process whose node id another one took says nothing for it).
    pub async fn draw(
        &self,
        node: &str,
        incarnation: &str,
        size: i64,
        floor: Option<i64>,
    ) -> Result<i64, Error> {
        let rows = self
            .run(
                "WITH head AS (UPDATE log_head SET next = next + $2 WHERE id = 0 RETURNING next - $2 AS first) \
                 UPDATE cluster_nodes SET floor = coalesce($3, (SELECT first FROM head)) \
                 WHERE node_id = $1 AND incarnation = $4 RETURNING (SELECT first FROM head)",
                vec![node.into(), size.into(), floor.into(), incarnation.into()],
            )
            .await?;
        let first: Option<i64> = match rows.first() {
            Some(row) => row.try_get_by_index(0)?,
            None => None,
        };
        first.ok_or_else(|| {
            Error::Db(sea_orm::DbErr::Custom(format!(
                "node {node} cannot draw log positions: this process does not hold its row (not registered yet, or another process has this node id), or the log head is missing"
            )))
        })
    }

    /// Says the lowest position `node` may still write: `oldest`, its oldest batch in flight;
    /// or, if `None`, nothing below the head, unless a block drawn since (its floor at least
    /// `next`, the position the node would have handed out next) says otherwise. So a floor
    /// seen before a draw and said after it never clears the drawn block's floor. A stale
    /// `oldest` only says less than the node may write, which holds readers back for a moment
    /// and never lets them pass a write. Only the process holding the node's row (`incarnation`)
    /// says it: a stale process of the same node id would clear the floor of the one writing.
    pub async fn publish_floor(
        &self,
        node: &str,
        incarnation: &str,
        oldest: Option<i64>,
        next: i64,
    ) -> Result<(), Error> {
        match oldest {
            Some(oldest) => {
                self.run(
                    "UPDATE cluster_nodes SET floor = $2 WHERE node_id = $1 AND incarnation = $3",
                    vec![node.into(), oldest.into(), incarnation.into()],
                )
                .await?
            }
            None => {
                self.run(
                    "UPDATE cluster_nodes SET floor = NULL WHERE node_id = $1 AND incarnation = $3 \
                     AND floor < $2",
                    vec![node.into(), next.into(), incarnation.into()],
                )
                .await?
            }
        };
        Ok(())
    }

    /// The cluster's watermark: every log position at or below it is settled, whichever node
    /// wrote it. Below the head and below the floor of every node that holds a slot (a node
    /// that holds none cannot write: its leases were taken, which waited for its writes).
    pub async fn settled(&self) -> Result<i64, Error> {
        let rows = self
            .run(
                "SELECT LEAST((SELECT next FROM log_head WHERE id = 0), \
                 (SELECT min(n.floor) FROM cluster_nodes n WHERE n.floor IS NOT NULL \
                  AND EXISTS (SELECT 1 FROM slot_leases l WHERE l.owner = n.node_id))) - 1",
                vec![],
            )
            .await?;
        let settled: Option<i64> = match rows.first() {
            Some(row) => row.try_get_by_index(0)?,
            None => None,
        };
        Ok(settled.unwrap_or(0))
    }
}

fn pairs(rows: &[sea_orm::QueryResult]) -> Result<Vec<(i16, i64)>, Error> {
    rows.iter()
        .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(Error::from)
}
