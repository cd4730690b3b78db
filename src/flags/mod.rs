//! Feature flags at run time: the configured flags (`[flags]`), each with the rollout last set
//! through the API winning over the configuration's. Code asks `flags.enabled("name", shop)`;
//! workflow templates and rules name the flag they need. A change made here takes effect at
//! once; one made by another process sharing the database (a second node) within a second, as
//! [`Flags::follow`] rereads the rows every second.

mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;

pub use store::{Changed, FlagStore};

use crate::config::FlagSettings;
use crate::domain::{Rollout, ShopId};
use crate::persistence::{self, Database};
use crate::shutdown::Stop;

/// One flag as it stands.
#[derive(Debug, Clone)]
pub struct Flag {
    pub name: String,
    pub description: String,
    pub rollout: Rollout,
    /// The last change through the API; `None`: as configured.
    pub changed: Option<Changed>,
}

/// Every flag; cheap to clone (clones share the table).
#[derive(Clone, Default)]
pub struct Flags {
    inner: Arc<RwLock<BTreeMap<String, Flag>>>,
}

/// Why a flag could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("flag `{0}` is not configured (flags are defined under [flags] in the configuration)")]
    Unknown(String),
    #[error(transparent)]
    Storage(#[from] persistence::Error),
}

impl Flags {
    /// The configured flags, as configured (validated by `Settings::load`).
    pub fn configured(settings: &BTreeMap<String, FlagSettings>) -> Self {
        let flags = settings
            .iter()
            .map(|(name, flag)| {
                let rollout = flag.rollout().unwrap_or_default();
                let flag = Flag {
                    name: name.clone(),
                    description: flag.description.clone(),
                    rollout,
                    changed: None,
                };
                (name.clone(), flag)
            })
            .collect();
        Self {
            inner: Arc::new(RwLock::new(flags)),
        }
    }

    /// The configured flags with the changes recorded in `db` applied.
    pub async fn load(
        settings: &BTreeMap<String, FlagSettings>,
        db: &Database,
    ) -> Result<Self, persistence::Error> {
        let flags = Self::configured(settings);
        flags.apply(db.flags().all().await?);
        Ok(flags)
    }

    fn apply(&self, changes: Vec<(String, Changed)>) {
        let mut flags = self.inner.write().expect("flags lock");
        for (name, change) in changes {
            if let Some(flag) = flags.get_mut(&name)
                && flag.changed.as_ref().is_none_or(|c| c.at <= change.at)
            {
                flag.rollout = change.rollout.clone();
                flag.changed = Some(change);
            }
        }
    }

    /// Whether flag `name` is on for `shop`; a flag that is not configured is off.
    pub fn enabled(&self, name: &str, shop: &ShopId) -> bool {
        self.inner
            .read()
            .expect("flags lock")
            .get(name)
            .is_some_and(|flag| flag.rollout.reaches(name, shop))
    }

    /// [`Flags::enabled`] for a shop id as text (as workflow facts carry it); an id that is
    /// not a shop id has no flags.
    pub fn on(&self, name: &str, shop: &str) -> bool {
        ShopId::parse(shop).is_ok_and(|shop| self.enabled(name, &shop))
    }

    pub fn is_configured(&self, name: &str) -> bool {
        self.inner.read().expect("flags lock").contains_key(name)
    }

    pub fn list(&self) -> Vec<Flag> {
        self.inner
            .read()
            .expect("flags lock")
            .values()
            .cloned()
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<Flag> {
        self.inner.read().expect("flags lock").get(name).cloned()
    }

    /// Sets flag `name`'s rollout, recorded in `db` (so it survives a restart) before it takes
    /// effect here.
    pub async fn set(
        &self,
        db: &Database,
        name: &str,
        rollout: Rollout,
        by: &str,
    ) -> Result<Flag, Error> {
        if !self.is_configured(name) {
            return Err(Error::Unknown(name.to_owned()));
        }
        let change = Changed {
            rollout,
            at: Utc::now(),
            by: by.to_owned(),
        };
        db.flags().set(name, &change).await?;
        self.apply(vec![(name.to_owned(), change)]);
        Ok(self.get(name).expect("configured"))
    }

    /// Rereads the recorded changes every second until `stop`, so changes made by another
    /// process sharing the database take effect here too.
    pub async fn follow(self, db: Database, mut stop: Stop) {
        while !stop.sleep(Duration::from_secs(1)).await {
            match db.flags().all().await {
                Ok(changes) => self.apply(changes),
                Err(e) => tracing::debug!(error = %e, "flags not reread; trying again"),
            }
        }
    }
}
