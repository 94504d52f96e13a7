//! A binary event file, as given and with its checksum recomputed (so that damage reaches the checks behind it).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for bytes in [data.to_vec(), tachyon_fuzz::resealed_events(data)] {
        let outcome = tachyon_fuzz::event_file(&bytes);
        assert!(outcome.error_names_its_source(), "{outcome:?}");
    }
});
