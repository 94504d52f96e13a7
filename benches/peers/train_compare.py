"""External check of `tachyon train` on the same exported dataset: scikit-learn's Ridge and LogisticRegression and
a PyTorch MLP, fitted on the rows, split and standardisation Tachyon used, compared coefficient by coefficient
(ridge, logistic) and metric by metric (MLP), with the time per epoch of both MLPs.

1. `tachyon features INPUT --out data.parquet` exports the feature matrix and labels;
2. `tachyon train` fits ridge (closed form), logistic regression (Newton) and the standard MLP, writing model files
   and JSON logs (with the fit's own time, feature extraction excluded);
3. this script reads the model files (format: crates/tachyon-model/src/file.rs), rebuilds the split (first 60% of
   the file for training, 100-row embargo, 20% validation, 100-row embargo, the rest test; rows without a label
   dropped), standardises with the model's own mean / std, and fits the peers on those rows.

Run (after `cargo build --release`):
  bash benches/peers/setup.sh
  env -u OPENBLAS_CORETYPE benches/peers/.venv/bin/python benches/peers/train_compare.py [--input FILE]
"""
import argparse
import json
import math
import os
import struct
import subprocess
import tempfile
import time
import zlib

import numpy as np
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_model(path):
    """The named arrays of a Tachyon model file, after checking magic, length and CRC."""
    data = open(path, "rb").read()
    assert data[:8] == b"TCYMODL\0", f"{path}: not a Tachyon model"
    assert zlib.crc32(data[:-4]) == struct.unpack("<I", data[-4:])[0], f"{path}: checksum mismatch"
    version, features = struct.unpack("<I", data[8:12])[0], struct.unpack("<I", data[24:28])[0]
    count, payload = struct.unpack("<IQ", data[28:40])
    assert 64 + payload + 4 == len(data), f"{path}: length"
    arrays, at = {}, 64
    if version >= 2:
        # Feature names (u16 length + UTF-8 each), then text entries (u16 key length, key, u32 value length, value).
        for _ in range(features):
            (name_len,) = struct.unpack("<H", data[at : at + 2])
            at += 2 + name_len
        (entries,) = struct.unpack("<I", data[40:44])
        for _ in range(entries):
            (key_len,) = struct.unpack("<H", data[at : at + 2])
            at += 2 + key_len
            (value_len,) = struct.unpack("<I", data[at : at + 4])
            at += 4 + value_len
    for _ in range(count):
        (name_len,) = struct.unpack("<H", data[at : at + 2])
        name = data[at + 2 : at + 2 + name_len].decode()
        at += 2 + name_len
        (n,) = struct.unpack("<Q", data[at : at + 8])
        arrays[name] = np.frombuffer(data, dtype="<f8", count=n, offset=at + 8).copy()
        at += 8 + 8 * n
    return arrays


def split_rows(n, train=0.6, validation=0.2, embargo=100):
    """Row ranges of `Split::new` for one file."""
    train_end = int(n * train)
    val_start = min(train_end + embargo, n)
    val_end = min(val_start + int(n * validation), n)
    test_start = min(val_end + embargo, n)
    return range(0, train_end), range(val_start, val_end), range(test_start, n)


def ic(pred, y):
    return float(np.corrcoef(pred, y)[0, 1])


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", default=os.path.join(ROOT, "data/lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv"))
    parser.add_argument("--tachyon", default=os.path.join(ROOT, "target/release/tachyon"))
    parser.add_argument("--lambda", dest="lam", type=float, default=1e-3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="tachyon-compare-")
    parquet = os.path.join(work, "data.parquet")
    run([args.tachyon, "features", args.input, "--out", parquet])
    fits = {
        "ridge": ["--model", "ridge", "--lambda", str(args.lam)],
        "logistic": ["--model", "logistic", "--lambda", str(args.lam)],
        "mlp": ["--model", "mlp"],
    }
    models, logs = {}, {}
    for name, extra in fits.items():
        path, log = os.path.join(work, f"{name}.tcy"), os.path.join(work, f"{name}.json")
        run([args.tachyon, "train", args.input, "--out", path, "--log", log] + extra)
        models[name], logs[name] = read_model(path), json.load(open(log))

    table = pq.read_table(parquet)
    features = [c for c in table.column_names if c not in ("source", "time_ns", "event_id", "label_ret_bps", "label_class")]
    x = np.stack([table[c].to_numpy().astype(np.float32) for c in features], axis=1)
    y = table["label_ret_bps"].to_numpy().astype(np.float32)
    c = table["label_class"].to_numpy().astype(np.int64)
    parts = []
    for rows in split_rows(len(y)):
        idx = np.array([i for i in rows if math.isfinite(y[i])], dtype=np.int64)
        parts.append((x[idx].astype(np.float64), y[idx].astype(np.float64), c[idx]))
    (xt, yt, ct), (xv, yv, cv), (xs, ys, cs) = parts
    print(f"{args.input}: {len(yt)} train / {len(yv)} validation / {len(ys)} test rows, {x.shape[1]} features")
    assert len(yt) == logs["ridge"]["train"]["rows"], "split differs from Tachyon's"

    # Ridge: scikit-learn's Cholesky solve of the same penalised problem (alpha = lambda n).
    from sklearn.linear_model import LogisticRegression, Ridge

    m = models["ridge"]
    zt, zs = (xt - m["mean"]) / m["std"], (xs - m["mean"]) / m["std"]
    t = time.perf_counter()
    ridge = Ridge(alpha=args.lam * len(yt), solver="cholesky").fit(zt, yt)
    sk_ms = (time.perf_counter() - t) * 1e3
    scale = np.abs(ridge.coef_).max()
    print("ridge (closed form):")
    print(f"  largest coefficient difference vs scikit-learn {np.abs(ridge.coef_ - m['weights']).max() / scale:.2e} "
          f"(relative to the largest coefficient), intercept {abs(ridge.intercept_ - m['bias'][0]):.2e}")
    print(f"  test IC: tachyon {logs['ridge']['test']['ic']:.4f}, scikit-learn {ic(ridge.predict(zs), ys):.4f}; "
          f"fit: tachyon {logs['ridge']['fit_seconds'] * 1e3:.0f} ms (with metrics), scikit-learn {sk_ms:.0f} ms")

    # Logistic: scikit-learn's lbfgs on sum CE + 0.5 |W|^2 / C, the same optimum as ours with C = 1 / (lambda n).
    m = models["logistic"]
    zt, zs = (xt - m["mean"]) / m["std"], (xs - m["mean"]) / m["std"]
    t = time.perf_counter()
    logistic = LogisticRegression(C=1.0 / (args.lam * len(yt)), max_iter=5000, tol=1e-10).fit(zt, ct)
    sk_ms = (time.perf_counter() - t) * 1e3
    ours_w = m["w0"].reshape(3, -1)
    scale = np.abs(logistic.coef_).max()
    # Softmax intercepts are defined up to a common shift: compare them centred.
    centred = lambda b: b - b.mean()
    print("logistic regression (Tachyon: Newton; scikit-learn: lbfgs, tol 1e-10):")
    print(f"  largest coefficient difference vs scikit-learn lbfgs {np.abs(logistic.coef_ - ours_w).max() / scale:.2e} "
          f"(relative to the largest coefficient), intercepts {np.abs(centred(logistic.intercept_) - centred(m['b0'])).max():.2e}")
    p = logistic.predict_proba(zs)
    sk_ll = float(-np.log(np.clip(p[np.arange(len(cs)), cs], 1e-15, 1)).mean())
    print(f"  test log-loss: tachyon {logs['logistic']['test']['log_loss']:.4f}, scikit-learn {sk_ll:.4f}; "
          f"test accuracy: tachyon {logs['logistic']['test']['accuracy']:.4f}, scikit-learn "
          f"{float((p.argmax(1) == cs).mean()):.4f}")
    print(f"  fit: tachyon {logs['logistic']['fit_seconds'] * 1e3:.0f} ms (with metrics), scikit-learn {sk_ms:.0f} ms")

    # MLP: the same architecture and schedule in PyTorch (own initialisation, so metrics, not weights, compare).
    try:
        import torch
    except ImportError:
        print("torch not installed: MLP comparison skipped")
        return
    torch.manual_seed(1)
    torch.set_num_threads(os.cpu_count() or 1)
    m, log = models["mlp"], logs["mlp"]
    to = lambda a: torch.tensor((a - m["mean"]) / m["std"], dtype=torch.float32)
    zt, zv, zs = to(xt), to(xv), to(xs)
    tt, tv = torch.tensor(yt, dtype=torch.float32)[:, None], torch.tensor(yv, dtype=torch.float32)[:, None]
    net = torch.nn.Sequential(torch.nn.Linear(44, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 1))
    epochs, batch = 10, 256
    steps = len(yt) // batch
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps - 1)
    best, best_loss, waited, times = None, float("inf"), 0, []
    for epoch in range(epochs):
        order = torch.randperm(steps)
        t = time.perf_counter()
        for b in order.tolist():
            xb, yb = zt[b * batch : (b + 1) * batch], tt[b * batch : (b + 1) * batch]
            opt.zero_grad()
            loss = 0.5 * ((net(xb) - yb) ** 2).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
        times.append(time.perf_counter() - t)
        with torch.no_grad():
            val = 0.5 * float(((net(zv) - tv) ** 2).mean())
        if val < best_loss:
            best, best_loss, waited = {k: v.clone() for k, v in net.state_dict().items()}, val, 0
        else:
            waited += 1
            if waited >= 3:
                break
    net.load_state_dict(best)
    with torch.no_grad():
        pred = net(zs).numpy()[:, 0]
    ours_epoch = np.median([e["seconds"] for e in log["epochs"]])
    print(f"MLP 44-64-64-1 ReLU, Adam 1e-3, cosine, batch 256, clip 1, early stopping (patience 3):")
    print(f"  test IC: tachyon {log['test']['ic']:.4f}, PyTorch {ic(pred, ys):.4f}; "
          f"test MSE: tachyon {log['test']['mse']:.4f}, PyTorch {float(((pred - ys) ** 2).mean()):.4f}")
    print(f"  median epoch ({len(yt)} rows): tachyon {ours_epoch * 1e3:.1f} ms, PyTorch "
          f"{np.median(times) * 1e3:.1f} ms ({torch.get_num_threads()} threads) -> {np.median(times) / ours_epoch:.1f}x")


if __name__ == "__main__":
    main()
