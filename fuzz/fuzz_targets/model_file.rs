//! A model file, as given and with its checksum recomputed: loaded, compiled and run once.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for bytes in [data.to_vec(), tachyon_fuzz::resealed_model(data)] {
        let outcome = tachyon_fuzz::model_file(&bytes);
        assert!(outcome.error_names_its_source(), "{outcome:?}");
    }
});
