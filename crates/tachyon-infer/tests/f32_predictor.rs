//! The f32 compiled model on every instruction set this CPU has: against the f64 reference, batch against single
//! rows, one model shared by two threads, and zero allocations
//! per call.

use tachyon_infer::Activation;
use tachyon_infer::{CompiledModel, DenseNetwork, Scratch};
use tachyon_simd::Backend;
use tachyon_testkit::SplitMix64;

tachyon_testkit::install_counting_allocator!();

/// Rows of raw features with the given per-feature means and scales (some features far from zero, as prices are).
fn rows(n: usize, mean: &[f64], std: &[f64], seed: u64) -> Vec<f32> {
    tachyon_testkit::rows_around(n, mean, std, 2.0, seed)
}

fn network(widths: &[usize], activation: Activation, seed: u64) -> DenseNetwork {
    let mut net = DenseNetwork::seeded(widths, activation, seed);
    let mut rng = SplitMix64(seed ^ 99);
    for (m, s) in net.mean.iter_mut().zip(net.std.iter_mut()) {
        *m = (rng.next_f64() - 0.5) * 2000.0;
        *s = 0.1 + rng.next_f64() * 30.0;
    }
    net
}

/// `|got - want| <= tol * scale`, where scale is the larger of |want| and the mean |output| of the set: a relative
/// error that does not explode for the rare output that happens to sit near zero.
fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    let typical = want.iter().map(|v| v.abs()).sum::<f64>() / want.len().max(1) as f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(g) - w).abs();
        assert!(err <= tol * w.abs().max(typical), "{what}: output {i}: {g} vs {w} (error {err:e})");
    }
}

/// The outputs of one row.
fn predict(p: &CompiledModel, scratch: &mut Scratch, row: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; p.outputs()];
    p.predict(row, scratch, &mut out).unwrap();
    out
}

/// Widths that hit every panel size, the dot-product head, odd inputs and more than one panel.
const SHAPES: &[&[usize]] = &[
    &[32, 64, 64, 1],
    &[44, 64, 64, 1],
    &[1, 1],
    &[15, 17, 3],
    &[17, 63, 65, 2],
    &[63, 130, 1],
    &[7, 5, 9, 8],
    &[44, 16],
];

#[test]
fn every_path_matches_the_f64_reference() {
    for isa in tachyon_simd::isa::levels_under_test() {
        for (k, widths) in SHAPES.iter().enumerate() {
            for activation in [Activation::Relu, Activation::Tanh] {
                let net = network(widths, activation, k as u64);
                let p = CompiledModel::compile(&net, &Backend::new(isa).unwrap()).unwrap();
                let mut s = p.scratch();
                let x = rows(50, &net.mean, &net.std, k as u64 + 10);
                let mut got = Vec::new();
                let mut want = Vec::new();
                for row in x.chunks_exact(net.inputs) {
                    got.extend(predict(&p, &mut s, row));
                    want.extend(net.forward_f64(row));
                }
                assert_close(&got, &want, 1e-5, &format!("{isa} {widths:?} {activation:?}"));
                // The batch API (one thread and split over the pool) computes the same numbers bit for bit.
                let mut batch = vec![0.0; got.len()];
                p.predict_batch(&x, &mut s, &mut batch).unwrap();
                assert_eq!(batch, got);
                batch.fill(0.0);
                p.predict_batch_parallel(&x, &mut [p.scratch(), p.scratch(), p.scratch()], &mut batch).unwrap();
                assert_eq!(batch, got);
            }
        }
    }
}

#[test]
fn unaligned_rows_give_the_same_outputs() {
    let net = network(&[17, 40, 1], Activation::Relu, 1);
    let x = rows(1, &net.mean, &net.std, 2);
    for isa in tachyon_simd::isa::levels_under_test() {
        let p = CompiledModel::compile(&net, &Backend::new(isa).unwrap()).unwrap();
        let mut s = p.scratch();
        let want = predict(&p, &mut s, &x);
        let mut shifted = vec![0.0f32; x.len() + 3];
        for offset in 1..4 {
            shifted[offset..offset + x.len()].copy_from_slice(&x);
            assert_eq!(predict(&p, &mut s, &shifted[offset..offset + x.len()]), want, "{isa} offset {offset}");
        }
    }
}

/// A pool of two threads: the counted calls run on one of its workers, where a parallel batch's fork-join pushes
/// onto the worker's own queue (a call from outside a pool goes through rayon's shared injector queue, which
/// allocates a block of slots now and then).
fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()
}

#[test]
fn predict_allocates_nothing() {
    let pool = pool();
    for isa in tachyon_simd::isa::levels_under_test() {
        let net = network(&[44, 64, 64, 1], Activation::Tanh, 2);
        let p = CompiledModel::compile(&net, &Backend::new(isa).unwrap()).unwrap();
        let mut s = p.scratch();
        let mut workers = [p.scratch(), p.scratch()];
        let x = rows(100, &net.mean, &net.std, 9);
        let mut out = vec![0.0; 100];
        let (sum, allocations) = pool.install(|| {
            p.predict_batch_parallel(&x, &mut workers, &mut out).unwrap();
            tachyon_testkit::count_thread_allocations(|| {
                let mut sum = 0.0;
                let mut y = [0.0f32];
                for row in x.chunks_exact(44) {
                    p.predict(row, &mut s, &mut y).unwrap();
                    sum += y[0];
                }
                p.predict_batch(&x, &mut s, &mut out).unwrap();
                p.predict_batch_parallel(&x, &mut workers, &mut out).unwrap();
                sum
            })
        });
        assert!(sum.is_finite());
        assert_eq!(allocations, 0, "{isa}: allocations in predict");
    }
}

#[test]
fn wrong_widths_are_errors() {
    let net = network(&[5, 8, 1], Activation::Relu, 1);
    let p = CompiledModel::compile(&net, &Backend::active()).unwrap();
    let mut s = p.scratch();
    let mut out = vec![0.0; 2];
    assert!(p.predict(&[0.0; 4], &mut s, &mut out).unwrap_err().to_string().contains("expected 5"));
    assert!(p.predict_batch(&[0.0; 11], &mut s, &mut out).is_err());
    assert!(p.predict_batch(&[0.0; 10], &mut s, &mut out[..1]).is_err());
}

#[test]
fn nan_features_propagate() {
    let net = network(&[6, 16, 1], Activation::Relu, 1);
    for isa in tachyon_simd::isa::levels_under_test() {
        let p = CompiledModel::compile(&net, &Backend::new(isa).unwrap()).unwrap();
        let mut x = rows(1, &net.mean, &net.std, 1);
        x[3] = f32::NAN;
        assert!(predict(&p, &mut p.scratch(), &x)[0].is_nan(), "{isa}");
    }
}

#[test]
fn one_model_shared_by_two_threads_gives_bit_identical_outputs() {
    for isa in tachyon_simd::isa::levels_under_test() {
        let net = network(&[44, 64, 64, 1], Activation::Relu, 4);
        let p = std::sync::Arc::new(CompiledModel::compile(&net, &Backend::new(isa).unwrap()).unwrap());
        let x = std::sync::Arc::new(rows(2000, &net.mean, &net.std, 5));
        let mut want = vec![0.0; 2000];
        p.predict_batch(&x, &mut p.scratch(), &mut want).unwrap();
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let (p, x) = (p.clone(), x.clone());
                std::thread::spawn(move || {
                    let mut s = p.scratch();
                    let mut got = vec![0.0f32; 2000];
                    // The two threads walk the rows in opposite orders, so they use the model at the same time
                    // on different rows.
                    for i in 0..2000 {
                        let r = if t == 0 { i } else { 1999 - i };
                        p.predict(&x[r * 44..(r + 1) * 44], &mut s, &mut got[r..r + 1]).unwrap();
                    }
                    got
                })
            })
            .collect();
        for t in threads {
            let got = t.join().unwrap();
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa}");
        }
    }
}
