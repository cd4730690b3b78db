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
//! A connection that is gone (the server restarted or ended it, the network failed) is dropped
//! when a statement finds out, and the next statement opens a new one; one idle for a second
//! is pinged first, so a restart while the daemon was quiet costs no failed statement. A
//! statement abandoned mid-way (its future dropped) leaves the connection in an unknown state:
//! the next statement opens a new one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
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
        let (options, held) = match &self.0 {
            Inner::Pool(conn) => return conn.query_all_raw(stmt).await,
            Inner::Own { options, held } => (options, held),
        };
        let started = Instant::now();
        let mut held = held.lock().await;
        let usable = match held.as_mut() {
            Some(h) if h.busy => false,
            Some(h) if h.used.elapsed() >= PING_AFTER_IDLE => h.conn.ping().await.is_ok(),
            Some(_) => true,
            None => false,
        };
        if !usable {
            *held = None;
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
        let outcome = bind(stmt).fetch_all(&mut h.conn).await;
        h.busy = false;
        h.used = Instant::now();
        super::statements::count(started.elapsed());
        match outcome {
            Ok(rows) => Ok(rows.into_iter().map(QueryResult::from).collect()),
            Err(e) => {
                if gone(&e) {
                    *held = None;
                }
                Err(DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))
            }
        }
    }
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
            Inner::Own { .. } => Err(DbErr::Custom(
                "the engine's connections only query (every statement returns its rows)".into(),
            )),
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
