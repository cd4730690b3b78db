//! Re-sealing every stored secret under the vault's current key (`creatorflow secrets rotate`).
//! Each value is replaced on its own, only if it is still the one read, so the daemon may run
//! meanwhile, and an interrupted rotation loses nothing: every value is sealed with the old or
//! the new key, both open while the old one is listed, and running again finishes the rest.

use super::vault::{Resealed, Vault};
use crate::persistence::{Database, Error, SealedColumn};

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Values now sealed with the new key.
    pub resealed: usize,
    /// Values that were sealed with it already.
    pub current: usize,
    /// Values that changed while being re-sealed (a token refresh stored a new one, sealed
    /// with the current key).
    pub changed: usize,
    /// Values no key opens: where they are (left as they are).
    pub unreadable: Vec<(SealedColumn, String)>,
}

/// Re-seals every sealed value `db` holds with `vault`'s current key.
pub async fn rotate(db: &Database, vault: &Vault) -> Result<Rotation, Error> {
    let mut done = Rotation::default();
    for value in db.sealed().all().await? {
        match vault.reseal(&value.value) {
            Ok(Resealed::Current) => done.current += 1,
            Ok(Resealed::Again(new)) => {
                if db.sealed().replace(&value, &new).await? {
                    done.resealed += 1;
                } else {
                    done.changed += 1;
                }
            }
            Err(_) => done.unreadable.push((value.column, value.row)),
        }
    }
    Ok(done)
}
