#!/usr/bin/env python3
"""numpy (OpenBLAS) GEMM on the shapes of `tachyon bench gemm`, one JSON object per line in the same schema.

Usage:
    bash benches/peers/setup.sh
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE benches/peers/.venv/bin/python benches/peers/gemm_numpy.py [--quick]

Unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for this command only (some environments set them for old OpenBLAS
builds; they slow a current one). The kernel OpenBLAS picked is printed on stderr (threadpoolctl).
Times: median of repeated calls after warm-up, per call, in ns; threads set with threadpoolctl.
"""
import json
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits


def median_ns(f, min_time=0.2, samples=11):
    f()
    t0 = time.perf_counter()
    calls = 0
    while time.perf_counter() - t0 < 0.05 or calls == 0:
        f()
        calls += 1
    per_call = (time.perf_counter() - t0) / calls
    batch = max(1, int(min_time / samples / per_call))
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(batch):
            f()
        out.append((time.perf_counter() - t) / batch * 1e9)
    out.sort()
    return out[len(out) // 2], out[len(out) // 10], out[(len(out) - 1) * 9 // 10]


def main():
    quick = "--quick" in sys.argv
    info = [(i.get("internal_api"), i.get("version"), i.get("architecture")) for i in threadpool_info()]
    print(f"blas: {info}", file=sys.stderr)
    sizes = [4, 8, 16, 32, 128, 512, 1024] if quick else [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    shapes = [("square", n, n, n) for n in sizes]
    shapes += [("batch256_32x64", 256, 64, 32), ("batch256_64x64", 256, 64, 64), ("batch256_64x1", 256, 1, 64)]
    for dtype in (np.float32, np.float64):
        for case, m, n, k in shapes:
            rng = np.random.default_rng(0)
            a = rng.random((m, k), dtype=np.float64).astype(dtype) - 0.5
            b = rng.random((k, n), dtype=np.float64).astype(dtype) - 0.5
            c = np.empty((m, n), dtype=dtype)
            for threads in (1, 2):
                with threadpool_limits(threads):
                    med, p10, p90 = median_ns(lambda: np.matmul(a, b, out=c))
                row = {
                    "workload": "gemm", "case": case, "isa": "numpy-openblas", "dtype": {"float32": "f32", "float64": "f64"}[np.dtype(dtype).name],
                    "threads": threads, "size": max(m, n), "median_ns": med, "p10_ns": p10, "p90_ns": p90,
                    "gflops": 2 * m * n * k / med,
                }
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
