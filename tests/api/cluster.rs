//! Several nodes on one PostgreSQL: slot leases shared out and handed over, and the journal's
//! fence (a node that lost a slot writes nothing of it). Cluster mode is PostgreSQL's only:
//! on SQLite these tests check that it is refused.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use creatorflow::cluster::{Membership, overview};
use creatorflow::config::{Backend, ClusterSettings};
use creatorflow::domain::{OrderId, OrderStatus};
use creatorflow::journal::{self, Journal, Written};
use creatorflow::persistence::Database;
use creatorflow::shutdown::Tasks;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestDb, cli_command, creation_commit, eventually, run_cli, spawn_app_with};

const SHOP: &str = "7494049642642441621";

fn settings(node: &str, lease: Duration, heartbeat: Duration) -> ClusterSettings {
    ClusterSettings {
        enabled: true,
        node_id: node.to_owned(),
        advertise_url: String::new(),
        lease,
        heartbeat,
        secret: SECRET.to_owned().into(),
    }
}

/// The nodes' shared secret in these tests.
pub(crate) const SECRET: &str = "a-cluster-secret-for-tests";

pub(crate) fn node(db: &Database, name: &str, lease: Duration, heartbeat: Duration) -> Membership {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    Membership::new(db.clone(), &settings(name, lease, heartbeat), addr)
}

pub(crate) fn run(member: &Membership) -> Tasks {
    let mut tasks = Tasks::new("cluster");
    let member = member.clone();
    tasks.spawn("membership", |stop| member.run(stop));
    tasks
}

/// A node that runs until it holds every slot.
pub(crate) async fn holding_every_slot(
    db: &Database,
    name: &str,
    lease: Duration,
    heartbeat: Duration,
) -> (Membership, Tasks) {
    let member = node(db, name, lease, heartbeat);
    let running = running_with_every_slot(&member).await;
    (member, running)
}

/// `member` claims its node id (as `serve` does) and runs until it holds every slot.
pub(crate) async fn running_with_every_slot(member: &Membership) -> Tasks {
    member.claim().await.unwrap();
    let running = run(member);
    eventually("the node holds every slot", || async {
        (member.held().len() == 256).then_some(())
    })
    .await;
    running
}

/// The database on PostgreSQL, migrated; `None` on SQLite.
pub(crate) async fn postgres(test_db: &TestDb) -> Option<Database> {
    let db = Database::connect(&test_db.settings().database)
        .await
        .unwrap();
    db.migrate_up().await.unwrap();
    (db.backend() == Backend::Postgres).then_some(db)
}

#[actix_web::test]
async fn sqlite_refuses_cluster_mode_naming_the_key() {
    let mut env = std::collections::HashMap::new();
    env.insert(
        "CREATORFLOW__DATABASE__URL".to_owned(),
        "sqlite://cluster.db".to_owned(),
    );
    env.insert(
        "CREATORFLOW__CLUSTER__ENABLED".to_owned(),
        "true".to_owned(),
    );
    let error = creatorflow::config::Settings::load_with_env(None, Some(env))
        .expect_err("cluster mode on SQLite is refused")
        .to_string();
    assert!(error.contains("cluster.enabled"), "{error}");
    assert!(error.contains("PostgreSQL"), "{error}");
}

#[actix_web::test]
async fn cluster_mode_without_the_shared_secret_is_refused_naming_the_key() {
    let env: std::collections::HashMap<String, String> = [
        (
            "CREATORFLOW__DATABASE__URL",
            "postgres://postgres@127.0.0.1:5432/any",
        ),
        ("CREATORFLOW__CLUSTER__ENABLED", "true"),
        ("CREATORFLOW__CLUSTER__SECRET", "short"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let error = creatorflow::config::Settings::load_with_env(None, Some(env))
        .expect_err("a secret under 16 characters is refused")
        .to_string();
    assert!(error.contains("cluster.secret"), "{error}");
    assert!(
        !error.contains("short"),
        "the secret itself is not shown: {error}"
    );
}

#[actix_web::test]
async fn a_node_listening_on_every_address_must_say_where_the_others_reach_it() {
    let load = |listen: &str, advertise: &str| {
        let env: std::collections::HashMap<String, String> = [
            (
                "CREATORFLOW__DATABASE__URL",
                "postgres://postgres@127.0.0.1:5432/any",
            ),
            ("CREATORFLOW__CLUSTER__ENABLED", "true"),
            ("CREATORFLOW__CLUSTER__SECRET", SECRET),
            ("CREATORFLOW__HTTP__LISTEN", listen),
            ("CREATORFLOW__CLUSTER__ADVERTISE_URL", advertise),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        creatorflow::config::Settings::load_with_env(None, Some(env))
    };
    for (listen, advertise) in [
        ("0.0.0.0:8080", ""),
        ("[::]:8080", ""),
        ("10.0.0.5:8080", "http://0.0.0.0:8080"),
    ] {
        let error = load(listen, advertise)
            .expect_err("the other nodes cannot reach an unspecified address")
            .to_string();
        assert!(
            error.contains("cluster.advertise_url") && error.contains("http://10.0.0.5:8080"),
            "{listen} {advertise}: {error}"
        );
    }
    assert!(load("0.0.0.0:8080", "http://10.0.0.5:8080").is_ok());
    assert!(load("127.0.0.1:8080", "").is_ok());
}

#[actix_web::test]
async fn nodes_share_the_slots_and_a_graceful_stop_hands_them_over_at_once() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    // Leases long enough that only a release, never an expiry, can move a slot in this test.
    let (lease, beat) = (Duration::from_secs(30), Duration::from_millis(100));
    let a = node(&db, "node-a", lease, beat);
    let running_a = run(&a);
    eventually("node-a holds every slot", || async {
        (a.held().len() == 256).then_some(())
    })
    .await;

    let b = node(&db, "node-b", lease, beat);
    let running_b = run(&b);
    // Never is a slot held twice; once node-b has its share (slots move a bounded number per
    // round, so it takes a few), every slot has one owner, and each node presents the epoch
    // the lease row has.
    let seen = eventually("node-b takes its share from node-a", || async {
        let (held_a, held_b) = (a.held(), b.held());
        for (slot, _) in &held_b {
            assert!(a.epoch(*slot).is_none(), "slot {slot} held twice");
        }
        if held_b.len() < 64 || held_a.len() + held_b.len() != 256 {
            return None;
        }
        let seen = overview(&db, lease).await.unwrap();
        let agrees = seen.unowned() == 0
            && seen.leases.iter().all(|l| {
                let held = match (a.epoch(l.slot), b.epoch(l.slot)) {
                    (Some(e), None) => Some(("node-a", e)),
                    (None, Some(e)) => Some(("node-b", e)),
                    _ => None,
                };
                held == l.owner.as_deref().map(|o| (o, l.epoch))
            });
        agrees.then_some(seen)
    })
    .await;
    let moved: Vec<i16> = b.held().iter().map(|(s, _)| *s).collect();
    assert!(
        seen.leases
            .iter()
            .filter(|l| moved.contains(&l.slot))
            .all(|l| l.epoch >= 2),
        "a slot that changed hands has a higher epoch"
    );
    assert!(
        seen.handoffs() >= moved.len() as i64,
        "node-b's share counts as handoffs: {} < {}",
        seen.handoffs(),
        moved.len()
    );
    assert_eq!(seen.nodes.len(), 2);
    assert!(seen.nodes.iter().all(|n| n.live));

    // A graceful stop gives every slot back: node-b takes them at its next rounds, long
    // before node-a's leases (30 s) would have ended.
    let stopped = Instant::now();
    running_a.stop(Duration::from_secs(5)).await;
    assert!(a.held().is_empty());
    eventually("node-b holds every slot", || async {
        (b.held().len() == 256).then_some(())
    })
    .await;
    let handoff = stopped.elapsed();
    eprintln!(
        "graceful handoff of {} slots: {handoff:?}",
        256 - moved.len()
    );
    assert!(handoff < Duration::from_secs(10), "{handoff:?}");
    let seen = overview(&db, lease).await.unwrap();
    assert_eq!(
        seen.nodes
            .iter()
            .map(|n| n.node_id.as_str())
            .collect::<Vec<_>>(),
        ["node-b"],
        "node-a left"
    );
    running_b.stop(Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn a_second_process_with_a_running_nodes_id_is_refused_and_takes_nothing() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    let (lease, beat) = (Duration::from_secs(1), Duration::from_millis(100));
    let first = node(&db, "node-a", lease, beat);
    let running = running_with_every_slot(&first).await;
    let before = first.held();

    // The same node id again (a copied config, or a restart that did not wait for the old
    // process): refused after a lease of the first one beating, naming the key.
    let second = node(&db, "node-a", lease, beat);
    let error = second
        .claim()
        .await
        .expect_err("the node id is a running process's")
        .to_string();
    assert!(
        error.contains("cluster.node_id = \"node-a\"") && error.contains("http://127.0.0.1:9"),
        "{error}"
    );
    assert_eq!(first.held(), before, "node-a kept every slot at its epochs");
    assert_eq!(overview(&db, lease).await.unwrap().handoffs(), 0);

    // A graceful stop frees the id at once.
    running.stop(Duration::from_secs(5)).await;
    let started = Instant::now();
    node(&db, "node-a", lease, beat).claim().await.unwrap();
    assert!(started.elapsed() < lease, "{:?}", started.elapsed());
}

#[actix_web::test]
async fn a_node_restarted_after_a_kill_takes_its_id_once_the_dead_process_is_silent() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    let (lease, beat) = (Duration::from_secs(1), Duration::from_millis(100));
    // A process that beat as node-a and was killed: it never left.
    let killed = Instant::now();
    assert!(
        db.cluster()
            .heartbeat("node-a", "http://127.0.0.1:9", "a-killed-process", lease)
            .await
            .unwrap()
    );
    let restarted = node(&db, "node-a", lease, beat);
    restarted
        .claim()
        .await
        .expect("a dead process's node id is taken once it has been silent for a lease");
    let waited = killed.elapsed();
    assert!(
        waited >= lease - beat && waited < lease * 3,
        "it waited for a lease of silence, no more: {waited:?}"
    );
    let running = running_with_every_slot(&restarted).await;
    running.stop(Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn a_node_whose_id_another_process_took_while_it_was_paused_holds_nothing() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    let (lease, beat) = (Duration::from_secs(1), Duration::from_millis(100));
    let paused = node(&db, "node-a", lease, beat);
    paused.claim().await.unwrap();
    // Silent for longer than a lease (SIGSTOP), meanwhile another process starts as node-a.
    tokio::time::sleep(lease + beat).await;
    let other = node(&db, "node-a", lease, beat);
    let running_other = running_with_every_slot(&other).await;
    let epochs = other.held();

    // Nor may it say the node's log floor: "nothing in flight" from it would let readers pass
    // a block the new process drew and is writing.
    let cluster = db.cluster();
    cluster.ensure_head().await.unwrap();
    let first = cluster
        .draw("node-a", other.incarnation(), 100, None)
        .await
        .unwrap();
    cluster
        .publish_floor("node-a", paused.incarnation(), None, i64::MAX)
        .await
        .unwrap();
    assert_eq!(cluster.settled().await.unwrap(), first - 1);
    assert!(
        cluster
            .draw("node-a", paused.incarnation(), 100, None)
            .await
            .is_err()
    );

    // SIGCONT: the paused process's rounds find its id taken; it takes no slot and leaves
    // the other's row in place when it stops.
    let running_paused = run(&paused);
    tokio::time::sleep(beat * 10).await;
    assert!(paused.held().is_empty());
    assert_eq!(other.held(), epochs, "no slot changed hands");
    running_paused.stop(Duration::from_secs(5)).await;
    let seen = overview(&db, lease).await.unwrap();
    assert_eq!(seen.nodes.len(), 1);
    assert!(seen.nodes[0].live && seen.nodes[0].slots == 256);
    running_other.stop(Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn nodes_running_with_different_leases_are_named_by_each_other() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    let beat = Duration::from_millis(100);
    let (a, running_a) = holding_every_slot(&db, "node-a", Duration::from_secs(2), beat).await;
    let b = node(&db, "node-b", Duration::from_secs(3), beat);
    b.claim().await.unwrap();
    let running_b = run(&b);
    let (seen_by_a, seen_by_b) = eventually("each node sees the other's lease", || async {
        let (by_a, by_b) = (a.disagreeing(), b.disagreeing());
        (!by_a.is_empty() && !by_b.is_empty()).then_some((by_a, by_b))
    })
    .await;
    assert_eq!(seen_by_a, ["node-b (3000 ms)"]);
    assert_eq!(seen_by_b, ["node-a (2000 ms)"]);
    let leases: Vec<_> = overview(&db, Duration::from_secs(2))
        .await
        .unwrap()
        .nodes
        .into_iter()
        .map(|n| (n.node_id, n.lease_ms))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    assert_eq!(
        leases,
        [
            ("node-a".to_owned(), Some(2000)),
            ("node-b".to_owned(), Some(3000))
        ]
    );
    running_b.stop(Duration::from_secs(5)).await;
    running_a.stop(Duration::from_secs(5)).await;
}

/// Two order ids of one slot, and one of another slot.
fn orders_sharing_a_slot() -> (String, String, String) {
    let mut by_slot: std::collections::HashMap<i16, Vec<String>> = Default::default();
    for n in 0..100_000 {
        let id = format!("5771{n:06}");
        let slot = OrderId::parse(&id).unwrap().slot();
        let ids = by_slot.entry(slot).or_default();
        ids.push(id);
        if ids.len() == 2 {
            let (first, second) = (ids[0].clone(), ids[1].clone());
            let other = by_slot
                .iter()
                .find(|(s, _)| **s != slot)
                .map(|(_, ids)| ids[0].clone())
                .unwrap();
            return (first, second, other);
        }
    }
    panic!("no two ids share a slot");
}

/// Once both nodes `app` sees hold slots (and every slot has an owner): an order id starting
/// with `prefix` whose slot `owner` holds.
async fn order_held_by(app: &crate::helpers::TestApp, owner: &str, prefix: &str) -> String {
    orders_held_by(app, owner, prefix, 1).await.remove(0)
}

/// [`order_held_by`], `n` of them.
async fn orders_held_by(
    app: &crate::helpers::TestApp,
    owner: &str,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    let seen = app
        .get_until("/api/v1/cluster", |c| {
            c["unowned_slots"] == 0
                && c["nodes"].as_array().is_some_and(|n| {
                    n.len() == 2 && n.iter().all(|n| n["slots"].as_i64() > Some(0))
                })
        })
        .await;
    let held: Vec<String> = (0..10_000)
        .map(|n| format!("{prefix}{n:015}"))
        .filter(|id| {
            let slot = OrderId::parse(id).unwrap().slot() as usize;
            seen["slots"][slot]["owner"] == owner
        })
        .take(n)
        .collect();
    assert_eq!(held.len(), n, "{owner} holds too few slots");
    held
}

/// The engine's tables, read and written behind its back.
pub(crate) async fn raw(test_db: &TestDb) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(&test_db.url).await.unwrap()
}

async fn events_of(raw: &sea_orm::DatabaseConnection, order: &str) -> i64 {
    let row = raw
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) FROM order_events WHERE order_id = $1",
            [order.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

#[actix_web::test]
async fn a_node_that_lost_a_slot_writes_nothing_of_it_even_before_it_knows() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    // One round, then a long sleep: node-a holds every slot and will not look again during
    // the test, like a paused process.
    let (a, running) = holding_every_slot(
        &db,
        "node-a",
        Duration::from_secs(120),
        Duration::from_secs(60),
    )
    .await;
    let journal =
        Journal::start_fenced(db.clone(), 8, Duration::from_millis(1), 2, Some(a.clone()))
            .await
            .unwrap();
    let (first, second, other) = orders_sharing_a_slot();
    let slot = OrderId::parse(&first).unwrap().slot();
    let commit =
        |order: &str, key: &str| creation_commit(SHOP, order, "AWAITING_SHIPMENT", Some(key));
    assert_eq!(
        journal.commit(commit(&first, "tts:fence-1")).await.unwrap(),
        Written::Committed
    );
    let raw = raw(&test_db).await;
    assert_eq!(events_of(&raw, &first).await, 1);

    // Another node takes the slot behind node-a's back (its lease is simply rewritten here,
    // as a takeover after expiry would): node-a still believes it holds it.
    raw.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE slot_leases SET owner = 'node-b', epoch = epoch + 1 WHERE slot = $1",
        [slot.into()],
    ))
    .await
    .unwrap();
    assert!(a.epoch(slot).is_some(), "node-a has not noticed");
    let refused = journal.commit(commit(&second, "tts:fence-2")).await;
    assert!(
        matches!(refused, Err(journal::Error::NotOwner { slot: s }) if s == slot),
        "{refused:?}"
    );
    assert_eq!(
        events_of(&raw, &second).await,
        0,
        "not one row under a stale epoch"
    );
    let inbox = raw
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) FROM webhook_inbox WHERE dedupe_key = 'tts:fence-2'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(
        inbox, 0,
        "its key is not recorded: the new owner will apply it"
    );

    // A node that holds nothing writes nothing; a slot node-a still holds is written.
    let idle = node(
        &db,
        "node-c",
        Duration::from_secs(120),
        Duration::from_secs(60),
    );
    let idle_journal =
        Journal::start_fenced(db.clone(), 8, Duration::from_millis(1), 1, Some(idle))
            .await
            .unwrap();
    let refused = idle_journal.commit(commit(&other, "tts:fence-3")).await;
    assert!(
        matches!(refused, Err(journal::Error::NotOwner { .. })),
        "{refused:?}"
    );
    assert_eq!(events_of(&raw, &other).await, 0);
    assert_eq!(
        journal.commit(commit(&other, "tts:fence-4")).await.unwrap(),
        Written::Committed
    );
    drop(journal);
    running.stop(Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn the_cluster_endpoint_shows_nodes_and_slots_to_admins_only() {
    let test_db = TestDb::new().await;
    let postgres = test_db.settings().database.backend().unwrap() == Backend::Postgres;
    let app = spawn_app_with(test_db, |s| {
        if postgres {
            s.cluster = settings("node-x", Duration::from_secs(5), Duration::from_millis(100));
        }
    })
    .await;
    let shop_key = app.shop_with_key(SHOP).await;
    let refused = app.get("/api/v1/cluster", Some(&shop_key)).await;
    assert_eq!(refused.status(), 403);
    if !postgres {
        let single: Value = app
            .get("/api/v1/cluster", Some(&app.admin_key))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(single["enabled"], false);
        assert_eq!(single["nodes"], json!([]));
        return;
    }
    let seen = app
        .get_until("/api/v1/cluster", |c| c["unowned_slots"] == 0)
        .await;
    assert_eq!(seen["enabled"], true);
    assert_eq!(seen["node_id"], "node-x");
    assert_eq!(
        seen["handoffs"], 0,
        "one node took every slot once: no handoff"
    );
    assert_eq!(seen["nodes"][0]["node_id"], "node-x");
    assert_eq!(seen["nodes"][0]["live"], true);
    assert_eq!(seen["nodes"][0]["slots"], 256);
    assert_eq!(seen["nodes"][0]["lease_ms"], 5000);
    assert!(
        seen["nodes"][0]["advertise_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("creatorflow_cluster_slots_held ")),
        "a member exports the slots it holds"
    );
    let slots = seen["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 256);
    assert!(
        slots
            .iter()
            .all(|s| s["owner"] == "node-x" && s["epoch"].as_i64() >= Some(1))
    );

    // The node's journal writes under its epochs: an order's webhook-like change commits.
    let order = "5772000000000000001";
    eventually(
        "the clustered node commits an order of a slot it holds",
        || async {
            app.status(SHOP, order, OrderStatus::AwaitingShipment, 1_700_000_000)
                .await
                .ok()
        },
    )
    .await;
    let got = app
        .get(&format!("/api/v1/orders/{order}"), Some(&app.admin_key))
        .await;
    assert_eq!(got.status(), 200);
}

/// The slots the system page's node table says `node` holds.
fn held_on_page(page: &str, node: &str) -> usize {
    let row = &page[page
        .find(&format!("{node}<span class=\"sub\">"))
        .unwrap_or_else(|| panic!("{node} is listed: {page}"))..];
    let cells: Vec<&str> = row[..row.find("</tr>").unwrap()]
        .split("<td class=\"num\">")
        .collect();
    cells[1].split('<').next().unwrap().parse().unwrap()
}

#[actix_web::test]
async fn the_system_page_maps_the_slots_to_their_nodes_for_administrators_only() {
    use crate::dashboard::{get, sign_in};
    let test_db = TestDb::new().await;
    let postgres = test_db.settings().database.backend().unwrap() == Backend::Postgres;
    let second = test_db.sharing();
    let (lease, beat) = (Duration::from_secs(30), Duration::from_millis(100));
    let app = spawn_app_with(test_db, |s| {
        if postgres {
            s.cluster = settings("node-x", lease, beat);
        }
    })
    .await;
    let admin = sign_in(&app, &app.admin_key).await;
    let shop_key = app.shop_with_key(SHOP).await;
    let shop = sign_in(&app, &shop_key).await;
    let (status, theirs) = get(&app, &shop, "/ui/system").await;
    assert_eq!(status, 200);
    assert!(
        !theirs.contains("id=\"cluster\"") && !theirs.contains("node-x"),
        "a shop's session is shown no nodes: {theirs}"
    );
    if !postgres {
        let (_, page) = get(&app, &admin, "/ui/system").await;
        assert!(page.contains("Single node: cluster mode is off"), "{page}");
        return;
    }
    // A second member on the same database takes its share of the slots from node-x.
    let db = Database::connect(&second.settings().database)
        .await
        .unwrap();
    let y = node(&db, "node-y", lease, beat);
    let running = run(&y);
    let (page, x_cells, y_cells) = eventually("the page shows node-y's share", || async {
        let (_, page) = get(&app, &admin, "/ui/system").await;
        let cells = |colour: &str| {
            page.matches(&format!("<span class=\"owner-{colour}\" title=\"slot "))
                .count()
        };
        let (x, y) = (cells("0"), cells("1"));
        (y >= 64 && x + y == 256).then_some((page, x, y))
    })
    .await;
    assert!(page.contains("<dt>This node</dt><dd>node-x</dd>"), "{page}");
    assert_eq!(
        (held_on_page(&page, "node-x"), held_on_page(&page, "node-y")),
        (x_cells, y_cells),
        "the map's colours agree with the table's counts"
    );
    assert!(
        page.contains("title=\"slot 0: node-") && page.contains("Slots by owner: node-x holds"),
        "each slot names its owner, and the map says it in words: {page}"
    );
    let handoffs: i64 = page
        .split("<dt>Handoffs</dt><dd class=\"num\">")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap();
    assert!(
        handoffs >= y_cells as i64,
        "every slot node-y took was a handoff: {handoffs} < {y_cells}"
    );
    assert!(page.contains("<dt>Parked messages</dt><dd class=\"num\">0</dd>"));
    // A webhook kept for a slot of node-y (which runs no engine here, so it stays).
    let (slot, _) = y.held()[0];
    db.parked()
        .park(slot, "5779000000000000001", "{}")
        .await
        .unwrap();
    let (_, page) = get(&app, &admin, "/ui/system").await;
    assert!(
        page.contains(
            "<dt>Parked messages</dt><dd class=\"num\">1 waiting for their slots' owners</dd>"
        ),
        "{page}"
    );
    running.stop(Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn cluster_status_on_the_command_line_lists_the_nodes_and_their_slots() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        let out = run_cli(&test_db, &["cluster", "status"]);
        assert!(out.status.success());
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(printed.contains("single node"), "{printed}");
        return;
    };
    let (_member, running) = holding_every_slot(
        &db,
        "node-cli",
        Duration::from_secs(30),
        Duration::from_millis(100),
    )
    .await;
    let out = run_cli(&test_db, &["cluster", "status"]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{printed}");
    let line = printed
        .lines()
        .find(|l| l.starts_with("node-cli"))
        .unwrap_or_else(|| panic!("{printed}"));
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&columns[1..3], ["yes", "256"], "{line}");
    assert_eq!(columns[4], "30000", "the node's lease, in ms: {line}");
    assert!(
        printed.contains("0 of 256 slots without a live owner"),
        "{printed}"
    );
    assert!(printed.contains("; 0 handoffs since"), "{printed}");
    let doctor = |test_db: &TestDb| {
        let out = cli_command(test_db, &["doctor"])
            .env("CREATORFLOW__CLUSTER__ENABLED", "true")
            .env("CREATORFLOW__CLUSTER__SECRET", SECRET)
            // The lease node-cli runs with (another would be warned of).
            .env("CREATORFLOW__CLUSTER__LEASE", "30s")
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        report
            .lines()
            .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with("cluster")))
            .unwrap_or_else(|| panic!("no cluster line in {report}"))
            .to_owned()
    };
    let line = doctor(&test_db);
    assert!(
        line.starts_with("ok ") && line.contains("node-cli (256 slots)"),
        "{line}"
    );
    running.stop(Duration::from_secs(5)).await;
    let line = doctor(&test_db);
    assert!(
        line.starts_with("warn ") && line.contains("no node is alive"),
        "{line}"
    );
}

#[actix_web::test]
async fn a_slot_that_comes_back_is_worked_from_what_the_other_owner_committed() {
    slot_comes_back(true).await;
}

#[actix_web::test]
async fn live_orders_of_a_slot_that_moved_are_passivated_so_the_first_change_after_commits() {
    slot_comes_back(false).await;
}

/// node-x holds every slot and an order of one; node-b takes that slot for a second and moves
/// the order on; node-x takes the slot back and the order's next change commits after
/// node-b's. `refuse_first`: a change is sent to node-x while it does not hold the slot (its
/// actor, refused, reloads); otherwise the actor, idle, is passivated when the slot moves. Either
/// way the first change node-x writes after must commit.
async fn slot_comes_back(refuse_first: bool) {
    let test_db = TestDb::new().await;
    if test_db.settings().database.backend().unwrap() != Backend::Postgres {
        return;
    }
    let raw = raw(&test_db).await;
    let app = spawn_app_with(test_db, |s| {
        s.cluster = settings("node-x", Duration::from_secs(2), Duration::from_millis(100));
    })
    .await;
    app.get_until("/api/v1/cluster", |c| c["unowned_slots"] == 0)
        .await;
    let order = "5773000000000000001";
    let slot = OrderId::parse(order).unwrap().slot();
    // The lease rows say node-x holds every slot a moment before node-x presents their epochs
    // (meanwhile its commits are refused): wait for the first to commit.
    let first = eventually("node-x commits the order", || async {
        app.status(SHOP, order, OrderStatus::AwaitingShipment, 1_700_000_000)
            .await
            .ok()
    })
    .await;
    assert!(
        matches!(
            first,
            creatorflow::actors::Reply::Applied { version: 1, .. }
        ),
        "{first:?}"
    );

    // node-b takes the slot (a lease of one second) and moves the order on meanwhile.
    let sql = |q: &str| Statement::from_string(DbBackend::Postgres, q.to_owned());
    raw.execute_raw(sql(&format!(
        "UPDATE slot_leases SET owner = 'node-b', epoch = epoch + 1, \
         expires_at = now() + interval '1 second' WHERE slot = {slot}"
    )))
    .await
    .unwrap();
    if refuse_first {
        let refused = app
            .status(SHOP, order, OrderStatus::AwaitingCollection, 1_700_000_001)
            .await;
        assert!(
            refused.is_err(),
            "node-x no longer holds the slot: {refused:?}"
        );
    }
    raw.execute_raw(sql(&format!(
        "INSERT INTO order_events (position, slot, order_id, seq, kind, from_status, to_status, \
         cause, payload, created_at) SELECT coalesce(max(position), 0) + 1000000, {slot}, \
         '{order}', 2, 'status_changed', 'AWAITING_SHIPMENT', 'AWAITING_COLLECTION', 'poll', \
         '{{}}', now() FROM order_events"
    )))
    .await
    .unwrap();
    raw.execute_raw(sql(&format!(
        "UPDATE orders SET version = 2, status = 'AWAITING_COLLECTION', \
         tiktok_update_time = 1700000001 WHERE id = '{order}'"
    )))
    .await
    .unwrap();

    // node-b's lease ends; node-x takes the slot back at a new epoch and works the order from
    // what node-b committed, not from what it had in memory.
    app.get_until("/api/v1/cluster", |c| {
        c["slots"][slot as usize]["owner"] == "node-x"
            && c["slots"][slot as usize]["expires_in_ms"].as_i64() > Some(0)
    })
    .await;
    // Refused only while node-x does not present the slot's new epoch yet; the first change it
    // writes must commit (a stale actor's would collide with node-b's row).
    let next = eventually("node-x takes the order's next change", || async {
        match app
            .status(SHOP, order, OrderStatus::InTransit, 1_700_000_002)
            .await
        {
            Err(creatorflow::actors::Error::Journal(journal::Error::NotOwner { .. })) => None,
            Err(creatorflow::actors::Error::Unreachable { .. }) => None,
            answer => Some(answer),
        }
    })
    .await
    .expect("the first change written after the slot came back commits");
    // Version 2 was node-b's: this change comes after it (a status and a stage event).
    assert!(
        matches!(next, creatorflow::actors::Reply::Applied { version, .. } if version > 2),
        "{next:?}"
    );
}

/// A TCP relay to PostgreSQL that can be cut: every relayed connection is closed and new ones
/// are refused, as a network partition between one node and its database would.
struct Cable {
    addr: SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Cable {
    async fn to(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut cut = watch.clone();
                if *cut.borrow() {
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }
}

#[actix_web::test]
async fn a_node_cut_off_from_postgres_drops_its_slots_after_a_lease_and_another_takes_them() {
    let test_db = TestDb::new().await;
    let Some(db_b) = postgres(&test_db).await else {
        return;
    };
    // node-a reaches PostgreSQL through a cable that will be cut.
    let url = reqwest::Url::parse(&test_db.url).unwrap();
    let server: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
        .parse()
        .unwrap();
    let cable = Cable::to(server).await;
    let mut through = url.clone();
    through.set_port(Some(cable.addr.port())).unwrap();
    let mut settings_a = test_db.settings().database;
    settings_a.url = through.to_string().into();
    settings_a.acquire_timeout = Duration::from_millis(500);
    let db_a = Database::connect(&settings_a).await.unwrap();

    let (lease, beat) = (Duration::from_secs(2), Duration::from_millis(100));
    let a = node(&db_a, "node-a", lease, beat);
    let b = node(&db_b, "node-b", lease, beat);
    let (running_a, running_b) = (run(&a), run(&b));
    eventually("the nodes share the slots", || async {
        let (ha, hb) = (a.held().len(), b.held().len());
        (ha > 0 && hb > 0 && ha + hb == 256).then_some(())
    })
    .await;

    let cut_at = Instant::now();
    cable.cut();
    // node-a cannot renew: after one lease it stops presenting any epoch (its journal would
    // refuse every commit), and node-b takes the slots once their leases end.
    eventually("node-a drops its slots", || async {
        a.held().is_empty().then_some(())
    })
    .await;
    let dropped = cut_at.elapsed();
    eventually("node-b holds every slot", || async {
        (b.held().len() == 256).then_some(())
    })
    .await;
    let taken = cut_at.elapsed();
    eprintln!(
        "cut off: node-a dropped its slots after {dropped:?}, node-b held all after {taken:?}"
    );
    assert!(dropped >= lease - Duration::from_millis(500), "{dropped:?}");
    running_b.stop(Duration::from_secs(5)).await;
    running_a.stop(Duration::from_secs(5)).await;
}

#[actix_web::test]
async fn a_message_for_another_nodes_slot_is_forwarded_and_answered_as_its_owner_answers() {
    let test_db = TestDb::new().await;
    if test_db.settings().database.backend().unwrap() != Backend::Postgres {
        return;
    }
    let beat = Duration::from_millis(100);
    let second = test_db.sharing();
    let x = spawn_app_with(test_db, |s| {
        s.cluster = settings("node-x", Duration::from_secs(5), beat)
    })
    .await;
    let y = spawn_app_with(second, |s| {
        s.cluster = settings("node-y", Duration::from_secs(5), beat)
    })
    .await;
    // An order of a slot node-y holds, reached through node-x.
    let order = order_held_by(&x, "node-y", "5774").await;
    let applied = eventually("node-x's message reaches node-y", || async {
        match x
            .status(SHOP, &order, OrderStatus::AwaitingShipment, 1_700_000_000)
            .await
        {
            Err(creatorflow::actors::Error::Unreachable { .. }) => None,
            answer => Some(answer),
        }
    })
    .await
    .expect("the forwarded message is applied by the owner");
    assert!(
        matches!(
            applied,
            creatorflow::actors::Reply::Applied { version: 1, .. }
        ),
        "{applied:?}"
    );
    // Many at once travel together on the stream node-x keeps open to node-y: fewer writes
    // than messages, no new stream, each answered as its own.
    let batches = "creatorflow_cluster_forward_batch_size_count";
    let carried = "creatorflow_cluster_forward_batch_size_sum";
    let streams = "creatorflow_cluster_forward_streams_total";
    let (writes_before, messages_before, streams_before) = (
        x.metric(batches).await,
        x.metric(carried).await,
        x.metric(streams).await,
    );
    assert!(streams_before >= 1.0, "node-x opened a stream to node-y");
    let many = orders_held_by(&x, "node-y", "5776", 40).await;
    let replies = futures_util::future::join_all(
        many.iter()
            .map(|order| x.status(SHOP, order, OrderStatus::AwaitingShipment, 1_700_000_000)),
    )
    .await;
    for (order, reply) in many.iter().zip(replies) {
        // A slot still moving between the nodes (they have only just shared them out) is
        // unreachable for a moment; TikTok would send again, as this does.
        let reply = match reply {
            Err(creatorflow::actors::Error::Unreachable { .. }) => {
                eventually("the slot's owner answers", || async {
                    match x
                        .status(SHOP, order, OrderStatus::AwaitingShipment, 1_700_000_000)
                        .await
                    {
                        Err(creatorflow::actors::Error::Unreachable { .. }) => None,
                        answer => Some(answer),
                    }
                })
                .await
            }
            answered => answered,
        };
        assert!(
            matches!(
                reply,
                Ok(creatorflow::actors::Reply::Applied { version: 1, .. })
            ),
            "{order}: {reply:?}"
        );
    }
    let writes = x.metric(batches).await - writes_before;
    let messages = x.metric(carried).await - messages_before;
    assert!(messages >= 40.0, "{messages} messages forwarded");
    assert!(
        writes < messages,
        "{writes} writes carried {messages} messages: none carried several"
    );
    // Unless a slot was still moving (a stream ends when its owner refuses), one stream took
    // them all.
    let opened = x.metric(streams).await - streams_before;
    assert!(opened <= 1.0, "{opened} more streams for one burst");
    // node-y wrote it: the order is there, read through either node.
    for node in [&x, &y] {
        let read = node
            .get(&format!("/api/v1/orders/{order}"), Some(&x.admin_key))
            .await;
        assert_eq!(read.status(), 200);
    }
    // A command through node-x is refused as node-y refuses it: the same 409.
    let stale = x
        .client
        .post(x.url(&format!("/api/v1/orders/{order}/hold")))
        .bearer_auth(&x.admin_key)
        .json(&json!({ "reason": "check", "expected_version": 7 }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409);
    let held = x
        .client
        .post(x.url(&format!("/api/v1/orders/{order}/hold")))
        .bearer_auth(&x.admin_key)
        .json(&json!({ "reason": "check", "expected_version": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    assert_eq!(held.json::<Value>().await.unwrap()["version"], 2);
    let metrics = x.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l
            .starts_with("creatorflow_cluster_forwarded_total{outcome=\"answered\"}")
            && !l.ends_with(" 0")),
        "node-x counts what it forwarded"
    );
    // The internal routes want the cluster's secret.
    let message = json!({ "order_id": order, "epoch": 1, "envelope": { "msg": { "ReleaseHold": { "expected_version": 2 } }, "cause": "Poll", "inbox": null } });
    let forged = y
        .client
        .post(y.url("/internal/v1/submit"))
        .header("x-creatorflow-cluster-secret", "not-the-secret-at-all")
        .json(&json!([message]))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let forged = y
        .client
        .post(y.url("/internal/v1/stream"))
        .header("x-creatorflow-cluster-secret", "not-the-secret-at-all")
        .body(format!("{message}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    // A stream answers each line by its number, and says `not_owner` for an epoch the node
    // does not hold the slot at.
    let answered = y
        .client
        .post(y.url("/internal/v1/stream"))
        .header("x-creatorflow-cluster-secret", SECRET)
        .body(format!(
            "{}\n",
            json!({ "seq": 7, "order_id": order, "epoch": 999_999, "envelope": message["envelope"] })
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let line: Value = serde_json::from_str(answered.text().await.unwrap().trim()).unwrap();
    assert_eq!(line, json!({ "seq": 7, "answer": "not_owner" }));
    // node-y stops gracefully while node-x's stream to it is open: the stream ends, and the
    // stop does not wait for it (`http.shutdown_timeout` is 30 s).
    let stopping = Instant::now();
    y.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "node-y's stop took {:?}",
        stopping.elapsed()
    );
}

#[actix_web::test]
async fn a_webhook_whose_slot_owner_does_not_answer_is_parked_answered_200_and_applied_by_the_owner()
 {
    let test_db = TestDb::new().await;
    if test_db.settings().database.backend().unwrap() != Backend::Postgres {
        return;
    }
    let beat = Duration::from_millis(100);
    let second = test_db.sharing();
    let x = spawn_app_with(test_db, |s| {
        crate::helpers::tiktok_app(s);
        s.cluster = settings("node-x", Duration::from_secs(5), beat);
    })
    .await;
    // node-y says it is reached at a port where nothing listens: node-x cannot forward to it.
    let y = spawn_app_with(second, |s| {
        crate::helpers::tiktok_app(s);
        s.cluster = settings("node-y", Duration::from_secs(5), beat);
        s.cluster.advertise_url = "http://127.0.0.1:9".into();
    })
    .await;
    let order = order_held_by(&x, "node-y", "5775").await;
    // node-x learns node-y's (unreachable) address at its next round.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = format!(
        r#"{{"type":1,"tts_notification_id":"park-1","shop_id":"{SHOP}","timestamp":1700000000,"data":{{"order_id":"{order}","order_status":"AWAITING_SHIPMENT","update_time":1700000000}}}}"#
    );
    let sent = Instant::now();
    let answer = crate::webhooks::signed(&x.client, &x.address, body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "TikTok is answered at once");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(answer.json::<Value>().await.unwrap()["result"], "parked");
    // node-y, the slot's owner, applies it; nothing stays parked.
    let order_path = format!("/api/v1/orders/{order}");
    let applied = x
        .get_until(&order_path, |o| o["status"] == "AWAITING_SHIPMENT")
        .await;
    assert_eq!(applied["version"], 1);
    let db = Database::connect(&y.db.settings().database).await.unwrap();
    eventually("the parked message is gone", || async {
        (db.parked().count().await.unwrap() == 0).then_some(())
    })
    .await;
    let metrics = y.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l
            .starts_with("creatorflow_cluster_parked_total{change=\"applied\"}")
            && l.ends_with(" 1")),
        "node-y counts the parked message it applied"
    );
}
