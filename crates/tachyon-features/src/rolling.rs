//! Streaming statistics with O(1) work per update and no allocation after construction: a fixed ring, rolling
//! mean/variance (sliding Welford with periodic exact recomputation, so rounding never accumulates), rolling
//! min/max (monotone deque), EWMA in events and in time, and batch functions that run the same code over a
//! whole series.

/// The last `capacity` values, newest last, usable as a double-ended queue. Allocated once.
///
/// Storage is a power of two indexed by free-running counters masked on access, so pushes, pops and lookups are
/// a few instructions with no wrap-around branch.
#[derive(Clone, Debug)]
pub struct Ring<T> {
    buf: Box<[T]>,
    mask: usize,
    capacity: usize,
    /// Counter of the oldest value.
    head: usize,
    /// Counter one past the newest value.
    tail: usize,
}

impl<T: Copy + Default> Ring<T> {
    /// An empty ring holding up to `capacity` (>= 1) values.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity >= 1, "a ring needs room for one value");
        let size = capacity.next_power_of_two();
        Ring { buf: vec![T::default(); size].into_boxed_slice(), mask: size - 1, capacity, head: 0, tail: 0 }
    }

    /// Values held.
    #[inline]
    pub fn len(&self) -> usize {
        self.tail - self.head
    }

    /// Whether no value is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.tail == self.head
    }

    /// Whether the ring holds `capacity` values.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity
    }

    /// Most values held.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends `value`, returning the value it evicts when full.
    #[inline]
    pub fn push(&mut self, value: T) -> Option<T> {
        let evicted = if self.is_full() {
            let old = self.buf[self.head & self.mask];
            self.head += 1;
            Some(old)
        } else {
            None
        };
        self.buf[self.tail & self.mask] = value;
        self.tail += 1;
        evicted
    }

    /// The value `age` pushes ago (0: the newest), if held.
    #[inline]
    pub fn back(&self, age: usize) -> Option<T> {
        (age < self.len()).then(|| self.buf[(self.tail - 1 - age) & self.mask])
    }

    /// The value `age` pushes ago, or `default` if not held (a select, not a branch: the masked index is always
    /// in bounds).
    #[inline]
    pub fn back_or(&self, age: usize, default: T) -> T {
        let v = self.buf[self.tail.wrapping_sub(1).wrapping_sub(age) & self.mask];
        if age < self.len() {
            v
        } else {
            default
        }
    }

    /// The newest value, mutable, if any.
    #[inline]
    pub fn back_mut(&mut self) -> Option<&mut T> {
        let at = self.tail.wrapping_sub(1) & self.mask;
        (!self.is_empty()).then(|| &mut self.buf[at])
    }

    /// The oldest value, if any.
    #[inline]
    pub fn front(&self) -> Option<T> {
        (!self.is_empty()).then(|| self.buf[self.head & self.mask])
    }

    /// Removes the oldest value.
    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        let v = self.front()?;
        self.head += 1;
        Some(v)
    }

    /// Removes the newest value.
    #[inline]
    pub fn pop_back(&mut self) -> Option<T> {
        let v = self.back(0)?;
        self.tail -= 1;
        Some(v)
    }

    /// The values, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (self.head..self.tail).map(move |i| self.buf[i & self.mask])
    }

    /// The values as two slices, oldest first.
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let start = self.head & self.mask;
        let len = self.len();
        if start + len <= self.buf.len() {
            (&self.buf[start..start + len], &[])
        } else {
            (&self.buf[start..], &self.buf[..start + len - self.buf.len()])
        }
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
    }
}

/// `sum f(x)` with four independent accumulators (four times the throughput of one chain of dependent adds).
fn sum4(x: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = x.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += f(c[k]);
        }
    }
    let mut total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for &v in tail {
        total += f(v);
    }
    total
}

/// Mean and sample variance (ddof = 1, as pandas and polars) of the last `window` values.
///
/// Each update is the sliding form of Welford's algorithm (add the new value, remove the evicted one), O(1).
/// Its rounding errors would accumulate over millions of updates, so every `window` updates the mean and the
/// sum of squared deviations are recomputed exactly from the ring by two passes (O(window), i.e. O(1)
/// amortised): the error is then that of at most `window` updates, whatever the length of the stream.
#[derive(Clone, Debug)]
pub struct RollingMoments {
    ring: Ring<f64>,
    inv_window: f64,
    inv_window_m1: f64,
    mean: f64,
    m2: f64,
    since_exact: usize,
}

impl RollingMoments {
    /// Statistics over the last `window` (>= 1) values.
    pub fn new(window: usize) -> Self {
        RollingMoments {
            ring: Ring::new(window),
            inv_window: 1.0 / window as f64,
            inv_window_m1: 1.0 / (window as f64 - 1.0),
            mean: 0.0,
            m2: 0.0,
            since_exact: 0,
        }
    }

    /// Adds `x` (and drops the value that leaves the window).
    #[inline]
    pub fn push(&mut self, x: f64) {
        match self.ring.push(x) {
            None => {
                let n = self.ring.len() as f64;
                let d = x - self.mean;
                self.mean += d / n;
                self.m2 += d * (x - self.mean);
            }
            Some(y) => {
                let old_mean = self.mean;
                self.mean += (x - y) * self.inv_window;
                self.m2 += (x - y) * ((x - self.mean) + (y - old_mean));
            }
        }
        self.since_exact += 1;
        if self.since_exact >= self.ring.capacity() {
            self.recompute();
        }
    }

    #[cold]
    fn recompute(&mut self) {
        self.since_exact = 0;
        let n = self.ring.len() as f64;
        let (older, newer) = self.ring.as_slices();
        let mean = (sum4(older, |v| v) + sum4(newer, |v| v)) / n;
        let sq = |v: f64| (v - mean) * (v - mean);
        self.mean = mean;
        self.m2 = sum4(older, sq) + sum4(newer, sq);
    }

    /// Values in the window.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether no value has been pushed.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Mean of the window (0 when empty).
    #[inline]
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Sample variance (NaN with fewer than two values; never negative).
    #[inline]
    pub fn variance(&self) -> f64 {
        let n = self.ring.len();
        if n < 2 {
            f64::NAN
        } else if n == self.ring.capacity() {
            (self.m2 * self.inv_window_m1).max(0.0)
        } else {
            (self.m2 / (n - 1) as f64).max(0.0)
        }
    }

    /// Sample standard deviation.
    #[inline]
    pub fn std(&self) -> f64 {
        self.variance().sqrt()
    }
}

/// Maximum of the last `window` values, by a monotone deque: each value enters and leaves the deque once, so an
/// update is O(1) amortised, and the deque never holds more than `window` entries (no allocation).
#[derive(Clone, Debug)]
pub struct RollingMax {
    deque: Ring<(u64, f64)>,
    window: u64,
    count: u64,
}

impl RollingMax {
    /// Maximum over the last `window` (>= 1) values.
    pub fn new(window: usize) -> Self {
        RollingMax { deque: Ring::new(window), window: window as u64, count: 0 }
    }

    /// Adds `x` (NaN is ignored: it never becomes the maximum).
    #[inline]
    pub fn push(&mut self, x: f64) {
        let index = self.count;
        self.count += 1;
        if let Some((oldest, _)) = self.deque.front() {
            if oldest + self.window <= index {
                self.deque.pop_front();
            }
        }
        if x.is_nan() {
            return;
        }
        // The common case in market data: the value did not change. The newest entry then simply gets the
        // newer index (same result as popping it and pushing this one).
        if let Some(back) = self.deque.back_mut() {
            if back.1 == x {
                back.0 = index;
                return;
            }
        }
        while let Some((_, v)) = self.deque.back(0) {
            if v <= x {
                self.deque.pop_back();
            } else {
                break;
            }
        }
        self.deque.push((index, x));
    }

    /// The maximum of the window (NaN when it holds no number).
    #[inline]
    pub fn max(&self) -> f64 {
        self.deque.front().map_or(f64::NAN, |(_, v)| v)
    }
}

/// Minimum of the last `window` values ([`RollingMax`] of the negated values).
#[derive(Clone, Debug)]
pub struct RollingMin(RollingMax);

impl RollingMin {
    /// Minimum over the last `window` (>= 1) values.
    pub fn new(window: usize) -> Self {
        RollingMin(RollingMax::new(window))
    }

    /// Adds `x`.
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.0.push(-x);
    }

    /// The minimum of the window (NaN when it holds no number).
    #[inline]
    pub fn min(&self) -> f64 {
        -self.0.max()
    }
}

/// Smoothing factor of an EWMA whose weights halve every `half_life` updates: `1 - 2^(-1/half_life)`.
pub fn alpha_from_half_life(half_life: f64) -> f64 {
    1.0 - (-std::f64::consts::LN_2 / half_life).exp()
}

/// Exponentially weighted moving average per update: `m <- m + alpha (x - m)`, started at the first value
/// (polars' and pandas' `ewm(..., adjust=False)`).
#[derive(Clone, Copy, Debug)]
pub struct Ewma {
    alpha: f64,
    value: f64,
    started: bool,
}

impl Ewma {
    /// An EWMA with smoothing factor `alpha` in (0, 1].
    pub fn new(alpha: f64) -> Self {
        assert!(alpha > 0.0 && alpha <= 1.0, "EWMA alpha must be in (0, 1], got {alpha}");
        Ewma { alpha, value: 0.0, started: false }
    }

    /// An EWMA whose weights halve every `half_life` updates.
    pub fn with_half_life(half_life: f64) -> Self {
        Self::new(alpha_from_half_life(half_life))
    }

    /// Adds `x`.
    #[inline]
    pub fn push(&mut self, x: f64) {
        if self.started {
            self.value += self.alpha * (x - self.value);
        } else {
            self.value = x;
            self.started = true;
        }
    }

    /// The average (0 before the first value).
    #[inline]
    pub fn value(&self) -> f64 {
        self.value
    }
}

/// A sum that decays exponentially in time: `S(t) = sum_i w_i exp(-(t - t_i) / tau)`. Divided by `tau` it is
/// an intensity (events per second when `tau` is in seconds).
#[derive(Clone, Copy, Debug)]
pub struct DecayingSum {
    tau_ns: f64,
    value: f64,
    last_ns: Option<i64>,
}

impl DecayingSum {
    /// A sum with time constant `tau_ns` (> 0), ns.
    pub fn new(tau_ns: f64) -> Self {
        assert!(tau_ns > 0.0, "time constant must be positive");
        DecayingSum { tau_ns, value: 0.0, last_ns: None }
    }

    /// Decays the sum to time `now_ns` (time never goes backwards; if it does, no decay).
    #[inline]
    pub fn decay_to(&mut self, now_ns: i64) {
        if let Some(last) = self.last_ns {
            let dt = (now_ns - last).max(0) as f64;
            if dt > 0.0 {
                self.value *= (-dt / self.tau_ns).exp();
            }
        }
        self.last_ns = Some(now_ns);
    }

    /// Adds `w` at the current time (call [`Self::decay_to`] first).
    #[inline]
    pub fn add(&mut self, w: f64) {
        self.value += w;
    }

    /// The decayed sum.
    #[inline]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The time constant, ns.
    pub fn tau_ns(&self) -> f64 {
        self.tau_ns
    }
}

/// Rolling mean over `window` values of a whole series, through [`RollingMoments`]: `out[i]` is the mean of
/// `x[i+1-window..=i]`, NaN for the first `window - 1` entries (pandas' and polars' default `min_periods`).
pub fn rolling_mean(x: &[f64], window: usize, out: &mut [f64]) {
    rolling_apply(x, window, out, RollingMoments::mean)
}

/// Rolling sample standard deviation (ddof = 1) of a whole series; NaN for the first `window - 1` entries.
pub fn rolling_std(x: &[f64], window: usize, out: &mut [f64]) {
    rolling_apply(x, window, out, RollingMoments::std)
}

fn rolling_apply(x: &[f64], window: usize, out: &mut [f64], stat: impl Fn(&RollingMoments) -> f64) {
    assert_eq!(x.len(), out.len(), "output length must equal input length");
    let mut m = RollingMoments::new(window);
    for (o, &v) in out.iter_mut().zip(x) {
        m.push(v);
        *o = if m.len() < window { f64::NAN } else { stat(&m) };
    }
}

/// EWMA (adjust = False) of a whole series through [`Ewma`].
pub fn ewm_mean(x: &[f64], alpha: f64, out: &mut [f64]) {
    assert_eq!(x.len(), out.len(), "output length must equal input length");
    let mut e = Ewma::new(alpha);
    for (o, &v) in out.iter_mut().zip(x) {
        e.push(v);
        *o = e.value();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tachyon_testkit::SplitMix64;

    fn two_pass(window: &[f64]) -> (f64, f64) {
        let n = window.len() as f64;
        let mean = window.iter().sum::<f64>() / n;
        let var = window.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn ring_keeps_the_newest_values_in_order() {
        let mut r = Ring::new(3);
        assert_eq!(r.push(1), None);
        r.push(2);
        r.push(3);
        assert_eq!(r.push(4), Some(1));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!((r.back(0), r.back(2), r.back(3)), (Some(4), Some(2), None));
        assert_eq!(r.pop_back(), Some(4));
        assert_eq!(r.pop_front(), Some(2));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn rolling_moments_match_two_pass_at_every_step() {
        let mut rng = SplitMix64(7);
        for window in [1usize, 2, 3, 17, 64] {
            let xs: Vec<f64> = (0..500).map(|_| rng.next_f64() * 10.0 - 5.0).collect();
            let mut m = RollingMoments::new(window);
            for i in 0..xs.len() {
                m.push(xs[i]);
                let w = &xs[(i + 1usize).saturating_sub(window)..=i];
                let (mean, var) = two_pass(w);
                assert!((m.mean() - mean).abs() <= 1e-12 * (1.0 + mean.abs()), "w={window} i={i}");
                if w.len() >= 2 {
                    assert!((m.variance() - var).abs() <= 1e-10 * (1.0 + var), "w={window} i={i}");
                } else {
                    assert!(m.variance().is_nan());
                }
            }
        }
    }

    #[test]
    fn rolling_min_max_match_a_scan() {
        let mut rng = SplitMix64(11);
        for window in [1usize, 2, 5, 33] {
            let mut hi = RollingMax::new(window);
            let mut lo = RollingMin::new(window);
            let mut xs = Vec::new();
            for i in 0..400 {
                // Few distinct values, so ties are common.
                let x = (rng.next_u64() % 7) as f64;
                xs.push(x);
                hi.push(x);
                lo.push(x);
                let w = &xs[(i + 1usize).saturating_sub(window)..];
                assert_eq!(hi.max(), w.iter().cloned().fold(f64::MIN, f64::max));
                assert_eq!(lo.min(), w.iter().cloned().fold(f64::MAX, f64::min));
            }
        }
    }

    #[test]
    fn ewma_halves_weight_at_the_half_life() {
        let mut e = Ewma::with_half_life(10.0);
        e.push(1.0);
        for _ in 0..10 {
            e.push(0.0);
        }
        assert!((e.value() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn decaying_sum_is_an_intensity() {
        let tau = 1e9;
        let mut s = DecayingSum::new(tau);
        // 100 events per second for 20 s: intensity -> 100 / s.
        for i in 0..2000i64 {
            s.decay_to(i * 10_000_000);
            s.add(1.0);
        }
        let rate = s.value() / (tau / 1e9);
        assert!((rate - 100.0).abs() < 1.0, "{rate}");
    }

    #[test]
    fn batch_functions_follow_pandas_conventions() {
        let x = [1.0, 2.0, 4.0, 8.0];
        let mut out = [0.0; 4];
        rolling_mean(&x, 2, &mut out);
        assert!(out[0].is_nan());
        assert_eq!(&out[1..], &[1.5, 3.0, 6.0]);
        rolling_std(&x, 3, &mut out);
        assert!(out[1].is_nan());
        assert!((out[2] - (7.0f64 / 3.0).sqrt()).abs() < 1e-12);
        ewm_mean(&x, 0.5, &mut out);
        assert_eq!(out, [1.0, 1.5, 2.75, 5.375]);
    }
}
