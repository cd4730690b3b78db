use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A buyer's (or TikTok's) cancellation or return request, as last reported.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "order_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: String,
    /// `cancellation` or `return`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: String,
    pub status: String,
    pub role: Option<String>,
    pub return_type: Option<String>,
    /// When TikTok changed it (unix seconds).
    pub tiktok_time: i64,
    pub recorded_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
