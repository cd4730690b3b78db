//! The `creatorflow` command line. Output meant for scripts (a new key, a shop list) goes to
//! stdout; everything for people goes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, Application};
use crate::config::Settings;
use crate::domain::{ApiKey, Role, Scope, ShopId, ShopName};
use crate::integrations::tiktok::App;
use crate::integrations::tiktok::client::Client;
use crate::integrations::tiktok::rotation;
use crate::integrations::tiktok::vault::Vault;
use crate::persistence::{Actor, Database};
use crate::telemetry;
use crate::workflow::Catalog;
use secrecy::ExposeSecret;
use tiktok_sandbox::{self as sandbox, Sandbox, loadgen};

#[derive(Debug, Parser)]
#[command(
    name = "creatorflow",
    version,
    about = "Order-processing daemon for TikTok Shop sellers"
)]
pub struct Cli {
    /// Configuration file layered over the defaults (env vars CREATORFLOW__SECTION__KEY win).
    #[arg(long, global = true, env = "CREATORFLOW_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: migrate, serve HTTP, stop gracefully on SIGTERM/SIGINT.
    Serve {
        /// Also run the TikTok sandbox in-process, with shops authorised and orders flowing.
        #[arg(long)]
        demo: bool,
    },
    /// Run a local TikTok Shop stand-in: its API (enforcing TikTok's rules) and simulated
    /// shops whose orders push signed webhooks to a daemon.
    Sandbox(SandboxArgs),
    /// Push signed TikTok webhooks at a daemon and report throughput and latency.
    Loadgen(loadgen::Args),
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: Migrate,
    },
    /// Validate the configuration and exit 0 (valid) or 1 (with the offending key).
    CheckConfig,
    /// Check the deployment: configuration, database, migrations, broker, TikTok's clock and
    /// each shop's authorisation, free disk, the systemd unit. One line per check; exits 1 if
    /// any fails.
    Doctor,
    /// Copy the embedded SQLite database, online and consistent, to a new file (restore: stop
    /// the daemon and put the file where `database.url` points). PostgreSQL: see
    /// docs/RUNBOOK.md, "Backup and restore".
    Backup {
        /// The file to write; it must not exist.
        #[arg(long)]
        to: PathBuf,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        action: Apikey,
    },
    /// Manage shops.
    Shop {
        #[command(subcommand)]
        action: Shop,
    },
    /// The key that seals seller tokens and notification secrets.
    Secrets {
        #[command(subcommand)]
        action: Secrets,
    },
    /// Several nodes on one PostgreSQL (`cluster.enabled`).
    Cluster {
        #[command(subcommand)]
        action: Cluster,
    },
}

#[derive(Debug, Subcommand)]
enum Cluster {
    /// The nodes (alive or not, slots held) and the slots without a live owner, from the
    /// database: runs anywhere the configuration reaches it.
    Status,
}

#[derive(Debug, Subcommand)]
enum Secrets {
    /// Re-seal every stored secret with `tiktok.token_key`, opening old ones with
    /// `tiktok.previous_token_keys`. Safe to run while the daemon runs, to interrupt and to run
    /// again; exits non-zero if any value opens with no configured key.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum Migrate {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migrations.
    Down {
        /// How many to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
enum Apikey {
    /// Create a key and print it, alone, on stdout. Only its hash is stored.
    Create(NewKey),
    /// List the keys: id, name, first characters, shop, role, created, revoked.
    List,
    /// Revoke a key at once: requests with it are refused and its dashboard sessions end.
    Revoke {
        /// The key's id (`apikey list`).
        id: i64,
    },
    /// Replace a key: a new one with the same name, shop and role is printed on stdout, and
    /// the old one is revoked.
    Rotate {
        /// The key's id (`apikey list`).
        id: i64,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct KeyScope {
    /// A key that sees every shop and may administer.
    #[arg(long)]
    admin: bool,
    /// A key that sees only this TikTok shop.
    #[arg(long, value_name = "TIKTOK_SHOP_ID")]
    shop: Option<String>,
}

#[derive(Debug, Args)]
struct NewKey {
    #[command(flatten)]
    scope: KeyScope,
    /// A name to recognise the key by.
    #[arg(long)]
    name: Option<String>,
    /// A key that looks and changes nothing (no commands, bulk jobs or stock changes); the
    /// same as `--scope read`.
    #[arg(long, conflicts_with = "role")]
    read_only: bool,
    /// What the key may do: `read`, `operate` (commands, bulk jobs, stock) or `admin` (also
    /// keys and shops; needs `--admin`). Default: `admin` with `--admin`, else `operate`.
    #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_role)]
    role: Option<Role>,
    /// Refuse the key after this long, e.g. `90d`, `12h` (default: never).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    expires_in: Option<std::time::Duration>,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
enum Shop {
    /// Register a TikTok shop.
    Add {
        #[arg(long)]
        tiktok_shop_id: String,
        #[arg(long)]
        name: String,
        /// The seller's authorisation code: exchanged at tiktok.auth_base_url for tokens,
        /// stored encrypted.
        #[arg(long)]
        auth_code: Option<String>,
    },
    /// List registered shops (tab-separated: id, name, authorized, created).
    List,
}

#[derive(Debug, Args)]
struct SandboxArgs {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// The daemon's webhook endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080/webhooks/tiktok")]
    webhook_url: String,
    /// Simulated shops (each prints an auth code for `shop add --auth-code`).
    #[arg(long, default_value_t = 2)]
    shops: usize,
    /// New orders per second over all shops.
    #[arg(long, default_value_t = 1.0)]
    orders_per_second: f64,
    /// Time an order spends in each status.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    step: std::time::Duration,
    /// Share of webhooks sent twice (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    duplicate_rate: f64,
    /// Share of webhooks held back behind the next one.
    #[arg(long, default_value_t = 0.0)]
    reorder_rate: f64,
    /// Share of webhooks never sent (the poller must repair them).
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Share of paid orders whose buyer asks to cancel, and of delivered ones whose buyer
    /// asks for a refund (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    buyer_request_rate: f64,
}

/// Parses the command line, runs the command, and turns any error into a message and exit 1.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) if matches!(cli.command, Command::Doctor) => {
            println!("FAIL  {:<28} {e}", "configuration");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = telemetry::init(&settings.log, &settings.telemetry) {
        eprintln!("error: telemetry.otlp_endpoint: {e}");
        return ExitCode::FAILURE;
    }
    let outcome = execute(cli.command, &settings).await;
    telemetry::traces::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, settings: &Settings) -> anyhow::Result<()> {
    match command {
        Command::CheckConfig => {
            Catalog::configured(&settings.workflow, &settings.flags)?;
            eprintln!("configuration is valid");
            Ok(())
        }
        Command::Doctor => {
            let checks = crate::doctor::examine(settings, |c| println!("{c}")).await;
            let failed = checks
                .iter()
                .filter(|c| c.verdict == crate::doctor::Verdict::Fail)
                .count();
            if failed > 0 {
                anyhow::bail!("{failed} check(s) failed");
            }
            Ok(())
        }
        Command::Backup { to } => {
            let db = Database::connect(&settings.database).await?;
            let backup = db.backup_to(&to).await?;
            db.close().await?;
            eprintln!(
                "backed up to {} ({:.1} MB in {:.1}s)",
                to.display(),
                backup.bytes as f64 / 1e6,
                backup.took.as_secs_f64()
            );
            Ok(())
        }
        Command::Serve { demo } => serve(settings, demo).await,
        Command::Sandbox(args) => sandbox(args, settings).await,
        Command::Loadgen(args) => {
            let credentials = loadgen::Credentials {
                key: settings.tiktok.app_key.clone(),
                secret: settings.tiktok.app_secret.clone(),
            };
            loadgen::run(args, credentials).await
        }
        Command::Migrate { action } => migrate(action, settings).await,
        Command::Apikey {
            action: Apikey::Create(new),
        } => create_key(new, settings).await,
        Command::Apikey { action } => manage_keys(action, settings).await,
        Command::Shop { action } => shop(action, settings).await,
        Command::Secrets {
            action: Secrets::Rotate,
        } => rotate_secrets(settings).await,
        Command::Cluster {
            action: Cluster::Status,
        } => cluster_status(settings).await,
    }
}

async fn cluster_status(settings: &Settings) -> anyhow::Result<()> {
    if settings.database.backend()? != crate::config::Backend::Postgres {
        println!("single node: cluster mode needs PostgreSQL (database.url is SQLite)");
        return Ok(());
    }
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    let seen = crate::cluster::overview(&db, settings.cluster.lease).await?;
    db.close().await?;
    if seen.nodes.is_empty() {
        println!("no node has joined (cluster.enabled = false everywhere?)");
    }
    println!(
        "{:<32} {:<6} {:>6} {:>12} {:>10}  URL",
        "NODE", "LIVE", "SLOTS", "HEARD (ms)", "LEASE (ms)"
    );
    for n in &seen.nodes {
        println!(
            "{:<32} {:<6} {:>6} {:>12} {:>10}  {}",
            n.node_id,
            if n.live { "yes" } else { "no" },
            n.slots,
            n.heartbeat_age_ms,
            n.lease_ms.map_or_else(|| "?".to_owned(), |l| l.to_string()),
            n.advertise_url
        );
    }
    let unowned = seen.unowned();
    let epochs = seen.leases.iter().map(|l| l.epoch).max().unwrap_or(0);
    println!(
        "{unowned} of {} slots without a live owner; highest epoch {epochs}; {} handoffs since the cluster first ran",
        seen.leases.len(),
        seen.handoffs()
    );
    Ok(())
}

async fn serve(settings: &Settings, demo: bool) -> anyhow::Result<()> {
    let shutdown = app::shutdown_signal();
    if demo {
        return serve_demo(settings, shutdown).await;
    }
    let mut app = Application::build(settings).await?;
    let url = settings.http.public_url(app.addr());
    if let Some(key) = app.take_first_admin_key() {
        eprintln!(
            "\nFirst start: created an admin API key. It is shown only now; store it safely.\n\n    {}\n\nOpen {url} and call the API with `Authorization: Bearer <key>`.\n",
            key.reveal()
        );
    } else {
        eprintln!("CreatorFlow is serving on {url}");
    }
    app.run_until_stopped(shutdown).await
}

/// The daemon with the sandbox in-process: the sandbox's shops are authorised through the real
/// code exchange, and their orders reach the daemon as signed webhooks.
async fn serve_demo(settings: &Settings, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut settings = settings.clone();
    if !App::from_settings(&settings.tiktok).is_configured() {
        settings.tiktok.app_key = "demo_app_key".into();
        settings.tiktok.app_secret = "demo_app_secret".to_owned().into();
    }
    let sandbox = Sandbox::start(sandbox::Options {
        shops: 2,
        orders_per_second: 0.5,
        buyer_request_rate: 0.1,
        duplicate_rate: 0.05,
        reorder_rate: 0.05,
        ..sandbox::Options::new(
            &settings.tiktok.app_key,
            settings.tiktok.app_secret.expose_secret(),
        )
    })?;
    settings.tiktok.api_base_url = sandbox.url();
    settings.tiktok.auth_base_url = sandbox.url();
    settings.tiktok.poll_interval = std::time::Duration::from_secs(30);
    let mut app = Application::build(&settings).await?;
    let url = settings.http.public_url(app.addr());
    sandbox.set_webhook_url(&format!("http://{}/webhooks/tiktok", app.addr()));
    let client = Client::new(&settings.tiktok, app.db().clone())?;
    for (shop, code) in &sandbox.auth_codes {
        client
            .authorize(code, Some(&ShopId::parse(shop)?), None)
            .await?;
    }
    eprintln!(
        "\nDemo: a TikTok Shop sandbox runs at {} with {} shops; new orders arrive every few seconds.",
        sandbox.url(),
        sandbox.auth_codes.len()
    );
    match app.take_first_admin_key() {
        Some(key) => eprintln!(
            "\nFirst start: created an admin API key. It is shown only now; store it safely.\n\n    {}\n\nOpen {url} and call the API with `Authorization: Bearer <key>`.\n",
            key.reveal()
        ),
        None => eprintln!("CreatorFlow is serving on {url}"),
    }
    let result = app.run_until_stopped(shutdown).await;
    sandbox.stop().await;
    result
}

async fn sandbox(args: SandboxArgs, settings: &Settings) -> anyhow::Result<()> {
    let shutdown = app::shutdown_signal();
    if !App::from_settings(&settings.tiktok).is_configured() {
        anyhow::bail!(
            "set tiktok.app_key and tiktok.app_secret: the sandbox signs and checks with the same credentials as the daemon"
        );
    }
    let sandbox = Sandbox::start(sandbox::Options {
        listen: args.listen,
        webhook_url: Some(args.webhook_url.clone()),
        shops: args.shops,
        orders_per_second: args.orders_per_second,
        step: args.step,
        duplicate_rate: args.duplicate_rate,
        reorder_rate: args.reorder_rate,
        drop_rate: args.drop_rate,
        buyer_request_rate: args.buyer_request_rate,
        ..sandbox::Options::new(
            &settings.tiktok.app_key,
            settings.tiktok.app_secret.expose_secret(),
        )
    })?;
    eprintln!(
        "TikTok Shop sandbox on {url}; webhooks go to {}.\nPoint the daemon at it: CREATORFLOW__TIKTOK__API_BASE_URL={url} CREATORFLOW__TIKTOK__AUTH_BASE_URL={url}\nLabel API stand-in: CREATORFLOW__SHIPPING__LABEL_API_URL={url}/labels/v1 CREATORFLOW__SHIPPING__LABEL_API_KEY=sandbox-label-key\nAuthorise its shops:",
        args.webhook_url,
        url = sandbox.url()
    );
    for (shop, code) in &sandbox.auth_codes {
        eprintln!(
            "    creatorflow shop add --tiktok-shop-id {shop} --name 'Sandbox {shop}' --auth-code {code}"
        );
    }
    shutdown.await;
    sandbox.stop().await;
    Ok(())
}

async fn migrate(action: Migrate, settings: &Settings) -> anyhow::Result<()> {
    let db = Database::connect(&settings.database).await?;
    match action {
        Migrate::Up => {
            db.migrate_up().await?;
            eprintln!("all migrations applied");
        }
        Migrate::Down { steps } => {
            db.migrate_down(steps).await?;
            eprintln!("reverted {steps} migration(s)");
        }
        Migrate::Status => {
            for (name, applied) in db.migration_status().await? {
                println!("{}\t{name}", if applied { "applied" } else { "pending" });
            }
        }
    }
    db.close().await?;
    Ok(())
}

async fn create_key(new: NewKey, settings: &Settings) -> anyhow::Result<()> {
    let scope = match new.scope.shop {
        Some(shop) => Scope::Shop(ShopId::parse(&shop)?),
        None => Scope::Admin,
    };
    let name = new.name.unwrap_or_else(|| match &scope {
        Scope::Admin => "admin".to_owned(),
        Scope::Shop(id) => format!("shop {id}"),
    });
    let role = match (new.read_only, new.role, &scope) {
        (true, _, _) => Role::Read,
        (false, Some(role), _) => role.check(&scope)?,
        (false, None, Scope::Admin) => Role::Admin,
        (false, None, Scope::Shop(_)) => Role::Operate,
    };
    let expires_at = new
        .expires_in
        .map(|d| chrono::TimeDelta::from_std(d).map(|d| chrono::Utc::now() + d))
        .transpose()
        .map_err(|_| anyhow::anyhow!("--expires-in: too far in the future"))?;
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    let key = ApiKey::from_random(rand::random());
    let id = db.keys().add(&key, &name, &scope, role, expires_at).await?;
    db.audit()
        .record(
            &Actor::cli(),
            "api_key.created",
            &format!("api key {id}"),
            scope.narrow(None),
            serde_json::json!({ "name": name, "scope": role, "expires_at": expires_at }),
        )
        .await?;
    db.close().await?;
    eprintln!("created API key {id} ({name}); it is shown only once:");
    println!("{}", key.reveal());
    Ok(())
}

async fn manage_keys(action: Apikey, settings: &Settings) -> anyhow::Result<()> {
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    match action {
        Apikey::Create(_) => unreachable!("handled by create_key"),
        Apikey::List => {
            println!("id\tname\tprefix\tshop\trole\tcreated\trevoked\texpires\tlast_used");
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339()).unwrap_or_default()
            };
            for k in db.keys().list().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k.id,
                    k.name,
                    k.prefix,
                    k.shop_id.as_deref().unwrap_or("*"),
                    k.role,
                    k.created_at.to_rfc3339(),
                    time(k.revoked_at),
                    time(k.expires_at),
                    time(k.last_used_at),
                );
            }
        }
        Apikey::Revoke { id } => {
            if !db.keys().revoke(id).await? {
                anyhow::bail!("no live API key {id} (see `creatorflow apikey list`)");
            }
            db.audit()
                .record(
                    &Actor::cli(),
                    "api_key.revoked",
                    &format!("api key {id}"),
                    None,
                    serde_json::json!({}),
                )
                .await?;
            eprintln!("revoked API key {id}");
        }
        Apikey::Rotate { id } => {
            let key = ApiKey::from_random(rand::random());
            let Some(new) = db.keys().rotate(id, &key).await? else {
                anyhow::bail!("no live API key {id} (see `creatorflow apikey list`)");
            };
            db.audit()
                .record(
                    &Actor::cli(),
                    "api_key.rotated",
                    &format!("api key {id}"),
                    None,
                    serde_json::json!({ "replacement": new }),
                )
                .await?;
            eprintln!("revoked API key {id}; its replacement is key {new}, shown only once:");
            println!("{}", key.reveal());
        }
    }
    db.close().await?;
    Ok(())
}

async fn rotate_secrets(settings: &Settings) -> anyhow::Result<()> {
    let t = &settings.tiktok;
    let vault = Vault::with_previous(&t.token_key, &t.previous_token_keys, &t.app_secret)?;
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    let done = rotation::rotate(&db, &vault).await?;
    let detail = serde_json::json!({
        "resealed": done.resealed, "current": done.current, "changed": done.changed,
        "unreadable": done.unreadable.len(),
    });
    db.audit()
        .record(
            &Actor::cli(),
            "secrets.rotated",
            "sealed values",
            None,
            detail,
        )
        .await?;
    db.close().await?;
    eprintln!(
        "re-sealed {} value(s) with the current key; {} were sealed with it already, {} changed meanwhile (and are)",
        done.resealed, done.current, done.changed
    );
    if !done.unreadable.is_empty() {
        for (column, row) in &done.unreadable {
            eprintln!("cannot open {column:?} of {row}: no configured key opens it");
        }
        anyhow::bail!(
            "{} value(s) could not be opened: add the key they were sealed with to tiktok.previous_token_keys and run again",
            done.unreadable.len()
        );
    }
    eprintln!("done: tiktok.previous_token_keys may now be emptied");
    Ok(())
}

async fn shop(action: Shop, settings: &Settings) -> anyhow::Result<()> {
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    match action {
        Shop::Add {
            tiktok_shop_id,
            name,
            auth_code: None,
        } => {
            let shop = db
                .shops()
                .add(&ShopId::parse(&tiktok_shop_id)?, &ShopName::parse(&name)?)
                .await?;
            eprintln!("added shop {} ({})", shop.id, shop.name);
        }
        Shop::Add {
            tiktok_shop_id,
            name,
            auth_code: Some(code),
        } => {
            let (id, name) = (ShopId::parse(&tiktok_shop_id)?, ShopName::parse(&name)?);
            let client = Client::new(&settings.tiktok, db.clone())?;
            let shops = client
                .authorize(code.trim(), Some(&id), Some(&name))
                .await?;
            for shop in shops {
                eprintln!(
                    "authorised shop {} ({}); tokens stored encrypted",
                    shop.id, shop.name
                );
            }
        }
        Shop::List => {
            for shop in db.shops().list(&Scope::Admin).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    shop.id,
                    shop.name,
                    if shop.authorized {
                        "authorized"
                    } else {
                        "unauthorized"
                    },
                    shop.created_at.to_rfc3339()
                );
            }
        }
    }
    db.close().await?;
    Ok(())
}
