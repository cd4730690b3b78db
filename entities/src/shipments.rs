use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "shipments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: String,
    pub shop_id: String,
    pub provider: String,
    pub provider_shipment_id: Option<String>,
    pub package_id: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub label_url: Option<String>,
    pub state: String,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
