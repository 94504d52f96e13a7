//! The live model: a compiled model behind an atomic pointer ([`ModelSlot`]), swapped while the pipeline runs. The
//! hot path compares its model with the slot's once per tick (a pointer load, no lock) and takes the new one at
//! the next tick; every signal names the model that made it.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tachyon_features::{FEATURE_NAMES, NUM_FEATURES, SCHEMA};
use tachyon_infer::{Calibration, CompileError, CompiledModel};
use tachyon_model::{DenseNetwork, FeatureSet, ModelError, ModelFile, TrainingRanges};
use tachyon_simd::Backend;

use crate::signal::MAX_OUTPUTS;

/// The features the live engine serves: model files are checked against them by name and hash.
pub const SERVED: FeatureSet<'static> = FeatureSet { hash: SCHEMA.hash(), names: &FEATURE_NAMES };

/// Why a model cannot go live.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The file could not be read or does not match the served features.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// It could not be compiled for the backend.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// int8 was asked for, and the file records no int8 scales.
    #[error(
        "model {name}: no int8 scales recorded (`tachyon train` records them when int8 passes its accuracy check \
         on the validation rows; it prints why when it does not): serve it with --precision f32"
    )]
    NoInt8 {
        /// The model's name.
        name: String,
    },
    /// Its shape does not fit the pipeline.
    #[error("model {name}: {problem}")]
    Shape {
        /// The model's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
}

/// Which compiled form of a model file serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServedPrecision {
    /// The f32 predictor.
    #[default]
    F32,
    /// The int8 predictor, with the scales the model file records (rows outside their range are computed in f32).
    Int8,
}

/// A compiled model and the id its signals carry.
#[derive(Debug)]
pub struct Deployed {
    /// Id written into each signal (a registry version, or the position on the command line).
    pub id: u32,
    /// Where it came from, for reports.
    pub name: String,
    /// The compiled model.
    pub model: CompiledModel,
    /// Per input, the values beyond which it is far outside the model's training range (for a model file that
    /// records its training ranges).
    pub bounds: Option<Box<InputBounds>>,
}

/// Per input, the lowest and highest value not far outside a model's training range (infinite for the inputs it
/// leaves out): [`TrainingRanges::bounds`] in f32, compared with the features on every tick.
#[derive(Clone, Debug, PartialEq)]
pub struct InputBounds {
    /// Lowest ordinary value per input.
    pub low: [f32; NUM_FEATURES],
    /// Highest ordinary value per input.
    pub high: [f32; NUM_FEATURES],
}

impl InputBounds {
    /// The bounds of `ranges` (recorded for the engine's features).
    pub fn of(ranges: &TrainingRanges) -> InputBounds {
        let mut bounds = InputBounds { low: [0.0; NUM_FEATURES], high: [0.0; NUM_FEATURES] };
        for j in 0..NUM_FEATURES {
            let (low, high) = ranges.bounds(j);
            (bounds.low[j], bounds.high[j]) = (low as f32, high as f32);
        }
        bounds
    }
}

impl Deployed {
    /// Wraps a compiled model, checking that the engine's features fit it.
    pub fn new(id: u32, name: impl Into<String>, model: CompiledModel) -> Result<Deployed, DeployError> {
        let name = name.into();
        let problem = if model.inputs() != NUM_FEATURES {
            Some(format!("takes {} inputs, the engine serves {NUM_FEATURES} features", model.inputs()))
        } else if model.outputs() > MAX_OUTPUTS {
            Some(format!("has {} outputs, signals carry at most {MAX_OUTPUTS}", model.outputs()))
        } else {
            None
        };
        match problem {
            Some(problem) => Err(DeployError::Shape { name, problem }),
            None => Ok(Deployed { id, name, model, bounds: None }),
        }
    }

    /// Loads a model file (checked against the served features by name and hash) and compiles it to `precision`.
    pub fn load(id: u32, path: &Path, backend: &Backend, precision: ServedPrecision) -> Result<Deployed, DeployError> {
        let file = ModelFile::load(path, &SERVED)?;
        let net = DenseNetwork::from_model_file(&file)?;
        let name = path.display().to_string();
        let model = match precision {
            ServedPrecision::F32 => CompiledModel::compile(&net, backend)?,
            ServedPrecision::Int8 => match Calibration::from_model(&file, &net)? {
                Some(scales) => CompiledModel::with_calibration(&net, scales, backend)?,
                None => return Err(DeployError::NoInt8 { name }),
            },
        };
        let mut deployed = Deployed::new(id, name, model)?;
        deployed.bounds = TrainingRanges::from_model(&file).map(|ranges| Box::new(InputBounds::of(&ranges)));
        Ok(deployed)
    }
}

/// The live model, shared by the hot path and whoever swaps it.
#[derive(Clone, Debug)]
pub struct ModelSlot {
    live: Arc<ArcSwap<Deployed>>,
}

impl ModelSlot {
    /// A slot serving `model`.
    pub fn new(model: Deployed) -> ModelSlot {
        ModelSlot { live: Arc::new(ArcSwap::from_pointee(model)) }
    }

    /// The live model.
    pub fn current(&self) -> Arc<Deployed> {
        self.live.load_full()
    }

    /// Whether `model` is the live one.
    #[inline]
    pub fn is_current(&self, model: &Arc<Deployed>) -> bool {
        std::ptr::eq(Arc::as_ptr(&self.live.load()), Arc::as_ptr(model))
    }

    /// Makes `model` live from the hot path's next tick; returns the model it replaces (keep it to roll back).
    pub fn swap(&self, model: Arc<Deployed>) -> Arc<Deployed> {
        self.live.swap(model)
    }
}
