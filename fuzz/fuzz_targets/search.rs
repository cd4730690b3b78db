#![no_main]
//! `cargo +nightly fuzz run search fuzz/corpus/search`: see `creatorflow::fuzz::search`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| creatorflow::fuzz::search(data));
