//! Saved views of the dashboard's order list, per API key.

use chrono::Utc;
use entities::dashboard_views as views;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{Database, Error};

/// Most views one key keeps.
pub const MAX_VIEWS: usize = 20;

/// A saved view: its name and the list's filters as a query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub id: i64,
    pub name: String,
    pub filters: String,
}

/// The store of saved views, over the shared pool.
#[derive(Clone, Copy)]
pub struct ViewStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn views(&self) -> ViewStore<'_> {
        ViewStore { db: self }
    }
}

impl ViewStore<'_> {
    /// Key `key_id`'s views, in the order they were saved.
    pub async fn of_key(&self, key_id: i64) -> Result<Vec<View>, Error> {
        Ok(views::Entity::find()
            .filter(views::Column::KeyId.eq(key_id))
            .order_by_asc(views::Column::Id)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|v| View {
                id: v.id,
                name: v.name,
                filters: v.filters,
            })
            .collect())
    }

    /// Saves a view (a name the key already uses is replaced); `Err` names what is wrong.
    pub async fn save(
        &self,
        key_id: i64,
        name: &str,
        filters: &str,
    ) -> Result<Result<(), String>, Error> {
        let existing = self.of_key(key_id).await?;
        if let Some(same) = existing.iter().find(|v| v.name == name) {
            views::Entity::delete_by_id(same.id)
                .exec(&self.db.conn)
                .await?;
        } else if existing.len() >= MAX_VIEWS {
            return Ok(Err(format!(
                "a key keeps at most {MAX_VIEWS} views; remove one first"
            )));
        }
        views::ActiveModel {
            key_id: Set(key_id),
            name: Set(name.to_owned()),
            filters: Set(filters.to_owned()),
            created_at: Set(Utc::now().fixed_offset()),
            ..Default::default()
        }
        .insert(&self.db.conn)
        .await?;
        Ok(Ok(()))
    }

    /// Removes view `id` if it is key `key_id`'s.
    pub async fn remove(&self, key_id: i64, id: i64) -> Result<bool, Error> {
        let gone = views::Entity::delete_many()
            .filter(views::Column::Id.eq(id))
            .filter(views::Column::KeyId.eq(key_id))
            .exec(&self.db.conn)
            .await?;
        Ok(gone.rows_affected > 0)
    }
}
