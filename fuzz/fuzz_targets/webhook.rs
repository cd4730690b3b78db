#![no_main]
//! `cargo +nightly fuzz run webhook fuzz/corpus/webhook`: see `creatorflow::fuzz::webhook`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| creatorflow::fuzz::webhook(data));
