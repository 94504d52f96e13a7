//! The peak-FMA probe: independent chains of fused multiply-adds on full registers, nothing else.

use crate::float::Float;
use crate::lanes::Lanes;

/// Number of independent accumulator chains.
pub(crate) const CHAINS: usize = 12;

/// Runs `iterations` rounds of `CHAINS` FMAs `acc = acc * m + c` and returns the sum of all lanes.
///
/// # Safety
/// None beyond the token's (kept `unsafe` for the uniform table entry).
#[inline(always)]
pub(crate) unsafe fn fma_chains<T: Float, S: Lanes<T>>(s: S, iterations: u64) -> T {
    let m = s.splat(T::from_f64(0.999_999));
    let c = s.splat(T::from_f64(1e-6));
    let mut acc = [s.zero(); CHAINS];
    for (j, a) in acc.iter_mut().enumerate() {
        // Opaque starting values: a chain the compiler can evaluate is folded away. (Started at j, the chain at
        // 1.0, the fixed point of acc * m + c in f32 and f64, was hoisted out of the loop: 11 FMAs ran per
        // iteration while 12 were counted, so the probe overstated the peak by 9%.)
        *a = s.splat(std::hint::black_box(T::from_f64(j as f64 + 2.0)));
    }
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = s.mul_add(*a, m, c);
        }
    }
    let mut total = s.zero();
    for a in acc {
        total = s.add(total, a);
    }
    s.reduce_add(total)
}
