//! GraphQL at `/graphql`: queries as Relay connections, mutations with `userErrors`,
//! subscriptions over `graphql-transport-ws`, each within the key's shop; bounded documents,
//! batched loads, and the schema file kept in step.

use std::time::Duration;

use creatorflow::actors::Envelope;
use creatorflow::domain::{Cause, Msg, OrderId, OrderStatus, ShopId};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, order_at, sample_detail, spawn_app};

const SHOP_A: &str = "7100000000000000001";
const SHOP_B: &str = "7100000000000000002";

/// A GraphQL answer: status, body, and the SQL statements `Server-Timing` counted.
struct Answer {
    status: u16,
    body: Value,
    statements: Option<u64>,
}

async fn graphql(app: &TestApp, key: &str, query: &str, variables: Value) -> Answer {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let statements = response
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("desc=\"").nth(1))
        .and_then(|v| v.split(' ').next())
        .and_then(|n| n.parse().ok());
    let body = response.json().await.unwrap();
    Answer {
        status,
        body,
        statements,
    }
}

/// The data of an answer that must have no errors.
pub async fn data(app: &TestApp, key: &str, query: &str, variables: Value) -> Value {
    let answer = graphql(app, key, query, variables).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    answer.body["data"].clone()
}

fn ids(connection: &Value) -> Vec<String> {
    connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Orders `…001`–`…00n` of `shop` awaiting shipment, oldest first.
async fn orders(app: &TestApp, shop: &str, prefix: &str, n: usize) -> Vec<String> {
    let mut made = Vec::new();
    for i in 1..=n {
        let id = format!("{prefix}{i:03}");
        order_at(app, shop, &id, OrderStatus::AwaitingShipment).await;
        made.push(id);
    }
    made
}

#[test]
fn the_schema_file_is_the_schema_the_daemon_serves() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.graphql");
    let served = creatorflow::http::graphql_sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &served).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == served,
        "docs/schema.graphql differs from the schema; review the change, then run \
         `UPDATE_SCHEMA=1 cargo test --test api graphql::the_schema_file` to write it"
    );
}

#[actix_web::test]
async fn orders_page_as_a_relay_connection_within_the_keys_shop() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key(SHOP_A).await;
    app.shop_with_key(SHOP_B).await;
    let a = orders(&app, SHOP_A, "81", 5).await;
    let b = orders(&app, SHOP_B, "82", 2).await;
    let page = "query($first: Int, $after: String, $last: Int, $before: String, $q: String) {
        orders(first: $first, after: $after, last: $last, before: $before, query: $q) {
            nodes { id shopId status version }
            edges { cursor node { id } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        } }";

    let first = data(&app, &key_a, page, json!({ "first": 2 })).await["orders"].clone();
    assert_eq!(ids(&first), [a[4].clone(), a[3].clone()], "newest first");
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["edges"][1]["cursor"], first["pageInfo"]["endCursor"]);
    let mut seen = ids(&first);
    let mut after = first["pageInfo"]["endCursor"].clone();
    loop {
        let next = data(&app, &key_a, page, json!({ "first": 2, "after": after })).await;
        let next = &next["orders"];
        seen.extend(ids(next));
        assert_eq!(next["pageInfo"]["hasPreviousPage"], true);
        if next["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = next["pageInfo"]["endCursor"].clone();
    }
    let mut newest_first = a.clone();
    newest_first.reverse();
    assert_eq!(
        seen, newest_first,
        "every order of the shop once, none of another shop's"
    );

    let oldest = data(&app, &key_a, page, json!({ "last": 2 })).await["orders"].clone();
    assert_eq!(ids(&oldest), [a[1].clone(), a[0].clone()]);
    assert_eq!(oldest["pageInfo"]["hasPreviousPage"], true);
    let before = data(
        &app,
        &key_a,
        page,
        json!({ "last": 2, "before": oldest["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(ids(&before["orders"]), [a[3].clone(), a[2].clone()]);

    let searched = data(&app, &key_a, page, json!({ "q": format!("id:{}", a[2]) })).await;
    assert_eq!(ids(&searched["orders"]), [a[2].clone()]);
    let theirs = data(&app, &key_a, page, json!({ "q": format!("id:{}", b[0]) })).await;
    assert_eq!(ids(&theirs["orders"]), Vec::<String>::new());

    let one = "query($id: ID!) { order(id: $id) { id shopId } }";
    let own = data(&app, &key_a, one, json!({ "id": a[0] })).await;
    assert_eq!(own["order"]["shopId"], SHOP_A);
    let other = data(&app, &key_a, one, json!({ "id": b[0] })).await;
    assert_eq!(
        other["order"],
        Value::Null,
        "another shop's order is not found"
    );
    let everything = data(&app, &app.admin_key, page, json!({ "first": 10 })).await;
    assert_eq!(
        ids(&everything["orders"]).len(),
        7,
        "an administrator sees both shops"
    );

    let shops = data(&app, &key_a, "{ shops { id } }", json!({})).await;
    assert_eq!(shops["shops"], json!([{ "id": SHOP_A }]));
}

#[actix_web::test]
async fn a_page_of_100_orders_with_items_and_history_costs_at_most_4_statements() {
    let app = spawn_app().await;
    let key = app.shop_with_key(SHOP_A).await;
    for id in orders(&app, SHOP_A, "83", 100).await {
        let envelope = Envelope {
            msg: Msg::Detail {
                shop_id: ShopId::parse(SHOP_A).unwrap(),
                detail: Box::new(sample_detail("25.60", 1_700_000_100)),
            },
            cause: Cause::Integration("tiktok".into()),
            inbox: None,
        };
        app.registry
            .submit(OrderId::parse(&id).unwrap(), envelope)
            .await
            .unwrap();
    }
    // The key's first use also records when it was used (once a minute at most): use it once
    // first, so that the count below is the page's own.
    let first_use = graphql(&app, &key, "{ shops { id } }", json!({})).await;
    assert_eq!(first_use.status, 200, "{}", first_use.body);
    let query =
        "{ orders(first: 100) { nodes { items { sku } history(first: 5) { nodes { kind } } } } }";
    let answer = graphql(&app, &key, query, json!({})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let nodes = answer.body["data"]["orders"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 100);
    for node in nodes {
        let skus: Vec<&str> = node["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap())
            .collect();
        assert_eq!(skus, ["SKU-A", "SKU-A", "SKU-B"]);
        let kinds = &node["history"]["nodes"];
        assert!(kinds.as_array().unwrap().len() >= 2, "{kinds}");
        assert_eq!(kinds[0]["kind"], "created");
    }
    let statements = answer
        .statements
        .expect("Server-Timing counts SQL statements");
    // On PostgreSQL a shop's page is read under row-level security: BEGIN, the role and shop
    // setting, then the page (the ROLLBACK that ends it is sent with the connection's next use).
    let security = match app.db.settings().database.backend().unwrap() {
        creatorflow::config::Backend::Postgres => 2,
        creatorflow::config::Backend::Sqlite => 0,
    };
    // The key, the page, and the histories in one batch: 3. The loader closes a batch 1 ms
    // after its first key, so a worker preempted while it resolves the page's nodes (CI runs
    // many tests on two cores) can send the histories in two; one order per statement would
    // be ~100.
    assert!(
        statements <= 4 + security,
        "the key, the page, and the histories in one batch (two at most): {statements} statements"
    );
    let cost = &answer.body["extensions"]["cost"];
    assert!(cost["requestedQueryCost"].as_u64().unwrap() > 100, "{cost}");
    assert_eq!(cost["maximumAvailable"], 10_000);
}

#[actix_web::test]
async fn bad_documents_are_400_with_a_code_naming_what_is_wrong() {
    let app = spawn_app().await;
    let key = &app.admin_key;
    let cases = [
        (
            "{ orders(first: 2) { nodes { id }",
            "GRAPHQL_PARSE_FAILED",
            "",
        ),
        (
            "{ orders { nodes { colour } } }",
            "GRAPHQL_VALIDATION_FAILED",
            "colour",
        ),
        (
            "{ orders(first: 251) { nodes { id } } }",
            "BAD_REQUEST",
            "first must be 1 to 250",
        ),
        (
            "{ orders(first: 5, query: \"status:AWAITING_SHIPMENT tag:\") { nodes { id } } }",
            "BAD_REQUEST",
            "tag:",
        ),
        (
            "{ orders(first: 250) { nodes { history(first: 250) { nodes { kind cause } } } } }",
            "MAX_COST_EXCEEDED",
            "costs",
        ),
        (
            "{ orders(first: 2, last: 2) { nodes { id } } }",
            "BAD_REQUEST",
            "not both",
        ),
    ];
    for (query, code, naming) in cases {
        let answer = graphql(&app, key, query, json!({})).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
        let error = &answer.body["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{query}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(naming),
            "{query}: {error}"
        );
    }
    let batch = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(key)
        .json(&json!([{ "query": "{ shops { id } }" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400);
    let body: Value = batch.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    let anonymous = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ shops { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[actix_web::test]
async fn mutations_check_the_version_and_the_shop_and_answer_user_errors() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key(SHOP_A).await;
    let key_b = app.shop_with_key(SHOP_B).await;
    let id = orders(&app, SHOP_A, "84", 1).await.remove(0);
    let hold = "mutation($id: ID!, $v: Int!) {
        holdOrder(id: $id, reason: \"address check\", expectedVersion: $v) {
            order { id stage version }
            userErrors { field message code }
        } }";

    let stale = data(&app, &key_a, hold, json!({ "id": id, "v": 7 })).await;
    let errors = &stale["holdOrder"]["userErrors"];
    assert_eq!(errors[0]["code"], "VERSION_CONFLICT", "{errors}");
    assert_eq!(errors[0]["field"], json!(["expectedVersion"]));
    let theirs = data(&app, &key_b, hold, json!({ "id": id, "v": 1 })).await;
    assert_eq!(theirs["holdOrder"]["userErrors"][0]["code"], "NOT_FOUND");
    assert_eq!(theirs["holdOrder"]["order"], Value::Null);

    let held = data(&app, &key_a, hold, json!({ "id": id, "v": 1 })).await;
    assert_eq!(held["holdOrder"]["userErrors"], json!([]));
    assert_eq!(held["holdOrder"]["order"]["stage"], "on_hold");
    assert_eq!(held["holdOrder"]["order"]["version"], 2);

    let tag = "mutation($id: ID!, $v: Int!, $tags: [String!]!) {
        tagsAdd(id: $id, tags: $tags, expectedVersion: $v) {
            order { tags version } userErrors { field code message } } }";
    let bad = data(
        &app,
        &key_a,
        tag,
        json!({ "id": id, "v": 2, "tags": ["a,b"] }),
    )
    .await;
    assert_eq!(bad["tagsAdd"]["userErrors"][0]["field"], json!(["tags"]));
    let tagged = data(
        &app,
        &key_a,
        tag,
        json!({ "id": id, "v": 2, "tags": ["vip", "gift"] }),
    )
    .await;
    assert_eq!(tagged["tagsAdd"]["order"]["tags"], json!(["gift", "vip"]));

    let release = "mutation($id: ID!) { releaseOrder(id: $id, expectedVersion: 3) {
        order { stage } userErrors { code } } }";
    let released = data(&app, &key_a, release, json!({ "id": id })).await;
    assert_eq!(released["releaseOrder"]["userErrors"], json!([]));
    assert_eq!(released["releaseOrder"]["order"]["stage"], "received");

    let create = "mutation($q: String) { bulkJobCreate(input: { action: \"tags_add\", query: $q, tags: [\"wave\"] }) {
        bulkJob { id state total } userErrors { field code message } } }";
    let job = data(&app, &key_a, create, json!({ "q": "tag:vip" })).await;
    assert_eq!(job["bulkJobCreate"]["userErrors"], json!([]), "{job}");
    let job_id = job["bulkJobCreate"]["bulkJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad_job = data(&app, &key_a, create, json!({ "q": "tag:" })).await;
    assert_eq!(
        bad_job["bulkJobCreate"]["userErrors"][0]["field"],
        json!(["query"])
    );
    let show = "query($id: ID!) { bulkJob(id: $id) { state total } }";
    assert_eq!(
        data(&app, &key_b, show, json!({ "id": job_id })).await["bulkJob"],
        Value::Null,
        "another shop's job is not found"
    );
    let cancel = "mutation($id: ID!) { bulkJobCancel(id: $id) { userErrors { code } } }";
    let refused = data(&app, &key_b, cancel, json!({ "id": job_id })).await;
    assert_eq!(
        refused["bulkJobCancel"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let done = crate::helpers::eventually("the bulk job to finish", || async {
        let job = data(&app, &key_a, show, json!({ "id": job_id })).await;
        (job["bulkJob"]["state"] == "completed").then_some(job)
    })
    .await;
    assert_eq!(done["bulkJob"]["total"], 1);
    let order = data(
        &app,
        &key_a,
        "query($id: ID!) { order(id: $id) { tags } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(order["order"]["tags"], json!(["gift", "vip", "wave"]));
}

/// A `graphql-transport-ws` client.
struct Socket(
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
);

impl Socket {
    async fn open(app: &TestApp, init: Value) -> Self {
        let url = app.url("/graphql").replace("http://", "ws://");
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut socket = Socket(stream);
        socket
            .send(json!({ "type": "connection_init", "payload": init }))
            .await;
        socket
    }

    async fn send(&mut self, message: Value) {
        self.0
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// The next message (pings skipped), or `None` if none came within `wait` or it closed.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.0.next())
                .await
                .ok()??;
            match message.ok()? {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] != "ping" {
                        return Some(value);
                    }
                }
                Message::Close(frame) => {
                    let frame = frame.unwrap();
                    return Some(json!({
                        "closed": u16::from(frame.code),
                        "reason": frame.reason.as_str(),
                    }));
                }
                _ => {}
            }
        }
    }
}

#[actix_web::test]
async fn subscriptions_stream_only_the_keys_orders_and_a_jobs_progress() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key(SHOP_A).await;
    app.shop_with_key(SHOP_B).await;
    let ours = orders(&app, SHOP_A, "85", 1).await.remove(0);
    let theirs = orders(&app, SHOP_B, "86", 1).await.remove(0);

    let mut refused = Socket::open(&app, json!({ "authorization": "Bearer cf_nope" })).await;
    let answer = refused.next(Duration::from_secs(5)).await.unwrap();
    // async-graphql closes a refused `connection_init` with 1002 and the reason.
    assert_eq!(answer["closed"], 1002, "a bad key is refused: {answer}");
    assert_eq!(answer["reason"], "the API key is not valid");

    let mut socket =
        Socket::open(&app, json!({ "authorization": format!("Bearer {key_a}") })).await;
    assert_eq!(
        socket.next(Duration::from_secs(5)).await.unwrap()["type"],
        "connection_ack"
    );
    socket
        .send(json!({
            "id": "1", "type": "subscribe",
            "payload": { "query": "subscription { orderChanged(query: \"-stage:shipped\") { orderId shopId kind version order { tags } } }" }
        }))
        .await;
    // The subscription starts as the server reads it: change both shops' orders until ours
    // arrives; another shop's change never may.
    let mut version = 1;
    let change = loop {
        for id in [&theirs, &ours] {
            let current = app.registry.submit(
                OrderId::parse(id).unwrap(),
                Envelope {
                    msg: Msg::Tag {
                        add: vec![creatorflow::domain::Tag::parse(&format!("t{version}")).unwrap()]
                            .into(),
                        remove: Vec::new().into(),
                        expected_version: version,
                    },
                    cause: Cause::User("test".into()),
                    inbox: None,
                },
            );
            current.await.unwrap();
        }
        version += 1;
        if let Some(message) = socket.next(Duration::from_secs(1)).await {
            break message;
        }
        assert!(version < 20, "no change arrived");
    };
    assert_eq!(change["type"], "next", "{change}");
    let change = &change["payload"]["data"]["orderChanged"];
    assert_eq!(change["orderId"], ours.as_str(), "{change}");
    assert_eq!(change["shopId"], SHOP_A);
    assert_eq!(change["kind"], "tagged");
    assert!(!change["order"]["tags"].as_array().unwrap().is_empty());

    let job = data(
        &app,
        &key_a,
        "mutation { bulkJobCreate(input: { action: \"export\", query: \"\" }) { bulkJob { id } } }",
        json!({}),
    )
    .await;
    let job_id = job["bulkJobCreate"]["bulkJob"]["id"].clone();
    socket
        .send(json!({
            "id": "2", "type": "subscribe",
            "payload": { "query": "subscription($id: ID!) { bulkJobProgress(id: $id) { jobId state processed total } }", "variables": { "id": job_id } }
        }))
        .await;
    let mut states = Vec::new();
    while let Some(message) = socket.next(Duration::from_secs(10)).await {
        if message["id"] != "2" {
            continue;
        }
        if message["type"] == "complete" {
            break;
        }
        let progress = &message["payload"]["data"]["bulkJobProgress"];
        assert_eq!(progress["jobId"], job_id, "{message}");
        states.push(progress["state"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        states.last().map(String::as_str),
        Some("completed"),
        "{states:?}"
    );
}

#[actix_web::test]
async fn another_shops_key_reaches_nothing_of_this_shop_through_any_field() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key(SHOP_A).await;
    let key_b = app.shop_with_key(SHOP_B).await;
    let id = orders(&app, SHOP_A, "87", 1).await.remove(0);
    crate::helpers::request_of(&app, SHOP_A, &id, "c-87", "CANCELLATION_REQUEST_PENDING", 1).await;
    let stock = app
        .client
        .put(app.url(&format!("/api/v1/inventory/{SHOP_A}/SKU-A")))
        .bearer_auth(&key_a)
        .json(&json!({ "on_hand": 7 }))
        .send()
        .await
        .unwrap();
    assert_eq!(stock.status(), 200);
    let job = data(
        &app,
        &key_a,
        "mutation { bulkJobCreate(input: { action: \"export\", query: \"\" }) { bulkJob { id } } }",
        json!({}),
    )
    .await["bulkJobCreate"]["bulkJob"]["id"]
        .clone();

    // Reads: nothing of shop A comes back, even when asked for by id or shop.
    let reads = [
        (
            format!("{{ order(id: \"{id}\") {{ id }} }}"),
            json!({ "order": null }),
        ),
        (
            format!("{{ orders(query: \"id:{id} OR shop:{SHOP_A}\") {{ nodes {{ id }} }} }}"),
            json!({ "orders": { "nodes": [] } }),
        ),
        (
            "{ orders(query: \"request:open\") { nodes { id } } }".into(),
            json!({ "orders": { "nodes": [] } }),
        ),
        (
            "{ shops { id } }".into(),
            json!({ "shops": [{ "id": SHOP_B }] }),
        ),
        (
            format!("{{ inventory(shopId: \"{SHOP_A}\") {{ shopId }} }}"),
            json!({ "inventory": [] }),
        ),
        (
            "{ deadLetters { id } }".into(),
            json!({ "deadLetters": [] }),
        ),
        (
            format!("{{ analytics(shopId: \"{SHOP_A}\") {{ ordersByStatus {{ status }} }} }}"),
            json!({ "analytics": { "ordersByStatus": [] } }),
        ),
        (
            format!("{{ bulkJob(id: {job}) {{ id }} }}"),
            json!({ "bulkJob": null }),
        ),
        ("{ bulkJobs { id } }".into(), json!({ "bulkJobs": [] })),
        (
            format!("{{ pickList(query: \"shop:{SHOP_A}\") {{ orders heldBack {{ orderId }} }} }}"),
            json!({ "pickList": { "orders": 0, "heldBack": [] } }),
        ),
    ];
    for (query, expected) in reads {
        assert_eq!(
            data(&app, &key_b, &query, json!({})).await,
            expected,
            "{query}"
        );
    }
    let own = data(
        &app,
        &key_a,
        "{ orders(query: \"request:open\") { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        own["orders"]["nodes"],
        json!([{ "id": id }]),
        "its own request"
    );
    let own = data(
        &app,
        &key_a,
        "query($id: ID!) { order(id: $id) { requests { kind id status awaitsSeller summary } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        own["order"]["requests"],
        json!([{ "kind": "cancellation", "id": "c-87", "status": "CANCELLATION_REQUEST_PENDING",
                 "awaitsSeller": true, "summary": "The buyer asked to cancel" }])
    );
    let own = data(&app, &key_a, "{ inventory { sku onHand } }", json!({})).await;
    assert_eq!(own["inventory"], json!([{ "sku": "SKU-A", "onHand": 7 }]));
    let own = data(
        &app,
        &key_a,
        "{ pickList { orders units lines { skuId } heldBack { orderId reason } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        own["pickList"],
        json!({ "orders": 0, "units": 0, "lines": [], "heldBack": [{
            "orderId": id,
            "reason": "The buyer asked to cancel (CANCELLATION_REQUEST_PENDING): answer it before shipping",
        }] }),
        "its own order, held back by its buyer's request before anything else"
    );

    // Writes: every command is refused as not found, and the order does not change.
    let commands = [
        "holdOrder(id: $id, reason: \"x\", expectedVersion: 1)",
        "releaseOrder(id: $id, expectedVersion: 1)",
        "cancelOrder(id: $id, reason: \"x\", expectedVersion: 1)",
        "tagsAdd(id: $id, tags: [\"x\"], expectedVersion: 1)",
        "tagsRemove(id: $id, tags: [\"x\"], expectedVersion: 1)",
        "setOrderPriority(id: $id, priority: 5, expectedVersion: 1)",
        "retryWorkflow(id: $id, expectedVersion: 1)",
        "answerRequest(id: $id, request: \"c-87\", approve: true, expectedVersion: 2)",
        "answerRequest(id: $id, request: \"c-87\", approve: false, reason: \"x\", expectedVersion: 2)",
    ];
    for command in commands {
        let mutation = format!(
            "mutation($id: ID!) {{ {command} {{ order {{ id }} userErrors {{ code field }} }} }}"
        );
        let answer = data(&app, &key_b, &mutation, json!({ "id": id })).await;
        let payload = answer.as_object().unwrap().values().next().unwrap();
        assert_eq!(payload["order"], Value::Null, "{command}");
        assert_eq!(payload["userErrors"][0]["code"], "NOT_FOUND", "{command}");
    }
    // Its own key's rejection without a reason is refused for the reason, before TikTok.
    let unreasoned = data(
        &app,
        &key_a,
        "mutation($id: ID!) { answerRequest(id: $id, request: \"c-87\", approve: false, expectedVersion: 2) { order { id } userErrors { field message } } }",
        json!({ "id": id }),
    )
    .await;
    let errors = &unreasoned["answerRequest"]["userErrors"];
    assert_eq!(errors[0]["field"], json!(["reason"]), "{unreasoned}");
    let cancel = format!("mutation {{ bulkJobCancel(id: {job}) {{ userErrors {{ code }} }} }}");
    let refused = data(&app, &key_b, &cancel, json!({})).await;
    assert_eq!(
        refused["bulkJobCancel"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let by_ids = data(
        &app,
        &key_b,
        "mutation($id: ID!) { bulkJobCreate(input: { action: \"hold\", ids: [$id], reason: \"x\" }) { bulkJob { id } } }",
        json!({ "id": id }),
    )
    .await;
    let their_job = by_ids["bulkJobCreate"]["bulkJob"]["id"].clone();
    let failed = crate::helpers::eventually("their job to finish", || async {
        let job = data(
            &app,
            &key_b,
            "query($id: ID!) { bulkJob(id: $id) { state failed items(outcome: FAILED) { nodes { orderId reason } } } }",
            json!({ "id": their_job }),
        )
        .await;
        (job["bulkJob"]["state"] == "completed").then_some(job)
    })
    .await;
    assert_eq!(failed["bulkJob"]["failed"], 1, "{failed}");
    let replay = data(
        &app,
        &key_b,
        "mutation { replayDeadLetter(id: 1) { userErrors { code } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        replay["replayDeadLetter"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let order = data(
        &app,
        &key_a,
        "query($id: ID!) { order(id: $id) { version stage tags } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        order["order"],
        json!({ "version": 2, "stage": "received", "tags": [] }),
        "untouched since the buyer's request (version 2)"
    );

    // Subscriptions: another shop's job is not found.
    let mut socket =
        Socket::open(&app, json!({ "authorization": format!("Bearer {key_b}") })).await;
    assert_eq!(
        socket.next(Duration::from_secs(5)).await.unwrap()["type"],
        "connection_ack"
    );
    socket
        .send(json!({
            "id": "1", "type": "subscribe",
            "payload": { "query": format!("subscription {{ bulkJobProgress(id: {job}) {{ state }} }}") }
        }))
        .await;
    let answer = socket.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(answer["payload"]["data"], Value::Null, "{answer}");
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );
}
