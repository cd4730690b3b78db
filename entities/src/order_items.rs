use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "order_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub line_item_id: String,
    pub sku_id: String,
    pub product_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub product_name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub sku_name: Option<String>,
    pub seller_sku: Option<String>,
    pub sale_price: Option<i64>,
    pub original_price: Option<i64>,
    pub currency: Option<String>,
    pub display_status: Option<String>,
    pub package_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::orders::Entity",
        from = "Column::OrderId",
        to = "super::orders::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Orders,
}

impl Related<super::orders::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Orders.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
