use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use creatorflow::app::Application;
use creatorflow::config::Settings;
use sea_orm::ConnectionTrait;
use tempfile::TempDir;
use tiktok_sandbox::{Options, Sandbox};

pub const BIN: &str = env!("CARGO_BIN_EXE_creatorflow");

/// Polls `check` until it answers `Some` (or `true`), for up to 60 s (a 1,200-item bulk job
/// resumed after `kill -9` took over 30 s on PostgreSQL with the whole CI on two cores); fails
/// naming `what`. The one way tests wait: on something positive, never a fixed sleep.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output: Settled<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await.settled() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after 60 s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What an [`eventually`] check answers: `Some(value)` or `true` once it holds.
pub trait Settled<T> {
    fn settled(self) -> Option<T>;
}

impl<T> Settled<T> for Option<T> {
    fn settled(self) -> Option<T> {
        self
    }
}

impl Settled<()> for bool {
    fn settled(self) -> Option<()> {
        self.then_some(())
    }
}

/// A database of the test's own: a SQLite file in a temporary folder, or a new PostgreSQL
/// database named after a fresh uuid on the server in `CREATORFLOW_TEST_DATABASE_URL`.
pub struct TestDb {
    pub url: String,
    /// The PostgreSQL server's maintenance URL and this test's database name.
    pub postgres: Option<(String, String)>,
    /// Holds the SQLite folder (and is a scratch folder for either backend) until the test ends.
    pub dir: TempDir,
    /// RabbitMQ (`CREATORFLOW_TEST_AMQP_URL`) and this test's own exchange/queue prefix; `None`
    /// runs the in-process bus.
    pub amqp: Option<(String, String)>,
}

/// The bus subscriptions the daemon declares queues for (deleted after each test).
pub const SUBSCRIPTIONS: [&str; 4] = ["inventory", "notify", "tracking", "workflow"];

/// The PostgreSQL server tests run against (`CREATORFLOW_TEST_DATABASE_URL`), if they do.
pub fn test_database_url() -> Option<String> {
    std::env::var("CREATORFLOW_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A connection to the test server's maintenance database, to create and drop databases.
async fn admin(base: &str) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(base)
        .await
        .expect("CREATORFLOW_TEST_DATABASE_URL must point at a reachable PostgreSQL")
}

/// Runs `work` to its end on a thread and runtime of its own: from a test's runtime (or its
/// `Drop`), which cannot block on async work itself.
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()
            .map(|runtime| runtime.block_on(work))
    })
    .join()
    .ok()
    .flatten()
}

/// The RabbitMQ URL tests run against, if they do.
pub fn test_amqp_url() -> Option<String> {
    std::env::var("CREATORFLOW_TEST_AMQP_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl TestDb {
    /// A migrated database: a copy of this test process's [`Template`].
    pub async fn new() -> Self {
        Self::made(true).await
    }

    /// A database no migration has touched, for the tests of migrating itself.
    pub async fn empty() -> Self {
        Self::made(false).await
    }

    async fn made(migrated: bool) -> Self {
        creatorflow::integrations::install_tls();
        let dir = tempfile::tempdir().expect("a temporary folder can be made");
        let amqp = test_amqp_url().map(|url| {
            (
                url,
                format!(
                    "cf_test_{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                ),
            )
        });
        let template = migrated.then(Template::get);
        match test_database_url() {
            Some(base) => {
                let name = format!("cf_test_{}", uuid::Uuid::new_v4().simple());
                let admin = admin(&base).await;
                let from = match template {
                    Some(Template::Postgres(template)) => format!(" TEMPLATE \"{template}\""),
                    _ => String::new(),
                };
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\"{from}"))
                    .await
                    .expect("the test user may create databases");
                admin.close().await.ok();
                let url = with_database(&base, &name);
                Self {
                    url,
                    postgres: Some((base, name)),
                    dir,
                    amqp,
                }
            }
            None => {
                let file = dir.path().join("creatorflow.db");
                if let Some(Template::Sqlite(bytes)) = template {
                    std::fs::write(&file, bytes).expect("the template database can be copied");
                }
                Self {
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    postgres: None,
                    dir,
                    amqp,
                }
            }
        }
    }

    /// Another handle on the same database (a second node's): its own scratch folder.
    pub fn sharing(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            postgres: self.postgres.clone(),
            dir: tempfile::tempdir().unwrap(),
            amqp: self.amqp.clone(),
        }
    }

    /// Makes the database vanish under a running daemon: the SQLite file is deleted, the
    /// PostgreSQL database dropped with its connections.
    pub async fn destroy(&self) {
        match &self.postgres {
            Some((base, name)) => {
                let admin = admin(base).await;
                admin
                    .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                    .await
                    .unwrap();
                admin.close().await.ok();
            }
            None => {
                for entry in std::fs::read_dir(self.dir.path()).unwrap() {
                    std::fs::remove_file(entry.unwrap().path()).unwrap();
                }
            }
        }
    }

    /// Environment that points the `creatorflow` binary at this database.
    pub fn env(&self) -> HashMap<String, String> {
        let mut env = self.base_env();
        if let Some((url, prefix)) = &self.amqp {
            env.insert("CREATORFLOW__BUS__AMQP_URL".to_owned(), url.clone());
            env.insert("CREATORFLOW__BUS__PREFIX".to_owned(), prefix.clone());
        }
        env
    }

    fn base_env(&self) -> HashMap<String, String> {
        HashMap::from([
            ("CREATORFLOW__DATABASE__URL".to_owned(), self.url.clone()),
            (
                "CREATORFLOW__HTTP__LISTEN".to_owned(),
                "127.0.0.1:0".to_owned(),
            ),
            ("CREATORFLOW__LOG__LEVEL".to_owned(), "info".to_owned()),
            // Workflows move orders on by themselves; tests of the engine keep them still, the
            // workflow tests turn them on.
            (
                "CREATORFLOW__WORKFLOW__ENABLED".to_owned(),
                "false".to_owned(),
            ),
            // Tests run in parallel against one PostgreSQL server (max_connections = 100): keep
            // each daemon's pool small so they all fit.
            (
                "CREATORFLOW__DATABASE__MAX_CONNECTIONS".to_owned(),
                "4".to_owned(),
            ),
        ])
    }

    pub fn settings(&self) -> Settings {
        let mut env = self.env();
        env.insert("CREATORFLOW__LOG__LEVEL".to_owned(), "warn".to_owned());
        Settings::load_with_env(None, Some(env)).expect("test settings are valid")
    }
}

/// The migrated database every [`TestDb::new`] starts as a copy of, made once per test process:
/// migrating a fresh database cost ~0.2 s of CPU in a debug build (SQLite parses its growing
/// schema again after each DDL statement), a quarter of the embedded suite's CPU over ~150
/// databases.
pub enum Template {
    /// The migrated SQLite file, whole.
    Sqlite(Vec<u8>),
    /// A migrated PostgreSQL database that refuses connections (a template must have none),
    /// `cf_test_template_<pid>_…`: CI drops every `cf_test_%` database; a later test process
    /// drops those whose process is gone.
    Postgres(String),
}

static TEMPLATE: std::sync::OnceLock<Template> = std::sync::OnceLock::new();

impl Template {
    /// This process's template, made by the first test to ask (the others wait for it).
    fn get() -> &'static Template {
        // The asking test's runtime is blocked meanwhile.
        TEMPLATE.get_or_init(|| {
            on_own_runtime(Template::make()).expect("the template database is made")
        })
    }

    async fn make() -> Template {
        let migrate = |url: String| async move {
            let env = HashMap::from([("CREATORFLOW__DATABASE__URL".to_owned(), url)]);
            let settings = Settings::load_with_env(None, Some(env)).expect("valid settings");
            let database = creatorflow::persistence::Database::connect(&settings.database)
                .await
                .expect("the template database opens");
            database.migrate_up().await.expect("the template migrates");
            database.close().await.expect("the template closes");
        };
        match test_database_url() {
            Some(base) => {
                let admin = admin(&base).await;
                let stale: Vec<String> = admin
                    .query_all_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        "SELECT datname FROM pg_database WHERE datname LIKE 'cf\\_test\\_template\\_%'",
                    ))
                    .await
                    .expect("the databases can be listed")
                    .iter()
                    .filter_map(|row| row.try_get_by_index::<String>(0).ok())
                    .filter(|name| {
                        let pid = name.split('_').nth(3).unwrap_or_default();
                        !Path::new(&format!("/proc/{pid}")).exists()
                    })
                    .collect();
                for name in stale {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    admin.execute_unprepared(&drop).await.ok();
                }
                let name = format!(
                    "cf_test_template_{}_{}",
                    std::process::id(),
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                );
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("the test user may create databases");
                migrate(with_database(&base, &name)).await;
                admin
                    .execute_unprepared(&format!(
                        "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
                    ))
                    .await
                    .expect("the template can refuse connections");
                admin.close().await.ok();
                Template::Postgres(name)
            }
            None => {
                let dir = tempfile::tempdir().expect("a temporary folder can be made");
                let file = dir.path().join("template.db");
                migrate(format!("sqlite://{}?mode=rwc", file.display())).await;
                // One self-contained file, whatever the write-ahead log still held.
                let whole = dir.path().join("whole.db");
                let raw = sea_orm::Database::connect(format!("sqlite://{}", file.display()))
                    .await
                    .expect("the template reopens");
                raw.execute_unprepared(&format!("VACUUM INTO '{}'", whole.display()))
                    .await
                    .expect("the template is copied whole");
                raw.close().await.ok();
                Template::Sqlite(std::fs::read(whole).expect("the copy is read"))
            }
        }
    }
}

/// A PostgreSQL test database is dropped with the test, connections and all, so parallel tests
/// never pile up connections (the server allows 100) or databases.
impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime; the async work runs on a thread of its own.
        if let Some((url, prefix)) = self.amqp.take() {
            on_own_runtime(async move {
                creatorflow::bus::amqp::delete_topology(&url, &prefix, &SUBSCRIPTIONS)
                    .await
                    .ok()
            });
        }
        if let Some((base, name)) = self.postgres.take() {
            on_own_runtime(async move {
                let admin = sea_orm::Database::connect(&base).await.ok()?;
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                admin.execute_unprepared(&drop).await.ok()?;
                admin.close().await.ok()
            });
        }
    }
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url, format!("?{query}")),
        None => (base, String::new()),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let server = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    format!("{server}/{name}{query}")
}

/// TikTok's official webhook test credentials (app key `abcdef`, secret `123`).
pub fn tiktok_app(settings: &mut Settings) {
    settings.tiktok.app_key = "abcdef".into();
    settings.tiktok.app_secret = "123".into();
}

/// Milliseconds, for settings.
pub fn ms(n: u64) -> std::time::Duration {
    std::time::Duration::from_millis(n)
}

/// A daemon built in-process, exactly as `creatorflow serve` builds it, on port 0.
pub struct TestApp {
    pub address: String,
    /// The order engine of this app, as handlers use it.
    pub registry: creatorflow::actors::RegistryHandle,
    pub bus: creatorflow::bus::Bus,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    stop: StopOnDrop,
    task: actix_rt::task::JoinHandle<anyhow::Result<()>>,
}

/// Fires the shutdown trigger when dropped, so a test that ends without [`TestApp::stop`] still
/// frees its port and pool.
struct StopOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    let app = spawn_app_on(TestDb::new().await).await;
    assert!(
        !app.admin_key.is_empty(),
        "a fresh database gets an admin key"
    );
    app
}

pub async fn spawn_app_on(db: TestDb) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Like [`spawn_app_on`], with the settings changed by `configure` (typed: a misspelt setting
/// does not compile).
pub async fn spawn_app_with(db: TestDb, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = db.settings();
    configure(&mut settings);
    let mut app = Application::build(&settings).await.expect("the app builds");
    // Empty when the database already had keys (a restart).
    let admin_key = app
        .take_first_admin_key()
        .map(|key| key.reveal().to_owned())
        .unwrap_or_default();
    let address = format!("http://{}", app.addr());
    let registry = app.registry().clone();
    let bus = app.bus().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = actix_rt::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        registry,
        bus,
        admin_key,
        client: reqwest::Client::new(),
        db,
        stop: StopOnDrop(Some(stop)),
        task,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.expect("the daemon answers")
    }

    /// A series' value as `/metrics` exports it (`name` with its labels, if any). Every app
    /// of the test process shares one recorder: compare before and after, not to zero.
    pub async fn metric(&self, name: &str) -> f64 {
        let metrics = self.get("/metrics", None).await.text().await.unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} is exported"))
            .parse()
            .unwrap()
    }

    /// Hands the order engine a TikTok status of `order` (of `shop`, at TikTok's time `t`), as
    /// a poll would; the engine's answer.
    pub async fn status(
        &self,
        shop: &str,
        order: &str,
        status: creatorflow::domain::OrderStatus,
        t: i64,
    ) -> Result<creatorflow::actors::Reply, creatorflow::actors::Error> {
        use creatorflow::domain::{Cause, Msg, OrderId, ShopId};
        self.registry
            .submit(
                OrderId::parse(order).unwrap(),
                creatorflow::actors::Envelope {
                    msg: Msg::Status {
                        shop_id: ShopId::parse(shop).unwrap(),
                        status,
                        update_time: t,
                    },
                    cause: Cause::Poll,
                    inbox: None,
                },
            )
            .await
    }

    /// Polls `GET path` (as the admin) until its JSON satisfies `check`; returns it.
    pub async fn get_until(
        &self,
        path: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        eventually(&format!("GET {path} to satisfy the check"), || async {
            let response = self.get(path, Some(&self.admin_key)).await;
            if response.status() != 200 {
                return None;
            }
            let body: serde_json::Value = response.json().await.ok()?;
            check(&body).then_some(body)
        })
        .await
    }

    pub async fn post_json(
        &self,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("the daemon answers")
    }

    /// Registers a shop through the CLI's code path and returns a key scoped to it.
    pub async fn shop_with_key(&self, shop_id: &str) -> String {
        let response = self
            .post_json(
                "/api/v1/shops",
                &self.admin_key,
                &serde_json::json!({ "tiktok_shop_id": shop_id, "name": format!("Shop {shop_id}") }),
            )
            .await;
        assert_eq!(response.status(), 201, "admin can add shop {shop_id}");
        // Off the runtime's thread: the in-process daemon must keep running meanwhile (a
        // transaction it holds open would otherwise block the CLI's write).
        let mut command = cli_command(&self.db, &["apikey", "create", "--shop", shop_id]);
        let out = tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
            .await
            .expect("the CLI thread did not panic");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Fires the shutdown trigger, waits for the ordered stop to finish cleanly, and hands back
    /// the database for a restart.
    pub async fn stop(self) -> TestDb {
        drop(self.stop);
        self.task
            .await
            .expect("the app task did not panic")
            .expect("the app stopped cleanly");
        self.db
    }
}

/// Asserts a problem+json error with this status and code, and returns its body.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    body
}

/// Runs the `creatorflow` binary against `db` and waits for it.
pub fn run_cli(db: &TestDb, args: &[&str]) -> Output {
    cli_command(db, args).output().expect("the binary runs")
}

pub fn cli_command(db: &TestDb, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(db.dir.path())
        .env_remove("CREATORFLOW_CONFIG")
        .env_remove("RUST_LOG")
        .envs(db.env());
    command
}

/// A `creatorflow serve` child process, with its stderr read on a thread.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin_key: String,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Daemon {
    pub fn start(db: &TestDb) -> Self {
        Self::start_with(db, &[])
    }

    /// Starts `creatorflow serve` with extra environment variables.
    pub fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Self {
        let mut child = cli_command(db, &["serve"])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut daemon = Self {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            admin_key: String::new(),
            lines,
            log: Vec::new(),
        };
        let url = daemon.wait_for_line("Open http://", Duration::from_secs(30));
        let url = url.split("Open http://").nth(1).unwrap();
        daemon.addr = url.split('/').next().unwrap().parse().unwrap();
        daemon.admin_key = daemon
            .log
            .iter()
            .find_map(|l| l.trim().strip_prefix("cf_").map(|k| format!("cf_{k}")))
            .expect("first start prints an admin key");
        daemon
    }

    /// Reads stderr until a line containing `needle`, failing after `deadline`.
    pub fn wait_for_line(&mut self, needle: &str, deadline: Duration) -> String {
        let until = std::time::Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {deadline:?}; log: {:#?}",
                    self.log
                ),
            }
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("the daemon is alive");
    }

    /// Waits for exit, failing after `deadline`.
    pub fn wait_exit(&mut self, deadline: Duration) -> std::process::ExitStatus {
        let until = std::time::Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.try_recv() {
                    self.log.push(line);
                }
                return status;
            }
            assert!(
                std::time::Instant::now() < until,
                "the daemon did not exit in {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The commit a journal receives when order `order` of shop `shop` is first seen with
/// `status`, as the order's actor builds it: its creation events, the effects `decide` gives
/// them (detail fetch, transition), and `key` as the delivery's dedupe key.
pub fn creation_commit(
    shop: &str,
    order: &str,
    status: &str,
    key: Option<&str>,
) -> creatorflow::journal::Commit {
    use creatorflow::domain::{Msg, Order, OrderId, OrderStatus, ShopId, decide};
    let id = OrderId::parse(order).unwrap();
    let msg = Msg::Status {
        shop_id: ShopId::parse(shop).unwrap(),
        status: OrderStatus::parse(status),
        update_time: 1_700_000_000,
    };
    let decision = decide(&id, None, &msg).unwrap();
    let (order, applied) = Order::advance(None, &id, decision.events).unwrap();
    creatorflow::journal::Commit {
        order,
        applied,
        cause: "test".into(),
        inbox: key.map(|k| creatorflow::journal::InboxEntry {
            dedupe_key: k.into(),
            event_type: 1,
        }),
        effects: decision.effects,
        trace: None,
    }
}

// The TikTok sandbox: a shop, daemons pointed at it, orders ready to ship.

pub const SHOP: &str = "7494049642642441621";

/// Settings pointing the daemon at `sandbox`, with fast retries.
pub fn sandbox_env(db: &TestDb, sandbox: &Sandbox) -> std::collections::HashMap<String, String> {
    let mut env = db.env();
    for (k, v) in [
        ("CREATORFLOW__TIKTOK__APP_KEY", "abcdef".to_owned()),
        ("CREATORFLOW__TIKTOK__APP_SECRET", "123".to_owned()),
        ("CREATORFLOW__TIKTOK__API_BASE_URL", sandbox.url()),
        ("CREATORFLOW__TIKTOK__AUTH_BASE_URL", sandbox.url()),
        ("CREATORFLOW__TIKTOK__RETRY_BASE", "10ms".to_owned()),
        ("CREATORFLOW__LOG__LEVEL", "warn".to_owned()),
    ] {
        env.insert(k.to_owned(), v);
    }
    env
}

/// `shop add --auth-code` for the sandbox's shop, as an operator runs it.
pub fn authorise_command(db: &TestDb, sandbox: &Sandbox, code: &str) -> Command {
    let mut command = cli_command(
        db,
        &[
            "shop",
            "add",
            "--tiktok-shop-id",
            SHOP,
            "--name",
            "Glow Labs",
            "--auth-code",
            code,
        ],
    );
    command.envs(sandbox_env(db, sandbox));
    command
}

/// Points a daemon's TikTok settings at `sandbox`.
pub fn point_at(settings: &mut Settings, sandbox: &Sandbox) {
    crate::helpers::tiktok_app(settings);
    settings.tiktok.api_base_url = sandbox.url();
    settings.tiktok.auth_base_url = sandbox.url();
    settings.tiktok.retry_base = crate::helpers::ms(10);
}

pub fn sandbox() -> Sandbox {
    Sandbox::start(Options::new("abcdef", "123")).expect("the sandbox starts")
}

pub async fn spawn_against(sandbox: &Sandbox, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_against_db(sandbox, TestDb::new().await, configure).await
}

/// A daemon on `db` pointed at `sandbox` (its TikTok settings), receiving its webhooks.
pub async fn spawn_against_db(
    sandbox: &Sandbox,
    db: TestDb,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let app = spawn_app_with(db, |s| {
        point_at(s, sandbox);
        configure(s);
    })
    .await;
    sandbox.set_webhook_url(&app.url("/webhooks/tiktok"));
    app
}

pub async fn spawn_with_workflows(
    sandbox: &Sandbox,
    db: TestDb,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let app = spawn_against_db(sandbox, db, |s| {
        s.workflow.enabled = true;
        configure(s);
    })
    .await;
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let mut command = authorise_command(&app.db, sandbox, &code);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app
}

/// A paid order past the remorse window, as TikTok announces it.
pub fn ready_order(sandbox: &Sandbox, units: usize) -> String {
    let id = sandbox.create_order(SHOP, units, true);
    sandbox.set_status(&id, "ON_HOLD", true);
    sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
    id
}

/// Creates order `id` of `shop` at `status` through the engine, as a poll would (one event).
pub async fn order_at(
    app: &TestApp,
    shop: &str,
    id: &str,
    status: creatorflow::domain::OrderStatus,
) {
    use creatorflow::actors::{Envelope, Reply};
    use creatorflow::domain::{Cause, Msg, OrderId, ShopId};
    let envelope = Envelope {
        msg: Msg::Status {
            shop_id: ShopId::parse(shop).unwrap(),
            status,
            update_time: 1_700_000_000,
        },
        cause: Cause::Poll,
        inbox: None,
    };
    let reply = app
        .registry
        .submit(OrderId::parse(id).unwrap(), envelope)
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Applied { .. }), "{reply:?}");
}

/// Applies TikTok's `detail` of order `id` of `shop`, as the detail fetcher does.
pub async fn detail_of(app: &TestApp, shop: &str, id: &str, detail: creatorflow::domain::Detail) {
    use creatorflow::actors::Envelope;
    use creatorflow::domain::{Cause, Msg, OrderId, ShopId};
    let envelope = Envelope {
        msg: Msg::Detail {
            shop_id: ShopId::parse(shop).unwrap(),
            detail: Box::new(detail),
        },
        cause: Cause::Integration("tiktok".into()),
        inbox: None,
    };
    app.registry
        .submit(OrderId::parse(id).unwrap(), envelope)
        .await
        .unwrap();
}

/// TikTok reports a cancellation (`cancel`) or return request of order `id` in `status` at
/// unix time `t`, as its webhooks 11 and 12 do.
pub async fn request_of(app: &TestApp, shop: &str, id: &str, request: &str, status: &str, t: i64) {
    use creatorflow::actors::Envelope;
    use creatorflow::domain::{AfterSale, AfterSaleKind, Cause, Msg, OrderId, ShopId};
    let kind = if status.starts_with("CANCELLATION") {
        AfterSaleKind::Cancellation
    } else {
        AfterSaleKind::Return
    };
    let envelope = Envelope {
        msg: Msg::AfterSale {
            shop_id: ShopId::parse(shop).unwrap(),
            update: Box::new(AfterSale {
                kind,
                id: request.into(),
                status: status.into(),
                role: Some("BUYER".into()),
                return_type: (kind == AfterSaleKind::Return).then(|| "REFUND".into()),
                time: t,
            }),
        },
        cause: Cause::Webhook(format!("tts:{request}-{status}-{t}").into()),
        inbox: None,
    };
    app.registry
        .submit(OrderId::parse(id).unwrap(), envelope)
        .await
        .unwrap();
}

/// TikTok's detail of an order of three units (SKU-A twice, SKU-B once) totalling `total` USD.
pub fn sample_detail(total: &str, t: i64) -> creatorflow::domain::Detail {
    let money = |a: &str| serde_json::json!({ "amount": a, "currency": "USD" });
    let item = |id: &str, sku: &str| {
        serde_json::json!({
            "id": id, "sku": sku, "product_id": "1729", "product_name": "Glow serum", "sku_name": null,
            "seller_sku": "GS-30", "sale_price": money("10.00"), "original_price": money("12.00"),
            "display_status": null, "package_id": null
        })
    };
    serde_json::from_value(serde_json::json!({
        "status": "AWAITING_SHIPMENT",
        "update_time": t,
        "create_time": t - 60,
        "payment": {
            "currency": "USD", "total_amount": money(total), "sub_total": money("20.00"),
            "shipping_fee": money("4.00"), "seller_discount": money("3.00"),
            "platform_discount": money("1.00"), "original_total_product_price": money("24.00"),
            "original_shipping_fee": null, "shipping_fee_seller_discount": null,
            "shipping_fee_platform_discount": null, "tax": money("1.60"), "retail_delivery_fee": null
        },
        "items": [item("L1", "SKU-A"), item("L2", "SKU-A"), item("L3", "SKU-B")],
        "recipient": { "name": "A. Buyer", "region_code": "US" },
        "rts_sla_time": t + 86400, "tts_sla_time": null, "delivery_sla_time": null
    }))
    .unwrap()
}

/// Counts `on_hand` units of `sku` in [`SHOP`] through the API, as the admin.
pub async fn put_stock(app: &TestApp, sku: &str, on_hand: i64) {
    let response = app
        .client
        .put(app.url(&format!("/api/v1/inventory/{SHOP}/{sku}")))
        .bearer_auth(&app.admin_key)
        .json(&serde_json::json!({ "on_hand": on_hand }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1/test", "x"),
            "postgres://postgres@127.0.0.1/x"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h:5432/test?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
    }
}
