//! `tachyon bench kernels`: every vector kernel on every instruction set, its scalar twin and a plain-iterator
//! version, from L1-resident sizes to far beyond the caches.

use tachyon_simd::mem::AlignedVec;
use tachyon_simd::{baseline, Float, Isa, KernelTable};

use super::harness::{time, Budget};
use super::probes::{dram_bytes, MemoryProbe, Peaks};
use super::{Row, Scale};

/// Input and output buffers of one size.
struct Buffers<T: Float> {
    a: AlignedVec<T>,
    b: AlignedVec<T>,
    c: AlignedVec<T>,
    out: AlignedVec<T>,
}

/// One benchmarked kernel: how to call it through a table and as plain iterators, and what it moves.
struct Kernel<T: Float> {
    name: &'static str,
    /// Arrays read and written per call (bytes = n * size_of::<T>() * (reads + writes)).
    reads: usize,
    writes: usize,
    /// Floating-point operations per element, where the count is meaningful.
    flops: Option<usize>,
    /// Whether it is worth measuring beyond the caches (memory-bound kernels).
    in_dram: bool,
    simd: fn(&KernelTable<T>, &mut Buffers<T>) -> T,
    iter: fn(&mut Buffers<T>) -> T,
}

const ALPHA: f64 = 1e-3;

fn kernels<T: Float>() -> Vec<Kernel<T>> {
    macro_rules! k {
        ($name:literal, $r:expr, $w:expr, $flops:expr, $dram:expr, |$t:ident, $bufs:ident| $simd:expr, |$bufs2:ident| $iter:expr) => {
            Kernel {
                name: $name,
                reads: $r,
                writes: $w,
                flops: $flops,
                in_dram: $dram,
                simd: |$t, $bufs| $simd,
                iter: |$bufs2| $iter,
            }
        };
    }
    vec![
        k!("dot", 2, 0, Some(2), true, |t, x| (t.dot)(&x.a, &x.b), |x| baseline::dot(&x.a, &x.b)),
        k!("sum", 1, 0, Some(1), true, |t, x| (t.sum)(&x.a), |x| baseline::sum(&x.a)),
        k!("sum_sq", 1, 0, Some(2), true, |t, x| (t.sum_sq)(&x.a), |x| baseline::sum_sq(&x.a)),
        k!("argmax", 1, 0, None, true, |t, x| (t.argmax)(&x.a).unwrap().1, |x| baseline::argmax(&x.a).unwrap().1),
        k!(
            "axpy",
            2,
            1,
            Some(2),
            true,
            |t, x| {
                (t.axpy)(T::from_f64(ALPHA), &x.a, &mut x.out);
                x.out[0]
            },
            |x| {
                baseline::axpy(T::from_f64(ALPHA), &x.a, &mut x.out);
                x.out[0]
            }
        ),
        k!(
            "scale",
            1,
            1,
            Some(1),
            true,
            |t, x| {
                (t.scale)(T::from_f64(ALPHA), &x.a, &mut x.out);
                x.out[0]
            },
            |x| {
                baseline::scale(T::from_f64(ALPHA), &x.a, &mut x.out);
                x.out[0]
            }
        ),
        k!(
            "add",
            2,
            1,
            Some(1),
            true,
            |t, x| {
                (t.add)(&x.a, &x.b, &mut x.out);
                x.out[0]
            },
            |x| {
                baseline::add(&x.a, &x.b, &mut x.out);
                x.out[0]
            }
        ),
        k!(
            "mul_add",
            3,
            1,
            Some(2),
            true,
            |t, x| {
                (t.mul_add)(&x.a, &x.b, &x.c, &mut x.out);
                x.out[0]
            },
            |x| {
                baseline::mul_add(&x.a, &x.b, &x.c, &mut x.out);
                x.out[0]
            }
        ),
        k!(
            "relu",
            1,
            1,
            None,
            true,
            |t, x| {
                (t.relu)(&x.a, &mut x.out);
                x.out[0]
            },
            |x| {
                baseline::relu(&x.a, &mut x.out);
                x.out[0]
            }
        ),
        k!(
            "exp",
            1,
            1,
            None,
            false,
            |t, x| {
                (t.exp)(&x.a, &mut x.out);
                x.out[0]
            },
            |x| {
                baseline::exp(&x.a, &mut x.out);
                x.out[0]
            }
        ),
        k!(
            "tanh",
            1,
            1,
            None,
            false,
            |t, x| {
                (t.tanh)(&x.a, &mut x.out);
                x.out[0]
            },
            |x| {
                baseline::tanh(&x.a, &mut x.out);
                x.out[0]
            }
        ),
        k!(
            "sigmoid",
            1,
            1,
            None,
            false,
            |t, x| {
                (t.sigmoid)(&x.a, &mut x.out);
                x.out[0]
            },
            |x| {
                baseline::sigmoid(&x.a, &mut x.out);
                x.out[0]
            }
        ),
    ]
}

/// Element counts: L1-resident up to far beyond the 32 MiB L3.
pub fn sizes(scale: Scale) -> Vec<usize> {
    match scale {
        Scale::Full => vec![8, 64, 512, 2048, 16 << 10, 128 << 10, 1 << 20, 32 << 20],
        Scale::Quick => vec![2048, 1 << 20, 32 << 20],
        Scale::Smoke => vec![8, 67],
    }
}

/// Working sets above this many bytes are "in DRAM" and compared with the memory probes.
const DRAM_THRESHOLD_BYTES: usize = 64 << 20;

fn run_type<T: Float>(scale: Scale, peaks: &Peaks, emit: &mut dyn FnMut(Row)) {
    let budget: Budget = scale.budget();
    let mut memory: Option<MemoryProbe> = None;
    for n in sizes(scale) {
        let gen = |seed: usize| -> AlignedVec<T> {
            let mut v = AlignedVec::zeroed(n);
            for (i, x) in v.iter_mut().enumerate() {
                *x = T::from_f64((((i * 7919 + seed * 104_729) % 2001) as f64 - 1000.0) / 1000.0);
            }
            v
        };
        let mut bufs = Buffers { a: gen(1), b: gen(2), c: gen(3), out: gen(4) };
        for kernel in kernels::<T>() {
            let bytes = n * T::BYTES * (kernel.reads + kernel.writes);
            let in_dram = bytes > DRAM_THRESHOLD_BYTES;
            if in_dram && !kernel.in_dram {
                continue;
            }
            // DRAM-sized rows are compared with the memory probes measured just before and just after them
            // (the larger of the two), since the bandwidth of a shared machine drifts.
            let probe_bandwidth = |memory: &mut MemoryProbe| {
                let read = memory.read(budget, 1).gb_per_s.unwrap_or(f64::NAN);
                let triad = memory.triad(budget, 1).gb_per_s.unwrap_or(f64::NAN);
                if kernel.writes == 0 {
                    read
                } else {
                    triad
                }
            };
            let before =
                in_dram.then(|| probe_bandwidth(memory.get_or_insert_with(|| MemoryProbe::new(dram_bytes(scale)))));
            let mut rows = Vec::new();
            let mut scalar_ns = None;
            let impls: Vec<Option<Isa>> = Isa::supported().into_iter().map(Some).chain([None]).collect();
            for imp in impls {
                let t = match imp {
                    Some(isa) => {
                        let table = T::kernels_for(isa).expect("supported");
                        time(budget, || (kernel.simd)(table, &mut bufs))
                    }
                    None => time(budget, || (kernel.iter)(&mut bufs)),
                };
                let mut row = Row::new("kernels", kernel.name, imp.map_or("iter", |i| i.name()), T::NAME, 1, t);
                row.size = Some(n as u64);
                row.gb_per_s = Some(bytes as f64 / t.median_ns);
                row.gflops = kernel.flops.map(|f| (f * n) as f64 / t.median_ns);
                if in_dram {
                    row.peak_of = Some(if kernel.writes == 0 { "memory_read" } else { "memory_triad" });
                } else if let Some(gflops) = row.gflops {
                    row.peak_fraction = Some(gflops / peaks.fma_gflops::<T>());
                    row.peak_of = Some("fma");
                }
                if imp == Some(Isa::Scalar) {
                    scalar_ns = Some(t.median_ns);
                }
                row.speedup_vs_scalar = scalar_ns.map(|s| s / t.median_ns);
                rows.push(row);
            }
            if let Some(before) = before {
                let after = probe_bandwidth(memory.as_mut().expect("created above"));
                let peak = before.max(after);
                rows.iter_mut().for_each(|r| r.peak_fraction = Some(r.gb_per_s.unwrap() / peak));
            }
            rows.into_iter().for_each(&mut *emit);
        }
    }
}

/// Runs the kernel workload for f32 and f64.
pub fn run(scale: Scale, peaks: &Peaks, emit: &mut dyn FnMut(Row)) {
    run_type::<f32>(scale, peaks, emit);
    run_type::<f64>(scale, peaks, emit);
}
