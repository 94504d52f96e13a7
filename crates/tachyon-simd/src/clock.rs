//! [`CycleClock`]: the one cycle timer. On x86-64 it reads the time-stamp counter between `lfence`s, so that a
//! read comes after the instructions before it have retired; the counter is invariant (constant rate, shared by the
//! cores) on every CPU Tachyon runs on, so reads on two threads can be subtracted. Elsewhere it reads the OS clock.
//! Ticks become ns through a rate measured against the OS clock ([`CycleClock::ns_per_tick`]).

use std::time::Instant;

/// A monotonic counter and the moment it was made (for the rate).
#[derive(Clone, Copy, Debug)]
pub struct CycleClock {
    origin: Instant,
    origin_ticks: u64,
}

impl Default for CycleClock {
    fn default() -> Self {
        Self::new()
    }
}

impl CycleClock {
    /// A clock whose rate is measured from now.
    pub fn new() -> CycleClock {
        let origin = Instant::now();
        let mut clock = CycleClock { origin, origin_ticks: 0 };
        clock.origin_ticks = clock.now();
        clock
    }

    /// The counter, in ticks.
    #[inline(always)]
    pub fn now(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_lfence, _rdtsc};
            // SAFETY: lfence and rdtsc exist on every x86-64 CPU (SSE2 is part of the base ISA) and touch no memory.
            unsafe {
                _mm_lfence();
                let t = _rdtsc();
                _mm_lfence();
                t
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self.origin.elapsed().as_nanos() as u64
        }
    }

    /// ns per tick, measured from the clock's creation to now (the longer, the more precise: 1 ms gives about
    /// 1e-4 relative on a counter of a few GHz).
    pub fn ns_per_tick(&self) -> f64 {
        let (wall, ticks) = (self.origin.elapsed().as_nanos() as f64, self.now().wrapping_sub(self.origin_ticks));
        wall / ticks.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_advances_at_a_plausible_rate() {
        let clock = CycleClock::new();
        let t0 = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t1 = clock.now();
        assert!(t1 > t0);
        // Between 0.1 and 10 GHz (or 1 tick per ns for the OS clock).
        let rate = clock.ns_per_tick();
        assert!((0.1..=10.0).contains(&rate), "{rate} ns per tick");
    }
}
