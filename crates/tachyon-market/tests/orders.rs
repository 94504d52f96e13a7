//! The order map on the shipped GOOG day: kept by order ID, the book equals the book kept from each message's own
//! price and size after every message, and the orders from before the file started are counted. (On the level-1
//! AAPL file it does not: an order's executions while it was outside the one-level window are not in the file, so
//! the map's remaining size goes stale; that is why LOBSTER files are replayed from each message's own size.)

use std::path::{Path, PathBuf};

use tachyon_market::{Book, LobsterPair, OrderBook, Snapshot};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster").join(name)
}

#[test]
fn the_order_map_keeps_the_same_book_as_the_messages_and_counts_orders_from_before_the_file() {
    for (file, unknown) in [("GOOG_2012-06-21_34200000_57600000_message_10.csv.gz", 3_363)] {
        let mut pair = LobsterPair::open_message(&data(file)).unwrap();
        let mut row = Snapshot::default();
        let (mut orders, mut levels) = (OrderBook::with_capacity(1 << 16), Book::new());
        let mut rows = 0;
        while let Some(event) = pair.next_pair(&mut row).unwrap() {
            orders.apply_lobster(&event);
            levels.apply(&event);
            assert_eq!(orders.book().view(), levels.view(), "{file} line {}", pair.line());
            rows += 1;
        }
        let stats = orders.stats();
        println!("{file}: {rows} messages, {} orders resting at the end, {stats:?}", orders.len());
        // The data set's README counts the messages that reference an order without a submission in the file.
        assert_eq!(stats.unknown, unknown, "{file}");
        assert_eq!(stats.duplicate_ids, 0, "{file}: LOBSTER never reuses an order ID");
    }
}
