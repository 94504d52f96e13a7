//! `tachyon export`: a network's weights as JSON, with probe rows and our predictors' outputs on them, so that
//! peers (ONNX Runtime, PyTorch: `benches/peers/infer_peers.py`) run identical weights and compare their outputs
//! with ours number by number.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use tachyon_infer::{Activation, CompiledModel, DenseNetwork, ModelFile};

use tachyon_bench::infer::{standard_network, synthetic_rows};

/// Options of `tachyon export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Model file to export (default: the standard 32-64-64-1 ReLU network of `tachyon bench infer`, seeded).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Where to write the JSON.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Probe rows (synthetic, drawn from the model's standardisation) to include with our outputs.
    #[arg(long, default_value_t = 256)]
    pub probes: usize,
}

/// Writes the export.
pub fn run(args: &ExportArgs) -> Result<()> {
    let net = match &args.model {
        Some(path) => {
            let file = ModelFile::load(path, &tachyon_train::FEATURES)?;
            DenseNetwork::from_model_file(&file).with_context(|| path.display().to_string())?
        }
        None => standard_network(),
    };
    let probes = args.probes.max(2);
    let rows = synthetic_rows(&net, probes, 99);
    let backend = tachyon_simd::Backend::active();
    let f32_model = CompiledModel::compile(&net, &backend)?;
    let mut f32_out = vec![0.0f32; probes * net.outputs()];
    f32_model.predict_batch(&rows, &mut f32_model.scratch(), &mut f32_out)?;
    let calibration = synthetic_rows(&net, 2048, 7);
    let int8_out = match CompiledModel::quantize(&net, &calibration, &rows, &backend) {
        Ok((q, _)) => {
            let mut out = vec![0.0f32; probes * net.outputs()];
            q.predict_batch(&rows, &mut q.scratch(), &mut out)?;
            Some(out)
        }
        Err(e) => {
            eprintln!("int8 outputs not exported: {e}");
            None
        }
    };
    let chunk = |v: &[f32], width: usize| v.chunks(width).map(|r| r.to_vec()).collect::<Vec<_>>();
    let doc = json!({
        "format": "tachyon.dense.v1",
        "inputs": net.inputs,
        "activation": match net.activation { Activation::Relu => "relu", Activation::Tanh => "tanh" },
        "mean": net.mean,
        "std": net.std,
        "layers": net.layers.iter().map(|l| json!({
            "outputs": l.outputs,
            "inputs": l.inputs,
            "weights": l.weights.chunks(l.inputs).collect::<Vec<_>>(),
            "bias": l.bias,
        })).collect::<Vec<_>>(),
        "probe": {
            "rows": chunk(&rows, net.inputs),
            "f32": chunk(&f32_out, net.outputs()),
            "int8": int8_out.map(|o| chunk(&o, net.outputs())),
            "isa": backend.isa().name(),
        },
    });
    tachyon_io::write_atomic(&args.out, &serde_json::to_vec(&doc)?).with_context(|| args.out.display().to_string())?;
    println!(
        "{}: {} layers, {} inputs, {} probe rows with our f32{} outputs",
        args.out.display(),
        net.layers.len(),
        net.inputs,
        probes,
        if doc["probe"]["int8"].is_null() { "" } else { " and int8" }
    );
    Ok(())
}
