//! The rollouts changed at run time, one row per flag (`feature_flags`).

use chrono::{DateTime, Utc};
use entities::feature_flags;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};

use crate::domain::{Rollout, ShopId};
use crate::persistence::{Database, Error};

/// A rollout as last changed: when and by whom.
#[derive(Debug, Clone)]
pub struct Changed {
    pub rollout: Rollout,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// The flag rows, over the shared pool.
#[derive(Clone, Copy)]
pub struct FlagStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn flags(&self) -> FlagStore<'_> {
        FlagStore { db: self }
    }
}

fn shops(set: &std::collections::BTreeSet<ShopId>) -> String {
    serde_json::to_string(&set.iter().map(ShopId::as_str).collect::<Vec<_>>())
        .expect("strings serialize")
}

impl FlagStore<'_> {
    /// Every changed flag, by name. A row that no longer parses (edited by hand) is skipped
    /// with a warning: the configuration's rollout stands for it.
    pub async fn all(&self) -> Result<Vec<(String, Changed)>, Error> {
        let rows = feature_flags::Entity::find().all(&self.db.conn).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let list = |text: &str| serde_json::from_str::<Vec<String>>(text).ok();
                let rollout = list(&row.allow)
                    .zip(list(&row.deny))
                    .and_then(|(allow, deny)| {
                        let percent = u32::try_from(row.percent).ok()?;
                        Rollout::parse(row.enabled, percent, &allow, &deny).ok()
                    });
                match rollout {
                    Some(rollout) => Some((
                        row.name,
                        Changed {
                            rollout,
                            at: row.updated_at.with_timezone(&Utc),
                            by: row.updated_by,
                        },
                    )),
                    None => {
                        tracing::warn!(flag = %row.name, "unreadable flag row; the configured rollout stands");
                        None
                    }
                }
            })
            .collect())
    }

    /// Records `rollout` as flag `name`'s, replacing any earlier change.
    pub async fn set(&self, name: &str, change: &Changed) -> Result<(), Error> {
        let row = feature_flags::ActiveModel {
            name: Set(name.to_owned()),
            enabled: Set(change.rollout.enabled),
            percent: Set(i16::from(change.rollout.percent)),
            allow: Set(shops(&change.rollout.allow)),
            deny: Set(shops(&change.rollout.deny)),
            updated_at: Set(change.at.fixed_offset()),
            updated_by: Set(change.by.chars().take(200).collect()),
        };
        feature_flags::Entity::insert(row)
            .on_conflict(
                OnConflict::column(feature_flags::Column::Name)
                    .update_columns([
                        feature_flags::Column::Enabled,
                        feature_flags::Column::Percent,
                        feature_flags::Column::Allow,
                        feature_flags::Column::Deny,
                        feature_flags::Column::UpdatedAt,
                        feature_flags::Column::UpdatedBy,
                    ])
                    .to_owned(),
            )
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }
}
