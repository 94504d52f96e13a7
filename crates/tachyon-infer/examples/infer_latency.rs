//! Quick look at single-sample latency, f32 and int8 (profiling aid; the benchmark is `tachyon bench infer`).
//! Usage: infer_latency [WIDTHS, e.g. 32,64,64,1]
use tachyon_infer::latency::{measure, CacheState};
use tachyon_infer::{DenseNetwork, Int8Predictor, Predictor};
use tachyon_train::Activation;

fn main() {
    let widths: Vec<usize> = std::env::args().nth(1).map_or(vec![32, 64, 64, 1], |a| {
        a.split(',').map(|w| w.parse().expect("widths: comma-separated sizes")).collect()
    });
    let d = widths[0];
    let net = DenseNetwork::seeded(&widths, Activation::Relu, 42);
    let rows: Vec<f32> = (0..d * 1024).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let mut f = Predictor::new(&net).unwrap();
    let (mut q, report) = Int8Predictor::quantize(&net, &rows, &rows).unwrap();
    println!("int8 vs f32: {report:?}");
    for _ in 0..3 {
        let rf = measure(1_000_000, CacheState::Warm, |i| {
            let k = (i as usize & 1023) * d;
            std::hint::black_box(f.predict(&rows[k..k + d]).unwrap()[0]);
        });
        let rq = measure(1_000_000, CacheState::Warm, |i| {
            let k = (i as usize & 1023) * d;
            std::hint::black_box(q.predict(&rows[k..k + d]).unwrap()[0]);
        });
        println!(
            "{} f32 p50 {:.0} mean {:.1} p99 {:.0} p999 {:.0} | int8 {} p50 {:.0} mean {:.1} p99 {:.0} p999 {:.0} ns",
            f.isa(),
            rf.p50_ns,
            rf.mean_ns,
            rf.p99_ns,
            rf.p999_ns,
            q.kernel().name(),
            rq.p50_ns,
            rq.mean_ns,
            rq.p99_ns,
            rq.p999_ns
        );
    }
}
