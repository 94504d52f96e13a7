//! The machine's own peaks, measured in the same run as the figures divided by them: FMA throughput per
//! instruction set and data type, memory read and copy bandwidth with one and two threads.

use std::hint::black_box;

use tachyon_simd::{Float, Isa};

use super::harness::{time, Budget};
use super::{Row, Scale};

/// Peaks measured by this run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Peaks {
    /// Best one-thread FMA throughput, f32, GFLOP/s.
    pub fma_f32_gflops: f64,
    /// Best one-thread FMA throughput, f64, GFLOP/s.
    pub fma_f64_gflops: f64,
}

impl Peaks {
    /// FMA peak of one thread for `T`, GFLOP/s.
    pub fn fma_gflops<T: Float>(&self) -> f64 {
        if T::BYTES == 4 {
            self.fma_f32_gflops
        } else {
            self.fma_f64_gflops
        }
    }
}

/// FMA probe iterations per call on one thread (about 0.2 ms).
const FMA_PROBE_ITERATIONS: u64 = 100_000;

/// Bytes of the DRAM probe buffers: far beyond any L3 (32 MiB here).
const DRAM_BYTES: usize = 256 << 20;

fn fma_row<T: Float>(isa: Isa, threads: usize, budget: Budget) -> Row {
    let table = T::kernels_for(isa).expect("supported");
    // About 0.2 ms per thread and call: long enough to hide thread start-up (~20 us) when threads > 1.
    let iterations = FMA_PROBE_ITERATIONS * threads as u64 * threads as u64;
    let flops = (table.fma_probe_flops_per_iteration() * iterations * threads as u64) as f64;
    let t = time(budget, || {
        if threads == 1 {
            (table.fma_probe)(black_box(iterations)).to_f64()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> =
                    (0..threads).map(|_| s.spawn(|| (table.fma_probe)(black_box(iterations)).to_f64())).collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum::<f64>()
            })
        }
    });
    let mut row = Row::new("probes", "fma_peak", isa.name(), T::NAME, threads, t);
    row.gflops = Some(flops / t.median_ns);
    row
}

/// OR of all words, read as 4 interleaved streams (more prefetch streams in flight than one sequential walk,
/// as a kernel reading several arrays has): the cheapest possible read of the whole buffer.
fn read_streams(words: &[u64]) -> u64 {
    let quarter = words.len() / 4;
    let (a, rest) = words.split_at(quarter);
    let (b, rest) = rest.split_at(quarter);
    let (c, d) = rest.split_at(quarter);
    let mut acc = [0u64; 4];
    for i in 0..quarter {
        acc[0] |= a[i];
        acc[1] |= b[i];
        acc[2] |= c[i];
        acc[3] |= d[i];
    }
    acc.iter().fold(d[quarter..].iter().fold(0, |x, &y| x | y), |x, &y| x | y)
}

/// STREAM's triad `a[i] = b[i] + s * c[i]` in plain Rust (compiler-vectorised): two read streams and one write
/// stream, the traffic pattern of our element-wise kernels.
fn triad(a: &mut [f64], b: &[f64], c: &[f64]) {
    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
        *a = b + 3.0 * c;
    }
}

/// Splits `0..len` into `threads` ranges.
fn ranges(len: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    let chunk = len.div_ceil(threads);
    (0..threads).map(|t| (t * chunk).min(len)..((t + 1) * chunk).min(len)).collect()
}

/// Buffers for the memory probes, kept so that the probes can be repeated next to each DRAM-sized figure (the
/// bandwidth of a shared VM drifts by tens of percent within minutes).
pub struct MemoryProbe {
    bytes: usize,
    src: Vec<u64>,
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
}

impl MemoryProbe {
    /// Allocates and touches `bytes` for the read probe and as much again for the triad.
    pub fn new(bytes: usize) -> MemoryProbe {
        let words = bytes / 8;
        let third = words / 3;
        MemoryProbe {
            bytes,
            src: (0..words as u64).collect(),
            a: vec![0.0; third],
            b: vec![1.0; third],
            c: vec![2.0; third],
        }
    }

    /// Read bandwidth with `threads` threads, GB/s, as a row.
    pub fn read(&self, budget: Budget, threads: usize) -> Row {
        let words = self.src.len();
        let t = time(budget, || {
            std::thread::scope(|s| {
                let handles: Vec<_> =
                    ranges(words, threads).into_iter().map(|r| s.spawn(|| read_streams(&self.src[r]))).collect();
                handles.into_iter().fold(0, |x, h| x | h.join().unwrap())
            })
        });
        let mut row = Row::new("probes", "memory_read", "auto", "u64", threads, t);
        row.size = Some(words as u64);
        row.gb_per_s = Some(self.bytes as f64 / t.median_ns);
        row
    }

    /// Triad bandwidth with `threads` threads (bytes read + written), GB/s, as a row.
    pub fn triad(&mut self, budget: Budget, threads: usize) -> Row {
        let n = self.a.len();
        let (a, b, c) = (&mut self.a, &self.b, &self.c);
        let t = time(budget, || {
            std::thread::scope(|s| {
                let mut rest: &mut [f64] = a;
                for r in ranges(n, threads) {
                    let (mine, tail) = rest.split_at_mut(r.len());
                    rest = tail;
                    let (b, c) = (&b[r.clone()], &c[r]);
                    s.spawn(move || triad(mine, b, c));
                }
            });
        });
        black_box(&self.a);
        let mut row = Row::new("probes", "memory_triad", "auto", "f64", threads, t);
        row.size = Some(n as u64);
        row.gb_per_s = Some((3 * n * 8) as f64 / t.median_ns);
        row
    }
}

/// One-thread FMA throughput of `isa` for `T` right now, GFLOP/s: the best of 5 short probe calls (~0.2 ms each),
/// for rows that compare themselves with the peak of their own minute.
pub fn fma_gflops_now<T: Float>(isa: Isa) -> f64 {
    let table = T::kernels_for(isa).expect("supported");
    let flops = (table.fma_probe_flops_per_iteration() * FMA_PROBE_ITERATIONS) as f64;
    (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            black_box((table.fma_probe)(black_box(FMA_PROBE_ITERATIONS)));
            flops / start.elapsed().as_nanos().max(1) as f64
        })
        .fold(0.0, f64::max)
}

/// Measures the peaks, appending one row per probe.
pub fn run(scale: Scale, rows: &mut Vec<Row>) -> Peaks {
    let budget = scale.budget();
    let mut peaks = Peaks::default();
    for isa in Isa::supported() {
        let r32 = fma_row::<f32>(isa, 1, budget);
        let r64 = fma_row::<f64>(isa, 1, budget);
        peaks.fma_f32_gflops = peaks.fma_f32_gflops.max(r32.gflops.unwrap());
        peaks.fma_f64_gflops = peaks.fma_f64_gflops.max(r64.gflops.unwrap());
        rows.extend([r32, r64]);
    }
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if threads > 1 {
        rows.push(fma_row::<f32>(Isa::best(), threads, budget));
        rows.push(fma_row::<f64>(Isa::best(), threads, budget));
    }
    for row in rows.iter_mut().filter(|r| r.case == "fma_peak") {
        let peak = if row.dtype == "f32" { peaks.fma_f32_gflops } else { peaks.fma_f64_gflops };
        row.peak_fraction = Some(row.gflops.unwrap() / (peak * row.threads as f64));
        row.peak_of = Some("fma");
    }
    let mut memory = MemoryProbe::new(dram_bytes(scale));
    for threads in [1usize, 2] {
        rows.push(memory.read(budget, threads));
        rows.push(memory.triad(budget, threads));
    }
    peaks
}

/// Size of the memory probe's buffers.
pub fn dram_bytes(scale: Scale) -> usize {
    if scale == Scale::Smoke {
        1 << 20
    } else {
        DRAM_BYTES
    }
}
