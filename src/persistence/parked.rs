//! Cluster mode: messages kept for a slot whose owner did not answer in time (PostgreSQL; a
//! single node never parks anything). The message is opaque here: the engine's JSON form.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::{Database, Error};

/// A parked message.
#[derive(Debug, Clone)]
pub struct Parked {
    pub id: i64,
    pub order_id: String,
    /// The message, as the engine wrote it.
    pub message: String,
}

pub struct ParkedStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn parked(&self) -> ParkedStore<'_> {
        ParkedStore { db: self }
    }
}

impl ParkedStore<'_> {
    fn statement(sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
    }

    /// Keeps `message` for `order_id`'s `slot`, durably, before the sender is answered.
    pub async fn park(&self, slot: i16, order_id: &str, message: &str) -> Result<(), Error> {
        self.db
            .conn
            .execute_raw(Self::statement(
                "INSERT INTO parked_messages (slot, order_id, envelope, parked_at) \
                 VALUES ($1, $2, $3, now())",
                vec![slot.into(), order_id.into(), message.into()],
            ))
            .await?;
        Ok(())
    }

    /// The oldest messages parked for `slots`, at most `limit`.
    pub async fn of_slots(&self, slots: &[i16], limit: u64) -> Result<Vec<Parked>, Error> {
        if slots.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .db
            .conn
            .query_all_raw(Self::statement(
                "SELECT id, order_id, envelope FROM parked_messages \
                 WHERE slot = ANY($1::int2[]) ORDER BY id LIMIT $2",
                vec![slots.to_vec().into(), (limit as i64).into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Parked {
                    id: r.try_get_by_index(0)?,
                    order_id: r.try_get_by_index(1)?,
                    message: r.try_get_by_index(2)?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(Error::from)
    }

    /// The message was applied (or known a duplicate): it goes.
    pub async fn remove(&self, id: i64) -> Result<(), Error> {
        self.db
            .conn
            .execute_raw(Self::statement(
                "DELETE FROM parked_messages WHERE id = $1",
                vec![id.into()],
            ))
            .await?;
        Ok(())
    }

    /// How many messages are parked (all slots).
    pub async fn count(&self) -> Result<i64, Error> {
        let row = self
            .db
            .conn
            .query_one_raw(Self::statement(
                "SELECT count(*) FROM parked_messages",
                vec![],
            ))
            .await?;
        Ok(match row {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        })
    }
}
