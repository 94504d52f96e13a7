//! Training and serving agree: a network trained here, compiled for every instruction set this CPU has, gives the
//! outputs of the training-side forward pass.

use tachyon_infer::CompiledModel;
use tachyon_simd::Backend;
use tachyon_testkit::SplitMix64;
use tachyon_train::{forward, Activation, Head, Mlp, MlpSpec, Standardizer, Workspace};

/// Rows of raw features with the given per-feature means and scales (some features far from zero, as prices are).
fn rows(n: usize, mean: &[f64], std: &[f64], seed: u64) -> Vec<f32> {
    tachyon_testkit::rows_around(n, mean, std, 2.0, seed)
}

/// `|got - want| <= tol * scale`, where scale is the larger of |want| and the mean |output| of the set.
fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    let typical = want.iter().map(|v| v.abs()).sum::<f64>() / want.len().max(1) as f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (f64::from(g) - w).abs();
        assert!(err <= tol * w.abs().max(typical), "{what}: output {i}: {g} vs {w} (error {err:e})");
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
        let net = mlp.to_network(&standardizer, &tachyon_train::FEATURES);
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
        for isa in tachyon_simd::isa::levels_under_test() {
            let p = CompiledModel::compile(&net, &Backend::new(isa).unwrap()).unwrap();
            let mut got = vec![0.0; n];
            p.predict_batch(&x, &mut p.scratch(), &mut got).unwrap();
            assert_close(&got, &want, 1e-5, &format!("{isa} {activation:?} vs training"));
        }
    }
}
