//! Quick look at single-sample latency of the standard network (profiling aid; the benchmark is
//! `tachyon bench infer`).
use tachyon_infer::latency::{measure, CacheState};
use tachyon_infer::{DenseNetwork, Predictor};
use tachyon_train::Activation;

fn main() {
    let widths: Vec<usize> =
        std::env::args().nth(1).map_or(vec![32, 64, 64, 1], |a| a.split(',').map(|w| w.parse().unwrap()).collect());
    let net = DenseNetwork::seeded(&widths, Activation::Relu, 42);
    let mut p = Predictor::new(&net).unwrap();
    let rows: Vec<f32> = (0..widths[0] * 1024).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    for _ in 0..3 {
        let r = measure(1_000_000, CacheState::Warm, |i| {
            let k = (i as usize & 1023) * widths[0];
            std::hint::black_box(p.predict(&rows[k..k + widths[0]]).unwrap()[0]);
        });
        let tp = throughput(&mut p, &rows, widths[0]);
        println!("{} p50 {:.0} p99 {:.0} p999 {:.0} back-to-back {tp:.1} ns", p.isa(), r.p50_ns, r.p99_ns, r.p999_ns);
    }
}

/// Throughput of back-to-back calls, for comparison with the per-call latency.
#[allow(dead_code)]
fn throughput(p: &mut Predictor, rows: &[f32], d: usize) -> f64 {
    let t = std::time::Instant::now();
    for i in 0..1_000_000usize {
        let k = (i & 1023) * d;
        std::hint::black_box(p.predict(&rows[k..k + d]).unwrap()[0]);
    }
    t.elapsed().as_nanos() as f64 / 1e6
}
