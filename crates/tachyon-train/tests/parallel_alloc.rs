//! Data-parallel training steps allocate nothing after warm-up, on any thread: the caller's part, the helper
//! threads' parts, the combination and the optimizer. Alone in its binary, so that a process-wide allocation
//! count sees no other test.

use tachyon_testkit::{count_allocations, SplitMix64};
use tachyon_train::{Activation, DataParallel, Head, Mlp, MlpSpec, Optimizer, Targets};

tachyon_testkit::install_counting_allocator!();

#[test]
fn parallel_steps_allocate_nothing_after_warm_up_on_any_thread() {
    let spec = MlpSpec { inputs: 32, hidden: vec![64, 64], activation: Activation::Relu, head: Head::Regression };
    let mut rng = SplitMix64(4);
    let x: Vec<f32> = (0..256 * 32).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y: Vec<f32> = (0..256).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let mut mlp = Mlp::<f32>::new(spec, 7);
    let mut adam = Optimizer::adam(&mlp, 1e-3);
    for parts in [2, 3] {
        let mut dp = DataParallel::new(&mlp, 256, parts);
        let mut steps = |n: usize| {
            for _ in 0..n {
                let loss = dp.forward_backward(&mlp, &x, Targets::Values(&y));
                adam.step(&mut mlp, dp.gradients(), loss).unwrap();
            }
        };
        // Warm-up: every thread's first product makes its GEMM packing buffers.
        steps(5);
        let ((), allocations) = count_allocations(|| steps(50));
        assert_eq!(allocations, 0, "{parts} parts: allocations over 50 steps");
    }
}
