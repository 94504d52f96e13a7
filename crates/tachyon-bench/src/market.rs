//! `tachyon bench market`: LOBSTER parsing throughput (MB/s of text) and the book check (rows/s), on the sample
//! files shipped in `data/lobster/` (uncompressed AAPL, so that parsing is measured rather than inflation).

use std::path::Path;

use tachyon_market::lobster::{MessageReader, OrderbookReader};
use tachyon_market::Snapshot;

use super::harness::time;
use super::{Row, Scale};

/// Runs the market workload; rows report MB/s (1 MB = 1e6 bytes) in `gb_per_s` x 1000 terms.
pub fn run(scale: Scale, data: &Path, emit: &mut dyn FnMut(Row)) -> anyhow::Result<()> {
    let budget = scale.budget();
    let messages = data.join("AAPL_2012-06-21_34200000_57600000_message_1.csv");
    let orderbook = data.join("AAPL_2012-06-21_34200000_57600000_orderbook_1.csv");
    let message_bytes = std::fs::metadata(&messages)?.len() as f64;
    let orderbook_bytes = std::fs::metadata(&orderbook)?.len() as f64;

    let t = time(budget, || -> usize {
        let mut reader = MessageReader::open(&messages).expect("sample message file");
        let mut n = 0;
        while reader.next_event().expect("valid sample").is_some() {
            n += 1;
        }
        n
    });
    let mut row = Row::new("market", "parse_messages", "auto", "text", 1, t);
    row.size = Some(message_bytes as u64);
    row.gb_per_s = Some(message_bytes / t.median_ns);
    emit(row);

    let t = time(budget, || -> usize {
        let mut reader = OrderbookReader::open(&orderbook).expect("sample orderbook file");
        let mut snapshot = Snapshot::default();
        let mut n = 0;
        while reader.next_snapshot(&mut snapshot).expect("valid sample") {
            n += 1;
        }
        n
    });
    let mut row = Row::new("market", "parse_orderbook", "auto", "text", 1, t);
    row.size = Some(orderbook_bytes as u64);
    row.gb_per_s = Some(orderbook_bytes / t.median_ns);
    emit(row);

    // Replay from the binary format: decode every record of the mapped file into an event.
    let binary = std::env::temp_dir().join(format!("tachyon-bench-{}.tcye", std::process::id()));
    tachyon_market::binary::convert_lobster(&messages, &binary)?;
    let file = tachyon_market::binary::EventFile::open(&binary)?;
    let events = file.records().len();
    let t = time(budget, || {
        let mut checksum = 0i64;
        for record in file.records() {
            let event = record.to_event().expect("checked at open");
            checksum = checksum.wrapping_add(event.price ^ event.size as i64);
        }
        checksum
    });
    let mut row = Row::new("market", "replay_binary", "auto", "event", 1, t);
    row.size = Some(events as u64);
    row.gb_per_s = Some(std::mem::size_of_val(file.records()) as f64 / t.median_ns);
    emit(row);
    drop(file);
    let _ = std::fs::remove_file(&binary);

    let t = time(budget, || {
        tachyon_market::verify_book(&messages, &orderbook, &Default::default()).expect("sample pair").rows_checked
    });
    let mut row = Row::new("market", "verify_book", "auto", "text", 1, t);
    row.size = Some(118_496);
    row.gb_per_s = Some((message_bytes + orderbook_bytes) / t.median_ns);
    emit(row);
    Ok(())
}
