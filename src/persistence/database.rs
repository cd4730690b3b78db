use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous as SqlxSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, Statement,
};
use secrecy::ExposeSecret;
use tokio::sync::OwnedMutexGuard;

use super::engine::EngineConnection;
use super::reader::{Reader, ShopReads};
use crate::config::{self, Backend, SqliteSynchronous};
use crate::domain::Scope;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error("cannot create the database file or folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
}

/// Why the database cannot serve traffic right now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotReady(pub String);

/// A pooled connection to SQLite or PostgreSQL. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Database {
    pub(crate) conn: DatabaseConnection,
    backend: Backend,
    /// For SQLite, the database file; readiness checks it is still there, because a daemon
    /// writing to a deleted file would lose everything at its next start.
    sqlite_file: Option<PathBuf>,
    /// For SQLite, the turn to write: SQLite has one writer at a time, and a connection that
    /// finds the lock taken sleeps in SQLite's busy handler (1, 2, 5, … 100 ms) however soon
    /// the lock frees. Writers queue here instead, first come first served, and start the
    /// moment the previous one commits.
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
    /// For a SQLite file, the one connection every write transaction runs on. SQLite writes one
    /// transaction at a time anyway (the write turn), and in WAL mode a connection throws away
    /// its whole page cache whenever another connection has written since its last transaction:
    /// spread over the pool, each batch of the journal started on a cold cache and read its pages
    /// back from the OS (0.6 reads per webhook under load; 0.26 on one connection, and SQLite's
    /// worker ~6% cheaper, docs/PERFORMANCE.md, session 67).
    writer: Option<DatabaseConnection>,
    /// For PostgreSQL, the pool of shops' reads (see [`Reader`]).
    shop_pool: Option<sea_orm::sqlx::PgPool>,
    /// For PostgreSQL, how the engine's own connections are opened (see
    /// [`Database::engine_connection`]).
    engine: Option<Arc<super::engine::Options>>,
}

/// How often [`Database::run_checkpoints`] checkpoints SQLite's WAL: at ~20,000 webhooks a second
/// a tenth of a second is ~3,000 pages of WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The WAL's size in pages past which SQLite's write connection checkpoints it itself, at the end
/// of a commit (SQLite's default is 1,000). That checkpoint runs on the journal's serial path: at
/// 1,000 pages it copied ~4 MB of WAL into the database file and waited for two `fsync`s every
/// ~750 webhooks (~9% of SQLite's worker under load, docs/PERFORMANCE.md, session 67). With
/// [`Database::run_checkpoints`] beside it, the copying is done by then: the WAL starts over from
/// its beginning only at a commit that finds every frame copied, which a checkpointer racing a
/// busy writer never leaves, so under load the WAL file grows to this size (~40 MB) and the
/// writer's own checkpoint, left only the last frames to copy, lets it start over. Without the
/// checkpointer (a command of the CLI, a test) this alone bounds the WAL.
const WRITER_AUTOCHECKPOINT: u32 = 10_000;

/// How long a connection may sit unused before it is pinged before its next statement (the
/// pools', and the engine's own connections').
pub(super) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A write transaction; on SQLite it also holds the turn to write until it ends.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

impl Database {
    /// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN`
    /// (IMMEDIATE): a deferred transaction that reads first cannot wait for the lock later
    /// (SQLITE_BUSY_SNAPSHOT) if another connection wrote in between.
    pub(crate) async fn begin_write(&self) -> Result<WriteTxn, DbErr> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
        let turn = match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        };
        let txn = self
            .writer
            .as_ref()
            .unwrap_or(&self.conn)
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(WriteTxn { txn, _turn: turn })
    }

    /// Where reads within `scope` run: the pool for an administrator (and on SQLite, where the
    /// stores' filters are the isolation), a connection that reads as the shop under row-level
    /// security on PostgreSQL, set in one round trip (see [`Reader`]). End it with
    /// [`Reader::done`].
    pub async fn reader(&self, scope: &Scope) -> Result<Reader<'_>, DbErr> {
        Ok(match scope {
            Scope::Shop(shop) if let Some(pool) = &self.shop_pool => {
                Reader::shop(ShopReads::begin(pool, shop).await?)
            }
            _ => Reader::pool(&self.conn),
        })
    }

    /// Opens the pool. For SQLite the file and its folder are created if missing, in WAL mode
    /// with the configured `synchronous`, foreign keys on and a busy timeout.
    pub async fn connect(settings: &config::DatabaseSettings) -> Result<Self, Error> {
        let backend = settings.backend()?;
        let url = settings.url.expose_secret();
        let sqlite_file = match backend {
            Backend::Sqlite => sqlite_path(url),
            Backend::Postgres => None,
        };
        if let Some(parent) = sqlite_file.as_ref().and_then(|f| f.parent())
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|source| Error::CreateDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        // The file is made once, here (an empty file is an empty SQLite database). The pool
        // never creates it: a connection opened after the file was deleted under the daemon must
        // fail (and readiness say so), not start a new empty database.
        if let Some(file) = &sqlite_file
            && !file.exists()
        {
            std::fs::File::create(file).map_err(|source| Error::CreateDir {
                path: file.clone(),
                source,
            })?;
        }
        let create = sqlite_file.is_none();
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(settings.max_connections)
            .min_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_timeout(settings.acquire_timeout)
            // A connection is pinged before use only after a second idle: pinging at every
            // acquire was a round trip before each statement, and a connection in steady use
            // has just answered one (a dead one fails its statement, and is dropped).
            .test_before_acquire_if_idle_for(PING_AFTER_IDLE)
            .sqlx_logging(false);
        let synchronous = match settings.sqlite_synchronous {
            SqliteSynchronous::Normal => SqlxSynchronous::Normal,
            SqliteSynchronous::Full => SqlxSynchronous::Full,
            SqliteSynchronous::Extra => SqlxSynchronous::Extra,
        };
        let sqlite = move |o: sea_orm::sqlx::sqlite::SqliteConnectOptions| {
            o.create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        };
        options.map_sqlx_sqlite_opts(sqlite);
        let writer = match &sqlite_file {
            Some(_) => {
                let mut one = options.clone();
                one.max_connections(1).map_sqlx_sqlite_opts(move |o| {
                    sqlite(o).pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT.to_string())
                });
                let mut writer = sea_orm::Database::connect(one).await?;
                writer.set_metric_callback(super::statements::record);
                Some(writer)
            }
            None => None,
        };
        let mut conn = sea_orm::Database::connect(options).await?;
        conn.set_metric_callback(super::statements::record);
        let engine = match backend {
            Backend::Postgres => Some(Arc::new(super::engine::Options::new(
                url,
                settings.acquire_timeout,
            )?)),
            Backend::Sqlite => None,
        };
        let write_turn = (backend == Backend::Sqlite).then(Default::default);
        let shop_pool = match backend {
            Backend::Postgres => Some(super::reader::shop_pool(url, settings)?),
            Backend::Sqlite => None,
        };
        Ok(Self {
            conn,
            backend,
            sqlite_file,
            write_turn,
            writer,
            shop_pool,
            engine,
        })
    }

    /// A connection for one worker of the engine's hot path (a journal writer, a shard's
    /// snapshot loader), whose statements are lookups by key: on PostgreSQL one of its own,
    /// opened at its first statement (see [`EngineConnection`]); on SQLite, the pool.
    pub(crate) fn engine_connection(&self) -> EngineConnection {
        match &self.engine {
            Some(options) => EngineConnection::own(options.clone()),
            None => EngineConnection::pool(self.conn.clone()),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite file, for an embedded database kept on disk.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// Migrations not yet applied, by name.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, Error> {
        Ok(Migrator::get_pending_migrations_read_only(&self.conn)
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect())
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), Error> {
        Ok(Migrator::up(&self.conn, None).await?)
    }

    /// Reverts the last `steps` applied migrations.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), Error> {
        Ok(Migrator::down(&self.conn, Some(steps)).await?)
    }

    /// Every known migration with whether it is applied, oldest first.
    pub async fn migration_status(&self) -> Result<Vec<(String, bool)>, Error> {
        Ok(Migrator::get_migration_with_status_read_only(&self.conn)
            .await?
            .iter()
            .map(|m| {
                (
                    m.name().to_owned(),
                    m.status() == migration::MigrationStatus::Applied,
                )
            })
            .collect())
    }

    /// Ready = reachable, (for SQLite) the file still in place, and no migration pending.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        let check = async {
            if let Some(file) = &self.sqlite_file
                && !file.exists()
            {
                return Err(NotReady(format!(
                    "database file {} is missing",
                    file.display()
                )));
            }
            self.conn
                .ping()
                .await
                .map_err(|e| NotReady(format!("database unreachable: {e}")))?;
            let pending = Migrator::get_pending_migrations_read_only(&self.conn)
                .await
                .map_err(|e| NotReady(format!("cannot read migration status: {e}")))?;
            if !pending.is_empty() {
                return Err(NotReady(format!(
                    "{} migration(s) pending; run `creatorflow migrate up`",
                    pending.len()
                )));
            }
            Ok(())
        };
        tokio::time::timeout(Duration::from_secs(3), check)
            .await
            .unwrap_or_else(|_| Err(NotReady("database did not answer within 3s".into())))
    }

    /// On a SQLite file, checkpoints the WAL every [`CHECKPOINT_EVERY`] until `stop`: copies the
    /// pages written since into the database file from a pool connection, beside the writer
    /// rather than inside one of its commits (see [`WRITER_AUTOCHECKPOINT`]). Returns at once
    /// for PostgreSQL or an in-memory database.
    pub async fn run_checkpoints(self, mut stop: crate::shutdown::Stop) {
        if self.writer.is_none() {
            return;
        }
        loop {
            // PASSIVE: copies what no reader still needs, waiting for no one; never blocks the
            // writer, which appends to the WAL meanwhile.
            if let Err(e) = self
                .conn
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::warn!(error = %e, "cannot checkpoint SQLite's WAL");
            }
            if stop.sleep(CHECKPOINT_EVERY).await {
                return;
            }
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), Error> {
        if let Some(pool) = &self.shop_pool {
            pool.close().await;
        }
        if let Some(writer) = &self.writer {
            writer.close_by_ref().await?;
        }
        Ok(self.conn.close().await?)
    }
}

/// The file behind a `sqlite:` URL, or `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait;

    use super::{Database, sqlite_path};

    /// A database on a SQLite file in a fresh folder (kept while the first value lives), with
    /// the default settings, and the file's path.
    async fn sqlite_file() -> (tempfile::TempDir, std::path::PathBuf, Database) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cf.db");
        let url = format!("sqlite://{}", file.display());
        let env = [("CREATORFLOW__DATABASE__URL".to_owned(), url)].into();
        let settings = crate::config::Settings::load_with_env(None, Some(env))
            .unwrap()
            .database;
        let db = Database::connect(&settings).await.unwrap();
        (dir, file, db)
    }

    /// On a SQLite file every write transaction runs on the same connection, whose page cache
    /// its predecessors kept warm: `total_changes()` counts the rows changed on the connection
    /// it is asked on, so a later write transaction sees the earlier ones' changes.
    #[tokio::test]
    async fn sqlite_writes_share_one_connection() {
        let (_dir, _, db) = sqlite_file().await;
        let changes = async |db: &Database| {
            let txn = db.begin_write().await.unwrap();
            txn.execute_unprepared("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
                .await
                .unwrap();
            txn.execute_unprepared("INSERT INTO t VALUES (1)")
                .await
                .unwrap();
            let total: i64 = txn
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    "SELECT total_changes()",
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index(0)
                .unwrap();
            txn.commit().await.unwrap();
            total
        };
        // Reads in between take pool connections, which a write must not land on.
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(changes(&db).await);
            db.conn.ping().await.unwrap();
        }
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        db.close().await.unwrap();
    }

    /// A commit on the write connection leaves the WAL to the checkpointer beside it: the pages
    /// reach the database file (what a copy of the file alone holds) without the writer copying
    /// them at the end of its commit.
    #[tokio::test]
    async fn sqlite_checkpoints_run_beside_the_writer() {
        let (_dir, file, db) = sqlite_file().await;
        let size = || std::fs::metadata(&file).unwrap().len();
        // ~6 MB: 1,500 pages, past SQLite's default of 1,000 at which a commit checkpoints.
        let txn = db.begin_write().await.unwrap();
        txn.execute_unprepared(
            "CREATE TABLE t (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 \
             FROM n WHERE i < 1500) INSERT INTO t SELECT randomblob(4000) FROM n",
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        assert!(
            size() < 1 << 20,
            "the commit checkpointed: {} bytes",
            size()
        );
        let mut tasks = crate::shutdown::Tasks::new("test");
        let checkpoints = db.clone();
        tasks.spawn("checkpoints", |stop| checkpoints.run_checkpoints(stop));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while size() < 5 << 20 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(size() >= 5 << 20, "not checkpointed: {} bytes", size());
        tasks.stop(std::time::Duration::from_secs(5)).await;
        db.close().await.unwrap();
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/cf.db?mode=rwc").unwrap(),
            std::path::Path::new("data/cf.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/cf/cf.db").unwrap(),
            std::path::Path::new("/var/lib/cf/cf.db")
        );
        assert!(sqlite_path("sqlite::memory:").is_none());
    }
}
