//! What a task will cost, to order and balance work and to say how long is left: the model's
//! multiply-adds per training example (from its parameter count, times the steps of a
//! sequence) times the examples it will see, in arbitrary units; seconds come from the rate of
//! the runs already finished.

use std::path::Path;

use super::{final_summary, run_dir, Task};
use crate::train::budget::{dims, model_size, train_examples, train_steps};

/// Work units of a task: ~ 6 x parameters x examples seen (forward and backward), for every
/// step of a sequence; per optimizer step, the update (~20 per parameter) and a fixed part;
/// and a fixed cost per process (start-up, data) and per probe.
pub fn task_cost(t: &Task) -> f64 {
    let d = dims(&t.config);
    let (params, _) = model_size(&t.config.model, &d);
    // An embedding is a lookup: its rows cost no multiply-adds per example, though the
    // optimizer still updates every row each step.
    let m = &t.config.model;
    let macs = if d.tokens { params - (d.input * m.embed_dim.unwrap_or(m.width)) as f64 } else { params };
    // Brown's sentences are of BROWN_MEAN_TOKENS on average (dims has the longest).
    let time =
        if matches!(t.config.data, crate::config::DataConfig::Brown { .. }) { BROWN_MEAN_TOKENS } else { d.time };
    let (seen, steps) = if t.train {
        let examples = train_examples(&t.config) * t.config.train.epochs;
        (examples as f64, train_steps(&t.config) as f64)
    } else {
        (0.0, 0.0)
    };
    let per_probe = 64.0 * macs * time as f64 * 50.0;
    6.0 * macs * time as f64 * seen + steps * (20.0 * params + STEP) + per_probe * t.probes.len() as f64 + STARTUP
}

/// The Brown corpus's tokens per sentence (src/data/brown.rs).
const BROWN_MEAN_TOKENS: usize = 20;

/// The fixed part of an optimizer step (the loop, the logs), in work units (about 25 us).
const STEP: f64 = 1e6;

/// A process's start-up and data loading or generation, in work units (about 0.3 s).
const STARTUP: f64 = 1.2e10;
/// Work units per second of one worker, before any run has finished to measure it: the quick
/// suite of all thirteen claims (437 runs) took 834 CPU seconds on an idle 2-core AMD EPYC, for
/// which this rate predicts about 1,040; feed-forward runs go about 1.5x and sequence runs 2x
/// to 3x faster than it says, tiny runs slower.
const DEFAULT_RATE: f64 = 4e10;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn task(text: &str) -> Task {
        let config = crate::config::Config::parse(text, "t.toml", &[]).unwrap();
        Task { id: String::new(), config, train: true, probes: Vec::new(), labels: Vec::new() }
    }

    #[test]
    fn brown_runs_cost_by_their_sentences_not_their_vocabulary() {
        let brown = |subset: &str| {
            task(&format!("[data]\nname = \"brown\"\n{subset}\n[model]\narch = \"lstm\"\ndepth = 3\nwidth = 32\nbidirectional = true\n[optim]\nlr = 0.01\noptimizer = {{ kind = \"adam\" }}\n[train]\nepochs = 6\nbatch_size = 32\n"))
        };
        let mnist = task("[data]\nname = \"mnist\"\ntrain_subset = 6000\n[model]\narch = \"plain\"\ndepth = 30\nwidth = 50\n[optim]\nlr = 0.005\noptimizer = { kind = \"adam\" }\n[train]\nepochs = 12\n");
        let (small, whole) = (task_cost(&brown("train_subset = 3000")), task_cost(&brown("")));
        // Less the fixed cost of a process, the work grows with the sentences trained on.
        let ratio = (whole - STARTUP) / (small - STARTUP);
        assert!((ratio - crate::train::budget::BROWN_TRAIN as f64 / 3000.0).abs() < 0.5, "{whole} / {small}");
        // Measured: about 9 s and 4 s on one core; the estimate must not be orders apart.
        let r = small / task_cost(&mnist);
        assert!((0.5..20.0).contains(&r), "brown / mnist cost ratio {r}");
    }
}
