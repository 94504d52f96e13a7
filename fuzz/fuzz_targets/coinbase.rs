//! A Coinbase level-2 recording through the feature engine.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let outcome = tachyon_fuzz::coinbase(data);
    assert!(outcome.error_names_its_source(), "{outcome:?}");
});
