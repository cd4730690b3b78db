use std::collections::HashSet;

use creatorflow::actors::{Envelope, Error, Reply};
use creatorflow::domain::{Cause, Msg, Order, OrderId, OrderStatus, ShopId, Stage};
use creatorflow::journal::InboxEntry;
use creatorflow::persistence::Database;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestDb, assert_problem, creation_commit, detail_of, ms, order_at, request_of,
    sample_detail, spawn_app, spawn_app_on, spawn_app_with,
};

const SHOP: &str = "7494049642642441621";

fn status(order: &str, s: &str, t: i64, key: &str) -> (OrderId, Envelope) {
    (
        OrderId::parse(order).unwrap(),
        Envelope {
            msg: Msg::Status {
                shop_id: ShopId::parse(SHOP).unwrap(),
                status: OrderStatus::parse(s),
                update_time: t,
            },
            cause: Cause::Webhook(key.into()),
            inbox: Some(InboxEntry {
                dedupe_key: key.into(),
                event_type: 1,
            }),
        },
    )
}

fn detail_msg(order: &str, total: &str, t: i64, key: &str) -> (OrderId, Envelope) {
    (
        OrderId::parse(order).unwrap(),
        Envelope {
            msg: Msg::Detail {
                shop_id: ShopId::parse(SHOP).unwrap(),
                detail: Box::new(sample_detail(total, t)),
            },
            cause: Cause::Integration("tiktok".into()),
            inbox: Some(InboxEntry {
                dedupe_key: key.into(),
                event_type: 0,
            }),
        },
    )
}

async fn submit(app: &TestApp, (id, envelope): (OrderId, Envelope)) -> Reply {
    app.registry.submit(id, envelope).await.expect("accepted")
}

async fn get_json(app: &TestApp, path: &str, key: &str) -> Value {
    let response = app.get(path, Some(key)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The ids of the orders `query` (the search syntax) finds for `key`, sorted.
async fn found(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let path = format!(
        "/api/v1/orders?query={}",
        query
            .replace('%', "%25")
            .replace(' ', "%20")
            .replace('"', "%22")
            .replace('>', "%3E")
            .replace('<', "%3C")
            .replace('+', "%2B")
            .replace(':', "%3A")
    );
    let body = get_json(app, &path, key).await;
    let mut ids: Vec<String> = body["orders"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {body}"))
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn open_db(app: &TestApp) -> Database {
    Database::connect(&app.db.settings().database)
        .await
        .unwrap()
}

#[actix_web::test]
async fn an_order_flows_from_first_webhook_to_validated_with_its_history() {
    let app = spawn_app().await;
    let created = submit(
        &app,
        status("576653688135258178", "AWAITING_SHIPMENT", 100, "n1"),
    )
    .await;
    assert!(
        matches!(created, Reply::Applied { version: 1, .. }),
        "{created:?}"
    );
    let validated = submit(&app, detail_msg("576653688135258178", "25.60", 110, "d1")).await;
    assert!(
        matches!(
            validated,
            Reply::Applied {
                stage: Stage::Validated,
                ..
            }
        ),
        "{validated:?}"
    );

    let order = get_json(&app, "/api/v1/orders/576653688135258178", &app.admin_key).await;
    assert_eq!(order["status"], "AWAITING_SHIPMENT");
    assert_eq!(order["stage"], "validated");
    assert_eq!(order["total_amount"], "25.60");
    assert_eq!(order["currency"], "USD");
    assert_eq!(
        order["quantities"],
        json!([{ "sku_id": "SKU-A", "quantity": 2 }, { "sku_id": "SKU-B", "quantity": 1 }])
    );
    assert_eq!(order["detail"]["recipient"]["name"], "A. Buyer");

    let history = get_json(
        &app,
        "/api/v1/orders/576653688135258178/history",
        &app.admin_key,
    )
    .await;
    let events = history["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "detail_applied", "stage_changed"]);
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(events[0]["cause"], "webhook:n1");
    assert_eq!(events[2]["from_stage"], "received");
    assert_eq!(events[2]["to_stage"], "validated");
    assert_eq!(order["version"], 3);
}

#[actix_web::test]
async fn money_that_does_not_add_up_is_an_exception_with_the_reason_and_nothing_is_dropped() {
    let app = spawn_app().await;
    submit(&app, detail_msg("9001", "99.99", 110, "d1")).await;
    let order = get_json(&app, "/api/v1/orders/9001", &app.admin_key).await;
    assert_eq!(order["stage"], "exception");
    assert!(
        order["stage_reason"]
            .as_str()
            .unwrap()
            .contains("total_amount is 99.99"),
        "{order}"
    );
    assert_eq!(order["detail"]["items"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn a_duplicate_is_acknowledged_and_ignored_and_a_stale_event_is_recorded_only() {
    let app = spawn_app().await;
    submit(&app, status("9002", "AWAITING_SHIPMENT", 200, "n1")).await;
    assert_eq!(
        submit(&app, status("9002", "AWAITING_SHIPMENT", 200, "n1")).await,
        Reply::Duplicate
    );
    // Same key even with another body: still the same delivery.
    assert_eq!(
        submit(&app, status("9002", "IN_TRANSIT", 300, "n1")).await,
        Reply::Duplicate
    );

    let stale = submit(&app, status("9002", "UNPAID", 100, "n2")).await;
    assert!(
        matches!(stale, Reply::Applied { version: 2, .. }),
        "{stale:?}"
    );
    let order = get_json(&app, "/api/v1/orders/9002", &app.admin_key).await;
    assert_eq!(order["status"], "AWAITING_SHIPMENT", "never regressed");
    let history = get_json(&app, "/api/v1/orders/9002/history", &app.admin_key).await;
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "stale_ignored"]);
}

#[actix_web::test]
async fn text_that_json_escapes_is_stored_and_deduped_exactly() {
    // The journal ships rows to the database as JSON on both backends: quotes, backslashes,
    // newlines, control characters and non-ASCII text must come back byte for byte.
    let app = spawn_app().await;
    let key = "n\"1\\ 'é\u{1F600}\n\t\u{7}";
    submit(&app, status("9010", "AWAITING_SHIPMENT", 200, key)).await;
    assert_eq!(
        submit(&app, status("9010", "IN_TRANSIT", 300, key)).await,
        Reply::Duplicate
    );
    let reason = "client said \"hold\" \\ 'ok'; 🚚\nline two\u{1}";
    let hold = json!({ "reason": reason, "expected_version": 1 });
    let response = app
        .post_json("/api/v1/orders/9010/hold", &app.admin_key, &hold)
        .await;
    assert_eq!(response.status(), 200);

    let order = get_json(&app, "/api/v1/orders/9010", &app.admin_key).await;
    assert_eq!(order["status"], "AWAITING_SHIPMENT");
    assert_eq!(order["stage_reason"], reason);
    let history = get_json(&app, "/api/v1/orders/9010/history", &app.admin_key).await;
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{history}");
    assert_eq!(events[0]["cause"], format!("webhook:{key}"));
    assert_eq!(events[1]["payload"]["reason"], reason, "{history}");
}

#[actix_web::test]
async fn commands_carry_the_expected_version_and_get_409_on_mismatch() {
    let app = spawn_app().await;
    submit(&app, status("9003", "AWAITING_SHIPMENT", 200, "n1")).await;
    let stale = json!({ "reason": "fraud check", "expected_version": 0 });
    let problem = assert_problem(
        app.post_json("/api/v1/orders/9003/hold", &app.admin_key, &stale)
            .await,
        409,
        "version_conflict",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("version 1"),
        "{problem}"
    );

    let hold = json!({ "reason": "fraud check", "expected_version": 1 });
    let response = app
        .post_json("/api/v1/orders/9003/hold", &app.admin_key, &hold)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["stage"], "on_hold");
    assert_eq!(body["version"], 2);
    let again = app
        .post_json(
            "/api/v1/orders/9003/hold",
            &app.admin_key,
            &json!({ "reason": "x", "expected_version": 2 }),
        )
        .await;
    assert_problem(again, 422, "not_allowed").await;

    let release = app
        .post_json(
            "/api/v1/orders/9003/release",
            &app.admin_key,
            &json!({ "expected_version": 2 }),
        )
        .await;
    assert_eq!(release.status(), 200);
    let history = get_json(&app, "/api/v1/orders/9003/history", &app.admin_key).await;
    assert!(
        history["events"][1]["cause"]
            .as_str()
            .unwrap()
            .starts_with("user:")
    );

    assert_problem(
        app.post_json("/api/v1/orders/404404/hold", &app.admin_key, &hold)
            .await,
        404,
        "not_found",
    )
    .await;
}

/// Every order of a list, following `next_cursor` from `first` (a path with its query) on.
async fn walk_pages(app: &TestApp, first: &str) -> Vec<Value> {
    let mut orders = Vec::new();
    let mut path = first.to_owned();
    loop {
        let page = get_json(app, &path, &app.admin_key).await;
        orders.extend(page["orders"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("{first}&cursor={c}"),
            None => return orders,
        }
    }
}

#[actix_web::test]
async fn lists_filter_page_newest_first_and_stay_inside_the_keys_shop() {
    let app = spawn_app().await;
    for (i, s) in [
        "UNPAID",
        "AWAITING_SHIPMENT",
        "AWAITING_SHIPMENT",
        "IN_TRANSIT",
        "AWAITING_SHIPMENT",
    ]
    .iter()
    .enumerate()
    {
        submit(&app, status(&format!("100{i}"), s, 100, &format!("k{i}"))).await;
    }
    // Another shop's order.
    let other = Envelope {
        msg: Msg::Status {
            shop_id: ShopId::parse("555").unwrap(),
            status: OrderStatus::Unpaid,
            update_time: 1,
        },
        cause: Cause::Poll,
        inbox: None,
    };
    app.registry
        .submit(OrderId::parse("2000").unwrap(), other)
        .await
        .unwrap();

    let seen = walk_pages(&app, "/api/v1/orders?status=AWAITING_SHIPMENT&limit=2").await;
    assert!(seen.iter().all(|o| o["status"] == "AWAITING_SHIPMENT"));
    let seen: Vec<&str> = seen.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(seen, ["1004", "1002", "1001"], "newest first, each once");

    // Across shops (an administrator's list), pages merge both shops' orders, newest first.
    let all = walk_pages(&app, "/api/v1/orders?limit=2").await;
    let all: Vec<&str> = all.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(all, ["2000", "1004", "1003", "1002", "1001", "1000"]);
    // `first`/`after` page the same way; `reverse` walks oldest first, in one shop or across.
    let ids = |orders: Vec<Value>| -> Vec<String> {
        orders
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut path = "/api/v1/orders?first=2&reverse=true".to_owned();
    let mut oldest_first = Vec::new();
    loop {
        let page = get_json(&app, &path, &app.admin_key).await;
        oldest_first.extend(ids(page["orders"].as_array().unwrap().clone()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/orders?first=2&reverse=true&after={c}"),
            None => break,
        }
    }
    assert_eq!(
        oldest_first,
        ["1000", "1001", "1002", "1003", "1004", "2000"]
    );
    let own_reversed = ids(walk_pages(
        &app,
        &format!("/api/v1/orders?shop={SHOP}&limit=2&reverse=true"),
    )
    .await);
    assert_eq!(own_reversed, ["1000", "1001", "1002", "1003", "1004"]);
    for (bad, why) in [
        ("/api/v1/orders?first=251", "first must be 1 to 250"),
        (
            "/api/v1/orders?sort=total",
            "sort \"total\" is not supported",
        ),
        ("/api/v1/orders?first=2&limit=2", "not both"),
        (
            "/api/v1/orders?after=313233",
            "the cursor is not one this API gave out",
        ),
    ] {
        let problem =
            assert_problem(app.get(bad, Some(&app.admin_key)).await, 400, "bad_request").await;
        assert!(
            problem["detail"].as_str().unwrap().contains(why),
            "{bad}: {problem}"
        );
    }
    let unpaid = get_json(&app, "/api/v1/orders?status=UNPAID", &app.admin_key).await;
    let unpaid: Vec<&str> = unpaid["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(unpaid, ["2000", "1000"], "both shops' unpaid orders");

    let in_transit = get_json(&app, "/api/v1/orders?stage=in_transit", &app.admin_key).await;
    assert_eq!(in_transit["orders"].as_array().unwrap().len(), 1);
    assert_eq!(
        get_json(&app, "/api/v1/orders", &app.admin_key).await["orders"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    let shop_key = app.shop_with_key(SHOP).await;
    let own = get_json(&app, "/api/v1/orders", &shop_key).await;
    assert_eq!(own["orders"].as_array().unwrap().len(), 5);
    assert_problem(
        app.get("/api/v1/orders/2000", Some(&shop_key)).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/orders?shop=555", Some(&shop_key)).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get("/api/v1/orders?stage=shipping", Some(&shop_key))
            .await,
        400,
        "bad_request",
    )
    .await;
    assert_problem(
        app.get("/api/v1/orders?cursor=garbage", Some(&shop_key))
            .await,
        400,
        "bad_request",
    )
    .await;
}

/// The order list answers searches in the query syntax: AND by default, OR, `-`, groups, tags,
/// SKUs, totals and times; a bad term is a 400 naming it; a shop key searches only its shop.
#[actix_web::test]
async fn orders_are_searched_with_the_query_syntax_inside_the_keys_shop() {
    let app = spawn_app().await;
    // 3000: detail with total 25.60 USD and SKU-A/SKU-B, validated; 3001: detail with total
    // 125.60; 3002: unpaid, no detail; 3003: awaiting shipment, tagged vip.
    submit(&app, status("3000", "AWAITING_SHIPMENT", 100, "s0")).await;
    submit(&app, detail_msg("3000", "25.60", 101, "d0")).await;
    submit(&app, status("3001", "AWAITING_SHIPMENT", 100, "s1")).await;
    submit(&app, detail_msg("3001", "125.60", 101, "d1")).await;
    submit(&app, status("3002", "UNPAID", 100, "s2")).await;
    submit(&app, status("3003", "AWAITING_SHIPMENT", 100, "s3")).await;
    let db = open_db(&app).await;
    db.runs().tag_order("3003", "vip").await.unwrap();
    db.runs().tag_order("3001", "gift wrap").await.unwrap();
    let other = Envelope {
        msg: Msg::Status {
            shop_id: ShopId::parse("555").unwrap(),
            status: OrderStatus::AwaitingShipment,
            update_time: 1,
        },
        cause: Cause::Poll,
        inbox: None,
    };
    app.registry
        .submit(OrderId::parse("3999").unwrap(), other)
        .await
        .unwrap();

    let ids = |key: String, query: &'static str| {
        let app = &app;
        async move { found(app, &key, query).await }
    };
    let admin = app.admin_key.clone();
    assert_eq!(
        ids(admin.clone(), "status:AWAITING_SHIPMENT").await,
        ["3000", "3001", "3003", "3999"]
    );
    assert_eq!(
        ids(
            admin.clone(),
            "status:awaiting_shipment -tag:vip shop:7494049642642441621"
        )
        .await,
        ["3000", "3001"]
    );
    assert_eq!(
        ids(admin.clone(), "tag:vip OR status:UNPAID").await,
        ["3002", "3003"]
    );
    assert_eq!(ids(admin.clone(), "tag:\"gift wrap\"").await, ["3001"]);
    assert_eq!(ids(admin.clone(), "sku:SKU-B total:>100").await, ["3001"]);
    assert_eq!(ids(admin.clone(), "total:<=25.60").await, ["3000"]);
    assert_eq!(ids(admin.clone(), "total:25.6").await, ["3000"]);
    assert_eq!(
        ids(admin.clone(), "id:300* -(id:3000 OR id:3001)").await,
        ["3002", "3003"]
    );
    // Only orders with TikTok's detail know when they were created; 3001's money does not
    // add up, so it waits in `exception`.
    assert_eq!(
        ids(admin.clone(), "created_at:>=1970-01-01").await,
        ["3000", "3001"]
    );
    assert_eq!(
        ids(admin.clone(), "created_at:>=1970-01-01 stage:exception").await,
        ["3001"]
    );
    assert!(
        ids(admin.clone(), "created_at:>=2100-01-01")
            .await
            .is_empty()
    );
    // TikTok's ready-to-ship deadlines (a day after each detail's time, in 1970) have passed;
    // only orders with a detail have one. Moments are taken from when the search runs.
    assert_eq!(ids(admin.clone(), "ship_by:<now").await, ["3000", "3001"]);
    assert_eq!(
        ids(admin.clone(), "ship_by:<now -stage:exception").await,
        ["3000"]
    );
    assert!(ids(admin.clone(), "ship_by:>=now-1d").await.is_empty());
    // Not late: the orders without a deadline too (SQL's unknown is not a match either way).
    assert_eq!(
        ids(admin.clone(), "-ship_by:<now").await,
        ["3002", "3003", "3999"]
    );
    assert_eq!(
        ids(admin.clone(), "-created_at:>=1970-01-01").await,
        ["3002", "3003", "3999"]
    );
    assert_eq!(
        ids(
            admin.clone(),
            "ship_by:<1970-01-02T00:01:42Z ship_by:>1970-01-02T00:01:40Z"
        )
        .await,
        ["3000", "3001"]
    );
    assert!(ids(admin.clone(), "created_at:>=now-1d").await.is_empty());
    assert_eq!(
        ids(admin.clone(), "updated_at:<now+1h").await,
        ["3000", "3001", "3002", "3003", "3999"]
    );

    // The recipient's name, in any case, by any part of it; `%` and `_` are letters in it.
    let mut theirs = sample_detail("25.60", 101);
    theirs.recipient = Some(serde_json::json!({ "name": "Ada Buyer-Lovelace" }));
    app.registry
        .submit(
            OrderId::parse("3999").unwrap(),
            Envelope {
                msg: Msg::Detail {
                    shop_id: ShopId::parse("555").unwrap(),
                    detail: Box::new(theirs),
                },
                cause: Cause::Integration("tiktok".into()),
                inbox: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ids(admin.clone(), "recipient:BUYER").await,
        ["3000", "3001", "3999"]
    );
    assert_eq!(
        ids(admin.clone(), "recipient:\"a.  buyer\"").await,
        ["3000", "3001"]
    );
    assert_eq!(
        ids(admin.clone(), "recipient:lovelace OR tag:vip").await,
        ["3003", "3999"]
    );
    assert_eq!(
        ids(admin.clone(), "status:AWAITING_SHIPMENT -recipient:buyer").await,
        ["3003"]
    );
    assert!(ids(admin.clone(), "recipient:a_").await.is_empty());
    assert!(ids(admin.clone(), "recipient:%buyer").await.is_empty());

    // The shipment's tracking number, exactly.
    db.shipments()
        .record(&creatorflow::persistence::shipments::Shipment {
            order_id: OrderId::parse("3000").unwrap(),
            shop_id: ShopId::parse(SHOP).unwrap(),
            provider: creatorflow::domain::ShipmentProvider::LabelApi,
            provider_shipment_id: None,
            package_id: None,
            carrier: Some("UPS".into()),
            tracking_number: Some("1Z999AA10123456784".into()),
            label_url: None,
            state: creatorflow::domain::ShipmentState::Purchased,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    assert_eq!(
        ids(admin.clone(), "tracking:1Z999AA10123456784").await,
        ["3000"]
    );
    assert!(
        ids(admin.clone(), "tracking:1Z999AA1012345678")
            .await
            .is_empty()
    );

    // A shop key's search stays in its shop, even when the query names another.
    let shop_key = app.shop_with_key(SHOP).await;
    assert_eq!(
        ids(shop_key.clone(), "recipient:buyer").await,
        ["3000", "3001"]
    );
    assert_eq!(
        ids(shop_key.clone(), "tracking:1Z999AA10123456784").await,
        ["3000"]
    );
    assert_eq!(
        ids(shop_key.clone(), "status:AWAITING_SHIPMENT").await,
        ["3000", "3001", "3003"]
    );
    assert!(ids(shop_key.clone(), "shop:555").await.is_empty());
    assert!(ids(shop_key.clone(), "id:3999").await.is_empty());

    let problem = assert_problem(
        app.get(
            "/api/v1/orders?query=status:AWAITING_SHIPMENT%20colour:red",
            Some(&shop_key),
        )
        .await,
        400,
        "bad_request",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("`colour:red`"),
        "{problem}"
    );
}

/// The pick list: each SKU's units over the orders a search matches that may leave now (an
/// order's line items are units), sorted by the code on the shelf; the orders held back are
/// named with why and not counted. A shop's key counts its own orders only.
#[actix_web::test]
async fn a_pick_list_counts_each_skus_units_over_the_orders_that_may_leave() {
    let app = spawn_app().await;
    let other_shop = "7494049642642441999";
    for (order, shop) in [("3100", SHOP), ("3101", SHOP), ("3103", other_shop)] {
        order_at(&app, shop, order, OrderStatus::AwaitingShipment).await;
        detail_of(&app, shop, order, sample_detail("25.60", 1_700_000_100)).await;
    }
    order_at(&app, SHOP, "3102", OrderStatus::Cancelled).await;
    let key = app.shop_with_key(SHOP).await;

    let list = get_json(&app, "/api/v1/pick-list", &key).await;
    assert_eq!(list["orders"], 2, "{list}");
    assert_eq!(list["units"], 6, "{list}");
    assert_eq!(
        list["lines"],
        json!([
            {"sku_id": "SKU-A", "seller_sku": "GS-30", "product": "Glow serum", "units": 4},
            {"sku_id": "SKU-B", "seller_sku": "GS-30", "product": "Glow serum", "units": 2},
        ])
    );
    assert_eq!(
        list["held_back"],
        json!([{"order_id": "3102", "reason": "Cancelled: do not ship"}])
    );

    let cancelled = get_json(&app, "/api/v1/pick-list?query=status%3ACANCELLED", &key).await;
    assert_eq!(cancelled["orders"], 0);
    assert_eq!(cancelled["lines"], json!([]));
    assert_eq!(cancelled["held_back"].as_array().unwrap().len(), 1);
    let everyone = get_json(&app, "/api/v1/pick-list", &app.admin_key).await;
    assert_eq!(
        everyone["orders"], 3,
        "an administrator's covers every shop"
    );
    assert_eq!(everyone["units"], 9);

    let problem = assert_problem(
        app.get("/api/v1/pick-list?query=colour%3Ared", Some(&key))
            .await,
        400,
        "bad_request",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("colour:red"));
}

/// A buyer's cancellation or return request that TikTok waits for the seller to answer: found by
/// `request:open` (and no longer once TikTok reports it answered, whatever older report comes
/// late), by kind, only within the key's shop; and its order is held back from the pick list.
#[actix_web::test]
async fn orders_with_a_request_awaiting_the_seller_are_found_and_held_back() {
    let app = spawn_app().await;
    let other_shop = "7494049642642441999";
    for (order, shop) in [
        ("3200", SHOP),
        ("3201", SHOP),
        ("3202", SHOP),
        ("3203", other_shop),
    ] {
        order_at(&app, shop, order, OrderStatus::AwaitingShipment).await;
        detail_of(&app, shop, order, sample_detail("25.60", 1_700_000_100)).await;
    }
    request_of(
        &app,
        SHOP,
        "3200",
        "c-1",
        "CANCELLATION_REQUEST_PENDING",
        1_700_000_200,
    )
    .await;
    request_of(
        &app,
        SHOP,
        "3201",
        "r-1",
        "RETURN_OR_REFUND_REQUEST_PENDING",
        1_700_000_200,
    )
    .await;
    request_of(
        &app,
        other_shop,
        "3203",
        "c-2",
        "CANCELLATION_REQUEST_PENDING",
        1_700_000_200,
    )
    .await;
    let key = app.shop_with_key(SHOP).await;
    let ids = |key: String, query: &'static str| {
        let app = &app;
        async move { found(app, &key, query).await }
    };
    assert_eq!(ids(key.clone(), "request:open").await, ["3200", "3201"]);
    assert_eq!(ids(key.clone(), "request:cancellation").await, ["3200"]);
    assert_eq!(ids(key.clone(), "request:return").await, ["3201"]);
    assert_eq!(ids(key.clone(), "-request:any").await, ["3202"]);
    assert_eq!(
        ids(app.admin_key.clone(), "request:open").await,
        ["3200", "3201", "3203"]
    );

    let list = get_json(&app, "/api/v1/pick-list", &key).await;
    assert_eq!(list["orders"], 1, "only 3202 may leave: {list}");
    let mut held = list["held_back"].as_array().unwrap().clone();
    held.sort_by_key(|h| h["order_id"].as_str().unwrap().to_owned());
    assert_eq!(
        json!(held),
        json!([
            {"order_id": "3200", "reason": "The buyer asked to cancel (CANCELLATION_REQUEST_PENDING): answer it before shipping"},
            {"order_id": "3201", "reason": "The buyer asked for a refund (RETURN_OR_REFUND_REQUEST_PENDING): answer it before shipping"},
        ]),
        "{list}"
    );

    // The buyer withdrew the cancellation; a late, older report of it pending changes nothing.
    request_of(
        &app,
        SHOP,
        "3200",
        "c-1",
        "CANCELLATION_REQUEST_CANCELLED",
        1_700_000_300,
    )
    .await;
    request_of(
        &app,
        SHOP,
        "3200",
        "c-1",
        "CANCELLATION_REQUEST_PENDING",
        1_700_000_250,
    )
    .await;
    assert_eq!(ids(key.clone(), "request:open").await, ["3201"]);
    assert_eq!(ids(key.clone(), "request:cancellation").await, ["3200"]);
    let list = get_json(&app, "/api/v1/pick-list", &key).await;
    assert_eq!(list["orders"], 2, "{list}");

    let problem = assert_problem(
        app.get("/api/v1/orders?query=request%3Arefund", Some(&key))
            .await,
        400,
        "bad_request",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("request:refund")
    );
}

/// Many orders, many concurrent messages: each order's audit trail is contiguous, nothing is
/// lost or applied twice, and replaying it reproduces the stored snapshot.
#[actix_web::test]
async fn concurrent_messages_are_serialised_per_order_and_replay_to_the_snapshot() {
    let app = spawn_app().await;
    let steps = [
        "UNPAID",
        "ON_HOLD",
        "AWAITING_SHIPMENT",
        "AWAITING_COLLECTION",
        "IN_TRANSIT",
        "DELIVERED",
    ];
    let mut sends = Vec::new();
    for order in 0..40 {
        for (t, s) in steps.iter().enumerate() {
            let registry = app.registry.clone();
            let (id, env) = status(
                &format!("7{order:03}"),
                s,
                t as i64,
                &format!("o{order}-{t}"),
            );
            sends.push(async move { registry.submit(id, env).await });
        }
    }
    let outcomes = futures_util::future::join_all(sends).await;
    assert!(
        outcomes.iter().all(Result::is_ok),
        "{:?}",
        outcomes.iter().find(|o| o.is_err())
    );

    let db = open_db(&app).await;
    for order in 0..40 {
        let id = OrderId::parse(&format!("7{order:03}")).unwrap();
        let events = db.orders().events(&id).await.unwrap();
        let snapshot = db.orders().load(&id).await.unwrap().unwrap();
        assert_eq!(snapshot.version, events.len() as i64);
        assert_eq!(
            Order::replay(id.clone(), &events).as_ref(),
            Some(&snapshot),
            "replay of {id}"
        );
        // Whatever the arrival order, the newest status wins and nothing regresses.
        assert_eq!(snapshot.status, OrderStatus::Delivered, "{id}");
    }
}

#[actix_web::test]
async fn an_idle_order_is_passivated_and_reactivated_from_its_snapshot() {
    let db = TestDb::new().await;
    let app = spawn_app_with(db, |s| s.engine.passivate_after = ms(40)).await;
    submit(&app, status("8001", "UNPAID", 1, "a")).await;
    let metric = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("creatorflow_order_passivations_total{reason=\"idle\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = app.get("/metrics", None).await.text().await.unwrap();
        if metric(&text) >= 1.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no passivation within 10s"
        );
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let next = submit(&app, status("8001", "AWAITING_SHIPMENT", 2, "b")).await;
    assert!(
        matches!(next, Reply::Applied { version: 2, .. }),
        "continues from the snapshot: {next:?}"
    );
    assert_eq!(
        submit(&app, status("8001", "UNPAID", 1, "a")).await,
        Reply::Duplicate
    );
}

#[actix_web::test]
async fn a_restart_resumes_every_order_from_its_snapshot() {
    let app = spawn_app().await;
    submit(&app, status("8100", "AWAITING_SHIPMENT", 5, "a")).await;
    let db = app.stop().await;
    let app = spawn_app_on(db).await;
    let next = submit(&app, status("8100", "AWAITING_COLLECTION", 6, "b")).await;
    assert!(
        matches!(
            next,
            Reply::Applied {
                version: 3,
                stage: Stage::Shipped,
                ..
            }
        ),
        "{next:?}"
    );
    assert_eq!(
        submit(&app, status("8100", "AWAITING_SHIPMENT", 5, "a")).await,
        Reply::Duplicate
    );
}

/// Activations load their snapshots in groups (one query for many orders): in a burst over
/// stored and new orders, each stored order continues from its own snapshot and each new one
/// starts fresh.
#[actix_web::test]
async fn a_burst_of_activations_gives_each_order_its_own_snapshot() {
    let app = spawn_app().await;
    let stored: Vec<String> = (0..200).map(|i| format!("84{i:04}")).collect();
    futures_util::future::join_all(
        stored
            .iter()
            .map(|id| submit(&app, status(id, "AWAITING_SHIPMENT", 5, &format!("a{id}")))),
    )
    .await;
    let db = app.stop().await;
    let app = spawn_app_on(db).await;

    // What one order gets from the same two messages, one after the other.
    submit(&app, status("849999", "AWAITING_SHIPMENT", 5, "control-a")).await;
    let continued = submit(
        &app,
        status("849999", "AWAITING_COLLECTION", 10, "control-b"),
    )
    .await;
    let fresh = submit(
        &app,
        status("849998", "AWAITING_COLLECTION", 10, "control-c"),
    )
    .await;
    assert_ne!(continued, fresh);

    let new: Vec<String> = (0..100).map(|i| format!("85{i:04}")).collect();
    let outcomes = futures_util::future::join_all(stored.iter().chain(&new).map(|id| {
        let app = &app;
        async move {
            let outcome = submit(
                app,
                status(id, "AWAITING_COLLECTION", 10, &format!("b{id}")),
            )
            .await;
            (id.clone(), outcome)
        }
    }))
    .await;
    for (id, outcome) in outcomes {
        let expected = if id.starts_with("84") {
            &continued
        } else {
            &fresh
        };
        assert_eq!(&outcome, expected, "order {id}");
    }
}

#[actix_web::test]
async fn a_full_mailbox_is_overloaded_not_an_unbounded_queue_and_loses_nothing_acknowledged() {
    let db = TestDb::new().await;
    let app = spawn_app_with(db, |s| {
        s.engine.mailbox_capacity = 1;
        s.engine.shards = 1;
    })
    .await;
    let mut sends = Vec::new();
    for i in 0..300 {
        let registry = app.registry.clone();
        let (id, env) = status(&format!("6{i:03}"), "UNPAID", 1, &format!("m{i}"));
        sends.push(async move { (id.clone(), registry.submit(id, env).await) });
    }
    let results = futures_util::future::join_all(sends).await;
    let overloaded = results
        .iter()
        .filter(|(_, r)| matches!(r, Err(Error::Overloaded { .. })))
        .count();
    assert!(
        overloaded > 0,
        "a one-slot mailbox under 300 concurrent sends refuses some"
    );
    let accepted: HashSet<String> = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Reply::Applied { .. })))
        .map(|(id, _)| id.as_str().to_owned())
        .collect();
    assert_eq!(accepted.len() + overloaded, 300);
    let db = open_db(&app).await;
    for id in &accepted {
        assert!(
            db.orders()
                .load(&OrderId::parse(id).unwrap())
                .await
                .unwrap()
                .is_some(),
            "acknowledged {id} is stored"
        );
    }
}

/// Messages racing passivation (idle after 5 ms, swept every 10 ms) are each applied exactly
/// once: every accepted message leaves exactly one audit event, whichever actor took it.
#[actix_web::test]
async fn messages_racing_passivation_are_neither_lost_nor_applied_twice() {
    let db = TestDb::new().await;
    let app = spawn_app_with(db, |s| s.engine.passivate_after = ms(5)).await;
    let mut senders = Vec::new();
    for order in 0..8 {
        let registry = app.registry.clone();
        senders.push(async move {
            let id = format!("55{order:02}");
            let mut accepted = 0;
            for n in 0..25_i64 {
                // The first creates the order at t=1000; the rest are older, so each is
                // recorded once as stale.
                let t = if n == 0 { 1000 } else { n };
                let (oid, env) = status(&id, "UNPAID", t, &format!("{id}-{n}"));
                if registry.submit(oid, env).await.is_ok() {
                    accepted += 1;
                }
                actix_rt::time::sleep(std::time::Duration::from_millis((n as u64 * 7) % 13)).await;
            }
            (id, accepted)
        });
    }
    let results = futures_util::future::join_all(senders).await;
    let db = open_db(&app).await;
    for (id, accepted) in results {
        let id = OrderId::parse(&id).unwrap();
        let events = db.orders().events(&id).await.unwrap();
        assert_eq!(
            events.len() as i64,
            accepted,
            "one event per accepted message for {id}"
        );
        let snapshot = db.orders().load(&id).await.unwrap().unwrap();
        assert_eq!(snapshot.version, accepted);
        assert_eq!(Order::replay(id, &events).as_ref(), Some(&snapshot));
    }
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("creatorflow_order_passivations_total{reason=\"idle\"}"),
        "the test really passivated orders"
    );
}

/// One group commit can hold a key twice (a redelivery racing its first delivery), a key already
/// stored and commands: each key is written once, by its first commit, and every command is
/// written — events, snapshot and effects alike.
#[actix_web::test]
async fn a_batch_writes_each_new_dedupe_key_once_and_every_command() {
    use creatorflow::journal::{Journal, Written};

    let db = TestDb::new().await;
    let database = Database::connect(&db.settings().database).await.unwrap();
    database.migrate_up().await.unwrap();
    // A long wait for company, so that the commits sent together meet in one batch.
    let journal = Journal::start(
        database.clone(),
        64,
        std::time::Duration::from_millis(300),
        1,
    )
    .await
    .unwrap();
    let commit = |order: &str, key: Option<&str>| creation_commit(SHOP, order, "UNPAID", key);
    let stored = journal.commit(commit("9000", Some("stored"))).await;
    assert_eq!(stored.unwrap(), Written::Committed);

    let (a, b, c, d) = tokio::join!(
        journal.commit(commit("9001", Some("fresh"))),
        journal.commit(commit("9002", Some("fresh"))),
        journal.commit(commit("9003", Some("stored"))),
        journal.commit(commit("9004", None)),
    );
    assert_eq!(
        [a, b, c, d].map(Result::unwrap),
        [
            Written::Committed,
            Written::Duplicate,
            Written::Duplicate,
            Written::Committed
        ]
    );
    for (order, written) in [
        ("9001", true),
        ("9002", false),
        ("9003", false),
        ("9004", true),
    ] {
        let id = OrderId::parse(order).unwrap();
        let snapshot = database.orders().load(&id).await.unwrap();
        assert_eq!(snapshot.is_some(), written, "snapshot of {order}");
        let events = database.orders().events(&id).await.unwrap();
        assert_eq!(!events.is_empty(), written, "events of {order}");
    }
    // Each new order asks for its detail: 9000, 9001 and 9004, not the duplicates.
    let log = database.log().after(0, i64::MAX, 100, None).await.unwrap();
    let mut asked: Vec<String> = log
        .iter()
        .flat_map(|entry| entry.effects.iter())
        .filter(|posted| posted.routing_key == "tiktok.fetch_detail")
        .map(|posted| posted.payload()["order_id"].as_str().unwrap().to_owned())
        .collect();
    asked.sort();
    assert_eq!(asked, ["9000", "9001", "9004"]);
}

/// A single node's journal reads which orders are stored (a page at a time) and notes every
/// order it writes, so a new order's actor starts without a load: no stored order, on any page
/// or written since, is ever taken for new, and an order never written is.
#[actix_web::test]
async fn the_journal_takes_no_stored_order_for_new() {
    use creatorflow::journal::Journal;
    use sea_orm::ConnectionTrait;

    let db = TestDb::new().await;
    let database = Database::connect(&db.settings().database).await.unwrap();
    database.migrate_up().await.unwrap();
    let start = || Journal::start(database.clone(), 64, ms(1), 1);
    let first = start().await.unwrap();
    let commit = |order: &str, key: &str| creation_commit(SHOP, order, "UNPAID", Some(key));
    first.commit(commit("9100", "a")).await.unwrap();
    drop(first);
    // More than a page of stored orders (10,000 ids per query), written by an earlier build.
    sea_orm::Database::connect(&db.url)
        .await
        .unwrap()
        .execute_unprepared(
            "INSERT INTO orders (id, shop_id, status, stage, version, created_at, updated_at) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10050) \
             SELECT 'old' || i, shop_id, status, stage, version, created_at, updated_at \
             FROM n, orders WHERE orders.id = '9100'",
        )
        .await
        .unwrap();

    let journal = start().await.unwrap();
    let id = |s: &str| OrderId::parse(s).unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        journal.stored_orders_read(),
    )
    .await
    .expect("the stored orders' ids are read");
    for stored in ["9100", "old1", "old10050", "old9999"] {
        assert!(!journal.surely_new(&id(stored)), "{stored} is stored");
    }
    assert!(journal.surely_new(&id("9101")));
    journal.commit(commit("9101", "b")).await.unwrap();
    assert!(!journal.surely_new(&id("9101")), "9101 was written since");
}
