//! Batch extraction: the streaming [`FeatureEngine`] run over whole files into a feature matrix (the exact code
//! serving runs, so training sees bit-identical features), one file per rayon task.
//!
//! Each file is one independent stream (a symbol-day): the engine starts fresh per file, and labels never look
//! across files. That is also the unit a cluster engine would shard on.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tachyon_market::tick::orderbook_path_for;
use tachyon_market::{
    coinbase, BadRowPolicy, CoinbaseL2, CoinbaseReplay, Feed, LobsterFeed, LobsterReplay, MarketError, QuotesCsv,
    QuotesCsvConfig, SnapshotFeed, TickSource,
};

use crate::engine::FeatureEngine;
use crate::labels::{LabelSpec, LabelStream, Labels};
use crate::schema::NUM_FEATURES;

/// One input stream.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A LOBSTER message file, replayed into our own book; its orderbook file seeds the book and supplies levels
    /// that enter the window from beyond its depth.
    Lobster {
        /// Message file.
        message: PathBuf,
        /// Orderbook file.
        orderbook: PathBuf,
    },
    /// One product of a Coinbase level-2 recording (the only one it holds, if `product` is `None`).
    Coinbase {
        /// The recording.
        path: PathBuf,
        /// The product read.
        product: Option<String>,
    },
    /// The generic quotes/trades CSV.
    QuotesCsv {
        /// The file.
        path: PathBuf,
        /// How prices and sizes are scaled.
        config: QuotesCsvConfig,
    },
}

impl Input {
    /// A LOBSTER message file (named `..._message_N.csv[.gz]`, its orderbook file beside it), a Coinbase level-2
    /// recording (by its first line; `product` chooses among several), or else a quotes CSV with `config`.
    pub fn detect(path: &Path, config: QuotesCsvConfig, product: Option<&str>) -> Input {
        match orderbook_path_for(path) {
            Some(orderbook) => Input::Lobster { message: path.to_path_buf(), orderbook },
            None if coinbase::is_recording(path) => {
                Input::Coinbase { path: path.to_path_buf(), product: product.map(str::to_string) }
            }
            None => Input::QuotesCsv { path: path.to_path_buf(), config },
        }
    }

    /// The file named by the user.
    pub fn path(&self) -> &Path {
        match self {
            Input::Lobster { message, .. } => message,
            Input::Coinbase { path, .. } | Input::QuotesCsv { path, .. } => path,
        }
    }

    /// The files read: the message and orderbook files, or the one CSV.
    pub fn files(&self) -> Vec<&Path> {
        match self {
            Input::Lobster { message, orderbook } => vec![message, orderbook],
            Input::Coinbase { path, .. } | Input::QuotesCsv { path, .. } => vec![path],
        }
    }

    /// Opens the stream as a [`Feed`] of book changes, for the live pipeline (the book kept by its reader).
    pub fn open_feed(&self) -> Result<Box<dyn Feed>, MarketError> {
        Ok(match self {
            Input::Lobster { message, orderbook } => Box::new(LobsterFeed::open(message, orderbook)?),
            Input::Coinbase { path, product } => Box::new(CoinbaseL2::open(path, product.as_deref())?),
            Input::QuotesCsv { path, config } => Box::new(SnapshotFeed::new(QuotesCsv::open(path, *config)?)),
        })
    }

    /// Opens the stream.
    pub fn open(&self) -> Result<Box<dyn TickSource + Send>, MarketError> {
        Ok(match self {
            Input::Lobster { message, orderbook } => Box::new(LobsterReplay::open(message, orderbook)?),
            Input::Coinbase { path, product } => Box::new(CoinbaseReplay::open(path, product.as_deref())?),
            Input::QuotesCsv { path, config } => Box::new(QuotesCsv::open(path, *config)?),
        })
    }
}

/// How to extract.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExtractOptions {
    /// What to do with a malformed row (default: fail with file, line and field).
    pub on_bad_row: BadRowPolicy,
    /// Labels to attach, if any.
    pub labels: Option<LabelSpec>,
    /// Rows of skipped-row errors to keep for the report.
    pub max_examples: usize,
}

/// The features of one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureMatrix {
    /// The file.
    pub source: PathBuf,
    /// Time of each row, ns.
    pub time_ns: Vec<i64>,
    /// Line of each row in its input.
    pub event_id: Vec<u64>,
    /// Mid of each row (f64, price units), which labels are computed from.
    pub mid: Vec<f64>,
    /// Row-major `rows x NUM_FEATURES`.
    pub features: Vec<f32>,
    /// Labels, if asked for.
    pub labels: Option<Labels>,
    /// Updates read (good rows).
    pub rows_read: u64,
    /// Updates before the first two-sided book (no price features yet): read, not emitted.
    pub rows_warmup: u64,
    /// Malformed rows skipped under [`BadRowPolicy::Skip`].
    pub rows_skipped: u64,
    /// The first few skipped rows' errors.
    pub skipped_examples: Vec<String>,
    /// Bytes of the input files read when the rows were handed out (compressed, where they are).
    pub bytes_read: u64,
}

impl FeatureMatrix {
    /// Rows emitted.
    pub fn rows(&self) -> usize {
        self.time_ns.len()
    }

    /// Features of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * NUM_FEATURES..(i + 1) * NUM_FEATURES]
    }

    /// Appends the rows from `from` on (and their labels, if any) to `to`, removing them from `self`.
    fn move_rows_from(&mut self, from: usize, to: &mut FeatureMatrix) {
        to.time_ns.extend(self.time_ns.drain(from..));
        to.event_id.extend(self.event_id.drain(from..));
        to.mid.extend(self.mid.drain(from..));
        to.features.extend(self.features.drain(from * NUM_FEATURES..));
        if let (Some(mine), Some(theirs)) = (&mut self.labels, &mut to.labels) {
            theirs.ret_bps.extend(mine.ret_bps.drain(from.min(mine.ret_bps.len())..));
            theirs.class.extend(mine.class.drain(from.min(mine.class.len())..));
        }
    }

    /// Empties the rows, keeping the buffers; takes the source and the label columns of `empty` back if the
    /// rows were taken.
    fn clear_rows(&mut self, empty: &FeatureMatrix) {
        self.time_ns.clear();
        self.event_id.clear();
        self.mid.clear();
        self.features.clear();
        if self.source != empty.source {
            self.source.clone_from(&empty.source);
        }
        match (&mut self.labels, &empty.labels) {
            (Some(l), _) => {
                l.ret_bps.clear();
                l.class.clear();
            }
            (None, Some(_)) => self.labels = Some(Labels::default()),
            (None, None) => {}
        }
    }
}

/// Counts of one input's extraction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExtractCounts {
    /// Rows emitted.
    pub rows: u64,
    /// Updates read (good rows).
    pub rows_read: u64,
    /// Updates before the first two-sided book (no price features yet): read, not emitted.
    pub rows_warmup: u64,
    /// Malformed rows skipped under [`BadRowPolicy::Skip`].
    pub rows_skipped: u64,
    /// The first few skipped rows' errors.
    pub skipped_examples: Vec<String>,
}

/// Runs the engine over every tick of `source`, handing `emit` the rows in order in chunks of `chunk_rows`
/// complete rows (labels included; the last chunk shorter), so that memory holds one chunk and the rows whose
/// label horizon is still open, whatever the length of the input. `emit` may take the chunk's rows
/// (`std::mem::take`); its buffers are otherwise reused for the next chunk. A chunk's counts are zero: they are
/// returned.
pub fn extract_chunks<E: From<MarketError>>(
    source: &mut dyn TickSource,
    options: &ExtractOptions,
    chunk_rows: usize,
    mut emit: impl FnMut(&mut FeatureMatrix) -> Result<(), E>,
) -> Result<ExtractCounts, E> {
    let chunk_rows = chunk_rows.max(1);
    let mut engine = FeatureEngine::new(source.units());
    let mut counts = ExtractCounts::default();
    let mut labels = options.labels.map(LabelStream::new);
    let empty = FeatureMatrix {
        source: source.path().to_path_buf(),
        labels: labels.is_some().then(Labels::default),
        ..FeatureMatrix::default()
    };
    let mut chunk = empty.clone();
    // The rows of a full chunk still waiting for their label, carried to the next one.
    let mut carry = empty.clone();
    loop {
        let tick = match source.next_tick() {
            Ok(Some(tick)) => tick,
            Ok(None) => break,
            Err(error @ MarketError::Parse { .. }) if options.on_bad_row == BadRowPolicy::Skip => {
                counts.rows_skipped += 1;
                if counts.skipped_examples.len() < options.max_examples {
                    counts.skipped_examples.push(error.to_string());
                }
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        counts.rows_read += 1;
        engine.update(&tick, source.book());
        if !engine.ready() {
            counts.rows_warmup += 1;
            continue;
        }
        chunk.features.extend_from_slice(engine.features());
        chunk.time_ns.push(tick.time_ns);
        chunk.event_id.push(tick.event_id);
        chunk.mid.push(engine.mid());
        let complete = match (&mut labels, &mut chunk.labels) {
            (Some(stream), Some(out)) => {
                stream.push(tick.time_ns, engine.mid(), out);
                out.len()
            }
            _ => chunk.rows(),
        };
        if complete == chunk_rows {
            emit_first(complete, &mut chunk, &mut carry, &empty, source.bytes_read(), &mut emit)?;
            counts.rows += complete as u64;
        }
    }
    if let (Some(stream), Some(out)) = (&mut labels, &mut chunk.labels) {
        stream.finish(out);
    }
    // The rows labelled at the end may make more than a chunk.
    while chunk.rows() > 0 {
        let rows = chunk.rows().min(chunk_rows);
        emit_first(rows, &mut chunk, &mut carry, &empty, source.bytes_read(), &mut emit)?;
        counts.rows += rows as u64;
    }
    Ok(counts)
}

/// Hands `emit` the first `rows` rows of `chunk` (with `bytes_read`); the rows after them (still waiting for their
/// label) go through `carry` back into the emptied `chunk`, whose buffers are kept.
fn emit_first<E>(
    rows: usize,
    chunk: &mut FeatureMatrix,
    carry: &mut FeatureMatrix,
    empty: &FeatureMatrix,
    bytes_read: u64,
    emit: &mut impl FnMut(&mut FeatureMatrix) -> Result<(), E>,
) -> Result<(), E> {
    chunk.move_rows_from(rows, carry);
    chunk.bytes_read = bytes_read;
    emit(chunk)?;
    chunk.clear_rows(empty);
    carry.move_rows_from(0, chunk);
    Ok(())
}

/// Runs the engine over every tick of `source` into one matrix (for training: the whole input in memory).
pub fn extract(source: &mut dyn TickSource, options: &ExtractOptions) -> Result<FeatureMatrix, MarketError> {
    // What an input with no rows gives: `emit` is not called.
    let mut m = FeatureMatrix {
        source: source.path().to_path_buf(),
        labels: options.labels.map(|_| Labels::default()),
        ..FeatureMatrix::default()
    };
    let counts = extract_chunks(source, options, usize::MAX, |chunk| {
        m = std::mem::take(chunk);
        Ok::<_, MarketError>(())
    })?;
    m.rows_read = counts.rows_read;
    m.rows_warmup = counts.rows_warmup;
    m.rows_skipped = counts.rows_skipped;
    m.skipped_examples = counts.skipped_examples;
    Ok(m)
}

/// Extracts every input, in parallel (one rayon task per file), results in input order.
pub fn extract_files(inputs: &[Input], options: &ExtractOptions) -> Vec<Result<FeatureMatrix, MarketError>> {
    inputs.par_iter().map(|input| extract(input.open()?.as_mut(), options)).collect()
}
