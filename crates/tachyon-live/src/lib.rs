//! The live pipeline: a [`Feed`](tachyon_market::Feed) in, one signal per tick out, on two threads
//! ([`pipeline`]): the io thread reads the feed and writes the sink, the hot thread keeps the book, updates the
//! features and predicts ([`hot`]) with the model live in a [`ModelSlot`], which can be swapped while it runs
//! ([`model`]), for instance when a model is promoted or rolled back in a [`registry`]. [`signal`] holds the
//! signal and its sinks; [`wire`] the format a feed is sent in over TCP.

pub mod hot;
pub mod model;
pub mod pipeline;
pub mod registry;
pub mod signal;
pub mod wire;

pub use hot::{HotCounts, HotPath, StageTicks};
pub use model::{DeployError, Deployed, ModelSlot, ServedPrecision, SERVED};
pub use pipeline::{
    run, run_with_control, Config, LiveError, ModelChange, Pace, Percentiles, Progress, Report, ShadowReport, Stages,
};
pub use registry::{Promotion, Registry, RegistryError, RegistryWatch, Swap};
#[cfg(feature = "parquet")]
pub use signal::ParquetSink;
pub use signal::{CsvSink, NullSink, Signal, SignalSink, TimeBase, MAX_OUTPUTS};
pub use wire::{FeedWriter, SocketFeed};
