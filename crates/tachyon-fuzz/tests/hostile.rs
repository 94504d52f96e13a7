//! Random bytes and mutated valid files thrown at every entry point for untrusted input: none may crash the
//! process, and every error names the file or stream it comes from. (The fuzz targets under `fuzz/` run the same
//! entry points under libFuzzer for minutes; these run in the ordinary test suite.)

use std::path::Path;
use std::sync::OnceLock;

use proptest::collection::vec;
use proptest::prelude::*;
use tachyon_fuzz::{
    coinbase, event_file, lobster_messages, lobster_pair, model_file, quotes_csv, resealed_events, resealed_model,
    seed_inputs, seeds, split_pair, wire, Outcome, Seeds,
};

fn valid() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| seeds(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster"), 300).unwrap())
}

#[test]
fn the_valid_inputs_are_read_whole() {
    let v = valid();
    for (what, outcome, at_least) in [
        ("pair", lobster_pair(&v.message, &v.orderbook), 250),
        ("messages", lobster_messages(&v.message), 300),
        ("quotes", quotes_csv(&v.quotes), 5),
        ("coinbase", coinbase(&v.coinbase), 4),
        ("events", event_file(&v.events), 300),
        ("model", model_file(&v.model), 1),
        ("stream", wire(&v.stream), 300),
    ] {
        assert_eq!(outcome.error, None, "{what}");
        assert!(outcome.items >= at_least, "{what}: {outcome:?}");
    }
    // The fuzz targets' starting inputs are read whole too (the pair's split falls between its two files).
    let (_, pair) = &seed_inputs(v)[0];
    let (m, o) = split_pair(pair);
    assert_eq!((m, o), (&v.message[..], &v.orderbook[..]));
}

/// Every input a fuzz target crashed on (`tests/crashes/TARGET-HASH`), run through its entry point again.
#[test]
fn inputs_that_once_crashed_are_read_or_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crashes");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        let (m, o) = split_pair(&data);
        let outcome = match name.split('-').next().unwrap() {
            "lobster_pair" => lobster_pair(m, o),
            "lobster_messages" => lobster_messages(&data),
            "quotes_csv" => quotes_csv(&data),
            "coinbase" => coinbase(&data),
            "event_file" => event_file(&resealed_events(&data)),
            "model_file" => model_file(&resealed_model(&data)),
            "wire" => wire(&data),
            other => panic!("{name}: no fuzz target `{other}`"),
        };
        assert!(outcome.error_names_its_source(), "{name}: {outcome:?}");
        seen += 1;
    }
    assert!(seen >= 1, "the crash inputs are in {}", dir.display());
}

/// One change to a file: (where, as a share of its length; what; a byte).
type Mutation = (f64, u8, u8);

/// `bytes` with each mutation applied in turn: flip a bit, set a byte, insert one, delete one, cut the file there,
/// or copy a run of bytes over another place.
fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for &(at, kind, byte) in mutations {
        let i = ((at * out.len() as f64) as usize).min(out.len().saturating_sub(1));
        match (kind % 6, out.is_empty()) {
            (_, true) => out.push(byte),
            (0, _) => out[i] ^= 1 << (byte % 8),
            (1, _) => out[i] = byte,
            (2, _) => out.insert(i, byte),
            (3, _) => {
                out.remove(i);
            }
            (4, _) => out.truncate(i),
            _ => {
                let len = usize::from(byte).min(out.len() - i);
                let run = out[i..i + len].to_vec();
                let to = (i * 7 + 13) % out.len();
                let end = (to + len).min(out.len());
                out[to..end].copy_from_slice(&run[..end - to]);
            }
        }
    }
    out
}

fn check(what: &str, outcome: Outcome) -> Result<(), TestCaseError> {
    prop_assert!(
        outcome.error_names_its_source(),
        "{what}: the error does not name {}: {:?}",
        outcome.source,
        outcome.error
    );
    Ok(())
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec((0.0..1.0f64, any::<u8>(), any::<u8>()), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_errors_that_name_their_source(bytes in vec(any::<u8>(), 0..3000)) {
        let (m, o) = split_pair(&bytes);
        check("pair", lobster_pair(m, o))?;
        check("messages", lobster_messages(&bytes))?;
        check("quotes", quotes_csv(&bytes))?;
        check("coinbase", coinbase(&bytes))?;
        check("events", event_file(&bytes))?;
        check("events resealed", event_file(&resealed_events(&bytes)))?;
        check("model", model_file(&bytes))?;
        check("model resealed", model_file(&resealed_model(&bytes)))?;
        check("stream", wire(&bytes))?;
    }

    #[test]
    fn mutated_valid_files_are_read_or_refused_by_name(m in mutations(), n in mutations()) {
        let v = valid();
        check("pair: message", lobster_pair(&mutate(&v.message, &m), &v.orderbook))?;
        check("pair: orderbook", lobster_pair(&v.message, &mutate(&v.orderbook, &m)))?;
        check("pair: both", lobster_pair(&mutate(&v.message, &m), &mutate(&v.orderbook, &n)))?;
        check("messages", lobster_messages(&mutate(&v.message, &m)))?;
        check("quotes", quotes_csv(&mutate(&v.quotes, &m)))?;
        check("coinbase", coinbase(&mutate(&v.coinbase, &m)))?;
        check("events", event_file(&resealed_events(&mutate(&v.events, &m))))?;
        check("model", model_file(&resealed_model(&mutate(&v.model, &m))))?;
        check("stream", wire(&mutate(&v.stream, &m)))?;
    }
}
