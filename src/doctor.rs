//! `creatorflow doctor`: what an operator checks before blaming the daemon. One line per check
//! (configuration, database, migrations, broker, TikTok's clock and each shop's authorisation,
//! the SQLite file's disk, the systemd unit); any failure makes the command exit non-zero.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::integrations::tiktok::App;
use crate::integrations::tiktok::client::Client;
use crate::persistence::Database;
use crate::telemetry::error_chain as chain;
use crate::workflow::Catalog;

/// Where the deployment guide installs the unit.
pub const UNIT_PATHS: [&str; 2] = [
    "/etc/systemd/system/creatorflow.service",
    "/lib/systemd/system/creatorflow.service",
];

/// How long one check may take.
const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but will not for long, or not as configured on purpose.
    Warn,
    Fail,
    /// Does not apply to this deployment.
    Skip,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        write!(f, "{verdict:<5} {:<28} {}", self.name, self.detail)
    }
}

fn check(name: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        verdict,
        detail: detail.into(),
    }
}

/// Runs every check against `settings`, calling `report` with each as it is decided.
pub async fn examine(settings: &Settings, mut report: impl FnMut(&Check)) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut add = |c: Check| {
        report(&c);
        checks.push(c);
    };
    add(
        match Catalog::configured(&settings.workflow, &settings.flags) {
            Ok(catalog) => check(
                "configuration",
                Verdict::Ok,
                format!(
                    "valid: {} workflow template(s), {} flag(s)",
                    catalog.templates().count(),
                    settings.flags.len()
                ),
            ),
            Err(e) => check("configuration", Verdict::Fail, e.to_string()),
        },
    );
    let db = database(settings).await;
    match &db {
        Ok((db, took)) => {
            add(check(
                "database",
                Verdict::Ok,
                format!(
                    "{} reachable ({} ms)",
                    match db.backend() {
                        crate::config::Backend::Sqlite => "SQLite",
                        crate::config::Backend::Postgres => "PostgreSQL",
                    },
                    took.as_millis()
                ),
            ));
            add(migrations(db).await);
        }
        Err(e) => {
            add(check("database", Verdict::Fail, e.clone()));
            add(check(
                "migrations",
                Verdict::Fail,
                "unknown: the database is unreachable",
            ));
        }
    }
    add(broker(settings).await);
    if let Ok((db, _)) = &db {
        add(cluster(settings, db).await);
    }
    add(disk(db.as_ref().ok().and_then(|(db, _)| db.sqlite_file())));
    let app = App::from_settings(&settings.tiktok);
    if app.is_configured() {
        add(clock(&settings.tiktok.api_base_url).await);
        if let Ok((db, _)) = &db {
            for c in shops(settings, db).await {
                add(c);
            }
        }
    } else {
        add(check(
            "tiktok",
            Verdict::Warn,
            "tiktok.app_key / app_secret not set: webhooks are refused and nothing syncs",
        ));
    }
    add(unit(UNIT_PATHS.iter().map(Path::new).find(|p| p.exists())));
    if let Ok((db, _)) = db {
        let _ = db.close().await;
    }
    checks
}

async fn database(settings: &Settings) -> Result<(Database, Duration), String> {
    let started = Instant::now();
    let connect = async {
        let db = Database::connect(&settings.database)
            .await
            .map_err(|e| format!("cannot connect: {}", chain(&e)))?;
        db.readiness().await.or_else(|e| {
            // Pending migrations are the next check's to report.
            if e.0.contains("pending") {
                Ok(())
            } else {
                Err(e.0)
            }
        })?;
        Ok(db)
    };
    match tokio::time::timeout(PATIENCE, connect).await {
        Ok(Ok(db)) => Ok((db, started.elapsed())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {}s", PATIENCE.as_secs())),
    }
}

async fn migrations(db: &Database) -> Check {
    match db.pending_migrations().await {
        Ok(pending) if pending.is_empty() => check("migrations", Verdict::Ok, "all applied"),
        Ok(pending) => check(
            "migrations",
            Verdict::Fail,
            format!(
                "{} pending ({}{}): run `creatorflow migrate up` (serve applies them at start)",
                pending.len(),
                pending[0],
                if pending.len() > 1 {
                    format!(" … {}", pending[pending.len() - 1])
                } else {
                    String::new()
                },
            ),
        ),
        Err(e) => check("migrations", Verdict::Fail, chain(&e)),
    }
}

/// Cluster mode: the nodes alive and the slots nobody holds (a single node: skip).
async fn cluster(settings: &Settings, db: &Database) -> Check {
    if !settings.cluster.enabled {
        return check(
            "cluster",
            Verdict::Skip,
            "single node (cluster.enabled = false)",
        );
    }
    // A migration may not have run yet (serve runs them): nothing to read then.
    let seen = match crate::cluster::overview(db, settings.cluster.lease).await {
        Ok(seen) => seen,
        Err(e) => return check("cluster", Verdict::Fail, chain(&e)),
    };
    let live: Vec<String> = seen
        .nodes
        .iter()
        .filter(|n| n.live)
        .map(|n| format!("{} ({} slots)", n.node_id, n.slots))
        .collect();
    // Every node judges the others' liveness by its own lease.
    let lease_ms = i64::try_from(settings.cluster.lease.as_millis()).unwrap_or(i64::MAX);
    let other_leases: Vec<String> = seen
        .nodes
        .iter()
        .filter(|n| n.live)
        .filter_map(|n| {
            let theirs = n.lease_ms.filter(|l| *l != lease_ms)?;
            Some(format!("{} runs with {theirs} ms", n.node_id))
        })
        .collect();
    let unowned = seen.unowned();
    if unowned == 0 && !other_leases.is_empty() {
        return check(
            "cluster",
            Verdict::Warn,
            format!(
                "cluster.lease differs: {} against this configuration's {lease_ms} ms; set the same on every node (liveness and failover are judged by it)",
                other_leases.join(", ")
            ),
        );
    }
    match (live.is_empty(), unowned) {
        (true, _) => check(
            "cluster",
            Verdict::Warn,
            "no node is alive: start `creatorflow serve` with cluster.enabled",
        ),
        (false, 0) => check(
            "cluster",
            Verdict::Ok,
            format!("{} node(s) alive: {}", live.len(), live.join(", ")),
        ),
        (false, n) => check(
            "cluster",
            Verdict::Fail,
            format!(
                "{n} of {} slots have no live owner (their webhooks are answered 503); alive: {}",
                seen.leases.len(),
                live.join(", ")
            ),
        ),
    }
}

async fn broker(settings: &Settings) -> Check {
    let url = settings.bus.amqp_url.expose_secret();
    if url.is_empty() {
        return check(
            "broker",
            Verdict::Ok,
            "in-process bus (bus.amqp_url is empty)",
        );
    }
    let connect = lapin::Connection::connect(url, lapin::ConnectionProperties::default());
    match tokio::time::timeout(PATIENCE, connect).await {
        Ok(Ok(connection)) => {
            let _ = connection.close(200, "doctor".into()).await;
            check(
                "broker",
                Verdict::Ok,
                "RabbitMQ reachable, credentials accepted",
            )
        }
        // lapin's errors do not carry the URL, so they name no secret.
        Ok(Err(e)) => check("broker", Verdict::Fail, format!("RabbitMQ: {e}")),
        Err(_) => check(
            "broker",
            Verdict::Fail,
            format!("RabbitMQ did not answer within {}s", PATIENCE.as_secs()),
        ),
    }
}

/// Free space where the SQLite file lives: the journal cannot commit on a full disk.
fn disk(file: Option<&Path>) -> Check {
    let Some(file) = file else {
        return check("disk", Verdict::Skip, "not an embedded database on disk");
    };
    let folder = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match nix::sys::statvfs::statvfs(folder) {
        Ok(stats) => {
            let block = stats.fragment_size() as u128;
            let free = stats.blocks_available() as u128 * block;
            let total = (stats.blocks() as u128 * block).max(1);
            let percent = free * 100 / total;
            let gib = free as f64 / f64::from(1 << 30);
            let detail = format!("{gib:.1} GiB ({percent}%) free for {}", file.display());
            let verdict = if free < 512 << 20 || percent < 5 {
                Verdict::Fail
            } else if free < 2 << 30 || percent < 10 {
                Verdict::Warn
            } else {
                Verdict::Ok
            };
            check("disk", verdict, detail)
        }
        Err(e) => check(
            "disk",
            Verdict::Fail,
            format!("cannot read {}: {e}", folder.display()),
        ),
    }
}

/// Our clock against TikTok's (its answers' `Date`): signed calls carry our timestamp, which
/// TikTok refuses more than 5 minutes off.
async fn clock(api_base_url: &str) -> Check {
    let client = reqwest::Client::new();
    let asked = Utc::now();
    let answer = tokio::time::timeout(PATIENCE, client.get(api_base_url).send()).await;
    let answer = match answer {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            return check(
                "tiktok clock",
                Verdict::Fail,
                format!("{api_base_url}: {}", chain(&e.without_url())),
            );
        }
        Err(_) => {
            return check(
                "tiktok clock",
                Verdict::Fail,
                format!("{api_base_url} did not answer"),
            );
        }
    };
    let theirs = answer
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok());
    let Some(theirs) = theirs else {
        return check(
            "tiktok clock",
            Verdict::Warn,
            format!("{api_base_url} sent no Date to compare with"),
        );
    };
    // The Date is whole seconds: compare with the middle of the exchange.
    let ours = asked + (Utc::now() - asked) / 2;
    let skew = (ours - theirs.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0;
    let detail = format!("ours is {skew:+.1}s from {api_base_url}'s");
    let verdict = if skew.abs() > 60.0 {
        Verdict::Fail
    } else if skew.abs() > 5.0 {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    check("tiktok clock", verdict, detail)
}

/// Each authorised shop: its refresh token's expiry and a real call with its token.
async fn shops(settings: &Settings, db: &Database) -> Vec<Check> {
    let shops = match db.shops().authorized().await {
        Ok(shops) => shops,
        Err(e) => return vec![check("shops", Verdict::Fail, chain(&e))],
    };
    if shops.is_empty() {
        return vec![check("shops", Verdict::Warn, "no shop is authorised yet")];
    }
    let client = match Client::new(&settings.tiktok, db.clone()) {
        Ok(client) => client,
        Err(e) => return vec![check("shops", Verdict::Fail, chain(&e))],
    };
    let mut checks = Vec::new();
    for shop in shops {
        let name = format!("shop {}", shop.shop_id);
        if let Some(at) = shop.deauthorized_at {
            checks.push(check(
                name,
                Verdict::Fail,
                format!("the seller withdrew the authorisation at {at}"),
            ));
            continue;
        }
        let Some(tokens) = &shop.tokens else {
            checks.push(check(name, Verdict::Fail, "no tokens stored"));
            continue;
        };
        let left = tokens.refresh_expires_at - Utc::now();
        if left <= chrono::Duration::zero() {
            checks.push(check(
                name,
                Verdict::Fail,
                "the refresh token has expired: the seller must authorise again",
            ));
            continue;
        }
        let call = tokio::time::timeout(PATIENCE, client.authorized_shops(&shop.shop_id)).await;
        checks.push(match call {
            Ok(Ok(_)) if left < chrono::Duration::days(7) => check(
                name,
                Verdict::Warn,
                format!("token works; the refresh token expires in {}h: ask the seller to authorise again", left.num_hours()),
            ),
            Ok(Ok(_)) => check(
                name,
                Verdict::Ok,
                format!("token works; refresh token valid for {} more days", left.num_days()),
            ),
            Ok(Err(e)) => check(name, Verdict::Fail, format!("TikTok refused the token: {}", chain(&e))),
            Err(_) => check(name, Verdict::Fail, "TikTok did not answer"),
        });
    }
    checks
}

/// The installed unit, as `systemd-analyze verify` sees it (it also checks the binary exists).
fn unit(installed: Option<&Path>) -> Check {
    let Some(path) = installed else {
        return check(
            "systemd unit",
            Verdict::Skip,
            format!(
                "none installed at {} (deploy/creatorflow.service is the one to install)",
                UNIT_PATHS[0]
            ),
        );
    };
    match std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(path)
        .output()
    {
        Ok(out) if out.status.success() => check(
            "systemd unit",
            Verdict::Ok,
            format!("{} verifies", path.display()),
        ),
        Ok(out) => check(
            "systemd unit",
            Verdict::Fail,
            format!(
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ),
        Err(e) => check(
            "systemd unit",
            Verdict::Warn,
            format!("cannot run systemd-analyze: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_unit_is_verified_and_a_broken_one_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("creatorflow.service");
        let shipped = include_str!("../deploy/creatorflow.service")
            .replace("/usr/local/bin/creatorflow", "/bin/true");
        std::fs::write(&good, shipped).unwrap();
        let checked = unit(Some(&good));
        assert_eq!(checked.verdict, Verdict::Ok, "{checked}");
        let broken = dir.path().join("broken.service");
        std::fs::write(
            &broken,
            "[Service]\nExecStart=/nonexistent/creatorflow serve\n",
        )
        .unwrap();
        let checked = unit(Some(&broken));
        assert_eq!(checked.verdict, Verdict::Fail, "{checked}");
        assert!(checked.detail.contains("broken.service"), "{checked}");
        assert_eq!(unit(None).verdict, Verdict::Skip);
    }
}
