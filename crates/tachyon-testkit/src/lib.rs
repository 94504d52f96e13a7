//! Test support for Tachyon.
//!
//! [`CountingAllocator`] wraps the system allocator and counts allocations (including reallocations) per thread
//! and process-wide, so that a test can assert "this call made 0 allocations". Install it in a test binary with
//! [`install_counting_allocator!`], then measure with [`count_thread_allocations`] (this thread only: immune to
//! other tests running in parallel) or [`count_allocations`] (every thread, for code that uses a thread pool;
//! run such a test alone in its binary or under a lock, since parallel tests allocate too).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A global allocator that forwards to [`System`] and counts `alloc`, `alloc_zeroed` and `realloc` calls.
pub struct CountingAllocator;

static GLOBAL_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn record() {
    GLOBAL_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    // `try_with`: during thread teardown the slot may be gone; such allocations still count globally.
    let _ = THREAD_ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so System's guarantees hold;
// counting touches only an atomic and a const-initialised thread-local Cell, neither of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: forwarded GlobalAlloc contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: forwarded GlobalAlloc contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded GlobalAlloc contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record();
        // SAFETY: forwarded GlobalAlloc contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made so far by the current thread.
pub fn thread_allocations() -> u64 {
    THREAD_ALLOCATIONS.with(|c| c.get())
}

/// Allocations made so far by all threads of the process.
pub fn global_allocations() -> u64 {
    GLOBAL_ALLOCATIONS.load(Ordering::Relaxed)
}

/// Runs `f` and returns its result with the number of allocations the current thread made meanwhile.
pub fn count_thread_allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = thread_allocations();
    let result = f();
    (result, thread_allocations() - before)
}

/// Runs `f` and returns its result with the number of allocations every thread made meanwhile.
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = global_allocations();
    let result = f();
    (result, global_allocations() - before)
}

/// Installs [`CountingAllocator`] as the global allocator of the current test binary.
#[macro_export]
macro_rules! install_counting_allocator {
    () => {
        #[global_allocator]
        static COUNTING_ALLOCATOR: $crate::CountingAllocator = $crate::CountingAllocator;
    };
}

/// Fails each file operation of `save` in turn, SQLite-style: the 1st, then the 2nd, ... until `save` succeeds.
/// After each failure `old_is_whole` must hold (the caller checks that the old file is still there, whole, and
/// that no temporary file is left). Returns the operations that were failed, in order.
pub fn fail_each_operation<E: std::fmt::Display>(
    mut save: impl FnMut() -> Result<(), E>,
    mut old_is_whole: impl FnMut(),
) -> Vec<tachyon_io::faults::Operation> {
    use tachyon_io::faults::{disarm, fail_nth};
    let mut failed = Vec::new();
    for n in 1.. {
        fail_nth(n);
        let result = save();
        let (count, operation) = disarm();
        match (result, operation) {
            (Err(e), Some(operation)) => {
                assert!(e.to_string().contains("injected fault"), "the error is the injected one: {e}");
                failed.push(operation);
                old_is_whole();
            }
            (Err(e), None) => panic!("failed without an injected fault: {e}"),
            (Ok(()), Some(operation)) => panic!("operation {n} ({operation:?}) failed but the save reported success"),
            (Ok(()), None) => {
                assert_eq!(count, n - 1, "a save that succeeds made {count} operations");
                break;
            }
        }
    }
    failed
}

/// Deterministic pseudo-random numbers (SplitMix64): the one generator Tachyon uses, tests included.
pub use tachyon_model::SplitMix64;

/// `n` rows of features drawn around per-feature means: feature j uniform in `mean[j] +- spread * std[j]`, from
/// the seeded sequence (row-major, `mean.len()` values per row).
pub fn rows_around(n: usize, mean: &[f64], std: &[f64], spread: f64, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n * mean.len());
    for _ in 0..n {
        out.extend(mean.iter().zip(std).map(|(m, s)| (m + s * spread * rng.uniform(-1.0, 1.0)) as f32));
    }
    out
}
