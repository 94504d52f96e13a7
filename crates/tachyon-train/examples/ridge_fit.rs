//! Times the closed-form ridge fit on the benchmark's data (1M x 32 f64, as `tachyon bench train`), for profiling:
//! `cargo run --release -p tachyon-train --example ridge_fit -- [REPEATS]`.

use std::time::Instant;

use tachyon_train::Ridge;

fn main() {
    let repeats: usize = std::env::args().nth(1).map_or(10, |r| r.parse().expect("REPEATS is a number"));
    let (n, d) = (1_000_000usize, 32usize);
    let mut state = 7u64;
    let mut lcg = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let z: Vec<f64> = (0..n * d).map(|_| lcg()).collect();
    let y: Vec<f32> = z.chunks(d).map(|r| (r[0] * 0.5 - r[3] * 0.25) as f32).collect();
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(Ridge::fit(&z, &y, d, 1e-3).expect("positive definite"));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("ridge {n} x {d}: best {:.1} ms, median {:.1} ms", times[0], times[times.len() / 2]);
}
