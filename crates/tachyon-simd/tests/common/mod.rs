//! Helpers shared by the kernel tests: which instruction sets to test, awkward lengths, misaligned slices.

#![allow(dead_code)]

use tachyon_simd::mem::AlignedVec;
use tachyon_simd::{Float, KernelTable};
use tachyon_testkit::SplitMix64;

/// Tables of every instruction set under test (see `isa::levels_under_test`).
pub fn tables<T: Float>() -> Vec<&'static KernelTable<T>> {
    tachyon_simd::isa::levels_under_test().into_iter().map(|isa| T::kernels_for(isa).unwrap()).collect()
}

/// 0..=130, primes around powers of two, and a few thousands.
pub fn lengths() -> Vec<usize> {
    let mut v: Vec<usize> = (0..=130).collect();
    v.extend([131, 251, 257, 509, 521, 1021, 1031, 2053, 4093, 4099, 1000, 4096, 5003]);
    v
}

/// Element offsets at which test slices start, so that no kernel sees only 64-byte-aligned data.
pub fn offsets<T: Float>() -> Vec<usize> {
    let per_line = 64 / T::BYTES;
    vec![0, 1, 3, per_line - 1]
}

/// A buffer of `offset + n` values whose slice `[offset..]` is the test input: `n` values from `gen`.
pub struct Misaligned<T: bytemuck::Pod> {
    buf: AlignedVec<T>,
    offset: usize,
}

impl<T: Float> Misaligned<T> {
    pub fn new(n: usize, offset: usize, mut gen: impl FnMut(usize) -> T) -> Self {
        let mut buf = AlignedVec::zeroed(offset + n);
        for i in 0..n {
            buf[offset + i] = gen(i);
        }
        Misaligned { buf, offset }
    }
    pub fn get(&self) -> &[T] {
        &self.buf[self.offset..]
    }
    pub fn get_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.offset..]
    }
}

/// Random values in [-scale, scale).
pub fn random_values<T: Float>(rng: &mut SplitMix64, n: usize, scale: f64) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.uniform(-scale, scale))).collect()
}

/// gamma_n = n u / (1 - n u): Higham's worst-case relative bound for n roundings.
pub fn gamma<T: Float>(n: usize) -> f64 {
    let nu = n as f64 * T::UNIT_ROUNDOFF;
    nu / (1.0 - nu)
}
