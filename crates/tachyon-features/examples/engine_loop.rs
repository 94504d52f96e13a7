//! Runs the feature engine over a LOBSTER day many times, for profiling (`perf record`):
//! `cargo run --release -p tachyon-features --example engine_loop -- data/lobster/GOOG_..._message_10.csv.gz 30`.
//!
//! The books are held as `tachyon bench features` holds them: every level of every book in one flat array, handed
//! to the engine as borrowed views (a clone per tick would scatter them over the heap and time cache misses a
//! feed handler does not have).

use std::path::PathBuf;
use std::time::Instant;

use tachyon_features::FeatureEngine;
use tachyon_market::{BookView, Level, LobsterPair, Snapshot, TickSource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: engine_loop MESSAGE_FILE [PASSES]")?);
    let passes: usize = args.next().map_or(Ok(20), |p| p.parse())?;
    let mut source = LobsterPair::open_message(&path)?;
    let mut book = Snapshot::default();
    let (mut ticks, mut levels) = (Vec::new(), Vec::<Level>::new());
    while let Some(t) = source.next_tick(&mut book)? {
        ticks.push((t, levels.len(), book.bids.len(), book.asks.len()));
        levels.extend_from_slice(&book.bids);
        levels.extend_from_slice(&book.asks);
    }
    let mut best = f64::MAX;
    for _ in 0..passes {
        let start = Instant::now();
        let mut engine = FeatureEngine::new(10_000.0);
        for &(t, at, bids, asks) in &ticks {
            let view = BookView { bids: &levels[at..at + bids], asks: &levels[at + bids..at + bids + asks] };
            std::hint::black_box(engine.update(&t, view));
        }
        best = best.min(start.elapsed().as_secs_f64() / ticks.len() as f64 * 1e9);
    }
    println!("{} updates, best pass {best:.1} ns/update", ticks.len());
    Ok(())
}
