//! Maximum error of the vectorized exp, tanh and sigmoid on every instruction set under test, in ulps of the
//! result, over dense sweeps of their ranges (`tachyon validate --full` checks every f32 of them). The bounds
//! asserted are `MathFunction::bound_ulp`, the ones documented in `src/kernels/math.rs`: the largest error measured
//! plus a margin of `MARGIN_ULP`, so that a change that makes any of them less accurate fails; the measured maxima
//! are printed (run with `--nocapture` to see them).

mod common;

use common::tables;
use tachyon_simd::accuracy::{max_ulp_error, sweep, MathFunction, SWEEP_POINTS};
use tachyon_simd::Float;

fn check<T: Float>(function: MathFunction) {
    let (lo, hi) = function.range::<T>();
    let xs = sweep::<T>(lo, hi, SWEEP_POINTS);
    for table in tables::<T>() {
        let err = max_ulp_error(function, table, &xs);
        let limit = function.bound_ulp::<T>(table.isa);
        let name = function.name();
        println!("{name} {} {}: max error {:.3} ulp at x = {:e} (bound {limit})", T::NAME, table.isa, err.ulps, err.at);
        assert_eq!(err.nan_results, 0, "{name} {} {}: NaN results", T::NAME, table.isa);
        assert!(
            err.ulps <= limit,
            "{name} {} {}: {:.3} ulp at x = {:e} exceeds {limit}",
            T::NAME,
            table.isa,
            err.ulps,
            err.at
        );
    }
}

#[test]
fn exp_error_f32() {
    check::<f32>(MathFunction::Exp);
}

#[test]
fn exp_error_f32_denormal_results_are_within_one_denormal_ulp() {
    let xs = sweep::<f32>(-103.0, -87.4, 200_000);
    for table in tables::<f32>() {
        let mut out = vec![0.0f32; xs.len()];
        (table.exp)(&xs, &mut out);
        for (x, y) in xs.iter().zip(&out) {
            let err = (*y as f64 - (*x as f64).exp()).abs() / f64::from(f32::from_bits(1));
            assert!(err <= 1.0, "exp({x}) = {y:e} on {}: {err} denormal ulps", table.isa);
        }
    }
}

#[test]
fn exp_error_f64() {
    check::<f64>(MathFunction::Exp);
}

#[test]
fn tanh_error() {
    check::<f32>(MathFunction::Tanh);
    check::<f64>(MathFunction::Tanh);
}

#[test]
fn sigmoid_error() {
    check::<f32>(MathFunction::Sigmoid);
    check::<f64>(MathFunction::Sigmoid);
}
