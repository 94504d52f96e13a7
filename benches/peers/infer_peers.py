"""Single-sample inference latency of ONNX Runtime and PyTorch on the network Tachyon serves, with identical
weights, compared with `tachyon bench infer` measured in the same run.

1. `tachyon export` writes the network (standard 32-64-64-1 ReLU with seeded weights, or --model FILE) as JSON,
   with probe rows and Tachyon's f32 and int8 outputs on them.
2. This script builds the same network as an ONNX graph (Sub, Div, Gemm, Relu/Tanh) and as a torch.nn.Sequential,
   checks their outputs against Tachyon's on the probe rows, number by number, and times single-sample calls one
   by one (time.perf_counter_ns around each call; p50 / p99 / p99.9), ONNX Runtime with plain run() and with IO
   binding, one intra-op thread; and a batch of 1024 rows per call.
3. It runs `tachyon bench infer --quick --json` and prints the peers' p50 over Tachyon's.

Run: cargo build --release && bash benches/peers/setup.sh &&
     benches/peers/.venv/bin/python benches/peers/infer_peers.py [--model FILE] [--calls N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TACHYON = os.path.join(ROOT, "target", "release", "tachyon")


def percentiles(ns):
    a = np.sort(np.asarray(ns, dtype=np.float64))
    at = lambda q: float(a[min(len(a) - 1, int(round((len(a) - 1) * q)))])
    return {"p50_ns": at(0.5), "p99_ns": at(0.99), "p999_ns": at(0.999), "calls": len(a)}


def time_calls(call, rows, calls):
    for i in range(min(2000, calls)):  # warm-up
        call(rows[i % len(rows)])
    out = np.empty(calls, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(calls):
        r = rows[i % len(rows)]
        t0 = clock()
        call(r)
        out[i] = clock() - t0
    empty = np.empty(10000, dtype=np.int64)
    for i in range(len(empty)):
        t0 = clock()
        empty[i] = clock() - t0
    overhead = float(np.median(empty))
    return percentiles(np.maximum(out - overhead, 1))


def compare(name, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    typical = float(np.mean(np.abs(want))) or 1.0
    rel = np.abs(got - want) / np.maximum(np.abs(want), typical)
    print(f"  {name}: max |diff| {np.max(np.abs(got - want)):.3e}, max relative {np.max(rel):.3e} over {want.size} outputs")
    return float(np.max(rel))


def onnx_model(net):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.asarray(net["mean"], np.float32).reshape(1, -1), "mean"),
        numpy_helper.from_array(np.asarray(net["std"], np.float32).reshape(1, -1), "std"),
    ]
    nodes = [helper.make_node("Sub", ["x", "mean"], ["centred"]), helper.make_node("Div", ["centred", "std"], ["h0"])]
    act = "Relu" if net["activation"] == "relu" else "Tanh"
    last = len(net["layers"]) - 1
    for l, layer in enumerate(net["layers"]):
        inits.append(numpy_helper.from_array(np.asarray(layer["weights"], np.float32), f"w{l}"))
        inits.append(numpy_helper.from_array(np.asarray(layer["bias"], np.float32), f"b{l}"))
        out = "y" if l == last else f"z{l + 1}"
        nodes.append(helper.make_node("Gemm", [f"h{l}", f"w{l}", f"b{l}"], [out], transB=1))
        if l != last:
            nodes.append(helper.make_node(act, [out], [f"h{l + 1}"]))
    graph = helper.make_graph(
        nodes,
        "tachyon_dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", net["inputs"]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", net["layers"][-1]["outputs"]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="Tachyon model file (default: the standard benchmark network)")
    ap.add_argument("--calls", type=int, default=200_000)
    args = ap.parse_args()
    if not os.path.exists(TACHYON):
        sys.exit(f"{TACHYON} not found: run `cargo build --release` first")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.json")
        cmd = [TACHYON, "export", "--out", path] + (["--model", args.model] if args.model else [])
        subprocess.run(cmd, check=True)
        with open(path) as f:
            net = json.load(f)
    probe = np.asarray(net["probe"]["rows"], np.float32)
    ours_f32 = np.asarray(net["probe"]["f32"], np.float32)
    ours_int8 = net["probe"]["int8"]
    rows = [probe[i : i + 1].copy() for i in range(len(probe))]
    batch = np.ascontiguousarray(np.resize(probe, (1024, probe.shape[1])))
    print(f"network: {net['inputs']} -> {' -> '.join(str(l['outputs']) for l in net['layers'])}, {net['activation']}")

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_model(net), opts, providers=["CPUExecutionProvider"])
    print(f"ONNX Runtime {ort.__version__}: outputs against Tachyon's on {len(probe)} probe rows")
    ort_out = sess.run(None, {"x": probe})[0]
    compare("tachyon f32 vs onnxruntime", ours_f32, ort_out)
    if ours_int8 is not None:
        compare("tachyon int8 vs onnxruntime (quantisation error)", ours_int8, ort_out)
    results["onnxruntime run()"] = time_calls(lambda r: sess.run(None, {"x": r}), rows, args.calls)
    binding = sess.io_binding()
    x_value = ort.OrtValue.ortvalue_from_numpy(rows[0])
    y_value = ort.OrtValue.ortvalue_from_shape_and_type([1, net["layers"][-1]["outputs"]], np.float32)
    binding.bind_ortvalue_input("x", x_value)
    binding.bind_ortvalue_output("y", y_value)
    values = [ort.OrtValue.ortvalue_from_numpy(r) for r in rows]

    def bound(i):
        binding.bind_ortvalue_input("x", values[i])
        sess.run_with_iobinding(binding)

    results["onnxruntime io binding"] = time_calls(bound, list(range(len(values))), args.calls)
    t = []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        sess.run(None, {"x": batch})
        t.append(time.perf_counter_ns() - t0)
    results["onnxruntime batch1024 (per row)"] = {"p50_ns": float(np.median(t)) / 1024}

    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch not installed: skipped")
    if torch is not None:
        torch.set_num_threads(1)
        layers = []
        for l, layer in enumerate(net["layers"]):
            lin = torch.nn.Linear(layer["inputs"], layer["outputs"])
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(layer["weights"], dtype=torch.float32))
                lin.bias.copy_(torch.tensor(layer["bias"], dtype=torch.float32))
            layers.append(lin)
            if l != len(net["layers"]) - 1:
                layers.append(torch.nn.ReLU() if net["activation"] == "relu" else torch.nn.Tanh())
        model = torch.nn.Sequential(*layers).eval()
        mean = torch.tensor(net["mean"], dtype=torch.float32)
        std = torch.tensor(net["std"], dtype=torch.float32)
        print(f"PyTorch {torch.__version__} (1 thread, inference_mode): outputs against Tachyon's")
        with torch.inference_mode():
            torch_out = model((torch.from_numpy(probe) - mean) / std).numpy()
            compare("tachyon f32 vs torch", ours_f32, torch_out)
            trows = [torch.from_numpy(r) for r in rows]
            results["pytorch"] = time_calls(lambda r: model((r - mean) / std), trows, min(args.calls, 50_000))

    bench = subprocess.run([TACHYON, "bench", "infer", "--quick", "--json"] + (["--model", args.model] if args.model else []),
                           check=True, capture_output=True, text=True).stdout
    ours = {}
    for line in bench.splitlines():
        row = json.loads(line)
        if row["workload"] == "infer" and row["case"] == "single_warm":
            ours[row["dtype"]] = row
        if row["workload"] == "infer" and row["case"] == "batch1024_row":
            ours[f"batch {row['dtype']} {row['threads']}t"] = row
    print()
    print(f"{'single-sample, warm':<34} {'p50 ns':>9} {'p99 ns':>9} {'p99.9 ns':>9}  {'/ tachyon f32':>13} {'/ tachyon int8':>14}")
    for name, r in list(results.items()) + [(f"tachyon {k}", v) for k, v in ours.items() if not k.startswith("batch")]:
        if "p99_ns" not in r:
            continue
        f, q = ours.get("f32", {}).get("p50_ns"), ours.get("int8", {}).get("p50_ns")
        ratio = lambda base: f"{r['p50_ns'] / base:13.1f}" if base else f"{'-':>13}"
        print(f"{name:<34} {r['p50_ns']:9.0f} {r['p99_ns']:9.0f} {r['p999_ns']:9.0f}  {ratio(f)} {ratio(q):>14}")
    print()
    print("batch of 1024 rows, ns per row:")
    print(f"  onnxruntime (1 thread)           {results['onnxruntime batch1024 (per row)']['p50_ns']:.1f}")
    for k, v in ours.items():
        if k.startswith("batch"):
            print(f"  tachyon {k[6:]:<24} {v['median_ns']:.1f}")


if __name__ == "__main__":
    main()
