//! Wiring: build every part from the configuration, run until told to stop, stop in order.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};

use std::time::Duration;

use anyhow::Context;

use crate::actors::Forwarder;
use crate::actors::RegistryHandle;
use crate::bulk;
use crate::bus::{Bus, Relay};
use crate::cluster::Membership;
use crate::commands::{Commands, RejectReasons};
use crate::config::Settings;
use crate::domain::{ApiKey, Role, Scope};
use crate::flags::Flags;
use crate::http;
use crate::integrations::shipping;
use crate::integrations::shipping::Shipping;
use crate::integrations::tiktok::App;
use crate::integrations::tiktok::client::Client;
use crate::integrations::tiktok::sync;
use crate::inventory::{self, Inventory};
use crate::journal::Journal;
use crate::live::Hub;
use crate::notifications;
use crate::persistence::Database;
use crate::shutdown::Tasks;
use crate::systemd;
use crate::telemetry;
use crate::workflow::actions::Executor;
use crate::workflow::{Catalog, Runner, runner};
use std::sync::Arc;

/// A built daemon: database migrated, HTTP bound. Tests build the very same thing on port 0.
pub struct Application {
    server: http::Server,
    db: Database,
    registry: RegistryHandle,
    /// What feeds the orders and works for them: the TikTok fetcher and poller, the workflow
    /// starter and scheduler, the stock expiry sweep, the notification sender. Stopped before
    /// the orders drain.
    producers: Tasks,
    /// What announces committed changes: the relay. Stopped after the orders drained, so it
    /// sees their last commits.
    announcers: Tasks,
    /// This node's membership in cluster mode: stopped after the announcers, so every commit
    /// lands while its slots are still held, then they are given back.
    cluster: Tasks,
    /// No tasks: its signal tells long requests (other nodes' forwarding streams) to end, first.
    intake: Tasks,
    bus: Bus,
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
        let listener = TcpListener::bind(settings.http.listen)
            .with_context(|| format!("cannot bind http.listen = {}", settings.http.listen))?;
        let mut cluster = Tasks::new("cluster");
        let membership = settings
            .cluster
            .enabled
            .then(|| Membership::new(db.clone(), &settings.cluster, listener_addr(&listener)));
        if let Some(member) = membership.clone() {
            member.claim().await?;
            cluster.spawn("membership", |stop| member.run(stop));
        }
        let registry = start_fenced_engine(settings, &db, membership.clone()).await?;
        if let Some(member) = &membership {
            member.on_moves(Arc::new(registry.clone()));
        }
        let client = Client::new(&settings.tiktok, db.clone())?;
        let mut producers = Tasks::new("producers");
        if membership.is_some() {
            let (parked, rows) = (registry.clone(), db.clone());
            producers.spawn("parked messages", |stop| {
                crate::actors::forward::run_parked(parked, rows, stop)
            });
        }
        // Without app credentials there is nothing to sync with (webhooks are refused too).
        if App::from_settings(&settings.tiktok).is_configured() {
            sync::start(
                client.clone(),
                db.clone(),
                registry.clone(),
                &settings.tiktok,
                &mut producers,
            );
        }
        let catalog = Arc::new(Catalog::configured(&settings.workflow, &settings.flags)?);
        let flags = Flags::load(&settings.flags, &db).await?;
        let followed = flags.clone();
        let flag_rows = db.clone();
        producers.spawn("feature flags", |stop| followed.follow(flag_rows, stop));
        let stock = Inventory::new(db.clone(), &settings.inventory);
        let shipping = Shipping::new(db.clone(), client.clone(), &settings.shipping)?;
        let bus = Bus::start(
            &settings.bus,
            vec![
                inventory::subscription(stock.clone()),
                notifications::subscription(db.clone()),
                runner::wake_subscription(db.clone()),
                shipping::tracking_subscription(registry.clone()),
            ],
        );
        let relay = Relay::new(db.clone(), bus.clone(), settings.bus.relay_batch);
        let notifier =
            notifications::Sender::new(db.clone(), client.vault().clone(), &settings.notify)?;
        let mut announcers = Tasks::new("announcers");
        let committed = registry.committed();
        announcers.spawn("relay", |stop| relay.run(committed, stop));
        let (hub, follow) = Hub::start(db.clone(), registry.committed(), announcers.stop_signal());
        announcers.adopt("live stream", tokio::spawn(follow));
        let expiry = stock.clone();
        producers.spawn("stock expiry", |stop| expiry.run_expiry(stop));
        producers.spawn("notification sender", |stop| notifier.run(stop));
        let keys = db.clone();
        producers.spawn("idempotency key expiry", |stop| async move {
            keys.idempotency().run_expiry(stop).await
        });
        let sampled = db.clone();
        producers.spawn("metrics sampler", |stop| {
            crate::telemetry::sampler::run(sampled, stop)
        });
        let checkpoints = db.clone();
        producers.spawn("SQLite checkpoints", |stop| {
            checkpoints.run_checkpoints(stop)
        });
        let sessions = db.clone();
        producers.spawn("dashboard session expiry", |stop| async move {
            sessions.sessions().run_expiry(stop).await
        });
        crate::workflow::runner::register_metrics();
        if settings.workflow.enabled {
            let executor = Executor {
                db: db.clone(),
                client: client.clone(),
                registry: registry.clone(),
                inventory: stock.clone(),
                shipping: shipping.clone(),
            };
            Runner::new(catalog.clone(), flags.clone(), executor, &settings.workflow)
                .start(&mut producers);
        }
        let commands = Commands {
            db: db.clone(),
            registry: registry.clone(),
            reasons: RejectReasons::new(client.clone()),
            client,
        };
        let jobs = bulk::Runner::new(
            commands.clone(),
            hub.clone(),
            settings.bulk.items_per_second,
        );
        let worker = jobs.clone();
        producers.spawn("bulk jobs", |stop| worker.run(stop));
        let intake = Tasks::new("intake");
        let services = http::Services {
            db: db.clone(),
            registry: registry.clone(),
            commands,
            catalog,
            flags,
            hub,
            jobs,
            bus: bus.clone(),
            shipping: shipping.clone(),
            cluster: membership.clone().map(|m| (m, settings.cluster.lease)),
            stopping: intake.stop_signal(),
        };
        let server = http::start(listener, services, settings)?;
        Ok(Self {
            server,
            db,
            registry,
            producers,
            announcers,
            cluster,
            intake,
            bus,
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
            producers,
            announcers,
            cluster,
            intake,
            bus,
            ..
        } = self;
        let handle = server.handle();
        let mut watchdog = Tasks::new("watchdog");
        systemd::spawn_watchdog(db.clone(), &mut watchdog);
        systemd::ready();
        tracing::info!(addr = %server.addr(), "serving");

        let mut stopped = std::pin::pin!(server.stopped());
        let served = tokio::select! {
            result = &mut stopped => result,
            () = shutdown => {
                tracing::info!("stopping: no new connections; finishing requests in flight");
                systemd::stopping();
                // Other nodes' forwarding streams answer what they sent and end, so that HTTP
                // has no request in flight that lasts.
                intake.stop(Duration::ZERO).await;
                // The server future must keep being polled for the stop command to be carried
                // out, so wait on both together.
                let ((), served) = tokio::join!(handle.stop(true), &mut stopped);
                served
            }
        };
        // The stop sequence, each step awaited:
        // 1. intake: HTTP stopped accepting and finished its requests (above);
        // 2. producers: the TikTok fetcher and poller, the workflow starter and scheduler, the
        //    stock sweep and the notification sender finish what they are doing (a scheduler
        //    round writes its outcomes, a subscription saves its checkpoint) and return;
        // 3. actors: the orders finish the messages they were given, so every accepted
        //    message's journal commit is done (the journal's writers end with the last handle);
        // 4. announcers: the relay publishes what the orders committed last, if the bus takes
        //    it now, and saves its checkpoint (what it did not publish is published after the
        //    restart);
        // 5. bus: consuming stops; unacknowledged deliveries go back to their queues;
        // 6. the watchdog; 7. the database pool.
        producers.stop(Duration::from_secs(10)).await;
        registry.drain(Duration::from_secs(10)).await;
        announcers.stop(Duration::from_secs(5)).await;
        cluster.stop(Duration::from_secs(5)).await;
        bus.stop();
        watchdog.stop(Duration::from_secs(1)).await;
        db.close().await.context("closing the database pool")?;
        tracing::info!("stopped");
        served.context("HTTP server failed")
    }
}

/// The order engine: the journal's writers and the registry shards over them. Must run inside an
/// actix system.
pub async fn start_engine(settings: &Settings, db: &Database) -> anyhow::Result<RegistryHandle> {
    start_fenced_engine(settings, db, None).await
}

/// [`start_engine`] whose journal, in cluster mode, writes only the slots `fence` holds.
async fn start_fenced_engine(
    settings: &Settings,
    db: &Database,
    fence: Option<Membership>,
) -> anyhow::Result<RegistryHandle> {
    // The order engine's thread: the journal's writers and the first registry shard.
    let engine = actix::Arbiter::new().handle();
    engine.spawn_fn(|| crate::telemetry::name_thread("cf-engine"));
    let journal = Journal::start_in(
        Some(&engine),
        db.clone(),
        settings.journal.max_batch,
        settings.journal.max_delay,
        settings.journal_writers(),
        fence,
    )
    .await
    .context("cannot read the end of the log")?;
    let registry = RegistryHandle::start(&settings.engine, db.clone(), journal.clone(), &engine);
    Ok(match journal.committed().fence() {
        Some(membership) => {
            let forwarder = Forwarder::new(membership.clone(), settings.cluster.secret.clone())
                .context("cannot build the HTTP client that forwards to other nodes")?;
            registry.forwarding(forwarder)
        }
        None => registry,
    })
}

fn listener_addr(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .expect("a bound listener has an address")
}

/// On first start nobody could call the API, so an admin key is made and handed to the caller
/// to show once.
async fn ensure_admin_key(db: &Database) -> anyhow::Result<Option<ApiKey>> {
    if db.keys().count().await? > 0 {
        return Ok(None);
    }
    let key = ApiKey::from_random(rand::random());
    db.keys()
        .add(
            &key,
            "admin (first start)",
            &Scope::Admin,
            Role::Admin,
            None,
        )
        .await?;
    Ok(Some(key))
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed by this call, not when the future
/// is first polled: call it before announcing readiness, or a signal sent right after the
/// announcement would kill the process instead of stopping it in order.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installing a handler fails only if the runtime has no signal driver, which ours has.
    let mut term = signal(SignalKind::terminate()).expect("the runtime handles signals");
    let mut int = signal(SignalKind::interrupt()).expect("the runtime handles signals");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
}
