//! The typed configuration tree.
//!
//! Layers, later ones winning: `config/default.toml` (compiled into the binary, so the daemon
//! runs from any directory), the file named by `--config` or `CREATORFLOW_CONFIG`, then
//! environment variables `CREATORFLOW__SECTION__KEY`. Unknown keys are errors, so a typo fails
//! at start instead of being silently ignored; every error names the key it is about.
//! Secrets (`database.url`, `bus.amqp_url`, `tiktok.app_secret`) are wrapped in [`SecretString`]
//! and never printed, not even by `Debug`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The defaults, documented in place.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "CREATORFLOW";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer could not be read or a value has the wrong type; the message names the key.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value has the right type but is not acceptable.
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub bus: BusSettings,
    pub cluster: ClusterSettings,
    pub inventory: InventorySettings,
    pub notify: NotifySettings,
    pub bulk: BulkSettings,
    pub shipping: ShippingSettings,
    pub tiktok: TikTokSettings,
    pub engine: EngineSettings,
    pub journal: JournalSettings,
    pub log: LogSettings,
    pub telemetry: TelemetrySettings,
    pub workflow: WorkflowSettings,
    /// Feature flags by name; `PUT /api/v1/flags/{name}` changes one at run time.
    #[serde(default)]
    pub flags: BTreeMap<String, FlagSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub public_url: String,
    pub workers: usize,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub rate_limit: RateLimitSettings,
}

/// Requests per API key (or client address without one) on `/api/v1` and `/graphql`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Sustained requests a second; 0 = no limit.
    pub per_second: u32,
    /// Requests at once after a quiet spell (at least `per_second`).
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    pub sqlite_synchronous: SqliteSynchronous,
}

/// SQLite's `PRAGMA synchronous`, restricted to the settings that keep committed data across a
/// crash of the daemon in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Normal,
    Full,
    Extra,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSettings {
    pub amqp_url: SecretString,
    pub prefix: String,
    pub prefetch: u16,
    /// Deliveries of one message before RabbitMQ dead-letters it (quorum `x-delivery-limit`).
    pub delivery_limit: u32,
    /// Outbox rows the relay publishes per round.
    pub relay_batch: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippingSettings {
    /// Base URL of a generic HTTP label API for orders the seller ships (`POST
    /// <url>/shipments`); empty = none (TikTok-shipped orders need none).
    pub label_api_url: String,
    /// Bearer key of the label API. A secret: never logged.
    pub label_api_key: SecretString,
    /// TikTok's `shipping_provider_id` per carrier name (lowercase) the label API answers.
    pub tiktok_provider_ids: HashMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkSettings {
    /// Items acted on per second at most.
    pub items_per_second: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Attempts per delivery before it is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles each attempt, with jitter, up to an hour.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest wait for the creator's endpoint to answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventorySettings {
    /// Refuse to reserve SKUs that have no stock record (default: untracked = always available).
    pub require_tracking: bool,
    /// A reservation not committed (shipped) within this time is released.
    #[serde(with = "humantime_serde")]
    pub reservation_ttl: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TikTokSettings {
    pub app_key: String,
    pub app_secret: SecretString,
    pub api_base_url: String,
    pub auth_base_url: String,
    pub max_webhook_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How far back each poll reaches before the previous one ended (late updates).
    #[serde(with = "humantime_serde")]
    pub poll_overlap: Duration,
    /// 64 hex digits; empty = derived from `app_secret`. Encrypts seller tokens at rest.
    pub token_key: SecretString,
    /// Keys stored values may still be sealed with (during a rotation): opened, never used
    /// to seal. `creatorflow secrets rotate` re-seals them with `token_key`.
    #[serde(default)]
    pub previous_token_keys: Vec<SecretString>,
    /// Requests per second per shop (TikTok's quota is per app and shop).
    pub requests_per_second: u32,
    /// Retries of a failed call (429, 36009002, 5xx, timeouts), with exponential backoff.
    pub max_retries: usize,
    /// First backoff delay; doubles per retry, with jitter, up to 60 s.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    pub shards: usize,
    #[serde(with = "humantime_serde")]
    pub passivate_after: Duration,
    pub max_live_orders: usize,
    pub mailbox_capacity: usize,
}

/// Several nodes on one PostgreSQL (see `cluster`): each order's slot has one owner at a time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    pub enabled: bool,
    /// This node's name among the nodes; empty = `<hostname>-<http port>`.
    pub node_id: String,
    /// Where the other nodes reach this one (internal HTTP); empty = `http://<http.listen>`.
    pub advertise_url: String,
    /// How long a slot stays this node's without a renewal (measured by the database clock).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often this node renews its leases, says it is alive and rebalances slots.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Shared by every node: authenticates the messages one node forwards to a slot's owner.
    pub secret: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSettings {
    pub max_batch: usize,
    /// Concurrent writer transactions; 0 = automatic (1 on SQLite, 4 on PostgreSQL).
    pub writers: usize,
    /// Longest wait of a batch's first item for company (none by default: the commits queue
    /// behind the writers in flight meanwhile, so batches grow while the database is busy, and
    /// a wait only kept the database idle; docs/PERFORMANCE.md, session 68).
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSettings {
    /// Folder of templates and `rules.toml`; empty = the ones compiled in.
    pub dir: String,
    /// Whether fulfilment workflows run at all.
    pub enabled: bool,
    /// Steps executed at once; ready steps run most urgent (TikTok's rts_sla_time) first.
    pub concurrency: usize,
    /// Steps of one action kind executed at once, for kinds that need a tighter limit
    /// (e.g. `ship = 4`); they queue most urgent first.
    pub action_concurrency: HashMap<String, usize>,
}

/// Traces (see `telemetry::traces`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP/HTTP traces endpoint (e.g. `http://127.0.0.1:4318/v1/traces`); empty: no traces.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

/// A feature flag as configured: its rollout at start, until changed through the API (a
/// change is kept in the database and wins over this from then on).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSettings {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub enabled: bool,
    /// Share of shops (0 to 100) that get it, chosen by a stable hash of the shop id.
    #[serde(default)]
    pub percent: u32,
    /// Shops that get it at any percentage.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Shops that never get it.
    #[serde(default)]
    pub deny: Vec<String>,
}

impl FlagSettings {
    pub fn rollout(&self) -> Result<crate::domain::Rollout, crate::domain::Invalid> {
        crate::domain::Rollout::parse(self.enabled, self.percent, &self.allow, &self.deny)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Which database the URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Settings {
    /// Reads the defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Error> {
        Self::load_with_env(file, None)
    }

    /// Like [`Settings::load`], with the environment given as a map (`None` = the process's).
    /// Tests use it to layer variables without touching the process environment.
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<HashMap<String, String>>,
    ) -> Result<Self, Error> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // `CREATORFLOW__TIKTOK__PREVIOUS_TOKEN_KEYS=key1,key2`
                    .list_separator(",")
                    .with_list_parse_key("tiktok.previous_token_keys")
                    .source(env),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |key, reason: &str| {
            Err(Error::Invalid {
                key,
                reason: reason.to_owned(),
            })
        };
        let backend = self.database.backend()?;
        if self.cluster.enabled {
            if backend != Backend::Postgres {
                return invalid(
                    "cluster.enabled",
                    "needs PostgreSQL (database.url = postgres://…): SQLite is one node's database",
                );
            }
            if self.cluster.heartbeat.is_zero() || self.cluster.heartbeat * 2 > self.cluster.lease {
                return invalid(
                    "cluster.heartbeat",
                    "must be more than 0 and at most half of cluster.lease",
                );
            }
            if self.cluster.secret.expose_secret().len() < 16 {
                return invalid(
                    "cluster.secret",
                    "must be set in cluster mode (at least 16 characters, the same on every node): it authenticates what nodes forward to each other",
                );
            }
            let url = &self.cluster.advertise_url;
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(
                    "cluster.advertise_url",
                    "must be empty or an http(s):// URL",
                );
            }
            // Other nodes would connect to themselves: every forwarded message would miss.
            let unspecified = ["://0.0.0.0", "://[::]"].iter().any(|a| url.contains(a));
            if unspecified || (url.is_empty() && self.http.listen.ip().is_unspecified()) {
                return invalid(
                    "cluster.advertise_url",
                    &format!(
                        "must be an address the other nodes reach this one at (http://10.0.0.5:{}), not an unspecified one: http.listen is {}",
                        self.http.listen.port(),
                        self.http.listen
                    ),
                );
            }
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        let amqp = self.bus.amqp_url.expose_secret();
        if !(amqp.is_empty() || amqp.starts_with("amqp://")) {
            return invalid(
                "bus.amqp_url",
                "must be empty (in-process bus) or start with amqp:// (amqps is not built in)",
            );
        }
        if self.bus.prefetch == 0 {
            return invalid("bus.prefetch", "must be at least 1");
        }
        if self.bus.delivery_limit == 0 {
            return invalid("bus.delivery_limit", "must be at least 1");
        }
        let labels = &self.shipping.label_api_url;
        if !(labels.is_empty() || labels.starts_with("http://") || labels.starts_with("https://")) {
            return invalid(
                "shipping.label_api_url",
                "must be empty (no label API) or an http(s) URL",
            );
        }
        if self.bulk.items_per_second == 0 {
            return invalid("bulk.items_per_second", "must be at least 1");
        }
        if self.notify.max_attempts == 0 {
            return invalid("notify.max_attempts", "must be at least 1");
        }
        if self.bus.relay_batch == 0 {
            return invalid("bus.relay_batch", "must be at least 1");
        }
        if self.bus.prefix.is_empty() || !self.bus.prefix.chars().all(is_name_char) {
            return invalid(
                "bus.prefix",
                "must be non-empty letters, digits, '-', '_' or '.'",
            );
        }
        if self.bus.prefetch == 0 {
            return invalid("bus.prefetch", "must be at least 1");
        }
        for (key, url) in [
            ("tiktok.api_base_url", &self.tiktok.api_base_url),
            ("tiktok.auth_base_url", &self.tiktok.auth_base_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(key, "must start with http:// or https://");
            }
        }
        if self.tiktok.max_webhook_bytes == 0 {
            return invalid("tiktok.max_webhook_bytes", "must be at least 1");
        }
        if self.tiktok.poll_interval.is_zero() {
            return invalid("tiktok.poll_interval", "must be longer than zero");
        }
        if self.tiktok.requests_per_second == 0 {
            return invalid("tiktok.requests_per_second", "must be at least 1");
        }
        if self.tiktok.request_timeout.is_zero() {
            return invalid("tiktok.request_timeout", "must be longer than zero");
        }
        let key = self.tiktok.token_key.expose_secret();
        if !key.is_empty() && (key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit())) {
            return invalid("tiktok.token_key", "must be empty or 64 hexadecimal digits");
        }
        for old in &self.tiktok.previous_token_keys {
            let old = old.expose_secret();
            if old.len() != 64 || !old.chars().all(|c| c.is_ascii_hexdigit()) {
                return invalid(
                    "tiktok.previous_token_keys",
                    "each must be 64 hexadecimal digits",
                );
            }
        }
        if self.engine.max_live_orders == 0 {
            return invalid("engine.max_live_orders", "must be at least 1");
        }
        if self.engine.mailbox_capacity == 0 {
            return invalid("engine.mailbox_capacity", "must be at least 1");
        }
        if self.engine.passivate_after.is_zero() {
            return invalid("engine.passivate_after", "must be longer than zero");
        }
        if self.journal.max_batch == 0 {
            return invalid("journal.max_batch", "must be at least 1");
        }
        if self.workflow.concurrency == 0 {
            return invalid("workflow.concurrency", "must be at least 1");
        }
        if let Some((kind, _)) = self
            .workflow
            .action_concurrency
            .iter()
            .find(|(_, l)| **l == 0)
        {
            return Err(Error::Invalid {
                key: "workflow.action_concurrency",
                reason: format!("`{kind}` must be at least 1"),
            });
        }
        let otlp = &self.telemetry.otlp_endpoint;
        if !(otlp.is_empty() || otlp.starts_with("http://") || otlp.starts_with("https://")) {
            return invalid(
                "telemetry.otlp_endpoint",
                "must be empty (no traces) or an http(s) URL such as http://127.0.0.1:4318/v1/traces",
            );
        }
        if self.telemetry.service_name.trim().is_empty() {
            return invalid("telemetry.service_name", "must not be empty");
        }
        for (name, flag) in &self.flags {
            if let Err(e) = crate::domain::flag::check_name(name).and_then(|()| flag.rollout()) {
                return Err(Error::Invalid {
                    key: "flags",
                    reason: format!("flag `{name}`: {e}"),
                });
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.level) {
            return invalid("log.level", &e.to_string());
        }
        Ok(())
    }
}

impl HttpSettings {
    /// The URL printed for operators: `public_url`, else one derived from `listen`.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        if self.public_url.is_empty() {
            format!("http://{bound}/")
        } else {
            self.public_url.clone()
        }
    }
}

impl DatabaseSettings {
    /// Which backend `url` selects; an unsupported scheme is a configuration error.
    pub fn backend(&self) -> Result<Backend, Error> {
        let url = self.url.expose_secret();
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::Invalid {
                key: "database.url",
                reason: "must start with sqlite:// or postgres://".to_owned(),
            })
        }
    }
}

impl Settings {
    /// `journal.writers`, with 0 meaning what suits the backend: 4 on PostgreSQL, whose
    /// overlapping transactions are throughput; 1 on SQLite, which writes one at a time; 1 on
    /// a cluster node, whose share of the webhooks made four writers' batches a quarter the
    /// size, and every node's statements land on the one primary (three nodes: 13% less of
    /// PostgreSQL's CPU per webhook with one writer each; docs/SCALING.md).
    pub fn journal_writers(&self) -> usize {
        match (self.journal.writers, self.database.backend()) {
            (0, Ok(Backend::Postgres)) if !self.cluster.enabled => 4,
            (0, _) => 1,
            (n, _) => n,
        }
    }
}

impl EngineSettings {
    /// `shards`, with 0 meaning one per core.
    pub fn shard_count(&self) -> usize {
        resolve_per_core(self.shards)
    }
}

/// 0 means "one per core", as for `http.workers` and `engine.shards`.
pub fn resolve_per_core(n: usize) -> usize {
    if n == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        n
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults_alone_are_valid_and_embedded() {
        let s = Settings::load_with_env(None, env(&[])).unwrap();
        assert_eq!(s.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database.backend().unwrap(), Backend::Sqlite);
        assert_eq!(s.database.sqlite_synchronous, SqliteSynchronous::Full);
        assert_eq!(s.journal.max_delay, Duration::ZERO);
        assert_eq!(s.log.format, LogFormat::Pretty);
    }

    #[test]
    fn the_journal_waits_for_no_company_unless_told() {
        let postgres = [("CREATORFLOW__DATABASE__URL", "postgres://x@localhost/y")];
        let s = Settings::load_with_env(None, env(&postgres)).unwrap();
        assert_eq!(s.journal.max_delay, Duration::ZERO, "four writers");
        let told = [postgres[0], ("CREATORFLOW__JOURNAL__MAX_DELAY", "1ms")];
        let s = Settings::load_with_env(None, env(&told)).unwrap();
        assert_eq!(s.journal.max_delay, Duration::from_millis(1));
        let s = Settings::load_with_env(None, env(&[("CREATORFLOW__JOURNAL__MAX_DELAY", "5ms")]))
            .unwrap();
        assert_eq!(s.journal.max_delay, Duration::from_millis(5), "SQLite told");
    }

    #[test]
    fn the_journal_writes_as_many_batches_at_once_as_suit_the_node() {
        let writers = |pairs: &[(&str, &str)]| {
            Settings::load_with_env(None, env(pairs))
                .unwrap()
                .journal_writers()
        };
        let postgres = ("CREATORFLOW__DATABASE__URL", "postgres://x@localhost/y");
        assert_eq!(writers(&[]), 1, "SQLite");
        assert_eq!(writers(&[postgres]), 4);
        let cluster = [
            postgres,
            ("CREATORFLOW__CLUSTER__ENABLED", "true"),
            ("CREATORFLOW__CLUSTER__SECRET", "sixteen-or-more-characters"),
        ];
        assert_eq!(writers(&cluster), 1, "a cluster node");
        let told = ("CREATORFLOW__JOURNAL__WRITERS", "3");
        assert_eq!(writers(&[cluster[0], cluster[1], cluster[2], told]), 3);
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[http]\nlisten = \"0.0.0.0:9000\"\n[journal]\nmax_batch = 7\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&file),
            env(&[("CREATORFLOW__JOURNAL__MAX_BATCH", "99")]),
        )
        .unwrap();
        assert_eq!(s.http.listen.port(), 9000, "file beats defaults");
        assert_eq!(s.journal.max_batch, 99, "env beats file");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = Settings::load_with_env(None, env(&[("CREATORFLOW__HTTP__LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.listen"), "{err}");

        let err =
            Settings::load_with_env(None, env(&[("CREATORFLOW__DATABASE__URL", "mysql://x")]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("database.url"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err = Settings::load_with_env(None, env(&[("CREATORFLOW__HTTP__LISTNE", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listne"), "{err}");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Settings::load_with_env(
            None,
            env(&[
                ("CREATORFLOW__TIKTOK__APP_SECRET", "hunter2-secret"),
                ("CREATORFLOW__DATABASE__URL", "postgres://u:pw-secret@h/db"),
            ]),
        )
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2-secret") && !debug.contains("pw-secret"));
    }
}
