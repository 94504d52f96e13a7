//! The element types kernels work on (`f32`, `f64`) and the per-type constants of the vectorized math functions.

// The coefficients are quoted with every digit the fit printed; rounding happens once, at compile time.
#![allow(clippy::excessive_precision)]

use std::fmt::{Debug, Display};

use crate::isa::{Isa, IsaError, IsaRequest};
use crate::table::KernelTable;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type with kernel tables for every instruction set (`f32` or `f64`).
pub trait Float:
    sealed::Sealed
    + Copy
    + Default
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + bytemuck::Pod
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + 'static
{
    /// `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// Size in bytes.
    const BYTES: usize;
    /// Unit roundoff u = 2^-p (2^-24 for f32, 2^-53 for f64).
    const UNIT_ROUNDOFF: f64;
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;

    /// Rounds an `f64` to this type (round to nearest).
    fn from_f64(x: f64) -> Self;
    /// Widens to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;
    /// The platform libm's `exp` in this precision (for baselines and references, not for kernels).
    fn libm_exp(self) -> Self;
    /// The platform libm's `tanh` in this precision.
    fn libm_tanh(self) -> Self;

    /// The kernel table for an instruction set this CPU supports; an error otherwise.
    fn kernels_for(isa: Isa) -> Result<&'static KernelTable<Self>, IsaError> {
        IsaRequest::Exactly(isa).resolve()?;
        // SAFETY: `resolve` just checked that this CPU supports `isa`.
        Ok(unsafe { Self::table_unchecked(isa) })
    }

    /// The table of `isa` without the CPU check.
    ///
    /// # Safety
    /// This CPU must support `isa` (its entry points execute that instruction set's instructions).
    #[doc(hidden)]
    unsafe fn table_unchecked(isa: Isa) -> &'static KernelTable<Self>;

    /// Bounds and coefficients of [`exp`](crate::vec::exp); see `math.rs`.
    #[doc(hidden)]
    const EXP: ExpConstants;
    /// Odd-polynomial coefficients of `tanh` on |x| < [`TANH_SMALL`](Float::TANH_SMALL), highest degree first.
    #[doc(hidden)]
    const TANH_POLY: &'static [f64];
    /// Below this |x|, `tanh` uses its polynomial; above, `1 - 2 / (exp(2|x|) + 1)`.
    #[doc(hidden)]
    const TANH_SMALL: f64;
}

/// Constants of the exp reduction `x = n ln2 + r`, `exp(x) = 2^n exp(r)`, |r| <= ln2 / 2.
#[doc(hidden)]
#[derive(Debug)]
pub struct ExpConstants {
    /// Inputs are clamped to [lo, hi]: below lo the result underflows to 0, above hi it overflows to +inf.
    pub lo: f64,
    /// Upper clamp.
    pub hi: f64,
    /// High part of ln 2 with trailing zero bits, so that `n * ln2_hi` is exact even without FMA.
    pub ln2_hi: f64,
    /// ln 2 - ln2_hi.
    pub ln2_lo: f64,
    /// Taylor coefficients 1/k! of exp(r), highest degree first.
    pub poly: &'static [f64],
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    const BYTES: usize = 4;
    const UNIT_ROUNDOFF: f64 = 5.960464477539063e-8;
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;

    #[inline(always)]
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn libm_exp(self) -> f32 {
        f32::exp(self)
    }
    fn libm_tanh(self) -> f32 {
        f32::tanh(self)
    }
    unsafe fn table_unchecked(isa: Isa) -> &'static KernelTable<f32> {
        crate::table::f32_table(isa)
    }

    const EXP: ExpConstants = ExpConstants {
        lo: -104.0,
        hi: 89.0,
        // Cephes' split: 0.693359375 has 9 significant bits, so n * ln2_hi is exact for |n| <= 2^15.
        ln2_hi: 0.693359375,
        ln2_lo: -2.121944400546905827679e-4,
        // Degree 7: truncation error (ln2/2)^8 / 8! = 5e-9 relative, ~0.1 ulp.
        poly: &[1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0],
    };
    // Chebyshev fit of (tanh(x)/x - 1)/x^2 in x^2 over [0, 0.625^2] (mpmath chebyfit, degree 5): 7e-10 relative.
    const TANH_POLY: &'static [f64] = &[
        0.0022927448161781423431,
        -0.008343945515839152048,
        0.021768918651028210152,
        -0.053959259577204542744,
        0.13333303556915741766,
        -0.33333333172140361638,
    ];
    const TANH_SMALL: f64 = 0.625;
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    const BYTES: usize = 8;
    const UNIT_ROUNDOFF: f64 = 1.1102230246251565e-16;
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;

    #[inline(always)]
    fn from_f64(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn libm_exp(self) -> f64 {
        f64::exp(self)
    }
    fn libm_tanh(self) -> f64 {
        f64::tanh(self)
    }
    unsafe fn table_unchecked(isa: Isa) -> &'static KernelTable<f64> {
        crate::table::f64_table(isa)
    }

    const EXP: ExpConstants = ExpConstants {
        lo: -746.0,
        hi: 710.0,
        // fdlibm's split: ln2_hi has 32 trailing zero bits.
        ln2_hi: 6.93147180369123816490e-01,
        ln2_lo: 1.90821492927058770002e-10,
        // Degree 13: truncation error (ln2/2)^14 / 14! = 4e-18 relative.
        poly: &[
            1.0 / 6227020800.0,
            1.0 / 479001600.0,
            1.0 / 39916800.0,
            1.0 / 3628800.0,
            1.0 / 362880.0,
            1.0 / 40320.0,
            1.0 / 5040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ],
    };
    // Chebyshev fit as for f32, degree 11: 2e-18 relative.
    const TANH_POLY: &'static [f64] = &[
        6.48516348279311315e-6,
        -0.000031201101425797400033,
        0.000092571161295567682707,
        -0.00023759064960555619551,
        0.0005896606577757043347,
        -0.0014557754120478055104,
        0.0035921217511549622695,
        -0.008863235103240877925,
        0.021869488519008305756,
        -0.05396825396789699169,
        0.13333333333333041602,
        -0.33333333333333332938,
    ];
    const TANH_SMALL: f64 = 0.625;
}
