//! Per-update cost of the feature engine over the shipped LOBSTER days (ticks preloaded, so only the engine is
//! timed), and the batch rolling statistics over a 10M-value series (compare benches/peers/rolling_polars.py).

#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tachyon_features::rolling::{ewm_mean, rolling_mean, rolling_std};
use tachyon_features::FeatureEngine;
use tachyon_market::{LobsterReplay, Snapshot, Tick, TickSource, Units};

fn load(message: &str) -> Vec<(Tick, Snapshot)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster");
    let mut source = LobsterReplay::open_message(&dir.join(message)).unwrap();
    let mut out = Vec::new();
    while let Some(t) = source.next_tick().unwrap() {
        out.push((t, source.book().to_snapshot()));
    }
    out
}

fn engine(c: &mut Criterion) {
    for (name, file) in [
        ("AAPL_L1", "AAPL_2012-06-21_34200000_57600000_message_1.csv"),
        ("GOOG_L10", "GOOG_2012-06-21_34200000_57600000_message_10.csv.gz"),
    ] {
        let ticks = load(file);
        let mut g = c.benchmark_group(format!("features/{name}"));
        g.throughput(Throughput::Elements(ticks.len() as u64));
        g.sample_size(20);
        g.bench_function("update_all", |b| {
            b.iter_batched_ref(
                || FeatureEngine::new(Units::LOBSTER),
                |e| {
                    for (t, book) in &ticks {
                        std::hint::black_box(e.update(t, book));
                    }
                },
                BatchSize::LargeInput,
            )
        });
        // The same updates, but the first 4,096 over and over: tick data in cache, as in a live feed.
        let hot: Vec<(Tick, Snapshot)> = ticks.iter().take(4096).cycle().take(ticks.len()).cloned().collect();
        g.bench_function("update_all_cached_input", |b| {
            b.iter_batched_ref(
                || FeatureEngine::new(Units::LOBSTER),
                |e| {
                    for (t, book) in &hot {
                        std::hint::black_box(e.update(t, book));
                    }
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

fn rolling(c: &mut Criterion) {
    let n = 10_000_000;
    let mut state = 1u64;
    let x: Vec<f64> = (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    let mut out = vec![0.0; n];
    let mut g = c.benchmark_group("rolling_10M");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("mean_w100", |b| b.iter(|| rolling_mean(&x, 100, &mut out)));
    g.bench_function("std_w100", |b| b.iter(|| rolling_std(&x, 100, &mut out)));
    g.bench_function("ewm_alpha0.1", |b| b.iter(|| ewm_mean(&x, 0.1, &mut out)));
    g.finish();
}

criterion_group!(benches, engine, rolling);
criterion_main!(benches);
