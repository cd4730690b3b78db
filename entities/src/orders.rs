use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub shop_id: String,
    pub status: String,
    pub stage: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub stage_reason: Option<String>,
    pub held_from: Option<String>,
    pub version: i64,
    pub tiktok_create_time: Option<i64>,
    pub tiktok_update_time: Option<i64>,
    pub currency: Option<String>,
    pub total_amount: Option<i64>,
    pub sub_total: Option<i64>,
    pub shipping_fee: Option<i64>,
    pub seller_discount: Option<i64>,
    pub platform_discount: Option<i64>,
    pub tax: Option<i64>,
    pub rts_sla_at: Option<DateTimeWithTimeZone>,
    pub tts_sla_at: Option<DateTimeWithTimeZone>,
    pub delivery_sla_at: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::order_details::Entity")]
    OrderDetails,
    #[sea_orm(has_many = "super::order_items::Entity")]
    OrderItems,
}

impl Related<super::order_details::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OrderDetails.def()
    }
}

impl Related<super::order_items::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OrderItems.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
