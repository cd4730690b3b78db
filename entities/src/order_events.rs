//! The log: every order's audit events in commit order (`position`), each with its slot; the
//! last row of a commit carries the delivery's dedupe key and the commit's effects. A row
//! without `seq` carries only effects (a delivery that recorded no event) and is no audit event.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "order_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i64,
    pub slot: i16,
    pub order_id: String,
    pub seq: Option<i64>,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub cause: String,
    /// The event as JSON text; stored as written (PostgreSQL `text`, migration 33).
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub dedupe_key: Option<String>,
    /// `[[routing key, effect], …]` as JSON text.
    #[sea_orm(column_type = "Text", nullable)]
    pub effects: Option<String>,
    pub created_at: DateTimeWithTimeZone,
    /// Cluster mode: the epoch its node held the row's slot at when it wrote it.
    pub epoch: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
