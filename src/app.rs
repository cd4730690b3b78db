//! Wiring: build every part from the configuration, run until told to stop, stop in order.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};

use std::time::Duration;

use anyhow::Context;

use crate::actors::RegistryHandle;
use crate::bus::{Bus, Relay};
use crate::config::Settings;
use crate::domain::{ApiKey, Scope};
use crate::http;
use crate::integrations::inventory::Inventory;
use crate::integrations::shipping::Shipping;
use crate::integrations::tiktok::App;
use crate::integrations::tiktok::client::Client;
use crate::integrations::tiktok::sync::Sync;
use crate::integrations::{analytics, inventory, notify, shipping};
use crate::persistence::{Database, Journal};
use crate::systemd;
use crate::telemetry;
use crate::workflow::{Runner, runner};
use std::sync::Arc;

/// A built daemon: database migrated, HTTP bound. Tests build the very same thing on port 0.
pub struct Application {
    server: http::Server,
    db: Database,
    registry: RegistryHandle,
    sync: Option<Sync>,
    workflows: Option<runner::Tasks>,
    bus: Bus,
    relay: Relay,
    /// The relay's task: awaited at stop, so its checkpoint is saved.
    relaying: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    first_admin_key: Option<ApiKey>,
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        // Install the metrics recorder before anything records.
        telemetry::metrics::handle();
        let db = Database::connect(&settings.database)
            .await
            .context("cannot open the database (database.url)")?;
        db.migrate_up()
            .await
            .context("cannot migrate the database")?;
        let first_admin_key = ensure_admin_key(&db).await?;
        let registry = start_engine(settings, &db).await?;
        let listener = TcpListener::bind(settings.http.listen)
            .with_context(|| format!("cannot bind http.listen = {}", settings.http.listen))?;
        let client = Client::new(&settings.tiktok, db.clone())?;
        // Without app credentials there is nothing to sync with (webhooks are refused too).
        let sync = App::from_settings(&settings.tiktok)
            .is_configured()
            .then(|| {
                Sync::start(
                    client.clone(),
                    db.clone(),
                    registry.clone(),
                    &settings.tiktok,
                )
            });
        let catalog = Arc::new(
            settings
                .workflow
                .catalog()
                .context("cannot load the workflow templates (workflow.dir)")?,
        );
        let stock = Inventory::new(db.clone(), &settings.inventory);
        let shipping = Shipping::new(db.clone(), client.clone(), &settings.shipping)?;
        let bus = Bus::start(
            &settings.bus,
            vec![
                analytics::subscription(db.clone()),
                inventory::subscription(db.clone()),
                notify::subscription(db.clone()),
                runner::wake_subscription(db.clone()),
                shipping::tracking_subscription(registry.clone()),
            ],
        );
        let relay = Relay::new(db.clone(), bus.clone(), settings.bus.relay_batch);
        let notifier = notify::Sender::new(db.clone(), client.vault().clone(), &settings.notify)?;
        let relaying = relay.start(registry.committed());
        let background = vec![stock.start_expiry(), notifier.start()];
        let workflows = settings.workflow.enabled.then(|| {
            Runner::new(
                catalog.clone(),
                db.clone(),
                registry.clone(),
                client.clone(),
                stock.clone(),
                shipping.clone(),
                &settings.workflow,
            )
            .start()
        });
        let server = http::start(
            listener,
            db.clone(),
            registry.clone(),
            client,
            catalog,
            settings,
        )?;
        Ok(Self {
            server,
            db,
            registry,
            sync,
            workflows,
            bus,
            relay,
            relaying,
            background,
            first_admin_key,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The bus the integrations are fed by.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The order engine, as HTTP handlers and integrations use it.
    pub fn registry(&self) -> &RegistryHandle {
        &self.registry
    }

    /// The admin key created because the database had none; `Some` once, on first start.
    pub fn take_first_admin_key(&mut self) -> Option<ApiKey> {
        self.first_admin_key.take()
    }

    /// Serves until `shutdown` resolves (or the server fails), then stops in order: stop
    /// accepting, finish requests in flight, close the database pool.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self {
            server,
            db,
            registry,
            sync,
            workflows,
            bus,
            relay,
            relaying,
            background,
            ..
        } = self;
        let handle = server.handle();
        let watchdog = systemd::spawn_watchdog(db.clone());
        systemd::ready();
        tracing::info!(addr = %server.addr(), "serving");

        let mut stopped = std::pin::pin!(server.stopped());
        let served = tokio::select! {
            result = &mut stopped => result,
            () = shutdown => {
                tracing::info!("stopping: no new connections; finishing requests in flight");
                systemd::stopping();
                // The server future must keep being polled for the stop command to be carried
                // out, so wait on both together.
                let ((), served) = tokio::join!(handle.stop(true), &mut stopped);
                served
            }
        };
        // Intake is closed; stop talking to TikTok (what was not marked done is redone after the
        // restart), let the orders finish what they were given, then their journal
        // commits are durable before the pool closes.
        if let Some(sync) = sync {
            sync.stop();
        }
        // A step cut short is not recorded done: it runs again after the restart.
        if let Some(workflows) = workflows {
            workflows.stop();
        }
        registry.drain(Duration::from_secs(10)).await;
        // What the orders committed last is relayed after the restart if not now; the relay
        // saves how far it got.
        relay.stop();
        if tokio::time::timeout(Duration::from_secs(5), relaying)
            .await
            .is_err()
        {
            tracing::warn!("the relay did not stop within 5 s");
        }
        bus.stop();
        for task in background {
            task.abort();
        }
        if let Some(watchdog) = watchdog {
            watchdog.abort();
        }
        db.close().await.context("closing the database pool")?;
        tracing::info!("stopped");
        served.context("HTTP server failed")
    }
}

/// The order engine: the journal's writers and the registry shards over them. Must run inside an
/// actix system.
pub async fn start_engine(settings: &Settings, db: &Database) -> anyhow::Result<RegistryHandle> {
    let journal = Journal::start(
        db.clone(),
        settings.journal.max_batch,
        settings.journal.max_delay,
        settings.journal_writers(),
    )
    .await
    .context("cannot read the end of the log")?;
    Ok(RegistryHandle::start(&settings.engine, db.clone(), journal))
}

/// On first start nobody could call the API, so an admin key is made and handed to the caller
/// to show once.
async fn ensure_admin_key(db: &Database) -> anyhow::Result<Option<ApiKey>> {
    if db.api_key_count().await? > 0 {
        return Ok(None);
    }
    let key = ApiKey::from_random(rand::random());
    db.add_api_key(&key, "admin (first start)", &Scope::Admin)
        .await?;
    Ok(Some(key))
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    // Installing a handler fails only if the runtime has no signal driver, which ours has.
    let mut term = signal(SignalKind::terminate()).expect("the runtime handles signals");
    let mut int = signal(SignalKind::interrupt()).expect("the runtime handles signals");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
