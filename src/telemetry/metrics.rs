//! Every metric the daemon exports: names as constants, each described once when the recorder is
//! installed. Names carry the `creatorflow_` prefix and base units; counters end in `_total`.
//! Labels take bounded values only (route patterns, status codes), never ids or error text.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Unit, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS_TOTAL: &str = "creatorflow_http_requests_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "creatorflow_http_request_duration_seconds";
pub const BUILD_INFO: &str = "creatorflow_build_info";
pub const JOURNAL_BATCH_SIZE: &str = "creatorflow_journal_batch_size";
pub const SHIPPING_BATCH_SIZE: &str = "creatorflow_shipping_batch_size";
pub const JOURNAL_COMMIT_SECONDS: &str = "creatorflow_journal_commit_seconds";
pub const LIVE_ORDERS: &str = "creatorflow_live_orders";
pub const ACTIVATIONS_TOTAL: &str = "creatorflow_order_activations_total";
pub const ACTIVATION_SECONDS: &str = "creatorflow_order_activation_seconds";
pub const PASSIVATIONS_TOTAL: &str = "creatorflow_order_passivations_total";
pub const MAILBOX_FULL_TOTAL: &str = "creatorflow_mailbox_full_total";
pub const EVENTS_APPLIED_TOTAL: &str = "creatorflow_order_events_applied_total";
pub const DUPLICATES_TOTAL: &str = "creatorflow_duplicate_messages_total";
pub const TIKTOK_WEBHOOKS_TOTAL: &str = "creatorflow_tiktok_webhooks_total";
pub const WORKFLOW_RUNS_TOTAL: &str = "creatorflow_workflow_runs_total";
pub const WORKFLOW_STEP_SECONDS: &str = "creatorflow_workflow_step_seconds";
pub const WORKFLOW_RETRIES_TOTAL: &str = "creatorflow_workflow_retries_total";
pub const WORKFLOW_DEAD_LETTERS_TOTAL: &str = "creatorflow_workflow_dead_letters_total";
pub const WORKFLOW_STEP_OVERHEAD_SECONDS: &str = "creatorflow_workflow_step_overhead_seconds";
pub const WORKFLOW_TIME_TO_SHIP_SECONDS: &str = "creatorflow_workflow_time_to_ship_seconds";
pub const TIKTOK_SYNC_DRIFT_TOTAL: &str = "creatorflow_tiktok_sync_drift_total";
pub const TIKTOK_DETAILS_FETCHED_TOTAL: &str = "creatorflow_tiktok_details_fetched_total";
pub const TIKTOK_DETAILS_SKIPPED_TOTAL: &str = "creatorflow_tiktok_details_skipped_total";
pub const BUS_PUBLISHED_TOTAL: &str = "creatorflow_bus_published_total";
pub const BUS_PUBLISH_FAILURES_TOTAL: &str = "creatorflow_bus_publish_failures_total";
pub const BUS_CONNECTS_TOTAL: &str = "creatorflow_bus_connects_total";
pub const BUS_POISON_TOTAL: &str = "creatorflow_bus_poison_messages_total";
pub const BUS_CONSUMED_TOTAL: &str = "creatorflow_bus_consumed_total";
pub const OUTBOX_LAG_SECONDS: &str = "creatorflow_outbox_relay_lag_seconds";
pub const INVENTORY_RESERVATIONS_TOTAL: &str = "creatorflow_inventory_reservations_total";
pub const NOTIFICATIONS_TOTAL: &str = "creatorflow_notification_attempts_total";
pub const INVENTORY_LOW_STOCK_TOTAL: &str = "creatorflow_inventory_low_stock_total";
pub const DATABASE_UP: &str = "creatorflow_database_up";
pub const LOG_LAG_EVENTS: &str = "creatorflow_log_lag_events";
pub const LOG_READS_TOTAL: &str = "creatorflow_log_reads_total";
pub const RESIDENT_MEMORY_BYTES: &str = "creatorflow_process_resident_memory_bytes";
pub const MEMORY_LIMIT_BYTES: &str = "creatorflow_memory_limit_bytes";
pub const TIKTOK_REQUESTS_TOTAL: &str = "creatorflow_tiktok_requests_total";
pub const ORDER_PROCESSING_SECONDS: &str = "creatorflow_order_processing_seconds";
pub const CLUSTER_SLOTS_HELD: &str = "creatorflow_cluster_slots_held";
pub const CLUSTER_HANDOFFS_TOTAL: &str = "creatorflow_cluster_handoffs_total";
pub const CLUSTER_FORWARDED_TOTAL: &str = "creatorflow_cluster_forwarded_total";
pub const CLUSTER_FORWARD_BATCH_SIZE: &str = "creatorflow_cluster_forward_batch_size";
pub const CLUSTER_FORWARD_STREAMS_TOTAL: &str = "creatorflow_cluster_forward_streams_total";
pub const CLUSTER_PARKED_TOTAL: &str = "creatorflow_cluster_parked_total";
pub const CLUSTER_FENCED_COMMITS_TOTAL: &str = "creatorflow_cluster_fenced_commits_total";

/// Buckets for batch sizes: 1 to the largest sensible `journal.max_batch`.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
];

/// Latency buckets from 100 µs to 10 s: the interesting range for a request served from memory
/// or one group commit away.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Time from ready-to-ship to shipped: a second to two days (a backlog, a hold, a weekend).
const FULFILMENT_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0, 7200.0,
    14400.0, 43200.0, 86400.0, 172800.0,
];

/// A counter's name and its two labels, all fixed strings.
type Series = (&'static str, [(&'static str, &'static str); 2]);

thread_local! {
    /// The handles of the [`Series`] this thread has counted, hashed with foldhash: the keys
    /// are constants, and SipHash over their five strings on every count showed in profiles.
    static SERIES: RefCell<HashMap<Series, Counter, foldhash::fast::FixedState>> =
        RefCell::new(HashMap::default());
}

/// Adds `n` to the counter `name` with two labels whose values are fixed strings: looked up in
/// the registry once per thread (a key built, hashed and locked for), then from this thread's
/// own handles. For counters on the path of every webhook.
pub fn count(name: &'static str, labels: [(&'static str, &'static str); 2], n: u64) {
    SERIES.with_borrow_mut(|known| {
        known
            .entry((name, labels))
            .or_insert_with(|| metrics::counter!(name, &labels))
            .increment(n);
    });
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. One per process because the
/// `metrics` facade has one global recorder; every app built in the process shares it.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the bucket list is a non-empty constant")
            .set_buckets_for_metric(Matcher::Full(JOURNAL_BATCH_SIZE.into()), BATCH_BUCKETS)
            .expect("the bucket list is a non-empty constant")
            .set_buckets_for_metric(Matcher::Full(SHIPPING_BATCH_SIZE.into()), BATCH_BUCKETS)
            .expect("the bucket list is a non-empty constant")
            .set_buckets_for_metric(
                Matcher::Full(CLUSTER_FORWARD_BATCH_SIZE.into()),
                BATCH_BUCKETS,
            )
            .expect("the bucket list is a non-empty constant")
            .set_buckets_for_metric(
                Matcher::Full(WORKFLOW_TIME_TO_SHIP_SECONDS.into()),
                FULFILMENT_BUCKETS,
            )
            .expect("the bucket list is a non-empty constant")
            // Seconds to two days: the alert on a minute's processing latency needs buckets
            // past the request latencies' 10 s.
            .set_buckets_for_metric(
                Matcher::Full(ORDER_PROCESSING_SECONDS.into()),
                FULFILMENT_BUCKETS,
            )
            .expect("the bucket list is a non-empty constant")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first, which nothing in this crate does.
        metrics::set_global_recorder(recorder).expect("no other metrics recorder is installed");
        describe();
        // Histograms buffer samples until upkeep folds them in; without a scrape they would
        // grow, so a small thread does it on a clock.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("spawning a thread at start-up succeeds");
        handle
    })
}

fn describe() {
    describe_counter!(
        BUS_PUBLISHED_TOTAL,
        "Outbox messages taken by the bus (broker-confirmed, or handled in-process)"
    );
    describe_counter!(
        BUS_PUBLISH_FAILURES_TOTAL,
        "Outbox messages not taken (nack, unroutable, disconnected, handler failed), to retry"
    );
    describe_counter!(
        NOTIFICATIONS_TOTAL,
        "Outgoing webhook attempts, by outcome (delivered, retry, dead)"
    );
    describe_counter!(BUS_CONNECTS_TOTAL, "Connections made to RabbitMQ");
    describe_counter!(
        BUS_POISON_TOTAL,
        "Messages a consumer could never handle, dead-lettered, by subscription"
    );
    describe_counter!(
        BUS_CONSUMED_TOTAL,
        "Deliveries handled, by subscription and outcome"
    );
    describe_histogram!(
        OUTBOX_LAG_SECONDS,
        Unit::Seconds,
        "Time from an outbox row's commit to its publication"
    );
    describe_counter!(
        INVENTORY_RESERVATIONS_TOTAL,
        "Stock reservations, by outcome (reserved, insufficient, released, committed, expired)"
    );
    describe_counter!(INVENTORY_LOW_STOCK_TOTAL, "Low-stock events raised");
    describe_gauge!(
        CLUSTER_SLOTS_HELD,
        "Slots of orders this node holds the lease of (cluster mode)"
    );
    describe_counter!(
        CLUSTER_HANDOFFS_TOTAL,
        "Slots that changed hands at this node, by change (acquired, released, lost)"
    );
    describe_counter!(
        CLUSTER_FORWARDED_TOTAL,
        "Messages for orders of another node's slot forwarded to it, by outcome (answered, unreachable)"
    );
    describe_histogram!(
        CLUSTER_FORWARD_BATCH_SIZE,
        Unit::Count,
        "Messages per write of a forwarding stream (or per internal request) to their slots' owner"
    );
    describe_counter!(
        CLUSTER_FORWARD_STREAMS_TOTAL,
        "Forwarding streams this node opened to other nodes (one per node while messages flow; another after one ends)"
    );
    describe_counter!(
        CLUSTER_FENCED_COMMITS_TOTAL,
        "Commits refused because this node does not hold their slot at the epoch it presented (nothing written)"
    );
    describe_counter!(
        CLUSTER_PARKED_TOTAL,
        "Webhook messages kept for a slot whose owner did not answer (parked), and applied later by the slot's owner (applied)"
    );
    describe_gauge!(
        DATABASE_UP,
        "1 while the database answers (and, for SQLite, its file is there), else 0"
    );
    describe_gauge!(
        LOG_LAG_EVENTS,
        "Events committed to the log that a reader (relay, detail fetcher, workflow starter) has not handled yet"
    );
    describe_counter!(
        LOG_READS_TOTAL,
        "Reads of the log by its readers, by source: memory (rows this process just wrote) or database"
    );
    describe_gauge!(
        RESIDENT_MEMORY_BYTES,
        Unit::Bytes,
        "Resident memory of the daemon"
    );
    describe_gauge!(
        MEMORY_LIMIT_BYTES,
        Unit::Bytes,
        "Memory the daemon may use: the smaller of its cgroup's limit (memory.max) and the machine's memory"
    );
    describe_counter!(
        TIKTOK_REQUESTS_TOTAL,
        "Calls to TikTok's API (each attempt), by shop and outcome (ok, error)"
    );
    describe_histogram!(
        ORDER_PROCESSING_SECONDS,
        Unit::Seconds,
        "Time from TikTok's update of an order to our commit of it, per transition"
    );
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests answered, by method, route pattern and status"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "HTTP request latency, by method, route pattern and status"
    );
    describe_histogram!(
        JOURNAL_BATCH_SIZE,
        Unit::Count,
        "Commits written per group-commit transaction"
    );
    describe_histogram!(
        SHIPPING_BATCH_SIZE,
        Unit::Count,
        "Packages sent per TikTok Batch Ship Packages call"
    );
    describe_histogram!(
        JOURNAL_COMMIT_SECONDS,
        Unit::Seconds,
        "Time to write and commit one journal batch"
    );
    describe_gauge!(LIVE_ORDERS, "Order actors currently live, over all shards");
    describe_counter!(
        ACTIVATIONS_TOTAL,
        "Order actors activated (snapshot loaded or created)"
    );
    describe_histogram!(
        ACTIVATION_SECONDS,
        Unit::Seconds,
        "Time for an order actor to load its snapshot on activation"
    );
    describe_counter!(
        PASSIVATIONS_TOTAL,
        "Order actors passivated, by reason (idle, capacity)"
    );
    describe_counter!(
        MAILBOX_FULL_TOTAL,
        "Messages refused because a mailbox was full"
    );
    describe_counter!(
        EVENTS_APPLIED_TOTAL,
        "Order events committed and applied, by kind"
    );
    describe_counter!(
        DUPLICATES_TOTAL,
        "Messages acknowledged as duplicates and ignored"
    );
    describe_counter!(
        TIKTOK_WEBHOOKS_TOTAL,
        "TikTok webhooks received, by type and outcome (applied, unchanged, duplicate, stored, \
         malformed, invalid_signature, too_large, overloaded, unavailable)"
    );
    describe_counter!(
        TIKTOK_SYNC_DRIFT_TOTAL,
        "Orders the reconciliation poller found different from what webhooks had said, and repaired"
    );
    describe_counter!(
        TIKTOK_DETAILS_FETCHED_TOTAL,
        "Order details fetched from TikTok and handed to their orders"
    );
    describe_counter!(
        TIKTOK_DETAILS_SKIPPED_TOTAL,
        "Order detail fetches not made: the shop has not authorised CreatorFlow (its first poll once it does brings its orders)"
    );
    describe_counter!(
        WORKFLOW_RUNS_TOTAL,
        "Workflow runs by outcome: started, completed, failed, cancelled"
    );
    describe_histogram!(
        WORKFLOW_STEP_SECONDS,
        Unit::Seconds,
        "Time to execute one workflow step, by action"
    );
    describe_counter!(
        WORKFLOW_RETRIES_TOTAL,
        "Workflow step attempts that failed and will be retried, by action"
    );
    describe_counter!(
        WORKFLOW_DEAD_LETTERS_TOTAL,
        "Workflow steps that exhausted their retries, by action"
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build is running"
    );
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}
