use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "webhook_inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dedupe_key: String,
    pub event_type: i32,
    pub shop_id: Option<String>,
    pub order_id: Option<String>,
    pub received_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
