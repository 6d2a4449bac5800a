//! What a task will cost, to order and balance work and to say how long is left: the model's
//! multiply-adds per training example (from its parameter count, times the steps of a
//! sequence) times the examples it will see, in arbitrary units; seconds come from the rate of
//! the runs already finished.

use std::path::Path;

use super::{final_summary, run_dir, Task};
use crate::train::budget::{dims, model_size};

/// Work units of a task: ~ 6 x parameters x examples seen (forward and backward), for every
/// step of a sequence; per optimizer step, the update (~20 per parameter) and a fixed part;
/// and a fixed cost per process (start-up, data) and per probe.
pub fn task_cost(t: &Task) -> f64 {
    let d = dims(&t.config);
    let (params, _) = model_size(&t.config.model, &d);
    let train_examples = match &t.config.data {
        crate::config::DataConfig::Mnist { train_subset, .. }
        | crate::config::DataConfig::FashionMnist { train_subset, .. }
        | crate::config::DataConfig::SeqMnist { train_subset, .. } => train_subset.unwrap_or(60_000),
        _ => d.examples,
    } as f64;
    let seen = if t.train { train_examples * t.config.train.epochs as f64 } else { 0.0 };
    let steps = if t.train {
        (train_examples / t.config.train.batch_size.max(1) as f64).ceil() * t.config.train.epochs as f64
    } else {
        0.0
    };
    let per_probe = 64.0 * params * d.time as f64 * 50.0;
    6.0 * params * d.time as f64 * seen + steps * (20.0 * params + STEP) + per_probe * t.probes.len() as f64 + STARTUP
}

/// The fixed part of an optimizer step (the loop, the logs), in work units (about 25 us).
const STEP: f64 = 2e5;

/// A process's start-up and data loading, in work units (about 0.1 s).
const STARTUP: f64 = 8e8;
/// Work units per second of one worker, before any run has finished to measure it (measured
/// on the quick suite on a 2-core Zen 4).
const DEFAULT_RATE: f64 = 8e9;

/// Work units per second measured on the finished runs among `tasks`, else a default.
pub fn rate(out: &Path, tasks: &[&Task]) -> f64 {
    let (mut units, mut secs) = (0.0, 0.0);
    for t in tasks.iter().filter(|t| t.train) {
        if let Some(s) = final_summary(&run_dir(out, &t.id)) {
            if s.elapsed_s > 0.0 {
                units += task_cost(t);
                secs += s.elapsed_s;
            }
        }
    }
    if secs > 1.0 {
        units / secs
    } else {
        DEFAULT_RATE
    }
}

/// "1 h 05 min", "3 min 20 s", "42 s"
pub fn fmt_duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}
