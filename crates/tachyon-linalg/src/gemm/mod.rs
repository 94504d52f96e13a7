//! General matrix multiply: `C = alpha op(A) op(B) + beta C` for `f32` and `f64` over strided views.
//!
//! The BLIS design in three separate places: [`microkernel`] (one register tile per instruction set),
//! [`pack`] (contiguous panels), [`driver`] (blocking and threading); [`scratch`] cuts the packing space (the
//! caller's, or a buffer per thread by default), [`dispatch`] instantiates the microkernel
//! per instruction set, [`small`] holds the unpacked paths for small and skinny shapes and [`vector`] the
//! matrix-vector and rank-1 kernels they use. Routing by shape:
//!
//! 1. empty C: nothing; `k == 0` or `alpha == 0`: `C = beta C` (with `beta == 0`, C is overwritten: NaN in C
//!    is ignored, as in BLAS);
//! 2. the problem is oriented so that C has unit row stride (a row-major C is handled as `C^T = B^T A^T`);
//! 3. at most one register of rows (8 f32 / 4 f64 on AVX2), more than one column, 2 <= k <= 8 and A of unit row
//!    stride: [`small::unpacked`] with A held in registers; one output column: [`small::gemv`] (these two are
//!    tested inline in [`Gemm::run`]); k == 1 with A of unit row stride: [`small::rank1`]; with A within L1
//!    and at most 64 f32 / 32 f64 rows of C (AVX2): [`small::unpacked`], A read in place if its columns are
//!    contiguous, else first copied column-major ([`small::unpacked_copy_a`]); with A of unit row stride within
//!    L1 and more rows: [`small::direct_gemm`];
//! 4. otherwise the packed, blocked [`driver`], on the rayon pool when the product is large enough to pay for
//!    it (see [`Gemm::parallel_threshold_flops`]).
//!
//! Strassen's algorithm is in [`crate::strassen`].

mod blocking;
#[doc(hidden)]
pub mod dispatch;
mod driver;
mod microkernel;
mod pack;
mod scratch;
mod small;
mod vector;

pub use blocking::Blocking;
pub use dispatch::GemmFloat;
pub(crate) use microkernel::prefetch;

use tachyon_simd::cache::CacheSizes;
use tachyon_simd::isa::{self, Isa, IsaError};
use tachyon_simd::Backend;

use crate::matrix::{axpby, MatMut, MatRef, ShapeError};
use dispatch::{tile_kernel, TileKernel};
use driver::{packed_gemm, packed_space, Threads};
use scratch::{alignment_slack, lines, Space};
use vector::VectorKernels;

/// How many threads a product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parallelism {
    /// The calling thread only.
    None,
    /// The current rayon pool (set its size with `RAYON_NUM_THREADS` or `ThreadPool::install`), for products
    /// large enough to pay for it; results are bitwise identical either way.
    Rayon,
}

/// A GEMM plan for one instruction set and element type: kernel and blocking resolved once.
#[derive(Clone, Copy)]
pub struct Gemm<T: GemmFloat> {
    kernel: &'static TileKernel<T>,
    vectors: &'static VectorKernels<T>,
    blocking: Blocking,
}

impl<T: GemmFloat> std::fmt::Debug for Gemm<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gemm")
            .field("isa", &self.kernel.isa)
            .field("tile", &(self.kernel.mr, self.kernel.nr))
            .field("blocking", &self.blocking)
            .finish()
    }
}

/// Products below this many vector FMAs (2 x lanes FLOP each: 8 MFLOP f32, 4 MFLOP f64 with AVX-512, ~30 us of
/// one core's work) stay on one thread when called from a rayon worker, where a fork-join costs ~10-20 us (more
/// when the other worker sleeps): around this size two threads start to win from a pool thread
/// (`examples/gemm_threads.rs` times both sides of it).
const PARALLEL_MIN_VECTOR_FMAS_IN_POOL: f64 = 2.5e5;

/// Products below this many vector FMAs (128 MFLOP f32, 64 MFLOP f64 with AVX-512, ~500 us of one core's work)
/// stay on one thread when called from outside the rayon pool. Such a call parks the caller, wakes a worker, which
/// wakes the other, and the caller is woken at the end, so from the main thread two threads lose to one up to
/// about n = 256 and win clearly only from about n = 320 (`examples/gemm_threads.rs`).
const PARALLEL_MIN_VECTOR_FMAS_FROM_OUTSIDE: f64 = 4.0e6;

/// Products whose C has at most this many times [`VectorKernels::small_rows`] rows (64 f32 or 32 f64 rows on AVX2)
/// and whose A fits in L1 go unpacked: there the tile's padding and packing cost more than its register reuse
/// saves (the unpacked kernel is 1.3-2.5x faster at n = 17..64), and with A copied column-major first (a row-major
/// weight matrix) the MLP's forward products gain from it too.
const UNPACKED_MAX_ROW_BLOCKS: usize = 2;

/// A operands up to this many bytes (and k up to KC) are read in place instead of packed.
fn direct_max_a_bytes() -> usize {
    CacheSizes::get().l1d
}

impl<T: GemmFloat> Gemm<T> {
    /// A plan for `backend`.
    pub fn plan(backend: &Backend) -> Self {
        let isa = backend.isa();
        let kernel = tile_kernel::<T>(isa).expect("a backend's instruction set is supported");
        let blocking = Blocking::derive(CacheSizes::get(), kernel.mr, kernel.nr, T::BYTES);
        Gemm { kernel, vectors: T::vectors(isa), blocking }
    }

    /// A plan for `isa`; an error if this CPU lacks it.
    pub fn new(isa: Isa) -> Result<Self, IsaError> {
        Ok(Self::plan(&Backend::new(isa)?))
    }

    /// A plan for the active instruction set (made once per instruction set, then copied).
    pub fn active() -> Self {
        let isa = isa::active();
        let slot = match isa {
            Isa::Scalar => 0,
            Isa::Avx2 => 1,
            Isa::Avx512 => 2,
        };
        *T::plans()[slot].get_or_init(|| Self::new(isa).expect("the active instruction set is supported"))
    }

    /// The same plan with other block sizes (for tuning; each must be a positive multiple of its tile side).
    pub fn with_blocking(mut self, blocking: Blocking) -> Self {
        assert!(
            blocking.kc > 0 && blocking.mc.is_multiple_of(self.kernel.mr) && blocking.nc.is_multiple_of(self.kernel.nr)
        );
        assert!(blocking.mc > 0 && blocking.nc > 0);
        self.blocking = blocking;
        self
    }

    /// The instruction set of this plan.
    pub fn isa(&self) -> Isa {
        self.kernel.isa
    }

    /// Register tile (MR, NR).
    pub fn tile(&self) -> (usize, usize) {
        (self.kernel.mr, self.kernel.nr)
    }

    /// Block sizes.
    pub fn blocking(&self) -> Blocking {
        self.blocking
    }

    /// Products smaller than this (in FLOP, 2 m n k) never use more than one thread when called from this
    /// thread: a lower threshold on a rayon worker than outside the pool, where the fork-join costs more.
    pub fn parallel_threshold_flops(&self) -> f64 {
        let vector_fmas = if rayon::current_thread_index().is_some() {
            PARALLEL_MIN_VECTOR_FMAS_IN_POOL
        } else {
            PARALLEL_MIN_VECTOR_FMAS_FROM_OUTSIDE
        };
        vector_fmas * 2.0 * self.kernel.isa.lanes(T::BYTES) as f64
    }

    /// `C = alpha A B + beta C`. `A` is m x k, `B` k x n, `C` m x n; pass `.t()` views for transposes.
    ///
    /// Packing space is a buffer kept per thread: no allocation after the first call of a given size on a thread
    /// (except for a C with neither unit row nor unit column stride, which goes through a column-major copy).
    /// [`Gemm::run_with_scratch`] takes the caller's space instead.
    pub fn run(
        &self,
        alpha: T,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        beta: T,
        c: MatMut<'_, T>,
        par: Parallelism,
    ) -> Result<(), ShapeError> {
        self.run_in(alpha, a, b, beta, c, par, Space::PerThread)
    }

    /// [`Gemm::run`] with packing space from `scratch`, of at least [`Gemm::scratch_len`] elements for this
    /// product's shape; an error (and C untouched) if it is shorter than this product needs.
    #[allow(clippy::too_many_arguments)]
    pub fn run_with_scratch(
        &self,
        alpha: T,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        beta: T,
        c: MatMut<'_, T>,
        par: Parallelism,
        scratch: &mut [T],
    ) -> Result<(), ShapeError> {
        self.run_in(alpha, a, b, beta, c, par, Space::Caller(scratch))
    }

    /// Elements of scratch [`Gemm::run_with_scratch`] needs for an m x n x k product, whatever the layouts of
    /// its operands, on the calling thread's rayon pool (a product run with [`Parallelism::Rayon`] in a larger
    /// pool needs more: one packed A block per worker).
    pub fn scratch_len(&self, m: usize, n: usize, k: usize) -> usize {
        let tile = (self.kernel.mr, self.kernel.nr);
        // A row-major C runs as C^T = B^T A^T: the same product with m and n swapped.
        let need = |m: usize, n: usize| {
            let direct = if k <= small::DIRECT_MAX_K { small::direct_space::<T>(k, tile) } else { 0 };
            let copy_a = lines::<T>(m * k);
            let packed = packed_space::<T>(m, n, k, tile, self.blocking, Threads::Pool);
            direct.max(copy_a).max(packed)
        };
        need(m, n).max(need(n, m)) + alignment_slack::<T>()
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run_in(
        &self,
        alpha: T,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        beta: T,
        c: MatMut<'_, T>,
        par: Parallelism,
        space: Space<'_, T>,
    ) -> Result<(), ShapeError> {
        check_shapes(&a, &b, &c)?;
        let (m, n, k) = (c.rows(), c.cols(), a.cols());
        if m == 0 || n == 0 {
            return Ok(());
        }
        if k == 0 || alpha == T::ZERO {
            scale_c(beta, c);
            return Ok(());
        }
        // Orient so that C has unit row stride; a C with neither stride 1 goes through a column-major copy.
        if c.row_stride() == 1 {
            self.oriented(alpha, a, b, beta, c, par, space)
        } else if c.col_stride() == 1 {
            self.oriented(alpha, b.t(), a.t(), beta, c.t(), par, space)
        } else {
            let mut tmp = crate::matrix::Matrix::<T>::zeros(n, m);
            let mut tmp_c = tmp.as_mut().t();
            axpby(T::ONE, c.rb(), T::ZERO, tmp_c.rb_mut());
            self.oriented(alpha, a, b, beta, tmp_c.rb_mut(), par, space)?;
            axpby(T::ONE, tmp_c.rb(), T::ZERO, c);
            Ok(())
        }
    }

    /// One sample's backward pass through a dense layer `z = W x + b`, in one sweep over the rows of `W`:
    /// `grad_w = d x^T` and, if asked, `grad_x = W^T d`, where `d` (length `rows`) is the gradient of `z`.
    /// `w` and `grad_w` are `rows x cols` row-major, `x` and `grad_x` have `cols` elements.
    ///
    /// Gives bit for bit what the two products through [`Gemm::run`] give (`grad_w` as `d^T x` with beta 0,
    /// `grad_x` as `d W` with beta 0; for `grad_x` when `cols > 1`: with one column `run` takes a dot product,
    /// summed in another order), reading each row of `W` once and allocating nothing.
    pub fn outer_gemv_t(
        &self,
        d: &[T],
        x: &[T],
        w: &[T],
        grad_w: &mut [T],
        grad_x: Option<&mut [T]>,
    ) -> Result<(), ShapeError> {
        let (rows, cols) = (d.len(), x.len());
        let gx_len = grad_x.as_ref().map_or(cols, |g| g.len());
        if w.len() != rows * cols || grad_w.len() != rows * cols || gx_len != cols {
            return Err(ShapeError::Mismatch {
                op: "outer_gemv_t",
                detail: format!(
                    "d has {rows} and x {cols} elements: need W and grad_w of {} (they have {} and {}) and grad_x of \
                     {cols} (it has {gx_len})",
                    rows * cols,
                    w.len(),
                    grad_w.len()
                ),
            });
        }
        let gx = grad_x.map_or(std::ptr::null_mut(), |g| g.as_mut_ptr());
        // SAFETY: the lengths were checked above (d: rows, x: cols, W and grad_w: rows x cols at stride cols,
        // grad_x: cols or null); the kernel table's instruction set was checked when the plan was made.
        unsafe {
            (self.vectors.outer_gemv_t)(rows, cols, d.as_ptr(), x.as_ptr(), w.as_ptr(), grad_w.as_mut_ptr(), cols, gx)
        };
        Ok(())
    }

    /// Routes a problem whose C has unit row stride. The tiny and matrix-vector products are routed here,
    /// inlined into [`Gemm::run`]: a call into the general routing (the views passed in memory, a large stack
    /// frame, its checks) would cost them a third of their time.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn oriented(
        &self,
        alpha: T,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        beta: T,
        c: MatMut<'_, T>,
        par: Parallelism,
        space: Space<'_, T>,
    ) -> Result<(), ShapeError> {
        let (m, n, k) = (c.rows(), c.cols(), a.cols());
        if m <= self.vectors.resident_rows && n > 1 && (2..=small::RESIDENT_MAX_K).contains(&k) && a.row_stride() == 1 {
            small::unpacked(self.vectors, alpha, a, b, beta, c);
            return Ok(());
        }
        if n == 1 {
            small::gemv(self.vectors, alpha, a, b, beta, c);
            return Ok(());
        }
        self.routed(alpha, a, b, beta, c, par, space)
    }

    /// The rest of [`Gemm::oriented`]'s routing.
    #[allow(clippy::too_many_arguments)]
    fn routed(
        &self,
        alpha: T,
        a: MatRef<'_, T>,
        b: MatRef<'_, T>,
        beta: T,
        c: MatMut<'_, T>,
        par: Parallelism,
        space: Space<'_, T>,
    ) -> Result<(), ShapeError> {
        let (m, n, k) = (c.rows(), c.cols(), a.cols());
        if k == 1 && a.row_stride() == 1 {
            small::rank1(self.vectors, alpha, a, b, beta, c);
            return Ok(());
        }
        let tile = (self.kernel.mr, self.kernel.nr);
        let a_in_l1 = k <= small::DIRECT_MAX_K && m * k * T::BYTES <= direct_max_a_bytes();
        let few_rows = m <= UNPACKED_MAX_ROW_BLOCKS * self.vectors.small_rows;
        if a_in_l1 && a.row_stride() == 1 {
            if few_rows {
                small::unpacked(self.vectors, alpha, a, b, beta, c);
                return Ok(());
            }
            return space
                .with(small::direct_space::<T>(k, tile), |s| small::direct_gemm(self.kernel, alpha, a, b, beta, c, s));
        }
        if a_in_l1 && few_rows {
            return space.with(m * k, |s| small::unpacked_copy_a(self.vectors, alpha, a, b, beta, c, s));
        }
        let flops = 2.0 * m as f64 * n as f64 * k as f64;
        let threads = if par == Parallelism::Rayon
            && rayon::current_num_threads() > 1
            && flops >= self.parallel_threshold_flops()
        {
            Threads::Pool
        } else {
            Threads::One
        };
        space.with(packed_space::<T>(m, n, k, tile, self.blocking, threads), |s| {
            packed_gemm(self.kernel, self.blocking, threads, alpha, a, b, beta, c, s)
        })
    }
}

/// Runs the plan's microkernel once on packed panels (`mr * kc` and `kc * nr` elements) into a column-major
/// `mr x nr` tile with beta = 1: for measuring the kernel alone (examples, benches).
///
/// # Panics
/// If a slice is shorter than the panel or tile it stands for.
#[doc(hidden)]
pub fn bench_tile<T: GemmFloat>(plan: &Gemm<T>, kc: usize, a_panel: &[T], b_panel: &[T], tile: &mut [T]) {
    let (mr, nr) = plan.tile();
    assert!(a_panel.len() >= mr * kc && b_panel.len() >= nr * kc && tile.len() >= mr * nr);
    // SAFETY: the asserts give the panel and tile sizes the packed contract needs; the plan's ISA was checked.
    unsafe {
        (plan.kernel.tile)(kc, a_panel.as_ptr(), mr, b_panel.as_ptr(), tile.as_mut_ptr(), mr, T::ONE, T::ONE, mr, nr)
    }
}

/// `C = alpha A B + beta C` on the active instruction set; see [`Gemm::run`].
pub fn gemm<T: GemmFloat>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    par: Parallelism,
) -> Result<(), ShapeError> {
    Gemm::<T>::active().run(alpha, a, b, beta, c, par)
}

fn check_shapes<T: GemmFloat>(a: &MatRef<'_, T>, b: &MatRef<'_, T>, c: &MatMut<'_, T>) -> Result<(), ShapeError> {
    if a.cols() != b.rows() || a.rows() != c.rows() || b.cols() != c.cols() {
        return Err(ShapeError::Mismatch {
            op: "gemm",
            detail: format!(
                "A is {}x{}, B is {}x{}, C is {}x{}: need A m x k, B k x n, C m x n",
                a.rows(),
                a.cols(),
                b.rows(),
                b.cols(),
                c.rows(),
                c.cols()
            ),
        });
    }
    Ok(())
}

/// `C = beta C`; with `beta == 0`, C is overwritten with zeros (NaN and Inf in C are ignored).
fn scale_c<T: GemmFloat>(beta: T, mut c: MatMut<'_, T>) {
    if beta == T::ONE {
        return;
    }
    for j in 0..c.cols() {
        for i in 0..c.rows() {
            let v = if beta == T::ZERO { T::ZERO } else { beta * c.get(i, j) };
            c.set(i, j, v);
        }
    }
}
