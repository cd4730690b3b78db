//! The TikTok API client against the sandbox, which enforces TikTok's rules: signatures,
//! timestamps, tokens (105002 once expired), shop ciphers, rate limits, paging.

use creatorflow::config::Settings;
use creatorflow::domain::{OrderId, ShopId};
use creatorflow::integrations::tiktok::client::{Client, Error};
use creatorflow::persistence::Database;
use sea_orm::{ConnectionTrait, Statement};
use tiktok_sandbox::{Fault, Options, Sandbox};

use crate::helpers::{SHOP, TestDb, sandbox, sandbox_env};

async fn client_for(db: &TestDb, sandbox: &Sandbox, extra: &[(&str, &str)]) -> (Client, Database) {
    let mut env = sandbox_env(db, sandbox);
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::load_with_env(None, Some(env)).unwrap();
    let database = Database::connect(&settings.database).await.unwrap();
    database.migrate_up().await.unwrap();
    (
        Client::new(&settings.tiktok, database.clone()).unwrap(),
        database,
    )
}

/// A client whose shop `SHOP` the sandbox's seller has authorised.
async fn authorised(sandbox: &Sandbox, db: &TestDb) -> Client {
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let (client, _database) = client_for(db, sandbox, &[]).await;
    client.authorize(&code, None, None).await.unwrap();
    client
}

fn shop() -> ShopId {
    ShopId::parse(SHOP).unwrap()
}

#[actix_web::test]
async fn an_auth_code_is_exchanged_once_and_tokens_are_stored_encrypted() {
    let sandbox = sandbox();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let db = TestDb::new().await;
    let (client, database) = client_for(&db, &sandbox, &[]).await;
    let shops = client.authorize(&code, Some(&shop()), None).await.unwrap();
    assert_eq!(shops.len(), 1);
    assert_eq!(shops[0].id.as_str(), SHOP);
    assert_eq!(shops[0].name, "Glow Labs");
    assert!(shops[0].authorized);

    // Stored sealed: the raw column holds no token TikTok issued.
    drop(database);
    let raw = sea_orm::Database::connect(&db.url).await.unwrap();
    let row = raw
        .query_one_raw(Statement::from_string(
            raw.get_database_backend(),
            "SELECT access_token_enc, refresh_token_enc, shop_cipher FROM shops".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    let access: String = row.try_get("", "access_token_enc").unwrap();
    let refresh: String = row.try_get("", "refresh_token_enc").unwrap();
    let cipher: String = row.try_get("", "shop_cipher").unwrap();
    assert!(
        access.starts_with("v1:") && !access.contains("TTP_"),
        "{access}"
    );
    assert!(refresh.starts_with("v1:") && !refresh.contains("TTR_"));
    assert!(cipher.starts_with("ROW_"));

    // Auth codes are single-use.
    let again = client
        .authorize(&code, Some(&shop()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(again, Error::Api { code: 36004005, .. }),
        "{again}"
    );
}

#[actix_web::test]
async fn search_pages_through_every_order_and_detail_batches_fifty_ids_per_call() {
    let sandbox = sandbox();
    let db = TestDb::new().await;
    let client = authorised(&sandbox, &db).await;

    let ids: Vec<String> = (0..60)
        .map(|_| sandbox.create_order(SHOP, 2, false))
        .collect();
    let (now, mut token, mut seen) = (chrono::Utc::now().timestamp(), None, Vec::new());
    loop {
        let page = client
            .search_orders(&shop(), now - 3600, now + 10, token.as_deref(), 25)
            .await
            .unwrap();
        assert!(page.orders.len() <= 25);
        seen.extend(page.orders.into_iter().map(|o| o.id.0));
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 60);
    assert_eq!(sandbox.calls("/order/202309/orders/search"), 3);

    let wanted: Vec<OrderId> = ids.iter().map(|id| OrderId::parse(id).unwrap()).collect();
    let details = client.order_details(&shop(), &wanted).await.unwrap();
    assert_eq!(details.len(), 60);
    assert_eq!(sandbox.calls("/order/202309/orders"), 2, "50 + 10 ids");
    let detail = creatorflow::integrations::tiktok::model::detail(&details[0]).unwrap();
    assert_eq!(detail.items.len(), 2);
    assert!(detail.problems().is_empty(), "{:?}", detail.problems());
}

#[actix_web::test]
async fn an_expired_token_is_refreshed_and_the_call_repeated_once() {
    let sandbox = sandbox();
    let db = TestDb::new().await;
    let client = authorised(&sandbox, &db).await;
    let id = sandbox.create_order(SHOP, 1, false);

    sandbox.expire_access_tokens();
    let orders = client
        .order_details(&shop(), &[OrderId::parse(&id).unwrap()])
        .await
        .unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(sandbox.calls("/api/v2/token/refresh"), 1);
    assert_eq!(
        sandbox.calls("/order/202309/orders"),
        2,
        "105002, then the repeat"
    );
}

#[actix_web::test]
async fn throttling_and_outages_are_retried_with_backoff_but_a_write_is_not_repeated_blindly() {
    let sandbox = sandbox();
    let db = TestDb::new().await;
    let client = authorised(&sandbox, &db).await;
    let id = sandbox.create_order(SHOP, 1, false);
    let order_id = OrderId::parse(&id).unwrap();

    sandbox.inject(&[Fault::Throttled, Fault::Unavailable, Fault::Throttled]);
    let orders = client
        .order_details(&shop(), std::slice::from_ref(&order_id))
        .await
        .unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(sandbox.calls("/order/202309/orders"), 4);

    // A 503 on "ship" may have shipped: not repeated.
    sandbox.set_status(&id, "AWAITING_SHIPMENT", false);
    let package = orders[0].packages[0].id.0.clone();
    sandbox.inject(&[Fault::Unavailable]);
    let body = serde_json::json!({ "handover_method": "PICKUP" });
    let failed = client
        .ship_package(&shop(), &package, &body)
        .await
        .unwrap_err();
    assert!(matches!(failed, Error::Api { status: 503, .. }), "{failed}");
    let ship = "/fulfillment/202309/packages/{id}/ship";
    assert_eq!(sandbox.calls(ship), 1);
    // A 429 certainly did not: repeated, and shipped once.
    sandbox.inject(&[Fault::Throttled]);
    client.ship_package(&shop(), &package, &body).await.unwrap();
    assert_eq!(sandbox.calls(ship), 3);
    assert_eq!(
        sandbox.order_status(&id).as_deref(),
        Some("AWAITING_COLLECTION")
    );
    // TikTok's business refusal inside an HTTP 200 is an error.
    let twice = client
        .ship_package(&shop(), &package, &body)
        .await
        .unwrap_err();
    assert!(
        matches!(
            twice,
            Error::Api {
                code: 21001002,
                status: 200,
                ..
            }
        ),
        "{twice}"
    );
}

#[actix_web::test]
async fn the_rate_limit_smooths_bursts_so_the_sandbox_never_answers_429() {
    // TikTok allows 7/s for this shop; the daemon is configured for 5/s.
    let sandbox = Sandbox::start(Options {
        requests_per_second: 7,
        ..Options::new("abcdef", "123")
    })
    .unwrap();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let db = TestDb::new().await;
    let (client, _database) = client_for(
        &db,
        &sandbox,
        &[
            ("CREATORFLOW__TIKTOK__REQUESTS_PER_SECOND", "5"),
            ("CREATORFLOW__TIKTOK__MAX_RETRIES", "0"),
        ],
    )
    .await;
    client.authorize(&code, None, None).await.unwrap();
    let id = OrderId::parse(&sandbox.create_order(SHOP, 1, false)).unwrap();
    let started = std::time::Instant::now();
    let shop = shop();
    let calls = (0..12).map(|_| client.order_details(&shop, std::slice::from_ref(&id)));
    for result in futures_util::future::join_all(calls).await {
        result.expect("no call was throttled");
    }
    // 5 at once, then 5 per second: 12 calls need well over a second.
    assert!(started.elapsed() >= std::time::Duration::from_millis(1200));
}

#[actix_web::test]
async fn a_wrong_secret_is_refused_as_an_invalid_signature() {
    let sandbox = sandbox();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let db = TestDb::new().await;
    let key = "ab".repeat(32);
    let (client, _database) =
        client_for(&db, &sandbox, &[("CREATORFLOW__TIKTOK__TOKEN_KEY", &key)]).await;
    client.authorize(&code, None, None).await.unwrap();
    assert_eq!(client.authorized_shops(&shop()).await.unwrap().len(), 1);
    let (wrong, _) = client_for(
        &db,
        &sandbox,
        &[
            ("CREATORFLOW__TIKTOK__APP_SECRET", "124"),
            ("CREATORFLOW__TIKTOK__TOKEN_KEY", &key),
        ],
    )
    .await;
    let err = wrong.authorized_shops(&shop()).await.unwrap_err();
    assert!(matches!(err, Error::Api { code: 106001, .. }), "{err}");
    // Without an explicit token key the key derives from the secret: another secret cannot
    // even open the stored token — the point of sealing it.
    let (other, _) = client_for(&db, &sandbox, &[("CREATORFLOW__TIKTOK__APP_SECRET", "124")]).await;
    assert!(matches!(
        other.authorized_shops(&shop()).await.unwrap_err(),
        Error::Vault(_)
    ));
}

#[actix_web::test]
async fn a_token_close_to_expiry_is_refreshed_before_the_call() {
    // Tokens that live 5 minutes are inside the 10-minute refresh margin from the start.
    let sandbox = Sandbox::start(Options {
        access_ttl: std::time::Duration::from_secs(300),
        ..Options::new("abcdef", "123")
    })
    .unwrap();
    let db = TestDb::new().await;
    let client = authorised(&sandbox, &db).await;
    let id = OrderId::parse(&sandbox.create_order(SHOP, 1, false)).unwrap();
    client.order_details(&shop(), &[id]).await.unwrap();
    assert_eq!(sandbox.calls("/api/v2/token/refresh"), 1);
    assert_eq!(
        sandbox.calls("/order/202309/orders"),
        1,
        "no 105002 round trip"
    );
}

#[actix_web::test]
async fn fulfilment_and_cancellation_calls_reach_tiktok_signed() {
    let sandbox = sandbox();
    let db = TestDb::new().await;
    let client = authorised(&sandbox, &db).await;

    let shipped = sandbox.create_order(SHOP, 1, false);
    sandbox.set_status(&shipped, "AWAITING_SHIPMENT", false);
    let order_id = OrderId::parse(&shipped).unwrap();
    let tracking = serde_json::json!({ "tracking_number": "1Z999", "shipping_provider_id": "6617675021119438849", "order_line_item_ids": [] });
    let answer = client
        .mark_shipped(&shop(), &order_id, &tracking)
        .await
        .unwrap();
    assert_eq!(answer["order_id"], shipped.as_str());
    assert_eq!(
        sandbox.order_status(&shipped).as_deref(),
        Some("AWAITING_COLLECTION")
    );
    let fixed = serde_json::json!({ "tracking_number": "1Z998", "shipping_provider_id": "6617675021119438849" });
    client
        .update_shipping_info(&shop(), &order_id, &fixed)
        .await
        .unwrap();

    let cancelled = sandbox.create_order(SHOP, 1, false);
    let body = serde_json::json!({ "order_id": cancelled, "cancel_reason": "seller_out_of_stock" });
    let answer = client.cancel_order(&shop(), &body).await.unwrap();
    assert_eq!(answer["cancel_status"], "CANCELLATION_REQUEST_COMPLETE");
    assert_eq!(
        sandbox.order_status(&cancelled).as_deref(),
        Some("CANCELLED")
    );
    // Cancelling a shipped order is refused by TikTok, and that is an error here.
    let late = serde_json::json!({ "order_id": shipped, "cancel_reason": "x" });
    assert!(matches!(
        client.cancel_order(&shop(), &late).await,
        Err(Error::Api { .. })
    ));
}

#[actix_web::test]
async fn a_buyers_request_is_answered_once_with_the_decision_that_fits_it() {
    use creatorflow::domain::{AfterSale, AfterSaleKind};
    use tiktok_sandbox::RequestKind;
    let sandbox = sandbox();
    let db = TestDb::new().await;
    let client = authorised(&sandbox, &db).await;
    let pending = |kind, id: &str, status: &str, return_type: Option<&str>| AfterSale {
        kind,
        id: id.into(),
        status: status.into(),
        role: Some("BUYER".into()),
        return_type: return_type.map(str::to_owned),
        time: 1,
    };
    fn refused_with<T: std::fmt::Debug>(result: Result<T, Error>) -> (i64, String) {
        match result {
            Err(Error::Api { code, message, .. }) => (code, message),
            other => panic!("TikTok should refuse: {other:?}"),
        }
    }

    // A cancellation, approved: TikTok cancels the order; the same answer again changes nothing.
    let order = sandbox.create_order(SHOP, 1, false);
    sandbox.set_status(&order, "AWAITING_SHIPMENT", false);
    let cancel_id = sandbox
        .buyer_request(&order, RequestKind::Cancellation, None)
        .unwrap();
    let cancel = pending(
        AfterSaleKind::Cancellation,
        &cancel_id,
        "CANCELLATION_REQUEST_PENDING",
        None,
    );
    let approve = cancel.answer(true, None).unwrap();
    client.answer_request(&shop(), &approve).await.unwrap();
    assert_eq!(
        sandbox.request_status(&cancel_id).as_deref(),
        Some("CANCELLATION_REQUEST_COMPLETE")
    );
    assert_eq!(sandbox.order_status(&order).as_deref(), Some("CANCELLED"));
    client.answer_request(&shop(), &approve).await.unwrap();
    // A different answer to what is answered already: refused, saying why.
    let reject = cancel
        .answer(
            false,
            Some("seller_reject_apply_product_has_been_packed".into()),
        )
        .unwrap();
    let (_, message) = refused_with(client.answer_request(&shop(), &reject).await);
    assert!(
        message.contains("CANCELLATION_REQUEST_COMPLETE"),
        "{message}"
    );
    // A request TikTok never had: refused.
    let unknown = pending(
        AfterSaleKind::Cancellation,
        "CX404",
        "CANCELLATION_REQUEST_PENDING",
        None,
    );
    let (_, message) = refused_with(
        client
            .answer_request(&shop(), &unknown.answer(true, None).unwrap())
            .await,
    );
    assert!(message.contains("not found"), "{message}");

    // A return of the goods: approved (the buyer ships it back), then the parcel disputed.
    let shipped = sandbox.create_order(SHOP, 1, false);
    sandbox.set_status(&shipped, "DELIVERED", false);
    let return_id = sandbox
        .buyer_request(&shipped, RequestKind::Return, Some("RETURN_AND_REFUND"))
        .unwrap();
    let asked = pending(
        AfterSaleKind::Return,
        &return_id,
        "RETURN_OR_REFUND_REQUEST_PENDING",
        Some("RETURN_AND_REFUND"),
    );
    // A refund-only decision does not fit a return of the goods.
    let misfit = pending(
        AfterSaleKind::Return,
        &return_id,
        "RETURN_OR_REFUND_REQUEST_PENDING",
        Some("REFUND"),
    );
    let (code, message) = refused_with(
        client
            .answer_request(&shop(), &misfit.answer(true, None).unwrap())
            .await,
    );
    assert_eq!(code, tiktok_wire::code::INVALID_PARAM, "{message}");
    assert!(message.contains("APPROVE_RETURN"), "{message}");
    client
        .answer_request(&shop(), &asked.answer(true, None).unwrap())
        .await
        .unwrap();
    assert_eq!(
        sandbox.request_status(&return_id).as_deref(),
        Some("AWAITING_BUYER_SHIP")
    );
    assert!(sandbox.buyer_ships_back(&return_id));
    let back = AfterSale {
        status: "BUYER_SHIPPED_ITEM".into(),
        ..asked
    };
    // What the parcel back may be disputed for is TikTok's list, not the seller's words.
    let reasons = client.reject_reasons(&shop(), &return_id).await.unwrap();
    let names: Vec<&str> = reasons.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "seller_reject_received_package_wrong_item",
            "seller_reject_received_package_damaged"
        ]
    );
    assert_eq!(reasons[1].text, "The item came back damaged");
    let worded = back
        .answer(false, Some("the item came back damaged".into()))
        .unwrap();
    let (code, message) = refused_with(client.answer_request(&shop(), &worded).await);
    assert_eq!(code, tiktok_wire::code::INVALID_PARAM, "{message}");
    assert!(message.contains("not a reason"), "{message}");
    let dispute = back
        .answer(false, Some("seller_reject_received_package_damaged".into()))
        .unwrap();
    client.answer_request(&shop(), &dispute).await.unwrap();
    // Answered, it waits for nothing: no reason is listed any more.
    assert!(
        client
            .reject_reasons(&shop(), &return_id)
            .await
            .unwrap()
            .is_empty()
    );
    let (_, message) = refused_with(client.reject_reasons(&shop(), "RX404").await);
    assert!(message.contains("not found"), "{message}");
    assert_eq!(
        sandbox.request_status(&return_id).as_deref(),
        Some("REJECT_RECEIVE_PACKAGE")
    );
    assert_eq!(
        sandbox.order_status(&shipped).as_deref(),
        Some("DELIVERED"),
        "a return leaves the order's status be"
    );
}

#[actix_web::test]
async fn the_sandbox_refuses_what_tiktok_refuses() {
    use tiktok_wire::signature::request_signature;
    let sandbox = sandbox();
    let db = TestDb::new().await;
    let client = authorised(&sandbox, &db).await;
    let http = reqwest::Client::new();
    let call = |timestamp: i64,
                sign_with: &'static str,
                token: &'static str,
                cipher: Option<&'static str>| {
        let path = "/order/202309/orders/search";
        let ts = timestamp.to_string();
        let mut query = vec![
            ("app_key", "abcdef"),
            ("timestamp", ts.as_str()),
            ("page_size", "10"),
        ];
        if let Some(cipher) = cipher {
            query.push(("shop_cipher", cipher));
        }
        let body = b"{}";
        let sign = request_signature(sign_with.as_bytes(), path, &query, Some(body));
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("sign".to_owned(), sign)])
            .collect();
        http.post(format!("{}{path}", sandbox.url()))
            .query(&query)
            .header("x-tts-access-token", token)
            .body(body.to_vec())
            .send()
    };
    let code_of = |v: serde_json::Value| {
        (
            v["code"].as_i64().unwrap(),
            v["message"].as_str().unwrap().to_owned(),
        )
    };
    let now = chrono::Utc::now().timestamp();
    let stale = call(now - 600, "123", "TTP_x", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code_of(stale), (36009004, "Invalid timestamp".to_owned()));
    let unsigned = call(now, "456", "TTP_x", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code_of(unsigned).0, 106001);
    let no_token = call(now, "123", "TTP_unknown", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        code_of(no_token),
        (36009004, "Invalid x-tts-access-token".to_owned())
    );
    drop(client);
    sandbox.stop().await;
}
