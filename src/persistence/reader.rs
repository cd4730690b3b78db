//! Where a scope's reads run: the pool for an administrator (and on SQLite, where the stores'
//! own filters are the isolation), or on PostgreSQL a shop's connection under row-level
//! security.
//!
//! A shop's reads run on a pool of their own whose connections are role `creatorflow_shop`
//! from the moment they open (`SET ROLE`), so row-level security hides every other shop's rows
//! whatever a query asks (see migration 22), and a read sets only `creatorflow.shop_id` before
//! its queries: one round trip, with no transaction to begin or end and no role to switch (a
//! switch costs the server ~50 µs, and a plan made under row-level security is remade whenever
//! the role that runs it changes). That round trip is also the connection's liveness check:
//! the pool does not ping a connection before handing it out (as the main pool does after a
//! second idle), and a connection that fails to take the setting is closed and another tried,
//! so a shop's read costs the round trips of an administrator's. The setting is the session's, so nothing else
//! may use this pool: [`ShopReads::begin`] is its only way in, and it always sets the shop
//! first. Its statements are sea-orm's, built and bound as sea-orm's own driver does.

use std::sync::Arc;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::{self, ConnectOptions, Executor, Postgres};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;

use crate::config;
use crate::domain::ShopId;

/// The reads of one scope (see [`crate::persistence::Database::reader`]). End it with
/// [`Reader::done`].
pub struct Reader<'a>(Reads<'a>);

enum Reads<'a> {
    Pool(&'a DatabaseConnection),
    Shop(ShopReads),
}

/// A connection on PostgreSQL that sees only one shop's rows (see the module's notes).
pub struct ShopReads(tokio::sync::Mutex<PoolConnection<Postgres>>);

/// The pool [`ShopReads`] take their connections from: opened lazily (after the migrations
/// have made the role), each connection `creatorflow_shop` for its whole life.
pub(super) fn shop_pool(
    url: &str,
    settings: &config::DatabaseSettings,
) -> Result<sqlx::PgPool, DbErr> {
    let options: PgConnectOptions = url.parse().map_err(query_error)?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        // `ShopReads::begin`'s setting is the liveness check (see the module's notes).
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                let role = format!("SET ROLE {}", migration::SHOP_ROLE);
                conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(role)))
                    .await?;
                Ok(())
            })
        })
        .connect_lazy_with(options.disable_statement_logging()))
}

impl<'a> Reader<'a> {
    pub(super) fn pool(conn: &'a DatabaseConnection) -> Self {
        Self(Reads::Pool(conn))
    }

    pub(super) fn shop(reads: ShopReads) -> Self {
        Self(Reads::Shop(reads))
    }

    /// Ends the reads: a shop's connection goes back to its pool.
    pub fn done(self) {
        drop(self);
    }
}

impl ShopReads {
    /// A connection of `pool` (see [`shop_pool`]) set to read as `shop`, in one round trip.
    /// A connection that fails to take the setting (the database restarted, or ended it) is
    /// closed and another taken, until the pool, out of idle ones, opens a fresh one (at most
    /// one more try than it holds connections).
    pub(super) async fn begin(pool: &sqlx::PgPool, shop: &ShopId) -> Result<Self, DbErr> {
        let started = std::time::Instant::now();
        let most = pool.options().get_max_connections() + 1;
        let mut tries = 0;
        loop {
            tries += 1;
            let mut conn = pool.acquire().await.map_err(query_error)?;
            let set = sqlx::query("SELECT set_config('creatorflow.shop_id', $1, false)")
                .bind(shop.as_str())
                .execute(&mut *conn)
                .await;
            match set {
                Ok(_) => {
                    super::statements::count(started.elapsed());
                    return Ok(Self(tokio::sync::Mutex::new(conn)));
                }
                Err(e) if tries < most && gone(&e) => {
                    tracing::info!(error = %e, "a shop's connection was gone; taking another");
                    conn.close_on_drop();
                }
                Err(e) => return Err(query_error(e)),
            }
        }
    }

    async fn fetch_all(&self, stmt: &Statement) -> Result<Vec<QueryResult>, DbErr> {
        let started = std::time::Instant::now();
        let mut conn = self.0.lock().await;
        let rows = query(stmt)
            .fetch_all(&mut **conn)
            .await
            .map_err(query_error)?;
        super::statements::count(started.elapsed());
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    async fn execute(&self, stmt: &Statement) -> Result<ExecResult, DbErr> {
        let started = std::time::Instant::now();
        let mut conn = self.0.lock().await;
        let done = query(stmt)
            .execute(&mut **conn)
            .await
            .map_err(|e| DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e))))?;
        super::statements::count(started.elapsed());
        Ok(done.into())
    }
}

/// `stmt` as sea-orm's own PostgreSQL driver binds it, marked as a shop's: the connection
/// prepares it apart from the same query run by the engine, so each keeps its plan (a plan made
/// under row-level security is remade whenever the role that runs it changes).
fn query(stmt: &Statement) -> sqlx::query::Query<'static, Postgres, SqlxValues> {
    bind(Statement {
        sql: format!("/* shop */ {}", stmt.sql),
        values: stmt.values.clone(),
        db_backend: stmt.db_backend,
    })
}

/// `stmt` as sea-orm's own PostgreSQL driver binds it (without copying its values).
pub(super) fn bind(stmt: Statement) -> sqlx::query::Query<'static, Postgres, SqlxValues> {
    let values = stmt.values.unwrap_or_else(|| sea_orm::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql), SqlxValues(values))
}

/// Whether `e` says the connection itself is unusable (rather than the statement wrong).
pub(super) fn gone(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        // The server ended the session (`pg_terminate_backend`, a restart: class 57).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("57")),
        _ => false,
    }
}

fn query_error(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

#[async_trait::async_trait]
impl ConnectionTrait for ShopReads {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.execute(&stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.execute(&Statement::from_string(DbBackend::Postgres, sql))
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.fetch_all(&stmt).await?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.fetch_all(&stmt).await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            Reads::Pool(conn) => conn.get_database_backend(),
            Reads::Shop(shop) => shop.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.0 {
            Reads::Pool(conn) => conn.execute_raw(stmt).await,
            Reads::Shop(shop) => shop.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.0 {
            Reads::Pool(conn) => conn.execute_unprepared(sql).await,
            Reads::Shop(shop) => shop.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.0 {
            Reads::Pool(conn) => conn.query_one_raw(stmt).await,
            Reads::Shop(shop) => shop.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.0 {
            Reads::Pool(conn) => conn.query_all_raw(stmt).await,
            Reads::Shop(shop) => shop.query_all_raw(stmt).await,
        }
    }
}
