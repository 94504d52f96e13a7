//! A quotes/trades CSV through the feature engine.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let outcome = tachyon_fuzz::quotes_csv(data);
    assert!(outcome.error_names_its_source(), "{outcome:?}");
});
