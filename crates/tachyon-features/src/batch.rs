//! Batch extraction: the streaming [`FeatureEngine`] run over whole files into a feature matrix (the exact code
//! serving runs, so training sees bit-identical features), one file per rayon task.
//!
//! Each file is one independent stream (a symbol-day): the engine starts fresh per file, and labels never look
//! across files. That is also the unit a cluster engine would shard on.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tachyon_market::tick::orderbook_path_for;
use tachyon_market::{
    BadRowPolicy, Feed, LobsterFeed, LobsterReplay, MarketError, QuotesCsv, QuotesCsvConfig, SnapshotFeed, TickSource,
};

use crate::engine::FeatureEngine;
use crate::labels::{LabelSpec, Labels};
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
    /// The generic quotes/trades CSV.
    QuotesCsv {
        /// The file.
        path: PathBuf,
        /// How prices and sizes are scaled.
        config: QuotesCsvConfig,
    },
}

impl Input {
    /// A LOBSTER message file (named `..._message_N.csv[.gz]`, its orderbook file beside it), or else a quotes CSV
    /// with `config`.
    pub fn detect(path: &Path, config: QuotesCsvConfig) -> Input {
        match orderbook_path_for(path) {
            Some(orderbook) => Input::Lobster { message: path.to_path_buf(), orderbook },
            None => Input::QuotesCsv { path: path.to_path_buf(), config },
        }
    }

    /// The file named by the user.
    pub fn path(&self) -> &Path {
        match self {
            Input::Lobster { message, .. } => message,
            Input::QuotesCsv { path, .. } => path,
        }
    }

    /// Opens the stream as a [`Feed`] of book changes, for the live pipeline (the book kept by its reader).
    pub fn open_feed(&self) -> Result<Box<dyn Feed>, MarketError> {
        Ok(match self {
            Input::Lobster { message, orderbook } => Box::new(LobsterFeed::open(message, orderbook)?),
            Input::QuotesCsv { path, config } => Box::new(SnapshotFeed::new(QuotesCsv::open(path, *config)?)),
        })
    }

    /// Opens the stream.
    pub fn open(&self) -> Result<Box<dyn TickSource + Send>, MarketError> {
        Ok(match self {
            Input::Lobster { message, orderbook } => Box::new(LobsterReplay::open(message, orderbook)?),
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
}

/// Runs the engine over every tick of `source`.
pub fn extract(source: &mut dyn TickSource, options: &ExtractOptions) -> Result<FeatureMatrix, MarketError> {
    let mut engine = FeatureEngine::new(source.ticks_per_unit());
    let mut m = FeatureMatrix { source: source.path().to_path_buf(), ..FeatureMatrix::default() };
    loop {
        let tick = match source.next_tick() {
            Ok(Some(tick)) => tick,
            Ok(None) => break,
            Err(error @ MarketError::Parse { .. }) if options.on_bad_row == BadRowPolicy::Skip => {
                m.rows_skipped += 1;
                if m.skipped_examples.len() < options.max_examples {
                    m.skipped_examples.push(error.to_string());
                }
                continue;
            }
            Err(error) => return Err(error),
        };
        m.rows_read += 1;
        engine.update(&tick, source.book());
        if !engine.ready() {
            m.rows_warmup += 1;
            continue;
        }
        m.features.extend_from_slice(engine.features());
        m.time_ns.push(tick.time_ns);
        m.event_id.push(tick.event_id);
        m.mid.push(engine.mid());
    }
    if let Some(spec) = &options.labels {
        m.labels = Some(Labels::compute(spec, &m.time_ns, &m.mid));
    }
    Ok(m)
}

/// Extracts every input, in parallel (one rayon task per file), results in input order.
pub fn extract_files(inputs: &[Input], options: &ExtractOptions) -> Vec<Result<FeatureMatrix, MarketError>> {
    inputs.par_iter().map(|input| extract(input.open()?.as_mut(), options)).collect()
}
