//! What the sandbox's handlers share: the world, the app's credentials, the rate limiter.

use std::sync::Mutex;

use governor::DefaultKeyedRateLimiter;

use crate::world::World;

pub struct Shared {
    pub world: Mutex<World>,
    pub app_key: String,
    pub app_secret: String,
    pub limiter: DefaultKeyedRateLimiter<String>,
    /// Where webhooks go; `None` = nowhere yet (they wait).
    pub webhook_url: Mutex<Option<String>>,
    /// Bearer key of the label API stand-in.
    pub label_api_key: String,
}

impl Shared {
    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}
