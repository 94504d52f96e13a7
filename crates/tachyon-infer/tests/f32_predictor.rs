//! The f32 predictor on every instruction set this CPU has: against the f64 reference, against the training-side
//! forward pass, batch against single rows, and zero allocations per call.

use tachyon_infer::{DenseNetwork, Predictor};
use tachyon_simd::Isa;
use tachyon_testkit::SplitMix64;
use tachyon_train::{forward, Activation, Head, Mlp, MlpSpec, Standardizer, Workspace};

tachyon_testkit::install_counting_allocator!();

/// Rows of raw features with the given per-feature means and scales (some features far from zero, as prices are).
fn rows(n: usize, mean: &[f64], std: &[f64], seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .flat_map(|_| {
            mean.iter().zip(std).map(|(m, s)| (m + s * (2.0 * rng.next_f64() - 1.0) * 2.0) as f32).collect::<Vec<_>>()
        })
        .collect()
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
    for isa in Isa::supported() {
        for (k, widths) in SHAPES.iter().enumerate() {
            for activation in [Activation::Relu, Activation::Tanh] {
                let net = network(widths, activation, k as u64);
                let mut p = Predictor::with_isa(&net, isa).unwrap();
                let x = rows(50, &net.mean, &net.std, k as u64 + 10);
                let mut got = Vec::new();
                let mut want = Vec::new();
                for row in x.chunks_exact(net.inputs) {
                    got.extend_from_slice(p.predict(row).unwrap());
                    want.extend(net.forward_f64(row));
                }
                assert_close(&got, &want, 1e-5, &format!("{isa} {widths:?} {activation:?}"));
                // The batch API (one thread and split over the pool) computes the same numbers bit for bit.
                let mut batch = vec![0.0; got.len()];
                p.predict_batch(&x, &mut batch).unwrap();
                assert_eq!(batch, got);
                batch.fill(0.0);
                p.predict_batch_parallel(&x, &mut batch).unwrap();
                assert_eq!(batch, got);
            }
        }
    }
}

#[test]
fn every_path_matches_the_training_forward_pass() {
    for activation in [Activation::Relu, Activation::Tanh] {
        let spec = MlpSpec { inputs: 44, hidden: vec![64, 64], activation, head: Head::Regression };
        let mut mlp = Mlp::<f32>::new(spec, 5);
        for b in mlp.biases.iter_mut().flatten() {
            *b = 0.05;
        }
        let mut rng = SplitMix64(3);
        let standardizer = Standardizer {
            mean: (0..44).map(|_| (rng.next_f64() - 0.5) * 600.0).collect(),
            std: (0..44).map(|_| 0.5 + rng.next_f64() * 5.0).collect(),
        };
        let net = DenseNetwork::from_mlp(&mlp, &standardizer);
        let n = 256;
        let x = rows(n, &standardizer.mean, &standardizer.std, 4);
        // Training side: standardise in f64, round to f32, run the batched GEMM forward pass.
        let z: Vec<f32> = x
            .chunks_exact(44)
            .flat_map(|r| {
                r.iter()
                    .zip(&standardizer.mean)
                    .zip(&standardizer.std)
                    .map(|((&v, m), s)| ((f64::from(v) - m) / s) as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut ws = Workspace::new(&mlp, n);
        forward(&mlp, &mut ws, &z);
        let want: Vec<f64> = ws.outputs().iter().map(|&v| f64::from(v)).collect();
        for isa in Isa::supported() {
            let mut p = Predictor::with_isa(&net, isa).unwrap();
            let mut got = vec![0.0; n];
            p.predict_batch(&x, &mut got).unwrap();
            assert_close(&got, &want, 1e-5, &format!("{isa} {activation:?} vs training"));
        }
    }
}

#[test]
fn unaligned_rows_give_the_same_outputs() {
    let net = network(&[17, 40, 1], Activation::Relu, 1);
    let x = rows(1, &net.mean, &net.std, 2);
    for isa in Isa::supported() {
        let mut p = Predictor::with_isa(&net, isa).unwrap();
        let want = p.predict(&x).unwrap().to_vec();
        let mut shifted = vec![0.0f32; x.len() + 3];
        for offset in 1..4 {
            shifted[offset..offset + x.len()].copy_from_slice(&x);
            assert_eq!(p.predict(&shifted[offset..offset + x.len()]).unwrap(), &want[..], "{isa} offset {offset}");
        }
    }
}

#[test]
fn predict_allocates_nothing() {
    for isa in Isa::supported() {
        let net = network(&[44, 64, 64, 1], Activation::Tanh, 2);
        let mut p = Predictor::with_isa(&net, isa).unwrap();
        let x = rows(100, &net.mean, &net.std, 9);
        let mut out = vec![0.0; 100];
        p.predict_batch_parallel(&x, &mut out).unwrap();
        let (sum, allocations) = tachyon_testkit::count_thread_allocations(|| {
            let mut sum = 0.0;
            for row in x.chunks_exact(44) {
                sum += p.predict(row).unwrap()[0];
            }
            p.predict_batch(&x, &mut out).unwrap();
            sum
        });
        assert!(sum.is_finite());
        assert_eq!(allocations, 0, "{isa}: allocations in predict");
    }
}

#[test]
fn wrong_widths_are_errors() {
    let net = network(&[5, 8, 1], Activation::Relu, 1);
    let mut p = Predictor::new(&net).unwrap();
    assert!(p.predict(&[0.0; 4]).unwrap_err().to_string().contains("expected 5"));
    let mut out = vec![0.0; 2];
    assert!(p.predict_batch(&[0.0; 11], &mut out).is_err());
    assert!(p.predict_batch(&[0.0; 10], &mut out[..1]).is_err());
}

#[test]
fn nan_features_propagate() {
    let net = network(&[6, 16, 1], Activation::Relu, 1);
    for isa in Isa::supported() {
        let mut p = Predictor::with_isa(&net, isa).unwrap();
        let mut x = rows(1, &net.mean, &net.std, 1);
        x[3] = f32::NAN;
        assert!(p.predict(&x).unwrap()[0].is_nan(), "{isa}");
    }
}
