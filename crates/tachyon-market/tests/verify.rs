//! The rebuilt book against LOBSTER's own orderbook files shipped in `data/lobster/`, and bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use tachyon_market::{verify_book, BadRowPolicy, MarketError, VerifyMode, VerifyOptions, VerifyReport};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster").join(name)
}

fn options(mode: VerifyMode) -> VerifyOptions {
    VerifyOptions { mode, max_examples: 5, on_bad_row: BadRowPolicy::Fail }
}

fn verify(messages: &Path, orderbook: &Path) -> Result<VerifyReport, MarketError> {
    verify_book(messages, orderbook, &options(VerifyMode::Cumulative))
}

#[test]
fn the_shipped_books_match_lobster_on_every_determinable_level_in_both_modes() {
    for (stem, depth, ext, rows) in [("AAPL", 1, "csv", 118_497), ("GOOG", 10, "csv.gz", 147_916)] {
        let pair = |kind: &str| data(&format!("{stem}_2012-06-21_34200000_57600000_{kind}_{depth}.{ext}"));
        let mut undeterminable = Vec::new();
        for mode in [VerifyMode::Cumulative, VerifyMode::Reseed] {
            let report = verify_book(&pair("message"), &pair("orderbook"), &options(mode)).unwrap();
            println!("{report}");
            assert_eq!((report.depth, report.rows_checked), (depth, rows - 1));
            assert_eq!(report.rows_mismatching, 0, "{report}");
            assert!(report.rows_undeterminable > 0, "levels do enter from beyond the window in {stem}");
            assert_eq!(report.rows_matching + report.rows_undeterminable, report.rows_checked);
            undeterminable.push(report.rows_undeterminable);
        }
        // With every row matching, the cumulative book is the file's book on every row, so the two modes reveal
        // the same levels on the same rows.
        assert_eq!(undeterminable[0], undeterminable[1], "{stem}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tachyon-market-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const GOOD_MESSAGES: &str = "34200.1,1,1,100,5000000,1\n34200.2,1,2,50,5010000,-1\n34200.3,3,1,100,5000000,1\n";
const GOOD_BOOK: &str = "5020000,10,5000000,100\n5010000,50,5000000,100\n5010000,50,4990000,30\n";

#[test]
fn a_small_pair_replays_with_an_undeterminable_row() {
    let dir = temp_dir("small");
    let report = verify(&write(&dir, "m.csv", GOOD_MESSAGES), &write(&dir, "o.csv", GOOD_BOOK)).unwrap();
    // Row 2: the submission at 5010000 matches. Row 3: deleting the only bid level reveals 4990000 from below.
    assert_eq!(
        (report.rows_checked, report.rows_matching, report.rows_undeterminable, report.rows_mismatching),
        (2, 1, 1, 0)
    );
}

#[test]
fn a_wrong_book_is_reported_with_the_line() {
    let dir = temp_dir("wrong");
    let book = "5020000,10,5000000,100\n5010000,49,5000000,100\n5010000,50,4990000,30\n";
    let (m, o) = (write(&dir, "m.csv", GOOD_MESSAGES), write(&dir, "o.csv", book));
    // Line 2 disagrees with the replay. Reseeding, line 3 disagrees too (the book was reset to the wrong line 2);
    // cumulative, line 3 matches again (the replay never took line 2's sizes).
    let reseed = verify_book(&m, &o, &options(VerifyMode::Reseed)).unwrap();
    assert_eq!(reseed.rows_mismatching, 2);
    let report = verify(&m, &o).unwrap();
    assert_eq!((report.rows_mismatching, report.rows_undeterminable), (1, 1), "{report}");
    assert!(!report.passed());
    assert_eq!(report.first_mismatches[0].line, 2);
    assert!(report.to_string().contains("line 2"), "{report}");
}

/// A level-2 pair: a row's asks and bids (price, size; LOBSTER's dummy for an empty level is the price
/// 9999999999 or -9999999999 with size 0).
fn replay_of(name: &str, messages: &str, book: &str) -> VerifyReport {
    let dir = temp_dir(name);
    verify(&write(&dir, "m.csv", messages), &write(&dir, "o.csv", book)).unwrap()
}

#[test]
fn a_removal_underflow_is_a_mismatch() {
    // Line 2 deletes the best ask and 1030000 enters from beyond the window, its size (2) taken from the row: a
    // tampered row, since line 3 then deletes 5 shares there. The row cannot be told wrong, but the removal can.
    let messages = "34200.1,1,1,5,1010000,-1\n34200.2,3,1,5,1010000,-1\n34200.3,3,7,5,1030000,-1\n";
    let book = "1010000,5,990000,1,1020000,5,980000,1\n\
                1020000,5,990000,1,1030000,2,980000,1\n\
                1020000,5,990000,1,1040000,1,980000,1\n";
    let report = replay_of("underflow", messages, book);
    assert_eq!((report.underflows, report.rows_mismatching), (1, 1), "{report}");
    assert!(!report.passed());
    assert!(report.to_string().contains("line 3: a type-3 message removes 5 @ 1030000"), "{report}");
}

#[test]
fn a_level_enters_the_window_only_where_a_message_emptied_a_full_one_and_only_from_beyond_it() {
    // The bids hold one real level of two: a bid appearing on line 2, which no message touches, is a mismatch.
    let messages = "34200.1,1,1,5,1010000,-1\n34200.2,1,2,5,1010000,-1\n";
    let book = "1010000,5,990000,1,1020000,5,-9999999999,0\n1010000,10,990000,1,1020000,5,970000,3\n";
    let report = replay_of("thin", messages, book);
    assert_eq!((report.rows_mismatching, report.levels_revealed), (1, 0), "{report}");
    // Deleting the worst ask (1020000) cannot reveal 1015000, which was inside the window before.
    let messages = "34200.1,1,1,5,1010000,-1\n34200.2,3,9,5,1020000,-1\n";
    let book = "1010000,5,990000,1,1020000,5,980000,1\n1010000,5,990000,1,1015000,4,980000,1\n";
    let report = replay_of("between", messages, book);
    assert_eq!((report.rows_mismatching, report.levels_revealed), (1, 0), "{report}");
    // From beyond it, it can.
    let book = "1010000,5,990000,1,1020000,5,980000,1\n1010000,5,990000,1,1025000,4,980000,1\n";
    let report = replay_of("beyond", messages, book);
    assert_eq!((report.rows_undeterminable, report.levels_revealed, report.rows_mismatching), (1, 1, 0));
}

fn error_of(messages: &str, book: &str) -> String {
    let dir = temp_dir("bad");
    match verify(&write(&dir, "m.csv", messages), &write(&dir, "o.csv", book)) {
        Err(e) => e.to_string(),
        Ok(r) => panic!("expected an error, got {r}"),
    }
}

#[test]
fn bad_input_names_file_line_and_field() {
    let cases = [
        ("34200.1,1,1,100,5000000,1\n34200.2,1,2,abc,5010000,-1\n", "m.csv:2: field `size`"),
        ("34200.1,1,1,100,5000000,1\n34200.2,9,2,5,5010000,-1\n", "m.csv:2: field `type`"),
        ("34200.1,1,1,100,5000000,1\n34200.0,1,2,5,5010000,-1\n", "m.csv:2: field `time`: time goes backwards"),
        ("34200.1,1,1,100,5000000,1\n34200.2,1,2,5,-5,-1\n", "m.csv:2: field `price`"),
        ("34200.1,1,1,100,5000000,1\n34200.2,1,2,0,5010000,-1\n", "m.csv:2: field `size`"),
        ("34200.1,1,1,100,5000000,1\n34200.2,1,2,5,5010000,0\n", "m.csv:2: field `direction`"),
        ("34200.1,1,1,100,5000000\n", "m.csv:1: field `row`"),
        ("34200.x,1,1,100,5000000,1\n", "m.csv:1: field `time`"),
    ];
    for (messages, expected) in cases {
        let err = error_of(messages, GOOD_BOOK);
        assert!(err.contains(expected), "{err:?} should contain {expected:?}");
    }
    let err = error_of(GOOD_MESSAGES, "5020000,10,5000000,100\n5010000,50,5000000\n");
    assert!(err.contains("o.csv:2: field `row`"), "{err}");
    let err = error_of(GOOD_MESSAGES, "5020000,10,5000000,100\n5000000,50,5000000,100\n");
    assert!(err.contains("o.csv:2: field `ask price 1`: crossed book"), "{err}");
    let err = error_of(GOOD_MESSAGES, "5020000,10,5000000,100\n5010000,50,5000000,100\n");
    assert!(err.contains("has 3 rows but") && err.contains("has 2"), "{err}");
}

#[test]
fn missing_and_truncated_files_are_errors() {
    let err = verify(Path::new("/nonexistent/m.csv"), Path::new("/nonexistent/o.csv")).unwrap_err();
    assert!(matches!(err, MarketError::Io { .. }) && err.to_string().contains("/nonexistent/m.csv"));
    // A gzip file cut short is an I/O error naming it, not a silent short read.
    let dir = temp_dir("gz");
    let full = std::fs::read(data("GOOG_2012-06-21_34200000_57600000_message_10.csv.gz")).unwrap();
    let cut = dir.join("cut.csv.gz");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let err = verify(&cut, &data("GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz")).unwrap_err();
    assert!(err.to_string().contains("cut.csv.gz"), "{err}");
}

#[test]
fn skip_policy_counts_and_reports_bad_rows_and_keeps_the_files_in_step() {
    let dir = temp_dir("skip");
    let messages = "34200.1,1,1,100,5000000,1\n34200.2,1,2,50,5010000,-1\n34200.25,1,3,x,5010000,-1\n34200.3,1,4,10,5010000,-1\n34200.4,3,4,10,5010000,-1\n";
    let book = "5020000,10,5000000,100\n5010000,50,5000000,100\n5010000,55,5000000,100\n5010000,60,5000000,100\n5010000,50,5000000,100\n";
    let (m, o) = (write(&dir, "m.csv", messages), write(&dir, "o.csv", book));
    let err = verify(&m, &o).unwrap_err();
    assert!(err.to_string().contains("m.csv:3: field `size`"), "{err}");
    let skip = VerifyOptions { on_bad_row: BadRowPolicy::Skip, ..options(VerifyMode::Cumulative) };
    let report = verify_book(&m, &o, &skip).unwrap();
    assert_eq!(report.rows_skipped, 1);
    assert!(report.skipped_examples[0].contains("m.csv:3: field `size`"));
    // Line 4 reseeds after the skip; lines 2 and 5 are checked and match.
    assert_eq!((report.rows_checked, report.rows_matching, report.rows_mismatching), (2, 2, 0), "{report}");
    assert!(report.to_string().contains("rows skipped:          1"));
}

/// The replay that crosses threads (a feed's updates with the row's worst levels, applied by the book's owner)
/// keeps, after every message of both shipped days, the same book as applying each message with the whole
/// orderbook row: the fringe holds every level that can enter the window.
#[test]
fn replay_through_updates_equals_replay_with_whole_rows() {
    use tachyon_market::{replay_step, Book, LobsterPair, LobsterReplay, Snapshot, TickSource};
    for (m, o) in [
        ("AAPL_2012-06-21_34200000_57600000_message_1.csv", "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv"),
        (
            "GOOG_2012-06-21_34200000_57600000_message_10.csv.gz",
            "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv.gz",
        ),
    ] {
        let mut replay = LobsterReplay::open(&data(m), &data(o)).unwrap();
        let mut pair = LobsterPair::open(&data(m), &data(o)).unwrap();
        let (mut book, mut row) = (Book::new(), Snapshot::default());
        let mut rows = 0;
        while let Some(event) = pair.next_pair(&mut row).unwrap() {
            if rows == 0 {
                book.reset_to(&row);
            } else {
                replay_step(&mut book, &event, (&row).into(), pair.depth().unwrap());
            }
            let tick = replay.next_tick().unwrap().expect("as many ticks as rows");
            assert_eq!(tick.event_id, pair.line() as u64);
            assert_eq!(replay.book(), book.view(), "{m}: message {}", pair.line());
            rows += 1;
        }
        assert!(replay.next_tick().unwrap().is_none());
        let stats = replay.stats();
        assert_eq!((stats.seeds, stats.messages), (1, rows - 1), "{m}");
        assert!(stats.reveals > 0, "{m}: the days reveal levels, so the fringe was exercised");
    }
}
