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

async fn journal(database: &Database, writers: usize) -> Journal {
    // Small batches and several writers: many batches in flight at once, committing in any
    // order (on PostgreSQL; SQLite writes one batch at a time).
    Journal::start(database.clone(), 8, Duration::from_millis(1), writers)
        .await
        .unwrap()
}

/// The transitions among `entries`: (position, order id).
pub(crate) fn transitions(entries: &[creatorflow::journal::Entry]) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    for entry in entries {
        for posted in &entry.effects {
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
    let db = TestDb::new().await;
    let database = Database::connect(&db.settings().database).await.unwrap();
    database.migrate_up().await.unwrap();
    let journal = journal(&database, 4).await;
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
    let db = TestDb::new().await;
    let database = Database::connect(&db.settings().database).await.unwrap();
    database.migrate_up().await.unwrap();
    let journal = journal(&database, 1).await;

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
    let mut refresh = creation(1);
    refresh.applied.clear();
    refresh
        .effects
        .retain(|e| matches!(e, Effect::FetchDetail { .. }));
    refresh.inbox = Some(InboxEntry {
        dedupe_key: "tts:address".into(),
        event_type: 3,
    });
    assert_eq!(journal.commit(refresh).await.unwrap(), Written::Committed);
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
        .flat_map(|e| &e.effects)
        .filter(|p| p.routing_key == "tiktok.fetch_detail")
        .count();
    assert_eq!(fetches, 2, "the creation's fetch and the address update's");
    db.destroy().await;
}
