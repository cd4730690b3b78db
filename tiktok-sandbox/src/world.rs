//! The sandbox's state: shops, sellers' auth codes and tokens, and orders that move through
//! TikTok's statuses. Plain data and rules, no I/O: the API and the simulation lock it briefly.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use serde_json::{Value, json};

use crate::requests::SimRequest;
use tiktok_wire::code;
use tiktok_wire::lenient::{Id, Lenient};
use tiktok_wire::order::{WireLineItem, WireOrder, WirePackage, WirePayment};
use tiktok_wire::shop::{TokenGrant, WireShop};

pub struct World {
    pub shops: BTreeMap<String, SimShop>,
    pub orders: BTreeMap<String, SimOrder>,
    auth_codes: HashMap<String, String>,
    access: HashMap<String, Grant>,
    refresh: HashMap<String, Grant>,
    /// Lifetime of new access tokens, seconds.
    pub access_ttl: i64,
    next: u64,
    /// Webhook bodies waiting for the pusher.
    pub outbox: Vec<Vec<u8>>,
    /// Calls received, by path pattern, for tests and the demo's log.
    pub calls: HashMap<String, u64>,
    /// Every call's path pattern, in order of arrival.
    pub call_log: Vec<String>,
    /// Failures the next calls get: for any path (`None`) or for one path pattern.
    pub faults: Vec<(Option<String>, Fault)>,
    /// Orders whose package was shipped (Ship Package), in the order the calls came.
    pub ship_log: Vec<String>,
    /// Labels of the label API stand-in, by idempotency key.
    pub labels: HashMap<String, super::labels::IssuedLabel>,
    /// Buyers' cancellation and return requests, by id (`requests`).
    pub requests: BTreeMap<String, SimRequest>,
    /// The seller's answers to them, by idempotency key.
    pub answers: HashMap<String, Value>,
}

#[derive(Clone)]
struct Grant {
    shop_id: String,
    expires_at: i64,
}

pub struct SimShop {
    pub id: String,
    pub name: String,
    pub region: String,
    pub cipher: String,
}

pub struct SimOrder {
    pub shop_id: String,
    pub wire: WireOrder,
    pub cancel_ids: Vec<String>,
}

/// A failure the next call gets, to prove the client's retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 503 without TikTok's envelope.
    Unavailable,
    /// HTTP 429 with code 36009002.
    Throttled,
}

/// Why a token is not accepted.
pub enum TokenProblem {
    Unknown,
    Expired,
}

impl World {
    pub fn new(access_ttl: i64) -> Self {
        Self {
            shops: BTreeMap::new(),
            orders: BTreeMap::new(),
            auth_codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            access_ttl,
            next: 0,
            outbox: Vec::new(),
            calls: HashMap::new(),
            call_log: Vec::new(),
            faults: Vec::new(),
            labels: HashMap::new(),
            ship_log: Vec::new(),
            requests: BTreeMap::new(),
            answers: HashMap::new(),
        }
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Adds a shop and returns an auth code its seller could hand over.
    pub fn add_shop(&mut self, id: &str, name: &str) -> String {
        self.shops.insert(
            id.to_owned(),
            SimShop {
                id: id.to_owned(),
                name: name.to_owned(),
                region: "US".into(),
                cipher: format!(
                    "ROW_{}",
                    &hex::encode(id.as_bytes())[..12.min(id.len() * 2)]
                ),
            },
        );
        self.issue_auth_code(id)
    }

    /// A single-use auth code for the shop's seller.
    pub fn issue_auth_code(&mut self, shop_id: &str) -> String {
        let code = format!("AC{}", hex::encode(rand::random::<[u8; 12]>()));
        self.auth_codes.insert(code.clone(), shop_id.to_owned());
        code
    }

    pub fn exchange_code(&mut self, code: &str) -> Option<TokenGrant> {
        let shop_id = self.auth_codes.remove(code)?;
        Some(self.grant(shop_id))
    }

    pub fn refresh(&mut self, token: &str) -> Result<TokenGrant, TokenProblem> {
        let grant = self
            .refresh
            .get(token)
            .cloned()
            .ok_or(TokenProblem::Unknown)?;
        if grant.expires_at <= Utc::now().timestamp() {
            return Err(TokenProblem::Expired);
        }
        self.refresh.remove(token);
        Ok(self.grant(grant.shop_id))
    }

    fn grant(&mut self, shop_id: String) -> TokenGrant {
        let now = Utc::now().timestamp();
        let access = format!("TTP_{}", hex::encode(rand::random::<[u8; 16]>()));
        let refresh = format!("TTR_{}", hex::encode(rand::random::<[u8; 16]>()));
        let (access_at, refresh_at) = (now + self.access_ttl, now + 365 * 86_400);
        self.access.insert(
            access.clone(),
            Grant {
                shop_id: shop_id.clone(),
                expires_at: access_at,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            Grant {
                shop_id: shop_id.clone(),
                expires_at: refresh_at,
            },
        );
        TokenGrant {
            access_token: access,
            access_token_expire_in: access_at,
            refresh_token: refresh,
            refresh_token_expire_in: refresh_at,
            open_id: Some(format!("open_{shop_id}")),
            seller_name: self.shops.get(&shop_id).map(|s| s.name.clone()),
        }
    }

    /// The shop an access token belongs to.
    pub fn token_shop(&self, token: &str) -> Result<&SimShop, TokenProblem> {
        let grant = self.access.get(token).ok_or(TokenProblem::Unknown)?;
        if grant.expires_at <= Utc::now().timestamp() {
            return Err(TokenProblem::Expired);
        }
        self.shops.get(&grant.shop_id).ok_or(TokenProblem::Unknown)
    }

    /// Makes every access token expire now (TikTok will answer 105002).
    pub fn expire_access_tokens(&mut self) {
        let past = Utc::now().timestamp() - 1;
        for grant in self.access.values_mut() {
            grant.expires_at = past;
        }
    }

    pub fn wire_shop(shop: &SimShop) -> WireShop {
        WireShop {
            id: Id(shop.id.clone()),
            name: shop.name.clone(),
            region: Some(shop.region.clone()),
            code: Some(format!("US{}", &shop.id[..4.min(shop.id.len())])),
            cipher: Some(shop.cipher.clone()),
            seller_type: Some("LOCAL".into()),
        }
    }

    /// A new UNPAID order of `units` line items (two SKUs), priced so that TikTok's payment
    /// identities hold; announced by webhook if `push`.
    pub fn create_order(&mut self, shop_id: &str, units: usize, push: bool) -> String {
        let n = self.next_id();
        let now = Utc::now().timestamp();
        let id = format!("5766{:014}", n);
        let unit_cents = 1_000 + (n % 7) as i64 * 250;
        let line_items = (0..units.max(1))
            .map(|i| WireLineItem {
                id: Id(format!("{id}{i:02}")),
                sku_id: Id(format!("172938225691027{:04}", i % 2)),
                product_id: Some(Id("1729382256910270001".into())),
                product_name: Some(if i % 2 == 0 { "Glow serum" } else { "Lip tint" }.into()),
                sku_name: None,
                seller_sku: Some(format!("SKU-{}", i % 2)),
                sale_price: Some(cents(unit_cents)),
                original_price: Some(cents(unit_cents)),
                currency: Some("USD".into()),
                display_status: Some("UNPAID".into()),
                package_id: None,
            })
            .collect::<Vec<_>>();
        let original = unit_cents * line_items.len() as i64;
        let (seller_discount, platform_discount, shipping, tax) = (100, 50, 399, 120);
        let sub_total = original - seller_discount - platform_discount;
        let payment = WirePayment {
            currency: Some("USD".into()),
            original_total_product_price: Some(cents(original)),
            seller_discount: Some(cents(seller_discount)),
            platform_discount: Some(cents(platform_discount)),
            sub_total: Some(cents(sub_total)),
            shipping_fee: Some(cents(shipping)),
            original_shipping_fee: Some(cents(shipping)),
            shipping_fee_seller_discount: Some(cents(0)),
            shipping_fee_platform_discount: Some(cents(0)),
            tax: Some(cents(tax)),
            total_amount: Some(cents(sub_total + shipping + tax)),
            retail_delivery_fee: None,
        };
        let wire = WireOrder {
            id: Id(id.clone()),
            status: "UNPAID".into(),
            create_time: Some(Lenient(now)),
            update_time: Lenient(now),
            payment: Some(payment),
            line_items,
            recipient_address: Some(json!({
                "name": "A. Buyer", "phone_number": "(+1)415*****53",
                "address_line1": "1 Market St", "address_line2": "Suite 300",
                "postal_code": "94107", "region_code": "US",
                "full_address": "1 Market St, Suite 300, San Francisco, California 94107, United States",
                "district_info": [
                    {"address_level": "L0", "address_level_name": "Country", "address_name": "United States"},
                    {"address_level": "L1", "address_level_name": "State", "address_name": "California"},
                    {"address_level": "L2", "address_level_name": "County", "address_name": "San Francisco"},
                    {"address_level": "L3", "address_level_name": "City", "address_name": "San Francisco"},
                ],
            })),
            rts_sla_time: Some(Lenient(now + 2 * 86_400)),
            tts_sla_time: Some(Lenient(now + 4 * 86_400)),
            delivery_sla_time: Some(Lenient(now + 7 * 86_400)),
            packages: vec![WirePackage {
                id: Id(format!("11529{:014}", n)),
            }],
            shipping_type: Some("TIKTOK".into()),
            tracking_number: None,
            buyer_message: None,
            order_type: Some("NORMAL".into()),
            release_date: None,
        };
        self.orders.insert(
            id.clone(),
            SimOrder {
                shop_id: shop_id.to_owned(),
                wire,
                cancel_ids: Vec::new(),
            },
        );
        if push {
            self.announce_status(&id);
        }
        id
    }

    /// Moves an order to `status` (its `update_time` becomes now, or one second later than
    /// before); announced by webhook if `push`.
    pub fn set_status(&mut self, order_id: &str, status: &str, push: bool) -> bool {
        let Some(order) = self.orders.get_mut(order_id) else {
            return false;
        };
        let now = Utc::now().timestamp().max(order.wire.update_time.0 + 1);
        order.wire.status = status.to_owned();
        order.wire.update_time = Lenient(now);
        for item in &mut order.wire.line_items {
            item.display_status = Some(status.to_owned());
        }
        if push {
            self.announce_status(order_id);
        }
        true
    }

    /// Ship Package for `package_id` of `shop_id`: its order goes to AWAITING_COLLECTION
    /// (announced); refused with TikTok's code and message if there is no such package or its
    /// order is not waiting to ship.
    pub fn ship_package(&mut self, shop_id: &str, package_id: &str) -> Result<(), (i64, String)> {
        let found = self
            .orders
            .iter()
            .find(|(_, o)| {
                o.shop_id == shop_id && o.wire.packages.iter().any(|p| p.id.0 == package_id)
            })
            .map(|(id, o)| (id.clone(), o.wire.status.clone()));
        match found {
            None => Err((code::PACKAGE_NOT_FOUND, "package not found".into())),
            Some((order_id, status)) if status == "AWAITING_SHIPMENT" => {
                self.ship_log.push(order_id.clone());
                self.set_status(&order_id, "AWAITING_COLLECTION", true);
                Ok(())
            }
            Some((_, status)) => Err((
                code::PACKAGE_NOT_SHIPPABLE,
                format!("package cannot be shipped: order is {status}"),
            )),
        }
    }

    /// Queues the ORDER_STATUS_CHANGE webhook of the order's current status.
    pub fn announce_status(&mut self, order_id: &str) {
        let n = self.next_id();
        let Some(order) = self.orders.get(order_id) else {
            return;
        };
        let body = json!({
            "type": 1,
            "tts_notification_id": format!("73800662840{:08}", n),
            "shop_id": order.shop_id,
            "timestamp": Utc::now().timestamp(),
            "data": {
                "order_id": order_id,
                "order_status": order.wire.status,
                "is_on_hold_order": false,
                "update_time": order.wire.update_time.0,
            },
        });
        self.outbox.push(body.to_string().into_bytes());
    }

    /// Search Orders: the shop's orders in the update-time window, oldest update first, paged
    /// by an opaque token.
    pub fn search(
        &self,
        shop_id: &str,
        filter: &Value,
        page_size: usize,
        offset: usize,
    ) -> (Vec<WireOrder>, Option<usize>, usize) {
        let bound = |key: &str| filter.get(key).and_then(Value::as_i64);
        let (ge, lt) = (bound("update_time_ge"), bound("update_time_lt"));
        let status = filter.get("order_status").and_then(Value::as_str);
        let mut matching: Vec<&SimOrder> = self
            .orders
            .values()
            .filter(|o| o.shop_id == shop_id)
            .filter(|o| ge.is_none_or(|ge| o.wire.update_time.0 >= ge))
            .filter(|o| lt.is_none_or(|lt| o.wire.update_time.0 < lt))
            .filter(|o| status.is_none_or(|s| o.wire.status == s))
            .collect();
        matching.sort_by(|a, b| {
            (a.wire.update_time.0, &a.wire.id.0).cmp(&(b.wire.update_time.0, &b.wire.id.0))
        });
        let total = matching.len();
        let page: Vec<WireOrder> = matching
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|o| o.wire.clone())
            .collect();
        let next = (offset + page.len() < total).then_some(offset + page.len());
        (page, next, total)
    }
}

fn cents(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}
