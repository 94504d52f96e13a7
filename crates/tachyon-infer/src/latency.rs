//! Per-call latency: every call timed alone, recorded in an HDR histogram, warm or with the caches evicted.
//!
//! Method (docs/INFERENCE.md): on x86-64 each call is bracketed by `lfence; rdtsc` reads, so the counter is read
//! after the call's instructions have retired; the median cost of an empty bracket (measured first, over 100,000
//! brackets) is subtracted from every sample and reported as `timer_overhead_ns`; counter ticks are converted to
//! ns by the counter's rate measured against the OS clock over the whole run. The smallest non-zero difference
//! between two consecutive counter reads is reported as `timer_resolution_ns`: on some virtual machines the
//! counter advances in steps of several ns, which quantises every percentile to that step. Elsewhere the OS clock
//! (`Instant`) is used, with its own overhead measured the same way.
//!
//! Cold calls: before each timed call, a buffer larger than the caches to evict is read and written in full (one
//! access per 64-byte line), outside the timed bracket, so the call starts with its weights and scratch gone from
//! those caches.

use std::time::Instant;

use hdrhistogram::Histogram;
use tachyon_simd::CycleClock;

/// Cache state at the start of each timed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheState {
    /// Calls back to back: weights and scratch stay in L1/L2.
    Warm,
    /// A buffer of this many bytes is touched before every call.
    Cold {
        /// Bytes touched between calls (twice the cache level to evict is enough).
        evict_bytes: usize,
    },
}

/// Percentiles of one run, in ns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyReport {
    /// Calls timed.
    pub calls: u64,
    /// 10th percentile.
    pub p10_ns: f64,
    /// Median.
    pub p50_ns: f64,
    /// 90th percentile.
    pub p90_ns: f64,
    /// 99th percentile.
    pub p99_ns: f64,
    /// 99.9th percentile.
    pub p999_ns: f64,
    /// Slowest call.
    pub max_ns: f64,
    /// Mean.
    pub mean_ns: f64,
    /// Median cost of an empty timing bracket, already subtracted from every sample.
    pub timer_overhead_ns: f64,
    /// Smallest step the timer was seen to take.
    pub timer_resolution_ns: f64,
}

/// Times `calls` calls of `call` (given the call's index) one by one. `call` must consume its result (e.g. through
/// `std::hint::black_box`) so that the work is not optimised away.
pub fn measure(calls: u64, cache: CacheState, mut call: impl FnMut(u64)) -> LatencyReport {
    let clock = CycleClock::new();
    let (overhead, resolution) = timer_cost(&clock);
    let mut evict = match cache {
        CacheState::Warm => Vec::new(),
        CacheState::Cold { evict_bytes } => vec![1u8; evict_bytes],
    };
    // Ticks from 1 to 1e12 at 3 significant digits: a 0.1% quantisation, far below the noise.
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 1_000_000_000_000, 3).expect("valid bounds");
    let (wall, c0) = (Instant::now(), clock.now());
    let mut timed = 0u64;
    for i in 0..calls {
        if !evict.is_empty() {
            touch(&mut evict);
        }
        let t0 = clock.now();
        call(i);
        let t1 = clock.now();
        let ticks = (t1 - t0).saturating_sub(overhead).max(1);
        histogram.saturating_record(ticks);
        timed += 1;
    }
    let ns_per_tick = wall.elapsed().as_nanos() as f64 / (clock.now() - c0).max(1) as f64;
    let at = |q: f64| histogram.value_at_quantile(q) as f64 * ns_per_tick;
    LatencyReport {
        calls: timed,
        p10_ns: at(0.1),
        p50_ns: at(0.5),
        p90_ns: at(0.9),
        p99_ns: at(0.99),
        p999_ns: at(0.999),
        max_ns: histogram.max() as f64 * ns_per_tick,
        mean_ns: histogram.mean() * ns_per_tick,
        timer_overhead_ns: overhead as f64 * ns_per_tick,
        timer_resolution_ns: resolution as f64 * ns_per_tick,
    }
}

/// Median ticks of an empty bracket, and the smallest non-zero step between consecutive reads.
fn timer_cost(clock: &CycleClock) -> (u64, u64) {
    let mut empty: Vec<u64> = (0..100_000)
        .map(|_| {
            let t0 = clock.now();
            clock.now() - t0
        })
        .collect();
    empty.sort_unstable();
    let resolution = empty.iter().copied().find(|&d| d > 0).unwrap_or(1);
    (empty[empty.len() / 2], resolution)
}

/// Reads and writes one byte per cache line of `buffer`.
fn touch(buffer: &mut [u8]) {
    for line in buffer.chunks_mut(64) {
        line[0] = line[0].wrapping_add(1);
    }
    std::hint::black_box(&buffer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_count_every_call() {
        let mut x = 0u64;
        let r = measure(20_000, CacheState::Warm, |i| {
            // A call whose cost grows with i, so the percentiles must spread.
            for k in 0..(i % 50) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(k));
            }
        });
        assert_eq!(r.calls, 20_000);
        assert!(
            r.p10_ns <= r.p50_ns
                && r.p50_ns <= r.p90_ns
                && r.p90_ns <= r.p99_ns
                && r.p99_ns <= r.p999_ns
                && r.p999_ns <= r.max_ns
        );
        assert!(r.p50_ns > 0.0 && r.timer_resolution_ns > 0.0 && r.timer_overhead_ns >= 0.0);
    }

    #[test]
    fn cold_runs_call_once_per_eviction() {
        let mut seen = Vec::new();
        let r = measure(50, CacheState::Cold { evict_bytes: 1 << 20 }, |i| seen.push(i));
        assert_eq!(r.calls, 50);
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
    }
}
