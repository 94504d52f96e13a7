//! Criterion benchmarks of every vector kernel on every instruction set this CPU supports, against its scalar
//! twin (the `scalar` rows) and a plain-iterator version (`iter`), from 8 to 1M elements, as GB/s of bytes read
//! plus bytes written. `tachyon bench kernels` measures the same kernels with the machine's own peaks beside them.
//!
//! Run: `cargo bench -p tachyon-simd --bench kernels` (add `-- dot/f32` to filter).

#![allow(missing_docs)] // criterion_group! generates an undocumented public function.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tachyon_simd::{baseline, Float, Isa, KernelTable};

const SIZES: [usize; 7] = [8, 64, 512, 4096, 32 << 10, 256 << 10, 1 << 20];

struct Inputs<T> {
    a: Vec<T>,
    b: Vec<T>,
    c: Vec<T>,
    out: Vec<T>,
}

fn inputs<T: Float>(n: usize) -> Inputs<T> {
    let gen =
        |seed: usize| (0..n).map(|i| T::from_f64((((i * 7919 + seed) % 2001) as f64 - 1000.0) / 1000.0)).collect();
    Inputs { a: gen(1), b: gen(2), c: gen(3), out: gen(4) }
}

/// (name, arrays moved per element, call through a table, plain-iterator call)
type Case<T> = (&'static str, usize, fn(&KernelTable<T>, &mut Inputs<T>), fn(&mut Inputs<T>));

fn cases<T: Float>() -> Vec<Case<T>> {
    vec![
        ("dot", 2, |t, x| _ = black_box((t.dot)(&x.a, &x.b)), |x| _ = black_box(baseline::dot(&x.a, &x.b))),
        ("sum", 1, |t, x| _ = black_box((t.sum)(&x.a)), |x| _ = black_box(baseline::sum(&x.a))),
        ("sum_sq", 1, |t, x| _ = black_box((t.sum_sq)(&x.a)), |x| _ = black_box(baseline::sum_sq(&x.a))),
        ("argmax", 1, |t, x| _ = black_box((t.argmax)(&x.a)), |x| _ = black_box(baseline::argmax(&x.a))),
        (
            "axpy",
            3,
            |t, x| (t.axpy)(T::from_f64(1e-3), &x.a, &mut x.out),
            |x| baseline::axpy(T::from_f64(1e-3), &x.a, &mut x.out),
        ),
        (
            "scale",
            2,
            |t, x| (t.scale)(T::from_f64(0.5), &x.a, &mut x.out),
            |x| baseline::scale(T::from_f64(0.5), &x.a, &mut x.out),
        ),
        ("add", 3, |t, x| (t.add)(&x.a, &x.b, &mut x.out), |x| baseline::add(&x.a, &x.b, &mut x.out)),
        (
            "mul_add",
            4,
            |t, x| (t.mul_add)(&x.a, &x.b, &x.c, &mut x.out),
            |x| baseline::mul_add(&x.a, &x.b, &x.c, &mut x.out),
        ),
        ("relu", 2, |t, x| (t.relu)(&x.a, &mut x.out), |x| baseline::relu(&x.a, &mut x.out)),
        ("exp", 2, |t, x| (t.exp)(&x.a, &mut x.out), |x| baseline::exp(&x.a, &mut x.out)),
        ("tanh", 2, |t, x| (t.tanh)(&x.a, &mut x.out), |x| baseline::tanh(&x.a, &mut x.out)),
        ("sigmoid", 2, |t, x| (t.sigmoid)(&x.a, &mut x.out), |x| baseline::sigmoid(&x.a, &mut x.out)),
    ]
}

fn bench_type<T: Float>(c: &mut Criterion) {
    for (name, arrays, simd, iter) in cases::<T>() {
        let mut group = c.benchmark_group(format!("{name}/{}", T::NAME));
        group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
        for n in SIZES {
            let mut x = inputs::<T>(n);
            group.throughput(Throughput::Bytes((n * arrays * T::BYTES) as u64));
            for isa in Isa::supported() {
                let table = T::kernels_for(isa).unwrap();
                group.bench_function(BenchmarkId::new(isa.name(), n), |b| b.iter(|| simd(table, &mut x)));
            }
            group.bench_function(BenchmarkId::new("iter", n), |b| b.iter(|| iter(&mut x)));
        }
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    bench_type::<f32>(c);
    bench_type::<f64>(c);
}

criterion_group!(kernels, benches);
criterion_main!(kernels);
