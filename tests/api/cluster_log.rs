//! Several nodes writing one log (PostgreSQL): positions drawn in blocks never collide, every
//! reader reads up to the cluster's watermark and so never skips an event another node commits
//! late, each node's subscriptions read only the slots it holds, and a slot that changes hands
//! resumes where its last owner's checkpoint stands (a node that lost it cannot move it).

use std::collections::HashMap;
use std::time::Duration;

use creatorflow::cluster::Membership;
use creatorflow::domain::OrderId;
use creatorflow::journal::{Journal, Tail, Written};
use creatorflow::persistence::Database;
use creatorflow::shutdown::Tasks;
use sea_orm::ConnectionTrait;

use crate::cluster::{holding_every_slot, node, postgres, run};
use crate::helpers::{TestDb, eventually};
use crate::log::{creation, read_until, transitions};

fn slot_of(n: usize) -> i16 {
    OrderId::parse(&format!("5770{n:06}")).unwrap().slot()
}

async fn journal(db: &Database, member: &Membership) -> Journal {
    // Small batches and several writers per node: many batches in flight at once.
    Journal::start_fenced(
        db.clone(),
        8,
        Duration::from_millis(1),
        4,
        Some(member.clone()),
    )
    .await
    .unwrap()
}

/// Two nodes sharing the slots, once the placement has settled (node-b's share unchanged over
/// six rounds). Leases long enough that only a release moves a slot.
async fn two_nodes(db: &Database) -> ((Membership, Tasks), (Membership, Tasks)) {
    let (lease, beat) = (Duration::from_secs(30), Duration::from_millis(100));
    let (a, running_a) = holding_every_slot(db, "node-a", lease, beat).await;
    let b = node(db, "node-b", lease, beat);
    let running_b = run(&b);
    eventually("node-b takes its share", || async {
        (b.held().len() >= 64 && a.held().len() + b.held().len() == 256).then_some(())
    })
    .await;
    loop {
        let share = b.held().len();
        tokio::time::sleep(Duration::from_millis(600)).await;
        if b.held().len() == share && a.held().len() + share == 256 {
            return ((a, running_a), (b, running_b));
        }
    }
}

/// Commits the creations of orders `orders`, one after another, on `journal`.
async fn write_each(orders: &[usize], journal: &Journal) {
    for n in orders {
        assert_eq!(
            journal.commit(creation(*n)).await.unwrap(),
            Written::Committed
        );
    }
}

/// Commits the creations of orders `range` at once, each on the node that holds its slot.
async fn write(range: std::ops::Range<usize>, nodes: &[(&Membership, &Journal)]) {
    for wave in range.collect::<Vec<_>>().chunks(16) {
        let commits = wave.iter().map(|&n| {
            let (_, journal) = nodes
                .iter()
                .find(|(member, _)| member.epoch(slot_of(n)).is_some())
                .expect("every slot has an owner");
            journal.commit(creation(n))
        });
        for outcome in futures_util::future::join_all(commits).await {
            assert_eq!(outcome.unwrap(), Written::Committed);
        }
    }
}

/// Each order once; and the orders' slots are all among `slots` if given.
fn once_each(seen: &[(i64, String)], what: &str) -> HashMap<String, usize> {
    let mut per_order: HashMap<String, usize> = HashMap::new();
    for (_, order) in seen {
        *per_order.entry(order.clone()).or_default() += 1;
    }
    let twice: Vec<_> = per_order.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{what} read orders twice: {twice:?}");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "{what} read positions out of order"
    );
    per_order
}

#[actix_web::test]
async fn two_nodes_write_one_log_each_reads_its_slots_once_and_a_slot_resumes_at_its_checkpoint() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    let ((a, running_a), (b, running_b)) = two_nodes(&db).await;
    let (ja, jb) = (journal(&db, &a).await, journal(&db, &b).await);
    let mut ta = Tail::open(db.clone(), "two", ja.committed()).await.unwrap();
    let mut tb = Tail::open(db.clone(), "two", jb.committed()).await.unwrap();

    // Both nodes write at once while three readers follow: each node's subscription, and a
    // reader of every slot (as the live stream reads) on node-a.
    const ORDERS: usize = 2000;
    let started = std::time::Instant::now();
    let writing = {
        let (a, b, ja, jb) = (a.clone(), b.clone(), ja.clone(), jb.clone());
        tokio::spawn(async move { write(0..ORDERS, &[(&a, &ja), (&b, &jb)]).await })
    };
    let (mut seen_a, mut seen_b, mut seen_all) = (Vec::new(), Vec::new(), Vec::new());
    let mut all_at = 0;
    let watermark = ja.committed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = writing.is_finished();
        let last = db.log().end().await.unwrap();
        let now = watermark.now();
        while now > all_at {
            let rows = db.log().after(all_at, now, 100, None).await.unwrap();
            all_at = match rows.last() {
                Some(last) if rows.len() == 100 => last.position,
                _ => now,
            };
            seen_all.extend(transitions(&rows));
        }
        let end = ta.committed();
        read_until(&mut ta, end, &mut seen_a).await;
        let end = tb.committed();
        read_until(&mut tb, end, &mut seen_b).await;
        if done && all_at >= last && ta.position() >= last && tb.position() >= last {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the readers reach the log's end in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writing.await.unwrap();
    eprintln!("written and read in {:?}", started.elapsed());

    let all = once_each(&seen_all, "the reader of every slot");
    assert_eq!(
        all.len(),
        ORDERS,
        "the reader of every slot read every order"
    );
    let (by_a, by_b) = (once_each(&seen_a, "node-a"), once_each(&seen_b, "node-b"));
    assert_eq!(
        by_a.len() + by_b.len(),
        ORDERS,
        "each order read by one node"
    );
    assert!(
        by_a.keys()
            .all(|o| a.epoch(OrderId::parse(o).unwrap().slot()).is_some())
    );
    assert!(
        by_b.keys()
            .all(|o| b.epoch(OrderId::parse(o).unwrap().slot()).is_some())
    );
    assert!(!by_a.is_empty() && !by_b.is_empty());

    // Every row carries the epoch its node held the row's slot at, the slot's epoch now.
    let raw = crate::cluster::raw(&test_db).await;
    let stale = raw
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM order_events e JOIN slot_leases l ON l.slot = e.slot \
             WHERE e.epoch IS DISTINCT FROM l.epoch",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(stale, 0, "log rows without their slot's epoch");

    // node-b saves and leaves; node-a takes its slots.
    tb.save().await.unwrap();
    ta.save().await.unwrap();
    let b_slots: Vec<i16> = b.held().iter().map(|(s, _)| *s).collect();
    let saved_b = db.log().slot_checkpoints("two", &b_slots).await.unwrap();
    // node-b writes in its slots what its subscription does not read before it leaves: node-a
    // must read those from the database (node-b wrote them), not from the rows it holds itself.
    let unread: Vec<usize> = (ORDERS + 1000..ORDERS + 2000)
        .filter(|n| b.epoch(slot_of(*n)).is_some())
        .take(30)
        .collect();
    write_each(&unread, &jb).await;
    running_b.stop(Duration::from_secs(5)).await;
    eventually("node-a holds every slot", || async {
        (a.held().len() == 256).then_some(())
    })
    .await;
    // A node that lost its slots cannot move their checkpoints.
    tb.advance(i64::MAX / 2).await.unwrap();
    tb.save().await.unwrap();
    assert_eq!(
        db.log().slot_checkpoints("two", &b_slots).await.unwrap(),
        saved_b,
        "node-b's checkpoints stayed where it last held the slots"
    );
    drop(jb);

    // node-a reads node-b's former slots from node-b's checkpoints: only what came after.
    write(ORDERS..ORDERS + 100, &[(&a, &ja)]).await;
    let mut after = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let last = db.log().end().await.unwrap();
    while ta.position() < last {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node-a catches up in 30 s"
        );
        let end = ta.committed();
        read_until(&mut ta, end, &mut after).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let late = once_each(&after, "node-a after the handoff");
    assert_eq!(
        late.len(),
        100 + unread.len(),
        "the orders written after the handoff and those node-b left unread, and none before"
    );
    assert!(
        unread
            .iter()
            .all(|n| late.contains_key(format!("5770{n:06}").as_str())),
        "node-a read what node-b wrote and did not read"
    );
    assert!(
        late.keys()
            .all(|o| o.as_str() >= format!("5770{ORDERS:06}").as_str()),
        "nothing node-b had read is read again"
    );
    running_a.stop(Duration::from_secs(5)).await;
}

/// Background work per slot: a workflow run is due only on the node holding its order's slot,
/// and its steps are recorded only while that node holds the slot at the epoch it presents.
#[actix_web::test]
async fn workflow_runs_are_worked_only_by_the_node_holding_their_slot_and_a_lost_slot_records_nothing()
 {
    use creatorflow::domain::ShopId;
    use creatorflow::persistence::workflows::{NewRun, Position};
    use creatorflow::workflow::run::Status;

    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    let ((node_a, running_a), (node_b, running_b)) = two_nodes(&db).await;
    let (a, b) = (node_a.held(), node_b.held());
    let slots = |held: &[(i16, i64)]| held.iter().map(|(s, _)| *s).collect::<Vec<_>>();

    let runs: Vec<NewRun> = (0..60)
        .map(|n| NewRun {
            order_id: OrderId::parse(&format!("5772{n:06}")).unwrap(),
            shop_id: ShopId::parse("7494049642642441621").unwrap(),
            template: "default".into(),
            rts_sla_time: None,
        })
        .collect();
    assert_eq!(db.runs().start(&runs, &[]).await.unwrap(), 60);
    let due_a = db.runs().due(100, Some(&slots(&a))).await.unwrap();
    let due_b = db.runs().due(100, Some(&slots(&b))).await.unwrap();
    assert_eq!(
        due_a.len() + due_b.len(),
        60,
        "every run is due on one node"
    );
    assert!(due_a.iter().all(|r| slots(&a).contains(&r.order_id.slot())));
    assert!(due_b.iter().all(|r| slots(&b).contains(&r.order_id.slot())));
    assert!(!due_b.is_empty());

    let to = |step| Position {
        status: Status::Running,
        step,
        attempts: 0,
        last_error: None,
        next_at: chrono::Utc::now(),
        waiting_for: None,
    };
    let step_of = |run: &creatorflow::persistence::workflows::Run| {
        let (db, order) = (db.clone(), run.order_id.clone());
        async move { db.runs().of_order(&order).await.unwrap().unwrap().0.step }
    };
    let runs = db.runs();
    let run_b = &due_b[0];
    // node-b holds the slot at the epoch it presents: the step is recorded.
    let moved = runs.advance_many(vec![(run_b.id, None, to(1))], Some(("node-b", &b)));
    assert_eq!(moved.await.unwrap(), 1);
    assert_eq!(step_of(run_b).await, 1);
    // Another node presenting node-b's epochs records nothing.
    let moved = runs.advance_many(vec![(run_b.id, None, to(2))], Some(("node-a", &b)));
    assert_eq!(moved.await.unwrap(), 0);
    // node-b's slot taken over (its epoch raised): node-b's old epochs record nothing.
    let raw = crate::cluster::raw(&test_db).await;
    let slot = run_b.order_id.slot();
    raw.execute_unprepared(&format!(
        "UPDATE slot_leases SET owner = 'node-c', epoch = epoch + 1 WHERE slot = {slot}"
    ))
    .await
    .unwrap();
    let moved = runs.advance_many(vec![(run_b.id, None, to(3))], Some(("node-b", &b)));
    assert_eq!(moved.await.unwrap(), 0);
    assert_eq!(
        step_of(run_b).await,
        1,
        "the stale owner's step is not recorded"
    );
    running_b.stop(Duration::from_secs(5)).await;
    running_a.stop(Duration::from_secs(5)).await;
}

/// A cluster node takes an order for new (its actor skips the load) only in a slot it holds and
/// has read every stored id of since it took it: never an order the slot's earlier owner wrote,
/// nor any order of a slot another node holds.
#[actix_web::test]
async fn a_node_takes_no_order_an_earlier_owner_wrote_for_new() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    let (lease, beat) = (Duration::from_secs(30), Duration::from_millis(100));
    let (a, running_a) = holding_every_slot(&db, "node-a", lease, beat).await;
    let ja = journal(&db, &a).await;
    write_each(&(0..200).collect::<Vec<_>>(), &ja).await;

    let b = node(&db, "node-b", lease, beat);
    let running_b = run(&b);
    eventually("node-b takes its share", || async {
        (b.held().len() >= 64).then_some(())
    })
    .await;
    let jb = journal(&db, &b).await;
    tokio::time::timeout(Duration::from_secs(20), jb.stored_orders_read())
        .await
        .expect("node-b reads the stored ids for the slots it took");
    let held_by_b = |n: usize| b.epoch(slot_of(n)).is_some();
    let id = |n: usize| OrderId::parse(&format!("5770{n:06}")).unwrap();
    let written_in_b_slots = (0..200).filter(|&n| held_by_b(n)).count();
    assert!(written_in_b_slots > 20, "{written_in_b_slots}");
    for n in 0..200 {
        assert!(!jb.surely_new(&id(n)), "order {n} was written by node-a");
    }
    // Orders never written: new in node-b's slots once it knows them (it may still be taking
    // slots: each is known only after a read that began once it held it), never in node-a's.
    let fresh: Vec<usize> = (1000..1400).collect();
    eventually("node-b knows its slots", || async {
        fresh
            .iter()
            .filter(|&&n| held_by_b(n))
            .all(|&n| jb.surely_new(&id(n)))
            .then_some(())
    })
    .await;
    for &n in &fresh {
        if a.epoch(slot_of(n)).is_some() && !held_by_b(n) {
            assert!(!jb.surely_new(&id(n)), "order {n}'s slot is node-a's");
        }
    }
    running_b.stop(Duration::from_secs(5)).await;
    running_a.stop(Duration::from_secs(5)).await;
}

/// A node's floor is said by two statements that do not wait for each other: the draw of a
/// block, and the publisher's "nothing in flight". The publisher's, seen before the draw and
/// landing after it, must not clear the drawn block's floor, or readers would pass positions
/// the node is about to write.
#[actix_web::test]
async fn a_floor_seen_before_a_draw_and_said_after_it_leaves_the_drawn_block_held() {
    let test_db = TestDb::new().await;
    let Some(db) = postgres(&test_db).await else {
        return;
    };
    let (lease, beat) = (Duration::from_secs(30), Duration::from_millis(100));
    let (node_a, running_a) = holding_every_slot(&db, "node-a", lease, beat).await;
    let me = node_a.incarnation();
    let cluster = db.cluster();
    cluster.ensure_head().await.unwrap();
    let seen_next = cluster.head().await.unwrap();
    let first = cluster.draw("node-a", me, 100, None).await.unwrap();
    assert!(first >= seen_next);
    assert_eq!(cluster.settled().await.unwrap(), first - 1);

    // "Nothing in flight" as seen before the draw: the block stays held.
    cluster
        .publish_floor("node-a", me, None, seen_next)
        .await
        .unwrap();
    assert_eq!(
        cluster.settled().await.unwrap(),
        first - 1,
        "readers stop below the block node-a drew"
    );
    // An oldest batch in flight is said as it is.
    cluster
        .publish_floor("node-a", me, Some(first + 10), first + 20)
        .await
        .unwrap();
    assert_eq!(cluster.settled().await.unwrap(), first + 9);
    // "Nothing in flight" seen after handing out from the block: readers may pass it.
    cluster
        .publish_floor("node-a", me, None, first + 20)
        .await
        .unwrap();
    assert_eq!(
        cluster.settled().await.unwrap(),
        cluster.head().await.unwrap() - 1,
        "with node-a idle, everything below the head is settled"
    );
    running_a.stop(Duration::from_secs(5)).await;
}
