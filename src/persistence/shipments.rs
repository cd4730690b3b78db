//! Shipments: the label bought for an order (provider, carrier, tracking, label URL) and where
//! it stands: `purchased` (label bought, TikTok not told yet), `shipped`, or `voided`.

use chrono::{DateTime, Utc};
use entities::shipments;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, Set};

use super::{Database, Error};
use crate::domain::{Invalid, OrderId, ShipmentProvider, ShipmentState, ShopId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub order_id: OrderId,
    pub shop_id: ShopId,
    pub provider: ShipmentProvider,
    pub provider_shipment_id: Option<String>,
    pub package_id: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub label_url: Option<String>,
    pub state: ShipmentState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<shipments::Model> for Shipment {
    type Error = Error;

    fn try_from(r: shipments::Model) -> Result<Self, Error> {
        let bad = |e: Invalid| Error::Db(DbErr::Custom(format!("shipment {}: {e}", r.order_id)));
        Ok(Self {
            order_id: OrderId::parse(&r.order_id).map_err(bad)?,
            shop_id: ShopId::parse(&r.shop_id).map_err(bad)?,
            provider: ShipmentProvider::parse(&r.provider).map_err(bad)?,
            state: ShipmentState::parse(&r.state).map_err(bad)?,
            provider_shipment_id: r.provider_shipment_id,
            package_id: r.package_id,
            carrier: r.carrier,
            tracking_number: r.tracking_number,
            label_url: r.label_url,
            created_at: r.created_at.to_utc(),
            updated_at: r.updated_at.to_utc(),
        })
    }
}

/// The store of shipments and their labels, over the shared pool.
#[derive(Clone, Copy)]
pub struct ShipmentStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn shipments(&self) -> ShipmentStore<'_> {
        ShipmentStore { db: self }
    }
}

impl ShipmentStore<'_> {
    pub async fn get(&self, order_id: &OrderId) -> Result<Option<Shipment>, Error> {
        shipments::Entity::find_by_id(order_id.as_str())
            .one(&self.db.conn)
            .await?
            .map(Shipment::try_from)
            .transpose()
    }

    /// Records the order's shipment, replacing what was there (a voided label's successor).
    pub async fn record(&self, s: &Shipment) -> Result<(), Error> {
        let row = shipments::ActiveModel {
            order_id: Set(s.order_id.as_str().to_owned()),
            shop_id: Set(s.shop_id.as_str().to_owned()),
            provider: Set(s.provider.as_str().to_owned()),
            provider_shipment_id: Set(s.provider_shipment_id.clone()),
            package_id: Set(s.package_id.clone()),
            carrier: Set(s.carrier.clone()),
            tracking_number: Set(s.tracking_number.clone()),
            label_url: Set(s.label_url.clone()),
            state: Set(s.state.as_str().to_owned()),
            created_at: Set(s.created_at.fixed_offset()),
            updated_at: Set(Utc::now().fixed_offset()),
        };
        shipments::Entity::insert(row)
            .on_conflict(
                OnConflict::column(shipments::Column::OrderId)
                    .update_columns([
                        shipments::Column::Provider,
                        shipments::Column::ProviderShipmentId,
                        shipments::Column::PackageId,
                        shipments::Column::Carrier,
                        shipments::Column::TrackingNumber,
                        shipments::Column::LabelUrl,
                        shipments::Column::State,
                        shipments::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db.conn)
            .await?;
        Ok(())
    }

    pub async fn set_state(&self, order_id: &OrderId, state: ShipmentState) -> Result<(), Error> {
        let Some(row) = shipments::Entity::find_by_id(order_id.as_str())
            .one(&self.db.conn)
            .await?
        else {
            return Err(Error::NotFound(format!("shipment of order {order_id}")));
        };
        let mut active: shipments::ActiveModel = row.into();
        active.state = Set(state.as_str().to_owned());
        active.updated_at = Set(Utc::now().fixed_offset());
        active.update(&self.db.conn).await?;
        Ok(())
    }
}
