//! The log and its subscriptions: positions in commit order, a tail that never skips an event
//! that commits late with a smaller position, and checkpoints that resume where they stopped.

use std::collections::HashMap;
use std::time::Duration;

use creatorflow::domain::{Effect, OrderId};
use creatorflow::journal::{Commit, Journal, Written};
use creatorflow::journal::{InboxEntry, Tail};
use creatorflow::persistence::Database;

use crate::helpers::{TestDb, creation_commit};

const SHOP: &str = "7494049642642441621";

/// A new order `n`: its creation, with the effects `decide` gives it (detail fetch, transition).
pub(crate) fn creation(n: usize) -> Commit {
    let key = format!("tts:race-{n}");
    creation_commit(
        SHOP,
        &format!("5770{n:06}"),
        "AWAITING_SHIPMENT",
        Some(&key),
    )
}

/// An address update of order `n`: no event, a detail fetch (a row of effects only).
fn address_update(n: usize) -> Commit {
    let mut refresh = creation(n);
    refresh.applied.clear();
    refresh
        .effects
        .retain(|e| matches!(e, Effect::FetchDetail { .. }));
    refresh.inbox = Some(InboxEntry {
        dedupe_key: "tts:address".into(),
        event_type: 3,
    });
    refresh
}

/// A fresh, migrated database and a journal on it with `writers` writers.
async fn journal(writers: usize) -> (TestDb, Database, Journal) {
    let db = TestDb::new().await;
    let database = Database::connect(&db.settings().database).await.unwrap();
    database.migrate_up().await.unwrap();
    // Small batches and several writers: many batches in flight at once, committing in any
    // order (on PostgreSQL; SQLite writes one batch at a time).
    let journal = Journal::start(database.clone(), 8, Duration::from_millis(1), writers)
        .await
        .unwrap();
    (db, database, journal)
}

/// The transitions among `entries`: (position, order id).
pub(crate) fn transitions(entries: &[creatorflow::journal::Entry]) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    for entry in entries {
        for posted in entry.effects.iter() {
            if let Ok(Effect::Transitioned(t)) = posted.effect() {
                seen.push((entry.position, t.order_id.as_str().to_owned()));
            }
        }
    }
    seen
}

/// Reads `tail` until it has passed `end`, keeping each transition in `seen`.
pub(crate) async fn read_until(tail: &mut Tail, end: i64, seen: &mut Vec<(i64, String)>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tail.position() < end {
        let batch = tokio::time::timeout_at(deadline, tail.next(7))
            .await
            .expect("the tail reaches the end of the log within 30 s")
            .unwrap()
            .expect("the journal is running");
        seen.extend(transitions(&batch.entries));
        tail.advance(batch.upto).await.unwrap();
    }
}

#[actix_web::test]
async fn a_tail_racing_concurrent_commits_sees_every_event_once_in_position_order() {
    let (db, database, journal) = journal(4).await;
    let mut tail = Tail::open(database.clone(), "race", journal.committed())
        .await
        .unwrap();

    const ORDERS: usize = 1500;
    // The writers commit while the tail reads: 48 actors' worth of commits at once.
    let writing = {
        let journal = journal.clone();
        tokio::spawn(async move {
            let mut committed = 0;
            for wave in (0..ORDERS).collect::<Vec<_>>().chunks(48) {
                let commits = wave.iter().map(|&n| journal.commit(creation(n)));
                for outcome in futures_util::future::join_all(commits).await {
                    assert_eq!(outcome.unwrap(), Written::Committed);
                    committed += 1;
                }
            }
            committed
        })
    };
    let mut seen = Vec::new();
    let mut reading = journal.committed().receiver();
    loop {
        let end = *reading.borrow_and_update();
        read_until(&mut tail, end, &mut seen).await;
        if writing.is_finished() && *reading.borrow() == tail.position() {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), reading.changed()).await;
    }
    assert_eq!(writing.await.unwrap(), ORDERS);

    // Every order's transition exactly once, in strictly increasing positions.
    let mut per_order: HashMap<&str, usize> = HashMap::new();
    for (_, order) in &seen {
        *per_order.entry(order).or_default() += 1;
    }
    assert_eq!(per_order.len(), ORDERS, "every order's transition was read");
    assert!(per_order.values().all(|&n| n == 1), "none was read twice");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "positions only grow"
    );
    // And they are the log's own rows with effects, nothing more.
    let logged = database
        .log()
        .after(0, i64::MAX, 100_000, None)
        .await
        .unwrap();
    assert_eq!(logged.len(), ORDERS);

    // A subscription resumes at its checkpoint: saved, reopened, it reads nothing again.
    tail.save().await.unwrap();
    let mut again = Tail::open(database.clone(), "race", journal.committed())
        .await
        .unwrap();
    assert_eq!(again.position(), tail.position());
    let more = journal.commit(creation(ORDERS)).await.unwrap();
    assert_eq!(more, Written::Committed);
    let mut after = Vec::new();
    let end = again.committed();
    read_until(&mut again, end, &mut after).await;
    assert_eq!(
        after.iter().map(|(_, o)| o.as_str()).collect::<Vec<_>>(),
        [format!("5770{ORDERS:06}").as_str()],
        "only the commit after the checkpoint is read"
    );
    db.destroy().await;
}

#[actix_web::test]
async fn a_redelivered_webhook_is_a_duplicate_whether_its_key_is_on_an_event_or_a_key_row() {
    let (db, database, journal) = journal(1).await;

    // Its key lives on the log row of the event it recorded.
    assert_eq!(
        journal.commit(creation(1)).await.unwrap(),
        Written::Committed
    );
    assert_eq!(
        journal.commit(creation(1)).await.unwrap(),
        Written::Duplicate
    );
    // A delivery that changes nothing and asks for nothing keeps only a key row; sent again
    // when it would change something, it is still a duplicate.
    let mut unchanged = creation(2);
    unchanged.applied.clear();
    unchanged.effects.clear();
    unchanged.inbox = Some(InboxEntry {
        dedupe_key: "tts:nothing".into(),
        event_type: 1,
    });
    assert_eq!(journal.commit(unchanged).await.unwrap(), Written::Committed);
    let mut again = creation(2);
    again.inbox = Some(InboxEntry {
        dedupe_key: "tts:nothing".into(),
        event_type: 1,
    });
    assert_eq!(journal.commit(again).await.unwrap(), Written::Duplicate);
    let id = OrderId::parse("5770000002").unwrap();
    assert!(database.orders().load(&id).await.unwrap().is_none());

    // A delivery that records no event but asks for work writes one row of effects only,
    // which the history does not show.
    assert_eq!(
        journal.commit(address_update(1)).await.unwrap(),
        Written::Committed
    );
    let id = OrderId::parse("5770000001").unwrap();
    let events = database.orders().events(&id).await.unwrap();
    assert_eq!(
        events.len(),
        creation(1).applied.len(),
        "the creation's events, no effects row"
    );
    let log = database.log().after(0, i64::MAX, 100, None).await.unwrap();
    let fetches = log
        .iter()
        .flat_map(|e| e.effects.iter())
        .filter(|p| p.routing_key == "tiktok.fetch_detail")
        .count();
    assert_eq!(fetches, 2, "the creation's fetch and the address update's");
    db.destroy().await;
}

#[actix_web::test]
async fn each_log_row_keeps_its_own_payload_and_effects_whatever_their_characters() {
    let (db, database, journal) = journal(1).await;
    // One batch: orders whose (verbatim, unknown) statuses put multi-byte characters in their
    // events' payloads and in their transitions' effects, between plain ones, and a row of
    // effects only. A row given a neighbour's text, or a text cut on the wrong byte, fails here.
    let statuses = [
        "AWAITING_SHIPMENT",
        "ÉTAT_入荷待ち_🚚",
        "UNPAID",
        "ПРОВЕРКА",
    ];
    let commits: Vec<Commit> = statuses
        .iter()
        .enumerate()
        .map(|(n, status)| {
            let key = format!("tts:texts-{n}");
            creation_commit(SHOP, &format!("5771{n:06}"), status, Some(&key))
        })
        .collect();
    let expected: Vec<_> = commits
        .iter()
        .map(|c| {
            let events: Vec<_> = c.applied.iter().map(|a| a.event.clone()).collect();
            (c.order.id.clone(), events)
        })
        .collect();
    let mut all = commits;
    all.push(address_update(7));
    for outcome in futures_util::future::join_all(all.into_iter().map(|c| journal.commit(c))).await
    {
        assert!(matches!(outcome, Ok(Written::Committed)), "{outcome:?}");
    }

    for (id, events) in &expected {
        let stored = database.orders().events(id).await.unwrap();
        assert_eq!(&stored, events, "order {id}'s events as committed");
    }
    let end = journal.committed().now();
    let entries = database.log().after(0, end, 100, None).await.unwrap();
    let mut moved: Vec<(String, String)> = Vec::new();
    let mut fetches = 0;
    for posted in entries.iter().flat_map(|e| e.effects.iter()) {
        match posted.effect().expect("every stored effect parses") {
            Effect::Transitioned(t) => {
                moved.push((t.order_id.as_str().to_owned(), t.status.as_str().to_owned()))
            }
            Effect::FetchDetail { .. } => fetches += 1,
            other => panic!("an effect no commit asked for: {other:?}"),
        }
    }
    moved.sort();
    let mut committed: Vec<(String, String)> = statuses
        .iter()
        .enumerate()
        .map(|(n, s)| (format!("5771{n:06}"), s.to_string()))
        .collect();
    committed.sort();
    assert_eq!(
        moved, committed,
        "each transition names its own order and status"
    );
    assert_eq!(
        fetches,
        statuses.len() + 1,
        "each creation's fetch and the address update's"
    );
    db.destroy().await;
}

/// An entry's position, slot, and each effect's routing key and JSON.
type Told = (i64, i16, Vec<(String, serde_json::Value)>);

/// What the log's readers see of an entry, but for when it was written (the database's clock
/// or this process's): position, slot, and each effect's routing key and JSON.
fn told(entries: &[creatorflow::journal::Entry]) -> Vec<Told> {
    entries
        .iter()
        .map(|e| {
            let effects = e
                .effects
                .iter()
                .map(|p| (p.routing_key.to_string(), p.payload()))
                .collect();
            (e.position, e.slot, effects)
        })
        .collect()
}

#[actix_web::test]
async fn the_rows_held_in_memory_are_the_rows_the_database_holds() {
    let (db, database, journal) = journal(4).await;
    let recent = journal
        .committed()
        .recent()
        .cloned()
        .expect("a single node holds the rows it writes");

    // Creations (events and effects), their redeliveries (duplicates: nothing written), a
    // delivery that changes nothing (a key row only) and one with effects but no event.
    let mut commits: Vec<Commit> = (0..200).map(creation).collect();
    commits.extend((0..50).map(creation));
    let mut unchanged = creation(500);
    unchanged.applied.clear();
    unchanged.effects.clear();
    commits.push(unchanged);
    commits.push(address_update(3));
    let outcomes =
        futures_util::future::join_all(commits.into_iter().map(|c| journal.commit(c))).await;
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Written::Duplicate)))
        .count();
    assert_eq!(duplicates, 50, "the redeliveries, and nothing else");

    let end = journal.committed().now();
    let stored = database.log().after(0, end, 10_000, None).await.unwrap();
    let held = recent
        .entries(0, end, 10_000, |_| true)
        .expect("held since the journal started");
    assert_eq!(
        stored.len(),
        201,
        "a transition per creation, and the address update's fetch"
    );
    assert_eq!(told(&held), told(&stored));
    // Read in pieces, as a tail does, they are the same too.
    let first = recent.entries(0, end, 7, |_| true).unwrap();
    assert_eq!(told(&first), told(&stored[..7]));
    let rest = recent
        .entries(first[6].position, end, 10_000, |_| true)
        .unwrap();
    assert_eq!(told(&rest), told(&stored[7..]));

    let without_time = |changes: Vec<creatorflow::journal::Change>| {
        changes
            .into_iter()
            .map(|c| {
                (
                    c.position, c.order_id, c.shop_id, c.version, c.kind, c.status, c.stage,
                    c.cause,
                )
            })
            .collect::<Vec<_>>()
    };
    let stored = database.log().changes(0, end, 10_000).await.unwrap();
    let held = recent.changes(0, end, 10_000).unwrap();
    assert!(stored.len() >= 200, "every creation's events");
    assert_eq!(without_time(held), without_time(stored));
    db.destroy().await;
}

#[actix_web::test]
async fn a_tail_further_behind_than_memory_holds_reads_the_database_and_misses_nothing() {
    let (db, database, journal) = journal(2).await;
    let mut tail = Tail::open(database.clone(), "behind", journal.committed())
        .await
        .unwrap();
    let recent = journal.committed().recent().cloned().unwrap();

    // More rows than memory holds, committed while the tail does not read.
    let orders = creatorflow::journal::recent::CAPACITY + 1000;
    for wave in (0..orders).collect::<Vec<_>>().chunks(256) {
        let commits = wave.iter().map(|&n| journal.commit(creation(n)));
        for outcome in futures_util::future::join_all(commits).await {
            assert_eq!(outcome.unwrap(), Written::Committed);
        }
    }
    let end = journal.committed().now();
    assert!(
        end as usize > creatorflow::journal::recent::CAPACITY,
        "more rows than memory holds"
    );
    assert!(
        recent.entries(0, end, 10, |_| true).is_none(),
        "the oldest rows are no longer held"
    );
    let mut seen = Vec::new();
    read_until(&mut tail, end, &mut seen).await;
    let mut orders_seen: Vec<&str> = seen.iter().map(|(_, o)| o.as_str()).collect();
    orders_seen.sort_unstable();
    orders_seen.dedup();
    assert_eq!(orders_seen.len(), orders, "every transition was read");
    assert_eq!(seen.len(), orders, "none twice");
    assert!(
        recent.entries(tail.position(), end, 10, |_| true).is_some(),
        "caught up, it reads memory"
    );
    db.destroy().await;
}
