//! The int8 forward pass: AVX2 (`vpmaddwd` on i16 operands: int8 weights and 12-bit activations, never
//! `vpmaddubsw`, whose i16 saturation would corrupt sums of two u8 x i8 products) and its scalar twin, over the
//! layout of [`super::pack`].
//!
//! Bit-identical on every path by construction: the i32 sums are exact, their conversion to f32 rounds to nearest
//! even on every path, and the float steps around them (staging, dequantisation, activation, requantisation) use only IEEE basic
//! operations (add, sub, mul, div, round to nearest even, min/max with the lanes' shared NaN rule, exact
//! scaling by powers of two), never a fused multiply-add, whose single rounding the scalar twin does not have.
//! Hence the tanh here is not the vector kernel's (which uses FMA) but a Taylor-series version with separate
//! multiplies and adds; its error (< 1e-6 absolute) is far below the 1/2047 quantisation step.

use tachyon_model::Activation;
use tachyon_simd::lanes::scalar::Scalar;
use tachyon_simd::lanes::Lanes;

use super::pack::{QuantLayer, QuantNetwork, QuantScratch, OUT_LANES};
use crate::dense::pack::Form;

/// `tanh x` from basic operations only: `1 - 2 / (e^(2|x|) + 1)` with the sign of x, `e^t` by range reduction
/// (Cody-Waite, two-part ln 2) and a degree-7 Taylor polynomial.
#[inline(always)]
fn tanh_basic_ops<L: Lanes<f32>>(s: L, x: L::V) -> L::V {
    const LN2_HI: f32 = 0.693_359_4; // 355/512: n * LN2_HI is exact for |n| < 2^14.
    const LN2_LO: f32 = -2.121_944_4e-4;
    let ax = s.abs(x);
    // tanh(9) = 1 - 3e-8 is 1 in f32; the clamp keeps e^t finite (and maps a NaN to 18: min's NaN rule).
    let t = s.min(s.add(ax, ax), s.splat(18.0));
    let n = s.round(s.mul(t, s.splat(std::f32::consts::LOG2_E)));
    let r = s.sub(s.sub(t, s.mul(n, s.splat(LN2_HI))), s.mul(n, s.splat(LN2_LO)));
    let mut p = s.splat(1.0 / 5040.0);
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = s.add(s.mul(p, r), s.splat(c));
    }
    let e = s.scale_pow2(p, n);
    let one = s.splat(1.0);
    let y = s.sub(one, s.div(s.splat(2.0), s.add(e, one)));
    s.select_lt(x, s.zero(), s.sub(s.zero(), y), y)
}

/// `min(max(v, lo), hi)`, then rounded: clamping first keeps the rounding within the exact range and sends a NaN
/// to `lo` on every path (the lanes' `max` returns its second operand for NaN).
#[inline(always)]
fn clamp_round<L: Lanes<f32>>(s: L, v: L::V, lo: f32, hi: f32) -> L::V {
    s.round(s.min(s.max(v, s.splat(lo)), s.splat(hi)))
}

/// Raw features to quantised inputs: `round((x - mean) / (std s_in))`, in [-levels, levels].
#[inline(always)]
fn stage<L: Lanes<f32>>(s: L, x: L::V, hi: L::V, lo: L::V, factor: L::V, levels: f32) -> L::V {
    clamp_round(s, s.mul(s.sub(s.sub(x, hi), lo), factor), -levels, levels)
}

/// A layer's epilogue from exact sums (as f32): the f32 output of the last layer, or the next layer's quantised
/// activation (integer-valued f32) for a hidden one.
#[inline(always)]
fn epilogue<L: Lanes<f32>>(
    s: L,
    layer: &QuantLayer,
    activation: Activation,
    sums: L::V,
    scale: L::V,
    bias: L::V,
) -> L::V {
    let y = s.add(s.mul(sums, scale), bias);
    if !layer.hidden {
        return y;
    }
    let a = match activation {
        Activation::Relu => s.max(s.zero(), y),
        Activation::Tanh => tanh_basic_ops(s, y),
    };
    clamp_round(s, s.mul(a, s.splat(layer.inv_next_scale)), layer.q_min, layer.q_max)
}

/// Whether every activation of the call just made (i16 buffers) lies in the calibrated range: none at the reserved
/// extreme level (see [`super::pack`]), which only a clamped or NaN value reaches. Tanh outputs are never out of
/// range. Written without early exit so that it compiles to a few vector compares inside each kernel.
#[inline(always)]
fn in_range(net: &QuantNetwork, scratch: &QuantScratch) -> bool {
    // Largest magnitudes, compared once: max reductions vectorise into a few `pmaxuw` / `pmaxsw`.
    let input = scratch.input[..net.inputs].iter().map(|q| q.unsigned_abs()).fold(0, u16::max);
    let mut in_range = input < net.input_levels as u16;
    if net.activation == Activation::Relu {
        for (layer, q) in net.layers.iter().zip(&scratch.hidden) {
            in_range &= q[..layer.outputs].iter().copied().fold(0, i16::max) < layer.q_max as i16;
        }
    }
    in_range
}

/// Where a layer writes: quantised activations for the next layer, or the f32 outputs.
#[derive(Clone, Copy)]
enum Sink {
    Quantised(*mut i16),
    Output(*mut f32),
}

/// Scalar epilogue of output `o` with exact sum `acc`, written to the sink.
///
/// # Safety
/// `o` is within the sink's buffer.
#[inline(always)]
unsafe fn finish_one(layer: &QuantLayer, activation: Activation, o: usize, acc: i32, sink: Sink) {
    let v = epilogue(Scalar, layer, activation, acc as f32, layer.scale[o], layer.bias[o]);
    // SAFETY: the caller guarantees `o` is inside the buffer.
    unsafe {
        match sink {
            Sink::Quantised(q) => *q.add(o) = v as i16,
            Sink::Output(f) => *f.add(o) = v,
        }
    }
}

/// The scalar twin: the same sums (exact, so order does not matter) and the same float epilogue. Returns whether
/// every activation was in range (else the outputs are not to be used).
///
/// # Safety
/// `x` holds `net.inputs` readable values; `scratch` was made for `net`.
pub(crate) unsafe fn forward_scalar(net: &QuantNetwork, x: *const f32, scratch: &mut QuantScratch) -> bool {
    let s = Scalar;
    for i in 0..net.inputs {
        // SAFETY: i < net.inputs.
        let v = unsafe { *x.add(i) };
        scratch.input[i] = stage(s, v, net.mean_hi[i], net.mean_lo[i], net.input_factor[i], net.input_levels) as i16;
    }
    for (l, layer) in net.layers.iter().enumerate() {
        let (done, rest) = scratch.hidden.split_at_mut(l);
        let input: &[i16] = if l == 0 { &scratch.input } else { &done[l - 1] };
        let out = if layer.hidden {
            Sink::Quantised(rest[0].as_mut_ptr())
        } else {
            Sink::Output(scratch.output.as_mut_ptr())
        };
        match layer.form {
            Form::Panels => {
                for &(regs, at, first) in &layer.panels {
                    let width = regs * OUT_LANES;
                    for k in 0..width {
                        let mut acc = 0i32;
                        for p in 0..layer.inputs.div_ceil(2) {
                            let w = &layer.weights[at + (p * width + k) * 2..];
                            acc += i32::from(w[0]) * i32::from(input[2 * p])
                                + i32::from(w[1]) * i32::from(input[2 * p + 1]);
                        }
                        // SAFETY: first + k < outputs_padded, the sink's length.
                        unsafe { finish_one(layer, net.activation, first + k, acc, out) };
                    }
                }
            }
            Form::Dot => {
                for o in 0..layer.outputs {
                    let row = &layer.weights[o * layer.inputs_padded..(o + 1) * layer.inputs_padded];
                    let acc: i32 = row.iter().zip(input).map(|(&w, &q)| i32::from(w) * i32::from(q)).sum();
                    // SAFETY: o < outputs, inside the sink.
                    unsafe { finish_one(layer, net.activation, o, acc, out) };
                }
            }
        }
    }
    in_range(net, scratch)
}

#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::forward_avx2;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use tachyon_model::Activation;
    use tachyon_simd::isa::Avx2;
    use tachyon_simd::lanes::Lanes;

    use super::{epilogue, finish_one, in_range, stage, Sink};
    use crate::dense::pack::Form;
    use crate::quant::pack::{QuantLayer, QuantNetwork, QuantScratch, IN_LANES, OUT_LANES};

    /// Stores 8 integer-valued f32 lanes as 8 i16 (values within [-2047, 4095], so the packing never saturates).
    ///
    /// # Safety
    /// The CPU supports AVX2 (the caller is compiled for it); `p..p + 8` is writable.
    #[inline(always)]
    unsafe fn store_i16x8(p: *mut i16, v: __m256) {
        // SAFETY: AVX2 is available and 8 i16 (16 bytes) are writable (the caller's contract).
        unsafe {
            let v = _mm256_cvtps_epi32(v);
            let packed = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            _mm_storeu_si128(p.cast(), packed)
        }
    }

    /// One panel of `R` registers of 8 outputs.
    ///
    /// # Safety
    /// `w` holds the panel's `pairs * R * 16` weights, `x` `2 * pairs` activations, and the sink covers outputs
    /// `first..first + 8R`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn panel<const R: usize>(
        s: Avx2,
        layer: &QuantLayer,
        activation: Activation,
        w: *const i16,
        x: *const i16,
        pairs: usize,
        first: usize,
        sink: Sink,
    ) {
        // SAFETY: (whole body) offsets stay within the extents the caller guarantees.
        unsafe {
            let mut acc = [_mm256_setzero_si256(); R];
            for p in 0..pairs {
                let xb = _mm256_set1_epi32(x.add(2 * p).cast::<i32>().read_unaligned());
                let wp = w.add(p * R * 16);
                for (r, a) in acc.iter_mut().enumerate() {
                    let wv = _mm256_loadu_si256(wp.add(r * 16).cast());
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(wv, xb));
                }
            }
            for (r, &a) in acc.iter().enumerate() {
                let o = first + r * OUT_LANES;
                let scale = s.load(layer.scale.as_ptr().add(o));
                let bias = s.load(layer.bias.as_ptr().add(o));
                let y = epilogue(s, layer, activation, _mm256_cvtepi32_ps(a), scale, bias);
                match sink {
                    Sink::Quantised(q) => store_i16x8(q.add(o), y),
                    Sink::Output(f) => s.store(f.add(o), y),
                }
            }
        }
    }

    /// Sum of the 8 i32 lanes (exact).
    ///
    /// # Safety
    /// The CPU supports AVX2 (the caller is compiled for it).
    #[inline(always)]
    pub(super) unsafe fn sum_i32(v: __m256i) -> i32 {
        // SAFETY: AVX2 is available (the caller's contract); register operations only.
        unsafe {
            let h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
            let h = _mm_add_epi32(h, _mm_shuffle_epi32::<0b01_00_11_10>(h));
            let h = _mm_add_epi32(h, _mm_shuffle_epi32::<0b10_11_00_01>(h));
            _mm_cvtsi128_si32(h)
        }
    }

    /// The AVX2 forward pass; returns whether every activation was in range.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA; `x` holds `net.inputs` readable values; `scratch` was made for `net`.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn forward_avx2(net: &QuantNetwork, x: *const f32, scratch: &mut QuantScratch) -> bool {
        // SAFETY: the caller guarantees the CPU supports AVX2 and FMA.
        let s = unsafe { Avx2::new_unchecked() };
        // SAFETY: (whole body) buffers have the padded extents `QuantNetwork::new` and `QuantScratch::new` gave
        // them (inputs padded to 16, so a full 8-lane store at i < inputs stays inside); `x` is read only within
        // `net.inputs` (masked tail).
        unsafe {
            let staged = scratch.input.as_mut_ptr();
            let mut i = 0;
            while i < net.inputs {
                let v = if i + 8 <= net.inputs {
                    s.load(x.add(i))
                } else {
                    Lanes::<f32>::load_tail(s, x.add(i), Lanes::<f32>::tail(s, net.inputs - i))
                };
                let (hi, lo, f) = (net.mean_hi.as_ptr(), net.mean_lo.as_ptr(), net.input_factor.as_ptr());
                let q = stage(s, v, s.load(hi.add(i)), s.load(lo.add(i)), s.load(f.add(i)), net.input_levels);
                store_i16x8(staged.add(i), q);
                i += 8;
            }
            let mut input: *const i16 = staged;
            for (l, layer) in net.layers.iter().enumerate() {
                let sink = if layer.hidden {
                    Sink::Quantised(scratch.hidden[l].as_mut_ptr())
                } else {
                    Sink::Output(scratch.output.as_mut_ptr())
                };
                let w = layer.weights.as_ptr();
                match layer.form {
                    Form::Panels => {
                        let pairs = layer.inputs.div_ceil(2);
                        for &(regs, at, first) in &layer.panels {
                            let (w, a) = (w.add(at), net.activation);
                            match regs {
                                1 => panel::<1>(s, layer, a, w, input, pairs, first, sink),
                                2 => panel::<2>(s, layer, a, w, input, pairs, first, sink),
                                3 => panel::<3>(s, layer, a, w, input, pairs, first, sink),
                                4 => panel::<4>(s, layer, a, w, input, pairs, first, sink),
                                5 => panel::<5>(s, layer, a, w, input, pairs, first, sink),
                                6 => panel::<6>(s, layer, a, w, input, pairs, first, sink),
                                7 => panel::<7>(s, layer, a, w, input, pairs, first, sink),
                                _ => panel::<8>(s, layer, a, w, input, pairs, first, sink),
                            }
                        }
                    }
                    Form::Dot => {
                        for o in 0..layer.outputs {
                            let row = w.add(o * layer.inputs_padded);
                            let mut acc = _mm256_setzero_si256();
                            for c in (0..layer.inputs_padded).step_by(IN_LANES) {
                                let wv = _mm256_loadu_si256(row.add(c).cast());
                                let xv = _mm256_loadu_si256(input.add(c).cast());
                                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(wv, xv));
                            }
                            finish_one(layer, net.activation, o, sum_i32(acc), sink);
                        }
                    }
                }
                if layer.hidden {
                    input = scratch.hidden[l].as_ptr();
                }
            }
        }
        in_range(net, scratch)
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use vnni::forward_vnni;
#[cfg(target_arch = "x86_64")]
pub(crate) use vnni8::forward_vnni8;

/// The register panel both AVX-512 VNNI kernels share: `2 Z` 8-output registers of the layout (plus one more if
/// `ODD`) as `Z` zmm accumulators of 16 outputs and, if `ODD`, one ymm accumulator of 8; the kernels differ only in
/// the [`Format`] of their activations and weights and in where a layer's outputs go ([`Outputs`]).
#[cfg(target_arch = "x86_64")]
mod vnni_panel {
    use std::arch::x86_64::*;

    use tachyon_model::Activation;
    use tachyon_simd::isa::{Avx2, Avx512};
    use tachyon_simd::lanes::Lanes;

    use super::{epilogue, stage};
    use crate::quant::pack::{QuantLayer, QuantNetwork, OUT_LANES};

    /// Independent accumulator sets per register: a fused multiply-add chains each accumulator through the
    /// instruction's latency (unlike `vpmaddwd` + `vpaddd`, whose chain is the 1-cycle add), so consecutive input
    /// groups go to different sets, summed (exactly) before the epilogue.
    const SETS: usize = 2;

    /// A layer's input activations and the instruction that multiplies them by its weights.
    pub(super) trait Format: Copy {
        /// One weight.
        type Weight;
        /// Inputs one i32 lane sums per instruction (2 for i16 pairs, 4 for byte quads).
        const GROUP: usize;
        /// Input group `p` broadcast to every i32 lane.
        ///
        /// # Safety
        /// Group `p` is readable; the CPU supports AVX-512 F.
        unsafe fn broadcast(self, p: usize) -> __m512i;
        /// `acc` plus, per lane, the group's products with the 16 outputs' weights at `w`.
        ///
        /// # Safety
        /// `16 * GROUP` weights at `w` are readable; the CPU supports AVX-512 VNNI.
        unsafe fn wide(acc: __m512i, x: __m512i, w: *const Self::Weight) -> __m512i;
        /// [`wide`](Format::wide) for 8 outputs.
        ///
        /// # Safety
        /// `8 * GROUP` weights at `w` are readable; the CPU supports AVX-512 VNNI and VL.
        unsafe fn narrow(acc: __m256i, x: __m256i, w: *const Self::Weight) -> __m256i;
    }

    /// Where a layer's outputs go: the next layer's activations, or the f32 outputs.
    pub(super) trait Outputs: Copy {
        /// Outputs `o..o + 16`, as the epilogue left them.
        ///
        /// # Safety
        /// The sink covers them; the CPU supports AVX-512 F.
        unsafe fn wide(self, o: usize, y: __m512);
        /// Outputs `o..o + 8`.
        ///
        /// # Safety
        /// The sink covers them; the CPU supports AVX-512 F and VL.
        unsafe fn narrow(self, o: usize, y: __m256);
    }

    /// Raw features `i..i + 16` (a masked tail past `net.inputs`) as quantised inputs.
    ///
    /// # Safety
    /// The CPU supports AVX-512 F; `x` holds `net.inputs` readable values; `i < net.inputs`.
    #[inline(always)]
    pub(super) unsafe fn staged16(s: Avx512, net: &QuantNetwork, x: *const f32, i: usize) -> __m512 {
        // SAFETY: `x` is read only within `net.inputs` (masked tail); the staging arrays are padded to 16 lanes.
        unsafe {
            let v = if i + 16 <= net.inputs {
                s.load(x.add(i))
            } else {
                Lanes::<f32>::load_tail(s, x.add(i), Lanes::<f32>::tail(s, net.inputs - i))
            };
            let (hi, lo, f) = (net.mean_hi.as_ptr(), net.mean_lo.as_ptr(), net.input_factor.as_ptr());
            stage(s, v, s.load(hi.add(i)), s.load(lo.add(i)), s.load(f.add(i)), net.input_levels)
        }
    }

    /// One panel; `offset`, if given, is added per output to the exact sums (the 8-bit format's byte bias).
    ///
    /// # Safety
    /// The CPU supports AVX-512 F/BW/VL and VNNI; `w` holds the panel's `groups * (2Z + ODD) * 8 * GROUP`
    /// weights, `x` `groups` input groups, `offset` (if any) the layer's padded outputs, and the sink covers outputs
    /// `first..first + 8 (2Z + ODD)`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panel<const Z: usize, const ODD: bool, F: Format, O: Outputs>(
        s: Avx512,
        layer: &QuantLayer,
        activation: Activation,
        w: *const F::Weight,
        x: F,
        groups: usize,
        first: usize,
        offset: Option<*const i32>,
        sink: O,
    ) {
        // Weights per input group in the panel, and per 16-output register.
        let step = (2 * Z + usize::from(ODD)) * OUT_LANES * F::GROUP;
        let register = 2 * OUT_LANES * F::GROUP;
        // SAFETY: (whole body) offsets stay within the extents the caller guarantees; the CPU features are the
        // caller's contract.
        unsafe {
            let mut acc = [[_mm512_setzero_si512(); Z]; SETS];
            let mut narrow = [_mm256_setzero_si256(); SETS];
            // Group `p` into one accumulator set.
            let accumulate = |acc: &mut [__m512i; Z], narrow: &mut __m256i, p: usize| {
                let xb = x.broadcast(p);
                let wp = w.add(p * step);
                for (z, a) in acc.iter_mut().enumerate() {
                    *a = F::wide(*a, xb, wp.add(z * register));
                }
                if ODD {
                    *narrow = F::narrow(*narrow, _mm512_castsi512_si256(xb), wp.add(Z * register));
                }
            };
            // Whole rounds with a constant trip count, so that the accumulators stay in registers.
            let mut p = 0;
            while p + SETS <= groups {
                for (set, (a, n)) in acc.iter_mut().zip(&mut narrow).enumerate() {
                    accumulate(a, n, p + set);
                }
                p += SETS;
            }
            for p in p..groups {
                accumulate(&mut acc[0], &mut narrow[0], p);
            }
            let mut total = acc[0];
            for set in &acc[1..] {
                for (t, &a) in total.iter_mut().zip(set) {
                    *t = _mm512_add_epi32(*t, a);
                }
            }
            for (z, &sums) in total.iter().enumerate() {
                let o = first + z * 2 * OUT_LANES;
                let sums = match offset {
                    Some(d) => _mm512_add_epi32(sums, _mm512_loadu_si512(d.add(o).cast())),
                    None => sums,
                };
                let scale = s.load(layer.scale.as_ptr().add(o));
                let bias = s.load(layer.bias.as_ptr().add(o));
                sink.wide(o, epilogue(s, layer, activation, _mm512_cvtepi32_ps(sums), scale, bias));
            }
            if ODD {
                let s = Avx2::new_unchecked();
                let o = first + Z * 2 * OUT_LANES;
                let sums = (1..SETS).fold(narrow[0], |t, set| _mm256_add_epi32(t, narrow[set]));
                let sums = match offset {
                    Some(d) => _mm256_add_epi32(sums, _mm256_loadu_si256(d.add(o).cast())),
                    None => sums,
                };
                let scale = s.load(layer.scale.as_ptr().add(o));
                let bias = s.load(layer.bias.as_ptr().add(o));
                sink.narrow(o, epilogue(s, layer, activation, _mm256_cvtepi32_ps(sums), scale, bias));
            }
        }
    }

    /// [`panel`] for a panel of `regs` (1..=8) 8-output registers.
    ///
    /// # Safety
    /// As [`panel`], with `2Z + ODD = regs`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn panel_of<F: Format, O: Outputs>(
        regs: usize,
        s: Avx512,
        layer: &QuantLayer,
        a: Activation,
        w: *const F::Weight,
        x: F,
        groups: usize,
        first: usize,
        offset: Option<*const i32>,
        sink: O,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match regs {
                1 => panel::<0, true, F, O>(s, layer, a, w, x, groups, first, offset, sink),
                2 => panel::<1, false, F, O>(s, layer, a, w, x, groups, first, offset, sink),
                3 => panel::<1, true, F, O>(s, layer, a, w, x, groups, first, offset, sink),
                4 => panel::<2, false, F, O>(s, layer, a, w, x, groups, first, offset, sink),
                5 => panel::<2, true, F, O>(s, layer, a, w, x, groups, first, offset, sink),
                6 => panel::<3, false, F, O>(s, layer, a, w, x, groups, first, offset, sink),
                7 => panel::<3, true, F, O>(s, layer, a, w, x, groups, first, offset, sink),
                _ => panel::<4, false, F, O>(s, layer, a, w, x, groups, first, offset, sink),
            }
        }
    }
}

/// The AVX-512 VNNI forward pass for 12-bit activations: `vpdpwssd` multiplies the same i16 pairs as the AVX2 kernel's `vpmaddwd` and adds
/// them into the i32 accumulators in one instruction, 16 outputs per register, over the same weight layout (two
/// consecutive 8-output registers of a panel are one 16-output register here). The sums are the same exact
/// integers and the epilogue the same basic operations, so the outputs equal the other paths' bit for bit.
///
/// (8-bit activations take [`vnni8`]'s `vpdpbusd` instead.)
#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use tachyon_simd::isa::Avx512Vnni;

    use super::avx2::sum_i32;
    use super::vnni_panel::{panel_of, staged16, Format, Outputs};
    use super::{finish_one, in_range, Sink};
    use crate::dense::pack::Form;
    use crate::quant::pack::{QuantNetwork, QuantScratch, IN_LANES};

    /// i16 activations, multiplied in pairs by `vpdpwssd`.
    #[derive(Clone, Copy)]
    struct Pairs(*const i16);

    impl Format for Pairs {
        type Weight = i16;
        const GROUP: usize = 2;

        #[inline(always)]
        unsafe fn broadcast(self, p: usize) -> __m512i {
            // SAFETY: pair p is readable (the caller's contract).
            unsafe { _mm512_set1_epi32(self.0.add(2 * p).cast::<i32>().read_unaligned()) }
        }

        #[inline(always)]
        unsafe fn wide(acc: __m512i, x: __m512i, w: *const i16) -> __m512i {
            // SAFETY: 32 weights at w are readable; VNNI is available (the caller's contract).
            unsafe { _mm512_dpwssd_epi32(acc, _mm512_loadu_si512(w.cast()), x) }
        }

        #[inline(always)]
        unsafe fn narrow(acc: __m256i, x: __m256i, w: *const i16) -> __m256i {
            // SAFETY: 16 weights at w are readable; VNNI and VL are available (the caller's contract).
            unsafe { _mm256_dpwssd_epi32(acc, _mm256_loadu_si256(w.cast()), x) }
        }
    }

    impl Outputs for Sink {
        #[inline(always)]
        unsafe fn wide(self, o: usize, y: __m512) {
            // SAFETY: the sink covers o..o + 16 (the caller's contract); values within [-2047, 4095], so the
            // saturating narrowing never saturates.
            unsafe {
                match self {
                    Sink::Quantised(q) => {
                        _mm256_storeu_si256(q.add(o).cast(), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(y)))
                    }
                    Sink::Output(f) => _mm512_storeu_ps(f.add(o), y),
                }
            }
        }

        #[inline(always)]
        unsafe fn narrow(self, o: usize, y: __m256) {
            // SAFETY: as above, for o..o + 8.
            unsafe {
                match self {
                    Sink::Quantised(q) => {
                        _mm_storeu_si128(q.add(o).cast(), _mm256_cvtsepi32_epi16(_mm256_cvtps_epi32(y)))
                    }
                    Sink::Output(f) => _mm256_storeu_ps(f.add(o), y),
                }
            }
        }
    }

    /// The AVX-512 VNNI forward pass; returns whether every activation was in range.
    ///
    /// # Safety
    /// `x` holds `net.inputs` readable values; `scratch` was made for `net`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")]
    pub(crate) unsafe fn forward_vnni(
        vnni: Avx512Vnni,
        net: &QuantNetwork,
        x: *const f32,
        scratch: &mut QuantScratch,
    ) -> bool {
        let s = vnni.avx512();
        // SAFETY: (whole body) buffers have the padded extents `QuantNetwork::new` and `QuantScratch::new` gave
        // them (inputs and activations padded to 16 i16, so a 16-lane store at i < inputs stays inside and the dot
        // form's 16-lane loads read within `inputs_padded`); `x` is read only within `net.inputs` (masked tail).
        unsafe {
            let staged = scratch.input.as_mut_ptr();
            let mut i = 0;
            while i < net.inputs {
                let q = staged16(s, net, x, i);
                Sink::Quantised(staged).wide(i, q);
                i += 16;
            }
            let mut input: *const i16 = staged;
            for (l, layer) in net.layers.iter().enumerate() {
                let sink = if layer.hidden {
                    Sink::Quantised(scratch.hidden[l].as_mut_ptr())
                } else {
                    Sink::Output(scratch.output.as_mut_ptr())
                };
                let w = layer.weights.as_ptr();
                match layer.form {
                    Form::Panels => {
                        let pairs = layer.inputs.div_ceil(2);
                        for &(regs, at, first) in &layer.panels {
                            let (w, a) = (w.add(at), net.activation);
                            panel_of(regs, s, layer, a, w, Pairs(input), pairs, first, None, sink);
                        }
                    }
                    Form::Dot => {
                        for o in 0..layer.outputs {
                            let row = w.add(o * layer.inputs_padded);
                            // 16 i16 at a time, as the activations were stored (a load spanning two of those
                            // stores could not be forwarded from them); two chains over 32-input steps.
                            let mut acc = [_mm256_setzero_si256(); 2];
                            for c in (0..layer.inputs_padded).step_by(2 * IN_LANES) {
                                for (k, a) in acc.iter_mut().enumerate() {
                                    let c = c + k * IN_LANES;
                                    if c < layer.inputs_padded {
                                        let wv = _mm256_loadu_si256(row.add(c).cast());
                                        *a = _mm256_dpwssd_epi32(*a, wv, _mm256_loadu_si256(input.add(c).cast()));
                                    }
                                }
                            }
                            finish_one(layer, net.activation, o, sum_i32(_mm256_add_epi32(acc[0], acc[1])), sink);
                        }
                    }
                }
                if layer.hidden {
                    input = scratch.hidden[l].as_ptr();
                }
            }
        }
        in_range(net, scratch)
    }
}

/// The AVX-512 VNNI forward pass for 8-bit activations: `vpdpbusd` multiplies the activations, stored as unsigned
/// bytes, by the i8 copy of the weights four at a time ([`super::pack`]), 16 outputs per register; a constant per
/// output removes the bytes' bias. The sums are the other kernels' exact integers and the epilogue the same basic
/// operations, so the outputs equal theirs bit for bit.
#[cfg(target_arch = "x86_64")]
mod vnni8 {
    use std::arch::x86_64::*;

    use tachyon_model::Activation;
    use tachyon_simd::isa::Avx512Vnni;
    use tachyon_simd::lanes::scalar::Scalar;

    use super::avx2::sum_i32;
    use super::epilogue;
    use super::vnni_panel::{panel_of, staged16, Format, Outputs};
    use crate::dense::pack::Form;
    use crate::quant::pack::{byte_bias, QuantNetwork, QuantScratch, BYTE_LANES};

    /// Byte activations, multiplied in quads by `vpdpbusd` (unsigned activations, signed weights).
    #[derive(Clone, Copy)]
    struct Quads(*const u8);

    impl Format for Quads {
        type Weight = i8;
        const GROUP: usize = 4;

        #[inline(always)]
        unsafe fn broadcast(self, p: usize) -> __m512i {
            // SAFETY: quad p is readable (the caller's contract).
            unsafe { _mm512_set1_epi32(self.0.add(4 * p).cast::<i32>().read_unaligned()) }
        }

        #[inline(always)]
        unsafe fn wide(acc: __m512i, x: __m512i, w: *const i8) -> __m512i {
            // SAFETY: 64 weights at w are readable; VNNI is available (the caller's contract).
            unsafe { _mm512_dpbusd_epi32(acc, x, _mm512_loadu_si512(w.cast())) }
        }

        #[inline(always)]
        unsafe fn narrow(acc: __m256i, x: __m256i, w: *const i8) -> __m256i {
            // SAFETY: 32 weights at w are readable; VNNI and VL are available (the caller's contract).
            unsafe { _mm256_dpbusd_epi32(acc, x, _mm256_loadu_si256(w.cast())) }
        }
    }

    impl Outputs for Sink {
        #[inline(always)]
        unsafe fn wide(self, o: usize, y: __m512) {
            // SAFETY: the sink covers o..o + 16 (the caller's contract).
            unsafe {
                match self {
                    Sink::Bytes(q, b) => store_bytes16(q.add(o), y, b),
                    Sink::Output(f) => _mm512_storeu_ps(f.add(o), y),
                }
            }
        }

        #[inline(always)]
        unsafe fn narrow(self, o: usize, y: __m256) {
            // SAFETY: the sink covers o..o + 8 (the caller's contract).
            unsafe {
                match self {
                    Sink::Bytes(q, b) => store_bytes8(q.add(o), y, b),
                    Sink::Output(f) => _mm256_storeu_ps(f.add(o), y),
                }
            }
        }
    }

    /// Where a layer writes: the next layer's input bytes (with their bias), or the f32 outputs.
    #[derive(Clone, Copy)]
    enum Sink {
        Bytes(*mut u8, i32),
        Output(*mut f32),
    }

    /// Stores 16 quantised activations (integer-valued f32 within [-127, 255]) plus `bias` as bytes at `p`.
    ///
    /// # Safety
    /// The CPU supports AVX-512 F (the caller is compiled for it); 16 bytes at `p` are writable; the biased values
    /// lie in [0, 255].
    #[inline(always)]
    unsafe fn store_bytes16(p: *mut u8, q: __m512, bias: i32) {
        // SAFETY: AVX-512 F is available and 16 bytes are writable (the caller's contract). `vpmovdb` keeps the
        // low byte of each lane: the value itself, as it lies in [0, 255].
        unsafe {
            let v = _mm512_add_epi32(_mm512_cvtps_epi32(q), _mm512_set1_epi32(bias));
            _mm_storeu_si128(p.cast(), _mm512_cvtepi32_epi8(v))
        }
    }

    /// [`store_bytes16`] for 8 activations.
    ///
    /// # Safety
    /// As [`store_bytes16`], with AVX-512 VL, for 8 bytes.
    #[inline(always)]
    unsafe fn store_bytes8(p: *mut u8, q: __m256, bias: i32) {
        // SAFETY: AVX-512 F/VL are available and 8 bytes are writable (the caller's contract).
        unsafe {
            let v = _mm256_add_epi32(_mm256_cvtps_epi32(q), _mm256_set1_epi32(bias));
            _mm_storel_epi64(p.cast(), _mm256_cvtepi32_epi8(v))
        }
    }

    /// Whether every activation of the call just made lies in the calibrated range ([`super::in_range`] for the
    /// byte buffers): no input at the reserved levels ±127 (bytes 1 and 255) and, after ReLU, no hidden activation
    /// at 255.
    #[inline(always)]
    fn bytes_in_range(net: &QuantNetwork, scratch: &QuantScratch) -> bool {
        let input = &scratch.bytes[0][..net.inputs];
        let mut out = input.iter().fold(0u8, |o, &b| o | u8::from(b == 255) | u8::from(b <= 1));
        if net.activation == Activation::Relu {
            for (layer, b) in net.layers.iter().zip(&scratch.bytes[1..]) {
                out |= b[..layer.outputs].iter().fold(0u8, |o, &b| o | u8::from(b == 255));
            }
        }
        out == 0
    }

    /// The AVX-512 VNNI forward pass for 8-bit activations; returns whether every activation was in range.
    ///
    /// # Safety
    /// `net` has 8-bit activations; `x` holds `net.inputs`
    /// readable values; `scratch` was made for `net`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")]
    pub(crate) unsafe fn forward_vnni8(
        vnni: Avx512Vnni,
        net: &QuantNetwork,
        x: *const f32,
        scratch: &mut QuantScratch,
    ) -> bool {
        let s = vnni.avx512();
        // SAFETY: (whole body) buffers have the padded extents `QuantNetwork::new` and `QuantScratch::new` gave
        // them: byte buffers and dot-form rows are whole 64-byte registers, so a 16-byte store at i < inputs and a
        // 64-byte load at c < round_up(inputs, 64) stay inside; `x` is read only within `net.inputs` (masked
        // tail).
        unsafe {
            let staged = scratch.bytes[0].as_mut_ptr();
            let mut i = 0;
            while i < net.inputs {
                let q = staged16(s, net, x, i);
                store_bytes16(staged.add(i), q, byte_bias(0, net.activation));
                i += 16;
            }
            let last = net.layers.len() - 1;
            for (l, layer) in net.layers.iter().enumerate() {
                let (done, next) = scratch.bytes.split_at_mut(l + 1);
                let input = done[l].as_ptr();
                let sink = if l < last {
                    Sink::Bytes(next[0].as_mut_ptr(), byte_bias(l + 1, net.activation))
                } else {
                    Sink::Output(scratch.output.as_mut_ptr())
                };
                let w = layer.quads.as_ptr();
                let quads = layer.inputs.div_ceil(4);
                match layer.form {
                    Form::Panels => {
                        let offset = Some(layer.byte_offset.as_ptr());
                        for &(regs, _, first) in &layer.panels {
                            let (w, a) = (w.add(first * quads * 4), net.activation);
                            panel_of(regs, s, layer, a, w, Quads(input), quads, first, offset, sink);
                        }
                    }
                    Form::Dot => {
                        let row_bytes = layer.inputs.next_multiple_of(BYTE_LANES);
                        for o in 0..layer.outputs {
                            let row = w.add(o * row_bytes);
                            // 16 bytes at a time: the activations were stored 16 at a time, and a load spanning
                            // several of those stores could not be forwarded from them (it would wait for them to
                            // reach the cache). Four chains, one per 16-byte quarter of a 64-byte step.
                            let mut acc = [_mm_setzero_si128(); 4];
                            for c in (0..row_bytes).step_by(BYTE_LANES) {
                                for (k, a) in acc.iter_mut().enumerate() {
                                    let xv = _mm_loadu_si128(input.add(c + 16 * k).cast());
                                    *a = _mm_dpbusd_epi32(*a, xv, _mm_loadu_si128(row.add(c + 16 * k).cast()));
                                }
                            }
                            let v = _mm_add_epi32(_mm_add_epi32(acc[0], acc[1]), _mm_add_epi32(acc[2], acc[3]));
                            let sum = sum_i32(_mm256_zextsi128_si256(v)).wrapping_add(layer.byte_offset[o]);
                            let v = epilogue(Scalar, layer, net.activation, sum as f32, layer.scale[o], layer.bias[o]);
                            match sink {
                                Sink::Bytes(q, b) => *q.add(o) = (v as i32 + b) as u8,
                                Sink::Output(f) => *f.add(o) = v,
                            }
                        }
                    }
                }
            }
        }
        bytes_in_range(net, scratch)
    }
}
