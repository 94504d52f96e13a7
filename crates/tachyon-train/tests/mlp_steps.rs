//! The standard training workload's step (MLP 32 -> 64 -> 64 -> 1, batch 256, Adam): no allocation after
//! warm-up, and a non-finite loss stops training with the step named.

use tachyon_testkit::{count_thread_allocations, SplitMix64};
use tachyon_train::{
    forward_backward, Activation, DataParallel, Head, Mlp, MlpSpec, NonFinite, Optimizer, Targets, Workspace,
};

tachyon_testkit::install_counting_allocator!();

fn spec() -> MlpSpec {
    MlpSpec { inputs: 32, hidden: vec![64, 64], activation: Activation::Relu, head: Head::Regression }
}

#[test]
fn a_training_step_allocates_nothing_after_warm_up() {
    // The standard batch, and one sample (the fused single-sample backward).
    for batch in [256, 1] {
        step_allocates_nothing(batch);
    }
}

fn step_allocates_nothing(batch: usize) {
    let mut rng = SplitMix64(1);
    let x: Vec<f32> = (0..batch * 32).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y: Vec<f32> = (0..batch).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let mut mlp = Mlp::<f32>::new(spec(), 7);
    let mut ws = Workspace::new(&mlp, batch);
    let mut adam = Optimizer::adam(&mlp, 1e-3);
    for _ in 0..3 {
        let loss = forward_backward(&mlp, &mut ws, &x, Targets::Values(&y));
        adam.step(&mut mlp, &ws, loss).unwrap();
    }
    let (_, allocations) = count_thread_allocations(|| {
        for _ in 0..50 {
            let loss = forward_backward(&mlp, &mut ws, &x, Targets::Values(&y));
            adam.step(&mut mlp, &ws, loss).unwrap();
        }
    });
    assert_eq!(allocations, 0, "batch {batch}");
}

#[test]
fn a_non_finite_loss_stops_at_its_step_and_changes_nothing() {
    let batch = 8;
    let x = vec![0.5f32; batch * 32];
    let mut y = vec![0.0f32; batch];
    let mut mlp = Mlp::<f32>::new(spec(), 7);
    let mut ws = Workspace::new(&mlp, batch);
    let mut adam = Optimizer::adam(&mlp, 1e-3);
    let loss = forward_backward(&mlp, &mut ws, &x, Targets::Values(&y));
    adam.step(&mut mlp, &ws, loss).unwrap();
    y[3] = f32::NAN;
    let before = mlp.clone();
    let loss = forward_backward(&mlp, &mut ws, &x, Targets::Values(&y));
    assert_eq!(adam.step(&mut mlp, &ws, loss), Err(NonFinite { step: 2, what: "loss" }));
    assert_eq!(mlp, before);
    assert_eq!(adam.steps(), 1);
}

fn batch_data(batch: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64(seed);
    let x: Vec<f32> = (0..batch * 32).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y: Vec<f32> = (0..batch).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    (x, y)
}

#[test]
fn one_part_is_the_plain_step_and_more_parts_agree_with_it() {
    let (x, y) = batch_data(255, 3); // odd: the parts differ in size
    let mlp = Mlp::<f32>::new(spec(), 9);
    let mut ws = Workspace::new(&mlp, 255);
    let want_loss = forward_backward(&mlp, &mut ws, &x, Targets::Values(&y));
    let mut one = DataParallel::new(&mlp, 255, 1);
    assert_eq!(one.forward_backward(&mlp, &x, Targets::Values(&y)), want_loss);
    assert_eq!(one.gradients().grad_w, ws.grad_w);
    assert_eq!(one.gradients().grad_b, ws.grad_b);
    for parts in [2, 3, 7] {
        let mut dp = DataParallel::new(&mlp, 255, parts);
        assert_eq!(dp.parts(), parts);
        let loss = dp.forward_backward(&mlp, &x, Targets::Values(&y));
        assert!((loss - want_loss).abs() <= 1e-6 * want_loss, "{parts} parts: loss {loss} vs {want_loss}");
        let got = dp.gradients();
        for (g, w) in got.grad_w.iter().chain(&got.grad_b).zip(ws.grad_w.iter().chain(&ws.grad_b)) {
            let scale = w.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
            for (a, b) in g.iter().zip(w) {
                assert!((a - b).abs() <= 1e-5 * scale, "{parts} parts: {a} vs {b} (scale {scale})");
            }
        }
    }
}

#[test]
fn parallel_training_is_deterministic() {
    let (x, y) = batch_data(256, 4);
    let train = |steps: usize| {
        let mut mlp = Mlp::<f32>::new(spec(), 7);
        let mut dp = DataParallel::new(&mlp, 256, 2);
        let mut adam = Optimizer::adam(&mlp, 1e-3);
        for _ in 0..steps {
            let loss = dp.forward_backward(&mlp, &x, Targets::Values(&y));
            adam.step(&mut mlp, dp.gradients(), loss).unwrap();
        }
        mlp
    };
    assert_eq!(train(20), train(20), "same seed, same parts: bit-identical weights");
}

#[test]
fn a_panic_in_a_helper_part_reaches_the_caller_and_the_helpers_keep_working() {
    let (x, _) = batch_data(64, 5);
    let spec = MlpSpec { head: Head::Softmax3, ..spec() };
    let mlp = Mlp::<f32>::new(spec, 3);
    let good: Vec<i8> = (0..64).map(|r| (r % 3) as i8).collect();
    let mut bad = good.clone();
    bad[60] = 7; // in the last part, run by a helper thread
    let mut dp = DataParallel::new(&mlp, 64, 4);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dp.forward_backward(&mlp, &x, Targets::Classes(&bad));
    }));
    let message = caught.expect_err("a class out of range panics");
    let text = message.downcast_ref::<String>().map(String::as_str).unwrap_or("");
    assert!(text.contains("class 7"), "the helper's own panic message: {text:?}");
    // The same object, after the panic, computes what a fresh one does.
    let loss = dp.forward_backward(&mlp, &x, Targets::Classes(&good));
    let mut fresh = DataParallel::new(&mlp, 64, 4);
    assert_eq!(loss, fresh.forward_backward(&mlp, &x, Targets::Classes(&good)));
    assert_eq!(dp.gradients().grad_w, fresh.gradients().grad_w);
}
