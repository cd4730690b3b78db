//! The TikTok Shop API client: every call signed with the 202309 recipe, the seller's token in
//! `x-tts-access-token` (refreshed before it expires, and once more on 105002), a rate limit per
//! shop, retries with exponential backoff and jitter on 429 / 36009002 / 5xx / timeouts, and
//! `code != 0` inside an HTTP 200 treated as the error it is. Every response's `request_id` is
//! logged.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::App;
use super::model::{ShippingDocument, WireOrder};
use super::vault::{self, Vault};
use crate::config;
use crate::domain::{AfterSaleKind, Answer, OrderId, RejectReason, ShopId, ShopName};
use crate::persistence::{self, AuthorizedShop, Database, SealedTokens, Shop, ShopAuth};
use crate::telemetry::metrics::TIKTOK_REQUESTS_TOTAL;
use tiktok_wire::lenient::Lenient;
pub use tiktok_wire::order::MAX_BATCH_SHIP;
use tiktok_wire::order::{BatchShipResult, PackageError};
use tiktok_wire::signature::request_signature;

/// Most ids Get Order Detail takes per call.
pub const MAX_DETAIL_IDS: usize = 50;
/// A token this close to expiry is refreshed before use.
const REFRESH_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

pub use tiktok_wire::code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// TikTok answered with a non-zero `code` (in a 200 or not).
    #[error("TikTok error {code}: {message} (HTTP {status}, request_id {request_id})")]
    Api {
        code: i64,
        message: String,
        status: u16,
        request_id: String,
    },
    #[error("cannot reach TikTok")]
    Transport(#[source] reqwest::Error),
    #[error("TikTok's answer is not what its API documents: {0}")]
    Decode(String),
    #[error("shop {0} has no TikTok authorisation (add it with an auth code)")]
    NotAuthorized(ShopId),
    #[error("shop {0} withdrew its authorisation")]
    Deauthorized(ShopId),
    #[error("tiktok.app_key and tiktok.app_secret must be set to call TikTok")]
    NotConfigured,
    #[error(transparent)]
    Vault(#[from] vault::Error),
    #[error("cannot read or store the shop's tokens")]
    Storage(#[from] persistence::Error),
}

impl Error {
    /// A failure no retry mends: the shop's authorisation or the app's credentials are missing.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Error::NotAuthorized(_) | Error::Deauthorized(_) | Error::NotConfigured
        )
    }

    /// A failure that may pass: throttling, TikTok's own trouble, the network.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api { code, status, .. } => {
                matches!(*status, 429 | 500 | 502 | 503 | 504)
                    || matches!(
                        *code,
                        code::TOO_MANY_REQUESTS | code::INTERNAL | code::TRANSIENT
                    )
            }
            Error::Transport(e) => e.is_timeout() || e.is_connect() || e.is_request(),
            _ => false,
        }
    }

    /// A failure that certainly left TikTok unchanged (safe to repeat even a write).
    fn refused_before_processing(&self) -> bool {
        match self {
            Error::Api { code, status, .. } => *status == 429 || *code == code::TOO_MANY_REQUESTS,
            Error::Transport(e) => e.is_connect(),
            _ => false,
        }
    }

    fn is_token_expired(&self) -> bool {
        matches!(
            self,
            Error::Api {
                code: code::ACCESS_TOKEN_EXPIRED,
                ..
            }
        )
    }
}

/// Whether a call may be repeated after any transient failure (reads, and writes TikTok dedupes
/// by `idempotency_key`) or only after one that TikTok certainly refused (other writes: a
/// timed-out "ship" may have shipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    OnlyIfRefused,
}

/// TikTok's response envelope.
#[derive(Deserialize)]
struct Envelope<T> {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    request_id: String,
    data: Option<T>,
}

pub use tiktok_wire::shop::{TokenGrant, WireShop};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopList {
    #[serde(default)]
    pub shops: Vec<WireShop>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderList {
    #[serde(default)]
    pub orders: Vec<WireOrder>,
    /// Search only: empty on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub total_count: Option<Lenient<i64>>,
}

/// A page of Search Orders.
#[derive(Debug, Clone)]
pub struct Page {
    pub orders: Vec<WireOrder>,
    pub next: Option<String>,
}

/// A shop's credentials for one call.
struct Session {
    shop_id: ShopId,
    cipher: Option<String>,
    token: SecretString,
}

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    app: App,
    api_base: String,
    auth_base: String,
    db: Database,
    vault: Vault,
    limiter: DefaultKeyedRateLimiter<ShopId>,
    backoff: ExponentialBuilder,
    /// One refresh at a time, so concurrent calls do not spend a refresh token twice.
    refreshing: tokio::sync::Mutex<()>,
}

impl Client {
    pub fn new(settings: &config::TikTokSettings, db: Database) -> Result<Self, Error> {
        crate::integrations::install_tls();
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .user_agent(concat!("creatorflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::Transport)?;
        // Exported from the start at zero, for the alert on the ratio of failed calls.
        for outcome in ["ok", "error"] {
            metrics::counter!(TIKTOK_REQUESTS_TOTAL, "shop" => "app", "outcome" => outcome)
                .increment(0);
        }
        let per_second = NonZeroU32::new(settings.requests_per_second).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                app: App::from_settings(settings),
                api_base: settings.api_base_url.trim_end_matches('/').to_owned(),
                auth_base: settings.auth_base_url.trim_end_matches('/').to_owned(),
                vault: Vault::with_previous(
                    &settings.token_key,
                    &settings.previous_token_keys,
                    &settings.app_secret,
                )?,
                db,
                limiter: RateLimiter::keyed(Quota::per_second(per_second)),
                backoff: ExponentialBuilder::default()
                    .with_min_delay(settings.retry_base)
                    .with_max_delay(Duration::from_secs(60))
                    .with_max_times(settings.max_retries)
                    .with_jitter(),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    // ---- seller authorisation -------------------------------------------------------------

    /// Exchanges a seller's single-use auth code for tokens, then records every shop those
    /// tokens reach (Get Authorized Shops). With `only`, that shop must be among them and is
    /// the only one recorded, under `name` if given.
    pub async fn authorize(
        &self,
        auth_code: &str,
        only: Option<&ShopId>,
        name: Option<&ShopName>,
    ) -> Result<Vec<Shop>, Error> {
        let grant = self
            .token_call(
                "/api/v2/token/get",
                "auth_code",
                auth_code,
                "authorized_code",
            )
            .await?;
        let token = SecretString::from(grant.access_token.clone());
        let shops: ShopList = self
            .send(
                None,
                &token,
                Method::GET,
                "/authorization/202309/shops",
                &[],
                None,
                Repeat::Safe,
            )
            .await?;
        let sealed = self.seal(&grant)?;
        let mut stored = Vec::new();
        for shop in shops.shops {
            let id = ShopId::parse(&shop.id.0)
                .map_err(|e| Error::Decode(format!("authorized shop id: {e}")))?;
            if only.is_some_and(|wanted| *wanted != id) {
                continue;
            }
            let shop = AuthorizedShop {
                id,
                name: shop.name,
                region: shop.region,
                cipher: shop.cipher,
            };
            stored.push(
                self.inner
                    .db
                    .shops()
                    .authorize(&shop, name, &sealed)
                    .await?,
            );
            tracing::info!(shop_id = %shop.id, "TikTok shop authorised");
        }
        if let Some(wanted) = only
            && stored.is_empty()
        {
            return Err(Error::Decode(format!(
                "the auth code does not authorise shop {wanted}"
            )));
        }
        Ok(stored)
    }

    async fn token_call(
        &self,
        path: &str,
        grant_key: &str,
        grant: &str,
        grant_type: &str,
    ) -> Result<TokenGrant, Error> {
        let app = &self.inner.app;
        if app.key.is_empty() || app.secret.expose_secret().is_empty() {
            return Err(Error::NotConfigured);
        }
        let url = format!("{}{path}", self.inner.auth_base);
        let attempt = || async {
            let response = self
                .inner
                .http
                .get(&url)
                .query(&[
                    ("app_key", app.key.as_str()),
                    ("app_secret", app.secret.expose_secret()),
                    (grant_key, grant),
                    ("grant_type", grant_type),
                ])
                .send()
                .await
                .map_err(transport)?;
            decode(path, response).await
        };
        attempt
            .retry(self.inner.backoff)
            .when(Error::is_transient)
            .notify(
                |e, delay| tracing::warn!(error = %e, ?delay, path, "retrying TikTok auth call"),
            )
            .await
    }

    fn seal(&self, grant: &TokenGrant) -> Result<SealedTokens, Error> {
        let at = |t: i64| {
            DateTime::from_timestamp(t, 0)
                .ok_or_else(|| Error::Decode(format!("token expiry {t} is not a unix time")))
        };
        let vault = &self.inner.vault;
        Ok(SealedTokens {
            access: vault.seal(&SecretString::from(grant.access_token.clone())),
            access_expires_at: at(grant.access_token_expire_in)?,
            refresh: vault.seal(&SecretString::from(grant.refresh_token.clone())),
            refresh_expires_at: at(grant.refresh_token_expire_in)?,
        })
    }

    /// The shop's credentials, refreshing the access token first if it is about to expire (or
    /// `force`).
    async fn session(&self, shop: &ShopId, force: bool) -> Result<Session, Error> {
        let auth = self.auth(shop).await?;
        let tokens = auth.tokens.as_ref().expect("auth() checked");
        if force || tokens.access_expires_at - REFRESH_MARGIN <= Utc::now() {
            let _one_at_a_time = self.inner.refreshing.lock().await;
            // Another call may have refreshed while this one waited.
            let again = self.auth(shop).await?;
            let current = again.tokens.as_ref().expect("auth() checked");
            let fresh = current.access != tokens.access
                && current.access_expires_at - REFRESH_MARGIN > Utc::now();
            if !fresh {
                let refresh = self.inner.vault.open(&current.refresh)?;
                let grant = self
                    .token_call(
                        "/api/v2/token/refresh",
                        "refresh_token",
                        refresh.expose_secret(),
                        "refresh_token",
                    )
                    .await?;
                self.inner
                    .db
                    .shops()
                    .store_tokens(shop, &self.seal(&grant)?)
                    .await?;
                tracing::info!(shop_id = %shop, "TikTok access token refreshed");
            }
            return self.open_session(self.auth(shop).await?);
        }
        self.open_session(auth)
    }

    async fn auth(&self, shop: &ShopId) -> Result<ShopAuth, Error> {
        let auth = self
            .inner
            .db
            .shops()
            .auth(shop)
            .await?
            .ok_or_else(|| Error::NotAuthorized(shop.clone()))?;
        if auth.deauthorized_at.is_some() {
            return Err(Error::Deauthorized(shop.clone()));
        }
        if auth.tokens.is_none() {
            return Err(Error::NotAuthorized(shop.clone()));
        }
        Ok(auth)
    }

    fn open_session(&self, auth: ShopAuth) -> Result<Session, Error> {
        let tokens = auth
            .tokens
            .as_ref()
            .ok_or_else(|| Error::NotAuthorized(auth.shop_id.clone()))?;
        Ok(Session {
            token: self.inner.vault.open(&tokens.access)?,
            shop_id: auth.shop_id,
            cipher: auth.cipher,
        })
    }

    // ---- calls ----------------------------------------------------------------------------

    /// A signed call for `shop`, refreshing and repeating once if TikTok says the token expired.
    async fn call<T: DeserializeOwned>(
        &self,
        shop: &ShopId,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        repeat: Repeat,
    ) -> Result<T, Error> {
        let session = self.session(shop, false).await?;
        let first = self
            .send(
                Some(&session),
                &session.token,
                method.clone(),
                path,
                query,
                body.clone(),
                repeat,
            )
            .await;
        match first {
            Err(e) if e.is_token_expired() => {
                tracing::info!(shop_id = %shop, "TikTok says the access token expired; refreshing");
                let session = self.session(shop, true).await?;
                self.send(
                    Some(&session),
                    &session.token,
                    method,
                    path,
                    query,
                    body,
                    repeat,
                )
                .await
            }
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send<T: DeserializeOwned>(
        &self,
        session: Option<&Session>,
        token: &SecretString,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        repeat: Repeat,
    ) -> Result<T, Error> {
        let app = &self.inner.app;
        if app.key.is_empty() || app.secret.expose_secret().is_empty() {
            return Err(Error::NotConfigured);
        }
        let attempt = || async {
            if let Some(session) = session {
                self.inner.limiter.until_key_ready(&session.shop_id).await;
            }
            // Each attempt is signed afresh: the timestamp must be current.
            let timestamp = Utc::now().timestamp().to_string();
            let mut params: Vec<(&str, &str)> =
                vec![("app_key", app.key.as_str()), ("timestamp", &timestamp)];
            if let Some(cipher) = session.and_then(|s| s.cipher.as_deref()) {
                params.push(("shop_cipher", cipher));
            }
            params.extend(query.iter().map(|(k, v)| (*k, v.as_str())));
            let sign = request_signature(
                app.secret.expose_secret().as_bytes(),
                path,
                &params,
                body.as_deref(),
            );
            params.push(("sign", &sign));
            let mut request = self
                .inner
                .http
                .request(method.clone(), format!("{}{path}", self.inner.api_base))
                .query(&params)
                .header("x-tts-access-token", token.expose_secret())
                .header("content-type", "application/json");
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => decode(path, response).await,
                Err(e) => Err(transport(e)),
            };
            let shop = session.map_or("app", |s| s.shop_id.as_str()).to_owned();
            let result = if outcome.is_ok() { "ok" } else { "error" };
            metrics::counter!(TIKTOK_REQUESTS_TOTAL, "shop" => shop, "outcome" => result)
                .increment(1);
            outcome
        };
        attempt
            .retry(self.inner.backoff)
            .when(|e: &Error| match repeat {
                Repeat::Safe => e.is_transient(),
                Repeat::OnlyIfRefused => e.refused_before_processing(),
            })
            .notify(|e, delay| tracing::warn!(error = %e, ?delay, path, "retrying TikTok call"))
            .await
    }

    /// Get Authorized Shops with the shop's token.
    pub async fn authorized_shops(&self, shop: &ShopId) -> Result<Vec<WireShop>, Error> {
        let list: ShopList = self
            .call(
                shop,
                Method::GET,
                "/authorization/202309/shops",
                &[],
                None,
                Repeat::Safe,
            )
            .await?;
        Ok(list.shops)
    }

    /// One page of Search Orders by update time, oldest first.
    pub async fn search_orders(
        &self,
        shop: &ShopId,
        update_time_ge: i64,
        update_time_lt: i64,
        page_token: Option<&str>,
        page_size: u32,
    ) -> Result<Page, Error> {
        let mut query = vec![
            ("page_size", page_size.to_string()),
            ("sort_field", "update_time".to_owned()),
            ("sort_order", "ASC".to_owned()),
        ];
        if let Some(token) = page_token.filter(|t| !t.is_empty()) {
            query.push(("page_token", token.to_owned()));
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "update_time_ge": update_time_ge,
            "update_time_lt": update_time_lt,
        }))
        .expect("a JSON object serialises");
        let list: OrderList = self
            .call(
                shop,
                Method::POST,
                "/order/202309/orders/search",
                &query,
                Some(body),
                Repeat::Safe,
            )
            .await?;
        Ok(Page {
            orders: list.orders,
            next: list.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// Get Order Detail for any number of orders, 50 ids per call.
    pub async fn order_details(
        &self,
        shop: &ShopId,
        ids: &[OrderId],
    ) -> Result<Vec<WireOrder>, Error> {
        let mut orders = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_DETAIL_IDS) {
            let joined = chunk
                .iter()
                .map(OrderId::as_str)
                .collect::<Vec<_>>()
                .join(",");
            let list: OrderList = self
                .call(
                    shop,
                    Method::GET,
                    "/order/202309/orders",
                    &[("ids", joined)],
                    None,
                    Repeat::Safe,
                )
                .await?;
            orders.extend(list.orders);
        }
        Ok(orders)
    }

    /// Ship Package. A write TikTok does not dedupe: repeated only if TikTok refused it.
    pub async fn ship_package(
        &self,
        shop: &ShopId,
        package_id: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        let path = format!("/fulfillment/202309/packages/{package_id}/ship");
        self.write(shop, &path, &[], body).await
    }

    /// Batch Ship Packages (TikTok shipping, handed over at pickup): up to
    /// [`MAX_BATCH_SHIP`] packages in one call, one request of the shop's rate limit. Answers the
    /// packages TikTok refused, each with its code and message; the rest were shipped.
    pub async fn ship_packages(
        &self,
        shop: &ShopId,
        packages: &[&str],
    ) -> Result<Vec<PackageError>, Error> {
        let list: Vec<serde_json::Value> = packages
            .iter()
            .map(|id| serde_json::json!({ "id": id, "handover_method": "PICKUP" }))
            .collect();
        let body = serde_json::json!({ "packages": list });
        let data = self
            .write(shop, "/fulfillment/202309/packages/ship", &[], &body)
            .await?;
        if data.is_null() {
            return Ok(Vec::new());
        }
        let result: BatchShipResult = serde_json::from_value(data)
            .map_err(|e| Error::Decode(format!("Batch Ship Packages: {e}")))?;
        Ok(result.errors)
    }

    /// Get Package Shipping Document (TikTok shipping, once shipped): the label.
    pub async fn shipping_document(
        &self,
        shop: &ShopId,
        package_id: &str,
    ) -> Result<ShippingDocument, Error> {
        let path = format!("/fulfillment/202309/packages/{package_id}/shipping_documents");
        let query = [("document_type", "SHIPPING_LABEL".to_owned())];
        self.call(shop, Method::GET, &path, &query, None, Repeat::Safe)
            .await
    }

    /// Mark Package As Shipped (seller's own carrier).
    pub async fn mark_shipped(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        let path = format!("/fulfillment/202309/orders/{order_id}/packages");
        self.write(shop, &path, &[], body).await
    }

    /// Update Shipping Info (tracking number and carrier, within 72 h of shipping).
    pub async fn update_shipping_info(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        let path = format!("/fulfillment/202309/orders/{order_id}/shipping_info/update");
        self.write(shop, &path, &[], body).await
    }

    /// Seller Cancel Order.
    pub async fn cancel_order(
        &self,
        shop: &ShopId,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        self.write(shop, "/return_refund/202309/cancellations", &[], body)
            .await
    }

    /// Approve or Reject Cancellation, or Approve or Reject Return, as `answer` says. TikTok
    /// dedupes these by `idempotency_key`, so they are repeated after any passing failure.
    pub async fn answer_request(
        &self,
        shop: &ShopId,
        answer: &Answer,
    ) -> Result<serde_json::Value, Error> {
        let noun = match answer.kind {
            AfterSaleKind::Cancellation => "cancellations",
            AfterSaleKind::Return => "returns",
        };
        let verb = if answer.approve { "approve" } else { "reject" };
        let path = format!("/return_refund/202309/{noun}/{}/{verb}", answer.request);
        let mut body = serde_json::Map::new();
        if let Some(decision) = &answer.decision {
            body.insert("decision".into(), decision.as_str().into());
        }
        if let Some(reason) = &answer.reason {
            body.insert("reject_reason".into(), reason.as_str().into());
        }
        let body = serde_json::to_vec(&body).expect("a JSON map serialises");
        let query = [("idempotency_key", answer.idempotency_key())];
        let data: Option<serde_json::Value> = self
            .call(shop, Method::POST, &path, &query, Some(body), Repeat::Safe)
            .await?;
        Ok(data.unwrap_or(serde_json::Value::Null))
    }

    /// Get Reject Reasons: the reasons TikTok lets the seller reject request `id` (a `cancel_id`
    /// or `return_id`) for, where it stands now; those without a code are left out.
    pub async fn reject_reasons(
        &self,
        shop: &ShopId,
        id: &str,
    ) -> Result<Vec<RejectReason>, Error> {
        #[derive(Deserialize)]
        struct Listed {
            #[serde(default)]
            name: String,
            #[serde(default)]
            text: String,
        }
        #[derive(Deserialize)]
        struct Reasons {
            #[serde(default)]
            reasons: Vec<Listed>,
        }
        let query = [
            ("return_or_cancel_id", id.to_owned()),
            ("locale", "en-US".to_owned()),
        ];
        let path = "/return_refund/202309/reject_reasons";
        let listed: Reasons = self
            .call(shop, Method::GET, path, &query, None, Repeat::Safe)
            .await?;
        Ok(listed
            .reasons
            .into_iter()
            .filter(|r| !r.name.trim().is_empty())
            .map(|r| RejectReason {
                text: if r.text.is_empty() {
                    r.name.clone()
                } else {
                    r.text
                },
                name: r.name,
            })
            .collect())
    }

    async fn write(
        &self,
        shop: &ShopId,
        path: &str,
        query: &[(&str, String)],
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        // Serialised once: these bytes are signed and these bytes are sent.
        let body = serde_json::to_vec(body).expect("a JSON value serialises");
        let data: Option<serde_json::Value> = self
            .call(
                shop,
                Method::POST,
                path,
                query,
                Some(body),
                Repeat::OnlyIfRefused,
            )
            .await?;
        Ok(data.unwrap_or(serde_json::Value::Null))
    }
}

/// A failed call, without its URL: TikTok's token endpoints take the app secret in the query
/// string, and an error's text reaches logs and answers.
fn transport(error: reqwest::Error) -> Error {
    Error::Transport(error.without_url())
}

/// Reads TikTok's envelope; a non-zero `code` is an error whatever the HTTP status.
async fn decode<T: DeserializeOwned>(path: &str, response: reqwest::Response) -> Result<T, Error> {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(transport)?;
    let envelope: Envelope<T> = match serde_json::from_slice(&bytes) {
        Ok(envelope) => envelope,
        Err(e) if status >= 400 => {
            return Err(Error::Api {
                code: 0,
                message: format!("HTTP {status} without TikTok's envelope ({e})"),
                status,
                request_id: String::new(),
            });
        }
        Err(e) => return Err(Error::Decode(format!("{path}: {e}"))),
    };
    tracing::debug!(path, request_id = %envelope.request_id, code = envelope.code, status, "TikTok answered");
    if envelope.code != 0 || status >= 400 {
        tracing::warn!(path, request_id = %envelope.request_id, code = envelope.code, message = %envelope.message, status, "TikTok refused a call");
        return Err(Error::Api {
            code: envelope.code,
            message: envelope.message,
            status,
            request_id: envelope.request_id,
        });
    }
    match envelope.data {
        Some(data) => Ok(data),
        // `Option<…>` data accepts an absent `data`; anything else needs it.
        None => serde_json::from_value(serde_json::Value::Null)
            .map_err(|_| Error::Decode(format!("{path}: the answer has no data"))),
    }
}
