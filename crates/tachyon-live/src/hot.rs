//! The hot path: one update in, the book changed, the features updated, the live model's prediction out. It owns
//! the book and the feature engine and reads the live model through its [`ModelSlot`]; after warm-up it allocates
//! nothing (a model swap allocates the new model's scratch once).

use std::sync::Arc;

use tachyon_features::{FeatureEngine, FEATURE_NAMES, NUM_FEATURES};
use tachyon_infer::Scratch;
use tachyon_market::{Book, Units, Update};
use tachyon_model::ranges::DRIFT_SHARE;
use tachyon_simd::CycleClock;

use crate::model::{Deployed, ModelSlot};
use crate::signal::{Signal, MAX_OUTPUTS};

/// Clock readings (ticks) at the stage boundaries of the last update that produced a signal: after the book,
/// after the features, after the prediction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTicks {
    /// The update was taken.
    pub start: u64,
    /// The book was changed.
    pub book: u64,
    /// The features were updated.
    pub features: u64,
    /// The prediction was made.
    pub predict: u64,
    /// The shadow model's prediction was made (equal to `predict` without a shadow).
    pub shadow: u64,
}

/// Counts of the hot path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HotCounts {
    /// Updates applied to the book.
    pub updates: u64,
    /// Ticks seen (updates that complete one).
    pub ticks: u64,
    /// Ticks before the first two-sided book: no features yet, no signal.
    pub warmup: u64,
    /// Signals made.
    pub signals: u64,
    /// Times the live model changed under the hot path.
    pub swaps: u64,
    /// Signals of int8 models computed by their f32 network (out of the calibrated range).
    pub fallback_rows: u64,
}

/// Book, features and the live model.
pub struct HotPath {
    book: Book,
    engine: FeatureEngine,
    slot: ModelSlot,
    model: Arc<Deployed>,
    scratch: Scratch,
    out: [f32; MAX_OUTPUTS],
    shadow: Option<Shadow>,
    counts: HotCounts,
    /// Per input, ticks on which it was far outside the live model's training range.
    outside: [u64; NUM_FEATURES],
    /// Ticks checked against a live model's training ranges.
    checked: u64,
}

/// A candidate run beside the live model on the same features, after each signal is stamped.
struct Shadow {
    model: Arc<Deployed>,
    scratch: Scratch,
    out: [f32; MAX_OUTPUTS],
}

impl HotPath {
    /// A hot path for a feed whose prices and sizes are in `units`, predicting with the model live in
    /// `slot`.
    pub fn new(slot: ModelSlot, units: Units) -> HotPath {
        let model = slot.current();
        let scratch = model.model.scratch();
        HotPath {
            book: Book::with_capacity(64),
            engine: FeatureEngine::new(units),
            slot,
            model,
            scratch,
            out: [0.0; MAX_OUTPUTS],
            shadow: None,
            counts: HotCounts::default(),
            outside: [0; NUM_FEATURES],
            checked: 0,
        }
    }

    /// The same, with `shadow` predicting beside the live model on every tick (its first output goes into each
    /// signal's `shadow`).
    pub fn with_shadow(mut self, shadow: Arc<Deployed>) -> HotPath {
        let scratch = shadow.model.scratch();
        self.shadow = Some(Shadow { model: shadow, scratch, out: [0.0; MAX_OUTPUTS] });
        self
    }

    /// Counts so far.
    pub fn counts(&self) -> HotCounts {
        HotCounts { fallback_rows: self.counts.fallback_rows + self.scratch.fallback_rows(), ..self.counts }
    }

    /// The inputs far outside the live model's training range on at least [`DRIFT_SHARE`] of the ticks checked
    /// (ticks served by a model file that records its ranges): each input's name and share of those ticks.
    pub fn drifted(&self) -> Vec<(&'static str, f64)> {
        let checked = self.checked.max(1) as f64;
        (0..NUM_FEATURES)
            .map(|j| (FEATURE_NAMES[j], self.outside[j] as f64 / checked))
            .filter(|&(_, share)| self.checked > 0 && share >= DRIFT_SHARE)
            .collect()
    }

    /// The book.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Applies `update` (sequence number `seq`, received at `receive` ticks); returns the signal if it completed a
    /// tick with features ready, with the stage boundaries in `stages` when `time_stages` is set.
    #[inline]
    pub fn on_update(
        &mut self,
        update: &Update,
        seq: u64,
        receive: u64,
        clock: &CycleClock,
        time_stages: bool,
        stages: &mut StageTicks,
    ) -> Option<Signal> {
        if time_stages {
            stages.start = clock.now();
        }
        self.book.apply_change(&update.change);
        self.counts.updates += 1;
        let tick = update.tick?;
        self.counts.ticks += 1;
        if time_stages {
            stages.book = clock.now();
        }
        self.engine.update(&tick, self.book.view());
        if !self.engine.ready() {
            self.counts.warmup += 1;
            return None;
        }
        if time_stages {
            stages.features = clock.now();
        }
        // The model live now: a pointer comparison per tick, a swap (new scratch) only when it changed.
        if !self.slot.is_current(&self.model) {
            self.model = self.slot.current();
            self.counts.fallback_rows += self.scratch.fallback_rows();
            self.scratch = self.model.model.scratch();
            self.counts.swaps += 1;
        }
        let outputs = self.model.model.outputs().min(MAX_OUTPUTS);
        self.model
            .model
            .predict(self.engine.features(), &mut self.scratch, &mut self.out[..outputs])
            .expect("the slot admits only models with the engine's feature count and at most MAX_OUTPUTS outputs");
        let emit = clock.now();
        if time_stages {
            stages.predict = emit;
            stages.shadow = emit;
        }
        let shadow = self.shadow.as_mut().map(|s| {
            let outputs = s.model.model.outputs().min(MAX_OUTPUTS);
            s.model
                .model
                .predict(self.engine.features(), &mut s.scratch, &mut s.out[..outputs])
                .expect("a shadow is checked like the live model");
            s.out[0]
        });
        if time_stages && shadow.is_some() {
            stages.shadow = clock.now();
        }
        if let Some(bounds) = &self.model.bounds {
            // Branch-free over every input (excluded ones have infinite bounds): a few vector compares per tick.
            let features = self.engine.features().iter().zip(bounds.low.iter().zip(&bounds.high));
            for (count, (&v, (&low, &high))) in self.outside.iter_mut().zip(features) {
                *count += u64::from(!(v >= low && v <= high));
            }
            self.checked += 1;
        }
        self.counts.signals += 1;
        Some(Signal {
            seq,
            event_id: tick.event_id,
            exchange_time_ns: tick.time_ns,
            receive_ticks: receive,
            emit_ticks: emit,
            model_id: self.model.id,
            outputs: outputs as u8,
            prediction: self.out,
            shadow,
        })
    }
}
