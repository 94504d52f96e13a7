//! The feed's wire format, each update applied to a book.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let outcome = tachyon_fuzz::wire(data);
    assert!(outcome.error_names_its_source(), "{outcome:?}");
});
