use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;

use super::{Error, Ingress, dashboard, health, observe, orders, shops, webhooks};
use crate::actors::RegistryHandle;
use crate::config;
use crate::persistence::Database;

/// Largest JSON body the REST API accepts (webhooks have their own limit).
const MAX_JSON_BYTES: usize = 256 * 1024;

/// The running HTTP server: await [`Server::stopped`], stop it with [`Server::stop`].
pub struct Server {
    running: actix_web::dev::Server,
    handle: ServerHandle,
    addr: SocketAddr,
}

/// Starts serving on `listener`. Signals are not handled here: shutdown is the app's job, so
/// that it can be ordered and triggered by tests.
pub fn start(
    listener: TcpListener,
    db: Database,
    registry: RegistryHandle,
    ingress: Ingress,
    settings: &config::Http,
) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let ingress = web::Data::new(ingress);
    let db = web::Data::new(db);
    let registry = web::Data::new(registry);
    let running = HttpServer::new(move || {
        App::new()
            .app_data(db.clone())
            .app_data(registry.clone())
            .app_data(ingress.clone())
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
            .wrap(from_fn(observe::observe))
            .wrap(TracingLogger::default())
            .service(health::livez)
            .service(health::readyz)
            .service(health::metrics)
            .service(dashboard::index)
            .service(webhooks::tiktok)
            .service(
                web::scope("/api/v1")
                    .service(shops::list)
                    .service(shops::show)
                    .service(shops::create)
                    .service(orders::list)
                    .service(orders::show)
                    .service(orders::history)
                    .service(orders::hold)
                    .service(orders::release)
                    .service(webhooks::quarantine),
            )
            .default_service(web::to(not_found))
    })
    .workers(config::resolve_per_core(settings.workers))
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
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

async fn not_found(req: HttpRequest) -> Result<HttpResponse, Error> {
    Err(Error::NotFound(format!("{} {}", req.method(), req.path())))
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
