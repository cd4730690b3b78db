#![no_main]
//! `cargo +nightly fuzz run signature fuzz/corpus/signature`: see `creatorflow::fuzz::signature`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| creatorflow::fuzz::signature(data));
