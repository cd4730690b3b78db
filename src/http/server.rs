use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use actix_web::middleware::{Compress, DefaultHeaders, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa::Modify;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};

use super::openapi::Spec;
use super::rate_limit::{self, RateLimits};
use super::{
    AuthBase, Error, Ingress, analytics, api_keys, audit, bulk, cluster, dashboard, events, flags,
    graphql, health, idempotency, inventory, notifications, oauth, observe, openapi, orders,
    pick_list, requests, shipments, shops, webhooks, workflows,
};
use crate::actors::RegistryHandle;
use crate::config;
use crate::persistence::Database;

/// Largest JSON body the REST API accepts (webhooks have their own limit).
const MAX_JSON_BYTES: usize = 256 * 1024;

/// The running HTTP server: await [`Server::stopped`], stop it through [`Server::handle`].
pub struct Server {
    running: actix_web::dev::Server,
    handle: ServerHandle,
    addr: SocketAddr,
}

/// What the handlers use: the engine and the services around it.
pub struct Services {
    pub db: Database,
    pub registry: RegistryHandle,
    pub commands: crate::commands::Commands,
    pub catalog: std::sync::Arc<crate::workflow::Catalog>,
    pub flags: crate::flags::Flags,
    pub hub: crate::live::Hub,
    pub jobs: crate::bulk::Runner,
    pub bus: crate::bus::Bus,
    pub shipping: crate::integrations::shipping::Shipping,
    /// This node's membership and `cluster.lease`, in cluster mode.
    pub cluster: Option<(crate::cluster::Membership, std::time::Duration)>,
    /// Fires when the node starts to stop (before HTTP stops): long requests end.
    pub stopping: crate::shutdown::Stop,
}

/// Starts serving on `listener`. Signals are not handled here: shutdown is the app's job, so
/// that it can be ordered and triggered by tests.
pub fn start(
    listener: TcpListener,
    services: Services,
    settings: &config::Settings,
) -> std::io::Result<Server> {
    let Services {
        db,
        registry,
        commands,
        catalog,
        flags,
        hub,
        jobs,
        bus,
        shipping,
        cluster: membership,
        stopping,
    } = services;
    let addr = listener.local_addr()?;
    let schema = web::Data::new(graphql::schema(graphql::Services {
        db: db.clone(),
        commands: commands.clone(),
        catalog: catalog.clone(),
        hub: hub.clone(),
        jobs: jobs.clone(),
    }));
    let app = crate::integrations::tiktok::App::from_settings(&settings.tiktok);
    let ingress = web::Data::new(Ingress::new(
        app.webhook_verifier(),
        settings.tiktok.max_webhook_bytes,
    ));
    let app = web::Data::new(app);
    let client = web::Data::new(commands.client.clone());
    let commands = web::Data::new(commands);
    let catalog = web::Data::from(catalog);
    let auth_base = web::Data::new(AuthBase(
        settings
            .tiktok
            .auth_base_url
            .trim_end_matches('/')
            .to_owned(),
    ));
    let http = &settings.http;
    let db = web::Data::new(db);
    let registry = web::Data::new(registry);
    let spec = web::Data::new(Spec::of(openapi()));
    let hub = web::Data::new(hub);
    let jobs = web::Data::new(jobs);
    let bus = web::Data::new(bus);
    let flags = web::Data::new(flags);
    let shipping = web::Data::new(shipping);
    let cluster_mode = web::Data::new(cluster::ClusterMode(membership));
    let stopping = web::Data::new(cluster::Stopping(stopping));
    let rate_limits = web::Data::new(RateLimits::new(&http.rate_limit));
    forget_idle_keys(&rate_limits);
    let running = HttpServer::new(move || {
        // Called once on each worker's thread, as it starts.
        crate::telemetry::name_thread("cf-http");
        App::new()
            .app_data(db.clone())
            .app_data(registry.clone())
            .app_data(ingress.clone())
            .app_data(app.clone())
            .app_data(client.clone())
            .app_data(catalog.clone())
            .app_data(auth_base.clone())
            .app_data(spec.clone())
            .app_data(hub.clone())
            .app_data(commands.clone())
            .app_data(jobs.clone())
            .app_data(bus.clone())
            .app_data(flags.clone())
            .app_data(shipping.clone())
            .app_data(cluster_mode.clone())
            .app_data(stopping.clone())
            .app_data(rate_limits.clone())
            .app_data(schema.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_JSON_BYTES)
                    .error_handler(|e, _| Error::BadRequest(e.to_string()).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| Error::BadRequest(e.to_string()).into()),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| Error::BadRequest(e.to_string()).into()),
            )
            .wrap(security_headers())
            .wrap(from_fn(observe::observe))
            .wrap(TracingLogger::<crate::telemetry::traces::RootSpan>::new())
            .into_utoipa_app()
            .configure(routes)
            .into_app()
            .default_service(web::to(unrouted))
    })
    .workers(config::resolve_per_core(http.workers))
    .shutdown_timeout(http.shutdown_timeout.as_secs())
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = running.handle();
    Ok(Server {
        running,
        handle,
        addr,
    })
}

/// Every minute, drops the rate-limit state of keys back to a full burst; ends with the server.
fn forget_idle_keys(limits: &web::Data<RateLimits>) {
    let limits = std::sync::Arc::downgrade(&limits.clone().into_inner());
    actix_rt::spawn(async move {
        let mut every = actix_rt::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            match limits.upgrade() {
                Some(limits) => limits.forget_idle(),
                None => return,
            }
        }
    });
}

/// The dashboard's security headers, on every answer (harmless on JSON).
fn security_headers() -> DefaultHeaders {
    dashboard::SECURITY_HEADERS
        .into_iter()
        .fold(DefaultHeaders::new(), |headers, header| headers.add(header))
}

/// Every route, each described by its handler's `#[utoipa::path]` as it is registered.
fn routes(config: &mut ServiceConfig) {
    config
        .service(health::livez)
        .service(health::readyz)
        .service(health::metrics)
        .service(dashboard::index)
        .service(webhooks::tiktok)
        .service(cluster::stream)
        .service(cluster::submit)
        .service(oauth::callback)
        .service(
            scope("/graphql")
                .wrap(from_fn(rate_limit::limit))
                .service(graphql::execute)
                .service(graphql::subscribe),
        )
        .service(
            scope("/ui")
                .wrap(Compress::default())
                .service(dashboard::sign_in_page)
                .service(dashboard::sign_in)
                .service(dashboard::sign_out)
                .service(dashboard::asset)
                .service(dashboard::events)
                .service(dashboard::list)
                .service(dashboard::rows)
                .service(dashboard::count)
                .service(dashboard::save_view)
                .service(dashboard::remove_view)
                .service(dashboard::one_row)
                .service(dashboard::packing_slips)
                .service(dashboard::show)
                .service(dashboard::fetch_label)
                .service(dashboard::command)
                .service(dashboard::confirm)
                .service(dashboard::start)
                .service(dashboard::jobs_page)
                .service(dashboard::job_page)
                .service(dashboard::cancel_job)
                .service(dashboard::download)
                .service(dashboard::workflows_page)
                .service(dashboard::replay)
                .service(dashboard::stock_page)
                .service(dashboard::adjust)
                .service(dashboard::system_page)
                .service(dashboard::replay_kept)
                .service(dashboard::analytics_page),
        )
        .service(
            scope("/api/v1")
                .wrap(from_fn(idempotency::replay))
                .wrap(from_fn(rate_limit::limit))
                .service(openapi::document)
                .service(shops::list)
                .service(shops::show)
                .service(shops::create)
                .service(api_keys::list)
                .service(api_keys::create)
                .service(api_keys::revoke)
                .service(api_keys::rotate)
                .service(audit::list)
                .service(cluster::status)
                .service(flags::list)
                .service(flags::show)
                .service(flags::set)
                .service(events::stream)
                .service(bulk::create)
                .service(bulk::list)
                .service(bulk::show)
                .service(bulk::cancel)
                .service(bulk::items)
                .service(bulk::result)
                .service(orders::list)
                .service(orders::show)
                .service(orders::history)
                .service(orders::hold)
                .service(orders::release)
                .service(orders::tags)
                .service(orders::priority)
                .service(orders::retry_workflow)
                .service(orders::cancel)
                .service(requests::reject_reasons)
                .service(requests::approve_request)
                .service(requests::reject_request)
                .service(pick_list::show)
                .service(webhooks::quarantine)
                .service(webhooks::replay)
                .service(oauth::authorize_link)
                .service(workflows::list)
                .service(workflows::show)
                .service(workflows::simulate)
                .service(workflows::order_run)
                .service(workflows::dead_letters)
                .service(workflows::replay)
                .service(inventory::list)
                .service(inventory::show)
                .service(inventory::set)
                .service(inventory::adjust)
                .service(inventory::reservation)
                .service(shipments::show)
                .service(shipments::label)
                .service(analytics::summary)
                .service(notifications::subscribe)
                .service(notifications::subscriptions)
                .service(notifications::unsubscribe)
                .service(notifications::deliveries)
                .service(notifications::redeliver),
        );
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::base())
        .configure(routes)
        .split_for_parts();
    openapi::Conventions.modify(&mut api);
    api
}

/// No route matched: 405 with `Allow` if the path exists with other methods, else 404.
async fn unrouted(req: HttpRequest, spec: web::Data<Spec>) -> Result<HttpResponse, Error> {
    match spec.allowed(req.path()) {
        Some(allow) => Err(Error::MethodNotAllowed {
            method: req.method().to_string(),
            allow,
        }),
        None => Err(Error::NotFound(format!("{} {}", req.method(), req.path()))),
    }
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server gracefully: stop accepting, finish requests in flight
    /// (up to `http.shutdown_timeout`), then return from [`Server::stopped`].
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Runs until the server has stopped.
    pub async fn stopped(self) -> std::io::Result<()> {
        self.running.await
    }
}
