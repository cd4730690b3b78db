//! The dashboard over real HTTP: signing in and out, sessions and form tokens, what a shop's
//! key sees, commands with their version check, and the embedded assets. (What a person sees
//! and does in a browser is `e2e/`, in Chromium.)

use creatorflow::domain::OrderStatus;
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode, header};

use crate::helpers::{TestApp, detail_of, order_at, request_of, sample_detail, spawn_app};

const SHOP_A: &str = "7300000000000000001";
const SHOP_B: &str = "7300000000000000002";

pub fn browser() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Signs in with `key`; the session cookie (`name=value`).
pub async fn sign_in(app: &TestApp, key: &str) -> String {
    let response = browser()
        .post(app.url("/ui/sign-in"))
        .form(&[("key", key)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

pub async fn get(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = browser()
        .get(app.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

pub async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser()
        .post(app.url(path))
        .header(header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The form token a page carries.
pub fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("the page has a form token")
        + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_key_is_exchanged_for_a_session_that_signing_out_ends() {
    let app = spawn_app().await;
    let key = app.shop_with_key(SHOP_A).await;

    let anonymous = browser().get(app.url("/ui/orders")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous), "/ui/sign-in");

    let wrong = browser()
        .post(app.url("/ui/sign-in"))
        .form(&[("key", "cf_not_a_key")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("not a valid API key"));

    let response = browser()
        .post(app.url("/ui/sign-in"))
        .form(&[("key", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/ui/orders");
    let set = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(
        !set.contains(&key),
        "the key itself never goes to the browser"
    );
    let cookie = set.split(';').next().unwrap().to_owned();

    let page = browser()
        .get(app.url("/ui/orders"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("shop {SHOP_A}")),
        "the header names the shop"
    );
    for script in html.split("<script").skip(1) {
        assert!(
            script.trim_start().starts_with("src="),
            "no inline script: {script}"
        );
    }

    let forged = post(&app, &cookie, "/ui/sign-out", &[("csrf", "forged")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let out = post(&app, &cookie, "/ui/sign-out", &[("csrf", &csrf(&html))]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _) = get(&app, &cookie, "/ui/orders").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the old cookie opens nothing"
    );
}

#[actix_web::test]
async fn a_shops_session_sees_its_orders_and_acts_at_the_version_it_saw() {
    let app = spawn_app().await;
    let key = app.shop_with_key(SHOP_A).await;
    app.shop_with_key(SHOP_B).await;
    order_at(
        &app,
        SHOP_A,
        "9100000000000000001",
        OrderStatus::AwaitingShipment,
    )
    .await;
    order_at(&app, SHOP_A, "9100000000000000002", OrderStatus::Unpaid).await;
    order_at(
        &app,
        SHOP_B,
        "9200000000000000001",
        OrderStatus::AwaitingShipment,
    )
    .await;
    let cookie = sign_in(&app, &key).await;

    let (status, list) = get(&app, &cookie, "/ui/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("9100000000000000001") && list.contains("9100000000000000002"));
    assert!(
        !list.contains("9200000000000000001"),
        "another shop's order is not listed"
    );
    let (_, count) = get(&app, &cookie, "/ui/orders/count").await;
    assert!(
        count.contains("2 orders match"),
        "a count, asked for after the page: {count}"
    );
    let (_, filtered) = get(&app, &cookie, "/ui/orders?status=UNPAID").await;
    assert!(
        filtered.contains("9100000000000000002") && !filtered.contains("9100000000000000001\"")
    );
    let (_, bad) = get(&app, &cookie, "/ui/orders?q=colour%3Ared").await;
    assert!(bad.contains("colour"), "a bad query names its term");
    let (status, _) = get(&app, &cookie, "/ui/orders/9200000000000000001").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, detail) = get(&app, &cookie, "/ui/orders/9100000000000000001").await;
    assert!(
        detail.contains("Timeline") && detail.contains("poll"),
        "the timeline with its cause"
    );
    let token = csrf(&detail);
    let path = "/ui/orders/9100000000000000001/hold";
    let forged = post(
        &app,
        &cookie,
        path,
        &[("csrf", "x"), ("version", "1"), ("reason", "r")],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let held = post(
        &app,
        &cookie,
        path,
        &[
            ("csrf", &token),
            ("version", "1"),
            ("reason", "check address"),
        ],
    )
    .await;
    assert_eq!(held.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&held), "/ui/orders/9100000000000000001?done=Held");
    let (_, detail) = get(&app, &cookie, &location(&held)).await;
    assert!(
        detail.contains("on_hold") && detail.contains("Release"),
        "held, so it offers release"
    );

    let stale = post(
        &app,
        &cookie,
        path,
        &[("csrf", &token), ("version", "1"), ("reason", "again")],
    )
    .await;
    let (_, detail) = get(&app, &cookie, &location(&stale)).await;
    assert!(
        detail.contains("This order changed after the page showed it"),
        "a conflict is explained"
    );
    let theirs = post(
        &app,
        &cookie,
        "/ui/orders/9200000000000000001/hold",
        &[("csrf", &token), ("version", "1"), ("reason", "x")],
    )
    .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
}

/// An administrator's lists say whose each order is by the shop's name, with its id beside it;
/// the filter offers shops by name, sorted, and by id too where two share a name.
#[actix_web::test]
async fn an_administrators_list_names_each_orders_shop() {
    let app = spawn_app().await;
    const SHOP_C: &str = "7300000000000000003";
    for (shop, name) in [
        (SHOP_A, "Glow Studio"),
        (SHOP_B, "Atelier <B>"),
        (SHOP_C, "Atelier <B>"),
    ] {
        let response = app
            .post_json(
                "/api/v1/shops",
                &app.admin_key,
                &serde_json::json!({ "tiktok_shop_id": shop, "name": name }),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    order_at(
        &app,
        SHOP_A,
        "9100000000000000004",
        OrderStatus::AwaitingShipment,
    )
    .await;
    let cookie = sign_in(&app, &app.admin_key).await;

    let (_, list) = get(&app, &cookie, "/ui/orders").await;
    assert!(
        list.contains(&format!("Glow Studio · shop {SHOP_A}")),
        "the row names its shop"
    );
    let a = list
        .find(&format!("<option value=\"{SHOP_A}\">Glow Studio</option>"))
        .expect("the filter offers shops by name");
    let b = list
        .find(&format!("({SHOP_B})</option>"))
        .expect("a name two shops share comes with the id");
    assert!(list.contains(&format!("({SHOP_C})</option>")));
    assert!(b < a, "by name: Atelier before Glow");
    assert!(
        !list.contains("Atelier <B>"),
        "a shop's name is escaped like any text"
    );
    let (_, rows) = get(&app, &cookie, "/ui/orders/rows").await;
    assert!(
        rows.contains(&format!("Glow Studio · shop {SHOP_A}")),
        "{rows}"
    );
    let (_, row) = get(&app, &cookie, "/ui/orders/9100000000000000004/row").await;
    assert!(
        row.contains(&format!("Glow Studio · shop {SHOP_A}")),
        "{row}"
    );
    let (_, page) = get(&app, &cookie, "/ui/orders/9100000000000000004").await;
    assert!(page.contains(&format!("<dd>Glow Studio ({SHOP_A})</dd>")));
    let (_, filtered) = get(&app, &cookie, &format!("/ui/orders?shop={SHOP_B}")).await;
    assert!(
        !filtered.contains("9100000000000000004\""),
        "the filter still goes by id"
    );
}

/// An order's page is what a packer needs: TikTok's deadlines, with the one passed short of
/// its milestone marked missed; the buyer's note; a pre-order's release; the items as a packing
/// list (TikTok's line item per unit as one line per SKU with its count, under the seller's
/// own SKU code); the recipient as a label would print it (the name, the street lines, the
/// locality from TikTok's areas with the postal code, the region and the masked phone), with
/// TikTok's fields as they came folded away beneath. Names are escaped like any text.
#[actix_web::test]
async fn an_orders_page_shows_its_deadlines_items_by_sku_and_recipient_as_an_address() {
    let app = spawn_app().await;
    let key = app.shop_with_key(SHOP_A).await;
    let order = "9100000000000000003";
    order_at(&app, SHOP_A, order, OrderStatus::AwaitingShipment).await;
    let cookie = sign_in(&app, &key).await;
    let (_, before) = get(&app, &cookie, &format!("/ui/orders/{order}")).await;
    assert!(
        !before.contains("Recipient"),
        "no detail fetched yet, so no recipient"
    );

    let mut detail = sample_detail("25.60", 1_700_000_100);
    let now = chrono::Utc::now().timestamp();
    detail.delivery_sla_time = Some(now + 3 * 86_400 + 30 * 60);
    detail.buyer_message = Some("Gift wrap, please".into());
    detail.order_type = Some("PRE_ORDER".into());
    detail.release_date = Some(1_800_000_000);
    detail.recipient = Some(serde_json::json!({
        "name": "Ada & <Co>", "phone_number": "(+1)415*****53",
        "address_line1": "1 Market St", "address_line2": "Suite 300",
        "postal_code": "94107", "region_code": "US",
        "full_address": "1 Market St, Suite 300, San Francisco, California 94107, United States",
        "district_info": [
            {"address_level": "L0", "address_name": "United States"},
            {"address_level": "L1", "address_name": "California"},
            {"address_level": "L3", "address_name": "San Francisco"},
        ],
    }));
    detail_of(&app, SHOP_A, order, detail).await;

    let (status, page) = get(&app, &cookie, &format!("/ui/orders/{order}")).await;
    assert_eq!(status, StatusCode::OK);
    let start = page
        .find("<p class=\"recipient\"")
        .expect("the recipient's address");
    let address = &page[start..start + page[start..].find("</p>").unwrap()];
    assert!(
        address.contains("<strong>Ada &#38; &#60;Co&#62;</strong><br>1 Market St<br>Suite 300<br>San Francisco, California 94107<br>US")
            || address.contains("<strong>Ada &amp; &lt;Co&gt;</strong><br>1 Market St<br>Suite 300<br>San Francisco, California 94107<br>US"),
        "name, street lines, locality and region, one per line: {address}"
    );
    assert!(page.contains("<dt>Phone</dt><dd>(+1)415*****53</dd>"));
    assert!(
        page.contains(
            "<dt>Ready to ship by</dt><dd><time datetime=\"2023-11-15T22:15:00+00:00\">\
             2023-11-15 22:15 UTC</time> <span class=\"stage stage-exception\">missed</span>"
        ),
        "a deadline passed with the order still awaiting shipment is missed"
    );
    let deliver = &page[page
        .find("<dt>Delivered by</dt>")
        .expect("the delivery deadline")..];
    let deliver = &deliver[..deliver.find("</dd>").unwrap()];
    assert!(
        deliver.contains("in 3 d") && !deliver.contains("missed"),
        "{deliver}"
    );
    assert!(
        !page.contains("Collected by"),
        "TikTok set no collection deadline"
    );
    assert!(
        page.contains(
            "<dt>Pre-order released</dt><dd><time datetime=\"2027-01-15T08:00:00+00:00\">"
        )
    );
    assert!(page.contains("<p class=\"note\">Gift wrap, please</p>"));

    // The list's "Late to ship" tab finds it; an order without TikTok's deadline is not late.
    order_at(
        &app,
        SHOP_A,
        "9100000000000000005",
        OrderStatus::AwaitingShipment,
    )
    .await;
    let (_, list) = get(&app, &cookie, "/ui/orders").await;
    let tab = &list[..list.find(">Late to ship</a>").expect("the tab")];
    let late = tab[tab.rfind("href=\"").unwrap() + 6..tab.len() - 1]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        late.starts_with(
            "/ui/orders?q=ship_by%3A%3Cnow+%28status%3AUNPAID+OR+status%3AON_HOLD+OR+status%3AAWAITING_SHIPMENT+OR+status%3APARTIALLY_SHIPPING%29"
        ),
        "{late}"
    );
    let (_, late) = get(&app, &cookie, &late).await;
    assert!(late.contains(&format!("\"order-{order}\"")), "{late}");
    assert!(!late.contains("\"order-9100000000000000005\""));
    let row = |page: &str, id: &str| {
        let start = page
            .find(&format!("<tr id=\"order-{id}\""))
            .expect("the row");
        page[start..start + page[start..].find("</tr>").unwrap()].to_owned()
    };
    assert!(
        row(&late, order).contains(
            "<time datetime=\"2023-11-15T22:15:00+00:00\">2023-11-15 22:15</time> \
             <span class=\"stage stage-exception\">late</span>"
        ),
        "the list says when it was due, and that it is late"
    );
    assert!(
        row(&list, "9100000000000000005").contains("<td>—</td>"),
        "no deadline yet"
    );
    let items: Vec<&str> = page
        .split("<tr><td>GS-30<span class=\"sub\">")
        .skip(1)
        .map(|row| &row[..row.find("</tr>").unwrap()])
        .collect();
    assert_eq!(items.len(), 2, "three units of two SKUs: two lines");
    assert!(
        items[0].starts_with("SKU-A</span></td><td>Glow serum</td><td class=\"num\">2</td><td class=\"num\">10.00 USD</td>"),
        "{}",
        items[0]
    );
    assert!(
        items[1].starts_with("SKU-B</span></td><td>Glow serum</td><td class=\"num\">1</td>"),
        "{}",
        items[1]
    );
    assert!(
        page.contains("<summary>As TikTok sent it</summary>") && page.contains("district_info"),
        "TikTok's fields, as they came, folded away"
    );
}

/// Packing slips print what a packer needs and nothing a parcel should not carry: the pick list
/// first (units per SKU over the orders that may leave), then a slip per order, most urgent
/// first, with the recipient, the items one line per SKU and no prices, the buyer's note, and
/// why an order must not leave yet when it must not. A shop's session prints only its orders,
/// whether it names them or searches for them; the bulk form's "Print packing slips" opens
/// the page for the rows ticked or for all matching.
#[actix_web::test]
async fn packing_slips_print_the_sessions_orders_with_a_pick_list() {
    let app = spawn_app().await;
    let key = app.shop_with_key(SHOP_A).await;
    app.shop_with_key(SHOP_B).await;
    let (ready, cancelled, theirs) = (
        "9100000000000000011",
        "9100000000000000012",
        "9100000000000000013",
    );
    order_at(&app, SHOP_A, cancelled, OrderStatus::Cancelled).await;
    order_at(&app, SHOP_A, ready, OrderStatus::AwaitingShipment).await;
    order_at(&app, SHOP_B, theirs, OrderStatus::AwaitingShipment).await;
    let mut detail = sample_detail("25.60", 1_700_000_100);
    detail.buyer_message = Some("Gift: no receipt".into());
    detail.recipient = Some(serde_json::json!({
        "name": "Ada Lovelace", "address_line1": "1 Market St", "postal_code": "94107",
        "region_code": "US",
        "district_info": [{"address_level": "L3", "address_name": "San Francisco"}],
    }));
    detail_of(&app, SHOP_A, ready, detail).await;
    detail_of(&app, SHOP_B, theirs, sample_detail("9.00", 1_700_000_100)).await;
    let cookie = sign_in(&app, &key).await;

    let (status, page) = get(
        &app,
        &cookie,
        &format!("/ui/packing-slips?ids={cancelled},{ready},{cancelled}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let picks = &page[page.find("<table id=\"picks\">").expect("the pick list")..];
    let picks = &picks[..picks.find("</table>").unwrap()];
    assert!(
        picks.contains("<td>GS-30<span class=\"sub\">SKU-A</span></td><td>Glow serum</td><td class=\"num\">2</td>")
            && picks.contains("<td>GS-30<span class=\"sub\">SKU-B</span></td><td>Glow serum</td><td class=\"num\">1</td>"),
        "units per SKU: {picks}"
    );
    assert!(
        page.contains("1 order to pack, 3 units (1 held back, not counted)"),
        "the cancelled order is not picked"
    );
    assert_eq!(
        page.matches(&format!("id=\"slip-{cancelled}\"")).count(),
        1,
        "an order named twice gets one slip"
    );
    let (at_ready, at_cancelled) = (
        page.find(&format!("id=\"slip-{ready}\""))
            .expect("its slip"),
        page.find(&format!("id=\"slip-{cancelled}\""))
            .expect("its slip"),
    );
    assert!(
        at_ready < at_cancelled,
        "the order with a deadline comes first"
    );
    let slip = &page[at_ready..at_cancelled];
    assert!(slip.contains(&format!("Shop {SHOP_A}")), "whose parcel");
    assert!(
        slip.contains("<dt>Ship by</dt><dd>2023-11-15 22:15 UTC</dd>"),
        "{slip}"
    );
    assert!(
        slip.contains("<strong>Ada Lovelace</strong><br>1 Market St<br>San Francisco 94107<br>US"),
        "{slip}"
    );
    assert!(
        slip.contains("<td class=\"num\">2</td>") && slip.contains("3 units"),
        "{slip}"
    );
    assert!(!slip.contains("USD"), "no prices in a parcel: {slip}");
    assert!(slip.contains("<p class=\"note\">Gift: no receipt</p>"));
    assert!(!slip.contains("class=\"hold\""), "this one may leave");
    let slip = &page[at_cancelled..];
    assert!(
        slip.contains("<p class=\"hold\">Cancelled: do not ship</p>"),
        "{slip}"
    );
    assert!(
        !slip.contains("Ship to"),
        "no detail: no address or items to show"
    );

    // Once printed, the orders that may leave are tagged through the bulk confirmation.
    assert!(
        page.contains(&format!(
            "<input type=\"hidden\" name=\"ids\" value=\"{ready}\">"
        )),
        "the tag form takes the order to pack, not the cancelled one"
    );
    let tag = [
        ("csrf", csrf(&page)),
        ("action", "tags_add".to_owned()),
        ("scope", "selected".to_owned()),
        ("ids", ready.to_owned()),
        ("tags", "slip-printed".to_owned()),
    ];
    let tag: Vec<(&str, &str)> = tag.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let confirm = post(&app, &cookie, "/ui/bulk/confirm", &tag).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let confirm = confirm.text().await.unwrap();
    assert!(
        confirm.contains("Add tags: 1 selected order?") && confirm.contains("Tags: slip-printed"),
        "{confirm}"
    );

    // Another shop's order is not found, and nothing is printed.
    let (status, body) = get(
        &app,
        &cookie,
        &format!("/ui/packing-slips?ids={ready},{theirs}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.contains(theirs) && !body.contains(&format!("{ready},")),
        "{body}"
    );
    let (status, body) = get(&app, &cookie, "/ui/packing-slips?ids=12%3Cx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("is not an order id") && body.contains("role=\"alert\""),
        "said on the page: {body}"
    );

    // A search prints what it matches, within the session's shop.
    let (status, page) = get(
        &app,
        &cookie,
        "/ui/packing-slips?q=status%3AAWAITING_SHIPMENT",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("id=\"slip-{ready}\"")));
    assert!(
        !page.contains(theirs) && !page.contains(cancelled),
        "{page}"
    );

    // From the orders page: the orders its filters match (for any key), the rows ticked, or
    // all matching.
    let (_, list) = get(&app, &cookie, "/ui/orders?status=CANCELLED").await;
    let before = "<p class=\"slips\"><a href=\"";
    let link = &list[list.find(before).expect("the link") + before.len()..];
    let link = link[..link.find('"').unwrap()].to_owned();
    assert_eq!(link, "/ui/packing-slips?q=status%3ACANCELLED");
    let (_, page) = get(&app, &cookie, &link).await;
    assert!(page.contains(&format!("id=\"slip-{cancelled}\"")) && !page.contains(ready));
    let (_, list) = get(&app, &cookie, "/ui/orders").await;
    assert!(list.contains("<option value=\"packing_slips\">Print packing slips</option>"));
    let token = csrf(&list);
    let form = |scope: &'static str, ids: &'static str| {
        [
            ("csrf", token.as_str()),
            ("action", "packing_slips"),
            ("scope", scope),
            ("ids", ids),
            ("q", "stage:cancelled"),
        ]
    };
    let response = post(&app, &cookie, "/ui/bulk/confirm", &form("selected", ready)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response),
        format!("/ui/packing-slips?ids={ready}")
    );
    let response = post(&app, &cookie, "/ui/bulk/confirm", &form("matching", "")).await;
    assert_eq!(location(&response), "/ui/packing-slips?q=stage%3Acancelled");
    let (_, page) = get(&app, &cookie, &location(&response)).await;
    assert!(page.contains(&format!("id=\"slip-{cancelled}\"")) && !page.contains(ready));
    let response = post(&app, &cookie, "/ui/bulk/confirm", &form("selected", "")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut forged = form("selected", ready);
    forged[0].1 = "forged";
    let response = post(&app, &cookie, "/ui/bulk/confirm", &forged).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // An order's page links to its slip; an administrator prints any shop's.
    let (_, order) = get(&app, &cookie, &format!("/ui/orders/{ready}")).await;
    assert!(order.contains(&format!("href=\"/ui/packing-slips?ids={ready}\"")));
    let admin = sign_in(&app, &app.admin_key).await;
    let (status, page) = get(&app, &admin, &format!("/ui/packing-slips?ids={theirs}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("Shop {SHOP_B}")));
}

#[actix_web::test]
async fn assets_are_embedded_revalidated_and_small() {
    let app = spawn_app().await;
    let mut total = 0;
    for file in [
        "htmx-2.0.11.min.js",
        "htmx-ext-sse-2.2.4.js",
        "app.js",
        "app.css",
    ] {
        let path = format!("/ui/assets/{file}");
        let response = browser()
            .get(app.url(&path))
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        assert_eq!(
            response.headers()[header::CONTENT_ENCODING],
            "gzip",
            "{file}"
        );
        let etag = response.headers()[header::ETAG].clone();
        total += response.bytes().await.unwrap().len();
        let again = browser()
            .get(app.url(&path))
            .header(header::IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{file}");
    }
    assert!(total < 150 * 1024, "{total} bytes compressed");
}

#[actix_web::test]
async fn bulk_jobs_from_the_dashboard_are_the_sessions_shops_only() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key(SHOP_A).await;
    let key_b = app.shop_with_key(SHOP_B).await;
    order_at(
        &app,
        SHOP_A,
        "9300000000000000001",
        OrderStatus::AwaitingShipment,
    )
    .await;
    let cookie_a = sign_in(&app, &key_a).await;
    let cookie_b = sign_in(&app, &key_b).await;
    let (_, list) = get(&app, &cookie_a, "/ui/orders").await;
    let token = csrf(&list);

    // Shop B's session names shop A's order: the job fails that item, and changes nothing.
    let (_, list_b) = get(&app, &cookie_b, "/ui/orders").await;
    let theirs = post(
        &app,
        &cookie_b,
        "/ui/bulk",
        &[
            ("csrf", &csrf(&list_b)),
            ("action", "hold"),
            ("reason", "x"),
            ("scope", "selected"),
            ("ids", "9300000000000000001"),
        ],
    )
    .await;
    assert_eq!(theirs.status(), StatusCode::SEE_OTHER);
    let their_job = location(&theirs);

    let forged = post(
        &app,
        &cookie_a,
        "/ui/bulk",
        &[
            ("csrf", "x"),
            ("action", "export"),
            ("scope", "matching"),
            ("q", ""),
        ],
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let confirm = post(
        &app,
        &cookie_a,
        "/ui/bulk/confirm",
        &[
            ("csrf", &token),
            ("action", "export"),
            ("scope", "matching"),
            ("q", ""),
        ],
    )
    .await;
    let confirm = confirm.text().await.unwrap();
    assert!(
        confirm.contains("all 1 orders matching"),
        "the scope is said: {confirm}"
    );
    let started = post(
        &app,
        &cookie_a,
        "/ui/bulk",
        &[
            ("csrf", &token),
            ("action", "export"),
            ("scope", "matching"),
            ("q", ""),
        ],
    )
    .await;
    let job = location(&started);
    let page = crate::helpers::eventually("the export to complete", || async {
        let (_, page) = get(&app, &cookie_a, &job).await;
        page.contains("Download CSV").then_some(page)
    })
    .await;
    assert!(page.contains("1 of 1"), "{page}");
    let (status, csv) = get(&app, &cookie_a, &format!("{job}/result?format=csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.contains("9300000000000000001"));

    for path in [job.clone(), format!("{job}/result")] {
        let (status, _) = get(&app, &cookie_b, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let failed = crate::helpers::eventually("their job to finish", || async {
        let (_, page) = get(&app, &cookie_b, &their_job).await;
        page.contains("completed").then_some(page)
    })
    .await;
    assert!(
        failed.contains("Failed items") && failed.contains("not found"),
        "{failed}"
    );
    let (_, order) = get(&app, &cookie_a, "/ui/orders/9300000000000000001").await;
    assert!(!order.contains("on_hold"), "shop A's order was not held");
}

#[actix_web::test]
async fn workflows_stock_and_system_pages_show_the_sessions_shop() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key(SHOP_A).await;
    let key_b = app.shop_with_key(SHOP_B).await;
    let stocked = app
        .client
        .put(app.url(&format!("/api/v1/inventory/{SHOP_A}/SKU-9")))
        .bearer_auth(&key_a)
        .json(&serde_json::json!({ "on_hand": 5, "low_stock_threshold": 6 }))
        .send()
        .await
        .unwrap();
    assert_eq!(stocked.status(), StatusCode::OK);
    let cookie_a = sign_in(&app, &key_a).await;
    let cookie_b = sign_in(&app, &key_b).await;

    let (status, stock) = get(&app, &cookie_a, "/ui/stock?low=true").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        stock.contains("SKU-9") && stock.contains(">low<"),
        "a low SKU is flagged"
    );
    let (_, theirs) = get(&app, &cookie_b, "/ui/stock").await;
    assert!(
        !theirs.contains("SKU-9"),
        "another shop's stock is not shown"
    );
    let token = csrf(&stock);
    let adjusted = post(
        &app,
        &cookie_a,
        &format!("/ui/stock/{SHOP_A}/SKU-9/adjust"),
        &[("csrf", &token), ("delta", "3")],
    )
    .await;
    let (_, after) = get(&app, &cookie_a, &location(&adjusted)).await;
    assert!(after.contains("SKU-9: 8 on hand, 8 available"), "{after}");
    let below = post(
        &app,
        &cookie_a,
        &format!("/ui/stock/{SHOP_A}/SKU-9/adjust"),
        &[("csrf", &token), ("delta", "-9")],
    )
    .await;
    let (_, refused) = get(&app, &cookie_a, &location(&below)).await;
    assert!(
        refused.contains("class=\"problem\""),
        "below zero is refused: {refused}"
    );
    let (_, theirs) = get(&app, &cookie_b, "/ui/stock").await;
    let forbidden = post(
        &app,
        &cookie_b,
        &format!("/ui/stock/{SHOP_A}/SKU-9/adjust"),
        &[("csrf", &csrf(&theirs)), ("delta", "1")],
    )
    .await;
    assert_eq!(forbidden.status(), StatusCode::NOT_FOUND);

    let (status, workflows) = get(&app, &cookie_a, "/ui/workflows").await;
    assert_eq!(status, StatusCode::OK);
    assert!(workflows.contains("Dead letters") && workflows.contains("Templates"));
    order_at(
        &app,
        SHOP_A,
        "9400000000000000001",
        OrderStatus::AwaitingShipment,
    )
    .await;
    let (status, analytics) = get(&app, &cookie_a, "/ui/analytics?days=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        analytics.contains("<td>received</td><td class=\"num\">1</td>"),
        "the funnel counts the order: {analytics}"
    );
    assert!(
        analytics.contains("<svg"),
        "drawn, with its table beside it"
    );
    let overdue = &analytics[analytics.find("id=\"overdue\"").expect("the overdue count")..];
    assert!(
        overdue.starts_with("id=\"overdue\">0 late to ship</a>"),
        "{overdue}"
    );
    let before = "<a href=\"";
    let link = &analytics[..analytics.find(" id=\"overdue\"").unwrap()];
    let link = link[link.rfind(before).unwrap() + before.len()..link.len() - 1]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let (_, tab) = get(&app, &cookie_a, &link).await;
    assert!(
        tab.contains(">Late to ship</a>") && tab.contains("aria-current=\"page\">Late to ship"),
        "the count opens the 'Late to ship' tab: {link}"
    );
    let (status, system) = get(&app, &cookie_a, "/ui/system").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        system.contains("ready") && system.contains(SHOP_A) && !system.contains(SHOP_B),
        "{system}"
    );
    if app.bus.kind() == "local" {
        assert!(system.contains("The bus is local: in-process"), "{system}");
    }
}

#[actix_web::test]
async fn saved_views_are_the_keys_own_tabs() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key(SHOP_A).await;
    let key_b = app.shop_with_key(SHOP_B).await;
    let cookie_a = sign_in(&app, &key_a).await;
    let cookie_b = sign_in(&app, &key_b).await;
    let (_, list) = get(&app, &cookie_a, "/ui/orders?q=tag%3Avip&stage=on_hold").await;
    assert!(list.contains("Save these filters as a view"));
    let saved = post(
        &app,
        &cookie_a,
        "/ui/views",
        &[
            ("csrf", &csrf(&list)),
            ("name", "VIP on hold"),
            ("filters", "q=tag%3Avip&stage=on_hold&smuggled=1"),
        ],
    )
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let back = location(&saved);
    assert_eq!(
        back, "/ui/orders?q=tag%3Avip&status=&stage=on_hold&shop=&tag=",
        "only the list's filters are kept"
    );
    let (_, tabs) = get(&app, &cookie_a, &back).await;
    assert!(
        tabs.contains("aria-current=\"page\">VIP on hold</a>"),
        "the view is a tab, and the current one"
    );
    let (_, theirs) = get(&app, &cookie_b, "/ui/orders").await;
    assert!(
        !theirs.contains("VIP on hold"),
        "another key's session has its own views"
    );

    let id = tabs
        .split("/ui/views/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let refused = post(
        &app,
        &cookie_b,
        &format!("/ui/views/{id}/remove"),
        &[("csrf", &csrf(&theirs))],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let removed = post(
        &app,
        &cookie_a,
        &format!("/ui/views/{id}/remove"),
        &[("csrf", &csrf(&tabs))],
    )
    .await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let (_, after) = get(&app, &cookie_a, "/ui/orders").await;
    assert!(!after.contains("VIP on hold"));
    let bad = post(
        &app,
        &cookie_a,
        "/ui/views",
        &[
            ("csrf", &csrf(&after)),
            ("name", "x"),
            ("filters", "q=colour%3Ared"),
        ],
    )
    .await;
    assert_eq!(
        bad.status(),
        StatusCode::BAD_REQUEST,
        "a view of a bad search is not saved"
    );
}

#[actix_web::test]
async fn a_read_only_key_sees_no_action_and_every_surface_refuses_its_changes() {
    let app = spawn_app().await;
    app.shop_with_key(SHOP_A).await;
    order_at(
        &app,
        SHOP_A,
        "9500000000000000001",
        OrderStatus::AwaitingShipment,
    )
    .await;
    // Off the runtime's thread, as the daemon in this process keeps running meanwhile.
    let mut command = crate::helpers::cli_command(
        &app.db,
        &[
            "apikey",
            "create",
            "--shop",
            SHOP_A,
            "--read-only",
            "--name",
            "viewer",
        ],
    );
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    // The dashboard shows, and offers nothing to change; its forms are refused anyway.
    let cookie = sign_in(&app, &key).await;
    let (_, list) = get(&app, &cookie, "/ui/orders").await;
    assert!(list.contains("9500000000000000001") && list.contains("read-only"));
    assert!(!list.contains("Apply to selected"), "no bulk actions");
    // Packing slips are a read: a packer's read-only key prints them.
    assert!(list.contains("<p class=\"slips\"><a href=\"/ui/packing-slips?q=\">"));
    let (status, slips) = get(&app, &cookie, "/ui/packing-slips?q=").await;
    assert_eq!(status, StatusCode::OK);
    assert!(slips.contains("id=\"slip-9500000000000000001\""), "{slips}");
    assert!(
        !slips.contains("Tag them"),
        "nothing to change for a read-only key"
    );
    let (_, order) = get(&app, &cookie, "/ui/orders/9500000000000000001").await;
    assert!(
        !order.contains(">Hold<") && !order.contains(">Tag<"),
        "no commands"
    );
    let refused = post(
        &app,
        &cookie,
        "/ui/orders/9500000000000000001/hold",
        &[("csrf", &csrf(&order)), ("version", "1"), ("reason", "x")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // REST: reads answer, every change is 403.
    assert_eq!(
        app.get("/api/v1/orders/9500000000000000001", Some(&key))
            .await
            .status(),
        200
    );
    let hold = app
        .post_json(
            "/api/v1/orders/9500000000000000001/hold",
            &key,
            &serde_json::json!({ "reason": "x", "expected_version": 1 }),
        )
        .await;
    crate::helpers::assert_problem(hold, 403, "forbidden").await;
    let job = app
        .post_json(
            "/api/v1/bulk-jobs",
            &key,
            &serde_json::json!({ "action": "export", "query": "" }),
        )
        .await;
    crate::helpers::assert_problem(job, 403, "forbidden").await;

    // GraphQL: queries answer, mutations are FORBIDDEN.
    let answer: serde_json::Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "query": "mutation { releaseOrder(id: \"9500000000000000001\", expectedVersion: 1) { userErrors { code } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    let version: serde_json::Value = app
        .get("/api/v1/orders/9500000000000000001", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(version["version"], 1, "nothing changed");
}

/// A buyer's request awaiting the seller: the orders list's "Buyer requests" tab has the order,
/// its page says what the buyer asked and that TikTok waits for an answer, and its packing slip
/// is held back with that reason. Another shop's key sees none of it.
#[actix_web::test]
async fn a_buyers_request_awaiting_the_seller_is_listed_said_and_held_back() {
    let app = spawn_app().await;
    let key = app.shop_with_key(SHOP_A).await;
    let other = app.shop_with_key(SHOP_B).await;
    let (asked, calm) = ("9100000000000000031", "9100000000000000032");
    for id in [asked, calm] {
        order_at(&app, SHOP_A, id, OrderStatus::AwaitingShipment).await;
        detail_of(&app, SHOP_A, id, sample_detail("25.60", 1_700_000_100)).await;
    }
    request_of(
        &app,
        SHOP_A,
        asked,
        "c-31",
        "CANCELLATION_REQUEST_PENDING",
        1_700_000_200,
    )
    .await;
    let cookie = sign_in(&app, &key).await;

    let (status, list) = get(&app, &cookie, "/ui/orders?q=request%3Aopen").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        list.contains("aria-current=\"page\">Buyer requests"),
        "the tab is the view: {list}"
    );
    assert!(list.contains(&format!("/ui/orders/{asked}")), "{list}");
    assert!(!list.contains(&format!("/ui/orders/{calm}")), "{list}");

    let (_, page) = get(&app, &cookie, &format!("/ui/orders/{asked}")).await;
    assert!(
        page.contains("The buyer asked to cancel (CANCELLATION_REQUEST_PENDING")
            && page.contains("TikTok waits for the seller's answer"),
        "{page}"
    );
    assert!(
        page.contains("The buyer asked to cancel: CANCELLATION_REQUEST_PENDING"),
        "the timeline says it too: {page}"
    );
    let (_, calm_page) = get(&app, &cookie, &format!("/ui/orders/{calm}")).await;
    assert!(!calm_page.contains("TikTok waits for the seller"));

    let (_, slips) = get(
        &app,
        &cookie,
        &format!("/ui/packing-slips?ids={asked},{calm}"),
    )
    .await;
    assert!(
        slips.contains("<p class=\"hold\">The buyer asked to cancel (CANCELLATION_REQUEST_PENDING): answer it before shipping</p>"),
        "{slips}"
    );
    assert!(slips.contains("1 order to pack"), "{slips}");

    let theirs = sign_in(&app, &other).await;
    let (_, list) = get(&app, &theirs, "/ui/orders?q=request%3Aopen").await;
    assert!(!list.contains(&format!("/ui/orders/{asked}")), "{list}");

    // The page offers the answers. Another shop's session cannot give one; a rejection needs
    // a reason; an approval TikTok refuses (this daemon has no TikTok app) is said, and the
    // request still waits for an answer.
    assert!(
        page.contains(&format!("action=\"/ui/orders/{asked}/approve\""))
            && page.contains("name=\"request\" value=\"c-31\""),
        "{page}"
    );
    let token = csrf(&page);
    let version = page.split("name=\"version\" value=\"").nth(1).unwrap();
    let version = version.split('"').next().unwrap();
    let path = format!("/ui/orders/{asked}/approve");
    let answer = [
        ("csrf", token.as_str()),
        ("version", version),
        ("request", "c-31"),
    ];
    let (_, their_page) = get(&app, &theirs, "/ui/orders").await;
    let their_token = csrf(&their_page);
    let their_answer = [
        ("csrf", their_token.as_str()),
        ("version", version),
        ("request", "c-31"),
    ];
    let refused = post(&app, &theirs, &path, &their_answer).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let unreasoned = post(
        &app,
        &cookie,
        &format!("/ui/orders/{asked}/reject"),
        &answer,
    )
    .await;
    let (_, said) = get(&app, &cookie, &location(&unreasoned)).await;
    assert!(
        said.contains("a rejection needs TikTok&#39;s reject reason code"),
        "{said}"
    );
    let approved = post(&app, &cookie, &path, &answer).await;
    let (_, said) = get(&app, &cookie, &location(&approved)).await;
    assert!(said.contains("TikTok refused the answer"), "{said}");
    assert!(
        said.contains("Approved the buyer&#39;s cancellation request c-31")
            && said.contains("TikTok refused the answer to c-31"),
        "the timeline has both: {said}"
    );
    assert!(
        said.contains("TikTok waits for the seller's answer"),
        "{said}"
    );

    // An answer TikTok took but has not confirmed by webhook yet (or one a crash cut off before
    // it reached TikTok): said as such, and the answers stay on offer, since the same one again
    // changes nothing at TikTok.
    let version: i64 = said
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap()
        .parse()
        .unwrap();
    let pending = creatorflow::domain::AfterSale {
        kind: creatorflow::domain::AfterSaleKind::Cancellation,
        id: "c-31".into(),
        status: "CANCELLATION_REQUEST_PENDING".into(),
        role: Some("BUYER".into()),
        return_type: None,
        time: 1_700_000_200,
    };
    let envelope = creatorflow::actors::Envelope {
        msg: creatorflow::domain::Msg::AnswerRequest {
            answer: Box::new(pending.answer(true, None).unwrap()),
            expected_version: version,
        },
        cause: creatorflow::domain::Cause::User("glow-ops".into()),
        inbox: None,
    };
    app.registry
        .submit(
            creatorflow::domain::OrderId::parse(asked).unwrap(),
            envelope,
        )
        .await
        .unwrap();
    let (_, page) = get(&app, &cookie, &format!("/ui/orders/{asked}")).await;
    assert!(
        page.contains(
            "Approved the buyer&#39;s cancellation request c-31; TikTok has not confirmed it yet"
        ),
        "{page}"
    );
    assert!(
        !page.contains("TikTok waits for the seller's answer"),
        "{page}"
    );
    assert!(page.contains(&format!("action=\"/ui/orders/{asked}/approve\"")));
}
