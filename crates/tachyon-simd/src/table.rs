//! Kernel tables: the entry points of one instruction set for one element type, resolved once.
//!
//! A plan, predictor or feature engine copies the table it was built with and calls through its function
//! pointers, so a hot path never asks the CPU what it supports. Tables for AVX2 and AVX-512 are private statics
//! handed out only by [`Float::kernels_for`] after the CPU check (or by the `unsafe` `table_unchecked` for a level
//! already checked), which is what makes their safe entry points sound.

use crate::float::Float;
use crate::isa::Isa;
use crate::kernels::map::{self, Binary, Unary};
use crate::kernels::probe;
use crate::kernels::reduce::{self, Extreme};

/// `adam(step, grad, params, m, v)`: see [`KernelTable::adam`].
pub type AdamFn<T> = fn(&crate::AdamStep<T>, &[T], &mut [T], &mut [T], &mut [T]);

/// The vector kernels of one instruction set for element type `T`.
///
/// Every entry panics if its slices' lengths differ (a caller bug, checked before any work). Outputs are written
/// in full; nothing is allocated.
#[derive(Clone, Debug)]
pub struct KernelTable<T: 'static> {
    /// The instruction set these entries run.
    pub isa: Isa,
    /// `sum_i a[i] * b[i]`.
    pub dot: fn(&[T], &[T]) -> T,
    /// `sum_i a[i]`.
    pub sum: fn(&[T]) -> T,
    /// `sum_i a[i]^2`.
    pub sum_sq: fn(&[T]) -> T,
    /// Index and value of the first minimum; the first NaN if there is one; `None` for an empty slice.
    pub argmin: fn(&[T]) -> Option<(usize, T)>,
    /// Index and value of the first maximum; the first NaN if there is one; `None` for an empty slice.
    pub argmax: fn(&[T]) -> Option<(usize, T)>,
    /// `y[i] += alpha * x[i]` (`axpy(alpha, x, y)`).
    pub axpy: fn(T, &[T], &mut [T]),
    /// `out[i] = alpha * x[i]` (`scale(alpha, x, out)`).
    pub scale: fn(T, &[T], &mut [T]),
    /// `x[i] *= alpha`.
    pub scale_inplace: fn(T, &mut [T]),
    /// `out[i] = a[i] + b[i]`.
    pub add: fn(&[T], &[T], &mut [T]),
    /// `out[i] = a[i] - b[i]`.
    pub sub: fn(&[T], &[T], &mut [T]),
    /// `out[i] = a[i] * b[i]`.
    pub mul: fn(&[T], &[T], &mut [T]),
    /// `out[i] = a[i] * b[i] + c[i]`, fused on FMA paths (`mul_add(a, b, c, out)`).
    #[allow(clippy::type_complexity)]
    pub mul_add: fn(&[T], &[T], &[T], &mut [T]),
    /// `out[i] = max(x[i], 0)`; NaN stays NaN, -0.0 stays -0.0.
    pub relu: fn(&[T], &mut [T]),
    /// `out[i] = e^x[i]` (error bounds in `kernels/math.rs`).
    pub exp: fn(&[T], &mut [T]),
    /// `out[i] = tanh x[i]`.
    pub tanh: fn(&[T], &mut [T]),
    /// `out[i] = 1 / (1 + e^-x[i])`.
    pub sigmoid: fn(&[T], &mut [T]),
    /// `out[i] = g[i]` where `z[i] > 0`, else 0 (NaN in `z` gives 0): ReLU's backward pass (`relu_grad(z, g, out)`,
    /// `z` the pre-activation, `g` the gradient of the activation).
    pub relu_grad: fn(&[T], &[T], &mut [T]),
    /// In-place [`relu`](KernelTable::relu).
    pub relu_inplace: fn(&mut [T]),
    /// In-place [`exp`](KernelTable::exp).
    pub exp_inplace: fn(&mut [T]),
    /// In-place [`tanh`](KernelTable::tanh).
    pub tanh_inplace: fn(&mut [T]),
    /// In-place [`sigmoid`](KernelTable::sigmoid).
    pub sigmoid_inplace: fn(&mut [T]),
    /// One Adam / AdamW step over a tensor (`adam(step, grad, params, m, v)`; see [`AdamStep`](crate::AdamStep)
    /// for the formula); parameters and both moments are updated in place.
    pub adam: AdamFn<T>,
    /// Peak-FMA probe: `iterations` rounds of [`FMA_PROBE_CHAINS`] independent FMA chains on full registers,
    /// i.e. `iterations * fma_probe_flops_per_iteration()` FLOP. Returns a value to feed to `black_box`.
    pub fma_probe: fn(u64) -> T,
}

/// Independent FMA chains in the peak probe: more than latency (4 cycles) x FMA units (2) so the units never
/// wait, and few enough (with 2 constants) to stay in 16 AVX2 registers.
pub const FMA_PROBE_CHAINS: usize = probe::CHAINS;

impl<T: Float> KernelTable<T> {
    /// FLOP per iteration of [`fma_probe`](KernelTable::fma_probe): chains x lanes x 2.
    pub fn fma_probe_flops_per_iteration(&self) -> u64 {
        (FMA_PROBE_CHAINS * self.isa.lanes(T::BYTES) * 2) as u64
    }
}

fn check_len(kernel: &str, expected: usize, got: usize) {
    assert_eq!(expected, got, "{kernel}: slice lengths differ ({expected} vs {got})");
}

/// Defines a safe entry point `$name` that runs `$body` (a closure taking the token) inside an `unsafe` inner
/// function compiled with the instruction set's target features.
macro_rules! entry {
    ([$($feature:literal)?] $token:expr,
     fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? { check $check:expr; $body:expr }) => {
        fn $name($($arg: $ty),*) $(-> $ret)? {
            $check;
            $(#[target_feature(enable = $feature)])?
            unsafe fn inner($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: the token's features are enabled in this function, which runs only through a table
                // handed out after the CPU check. (The scalar token needs no unsafe, hence the allow.)
                #[allow(unused_unsafe)]
                let s = unsafe { $token };
                // SAFETY: every pointer comes from a slice whose length was checked above.
                unsafe { $body(s) }
            }
            // SAFETY: this table is reachable only through `Float::kernels_for`, which verified that the CPU
            // supports the instruction set `inner` was compiled for.
            unsafe { inner($($arg),*) }
        }
    };
}

/// Builds the static table of one instruction set for one element type.
///
/// Each entry is a safe function that checks lengths and calls an `unsafe` inner function compiled with the
/// instruction set's target features, in which the generic kernel body is instantiated with the token.
macro_rules! kernel_table {
    ($table:ident: $t:ty, $isa:expr, $token:expr $(, $feature:literal)?) => {
        pub(crate) static $table: KernelTable<$t> = {
            type T = $t;
            entry!([$($feature)?] $token, fn dot(a: &[T], b: &[T]) -> T {
                check check_len("dot", a.len(), b.len());
                |s| reduce::dot(s, a.as_ptr(), b.as_ptr(), a.len())
            });
            entry!([$($feature)?] $token, fn sum(a: &[T]) -> T { check (); |s| reduce::sum(s, a.as_ptr(), a.len()) });
            entry!([$($feature)?] $token, fn sum_sq(a: &[T]) -> T { check (); |s| reduce::sum_sq(s, a.as_ptr(), a.len()) });
            entry!([$($feature)?] $token, fn argmin(a: &[T]) -> Option<(usize, T)> {
                check ();
                |s| reduce::arg_extreme(s, a.as_ptr(), a.len(), Extreme::Min)
            });
            entry!([$($feature)?] $token, fn argmax(a: &[T]) -> Option<(usize, T)> {
                check ();
                |s| reduce::arg_extreme(s, a.as_ptr(), a.len(), Extreme::Max)
            });
            entry!([$($feature)?] $token, fn axpy(alpha: T, x: &[T], y: &mut [T]) {
                check check_len("axpy", x.len(), y.len());
                |s| map::axpy(s, alpha, x.as_ptr(), y.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn scale(alpha: T, x: &[T], out: &mut [T]) {
                check check_len("scale", x.len(), out.len());
                |s| map::scale(s, alpha, x.as_ptr(), out.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn scale_inplace(alpha: T, x: &mut [T]) {
                check ();
                |s| map::scale(s, alpha, x.as_ptr(), x.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn add(a: &[T], b: &[T], out: &mut [T]) {
                check { check_len("add", a.len(), b.len()); check_len("add", a.len(), out.len()) };
                |s| map::binary(s, Binary::Add, a.as_ptr(), b.as_ptr(), out.as_mut_ptr(), a.len())
            });
            entry!([$($feature)?] $token, fn sub(a: &[T], b: &[T], out: &mut [T]) {
                check { check_len("sub", a.len(), b.len()); check_len("sub", a.len(), out.len()) };
                |s| map::binary(s, Binary::Sub, a.as_ptr(), b.as_ptr(), out.as_mut_ptr(), a.len())
            });
            entry!([$($feature)?] $token, fn mul(a: &[T], b: &[T], out: &mut [T]) {
                check { check_len("mul", a.len(), b.len()); check_len("mul", a.len(), out.len()) };
                |s| map::binary(s, Binary::Mul, a.as_ptr(), b.as_ptr(), out.as_mut_ptr(), a.len())
            });
            entry!([$($feature)?] $token, fn mul_add(a: &[T], b: &[T], c: &[T], out: &mut [T]) {
                check {
                    check_len("mul_add", a.len(), b.len());
                    check_len("mul_add", a.len(), c.len());
                    check_len("mul_add", a.len(), out.len())
                };
                |s| map::mul_add(s, a.as_ptr(), b.as_ptr(), c.as_ptr(), out.as_mut_ptr(), a.len())
            });
            entry!([$($feature)?] $token, fn relu(x: &[T], out: &mut [T]) {
                check check_len("relu", x.len(), out.len());
                |s| map::unary(s, Unary::Relu, x.as_ptr(), out.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn relu_grad(z: &[T], g: &[T], out: &mut [T]) {
                check { check_len("relu_grad", z.len(), g.len()); check_len("relu_grad", z.len(), out.len()) };
                |s| map::binary(s, Binary::ReluGrad, z.as_ptr(), g.as_ptr(), out.as_mut_ptr(), z.len())
            });
            entry!([$($feature)?] $token, fn exp(x: &[T], out: &mut [T]) {
                check check_len("exp", x.len(), out.len());
                |s| map::unary(s, Unary::Exp, x.as_ptr(), out.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn tanh(x: &[T], out: &mut [T]) {
                check check_len("tanh", x.len(), out.len());
                |s| map::unary(s, Unary::Tanh, x.as_ptr(), out.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn sigmoid(x: &[T], out: &mut [T]) {
                check check_len("sigmoid", x.len(), out.len());
                |s| map::unary(s, Unary::Sigmoid, x.as_ptr(), out.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn relu_inplace(x: &mut [T]) {
                check ();
                |s| map::unary(s, Unary::Relu, x.as_ptr(), x.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn exp_inplace(x: &mut [T]) {
                check ();
                |s| map::unary(s, Unary::Exp, x.as_ptr(), x.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn tanh_inplace(x: &mut [T]) {
                check ();
                |s| map::unary(s, Unary::Tanh, x.as_ptr(), x.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn sigmoid_inplace(x: &mut [T]) {
                check ();
                |s| map::unary(s, Unary::Sigmoid, x.as_ptr(), x.as_mut_ptr(), x.len())
            });
            entry!([$($feature)?] $token, fn adam(step: &crate::AdamStep<T>, g: &[T], p: &mut [T], m: &mut [T], v: &mut [T]) {
                check { check_len("adam", g.len(), p.len()); check_len("adam", g.len(), m.len()); check_len("adam", g.len(), v.len()) };
                |s| crate::kernels::optim::adam(s, step, g.as_ptr(), p.as_mut_ptr(), m.as_mut_ptr(), v.as_mut_ptr(), g.len())
            });
            entry!([$($feature)?] $token, fn fma_probe(iterations: u64) -> T {
                check ();
                |s| probe::fma_chains(s, iterations)
            });
            KernelTable {
                isa: $isa,
                dot,
                sum,
                sum_sq,
                argmin,
                argmax,
                axpy,
                scale,
                scale_inplace,
                add,
                sub,
                mul,
                mul_add,
                relu,
                relu_grad,
                exp,
                tanh,
                sigmoid,
                relu_inplace,
                exp_inplace,
                tanh_inplace,
                sigmoid_inplace,
                adam,
                fma_probe,
            }
        };
    };
}

kernel_table!(SCALAR_F32: f32, Isa::Scalar, crate::lanes::scalar::Scalar);
kernel_table!(SCALAR_F64: f64, Isa::Scalar, crate::lanes::scalar::Scalar);
#[cfg(target_arch = "x86_64")]
kernel_table!(AVX2_F32: f32, Isa::Avx2, crate::isa::Avx2::new_unchecked(), "avx2,fma");
#[cfg(target_arch = "x86_64")]
kernel_table!(AVX2_F64: f64, Isa::Avx2, crate::isa::Avx2::new_unchecked(), "avx2,fma");
#[cfg(target_arch = "x86_64")]
kernel_table!(
    AVX512_F32: f32,
    Isa::Avx512,
    crate::isa::Avx512::new_unchecked(),
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);
#[cfg(target_arch = "x86_64")]
kernel_table!(
    AVX512_F64: f64,
    Isa::Avx512,
    crate::isa::Avx512::new_unchecked(),
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);

/// The f32 table of `isa`, which the caller has checked this CPU supports.
pub(crate) fn f32_table(isa: Isa) -> &'static KernelTable<f32> {
    match isa {
        Isa::Scalar => &SCALAR_F32,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &AVX2_F32,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => &AVX512_F32,
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the scalar path exists on this target"),
    }
}

/// The f64 table of `isa`, which the caller has checked this CPU supports.
pub(crate) fn f64_table(isa: Isa) -> &'static KernelTable<f64> {
    match isa {
        Isa::Scalar => &SCALAR_F64,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &AVX2_F64,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => &AVX512_F64,
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the scalar path exists on this target"),
    }
}

/// The kernel table of the active instruction set (see [`crate::isa::active`]).
#[inline]
pub fn kernels<T: Float>() -> &'static KernelTable<T> {
    // SAFETY: the active level is always one this CPU supports (`init`/`set_active` check it when it is chosen),
    // so the CPU need not be queried again on every call.
    unsafe { T::table_unchecked(crate::isa::active()) }
}
