//! Timing: warm up, batch calls so that one sample lasts long enough for the clock, repeat, take the median.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long to warm up and how many samples of what length to take.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Warm-up time before measuring (caches, page faults, clock frequency).
    pub warmup: Duration,
    /// Number of timed samples; the median is reported.
    pub samples: usize,
    /// Target duration of one sample; calls are batched to reach it.
    pub sample_time: Duration,
}

impl Budget {
    /// For `--quick`: enough to be stable to a few percent on a quiet machine.
    pub const QUICK: Budget =
        Budget { warmup: Duration::from_millis(20), samples: 11, sample_time: Duration::from_millis(2) };
    /// One sample, no warm-up: for tests that only check that a workload runs.
    pub const SMOKE: Budget = Budget { warmup: Duration::ZERO, samples: 1, sample_time: Duration::ZERO };
    /// The default.
    pub const FULL: Budget =
        Budget { warmup: Duration::from_millis(100), samples: 31, sample_time: Duration::from_millis(5) };
}

/// Per-call time of a measured function, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Median over samples.
    pub median_ns: f64,
    /// 10th percentile over samples.
    pub p10_ns: f64,
    /// 90th percentile over samples.
    pub p90_ns: f64,
}

/// Times `f` per call. The result of `f` goes through `black_box` so the work cannot be optimised away.
pub fn time<R>(budget: Budget, mut f: impl FnMut() -> R) -> Timing {
    let start = Instant::now();
    let mut calls = 0u64;
    while calls == 0 || start.elapsed() < budget.warmup {
        black_box(f());
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let batch = ((budget.sample_time.as_secs_f64() / per_call).ceil() as u64).max(1);
    let mut samples: Vec<f64> = (0..budget.samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            t.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Timing { median_ns: at(0.5), p10_ns: at(0.1), p90_ns: at(0.9) }
}
