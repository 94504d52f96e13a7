//! Compressed files are inflated on a thread of their own; the reader waits for it without allocating.

use std::io::Read;
use std::path::Path;

use tachyon_testkit::count_thread_allocations;

tachyon_testkit::install_counting_allocator!();

#[test]
fn waiting_for_the_inflating_thread_allocates_nothing() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/lobster/GOOG_2012-06-21_34200000_57600000_message_10.csv.gz");
    let mut reader = tachyon_market::lobster::open(&path).unwrap();
    // The inflating thread fills its blocks before the first read, so the first read does not wait: the first
    // wait comes later, where the count below sees it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut buf = vec![0u8; 4096];
    let mut total = reader.read(&mut buf).unwrap();
    let (rest, allocations) = count_thread_allocations(|| {
        let mut n = 0;
        loop {
            match reader.read(&mut buf).unwrap() {
                0 => return n,
                k => n += k,
            }
        }
    });
    total += rest;
    // More blocks than the thread holds ahead, so the reader caught up with it and waited.
    assert!(total > 4 << 20, "{total} bytes");
    assert_eq!(allocations, 0, "{total} bytes read");
}
