//! GEMM makes no heap allocation after warm-up, on any thread: sequential and on a 2-thread rayon pool.
//!
//! Alone in its test binary so that the process-wide allocation count sees only this test.

use tachyon_linalg::{Gemm, MatMut, MatRef, Parallelism};

tachyon_testkit::install_counting_allocator!();

#[test]
fn no_allocations_after_warm_up() {
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for isa in tachyon_simd::isa::levels_under_test() {
        let plan = Gemm::<f32>::new(isa).unwrap();
        for (m, n, k, par) in [
            (4, 4, 4, Parallelism::None),
            (64, 256, 32, Parallelism::None),
            (256, 64, 1, Parallelism::None),
            (300, 300, 300, Parallelism::None),
            (400, 400, 400, Parallelism::Rayon),
        ] {
            if par == Parallelism::Rayon {
                // The product must really take the threaded path inside the pool.
                let flops = 2.0 * (m * n * k) as f64;
                assert!(flops >= two.install(|| plan.parallel_threshold_flops()), "{isa} {m}x{n}x{k}");
            }
            let a = vec![0.5f32; m * k];
            let b = vec![0.25f32; k * n];
            let mut c = vec![0.0f32; m * n];
            let run = |c: &mut [f32]| {
                let (a, b) = (MatRef::row_major(&a, m, k).unwrap(), MatRef::row_major(&b, k, n).unwrap());
                plan.run(1.0, a, b, 1.0, MatMut::row_major(c, m, n).unwrap(), par).unwrap()
            };
            // Inside the pool (no injection from outside, which is rayon's own queue), after warming up every
            // pool thread's packing buffers: work stealing decides which threads take which blocks.
            let allocations = two.install(|| {
                for _ in 0..16 {
                    run(&mut c);
                }
                tachyon_testkit::count_allocations(|| run(&mut c)).1
            });
            assert_eq!(allocations, 0, "{isa} {m}x{n}x{k} {par:?}");
        }
    }
}
