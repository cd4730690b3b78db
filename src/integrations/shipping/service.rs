//! The label and ship steps, and voiding an unused label.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::json;

use super::batch::{LEFT, ShipQueue, Shipped};
use super::{Error, LabelApi};
use crate::config;
use crate::domain::{AfterSale, OrderId, ShopId};
use crate::domain::{ShipmentProvider, ShipmentState};
use crate::integrations::tiktok::client::Client;
use crate::integrations::tiktok::model::ShippingDocument;
use crate::persistence::shipments::Shipment;
use crate::persistence::{Database, OrderRecord};

#[derive(Clone)]
pub struct Shipping {
    db: Database,
    tiktok: Client,
    queue: ShipQueue,
    labels: Option<LabelApi>,
    provider_ids: HashMap<String, String>,
}

impl Shipping {
    pub fn new(
        db: Database,
        tiktok: Client,
        settings: &config::ShippingSettings,
    ) -> anyhow::Result<Self> {
        let labels = (!settings.label_api_url.is_empty())
            .then(|| LabelApi::new(&settings.label_api_url, settings.label_api_key.clone()))
            .transpose()?;
        Ok(Self {
            db,
            queue: ShipQueue::new(tiktok.clone()),
            tiktok,
            labels,
            provider_ids: settings
                .tiktok_provider_ids
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.clone()))
                .collect(),
        })
    }

    /// Buys the order's label; says what was done.
    pub async fn buy_label(&self, view: &OrderRecord) -> Result<String, Error> {
        let (order_id, shop) = ids(view);
        no_request_waits(view)?;
        if let Some(s) = self.current(&order_id).await? {
            return Ok(format!(
                "label already bought ({} {})",
                s.carrier.as_deref().unwrap_or(s.provider.as_str()),
                s.tracking_number.as_deref().unwrap_or("")
            ));
        }
        if tiktok_ships(view) {
            let (package, shipped) = self.ship_at_tiktok(&order_id, &shop, view).await?;
            let shipment = shipped_by_tiktok(&order_id, &shop, &package, Default::default());
            self.db.shipments().record(&shipment).await?;
            return Ok(format!(
                "TikTok shipping: package {package} {}; its label is fetched when asked for",
                match shipped {
                    Shipped::Now => "shipped",
                    Shipped::Already => "already shipped",
                }
            ));
        }
        let Some(labels) = &self.labels else {
            return Err(Error::NotConfigured(
                "the order ships with the seller's carrier and no label API is configured (shipping.label_api_url)"
                    .into(),
            ));
        };
        let detail = view
            .detail
            .as_ref()
            .ok_or(Error::Missing("the order has no detail yet"))?;
        let ship_to = detail
            .recipient
            .clone()
            .ok_or(Error::Missing("TikTok's detail has no recipient address"))?;
        let parcels = detail.packages.len().max(1) as u32;
        let label = labels
            .buy(
                &format!("order:{}", order_id.as_str()),
                order_id.as_str(),
                &ship_to,
                parcels,
            )
            .await?;
        let shipment = Shipment {
            order_id: order_id.clone(),
            shop_id: shop.clone(),
            provider: ShipmentProvider::LabelApi,
            provider_shipment_id: Some(label.shipment_id.clone()),
            package_id: detail.packages.first().cloned(),
            carrier: Some(label.carrier.clone()),
            tracking_number: Some(label.tracking_number.clone()),
            label_url: Some(label.label_url),
            state: ShipmentState::Purchased,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        self.db.shipments().record(&shipment).await?;
        Ok(format!(
            "label bought: {} {}",
            label.carrier, label.tracking_number
        ))
    }

    /// Ships the order: TikTok-shipped packages are shipped if the label step did not already;
    /// seller-shipped ones have their tracking number pushed to TikTok.
    pub async fn ship(&self, view: &OrderRecord) -> Result<String, Error> {
        let (order_id, shop) = ids(view);
        no_request_waits(view)?;
        let shipment = self.current(&order_id).await?;
        if tiktok_ships(view) {
            if let Some(s) = shipment.filter(|s| s.state == ShipmentState::Shipped) {
                return Ok(format!(
                    "shipped with TikTok (package {})",
                    s.package_id.unwrap_or_default()
                ));
            }
            let (package, shipped) = self.ship_at_tiktok(&order_id, &shop, view).await?;
            let shipment = shipped_by_tiktok(&order_id, &shop, &package, Default::default());
            self.db.shipments().record(&shipment).await?;
            return Ok(match shipped {
                Shipped::Now => format!("package {package} shipped (pickup)"),
                Shipped::Already => format!("package {package} already shipped"),
            });
        }
        let s = shipment.ok_or(Error::Missing("no label was bought for this order"))?;
        if s.state == ShipmentState::Shipped {
            return Ok(format!(
                "already shipped ({})",
                s.tracking_number.unwrap_or_default()
            ));
        }
        let tracking = s
            .tracking_number
            .clone()
            .ok_or(Error::Missing("the label has no tracking number"))?;
        let carrier = s.carrier.clone().unwrap_or_default();
        let provider_id = self.provider_ids.get(&carrier.to_lowercase()).ok_or_else(|| {
            Error::NotConfigured(format!(
                "no TikTok shipping_provider_id for carrier {carrier} (shipping.tiktok_provider_ids.{})",
                carrier.to_lowercase()
            ))
        })?;
        // Mark Package As Shipped has no idempotency key: look first.
        let current = self
            .tiktok
            .order_details(&shop, std::slice::from_ref(&order_id))
            .await?;
        let wire = current
            .first()
            .ok_or(Error::Missing("TikTok does not know the order"))?;
        let body = json!({ "tracking_number": tracking, "shipping_provider_id": provider_id });
        let what = if !LEFT.contains(&wire.status.as_str()) {
            let mut body = body;
            body["order_line_item_ids"] = json!(
                wire.line_items
                    .iter()
                    .map(|l| l.id.0.clone())
                    .collect::<Vec<_>>()
            );
            self.tiktok.mark_shipped(&shop, &order_id, &body).await?;
            format!("TikTok told: shipped with {carrier} {tracking}")
        } else if wire.tracking_number.as_deref() != Some(tracking.as_str()) {
            self.tiktok
                .update_shipping_info(&shop, &order_id, &body)
                .await?;
            format!("TikTok's tracking number updated to {carrier} {tracking}")
        } else {
            format!("already shipped at TikTok with {carrier} {tracking}")
        };
        self.db
            .shipments()
            .set_state(&order_id, ShipmentState::Shipped)
            .await?;
        Ok(what)
    }

    /// Voids the order's label if it was bought and not used; says what was done.
    pub async fn void_unused(&self, order_id: &OrderId) -> Result<Option<String>, Error> {
        let Some(s) = self.current(order_id).await? else {
            return Ok(None);
        };
        if s.state != ShipmentState::Purchased {
            return Ok(None);
        }
        if let (Some(labels), Some(id)) = (&self.labels, &s.provider_shipment_id) {
            labels.void(id).await?;
        }
        self.db
            .shipments()
            .set_state(order_id, ShipmentState::Voided)
            .await?;
        Ok(Some(format!(
            "label {} voided",
            s.tracking_number.unwrap_or_default()
        )))
    }

    /// The order's live shipment (a voided one does not count).
    async fn current(&self, order_id: &OrderId) -> Result<Option<Shipment>, Error> {
        Ok(self
            .db
            .shipments()
            .get(order_id)
            .await?
            .filter(|s| s.state != ShipmentState::Voided))
    }

    /// Ships the order's package at TikTok unless TikTok shows it shipped; returns the package.
    async fn ship_at_tiktok(
        &self,
        order_id: &OrderId,
        shop: &ShopId,
        view: &OrderRecord,
    ) -> Result<(String, Shipped), Error> {
        let package = view
            .detail
            .as_ref()
            .and_then(|d| d.packages.first())
            .cloned()
            .ok_or(Error::Missing("TikTok's detail names no package to ship"))?;
        // With the shop's next batch. TikTok offers no idempotency key for it: a package it
        // refuses because its order already left counts as shipped.
        let shipped = self.queue.ship(shop, order_id, &package).await?;
        Ok((package, shipped))
    }

    /// The order's shipping label: the URL stored, or for a TikTok-shipped package its
    /// shipping document fetched now (and stored). `None` if the order has no shipment yet.
    pub async fn label(&self, order_id: &OrderId) -> Result<Option<String>, Error> {
        let Some(mut shipment) = self.current(order_id).await? else {
            return Ok(None);
        };
        if let Some(url) = &shipment.label_url {
            return Ok(Some(url.clone()));
        }
        let (ShipmentProvider::Tiktok, Some(package)) =
            (shipment.provider, shipment.package_id.clone())
        else {
            return Ok(None);
        };
        let document = self
            .tiktok
            .shipping_document(&shipment.shop_id, &package)
            .await?;
        shipment.label_url = document.doc_url.clone();
        if shipment.tracking_number.is_none() {
            shipment.tracking_number = document.tracking_number;
        }
        self.db.shipments().record(&shipment).await?;
        Ok(document.doc_url)
    }
}

/// A package TikTok ships, with its shipping document if fetched.
fn shipped_by_tiktok(
    order_id: &OrderId,
    shop: &ShopId,
    package: &str,
    document: ShippingDocument,
) -> Shipment {
    Shipment {
        order_id: order_id.clone(),
        shop_id: shop.clone(),
        provider: ShipmentProvider::Tiktok,
        provider_shipment_id: None,
        package_id: Some(package.to_owned()),
        carrier: Some("TikTok Shipping".into()),
        tracking_number: document.tracking_number,
        label_url: document.doc_url,
        state: ShipmentState::Shipped,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn ids(view: &OrderRecord) -> (OrderId, ShopId) {
    (view.order.id.clone(), view.order.shop_id.clone())
}

fn tiktok_ships(view: &OrderRecord) -> bool {
    view.detail
        .as_ref()
        .and_then(|d| d.shipping_type.as_deref())
        .unwrap_or("TIKTOK")
        == "TIKTOK"
}

/// Refuses while a buyer's request waits for the seller's answer (a cancellation asked for
/// before the parcel leaves, say): neither a label nor a parcel goes before it is answered.
fn no_request_waits(view: &OrderRecord) -> Result<(), Error> {
    match view.requests.iter().find_map(AfterSale::stops_shipping) {
        Some(stop) => Err(Error::AwaitingSeller(stop)),
        None => Ok(()),
    }
}
