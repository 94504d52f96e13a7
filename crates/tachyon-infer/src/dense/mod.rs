//! The f32 path of a [`crate::CompiledModel`]: a network packed for one instruction set ([`pack`]), the forward
//! pass written once over lanes ([`kernel`]), and the dispatch on the instruction set the model was compiled for
//! (this file).

pub(crate) mod kernel;
pub(crate) mod pack;

use tachyon_simd::isa::{self, Isa};
use tachyon_simd::lanes::scalar::Scalar;

pub(crate) use pack::{PackedNetwork, Scratch};

/// Runs [`kernel::forward`] for `isa` on every row of `rows`, copying each row's outputs into `out`.
///
/// One dispatch per call, so that a batch pays for it once; the loop runs inside the target-feature function.
///
/// # Safety
/// `isa` must be supported by this CPU and `net` packed for its lane count; `rows` holds whole rows of
/// `net.inputs` and `out` the matching rows of `net.outputs()`.
pub(crate) unsafe fn run(isa: Isa, net: &PackedNetwork, scratch: &mut Scratch, rows: &[f32], out: &mut [f32]) {
    #[inline(always)]
    fn rows_with<L: tachyon_simd::lanes::Lanes<f32>>(
        s: L,
        net: &PackedNetwork,
        scratch: &mut Scratch,
        rows: &[f32],
        out: &mut [f32],
    ) {
        let (inputs, outputs) = (net.inputs, net.outputs());
        // Row offsets by multiplication: `chunks_exact` would divide twice per call, which costs more than a small
        // layer.
        let rows_count = out.len().checked_div(outputs).unwrap_or(0);
        debug_assert_eq!(rows.len(), rows_count * inputs);
        for r in 0..rows_count {
            let last = scratch.layers.last().expect("validated: >= 1 layer").as_ptr();
            // SAFETY: row r lies inside `rows` (checked by the caller); scratch and net were made together for
            // `L::N` lanes; the last buffer holds at least `outputs` values and row r of `out` exactly `outputs`.
            unsafe {
                kernel::forward(s, net, rows.as_ptr().add(r * inputs), scratch);
                let y = out.as_mut_ptr().add(r * outputs);
                if outputs == 1 {
                    *y = *last;
                } else {
                    std::ptr::copy_nonoverlapping(last, y, outputs);
                }
            }
        }
    }
    match isa {
        Isa::Scalar => rows_with(Scalar, net, scratch, rows, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(net: &PackedNetwork, scratch: &mut Scratch, rows: &[f32], out: &mut [f32]) {
                // SAFETY: reached only for a CPU with AVX2 and FMA (the caller's contract).
                rows_with(unsafe { isa::Avx2::new_unchecked() }, net, scratch, rows, out)
            }
            // SAFETY: the caller guarantees the CPU supports AVX2.
            unsafe { avx2(net, scratch, rows, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512(net: &PackedNetwork, scratch: &mut Scratch, rows: &[f32], out: &mut [f32]) {
                // SAFETY: reached only for a CPU with AVX-512 F/BW/DQ/VL (the caller's contract).
                rows_with(unsafe { isa::Avx512::new_unchecked() }, net, scratch, rows, out)
            }
            // SAFETY: the caller guarantees the CPU supports AVX-512.
            unsafe { avx512(net, scratch, rows, out) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the scalar path exists on this target"),
    }
}
