//! How accurate a GEMM is, measured the way the reference BLAS tests measure it.
//!
//! Each element of `C = alpha A B + beta C0` is compared with a reference computed as if in twice f64's precision
//! (Ogita, Rump & Oishi's compensated dot product, Dot2), so that the reference's own error does not count
//! against an f64 GEMM. Higham's worst-case bound is `|C - C_ref| <= gamma_(k+2) G` with
//! `G = |alpha| sum_p |a_ip b_pj| + |beta| |c0_ij|` and `gamma_n = n u / (1 - n u)`; the error ratio
//! `max |C - C_ref| / (u G)` is what the reference BLAS tests threshold at [`MAX_ERROR_RATIO`].

use crate::{Gemm, GemmFloat, MatMut, MatRef, Parallelism};
use tachyon_simd::Float;

/// The error ratio at which the reference BLAS tests fail a GEMM.
pub const MAX_ERROR_RATIO: f64 = 16.0;

/// Shapes (m, n, k) of [`error_ratio`]'s default check: tiny, at and off register and block sides, skinny both ways,
/// matrix-vector, rank 1, and one large enough for every blocking loop.
pub const CHECK_SHAPES: [(usize, usize, usize); 14] = [
    (1, 1, 1),
    (7, 1, 3),
    (4, 4, 4),
    (17, 13, 11),
    (31, 37, 41),
    (64, 64, 64),
    (65, 63, 67),
    (97, 5, 131),
    (5, 97, 131),
    (64, 64, 1),
    (130, 1, 70),
    (1, 130, 70),
    (127, 129, 300),
    (300, 280, 520),
];

/// One element of the reference product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReferenceElement {
    /// `alpha sum_p a_p b_p + beta c0`, as if computed in twice f64's precision.
    pub value: f64,
    /// `G = |alpha| sum_p |a_p b_p| + |beta| |c0|`, the scale of the element's worst-case error.
    pub gauge: f64,
}

/// The reference for one element of C from the pairs `(a_ip, b_pj)` over p.
pub fn reference_element(alpha: f64, pairs: impl Iterator<Item = (f64, f64)>, beta: f64, c0: f64) -> ReferenceElement {
    let (mut sum, mut compensation, mut gauge) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in pairs {
        let product = x * y;
        let product_error = x.mul_add(y, -product);
        let (s, sum_error) = two_sum(sum, product);
        sum = s;
        compensation += sum_error + product_error;
        gauge += product.abs();
    }
    let c0 = if beta == 0.0 { 0.0 } else { c0 };
    ReferenceElement {
        value: alpha.mul_add(sum, alpha.mul_add(compensation, beta * c0)),
        gauge: alpha.abs() * gauge + beta.abs() * c0.abs(),
    }
}

/// `a + b` and its rounding error, exactly (Knuth's TwoSum).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// `gamma_n = n u / (1 - n u)` for the unit roundoff of `T`.
pub fn gamma<T: Float>(n: usize) -> f64 {
    let nu = n as f64 * T::UNIT_ROUNDOFF;
    nu / (1.0 - nu)
}

/// The largest error ratio `max |C - C_ref| / (u G)` of `plan` (one thread) over products of `shapes` with
/// entries uniform in [-1, 1) drawn from `seed`, alpha = 0.75 and beta = -1.5; `None` if an element breaks
/// Higham's worst-case bound outright (a wrong result, not an imprecise one).
pub fn error_ratio<T: GemmFloat>(plan: &Gemm<T>, shapes: &[(usize, usize, usize)], seed: u64) -> Option<f64> {
    let mut state = seed;
    let mut uniform = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        T::from_f64(((z ^ (z >> 31)) >> 11) as f64 * 2f64.powi(-52) - 1.0)
    };
    let (alpha, beta) = (0.75, -1.5);
    let mut worst: f64 = 0.0;
    for &(m, n, k) in shapes {
        let a: Vec<T> = (0..m * k).map(|_| uniform()).collect();
        let b: Vec<T> = (0..k * n).map(|_| uniform()).collect();
        let c0: Vec<T> = (0..m * n).map(|_| uniform()).collect();
        let mut c = c0.clone();
        plan.run(
            T::from_f64(alpha),
            MatRef::row_major(&a, m, k).expect("sized"),
            MatRef::row_major(&b, k, n).expect("sized"),
            T::from_f64(beta),
            MatMut::row_major(&mut c, m, n).expect("sized"),
            Parallelism::None,
        )
        .expect("shapes agree");
        for i in 0..m {
            for j in 0..n {
                let pairs = (0..k).map(|p| (a[i * k + p].to_f64(), b[p * n + j].to_f64()));
                let r = reference_element(alpha, pairs, beta, c0[i * n + j].to_f64());
                let err = (c[i * n + j].to_f64() - r.value).abs();
                if err.is_nan() || err > gamma::<T>(k + 2) * r.gauge {
                    return None;
                }
                if r.gauge > 0.0 {
                    worst = worst.max(err / (T::UNIT_ROUNDOFF * r.gauge));
                }
            }
        }
    }
    Some(worst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_simd::Isa;

    #[test]
    fn the_reference_is_exact_where_f64_is_not() {
        // 1e16 + 1 - 1e16: plain f64 loses the 1.
        let r = reference_element(1.0, [(1e16, 1.0), (1.0, 1.0), (-1e16, 1.0)].into_iter(), 0.0, f64::NAN);
        assert_eq!(r.value, 1.0);
        assert_eq!(r.gauge, 2e16 + 1.0);
    }

    #[test]
    fn a_gemm_measures_below_the_threshold_and_the_same_for_the_same_seed() {
        let plan = Gemm::<f32>::new(Isa::Scalar).unwrap();
        let ratio = error_ratio(&plan, &CHECK_SHAPES[..8], 1).unwrap();
        assert!(ratio > 0.0 && ratio < MAX_ERROR_RATIO, "{ratio}");
        assert_eq!(error_ratio(&plan, &CHECK_SHAPES[..8], 1), Some(ratio));
    }
}
