use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "workflow_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub order_id: String,
    pub shop_id: String,
    pub template: String,
    pub status: String,
    pub step: i32,
    pub attempts: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub next_at: DateTimeWithTimeZone,
    pub rts_sla_time: Option<i64>,
    pub priority: i32,
    /// The SKU a run short of stock waits for (status `waiting`).
    pub waiting_for: Option<String>,
    /// The units of it the run needs.
    pub waiting_units: Option<i64>,
    /// Its order's slot (`fnv1a(order_id) % 256`): in cluster mode, the node holding it runs it.
    pub slot: i16,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
