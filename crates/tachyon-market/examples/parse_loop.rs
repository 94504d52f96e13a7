//! Parses a LOBSTER message file and its orderbook file many times, for profiling (`perf record`):
//! `cargo run --release -p tachyon-market --example parse_loop -- data/lobster/AAPL_..._message_1.csv 20`.

use std::path::PathBuf;
use std::time::Instant;

use tachyon_market::lobster::{MessageReader, OrderbookReader};
use tachyon_market::tick::orderbook_path_for;
use tachyon_market::Snapshot;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let messages = PathBuf::from(args.next().ok_or("usage: parse_loop MESSAGE_FILE [PASSES]")?);
    let passes: usize = args.next().map_or(Ok(20), |p| p.parse())?;
    let orderbook = orderbook_path_for(&messages).ok_or("not a LOBSTER message file name")?;
    let mb = |path: &PathBuf| std::fs::metadata(path).map(|m| m.len() as f64 / 1e6);
    let (message_mb, orderbook_mb) = (mb(&messages)?, mb(&orderbook)?);
    let (mut best_messages, mut best_orderbook) = (f64::MAX, f64::MAX);
    for _ in 0..passes {
        let start = Instant::now();
        let mut reader = MessageReader::open(&messages)?;
        while std::hint::black_box(reader.next_event()?).is_some() {}
        best_messages = best_messages.min(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let mut reader = OrderbookReader::open(&orderbook)?;
        let mut book = Snapshot::default();
        while reader.next_snapshot(&mut book)? {
            std::hint::black_box(&book);
        }
        best_orderbook = best_orderbook.min(start.elapsed().as_secs_f64());
    }
    println!(
        "best pass: messages {:.0} MB/s, orderbook {:.0} MB/s (uncompressed text; .gz includes inflating)",
        message_mb / best_messages,
        orderbook_mb / best_orderbook
    );
    Ok(())
}
