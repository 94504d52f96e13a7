//! Tachyon's entry points for untrusted bytes, each run to the end on whatever it is given: the LOBSTER pair
//! (replayed into our book, through the feature engine and labels), LOBSTER messages alone, the quotes CSV, a
//! Coinbase level-2 recording, the binary event file, the model file (loaded, compiled and run once) and the feed's wire format (applied to a
//! book). The fuzz targets under `fuzz/` call them with libFuzzer's inputs and the property tests with random and
//! mutated bytes; both ask the same thing: no input crashes the process, and an error names the file (or stream)
//! it comes from.

use std::path::{Path, PathBuf};

use tachyon_features::{extract, ExtractOptions, Input, FEATURE_NAMES, SCHEMA};
use tachyon_market::binary::EventFile;
use tachyon_market::lobster::MessageReader;
use tachyon_market::{Book, Feed, QuotesCsvConfig};

/// What an entry point made of its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Items read before the end or the error (rows, records, updates).
    pub items: usize,
    /// The error that ended the input early, as the user would see it.
    pub error: Option<String>,
    /// The name the error must mention (a file name or the stream's name).
    pub source: String,
}

impl Outcome {
    fn new(source: &str) -> Outcome {
        Outcome { items: 0, error: None, source: source.to_string() }
    }

    fn failed(mut self, error: impl std::fmt::Display) -> Outcome {
        self.error = Some(error.to_string());
        self
    }

    /// Whether an error, if any, names its source.
    pub fn error_names_its_source(&self) -> bool {
        self.error.as_ref().is_none_or(|e| e.contains(&self.source))
    }
}

/// A folder of this thread's own for the files an entry point reads.
fn scratch_dir() -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let dir = std::env::temp_dir().join(format!("tachyon-fuzz-{}-{thread}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder in the temporary directory");
    dir
}

/// Writes `bytes` to `name` in the scratch folder.
fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).expect("a scratch file");
    path
}

/// One input split into two files: the first two bytes (little-endian) say where, modulo the rest's length.
pub fn split_pair(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (data, &[]);
    }
    let rest = &data[2..];
    let at = usize::from(u16::from_le_bytes([data[0], data[1]])) % (rest.len() + 1);
    rest.split_at(at)
}

/// A LOBSTER message file and its orderbook file, replayed into our book and through the feature engine with
/// labels: every row the batch extraction would give.
pub fn lobster_pair(message: &[u8], orderbook: &[u8]) -> Outcome {
    let (name, book_name) = ("FUZZ_message_5.csv", "FUZZ_orderbook_5.csv");
    let path = scratch_file(name, message);
    scratch_file(book_name, orderbook);
    features_of(Input::detect(&path, QuotesCsvConfig::default(), None), Outcome::new("FUZZ_"))
}

/// The feature rows of `input`, as batch extraction gives them.
fn features_of(input: Input, outcome: Outcome) -> Outcome {
    match input.open().and_then(|mut source| extract(source.as_mut(), &ExtractOptions::default())) {
        Ok(m) => Outcome { items: m.rows(), ..outcome },
        Err(e) => outcome.failed(e),
    }
}

/// A LOBSTER message file read on its own (what `convert` reads).
pub fn lobster_messages(message: &[u8]) -> Outcome {
    let name = "FUZZ_messages_only.csv";
    let path = scratch_file(name, message);
    let mut outcome = Outcome::new(name);
    let mut reader = match MessageReader::open(&path) {
        Ok(r) => r,
        Err(e) => return outcome.failed(e),
    };
    loop {
        match reader.next_event() {
            Ok(Some(_)) => outcome.items += 1,
            Ok(None) => return outcome,
            Err(e) => return outcome.failed(e),
        }
    }
}

/// A quotes/trades CSV, through the feature engine.
pub fn quotes_csv(bytes: &[u8]) -> Outcome {
    let name = "FUZZ_quotes.csv";
    features_of(Input::detect(&scratch_file(name, bytes), QuotesCsvConfig::default(), None), Outcome::new(name))
}

/// A Coinbase level-2 recording (its only product), through the feature engine.
pub fn coinbase(bytes: &[u8]) -> Outcome {
    let name = "FUZZ_coinbase.txt";
    features_of(Input::Coinbase { path: scratch_file(name, bytes), product: None }, Outcome::new(name))
}

/// A binary event file (`.tcye`): opened (header and checksum checked), every record decoded.
pub fn event_file(bytes: &[u8]) -> Outcome {
    let name = "FUZZ_events.tcye";
    let path = scratch_file(name, bytes);
    let mut outcome = Outcome::new(name);
    match EventFile::open(&path) {
        Ok(file) => {
            outcome.items = file.records().iter().filter_map(|r| r.to_event()).count();
            outcome
        }
        Err(e) => outcome.failed(e),
    }
}

/// A model file: parsed and checked against the served features, its network built, compiled for the active
/// instruction set and run on one row of zeros; its training ranges read where it has them.
pub fn model_file(bytes: &[u8]) -> Outcome {
    let name = "FUZZ_model.tcy";
    let path = scratch_file(name, bytes);
    let outcome = Outcome::new(name);
    let served = tachyon_model::FeatureSet { hash: SCHEMA.hash(), names: &FEATURE_NAMES };
    let model = match tachyon_model::ModelFile::load(&path, &served) {
        Ok(m) => m,
        Err(e) => return outcome.failed(e),
    };
    let _ = tachyon_model::TrainingRanges::from_model(&model);
    let net = match tachyon_model::DenseNetwork::from_model_file(&model) {
        Ok(net) => net,
        Err(e) => return outcome.failed(format!("{name}: {e}")),
    };
    let compiled = match tachyon_infer::CompiledModel::compile(&net, &tachyon_simd::Backend::active()) {
        Ok(c) => c,
        Err(e) => return outcome.failed(format!("{name}: {e}")),
    };
    let mut out = vec![0.0; compiled.outputs()];
    match compiled.predict(&vec![0.0; compiled.inputs()], &mut compiled.scratch(), &mut out) {
        Ok(()) => Outcome { items: 1, ..outcome },
        Err(e) => outcome.failed(format!("{name}: {e}")),
    }
}

/// The feed's wire format: the hello, then every frame, each update applied to a book.
pub fn wire(bytes: &[u8]) -> Outcome {
    let name = "FUZZ_stream";
    let mut outcome = Outcome::new(name);
    let mut feed = match tachyon_live::SocketFeed::new(bytes, name) {
        Ok(feed) => feed,
        Err(e) => return outcome.failed(e),
    };
    let (mut book, mut updates) = (Book::new(), Vec::new());
    loop {
        match feed.next_updates(&mut updates) {
            Ok(true) => {
                for update in &updates {
                    book.apply_change(&update.change);
                    outcome.items += 1;
                }
            }
            Ok(false) => return outcome,
            Err(e) => return outcome.failed(e),
        }
    }
}

/// `bytes` as a model file with its trailing CRC-32 recomputed, so that damage reaches the checks behind the
/// checksum (sizes, counts, values) instead of stopping at it.
pub fn resealed_model(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if let Some(body) = out.len().checked_sub(4) {
        let crc = crc32fast::hash(&out[..body]);
        out[body..].copy_from_slice(&crc.to_le_bytes());
    }
    out
}

/// `bytes` as an event file with the header's CRC-32 of the records recomputed (see [`resealed_model`]).
pub fn resealed_events(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.len() >= tachyon_market::binary::HEADER_BYTES {
        let crc = crc32fast::hash(&out[tachyon_market::binary::HEADER_BYTES..]);
        out[24..28].copy_from_slice(&crc.to_le_bytes());
    }
    out
}

/// Valid inputs of every kind, the starting points of mutation: the first `rows` rows of the shipped AAPL day,
/// the same as a binary event file and as a feed stream, the quotes CSV example, and a model file for the served
/// features.
pub struct Seeds {
    /// LOBSTER messages.
    pub message: Vec<u8>,
    /// The matching orderbook rows.
    pub orderbook: Vec<u8>,
    /// The quotes CSV.
    pub quotes: Vec<u8>,
    /// A Coinbase recording.
    pub coinbase: Vec<u8>,
    /// The messages as a binary event file.
    pub events: Vec<u8>,
    /// A small MLP's model file.
    pub model: Vec<u8>,
    /// The messages' updates in the wire format, with its end frame.
    pub stream: Vec<u8>,
}

/// Builds the [`Seeds`] from the LOBSTER samples in `data` (the repository's `data/lobster`).
pub fn seeds(data: &Path, rows: usize) -> Result<Seeds, String> {
    let head = |kind: &str| -> Result<Vec<u8>, String> {
        let path = data.join(format!("AAPL_2012-06-21_34200000_57600000_{kind}_1.csv"));
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(text.lines().take(rows).flat_map(|l| [l, "\n"]).collect::<String>().into_bytes())
    };
    let (message, orderbook) = (head("message")?, head("orderbook")?);
    let m = scratch_file("SEED_message_1.csv", &message);
    let o = scratch_file("SEED_orderbook_1.csv", &orderbook);
    let e = scratch_dir().join("seed.tcye");
    tachyon_market::binary::convert_lobster(&m, &e).map_err(|e| e.to_string())?;
    let events = std::fs::read(&e).map_err(|e| e.to_string())?;
    let mut net = tachyon_model::DenseNetwork::seeded(
        &[tachyon_features::NUM_FEATURES, 8, 1],
        tachyon_model::Activation::Tanh,
        3,
    );
    net.schema_hash = SCHEMA.hash();
    net.feature_names = FEATURE_NAMES.iter().map(|n| n.to_string()).collect();
    let model = net.to_model_file(tachyon_model::ModelKind::Mlp, Vec::new()).to_bytes();
    let mut stream = Vec::new();
    let mut feed = tachyon_market::LobsterFeed::open(&m, &o).map_err(|e| e.to_string())?;
    let mut writer = tachyon_live::FeedWriter::new(&mut stream, "SEED", feed.units()).map_err(|e| e.to_string())?;
    let mut updates = Vec::new();
    while feed.next_updates(&mut updates).map_err(|e| e.to_string())? {
        for u in &updates {
            writer.send(u).map_err(|e| e.to_string())?;
        }
    }
    writer.finish().map_err(|e| e.to_string())?;
    Ok(Seeds {
        message,
        orderbook,
        quotes: tachyon_market::quotes_csv::EXAMPLE.as_bytes().to_vec(),
        coinbase: tachyon_market::coinbase::EXAMPLE.as_bytes().to_vec(),
        events,
        model,
        stream,
    })
}

/// The seeds as one starting input per fuzz target: (target, input).
pub fn seed_inputs(seeds: &Seeds) -> Vec<(&'static str, Vec<u8>)> {
    let split = u16::try_from(seeds.message.len()).unwrap_or(u16::MAX);
    let mut pair = split.to_le_bytes().to_vec();
    pair.extend_from_slice(&seeds.message);
    pair.extend_from_slice(&seeds.orderbook);
    vec![
        ("lobster_pair", pair),
        ("lobster_messages", seeds.message.clone()),
        ("quotes_csv", seeds.quotes.clone()),
        ("coinbase", seeds.coinbase.clone()),
        ("event_file", seeds.events.clone()),
        ("model_file", seeds.model.clone()),
        ("wire", seeds.stream.clone()),
    ]
}
