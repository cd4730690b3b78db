//! Online backups of the embedded database. `VACUUM INTO` copies the database as one read
//! transaction sees it (so the copy is consistent) while the journal keeps committing (WAL: a
//! reader does not block the writer). The copy is written beside the target, flushed to disk,
//! then renamed into place, so a crash mid-way never leaves a partial file under the name asked
//! for. PostgreSQL has its own tools: docs/RUNBOOK.md, "Backup and restore".

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};

use super::Database;
use crate::config::Backend;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists: back up to a new file")]
    Exists(PathBuf),
    #[error(
        "`backup` copies the embedded SQLite database; for PostgreSQL use pg_dump (docs/RUNBOOK.md, \"Backup and restore\")"
    )]
    NotSqlite,
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the database could not be copied")]
    Db(#[from] sea_orm::DbErr),
}

/// A backup made.
#[derive(Debug)]
pub struct Backup {
    pub bytes: u64,
    pub took: Duration,
}

impl Database {
    /// Copies the database, as of one moment, to the new file `to`.
    pub async fn backup_to(&self, to: &Path) -> Result<Backup, BackupError> {
        if self.backend() != Backend::Sqlite {
            return Err(BackupError::NotSqlite);
        }
        if to.exists() {
            return Err(BackupError::Exists(to.to_owned()));
        }
        let io = |source| BackupError::Io {
            path: to.to_owned(),
            source,
        };
        let started = Instant::now();
        let mut partial = to.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        // A leftover of an interrupted backup is ours to replace.
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        self.conn
            .execute_raw(Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                "VACUUM INTO ?",
                [partial.to_string_lossy().into_owned().into()],
            ))
            .await?;
        let file = std::fs::File::open(&partial).map_err(io)?;
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        std::fs::rename(&partial, to).map_err(io)?;
        if let Some(folder) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(folder)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
        }
        Ok(Backup {
            bytes,
            took: started.elapsed(),
        })
    }
}
