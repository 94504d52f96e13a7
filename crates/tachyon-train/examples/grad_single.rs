//! Profiling aid: single-sample forward + backward of the standard network, 40 batches of 25,000 steps (`BATCHES`
//! and `STEPS` override them, e.g. for a short run under callgrind); prints
//! the fastest and the median batch (this machine's speed drifts between phases, so both are shown).
use tachyon_train::{forward_backward, Activation, Head, Mlp, MlpSpec, Targets, Workspace};

fn main() {
    let spec = MlpSpec { inputs: 32, hidden: vec![64, 64], activation: Activation::Relu, head: Head::Regression };
    let mlp = Mlp::<f32>::new(spec, 1);
    let mut ws = Workspace::new(&mlp, 1);
    let x: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
    let mut total = 0.0;
    let steps: usize = std::env::var("STEPS").map_or(25_000, |s| s.parse().unwrap());
    let mut batches: Vec<f64> = (0..std::env::var("BATCHES").map_or(40, |s| s.parse().unwrap()))
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..steps {
                total += forward_backward(&mlp, &mut ws, &x, Targets::Values(&[0.5]));
            }
            t.elapsed().as_nanos() as f64 / steps as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    println!("{:.0} ns per step fastest batch, {:.0} ns median ({total})", batches[0], batches[batches.len() / 2]);
}
