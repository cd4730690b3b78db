//! Notifications: creators' webhook subscriptions, the consumer that turns bus messages into
//! deliveries, and the sender that signs and delivers them with retries.

mod sender;
mod store;

pub use sender::{Sender, signature, subscription};
pub use store::{
    DeliveryAttempt, DeliveryState, NotificationStore, WebhookDelivery, WebhookSubscription,
};
