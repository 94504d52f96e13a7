//! The int8 predictor: bit-identical on every instruction set, accurate against f32 where calibration covers
//! the data, never clamping where it does not (those rows are the f32 network's), refused when too many rows fall
//! outside it, exact at the largest magnitudes, and allocation-free; with 8-bit and 12-bit activations alike.

const WIDTHS: [ActivationBits; 2] = [ActivationBits::Eight, ActivationBits::Twelve];

use tachyon_infer::check::integer_rows;
use tachyon_infer::quant::compare;
use tachyon_infer::Activation;
use tachyon_infer::{ActivationBits, Calibration, CompiledModel, DenseNetwork, Int8Kernel, Precision, QuantError};
use tachyon_simd::{Backend, Isa};
use tachyon_testkit::SplitMix64;

tachyon_testkit::install_counting_allocator!();

/// The outputs of one row (a fresh scratch each time: tests that time or count allocations use their own).
fn predict(q: &CompiledModel, row: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; q.outputs()];
    q.predict(row, &mut q.scratch(), &mut out).unwrap();
    out
}

/// The activation width of an int8 model.
fn bits_of(q: &CompiledModel) -> ActivationBits {
    match q.precision() {
        Precision::Int8 { bits, .. } => bits,
        Precision::F32 => panic!("not an int8 model"),
    }
}

/// Every row's outputs from the f32 model on the scalar path.
fn f32_outputs(net: &DenseNetwork, x: &[f32]) -> Vec<f32> {
    let f = CompiledModel::compile(net, &Backend::new(Isa::Scalar).unwrap()).unwrap();
    let mut out = vec![0.0; x.len() / net.inputs * net.outputs()];
    f.predict_batch(x, &mut f.scratch(), &mut out).unwrap();
    out
}

/// Raw feature rows around the network's means, `spread` standard deviations wide, with a few heavy tails.
fn rows(net: &DenseNetwork, n: usize, spread: f64, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n * net.inputs);
    for _ in 0..n {
        for (m, s) in net.mean.iter().zip(&net.std) {
            let u = 2.0 * rng.next_f64() - 1.0;
            let tail = if rng.next_f64() < 0.01 { 3.0 } else { 1.0 };
            out.push((m + s * spread * u * tail) as f32);
        }
    }
    out
}

fn network(widths: &[usize], activation: Activation, seed: u64) -> DenseNetwork {
    let mut net = DenseNetwork::seeded(widths, activation, seed);
    let mut rng = SplitMix64(seed ^ 7);
    for (m, s) in net.mean.iter_mut().zip(net.std.iter_mut()) {
        *m = (rng.next_f64() - 0.5) * 1000.0;
        *s = 0.2 + rng.next_f64() * 20.0;
    }
    net
}

const SHAPES: &[&[usize]] =
    &[&[32, 64, 64, 1], &[44, 64, 64, 1], &[1, 1], &[15, 17, 3], &[17, 63, 65, 2], &[63, 130, 1], &[7, 5, 9, 8]];

#[test]
fn outputs_are_bit_identical_on_every_instruction_set() {
    let mut kernels = std::collections::HashSet::new();
    let (mut integer, mut fallback) = (0, 0);
    for (k, widths) in SHAPES.iter().enumerate() {
        for (activation, bits) in [Activation::Relu, Activation::Tanh].into_iter().flat_map(|a| WIDTHS.map(|b| (a, b)))
        {
            let net = network(widths, activation, k as u64);
            let calibration = Calibration::fit_bits(&net, &rows(&net, 500, 2.0, 1), bits);
            let x = rows(&net, 300, 2.5, 2); // wider than calibration: some rows leave its range
            let mut reference: Option<Vec<Option<Vec<u32>>>> = None;
            for isa in tachyon_simd::isa::levels_under_test() {
                let backend = Backend::new(isa).unwrap();
                let q = CompiledModel::with_calibration(&net, calibration.clone(), &backend).unwrap();
                let Precision::Int8 { kernel, .. } = q.precision() else { panic!("an int8 model") };
                kernels.insert(kernel);
                let mut out = vec![0.0; 300 * net.outputs()];
                q.predict_batch(&x, &mut q.scratch(), &mut out).unwrap();
                let mut parallel = vec![0.0; out.len()];
                q.predict_batch_parallel(&x, &mut [q.scratch(), q.scratch()], &mut parallel).unwrap();
                assert_eq!(parallel, out, "{isa}: parallel batch");
                // The batch kernel (rows in groups) and its remainder rows equal single-row calls.
                let first = 7;
                let mut few = vec![0.0; first * net.outputs()];
                q.predict_batch(&x[..first * net.inputs], &mut q.scratch(), &mut few).unwrap();
                for (i, row) in x.chunks_exact(net.inputs).take(first).enumerate() {
                    let one = predict(&q, row);
                    assert_eq!(one, few[i * net.outputs()..(i + 1) * net.outputs()], "{isa}: row {i} alone vs batch");
                    assert_eq!(one, out[i * net.outputs()..(i + 1) * net.outputs()], "{isa}: row {i} alone vs 300");
                }
                // Rows out of the calibrated range are the f32 model's on this instruction set, bit for bit.
                let f = CompiledModel::compile(&net, &backend).unwrap();
                let mut f32_out = vec![0.0; out.len()];
                f.predict_batch(&x, &mut f.scratch(), &mut f32_out).unwrap();
                let got = integer_rows(&q, &x);
                let o = net.outputs();
                for (i, row) in got.iter().enumerate() {
                    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    let want = row.clone().unwrap_or_else(|| bits(&f32_out[i * o..(i + 1) * o]));
                    assert_eq!(bits(&out[i * o..(i + 1) * o]), want, "{isa}: row {i} of the batch");
                }
                integer += got.iter().filter(|r| r.is_some()).count();
                fallback += got.iter().filter(|r| r.is_none()).count();
                match &reference {
                    None => reference = Some(got),
                    Some(want) => {
                        assert!(got == *want, "{isa} differs from scalar on {widths:?} {activation:?} {bits:?}")
                    }
                }
            }
        }
    }
    assert!(integer > 0 && fallback > 0, "rows by the integer kernels {integer}, by the f32 network {fallback}");
    // Every integer kernel of the levels under test was among those compared.
    let features = tachyon_simd::isa::CpuFeatures::get();
    let levels = tachyon_simd::isa::levels_under_test();
    if levels.contains(&Isa::Avx512) && features.avx512vnni {
        assert!(kernels.iter().any(|k| matches!(k, Int8Kernel::Avx512Vnni(_))), "{kernels:?}");
    }
    if levels.contains(&Isa::Avx2) {
        assert!(kernels.contains(&Int8Kernel::Avx2), "{kernels:?}");
    }
}

#[test]
fn quantized_outputs_track_f32_and_the_report_says_how_closely() {
    for activation in [Activation::Relu, Activation::Tanh] {
        let net = network(&[44, 64, 64, 1], activation, 11);
        let (q, report) =
            CompiledModel::quantize(&net, &rows(&net, 2000, 1.0, 3), &rows(&net, 2000, 1.0, 4), &Backend::best())
                .unwrap();
        assert!(report.correlation >= 0.999 && report.correlation <= 1.0, "{report:?}");
        assert!(
            report.mean_abs_error < 0.05 * report.f32_std && report.max_abs_error >= report.mean_abs_error,
            "{report:?}"
        );
        assert_eq!(report.rows, 2000);
        // The report is what a direct comparison on the same rows gives.
        let x = rows(&net, 2000, 1.0, 4);
        let f = CompiledModel::compile(&net, &Backend::best()).unwrap();
        let (mut a, mut b) = (vec![0.0; 2000], vec![0.0; 2000]);
        f.predict_batch(&x, &mut f.scratch(), &mut a).unwrap();
        q.predict_batch(&x, &mut q.scratch(), &mut b).unwrap();
        assert_eq!(compare(&b, &a, report.bits, report.fallback_share), report);
        assert_eq!(bits_of(&q), report.bits);
    }
}

/// Correlation cannot see a scale or an offset error; the RMS and 99.9th-percentile limits do.
#[test]
fn a_scale_or_offset_error_is_refused_whatever_the_correlation() {
    let net = network(&[44, 64, 1], Activation::Relu, 11);
    let want = f32_outputs(&net, &rows(&net, 5000, 1.0, 4));
    let std = compare(&want, &want, ActivationBits::Eight, 0.0).f32_std;
    let exact = compare(&want, &want, ActivationBits::Eight, 0.0);
    assert!(exact.acceptable() && exact.rms_error == 0.0 && exact.p999_abs_error == 0.0, "{exact:?}");
    let mean = want.iter().map(|&v| f64::from(v)).sum::<f64>() / want.len() as f64;
    for (what, got) in [
        ("10% scale", want.iter().map(|&v| ((f64::from(v) - mean) * 1.1 + mean) as f32).collect::<Vec<_>>()),
        ("offset of 0.1 std", want.iter().map(|&v| (f64::from(v) + 0.1 * std) as f32).collect()),
    ] {
        let report = compare(&got, &want, ActivationBits::Eight, 0.0);
        assert!(report.correlation >= tachyon_infer::MIN_CORRELATION, "{what}: {report:?}");
        assert!(!report.acceptable(), "{what}: {report:?}");
    }
    // One signal in a hundred off by a whole std: correlation about 0.99, and the 99.9th percentile sees it.
    let spiky: Vec<f32> =
        want.iter().enumerate().map(|(i, &v)| if i % 100 == 0 { (f64::from(v) + std) as f32 } else { v }).collect();
    let report = compare(&spiky, &want, ActivationBits::Eight, 0.0);
    assert!(report.p999_abs_error > tachyon_infer::MAX_P999_ERROR * std && !report.acceptable(), "{report:?}");
}

#[test]
fn quantisation_is_refused_when_calibration_misses_the_data() {
    let net = network(&[20, 32, 1], Activation::Relu, 5);
    // Calibrated on a sliver around the mean, checked on rows 50x wider: almost every row leaves the range.
    let err = CompiledModel::quantize(&net, &rows(&net, 500, 0.02, 6), &rows(&net, 500, 1.0, 7), &Backend::best())
        .unwrap_err();
    match &err {
        QuantError::Inaccurate { report } => {
            assert!(report.fallback_share > tachyon_infer::MAX_FALLBACK_SHARE, "{report:?}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("refusing to quantise") && text.contains("0.999"), "{text}");
    assert!(text.contains("outside the calibrated range"), "{text}");
    assert!(text.contains("RMS error") && text.contains("99.9th-percentile error"), "{text}");
    assert!(matches!(
        CompiledModel::quantize(&net, &rows(&net, 1, 1.0, 1), &rows(&net, 5, 1.0, 1), &Backend::best()),
        Err(QuantError::TooFewRows { calibration: 1, check: 5 })
    ));
    let wide = DenseNetwork::seeded(&[5000, 1], Activation::Relu, 1);
    let err =
        CompiledModel::quantize(&wide, &rows(&wide, 3, 1.0, 1), &rows(&wide, 3, 1.0, 2), &Backend::best()).unwrap_err();
    assert!(err.to_string().contains("overflow"), "{err}");
}

#[test]
fn largest_magnitudes_are_summed_exactly() {
    // Every weight +1 and every input at its calibrated maximum: each input quantises to L - 1 (2046 or 126, the
    // largest in-range level), each weight to 127, the hidden ReLU activations to 2L (4094 or 254); with 12 bits
    // every pair sum reaches 2 x 127 x 4094 (far beyond the i16 that `vpmaddubsw` would saturate at) and the
    // output's i32 sum 64 x 127 x 4094: nothing may be lost, and the integer kernels (not the f32 network) must
    // have computed it. Negative inputs reach -(L - 1) (byte 2 with 8 bits).
    let widths = [64, 64, 1];
    let mut net = DenseNetwork::seeded(&widths, Activation::Relu, 1);
    for layer in &mut net.layers {
        layer.weights.iter_mut().for_each(|w| *w = 1.0);
        layer.bias.iter_mut().for_each(|b| *b = 0.0);
    }
    let x = vec![1.0f32; 64];
    for bits in WIDTHS {
        let calibration = Calibration::fit_bits(&net, &[x.clone(), vec![-1.0; 64]].concat(), bits);
        assert_eq!(calibration.activation_scales, vec![64.0 / (bits.unsigned_levels() - 1.0)]);
        for isa in tachyon_simd::isa::levels_under_test() {
            let q = CompiledModel::with_calibration(&net, calibration.clone(), &Backend::new(isa).unwrap()).unwrap();
            // Hidden: 64 units of exactly 64; output 64 * 64 = 4096, reached through exact integer sums.
            let ys = integer_rows(&q, &[x.clone(), vec![-1.0f32; 64]].concat());
            let [Some(high), Some(low)] = &ys[..] else { panic!("{isa} {bits:?}: computed in f32: {ys:?}") };
            let y = f32::from_bits(high[0]);
            assert!((f64::from(y) - 4096.0).abs() <= 4096.0 * 1e-6, "{isa} {bits:?}: {y}");
            assert_eq!(f32::from_bits(low[0]), 0.0, "{isa} {bits:?}: ReLU of negative sums");
        }
    }
    // Tanh: hidden activations at +-L (signed bytes at both ends), the output their exact sum.
    net.activation = Activation::Tanh;
    for bits in WIDTHS {
        let calibration = Calibration::fit_bits(&net, &[x.clone(), vec![-1.0; 64]].concat(), bits);
        let outs: Vec<Vec<u32>> = tachyon_simd::isa::levels_under_test()
            .into_iter()
            .map(|isa| {
                let q =
                    CompiledModel::with_calibration(&net, calibration.clone(), &Backend::new(isa).unwrap()).unwrap();
                [1.0f32, -1.0].iter().map(|&v| predict(&q, &[v; 64])[0].to_bits()).collect()
            })
            .collect();
        let y = f32::from_bits(outs[0][0]);
        assert!((f64::from(y) - 64.0).abs() <= 64.0 * 0.01, "{bits:?}: tanh(64) * 64 = {y}");
        assert_eq!(f32::from_bits(outs[0][1]), -y, "{bits:?}: odd symmetry");
        assert!(outs.windows(2).all(|w| w[0] == w[1]), "{bits:?}: {outs:?}");
    }
}

#[test]
fn eight_bit_activations_are_kept_only_where_they_pass_the_check() {
    let net = network(&[44, 64, 64, 1], Activation::Relu, 11);
    // Rows like the check rows: 8 bits pass.
    let (q, report) =
        CompiledModel::quantize(&net, &rows(&net, 2000, 1.0, 3), &rows(&net, 2000, 1.0, 4), &Backend::best()).unwrap();
    assert_eq!((report.bits, bits_of(&q)), (ActivationBits::Eight, ActivationBits::Eight), "{report:?}");
    // One calibration row 40 standard deviations out stretches the input scale: 8-bit steps become 0.3 standard
    // deviations wide and fail the check, 12-bit ones (0.02) pass.
    let mut calibration = rows(&net, 2000, 1.0, 3);
    for (v, (m, s)) in calibration.iter_mut().zip(net.mean.iter().zip(&net.std)).take(44) {
        *v = (m + 40.0 * s) as f32;
    }
    let eight = Calibration::fit_bits(&net, &calibration, ActivationBits::Eight);
    let q8 = CompiledModel::with_calibration(&net, eight, &Backend::new(Isa::Scalar).unwrap()).unwrap();
    let check = rows(&net, 2000, 1.0, 4);
    let a = f32_outputs(&net, &check);
    let mut b = vec![0.0; 2000];
    q8.predict_batch(&check, &mut q8.scratch(), &mut b).unwrap();
    assert!(compare(&b, &a, ActivationBits::Eight, 0.0).correlation < 0.999);
    let (q, report) = CompiledModel::quantize(&net, &calibration, &check, &Backend::best()).unwrap();
    assert_eq!((report.bits, bits_of(&q)), (ActivationBits::Twelve, ActivationBits::Twelve), "{report:?}");
    assert!(report.correlation >= 0.999, "{report:?}");
}

#[test]
fn predict_allocates_nothing() {
    let net = network(&[44, 64, 64, 1], Activation::Tanh, 3);
    let x = rows(&net, 100, 1.0, 2);
    // The counted calls run on a pool worker: see `predict_allocates_nothing` in f32_predictor.rs.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for bits in WIDTHS {
        let calibration = Calibration::fit_bits(&net, &rows(&net, 200, 1.0, 1), bits);
        for isa in tachyon_simd::isa::levels_under_test() {
            let q = CompiledModel::with_calibration(&net, calibration.clone(), &Backend::new(isa).unwrap()).unwrap();
            let mut s = q.scratch();
            let mut workers = [q.scratch(), q.scratch()];
            let mut y = [0.0f32];
            let mut out = vec![0.0f32; 100];
            let (sum, allocations) = pool.install(|| {
                q.predict(&x[..44], &mut s, &mut y).unwrap();
                q.predict_batch_parallel(&x, &mut workers, &mut out).unwrap();
                tachyon_testkit::count_thread_allocations(|| {
                    let mut sum = 0.0;
                    for row in x.chunks_exact(44) {
                        q.predict(row, &mut s, &mut y).unwrap();
                        sum += y[0];
                    }
                    q.predict_batch(&x, &mut s, &mut out).unwrap();
                    q.predict_batch_parallel(&x, &mut workers, &mut out).unwrap();
                    sum
                })
            });
            assert!(sum.is_finite());
            assert_eq!(allocations, 0, "{isa} {bits:?}");
        }
    }
}

#[test]
fn nan_features_give_what_the_f32_model_gives() {
    let net = network(&[9, 16, 1], Activation::Tanh, 2);
    let mut x = rows(&net, 1, 1.0, 3);
    x[4] = f32::NAN;
    for bits in WIDTHS {
        let calibration = Calibration::fit_bits(&net, &rows(&net, 100, 1.0, 1), bits);
        for isa in tachyon_simd::isa::levels_under_test() {
            let q = CompiledModel::with_calibration(&net, calibration.clone(), &Backend::new(isa).unwrap()).unwrap();
            assert_eq!(integer_rows(&q, &x), vec![None], "{isa} {bits:?}: a NaN is out of range");
            assert!(predict(&q, &x)[0].is_nan(), "{isa} {bits:?}: the f32 network propagates the NaN");
        }
    }
}

/// A row beyond the calibrated range used to be clamped (on the shipped data, one feature 63 standard deviations
/// out against a calibrated 49 moved the output by a whole output standard deviation); it is now the f32
/// network's, exactly, and counted.
#[test]
fn rows_beyond_the_calibrated_range_are_computed_in_f32() {
    for activation in [Activation::Relu, Activation::Tanh] {
        let net = network(&[44, 64, 64, 1], activation, 11);
        let inside = rows(&net, 50, 1.0, 4);
        let mut beyond = inside[..44].to_vec();
        beyond[13] = (net.mean[13] + 10.0 * net.std[13]) as f32; // calibrated on at most 3 standard deviations
        for bits in WIDTHS {
            let calibration = Calibration::fit_bits(&net, &rows(&net, 2000, 1.0, 3), bits);
            for isa in tachyon_simd::isa::levels_under_test() {
                let backend = Backend::new(isa).unwrap();
                let q = CompiledModel::with_calibration(&net, calibration.clone(), &backend).unwrap();
                let f = CompiledModel::compile(&net, &backend).unwrap();
                let mut scratch = q.scratch();
                let mut y = [0.0f32];
                for row in inside.chunks_exact(44) {
                    q.predict(row, &mut scratch, &mut y).unwrap();
                }
                assert_eq!(scratch.fallback_rows(), 0, "{isa} {bits:?} {activation:?}");
                q.predict(&beyond, &mut scratch, &mut y).unwrap();
                assert_eq!(scratch.fallback_rows(), 1, "{isa} {bits:?} {activation:?}");
                assert_eq!(y[0].to_bits(), predict(&f, &beyond)[0].to_bits(), "{isa} {bits:?} {activation:?}");
            }
        }
    }
}

/// An input no weight reads (a feature left out of training) changes nothing, whatever value it takes: it is
/// neither calibrated nor range-checked, so it never sends a row to the f32 network.
#[test]
fn inputs_no_weight_reads_are_not_range_checked() {
    let mut net = network(&[44, 64, 1], Activation::Relu, 3);
    let first = &mut net.layers[0];
    for o in 0..first.outputs {
        first.weights[o * first.inputs] = 0.0;
    }
    let calibration_rows = rows(&net, 500, 1.0, 1);
    for bits in WIDTHS {
        let calibration = Calibration::fit_bits(&net, &calibration_rows, bits);
        for isa in tachyon_simd::isa::levels_under_test() {
            let q = CompiledModel::with_calibration(&net, calibration.clone(), &Backend::new(isa).unwrap()).unwrap();
            let row = rows(&net, 1, 1.0, 2);
            let mut far = row.clone();
            far[0] = (net.mean[0] + 1e6 * net.std[0]) as f32;
            assert_eq!(integer_rows(&q, &far), integer_rows(&q, &row), "{isa} {bits:?}");
            assert!(integer_rows(&q, &far)[0].is_some(), "{isa} {bits:?}");
        }
    }
}

/// The scales travel in the model file: recorded, read back equal, and refused when they do not fit.
#[test]
fn scales_recorded_in_a_model_file_are_read_back_and_checked() {
    use tachyon_model::{ModelFile, ModelKind};
    let net = network(&[44, 64, 64, 1], Activation::Relu, 11);
    let (q, _) =
        CompiledModel::quantize(&net, &rows(&net, 2000, 1.0, 3), &rows(&net, 2000, 1.0, 4), &Backend::best()).unwrap();
    let calibration = q.calibration().unwrap().clone();
    let mut file = ModelFile {
        kind: ModelKind::Mlp,
        schema_hash: 1,
        features: 44,
        feature_names: Vec::new(),
        text: Vec::new(),
        arrays: Vec::new(),
    };
    assert_eq!(Calibration::from_model(&file, &net).unwrap(), None);
    calibration.record(&mut file);
    calibration.record(&mut file); // recorded once, whatever the number of calls
    let back = ModelFile::from_bytes(&file.to_bytes()).unwrap();
    assert_eq!(Calibration::from_model(&back, &net).unwrap(), Some(calibration.clone()));
    let two_layers = network(&[44, 64, 1], Activation::Relu, 11);
    let e = Calibration::from_model(&back, &two_layers).unwrap_err().to_string();
    assert!(e.contains("int8.scales") && e.contains("2 layers"), "{e}");
    for (at, value) in [(0, 10.0), (1, 0.0), (2, f64::NAN), (3, -1.0)] {
        let mut bad = back.clone();
        bad.arrays.iter_mut().find(|(k, _)| k == "int8.scales").unwrap().1[at] = value;
        assert!(Calibration::from_model(&bad, &net).is_err(), "value {value} at {at}");
    }
}
