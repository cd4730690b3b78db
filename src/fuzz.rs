//! The fuzz targets: what hostile bytes may never do to the four readers of outside input (a
//! webhook's body, its signature, a search, a workflow template). Each takes arbitrary bytes
//! and panics only when one of its invariants breaks: a panic is a finding. Two drivers share
//! them: `fuzz/` (cargo-fuzz, libFuzzer, for long runs on nightly) and the test suite's short
//! run (`tests/api/fuzz.rs`: every seed of `fuzz/corpus/`, then proptest's mutations of them).

use secrecy::SecretString;

use crate::domain::Search;
use crate::integrations::tiktok::App;
use crate::integrations::tiktok::notification::{self, Malformed};
use crate::workflow::Catalog;

/// The app the signature target signs and verifies as.
const APP_KEY: &str = "6bhs2ofbcd3ul";
const APP_SECRET: &str = "a0a7b34f3bd7d5e3a5fe9b0b7e5d8d39";

/// A webhook body: a notification (deterministic, with a bounded dedupe key and known
/// ids) or [`Malformed`] with a reason to show, never a panic.
pub fn webhook(body: &[u8]) {
    match notification::parse(body) {
        Ok(notification) => {
            let key = &notification.dedupe_key;
            assert!(
                key.starts_with("tts:") || key.starts_with("sha256:"),
                "dedupe key {key:?}"
            );
            assert!(
                key.len() <= notification::MAX_DEDUPE_KEY,
                "dedupe key {key:?}"
            );
            assert_eq!(notification::parse(body).as_ref(), Ok(&notification));
        }
        Err(Malformed(reason)) => assert!(!reason.trim().is_empty(), "a reason is given"),
    }
}

/// An `Authorization` header and a body (the first byte says how long the header is): the
/// header is accepted exactly when it is the body's signature (blanks around it aside); the
/// signature never verifies another body, another app's secret, or an unconfigured app.
pub fn signature(data: &[u8]) {
    let (header, body) = match data.split_first() {
        Some((&len, rest)) => rest.split_at(usize::from(len).min(rest.len())),
        None => (&[][..], &[][..]),
    };
    let app = App {
        key: APP_KEY.into(),
        secret: SecretString::from(APP_SECRET),
    };
    let signed = tiktok_wire::signature::webhook_signature(APP_KEY, APP_SECRET.as_bytes(), body);
    assert_eq!(
        app.verify_webhook(body, header),
        header.trim_ascii() == signed.as_bytes(),
        "header {header:?}"
    );
    assert!(app.verify_webhook(body, signed.as_bytes()));
    let mut other = body.to_vec();
    other.push(b' ');
    assert!(!app.verify_webhook(&other, signed.as_bytes()));
    let stranger = App {
        key: APP_KEY.into(),
        secret: SecretString::from("another app's secret"),
    };
    assert!(!stranger.verify_webhook(body, signed.as_bytes()));
    let unconfigured = App {
        key: APP_KEY.into(),
        secret: SecretString::from(""),
    };
    let unsigned = tiktok_wire::signature::webhook_signature(APP_KEY, b"", body);
    assert!(!unconfigured.verify_webhook(body, unsigned.as_bytes()));
}

/// A search box's text: a search (the same one each time) or an error naming what is wrong.
pub fn search(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the query string reaches the parser as UTF-8 only
    };
    match Search::parse(text) {
        Ok(search) => assert_eq!(Search::parse(text), Ok(search)),
        Err(error) => assert!(!error.to_string().trim().is_empty(), "a reason is given"),
    }
}

/// One more template file beside the built-in ones: the catalog loads with it, or the error
/// names that file (or the rules) and says why.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // templates are read as UTF-8 text; other bytes fail before parsing
    };
    match Catalog::with_template("fuzz.toml", text) {
        Ok(catalog) => {
            let built_in = Catalog::built_in().expect("the built-in templates load");
            assert_eq!(
                catalog.templates().count(),
                built_in.templates().count() + 1
            );
        }
        Err(error) => {
            assert!(
                error.file == "fuzz.toml" || error.file.ends_with("rules.toml"),
                "{error}"
            );
            assert!(!error.reason.trim().is_empty(), "{error}");
        }
    }
}
