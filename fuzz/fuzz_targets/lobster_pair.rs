//! A LOBSTER message file and its orderbook file (one input split in two), replayed through book, features and
//! labels.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (message, orderbook) = tachyon_fuzz::split_pair(data);
    let outcome = tachyon_fuzz::lobster_pair(message, orderbook);
    assert!(outcome.error_names_its_source(), "{outcome:?}");
});
