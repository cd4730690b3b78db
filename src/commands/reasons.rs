//! TikTok's reasons to reject a buyer's request, asked once per request and status: the order's
//! page offers them on every render and a rejection is checked against them, while TikTok's
//! list changes only when the request moves on (a return's parcel back, say).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::domain::{RejectReason, ShopId};
use crate::integrations::tiktok::client::{self, Client};

/// Requests whose reasons are kept (a few hundred waiting requests is a busy shop's day).
const KEPT: usize = 1024;

/// How long a list is believed: TikTok may change its reasons, not often.
const FRESH_FOR: Duration = Duration::from_secs(600);

/// A request's id and status.
type Key = (String, String);

/// The reasons listed for each request and status, with when they were asked.
type Kept = LruCache<Key, (Instant, Arc<[RejectReason]>)>;

/// The reasons cache, over the TikTok client. Cheap to clone.
#[derive(Clone)]
pub struct RejectReasons {
    client: Client,
    kept: Arc<Mutex<Kept>>,
}

impl RejectReasons {
    /// The longest a rejection waits for TikTok's list before TikTok is left to judge its
    /// reason.
    pub const CHECK_WAIT: Duration = Duration::from_secs(2);

    /// The longest a page waits for TikTok's lists before offering a typed reason instead.
    pub const PAGE_WAIT: Duration = Duration::from_secs(1);

    pub fn new(client: Client) -> Self {
        let kept = LruCache::new(NonZeroUsize::new(KEPT).expect("KEPT is not zero"));
        Self {
            client,
            kept: Arc::new(Mutex::new(kept)),
        }
    }

    /// TikTok's reasons to reject request `id` of `shop` for, where it stands (`status`).
    pub async fn of(
        &self,
        shop: &ShopId,
        id: &str,
        status: &str,
    ) -> Result<Arc<[RejectReason]>, client::Error> {
        let key = (id.to_owned(), status.to_owned());
        if let Some((at, reasons)) = self.lock().get(&key)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(reasons.clone());
        }
        let reasons: Arc<[RejectReason]> = self.client.reject_reasons(shop, id).await?.into();
        self.lock().put(key, (Instant::now(), reasons.clone()));
        Ok(reasons)
    }

    /// The same, if TikTok lists them `within` this long (a cached list at once): for a page
    /// to render and a rejection to be checked without waiting out TikTok's retries. `None`
    /// if TikTok failed or was slower.
    pub async fn within(
        &self,
        wait: Duration,
        shop: &ShopId,
        id: &str,
        status: &str,
    ) -> Option<Arc<[RejectReason]>> {
        match tokio::time::timeout(wait, self.of(shop, id, status)).await {
            Ok(Ok(reasons)) => Some(reasons),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, request = id, "TikTok's reject reasons not listed");
                None
            }
            Err(_) => {
                tracing::debug!(request = id, "TikTok's reject reasons not listed in time");
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}
