//! Shared by the pipeline tests: a sink that keeps every signal.

use std::sync::{Arc, Mutex};

use tachyon_live::{Signal, SignalSink, TimeBase};

/// Keeps every signal (clones share the list).
#[derive(Clone, Default)]
pub struct Keep(pub Arc<Mutex<Vec<Signal>>>);

impl SignalSink for Keep {
    fn write(&mut self, signal: &Signal, _: &TimeBase) -> std::io::Result<()> {
        self.0.lock().unwrap().push(*signal);
        Ok(())
    }
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        Ok(())
    }
}
