//! The binary event file: round trip of a real sample, atomic write, and rejection of damaged files.

use std::path::{Path, PathBuf};

use tachyon_market::binary::{convert_lobster, EventFile, HEADER_BYTES};
use tachyon_market::lobster::MessageReader;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tachyon-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn round_trip_keeps_every_event() {
    let out = temp("aapl.tcye");
    let count = convert_lobster(&sample(), &out).unwrap();
    assert_eq!(count, 118_497);
    assert!(!Path::new(&format!("{}.tmp", out.display())).exists(), "the temporary file is renamed away");
    let file = EventFile::open(&out).unwrap();
    let mut reader = MessageReader::open(&sample()).unwrap();
    let mut n = 0;
    for record in file.records() {
        let expected = reader.next_event().unwrap().unwrap();
        assert_eq!(record.to_event().unwrap(), expected);
        n += 1;
    }
    assert!(reader.next_event().unwrap().is_none());
    assert_eq!(n, 118_497);
}

#[test]
fn damaged_files_are_rejected_with_a_reason() {
    let out = temp("damaged.tcye");
    convert_lobster(&sample(), &out).unwrap();
    let good = std::fs::read(&out).unwrap();
    let check = |bytes: &[u8], expected: &str| {
        let path = temp("case.tcye");
        std::fs::write(&path, bytes).unwrap();
        let err = EventFile::open(&path).err().unwrap_or_else(|| panic!("accepted a damaged file ({expected})"));
        assert!(err.to_string().contains(expected), "{err} should mention {expected:?}");
    };
    // Truncated at several offsets: inside the header, at its end, inside a record, one byte short.
    for cut in [0, 7, 40, HEADER_BYTES, HEADER_BYTES + 17, good.len() / 2, good.len() - 1] {
        check(&good[..cut], if cut < 8 { "bad magic" } else { "truncated" });
    }
    let mut flipped = good.clone();
    flipped[HEADER_BYTES + 1000] ^= 0x40;
    check(&flipped, "checksum");
    let mut version = good.clone();
    version[8] = 9;
    check(&version, "format version 9");
    let mut magic = good.clone();
    magic[0] = b'X';
    check(&magic, "bad magic");
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 40]);
    check(&longer, "truncated or padded");
}

/// A file truncated after it was opened and read gives no fault: the records live in memory, not in a map of
/// the file (a map would raise SIGBUS on the next access to the lost pages).
#[test]
fn truncating_an_open_file_does_not_touch_what_was_read() {
    let out = temp("truncated-after-open.tcye");
    let count = convert_lobster(&sample(), &out).unwrap();
    let file = EventFile::open(&out).unwrap();
    std::fs::OpenOptions::new().write(true).open(&out).unwrap().set_len(HEADER_BYTES as u64).unwrap();
    let sum: i64 = file.records().iter().map(|r| r.to_event().unwrap().price).sum();
    assert_eq!(file.records().len() as u64, count);
    assert!(sum > 0);
    // Opening it again now is a clear error.
    assert!(EventFile::open(&out).err().unwrap().to_string().contains("truncated"));
}

/// A conversion that fails half-way (a malformed message) leaves neither the output nor a temporary file.
#[test]
fn a_failed_conversion_leaves_nothing_behind() {
    let dir = std::env::temp_dir().join(format!("tachyon-convert-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("X_message_1.csv");
    let good = std::fs::read_to_string(sample()).unwrap();
    let mut text: String = good.lines().take(100).map(|l| format!("{l}\n")).collect();
    text.push_str("34200.5,1,7,not-a-size,5850000,1\n");
    std::fs::write(&input, text).unwrap();
    let out = dir.join("x.tcye");
    let err = convert_lobster(&input, &out).unwrap_err();
    assert!(err.to_string().contains("X_message_1.csv:101"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("X_message_1.csv")], "{left:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
