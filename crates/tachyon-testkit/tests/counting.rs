//! The counting allocator sees allocations (a positive control for every "0 allocations" test).

tachyon_testkit::install_counting_allocator!();

use tachyon_testkit::{count_allocations, count_thread_allocations};

#[test]
fn counts_allocations_and_reallocations_on_this_thread() {
    let (v, n) = count_thread_allocations(|| {
        let mut v: Vec<u64> = Vec::with_capacity(1);
        v.extend(0..100);
        v
    });
    assert!(n >= 2, "one allocation and at least one reallocation, saw {n}");
    let (_, none) = count_thread_allocations(|| v.iter().sum::<u64>());
    assert_eq!(none, 0);
}

#[test]
fn global_count_includes_other_threads() {
    let (_, n) = count_allocations(|| std::thread::spawn(|| vec![1u8; 10]).join().unwrap());
    assert!(n >= 1);
}
