//! The standard training workload's step (MLP 32 -> 64 -> 64 -> 1, batch 256, Adam): no allocation after
//! warm-up, and a non-finite loss stops training with the step named.

use tachyon_testkit::{count_thread_allocations, SplitMix64};
use tachyon_train::{forward_backward, Activation, Adam, Head, Mlp, MlpSpec, NonFinite, Targets, Workspace};

tachyon_testkit::install_counting_allocator!();

fn spec() -> MlpSpec {
    MlpSpec { inputs: 32, hidden: vec![64, 64], activation: Activation::Relu, head: Head::Regression }
}

#[test]
fn a_training_step_allocates_nothing_after_warm_up() {
    let batch = 256;
    let mut rng = SplitMix64(1);
    let x: Vec<f32> = (0..batch * 32).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let y: Vec<f32> = (0..batch).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
    let mut mlp = Mlp::<f32>::new(spec(), 7);
    let mut ws = Workspace::new(&mlp, batch);
    let mut adam = Adam::new(&mlp, 1e-3);
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
    assert_eq!(allocations, 0);
}

#[test]
fn a_non_finite_loss_stops_at_its_step_and_changes_nothing() {
    let batch = 8;
    let x = vec![0.5f32; batch * 32];
    let mut y = vec![0.0f32; batch];
    let mut mlp = Mlp::<f32>::new(spec(), 7);
    let mut ws = Workspace::new(&mlp, batch);
    let mut adam = Adam::new(&mlp, 1e-3);
    let loss = forward_backward(&mlp, &mut ws, &x, Targets::Values(&y));
    adam.step(&mut mlp, &ws, loss).unwrap();
    y[3] = f32::NAN;
    let before = mlp.clone();
    let loss = forward_backward(&mlp, &mut ws, &x, Targets::Values(&y));
    assert_eq!(adam.step(&mut mlp, &ws, loss), Err(NonFinite { step: 2, what: "loss" }));
    assert_eq!(mlp, before);
    assert_eq!(adam.steps(), 1);
}
