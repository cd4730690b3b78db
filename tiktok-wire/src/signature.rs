//! TikTok's two HMAC-SHA256 recipes: the webhook signature (`Authorization` header) and the
//! request signature of the 202309 API (`sign` query parameter). Both are lowercase hex.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// The signature TikTok puts in a webhook's `Authorization` header:
/// `hex(HMAC-SHA256(key = app_secret, message = app_key ‖ raw body))`.
pub fn webhook_signature(app_key: &str, app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = mac(app_secret);
    mac.update(app_key.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `header` is the webhook signature of `body`, compared in constant time. The raw bytes
/// are what is signed: the body must not have been parsed and re-serialised.
pub fn verify_webhook(app_key: &str, app_secret: &[u8], body: &[u8], header: &[u8]) -> bool {
    WebhookVerifier::new(app_key, app_secret).verify(body, header)
}

/// An app's webhook signatures, checked with the key prepared once: HMAC's key schedule (two
/// SHA-256 blocks) and the app key in front of the body are done when the credentials are read,
/// and each webhook costs only its body's blocks and the tag's. The header is read as the 32
/// bytes its 64 lowercase hex digits stand for and compared to the tag in constant time, so no
/// hex string is made for each webhook either.
#[derive(Clone)]
pub struct WebhookVerifier {
    keyed: HmacSha256,
}

impl WebhookVerifier {
    pub fn new(app_key: &str, app_secret: &[u8]) -> Self {
        let mut keyed = mac(app_secret);
        keyed.update(app_key.as_bytes());
        Self { keyed }
    }

    /// Whether `header` (surrounding whitespace aside) is the signature of `body`.
    pub fn verify(&self, body: &[u8], header: &[u8]) -> bool {
        let Some(given) = lowercase_hex::<32>(header.trim_ascii()) else {
            return false;
        };
        let mut mac = self.keyed.clone();
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&given).is_ok()
    }
}

/// The `N` bytes written as `2N` lowercase hex digits (what TikTok sends; anything else is not
/// a signature it made).
fn lowercase_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    let mut bytes = [0; N];
    let lowercase = !text.iter().any(u8::is_ascii_uppercase);
    (lowercase && hex::decode_to_slice(text, &mut bytes).is_ok()).then_some(bytes)
}

/// The `sign` query parameter of a 202309 API request:
/// 1. every query parameter but `sign` and `access_token`, sorted by key, as `{key}{value}…`;
/// 2. the path in front, the raw body bytes (exactly as sent; none for GET) behind;
/// 3. wrapped in the app secret on both sides, HMAC-SHA256 keyed with the app secret.
pub fn request_signature(
    app_secret: &[u8],
    path: &str,
    query: &[(&str, &str)],
    body: Option<&[u8]>,
) -> String {
    let mut params: Vec<&(&str, &str)> = query
        .iter()
        .filter(|(k, _)| !matches!(*k, "sign" | "access_token" | "x-tts-access-token"))
        .collect();
    params.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut mac = mac(app_secret);
    mac.update(app_secret);
    mac.update(path.as_bytes());
    for (k, v) in params {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    if let Some(body) = body {
        mac.update(body);
    }
    mac.update(app_secret);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official vector of TikTok's webhook overview.
    const OFFICIAL_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;

    #[test]
    fn webhook_signature_matches_the_official_vector() {
        assert_eq!(
            webhook_signature("abcdef", b"123", OFFICIAL_BODY.as_bytes()),
            "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"
        );
    }

    #[test]
    fn webhook_signature_matches_the_ecomphp_sample() {
        let body = r#"{"type":1,"shop_id":"7494726673780148744","timestamp":1664095733,"data":{"order_id":"576684019603311365","order_status":"AWAITING_SHIPMENT","update_time":1664095610}}"#;
        assert_eq!(
            webhook_signature("fake_app_key", b"fake_app_secret", body.as_bytes()),
            "21109834de72ec53c9959716d8514ae388ce1f123e5ffdcafc46713fcdf62b27"
        );
    }

    #[test]
    fn verification_takes_the_exact_signature_of_the_exact_bytes() {
        let good = b"5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";
        let body = OFFICIAL_BODY.as_bytes();
        assert!(verify_webhook("abcdef", b"123", body, good));
        assert!(verify_webhook(
            "abcdef",
            b"123",
            body,
            b" 5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05\n"
        ));
        // Uppercase, truncated, another secret, another key, a re-serialised body: all refused.
        assert!(!verify_webhook(
            "abcdef",
            b"123",
            body,
            &good.to_ascii_uppercase()
        ));
        assert!(!verify_webhook("abcdef", b"123", body, &good[..63]));
        assert!(!verify_webhook("abcdef", b"124", body, good));
        assert!(!verify_webhook("abcdeg", b"123", body, good));
        let reserialised =
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(body).unwrap())
                .unwrap();
        assert!(!verify_webhook("abcdef", b"123", &reserialised, good));
        assert!(!verify_webhook("abcdef", b"123", body, b""));
        assert!(!verify_webhook(
            "abcdef",
            b"123",
            body,
            &[good.as_slice(), b"00"].concat()
        ));
        let mut not_hex = *good;
        not_hex[10] = b'g';
        assert!(!verify_webhook("abcdef", b"123", body, &not_hex));
    }

    #[test]
    fn a_prepared_verifier_checks_every_webhook_as_the_first() {
        let verifier = WebhookVerifier::new("fake_app_key", b"fake_app_secret");
        let sample = br#"{"type":1,"shop_id":"7494726673780148744","timestamp":1664095733,"data":{"order_id":"576684019603311365","order_status":"AWAITING_SHIPMENT","update_time":1664095610}}"#;
        let tag = b"21109834de72ec53c9959716d8514ae388ce1f123e5ffdcafc46713fcdf62b27";
        for _ in 0..3 {
            assert!(verifier.verify(sample, tag));
            assert!(!verifier.verify(OFFICIAL_BODY.as_bytes(), tag));
        }
        let mut flipped = *tag;
        flipped[63] = b'6';
        assert!(!verifier.verify(sample, &flipped));
    }

    #[test]
    fn request_signature_matches_the_official_worked_example() {
        let sign = request_signature(
            b"e59af819cc",
            "/authorization/202309/shops",
            &[("timestamp", "1623812664"), ("app_key", "29a39d")],
            None,
        );
        assert_eq!(
            sign,
            "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
        );
    }

    #[test]
    fn request_signature_matches_the_ecomphp_test() {
        let sign = request_signature(b"app_secret", "/test-api", &[("foo", "bar")], None);
        assert_eq!(
            sign,
            "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f"
        );
    }

    #[test]
    fn request_signature_covers_the_body_and_leaves_out_sign_and_token() {
        let query = [
            ("app_key", "29a39d"),
            ("timestamp", "1623812664"),
            ("shop_cipher", "ROW_abc123"),
            ("page_size", "50"),
            ("sort_field", "update_time"),
            ("sort_order", "ASC"),
        ];
        let body = br#"{"order_status":"AWAITING_SHIPMENT","update_time_ge":1623800000,"update_time_lt":1623812664}"#;
        let sign = request_signature(
            b"e59af819cc",
            "/order/202309/orders/search",
            &query,
            Some(body),
        );
        assert_eq!(
            sign,
            "3863d2648210b4996bd55a16e309d1f33b486c7ac8de7969cbde9d650d96b6b3"
        );
        let mut with_extras = query.to_vec();
        with_extras.push(("sign", "whatever"));
        with_extras.push(("access_token", "tok"));
        assert_eq!(
            request_signature(
                b"e59af819cc",
                "/order/202309/orders/search",
                &with_extras,
                Some(body)
            ),
            sign
        );
        let detail = request_signature(
            b"e59af819cc",
            "/order/202309/orders",
            &[
                ("app_key", "29a39d"),
                ("timestamp", "1623812664"),
                ("shop_cipher", "ROW_abc123"),
                ("ids", "576486316948490001,576486316948490002"),
            ],
            None,
        );
        assert_eq!(
            detail,
            "59dd0085a19b04decd65e1ee11db48af6ba06d5ecad16de31bbed0acf3f6d01d"
        );
    }
}
