"""Ridge regression on 1,000,000 x 32 f64 with numpy (OpenBLAS: normal equations X^T X + solve) and, when
installed, scikit-learn's Ridge (solver 'cholesky'): the same shapes and data generator as
`tachyon bench train` (ridge_1m_x32). PyTorch's MLP epoch is measured when torch is importable.

Run: bash benches/peers/setup.sh && env -u OPENBLAS_CORETYPE benches/peers/.venv/bin/python benches/peers/train_peers.py
"""
import statistics
import time

import numpy as np

N, D, REPEATS = 1_000_000, 32, 5


def lcg_matrix(n: int, d: int) -> np.ndarray:
    # Same LCG as the Rust bench, mapped to [-1, 1); generated in numpy blocks (generation is not timed).
    a, c = np.uint64(6364136223846793005), np.uint64(1442695040888963407)
    total = n * d
    out = np.empty(total, dtype=np.uint64)
    state = np.uint64(7)
    block = 1 << 16
    mult = np.empty(block, dtype=np.uint64)
    add = np.empty(block, dtype=np.uint64)
    m, s = np.uint64(1), np.uint64(0)
    with np.errstate(over="ignore"):
        for i in range(block):
            m = m * a
            s = s * a + c
            mult[i], add[i] = m, s
        for start in range(0, total, block):
            k = min(block, total - start)
            out[start : start + k] = state * mult[:k] + add[:k]
            state = out[start + k - 1]
    return ((out >> np.uint64(11)).astype(np.float64) / float(1 << 53) * 2.0 - 1.0).reshape(n, d)


def median_ms(f, repeats: int = REPEATS) -> float:
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    x = lcg_matrix(N, D)
    rng = np.random.default_rng(0)
    y = x[:, 0] * 0.5 - x[:, 3] * 0.25 + 0.1 * rng.uniform(-1, 1, N)
    lam = 1e-3

    def numpy_ridge():
        xm = x  # already centred in expectation; Tachyon standardises beforehand, outside the timed fit
        g = xm.T @ xm
        g[np.diag_indices(D)] += lam * N
        return np.linalg.solve(g, xm.T @ (y - y.mean()))

    print(f"numpy {np.__version__}: ridge 1M x 32 f64 (X^T X + solve) median {median_ms(numpy_ridge):.1f} ms")
    try:
        from sklearn.linear_model import Ridge

        model = Ridge(alpha=lam * N, solver="cholesky")
        print(f"scikit-learn Ridge(cholesky) median {median_ms(lambda: model.fit(x, y)):.1f} ms")
    except ImportError:
        print("scikit-learn not installed (pip install scikit-learn)")
    try:
        import torch

        xt = torch.tensor(x[:, :32], dtype=torch.float32)
        yt = torch.tensor(y, dtype=torch.float32).unsqueeze(1)
        # PyTorch's configurations: one and two intra-op threads, plain and fused Adam; its best is the peer.
        for threads in (1, 2):
            for fused in (False, True):
                torch.set_num_threads(threads)
                torch.manual_seed(1)
                net = torch.nn.Sequential(
                    torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
                )
                opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused)

                def epoch():
                    for b in range(0, N, 256):
                        opt.zero_grad()
                        loss = torch.nn.functional.mse_loss(net(xt[b : b + 256]), yt[b : b + 256])
                        loss.backward()
                        opt.step()

                name = f"{threads} thread{'s' if threads > 1 else ''}, {'fused' if fused else 'plain'} Adam"
                print(f"torch {torch.__version__} {name}: MLP epoch median {median_ms(epoch, repeats=3):.0f} ms")
    except ImportError:
        print("torch not installed: MLP epoch not measured")


if __name__ == "__main__":
    main()
