//! The fuzz targets' short run (`creatorflow::fuzz`): every seed of `fuzz/corpus/<target>/`,
//! then proptest's mutations of those seeds (bits flipped, bytes inserted and dropped, slices
//! repeated, tokens spliced in). The long run is cargo-fuzz's, on nightly (README, "Tests").
//! `CREATORFLOW_FUZZ_CASES` sets how many mutations each target gets (default 2,000).

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use creatorflow::fuzz;

/// The seeds of one target, by file name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3, "{target} has a seed corpus");
    seeds
}

/// Bytes that make parsers take other paths.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\\u0000",
    b"\\",
    b"(",
    b")",
    b"-",
    b" OR ",
    b"null",
    b"1e999",
    b"18446744073709551616",
    b"-1",
    b"\xff",
    b"\xe2\x82",
    b"'",
    b"==",
    b"\n[[steps]]\n",
    b"=",
    b"\"\"\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, byte: u8 },
    Drop { at: usize, len: usize },
    Repeat { at: usize, len: usize },
    Token { at: usize, token: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (at, any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        (at, 1usize..16).prop_map(|(at, len)| Mutation::Drop { at, len }),
        (at, 1usize..64).prop_map(|(at, len)| Mutation::Repeat { at, len }),
        (at, 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Token { at, token }),
        at.prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len();
        let pos = |at: usize| if n == 0 { 0 } else { at % (n + 1) };
        match *m {
            Mutation::Flip { at, bit } if n > 0 => bytes[at % n] ^= 1 << bit,
            Mutation::Flip { .. } => {}
            Mutation::Insert { at, byte } => bytes.insert(pos(at), byte),
            Mutation::Drop { at, len } => {
                let from = pos(at);
                bytes.drain(from..(from + len).min(n));
            }
            Mutation::Repeat { at, len } => {
                let from = pos(at);
                let slice = bytes[from..(from + len).min(n)].to_vec();
                bytes.splice(from..from, slice);
            }
            Mutation::Token { at, token } => {
                bytes.splice(pos(at)..pos(at), TOKENS[token].iter().copied());
            }
            Mutation::Truncate { at } => bytes.truncate(pos(at)),
        }
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("CREATORFLOW_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// Every seed, then `cases()` mutations of them, through `target`: a panic is a finding, and
/// proptest shrinks it to the smallest input it can.
fn run(name: &str, target: fn(&[u8])) {
    let seeds = seeds(name);
    for (file, bytes) in &seeds {
        let caught = std::panic::catch_unwind(|| target(bytes));
        assert!(caught.is_ok(), "the seed {name}/{file} breaks the target");
    }
    let corpus: Vec<Vec<u8>> = seeds.into_iter().map(|(_, b)| b).collect();
    let input = (0..corpus.len(), proptest::collection::vec(mutation(), 1..8))
        .prop_map(move |(seed, ms)| mutate(corpus[seed].clone(), &ms));
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(failure) = runner.run(&input, |bytes| {
        target(&bytes);
        Ok(())
    }) {
        panic!("fuzz target {name}: {failure}");
    }
}

/// What each seed is for: those named `bad_*` must be refused, the others read.
fn split<T: std::fmt::Debug, E: std::fmt::Debug>(
    target: &str,
    reads: impl Fn(&[u8]) -> Result<T, E>,
) {
    for (file, bytes) in seeds(target) {
        let read = reads(&bytes);
        assert_eq!(
            read.is_ok(),
            !file.starts_with("bad_"),
            "seed {target}/{file}: {read:?}"
        );
    }
}

#[test]
fn hostile_webhook_bodies_are_read_or_refused_with_a_reason_never_a_crash() {
    use creatorflow::integrations::tiktok::notification;
    split("webhook", notification::parse);
    // A notification id far longer than TikTok's still makes a key the inbox can store.
    let long = seeds("webhook")
        .into_iter()
        .find(|(file, _)| file == "long_notification_id.json")
        .unwrap()
        .1;
    let key = notification::parse(&long).unwrap().dedupe_key;
    assert!(key.len() <= notification::MAX_DEDUPE_KEY, "{key}");
    run("webhook", fuzz::webhook);
}

#[test]
fn a_webhook_signature_is_accepted_only_for_its_own_body_and_secret() {
    // The seeds: signed (exactly, or with blanks around), and not (upper case, empty).
    for (file, data) in seeds("signature") {
        let (header, body) = data[1..].split_at(usize::from(data[0]));
        let app = creatorflow::integrations::tiktok::App {
            key: "6bhs2ofbcd3ul".into(),
            secret: "a0a7b34f3bd7d5e3a5fe9b0b7e5d8d39".into(),
        };
        let signed = file.starts_with("signed_") || file.starts_with("padded_");
        assert_eq!(app.verify_webhook(body, header), signed, "seed {file}");
    }
    run("signature", fuzz::signature);
}

#[test]
fn a_hostile_search_is_a_search_or_an_error_naming_the_term() {
    split("search", |text| {
        creatorflow::domain::Search::parse(std::str::from_utf8(text).unwrap())
    });
    run("search", fuzz::search);
}

#[test]
fn a_hostile_workflow_template_loads_or_names_its_file_and_reason() {
    split("template", |text| {
        creatorflow::workflow::Catalog::with_template(
            "fuzz.toml",
            std::str::from_utf8(text).unwrap(),
        )
        .map(|catalog| catalog.templates().count())
    });
    run("template", fuzz::template);
}
