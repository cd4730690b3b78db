use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "workflow_steps")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    pub seq: i32,
    pub name: String,
    pub action: String,
    pub status: String,
    pub attempts: i32,
    pub idempotency_key: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub detail: Option<String>,
    pub duration_micros: i64,
    pub finished_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
