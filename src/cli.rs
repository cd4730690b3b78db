//! The `creatorflow` command line. Output meant for scripts (a new key, a shop list) goes to
//! stdout; everything for people goes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{self, Application};
use crate::config::Settings;
use crate::domain::{ApiKey, Scope, ShopId, ShopName};
use crate::persistence::Database;
use crate::telemetry;

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
    Serve,
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: Migrate,
    },
    /// Validate the configuration and exit 0 (valid) or 1 (with the offending key).
    CheckConfig,
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
}

#[derive(Debug, Subcommand)]
enum Shop {
    /// Register a TikTok shop.
    Add {
        #[arg(long)]
        tiktok_shop_id: String,
        #[arg(long)]
        name: String,
    },
    /// List registered shops (tab-separated: id, name, authorized, created).
    List,
}

/// Parses the command line, runs the command, and turns any error into a message and exit 1.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init_logs(&settings.log);
    match execute(cli.command, &settings).await {
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
            eprintln!("configuration is valid");
            Ok(())
        }
        Command::Serve => serve(settings).await,
        Command::Migrate { action } => migrate(action, settings).await,
        Command::Apikey {
            action: Apikey::Create(new),
        } => create_key(new, settings).await,
        Command::Shop { action } => shop(action, settings).await,
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
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
    app.run_until_stopped(app::shutdown_signal()).await
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
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    let key = ApiKey::from_random(rand::random());
    let id = db.add_api_key(&key, &name, &scope).await?;
    db.close().await?;
    eprintln!("created API key {id} ({name}); it is shown only once:");
    println!("{}", key.reveal());
    Ok(())
}

async fn shop(action: Shop, settings: &Settings) -> anyhow::Result<()> {
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    match action {
        Shop::Add {
            tiktok_shop_id,
            name,
        } => {
            let shop = db
                .add_shop(&ShopId::parse(&tiktok_shop_id)?, &ShopName::parse(&name)?)
                .await?;
            eprintln!("added shop {} ({})", shop.id, shop.name);
        }
        Shop::List => {
            for shop in db.shops(&Scope::Admin).await? {
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
