//! The engine against the independent oracle of `tachyon_features::oracle` on both shipped days: every one of the
//! 44 features of every row within the oracle's bound.

use std::path::{Path, PathBuf};

use tachyon_features::oracle::compare_with_engine;
use tachyon_features::FEATURE_NAMES;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster").join(name)
}

#[test]
fn every_feature_equals_its_definition_on_both_shipped_days() {
    for (message, orderbook) in [
        ("AAPL_2012-06-21_34200000_57600000_message_1.csv", "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv"),
        (
            "GOOG_2012-06-21_34200000_57600000_message_10.csv.gz",
            "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz",
        ),
    ] {
        let report = compare_with_engine(&data(message), &data(orderbook)).unwrap();
        assert!(report.rows > 100_000, "{message}: {} rows", report.rows);
        assert_eq!(report.rows, report.defined_rows, "{message}: every two-sided row is emitted");
        assert_eq!(report.failures, 0, "{message}: {:?}", report.first_failure);
        println!("{message}: {} rows x {} features equal their definitions", report.rows, FEATURE_NAMES.len());
        for (j, (share, id)) in report.worst.iter().enumerate() {
            println!("  {:<22} largest error {share:.3} of its bound (line {id})", FEATURE_NAMES[j]);
        }
    }
}
