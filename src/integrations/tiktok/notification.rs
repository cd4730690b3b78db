//! A TikTok Shop webhook, parsed leniently from its raw bytes into domain terms.
//!
//! TikTok's payloads vary between documentation and reality: ids arrive as strings or as JSON
//! numbers (beyond 2^53, so never through a float), `tts_notification_id` and `shop_id` may be
//! missing, statuses are an open set, and times may be numbers or numeric strings. What cannot be
//! understood is [`Malformed`], with a reason fit to show a person; nothing here drops data.

use compact_str::{CompactString, format_compact};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::domain::{AfterSale, AfterSaleKind, OrderId, OrderStatus, ShopId};
use tiktok_wire::lenient::{Id, Lenient};

/// Longest dedupe key the inbox stores; longer keys are hashed.
pub const MAX_DEDUPE_KEY: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// TikTok's numeric topic (`type`).
    pub event_type: i64,
    /// `tts:<tts_notification_id>`, else `sha256:<hash of the raw body>`.
    pub dedupe_key: CompactString,
    pub shop_id: Option<ShopId>,
    pub topic: Topic,
}

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// 1 ORDER_STATUS_CHANGE: a new order or a new status.
    OrderStatus {
        order_id: OrderId,
        status: OrderStatus,
        update_time: i64,
    },
    /// 3 RECIPIENT_ADDRESS_UPDATE and 4 PACKAGE_UPDATE: the order's detail changed.
    DetailChanged {
        order_ids: Vec<OrderId>,
        update_time: i64,
    },
    /// 11 CANCELLATION_STATUS_CHANGE and 12 RETURN_STATUS_CHANGE.
    AfterSale {
        order_id: OrderId,
        update: AfterSale,
    },
    /// 6 SELLER_DEAUTHORIZATION: stop calling TikTok for this shop.
    Deauthorized { message: Option<String> },
    /// 7 UPCOMING_AUTHORIZATION_EXPIRATION: the seller must authorise again before this time.
    AuthorizationExpiring { expires_at: Option<i64> },
    /// A type this build does not handle: stored, counted and acknowledged.
    Unhandled,
}

/// The types this build handles, with the `event_type` strings TikTok's subscription API uses.
const HANDLED: [(i64, &str); 7] = [
    (1, "ORDER_STATUS_CHANGE"),
    (3, "RECIPIENT_ADDRESS_UPDATE"),
    (4, "PACKAGE_UPDATE"),
    (6, "SELLER_DEAUTHORIZATION"),
    (7, "UPCOMING_AUTHORIZATION_EXPIRATION"),
    (11, "CANCELLATION_STATUS_CHANGE"),
    (12, "RETURN_STATUS_CHANGE"),
];

impl Topic {
    /// The `event_type` string TikTok's subscription API uses, for logs and metrics
    /// (`UNHANDLED` for a type this build does not handle).
    pub fn name(event_type: i64) -> &'static str {
        Self::handled_name(event_type).unwrap_or("UNHANDLED")
    }

    /// The name of `event_type` if this build handles it.
    pub fn handled_name(event_type: i64) -> Option<&'static str> {
        HANDLED
            .iter()
            .find(|(handled, _)| *handled == event_type)
            .map(|(_, name)| *name)
    }

    /// Every name [`Topic::name`] gives.
    pub fn names() -> impl Iterator<Item = &'static str> {
        HANDLED
            .iter()
            .map(|(_, name)| *name)
            .chain(std::iter::once("UNHANDLED"))
    }
}

/// Why a webhook body cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// The envelope; `data` is kept as the body's own bytes and read once its type says into what
/// (not built into a map of values first and read from that).
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    event_type: Option<Lenient<i64>>,
    tts_notification_id: Option<Id>,
    shop_id: Option<Id>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct OrderStatusData {
    order_id: Option<Id>,
    order_status: Option<String>,
    update_time: Option<Lenient<i64>>,
}

#[derive(Deserialize)]
struct DetailChangedData {
    order_id: Option<Id>,
    update_time: Option<Lenient<i64>>,
    #[serde(default)]
    package_list: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    #[serde(default)]
    order_id_list: Vec<Id>,
}

#[derive(Deserialize)]
struct AfterSaleData {
    order_id: Option<Id>,
    cancel_id: Option<Id>,
    cancel_status: Option<String>,
    cancellations_role: Option<String>,
    return_id: Option<Id>,
    return_status: Option<String>,
    return_role: Option<String>,
    return_type: Option<String>,
    create_time: Option<Lenient<i64>>,
    update_time: Option<Lenient<i64>>,
}

#[derive(Deserialize)]
struct ShopData {
    message: Option<String>,
    expiration_time: Option<Lenient<i64>>,
}

/// Parses a webhook body. `timestamp` (the envelope's push time) stands in for a missing
/// `update_time` only where TikTok documents none.
pub fn parse(body: &[u8]) -> Result<Notification, Malformed> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| Malformed(format!("the body is not a TikTok notification: {e}")))?;
    let event_type = envelope
        .event_type
        .ok_or_else(|| Malformed("`type` is missing".into()))?
        .0;
    let dedupe_key = match &envelope.tts_notification_id {
        Some(id) if !id.0.is_empty() => fit_key(format_compact!("tts:{}", id.0)),
        _ => format_compact!("sha256:{}", hex::encode(Sha256::digest(body))),
    };
    let shop_id = envelope
        .shop_id
        .map(|id| ShopId::parse(&id.0))
        .transpose()
        .map_err(|e| Malformed(e.to_string()))?;
    let topic = match event_type {
        1 => {
            let data: OrderStatusData = data(envelope.data)?;
            Topic::OrderStatus {
                order_id: order_id(data.order_id)?,
                status: OrderStatus::parse(
                    data.order_status
                        .as_deref()
                        .ok_or_else(|| Malformed("data.order_status is missing".into()))?,
                ),
                update_time: required(data.update_time, "data.update_time")?,
            }
        }
        3 | 4 => {
            let data: DetailChangedData = data(envelope.data)?;
            let mut order_ids = Vec::new();
            for id in data
                .order_id
                .into_iter()
                .chain(data.package_list.into_iter().flat_map(|p| p.order_id_list))
            {
                let id = order_id(Some(id))?;
                if !order_ids.contains(&id) {
                    order_ids.push(id);
                }
            }
            if order_ids.is_empty() {
                return Err(Malformed("data names no order_id".into()));
            }
            Topic::DetailChanged {
                order_ids,
                update_time: required(data.update_time, "data.update_time")?,
            }
        }
        11 | 12 => {
            let data: AfterSaleData = data(envelope.data)?;
            let cancellation = event_type == 11;
            let (kind, id, status, role) = if cancellation {
                let d = (data.cancel_id, data.cancel_status, data.cancellations_role);
                (AfterSaleKind::Cancellation, d.0, d.1, d.2)
            } else {
                let d = (data.return_id, data.return_status, data.return_role);
                (AfterSaleKind::Return, d.0, d.1, d.2)
            };
            let field = if cancellation { "cancel" } else { "return" };
            let time = data.update_time.or(data.create_time);
            Topic::AfterSale {
                order_id: order_id(data.order_id)?,
                update: AfterSale {
                    kind,
                    id: id
                        .map(|i| i.0)
                        .ok_or_else(|| Malformed(format!("data.{field}_id is missing")))?,
                    status: status
                        .ok_or_else(|| Malformed(format!("data.{field}_status is missing")))?,
                    role,
                    return_type: data.return_type,
                    time: required(time, "data.update_time or data.create_time")?,
                },
            }
        }
        6 => Topic::Deauthorized {
            message: data::<ShopData>(envelope.data)?.message,
        },
        7 => Topic::AuthorizationExpiring {
            expires_at: data::<ShopData>(envelope.data)?
                .expiration_time
                .map(|t| t.0),
        },
        _ => Topic::Unhandled,
    };
    let needs_shop = !matches!(topic, Topic::Unhandled);
    if needs_shop && shop_id.is_none() {
        return Err(Malformed("shop_id is missing".into()));
    }
    Ok(Notification {
        event_type,
        dedupe_key: fit_key(dedupe_key),
        shop_id,
        topic,
    })
}

impl Notification {
    /// The dedupe key of this notification's effect on one of its orders (a package update can
    /// name several).
    pub fn dedupe_key_for(&self, order: &OrderId, of: usize) -> CompactString {
        if of <= 1 {
            self.dedupe_key.clone()
        } else {
            fit_key(format_compact!("{}#{}", self.dedupe_key, order))
        }
    }
}

fn fit_key(key: CompactString) -> CompactString {
    if key.len() <= MAX_DEDUPE_KEY {
        key
    } else {
        format_compact!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

fn data<T: for<'de> Deserialize<'de>>(
    raw: Option<&serde_json::value::RawValue>,
) -> Result<T, Malformed> {
    // A raw value is valid JSON with no whitespace around it: an object starts with `{`.
    let Some(raw) = raw.filter(|raw| raw.get().starts_with('{')) else {
        return Err(Malformed("`data` must be an object".into()));
    };
    serde_json::from_str(raw.get()).map_err(|e| Malformed(format!("data: {e}")))
}

fn order_id(id: Option<Id>) -> Result<OrderId, Malformed> {
    let id = id.ok_or_else(|| Malformed("data.order_id is missing".into()))?;
    OrderId::parse(&id.0).map_err(|e| Malformed(e.to_string()))
}

fn required(value: Option<Lenient<i64>>, name: &str) -> Result<i64, Malformed> {
    value
        .map(|v| v.0)
        .ok_or_else(|| Malformed(format!("{name} is missing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_change(id: &str) -> Topic {
        Topic::OrderStatus {
            order_id: OrderId::parse(id).unwrap(),
            status: OrderStatus::Unpaid,
            update_time: 1718305585,
        }
    }

    #[test]
    fn parses_the_official_sample() {
        let body = br#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.event_type, 1);
        assert_eq!(n.dedupe_key, "tts:7380066284010030890");
        assert_eq!(n.shop_id.unwrap().as_str(), "7495540735365777507");
        assert_eq!(n.topic, status_change("576653688135258178"));
    }

    #[test]
    fn data_is_read_wherever_the_whitespace_falls() {
        let body = b"{ \"type\" : 1 , \"shop_id\":\"1\", \"data\" :\n\t{ \"order_id\" : \"576\", \"order_status\":\"UNPAID\",\"update_time\":1718305585 } \n}";
        assert_eq!(parse(body).unwrap().topic, status_change("576"));
        for data in ["", r#","data":null"#, r#","data":[]"#, r#","data":" {}""#] {
            let body = format!(r#"{{"type":1,"shop_id":"1"{data}}}"#);
            assert_eq!(
                parse(body.as_bytes()).unwrap_err().0,
                "`data` must be an object",
                "{body}"
            );
        }
    }

    #[test]
    fn numeric_ids_beyond_2_pow_53_stay_exact() {
        let body = br#"{"type":1,"shop_id":7495540735365777507,"data":{"order_id":576653688135258179,"order_status":"UNPAID","update_time":"1718305585"}}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.shop_id.unwrap().as_str(), "7495540735365777507");
        assert_eq!(n.topic, status_change("576653688135258179"));
        // Without a notification id, the body's hash dedupes.
        assert_eq!(n.dedupe_key.len(), "sha256:".len() + 64);
        let too_big = br#"{"type":1,"shop_id":"1","data":{"order_id":123456789012345678901234,"order_status":"UNPAID","update_time":1}}"#;
        assert!(
            parse(too_big)
                .unwrap_err()
                .0
                .contains("send it as a string")
        );
    }

    #[test]
    fn cancel_and_unknown_statuses_are_read_openly() {
        let body = br#"{"type":1,"shop_id":"1","data":{"order_id":"2","order_status":"CANCEL","update_time":5}}"#;
        let Topic::OrderStatus { status, .. } = parse(body).unwrap().topic else {
            panic!("a status change");
        };
        assert_eq!(status, OrderStatus::Cancelled);
        let body = br#"{"type":1,"shop_id":"1","data":{"order_id":"2","order_status":"TELEPORTED","update_time":5}}"#;
        let Topic::OrderStatus { status, .. } = parse(body).unwrap().topic else {
            panic!("a status change");
        };
        assert_eq!(status.as_str(), "TELEPORTED");
    }

    #[test]
    fn a_package_update_names_each_order_once() {
        let body = br#"{"type":4,"tts_notification_id":"9","shop_id":"1","data":{"sc_type":"SPLIT","role_type":"ROLE_SELLER","package_list":[{"package_id":"p1","order_id_list":["11","12"]},{"package_id":"p2","order_id_list":[11]}],"update_time":7}}"#;
        let n = parse(body).unwrap();
        let Topic::DetailChanged {
            order_ids,
            update_time,
        } = &n.topic
        else {
            panic!("a detail change");
        };
        assert_eq!(
            order_ids.iter().map(OrderId::as_str).collect::<Vec<_>>(),
            ["11", "12"]
        );
        assert_eq!(*update_time, 7);
        assert_eq!(n.dedupe_key_for(&order_ids[1], 2), "tts:9#12");
        assert_eq!(n.dedupe_key_for(&order_ids[0], 1), "tts:9");
    }

    #[test]
    fn after_sales_and_shop_topics() {
        let body = br#"{"type":11,"tts_notification_id":"3","shop_id":"1","data":{"order_id":"2","cancellations_role":"BUYER","cancel_status":"CANCELLATION_REQUEST_PENDING","cancel_id":"77","create_time":100}}"#;
        let Topic::AfterSale { order_id, update } = parse(body).unwrap().topic else {
            panic!("an after-sale update");
        };
        assert_eq!(order_id.as_str(), "2");
        assert_eq!(update.kind, AfterSaleKind::Cancellation);
        assert_eq!((update.id.as_str(), update.time), ("77", 100));
        assert_eq!(update.role.as_deref(), Some("BUYER"));
        let body =
            br#"{"type":7,"shop_id":"1","data":{"message":"soon","expiration_time":"1700000000"}}"#;
        assert_eq!(
            parse(body).unwrap().topic,
            Topic::AuthorizationExpiring {
                expires_at: Some(1_700_000_000)
            }
        );
        let body = br#"{"type":6,"shop_id":"1","data":{"message":"bye"}}"#;
        assert_eq!(
            parse(body).unwrap().topic,
            Topic::Deauthorized {
                message: Some("bye".into())
            }
        );
    }

    #[test]
    fn unknown_types_parse_and_bad_bodies_say_why() {
        let n = parse(br#"{"type":42,"data":{"whatever":1}}"#).unwrap();
        assert_eq!(n.topic, Topic::Unhandled);
        for (body, why) in [
            (&b"not json"[..], "not a TikTok notification"),
            (br#"[1,2]"#, "not a TikTok notification"),
            (br#"{"data":{}}"#, "`type` is missing"),
            (br#"{"type":1,"shop_id":"1","data":{"order_status":"UNPAID","update_time":1}}"#, "data.order_id is missing"),
            (br#"{"type":1,"data":{"order_id":"2","order_status":"UNPAID","update_time":1}}"#, "shop_id is missing"),
            (br#"{"type":1,"shop_id":"1","data":{"order_id":"2","order_status":"UNPAID"}}"#, "data.update_time is missing"),
            (br#"{"type":1,"shop_id":"1","data":"x"}"#, "must be an object"),
            (br#"{"type":1,"shop_id":"1","data":{"order_id":"a b","order_status":"UNPAID","update_time":1}}"#, "not an order id"),
        ] {
            let err = parse(body).unwrap_err();
            assert!(err.0.contains(why), "{} → {err}", String::from_utf8_lossy(body));
        }
    }
}
