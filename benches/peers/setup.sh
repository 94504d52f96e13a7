#!/usr/bin/env bash
# Creates benches/peers/.venv with the Python peers (numpy, threadpoolctl, polars, pyarrow, pandas, scikit-learn, onnx,
# onnxruntime, torch: ~6 GB, torch brings CUDA libraries). Benchmarks only: nothing in Tachyon depends on these.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q numpy threadpoolctl polars pyarrow pandas scikit-learn onnx onnxruntime torch
echo "ready: $(pwd)/.venv/bin/python"
