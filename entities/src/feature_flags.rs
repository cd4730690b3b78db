use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "feature_flags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub enabled: bool,
    pub percent: i16,
    /// JSON array of shop ids.
    #[sea_orm(column_type = "Text")]
    pub allow: String,
    /// JSON array of shop ids.
    #[sea_orm(column_type = "Text")]
    pub deny: String,
    pub updated_at: DateTimeWithTimeZone,
    /// `key:<id> (<name>)` or `cli`.
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
