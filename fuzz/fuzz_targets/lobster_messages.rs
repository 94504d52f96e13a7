//! A LOBSTER message file read on its own.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let outcome = tachyon_fuzz::lobster_messages(data);
    assert!(outcome.error_names_its_source(), "{outcome:?}");
});
