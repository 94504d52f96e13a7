//! `tachyon bench live`: the shipped AAPL day through the live pipeline (two threads, rings, book, features and a
//! 44-64-64-1 MLP with seeded weights, standardised by the day's features), signals counted, not written, with the
//! f32 predictor and the int8 one (calibrated on the day's features). `max`: as fast as the feed reads (events/s;
//! the latency there is mostly queueing in a full ring). `rate_*`: a fixed offered load, for the receive-to-signal
//! latency the pipeline gives when it keeps up. Each case is run `samples` times; the median run is reported.

use std::path::Path;

use tachyon_features::{ExtractOptions, Input};
use tachyon_infer::CompiledModel;
use tachyon_live::{Config, Deployed, ModelSlot, NullSink, Pace, Report};
use tachyon_market::{LobsterFeed, QuotesCsvConfig};
use tachyon_model::{Activation, DenseNetwork};
use tachyon_simd::Backend;

use super::harness::Timing;
use super::{Row, Scale};

/// Runs the live workload.
pub fn run(scale: Scale, data: &Path, emit: &mut dyn FnMut(Row)) -> anyhow::Result<()> {
    let messages = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let backend = Backend::active();
    let width = tachyon_features::NUM_FEATURES;
    let mut net = DenseNetwork::seeded(&[width, 64, 64, 1], Activation::Relu, 42);
    let input = Input::detect(&messages, QuotesCsvConfig::default(), None);
    let features = tachyon_features::extract(input.open()?.as_mut(), &ExtractOptions::default())?.features;
    let standardizer = tachyon_model::Standardizer::fit(&features, width);
    (net.mean, net.std) = (standardizer.mean, standardizer.std);
    let calibration = tachyon_infer::quant::spread_rows(&features, width, 50_000);
    let (int8, _) = CompiledModel::quantize(&net, &calibration, &features, &backend)?;
    let models = [("f32", CompiledModel::compile(&net, &backend)?), ("int8", int8)];
    let samples = match scale {
        Scale::Full => 7,
        Scale::Quick => 3,
        Scale::Smoke => 1,
    };
    let cases: [(&'static str, Pace); 3] =
        [("max", Pace::Max), ("rate_200k", Pace::Rate(200_000.0)), ("rate_500k", Pace::Rate(500_000.0))];
    for (dtype, model) in models {
        let slot = ModelSlot::new(Deployed::new(1, "seeded", model)?);
        for (case, pace) in cases {
            let mut runs: Vec<Report> = Vec::new();
            for _ in 0..samples {
                let mut feed = LobsterFeed::open_message(&messages)?;
                let config = Config { pace, ..Config::default() };
                runs.push(tachyon_live::run(&mut feed, &slot, &mut NullSink, &config)?);
            }
            runs.sort_by(|a, b| a.events_per_s.total_cmp(&b.events_per_s));
            // Runs sorted by rate, so time per event falls along them: its q-quantile is run (1 - q) of the way.
            let ns_at = |q: f64| {
                let r = &runs[((1.0 - q) * (runs.len() - 1) as f64).round() as usize];
                1e9 / r.events_per_s.max(1e-9)
            };
            let timing = Timing { median_ns: ns_at(0.5), p10_ns: ns_at(0.1), p90_ns: ns_at(0.9) };
            let median = &runs[runs.len() / 2];
            let mut row = Row::new("live", case, backend.isa().name(), dtype, 2, timing);
            row.size = Some(median.updates);
            row.events_per_s = Some(median.events_per_s);
            row.p50_ns = Some(median.latency.p50_ns);
            row.p99_ns = Some(median.latency.p99_ns);
            row.p999_ns = Some(median.latency.p999_ns);
            row.max_ns = Some(median.latency.max_ns);
            row.drops = Some(median.drops);
            emit(row);
        }
    }
    Ok(())
}
