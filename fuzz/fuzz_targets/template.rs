#![no_main]
//! `cargo +nightly fuzz run template fuzz/corpus/template`: see `creatorflow::fuzz::template`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| creatorflow::fuzz::template(data));
