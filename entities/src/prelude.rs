pub use super::api_keys::Entity as ApiKeys;
pub use super::order_events::Entity as OrderEvents;
pub use super::order_items::Entity as OrderItems;
pub use super::orders::Entity as Orders;
pub use super::outbox::Entity as Outbox;
pub use super::shops::Entity as Shops;
pub use super::webhook_inbox::Entity as WebhookInbox;
pub use super::webhook_quarantine::Entity as WebhookQuarantine;
