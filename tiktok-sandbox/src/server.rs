//! The sandbox's HTTP server, its webhook pusher and its order simulation.

use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use futures_util::StreamExt;
use governor::{Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};

use crate::api;
use crate::requests::RequestKind;
use crate::shared::Shared;
use crate::world::{Fault, World};
use tiktok_wire::signature::webhook_signature;

#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub app_key: String,
    pub app_secret: SecretString,
    /// Where webhooks go (the daemon's `/webhooks/tiktok`); `None` = no webhooks.
    pub webhook_url: Option<String>,
    /// Shops simulated from the start (each prints an auth code).
    pub shops: usize,
    /// New orders per second over all shops; 0 = none (tests create their own).
    pub orders_per_second: f64,
    /// Time an order spends in each status before the simulation moves it on.
    pub step: Duration,
    /// Chance that a webhook is sent twice, held back behind the next one, or never sent.
    pub duplicate_rate: f64,
    pub reorder_rate: f64,
    pub drop_rate: f64,
    /// Chance that a simulated order's buyer asks to cancel it once it is paid, and again that
    /// they ask for a refund once it is delivered.
    pub buyer_request_rate: f64,
    /// Lifetime of access tokens.
    pub access_ttl: Duration,
    /// API calls per second per shop before 429.
    pub requests_per_second: u32,
    /// Bearer key of the label API stand-in (`/labels/v1`).
    pub label_api_key: String,
}

impl Options {
    pub fn new(app_key: &str, app_secret: &str) -> Self {
        Self {
            listen: "127.0.0.1:0".parse().expect("a valid address"),
            app_key: app_key.to_owned(),
            app_secret: SecretString::from(app_secret.to_owned()),
            webhook_url: None,
            shops: 0,
            orders_per_second: 0.0,
            step: Duration::from_secs(5),
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            drop_rate: 0.0,
            buyer_request_rate: 0.0,
            access_ttl: Duration::from_secs(7 * 86_400),
            requests_per_second: 50,
            label_api_key: "sandbox-label-key".into(),
        }
    }
}

/// A running sandbox.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: actix_web::dev::ServerHandle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The auth codes of the shops simulated from the start, by shop id.
    pub auth_codes: Vec<(String, String)>,
}

impl Sandbox {
    /// Starts serving and, with a webhook URL, pushing; with `orders_per_second`, simulating.
    /// Must run inside an actix system.
    pub fn start(options: Options) -> std::io::Result<Self> {
        crate::install_tls();
        let per_second = NonZeroU32::new(options.requests_per_second).unwrap_or(NonZeroU32::MIN);
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(options.access_ttl.as_secs() as i64)),
            app_key: options.app_key.clone(),
            app_secret: options.app_secret.expose_secret().to_owned(),
            limiter: RateLimiter::keyed(Quota::per_second(per_second)),
            webhook_url: Mutex::new(options.webhook_url.clone()),
            label_api_key: options.label_api_key.clone(),
        });
        let auth_codes = {
            let mut world = shared.world();
            (0..options.shops)
                .map(|i| {
                    let id = format!("74940496426424{:05}", i + 1);
                    let code = world.add_shop(&id, &format!("Sandbox shop {}", i + 1));
                    (id, code)
                })
                .collect()
        };
        let listener = TcpListener::bind(options.listen)?;
        let addr = listener.local_addr()?;
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(api::handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        let mut tasks = vec![actix_rt::spawn(async move {
            let _ = server.await;
        })];
        tasks.push(actix_rt::spawn(push_webhooks(
            shared.clone(),
            options.clone(),
        )));
        if options.orders_per_second > 0.0 {
            tasks.push(actix_rt::spawn(simulate(shared.clone(), options.clone())));
        }
        Ok(Self {
            addr,
            shared,
            server: handle,
            tasks,
            auth_codes,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for both `tiktok.api_base_url` and `tiktok.auth_base_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends webhooks to `url` from now on (the daemon's `/webhooks/tiktok`).
    pub fn set_webhook_url(&self, url: &str) {
        *self
            .shared
            .webhook_url
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(url.to_owned());
    }

    /// Adds a shop; returns an auth code its seller could hand over.
    pub fn add_shop(&self, id: &str, name: &str) -> String {
        self.shared.world().add_shop(id, name)
    }

    pub fn issue_auth_code(&self, shop_id: &str) -> String {
        self.shared.world().issue_auth_code(shop_id)
    }

    /// A new UNPAID order of `units` units; announced by webhook if `push`.
    pub fn create_order(&self, shop_id: &str, units: usize, push: bool) -> String {
        self.shared.world().create_order(shop_id, units, push)
    }

    /// Moves an order to `status`; announced by webhook if `push` (else only the poller can
    /// notice).
    pub fn set_status(&self, order_id: &str, status: &str, push: bool) -> bool {
        self.shared.world().set_status(order_id, status, push)
    }

    /// Makes an order a pre-order released at `release_date` (unix seconds).
    pub fn set_preorder(&self, order_id: &str, release_date: i64) {
        if let Some(order) = self.shared.world().orders.get_mut(order_id) {
            order.wire.order_type = Some("PRE_ORDER".into());
            order.wire.release_date = Some(tiktok_wire::lenient::Lenient(release_date));
        }
    }

    /// Every call's path pattern so far, in order of arrival.
    pub fn call_log(&self) -> Vec<String> {
        self.shared.world().call_log.clone()
    }

    /// Orders whose package was shipped, in the order the Ship Package calls came.
    pub fn ship_log(&self) -> Vec<String> {
        self.shared.world().ship_log.clone()
    }

    /// Sets the order's ready-to-ship deadline (unix seconds).
    pub fn set_rts_sla(&self, order_id: &str, deadline: i64) {
        if let Some(order) = self.shared.world().orders.get_mut(order_id) {
            order.wire.rts_sla_time = Some(tiktok_wire::lenient::Lenient(deadline));
        }
    }

    /// Makes an order one the seller ships with their own carrier.
    pub fn set_seller_shipping(&self, order_id: &str) {
        if let Some(order) = self.shared.world().orders.get_mut(order_id) {
            order.wire.shipping_type = Some("SELLER".into());
        }
    }

    /// The tracking number TikTok holds for an order.
    pub fn tracking_number(&self, order_id: &str) -> Option<String> {
        self.shared
            .world()
            .orders
            .get(order_id)
            .and_then(|o| o.wire.tracking_number.clone())
    }

    /// The state of the label bought for `order_id` at the label API stand-in.
    pub fn label_status(&self, order_id: &str) -> Option<String> {
        self.shared
            .world()
            .labels
            .values()
            .find(|l| l.order_id == order_id)
            .map(|l| l.status.to_owned())
    }

    pub fn order_status(&self, order_id: &str) -> Option<String> {
        self.shared
            .world()
            .orders
            .get(order_id)
            .map(|o| o.wire.status.clone())
    }

    /// The order's buyer asks to cancel it, or (with `return_type`) for a refund, return or
    /// replacement; TikTok announces it by webhook. The request's id, or why the buyer cannot.
    pub fn buyer_request(
        &self,
        order_id: &str,
        kind: RequestKind,
        return_type: Option<&str>,
    ) -> Result<String, String> {
        self.shared
            .world()
            .buyer_request(order_id, kind, return_type)
    }

    /// The buyer sends an approved return's item back (announced).
    pub fn buyer_ships_back(&self, return_id: &str) -> bool {
        self.shared.world().buyer_ships_back(return_id)
    }

    /// A request's status as TikTok holds it.
    pub fn request_status(&self, id: &str) -> Option<String> {
        self.shared
            .world()
            .requests
            .get(id)
            .map(|r| r.status.clone())
    }

    /// Every access token expires now: the next call is answered 105002.
    pub fn expire_access_tokens(&self) {
        self.shared.world().expire_access_tokens();
    }

    /// The next calls fail like this, in order.
    pub fn inject(&self, faults: &[Fault]) {
        self.shared
            .world()
            .faults
            .extend(faults.iter().map(|f| (None, *f)));
    }

    /// The next calls on this path pattern (e.g. `/fulfillment/202309/packages/{id}/ship`) fail
    /// like this, in order; other paths are not affected.
    pub fn inject_on(&self, pattern: &str, faults: &[Fault]) {
        let mut world = self.shared.world();
        world
            .faults
            .extend(faults.iter().map(|f| (Some(pattern.to_owned()), *f)));
    }

    /// Calls received on a path pattern (ids as `{id}`), e.g. `/order/202309/orders`.
    pub fn calls(&self, pattern: &str) -> u64 {
        self.shared.world().calls.get(pattern).copied().unwrap_or(0)
    }

    pub async fn stop(self) {
        for task in &self.tasks[1..] {
            task.abort();
        }
        self.server.stop(false).await;
    }
}

/// Sends queued webhooks, signed exactly as TikTok signs them, retrying refusals a few times.
async fn push_webhooks(shared: Arc<Shared>, options: Options) {
    let client = reqwest::Client::new();
    let secret = options.app_secret.expose_secret().to_owned();
    let mut held: Option<Vec<u8>> = None;
    loop {
        let url = shared
            .webhook_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(url) = url else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let batch = std::mem::take(&mut shared.world().outbox);
        if batch.is_empty() {
            if let Some(body) = held.take() {
                send(&client, &url, &options.app_key, &secret, body).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        // The wire order of this round: drops, duplicates and held-back bodies applied.
        let mut wire = Vec::with_capacity(batch.len());
        for body in batch {
            if rand::random::<f64>() < options.drop_rate {
                tracing::info!("sandbox: dropping a webhook on purpose");
                continue;
            }
            if held.is_none() && rand::random::<f64>() < options.reorder_rate {
                held = Some(body);
                continue;
            }
            if rand::random::<f64>() < options.duplicate_rate {
                wire.push(body.clone());
            }
            wire.push(body);
            if let Some(late) = held.take() {
                wire.push(late);
            }
        }
        // Like TikTok, several deliveries are in flight at once (so they may also overtake
        // each other).
        let sends = wire
            .into_iter()
            .map(|body| send(&client, &url, &options.app_key, &secret, body));
        futures_util::stream::iter(sends)
            .buffer_unordered(PUSH_CONCURRENCY)
            .for_each(|()| async {})
            .await;
    }
}

/// Webhook deliveries in flight at once.
const PUSH_CONCURRENCY: usize = 16;

async fn send(client: &reqwest::Client, url: &str, key: &str, secret: &str, body: Vec<u8>) {
    let signature = webhook_signature(key, secret.as_bytes(), &body);
    for attempt in 0..4 {
        let sent = client
            .post(url)
            .header("authorization", &signature)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(status = %r.status(), attempt, "sandbox: webhook refused"),
            Err(e) => tracing::warn!(error = %e, attempt, "sandbox: webhook not delivered"),
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
}

/// Creates orders at the configured rate and moves every order on after `step` in a status:
/// UNPAID → ON_HOLD → AWAITING_SHIPMENT (then it waits for the seller to ship), and after
/// shipping AWAITING_COLLECTION → IN_TRANSIT → DELIVERED → COMPLETED.
async fn simulate(shared: Arc<Shared>, options: Options) {
    let tick = Duration::from_millis(100);
    let mut owed = 0.0;
    loop {
        tokio::time::sleep(tick).await;
        owed += options.orders_per_second * tick.as_secs_f64();
        let now = chrono::Utc::now().timestamp();
        let step = options.step.as_secs().max(1) as i64;
        let mut world = shared.world();
        let shops: Vec<String> = world.shops.keys().cloned().collect();
        if shops.is_empty() {
            continue;
        }
        while owed >= 1.0 {
            owed -= 1.0;
            let shop = &shops[rand::random_range(0..shops.len())];
            world.create_order(shop, 1 + rand::random_range(0..3), true);
        }
        let due: Vec<(String, &'static str)> = world
            .orders
            .iter()
            .filter(|(_, o)| o.wire.update_time.0 + step <= now)
            .filter_map(|(id, o)| {
                let next = match o.wire.status.as_str() {
                    "UNPAID" => "ON_HOLD",
                    "ON_HOLD" => "AWAITING_SHIPMENT",
                    "AWAITING_COLLECTION" => "IN_TRANSIT",
                    "IN_TRANSIT" => "DELIVERED",
                    "DELIVERED" => "COMPLETED",
                    _ => return None,
                };
                Some((id.clone(), next))
            })
            .collect();
        for (id, next) in due {
            world.set_status(&id, next, true);
            let asks = options.buyer_request_rate > 0.0
                && rand::random_bool(options.buyer_request_rate.min(1.0));
            let request = match next {
                "AWAITING_SHIPMENT" if asks => Some((RequestKind::Cancellation, None)),
                "DELIVERED" if asks => Some((RequestKind::Return, Some("REFUND"))),
                _ => None,
            };
            if let Some((kind, return_type)) = request {
                let _ = world.buyer_request(&id, kind, return_type);
            }
        }
    }
}
