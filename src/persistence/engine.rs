//! Connections of the engine's hot path: on PostgreSQL each journal writer and each shard's
//! snapshot loader keeps one connection of its own for its life, instead of taking one from a
//! pool for every statement. sqlx pings every connection its pool takes back (a round trip to
//! the server, measured at ~3% of the daemon's CPU under load, more on the server), and these
//! workers run a statement every millisecond or so, one at a time. On SQLite they use the pool.
//!
//! The sessions never plan a sequential scan (`enable_seqscan = off`): every statement here is
//! a lookup by key, and a prepared statement's generic plan is made once per connection: one
//! made while a table was small (a new database) scans the table for as long as the connection
//! lives, however large the table grows (measured: a batch's dedupe lookup read 55,000 log
//! rows, 86 ms, where the unique index answers at once).
//!
//! The journal's writer also runs its rare transactions here (a batch that writes an order's
//! detail: [`EngineConnection::begin`], [`EngineTransaction::end`]) and binds its batch's
//! parameters already encoded ([`FetchEncoded`]).
//!
//! A connection that is gone (the server restarted or ended it, the network failed) is dropped
//! when a statement finds out, and the next statement opens a new one (but not inside a
//! transaction: that statement fails, and the server rolls the transaction back); one idle for a second
//! is pinged first, so a restart while the daemon was quiet costs no failed statement. A
//! statement abandoned mid-way (its future dropped) leaves the connection in an unknown state:
//! the next statement opens a new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow};
use sea_orm::sqlx::{self, Connection};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};

use super::database::PING_AFTER_IDLE;
use super::reader::{bind, gone};

/// How the engine's connections name themselves to the server (`pg_stat_activity`).
pub const APPLICATION_NAME: &str = "creatorflow engine";

/// One worker's connection (see the module's notes). Statements run one at a time.
pub struct EngineConnection(Inner);

enum Inner {
    Pool(DatabaseConnection),
    Own {
        options: Arc<Options>,
        held: tokio::sync::Mutex<Option<Held>>,
        /// A transaction is open ([`EngineConnection::begin`]).
        open: AtomicBool,
    },
}

struct Held {
    conn: PgConnection,
    used: Instant,
    /// A statement started and has not finished (its future was dropped mid-way).
    busy: bool,
}

impl EngineConnection {
    pub(super) fn pool(conn: DatabaseConnection) -> Self {
        Self(Inner::Pool(conn))
    }

    /// Opened at its first statement, with `options`.
    pub(super) fn own(options: Arc<Options>) -> Self {
        Self(Inner::Own {
            options,
            held: tokio::sync::Mutex::new(None),
            open: AtomicBool::new(false),
        })
    }

    /// Ends the session politely (the server logs no lost client).
    pub async fn close(self) {
        if let Inner::Own { held, .. } = self.0
            && let Some(held) = held.into_inner()
            && !held.busy
        {
            let _ = held.conn.close().await;
        }
    }

    async fn fetch_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if let Inner::Pool(conn) = &self.0 {
            return conn.query_all_raw(stmt).await;
        }
        self.fetch_within(Within::Outside, stmt).await
    }

    async fn fetch_within(
        &self,
        within: Within,
        stmt: Statement,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let rows = self
            .run(within, async |conn| bind(stmt).fetch_all(conn).await)
            .await?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    async fn execute_within(&self, within: Within, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.run(within, async |conn| bind(stmt).execute(conn).await)
            .await
            .map(ExecResult::from)
    }

    async fn fetch_encoded_within(
        &self,
        within: Within,
        sql: &'static str,
        parameters: PgArguments,
    ) -> Result<Vec<PgRow>, DbErr> {
        self.run(within, async |conn| {
            sqlx::query_with(sql, parameters).fetch_all(conn).await
        })
        .await
    }

    /// Begins a transaction on this connection; its statements run through the answer, which
    /// ends it ([`EngineTransaction::end`]). One never ended (its future dropped) is given up
    /// with the connection at the next statement, which runs on a new one.
    pub async fn begin(&self) -> Result<EngineTransaction<'_>, DbErr> {
        let Inner::Own { open, .. } = &self.0 else {
            return Err(own_only());
        };
        self.run(Within::Outside, async |conn| {
            sqlx::raw_sql("BEGIN").execute(conn).await
        })
        .await?;
        open.store(true, Ordering::Relaxed);
        Ok(EngineTransaction(self))
    }

    /// Runs one statement on the connection, opening one first if there is none usable. Inside
    /// a transaction a lost connection is an error: a new one would run outside it. Outside,
    /// a transaction still open was abandoned: its connection goes (the server rolls it back).
    async fn run<T>(
        &self,
        within: Within,
        statement: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, DbErr> {
        let Inner::Own {
            options,
            held,
            open,
        } = &self.0
        else {
            return Err(own_only());
        };
        let started = Instant::now();
        let mut held = held.lock().await;
        if within == Within::Outside && open.swap(false, Ordering::Relaxed) {
            *held = None;
        }
        let usable = match held.as_mut() {
            Some(h) if h.busy => false,
            Some(h) if h.used.elapsed() >= PING_AFTER_IDLE => h.conn.ping().await.is_ok(),
            Some(_) => true,
            None => false,
        };
        if !usable {
            *held = None;
            if within == Within::Transaction {
                return Err(DbErr::Conn(RuntimeErr::Internal(
                    "the engine's connection to PostgreSQL was lost inside a transaction".into(),
                )));
            }
            let conn = tokio::time::timeout(
                options.timeout,
                PgConnection::connect_with(&options.connect),
            )
            .await
            .map_err(|_| {
                let late = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "opening a connection to PostgreSQL took longer than database.acquire_timeout",
                );
                DbErr::Conn(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(late))))
            })?
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
            *held = Some(Held {
                conn,
                used: Instant::now(),
                busy: false,
            });
        }
        let h = held.as_mut().expect("a connection was just made usable");
        h.busy = true;
        let outcome = statement(&mut h.conn).await;
        h.busy = false;
        h.used = Instant::now();
        super::statements::count(started.elapsed());
        outcome.map_err(|e| {
            if gone(&e) {
                *held = None;
            }
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
        })
    }
}

/// Whether a statement belongs to the connection's open transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Within {
    Outside,
    Transaction,
}

/// A transaction on an engine connection ([`EngineConnection::begin`]): its statements run
/// through it, and it ends with [`EngineTransaction::end`].
pub struct EngineTransaction<'a>(&'a EngineConnection);

impl EngineTransaction<'_> {
    /// Commits (`commit`) or rolls back. A connection that cannot say which is closed (the
    /// server rolls back).
    pub async fn end(self, commit: bool) -> Result<(), DbErr> {
        let Inner::Own { held, open, .. } = &self.0.0 else {
            return Err(own_only());
        };
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        let outcome = self
            .0
            .run(Within::Transaction, async |conn| {
                sqlx::raw_sql(sql).execute(conn).await
            })
            .await;
        open.store(false, Ordering::Relaxed);
        if outcome.is_err() {
            *held.lock().await = None;
        }
        outcome.map(drop)
    }
}

/// What runs a statement whose parameters are already encoded (PostgreSQL only): an engine
/// connection, or a transaction on one.
pub trait FetchEncoded {
    fn fetch_encoded(
        &self,
        sql: &'static str,
        parameters: PgArguments,
    ) -> impl Future<Output = Result<Vec<PgRow>, DbErr>> + Send;
}

impl FetchEncoded for EngineConnection {
    async fn fetch_encoded(
        &self,
        sql: &'static str,
        parameters: PgArguments,
    ) -> Result<Vec<PgRow>, DbErr> {
        self.fetch_encoded_within(Within::Outside, sql, parameters)
            .await
    }
}

impl FetchEncoded for EngineTransaction<'_> {
    async fn fetch_encoded(
        &self,
        sql: &'static str,
        parameters: PgArguments,
    ) -> Result<Vec<PgRow>, DbErr> {
        self.0
            .fetch_encoded_within(Within::Transaction, sql, parameters)
            .await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for EngineTransaction<'_> {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.execute_within(Within::Transaction, stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self
            .0
            .fetch_within(Within::Transaction, stmt)
            .await?
            .into_iter()
            .next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.fetch_within(Within::Transaction, stmt).await
    }
}

fn own_only() -> DbErr {
    DbErr::Custom("only the engine's own PostgreSQL connections run this".into())
}

/// How the engine's own connections are opened.
pub(super) struct Options {
    connect: PgConnectOptions,
    /// The longest wait for a new connection (`database.acquire_timeout`).
    timeout: Duration,
}

impl Options {
    /// `url`'s options, without sequential scans.
    pub(super) fn new(url: &str, timeout: Duration) -> Result<Self, DbErr> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        let connect = sqlx::ConnectOptions::disable_statement_logging(options)
            .application_name(APPLICATION_NAME)
            .options([("enable_seqscan", "off")]);
        Ok(Self { connect, timeout })
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for EngineConnection {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            Inner::Pool(conn) => conn.get_database_backend(),
            Inner::Own { .. } => DbBackend::Postgres,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.0 {
            Inner::Pool(conn) => conn.execute_raw(stmt).await,
            Inner::Own { .. } => self.execute_within(Within::Outside, stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.execute_raw(Statement::from_string(self.get_database_backend(), sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.fetch_all(stmt).await?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.fetch_all(stmt).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(rows: &[QueryResult]) -> Vec<i32> {
        rows.iter()
            .map(|r| r.try_get_by_index(0).expect("an id"))
            .collect()
    }

    /// Against the PostgreSQL of `CREATORFLOW_TEST_DATABASE_URL` (skipped on the embedded run).
    #[tokio::test]
    async fn a_transaction_keeps_what_it_commits_drops_what_it_rolls_back_and_an_abandoned_one() {
        let Some(url) = std::env::var("CREATORFLOW_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            return;
        };
        let options = Options::new(&url, Duration::from_secs(5)).expect("a PostgreSQL URL");
        let conn = EngineConnection::own(Arc::new(options));
        let table = format!("engine_txn_{}", uuid::Uuid::new_v4().simple());
        let run = async |sql: String| {
            conn.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await
        };
        run(format!("CREATE TABLE {table} (id int PRIMARY KEY)"))
            .await
            .expect("a table can be made");
        let in_txn = async |txn: &EngineTransaction<'_>, id: i32| {
            txn.execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("INSERT INTO {table} VALUES ({id})"),
            ))
            .await
        };
        let ids = async || {
            let rows = conn
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("SELECT id FROM {table} ORDER BY id"),
                ))
                .await
                .expect("the table can be read");
            count(&rows)
        };

        let txn = conn.begin().await.expect("begins");
        in_txn(&txn, 1).await.unwrap();
        txn.end(true).await.expect("commits");
        let txn = conn.begin().await.expect("begins");
        in_txn(&txn, 2).await.unwrap();
        txn.end(false).await.expect("rolls back");
        assert_eq!(ids().await, [1], "the rolled-back row is gone");

        // A statement that fails inside the transaction: rolled back, the connection goes on.
        let txn = conn.begin().await.expect("begins");
        in_txn(&txn, 3).await.unwrap();
        assert!(in_txn(&txn, 1).await.is_err(), "the key is taken");
        txn.end(false).await.expect("rolls back");
        assert_eq!(ids().await, [1]);

        // Begun and never ended (its future dropped): a statement after it does not run in it,
        // nor does the next transaction commit the abandoned one's rows with its own.
        {
            let abandoned = conn.begin().await.expect("begins");
            in_txn(&abandoned, 4).await.unwrap();
        }
        run(format!("INSERT INTO {table} VALUES (5)"))
            .await
            .unwrap();
        {
            let abandoned = conn.begin().await.expect("begins again");
            in_txn(&abandoned, 6).await.unwrap();
        }
        let txn = conn.begin().await.expect("begins again");
        in_txn(&txn, 7).await.unwrap();
        txn.end(true).await.expect("commits");
        assert_eq!(
            ids().await,
            [1, 5, 7],
            "the abandoned transactions' rows are not kept"
        );

        run(format!("DROP TABLE {table}")).await.unwrap();
        conn.close().await;
    }
}
