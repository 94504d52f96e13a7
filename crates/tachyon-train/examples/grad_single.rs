//! Profiling aid: single-sample forward + backward of the standard network, 2M times.
use tachyon_train::{forward_backward, Activation, Head, Mlp, MlpSpec, Targets, Workspace};

fn main() {
    let spec = MlpSpec { inputs: 32, hidden: vec![64, 64], activation: Activation::Relu, head: Head::Regression };
    let mlp = Mlp::<f32>::new(spec, 1);
    let mut ws = Workspace::new(&mlp, 1);
    let x: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
    let t = std::time::Instant::now();
    let mut total = 0.0;
    for _ in 0..500_000 {
        total += forward_backward(&mlp, &mut ws, &x, Targets::Values(&[0.5]));
    }
    println!("{:.0} ns per step ({total})", t.elapsed().as_nanos() as f64 / 5e5);
}
