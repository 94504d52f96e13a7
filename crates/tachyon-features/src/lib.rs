//! Tachyon's streaming features: what the models see.
//!
//! - [`rolling`]: O(1) streaming statistics (ring, rolling moments with bounded drift, block (van Herk / Gil-Werman) min/max,
//!   EWMA, time-decayed sums) and their batch forms.
//! - [`schema`]: names, version and hash of the feature set.
//! - [`engine`]: [`FeatureEngine`], one update per market event into a fixed `[f32; NUM_FEATURES]`.
//! - [`labels`]: future mid-price change at an event or time horizon, regression and 3-class.
//! - [`batch`]: the same engine over whole files into a feature matrix, files in parallel.
//! - [`oracle`]: the 44 features recomputed from their definitions by independent plain code, to check the engine.
//! - [`output`]: feature rows to CSV or Parquet, chunk by chunk, written atomically.
//! - [`job`]: many inputs to files in bounded memory, on several threads, the same bytes for any thread count.

pub mod batch;
pub mod engine;
pub mod job;
pub mod labels;
pub mod oracle;
pub mod output;
pub mod rolling;
pub mod schema;

pub use batch::{extract, extract_chunks, extract_files, ExtractCounts, ExtractOptions, FeatureMatrix, Input};
pub use engine::FeatureEngine;
pub use labels::{Horizon, LabelSpec, Labels};
pub use schema::{feature, FeatureSchema, FEATURE_NAMES, NUM_FEATURES, SCHEMA};
