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

/// Minimum and maximum of the last `window` values, by the van Herk / Gil-Werman block method.
///
/// The stream is cut into blocks of `window` values. The window ending at offset `r` of the current block is the
/// previous block from offset `r + 1` on plus the current block up to `r`, so its maximum is the larger of the
/// previous block's suffix maximum at `r + 1` and the current block's running maximum (the minimum likewise).
/// The suffix extremes are computed once per block by one backward pass over its `window` values (O(1)
/// amortised), so an update is a few loads, stores and comparisons with no branch that depends on the values
/// (a monotone deque's pops do, and on market data they mispredict). NaN is ignored (it never becomes an
/// extreme). Allocated once.
#[derive(Clone, Debug)]
pub struct RollingExtremes {
    /// Values of the current block, `offset` of them so far.
    block: Box<[f64]>,
    /// `suffix_max[j]`: maximum of the previous block from offset j on; `suffix_max[window]` is -inf.
    suffix_max: Box<[f64]>,
    /// `suffix_min[j]`: minimum of the previous block from offset j on; `suffix_min[window]` is +inf.
    suffix_min: Box<[f64]>,
    prefix_max: f64,
    prefix_min: f64,
    offset: usize,
    max: f64,
    min: f64,
}

/// The larger of `v` and `acc`, `acc` when `v` is NaN (one `maxsd`).
#[inline(always)]
fn larger(v: f64, acc: f64) -> f64 {
    if v > acc {
        v
    } else {
        acc
    }
}

/// The smaller of `v` and `acc`, `acc` when `v` is NaN (one `minsd`).
#[inline(always)]
fn smaller(v: f64, acc: f64) -> f64 {
    if v < acc {
        v
    } else {
        acc
    }
}

impl RollingExtremes {
    /// Extremes over the last `window` (>= 1) values.
    pub fn new(window: usize) -> Self {
        assert!(window >= 1, "a rolling window needs at least one value");
        RollingExtremes {
            block: vec![0.0; window].into_boxed_slice(),
            suffix_max: vec![f64::NEG_INFINITY; window + 1].into_boxed_slice(),
            suffix_min: vec![f64::INFINITY; window + 1].into_boxed_slice(),
            prefix_max: f64::NEG_INFINITY,
            prefix_min: f64::INFINITY,
            offset: 0,
            max: f64::NEG_INFINITY,
            min: f64::INFINITY,
        }
    }

    /// Adds `x` (and drops the value that leaves the window); returns the window's `(max, min)`.
    ///
    /// Use the returned pair rather than [`Self::max`] and [`Self::min`] right after a push: reading the two
    /// just-stored fields back as one 16-byte load defeats store-to-load forwarding (a stall of ~10 cycles).
    #[inline]
    pub fn push(&mut self, x: f64) -> (f64, f64) {
        let r = self.offset;
        self.block[r] = x;
        self.prefix_max = larger(x, self.prefix_max);
        self.prefix_min = smaller(x, self.prefix_min);
        self.max = larger(self.suffix_max[r + 1], self.prefix_max);
        self.min = smaller(self.suffix_min[r + 1], self.prefix_min);
        self.offset = r + 1;
        if self.offset == self.block.len() {
            self.close_block();
        }
        (self.max, self.min)
    }

    /// The block is full: it becomes the previous block (its suffix extremes), and a new block starts.
    fn close_block(&mut self) {
        let (mut hi, mut lo) = (f64::NEG_INFINITY, f64::INFINITY);
        for j in (0..self.block.len()).rev() {
            hi = larger(self.block[j], hi);
            lo = smaller(self.block[j], lo);
            self.suffix_max[j] = hi;
            self.suffix_min[j] = lo;
        }
        self.prefix_max = f64::NEG_INFINITY;
        self.prefix_min = f64::INFINITY;
        self.offset = 0;
    }

    /// The maximum of the window (-inf when it holds no number).
    #[inline]
    pub fn max(&self) -> f64 {
        self.max
    }

    /// The minimum of the window (+inf when it holds no number).
    #[inline]
    pub fn min(&self) -> f64 {
        self.min
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
    fn rolling_extremes_match_a_scan() {
        let mut rng = SplitMix64(11);
        for window in [1usize, 2, 3, 5, 33, 100] {
            let mut range = RollingExtremes::new(window);
            let mut xs = Vec::new();
            for i in 0..1000 {
                // Few distinct values, so ties are common; a NaN now and then, and a run of them (a window of
                // nothing but NaN) early on.
                let x = if (20..20 + window + 3).contains(&i) || rng.next_u64().is_multiple_of(50) {
                    f64::NAN
                } else {
                    (rng.next_u64() % 7) as f64 - 3.0
                };
                xs.push(x);
                let pushed = range.push(x);
                let w = &xs[(i + 1usize).saturating_sub(window)..];
                let numbers = w.iter().copied().filter(|v| !v.is_nan());
                let hi = numbers.clone().fold(f64::NEG_INFINITY, f64::max);
                let lo = numbers.fold(f64::INFINITY, f64::min);
                assert_eq!(pushed, (hi, lo), "window {window}, update {i}");
                assert_eq!((range.max(), range.min()), (hi, lo), "window {window}, update {i}");
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
