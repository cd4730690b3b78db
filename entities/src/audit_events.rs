use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeWithTimeZone,
    /// `key:<id> (<name>)` or `cli`.
    pub actor: String,
    pub key_id: Option<i64>,
    /// The client's address, or `cli`.
    pub source: String,
    /// e.g. `api_key.created`, `stock.set`.
    pub action: String,
    pub target: String,
    pub shop_id: Option<String>,
    /// JSON.
    #[sea_orm(column_type = "Text")]
    pub detail: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
