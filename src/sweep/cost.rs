//! What a task costs, in seconds of one core. One count of a run's work (`Work`: its training
//! steps, and its evaluations in step equivalents) serves every estimate; the seconds per step
//! come, in order of trust, from
//! 1. the suite's own finished runs of the same shape (the config but for its seed),
//! 2. a measured sample (`depthlab reproduce --measure-cost`: each distinct shape trained a few
//!    steps by a worker; kept in OUT/cost.json),
//! 3. the formula: work units (~ 6 x parameters x examples seen, per sequence step) at a rate
//!    that the finished runs correct.
//!
//! `--plan`, the engine's time left and the core-hours a claim needs read `Costs::seconds`.
//! Shard balancing must give every shard the same answer whenever it starts, so it reads only
//! what does not change while the array runs (`Costs::stable`: the sample and the formula).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{final_summary, run_dir, Task};
use crate::config::Config;
use crate::files::write_atomic;
use crate::train::budget::{dims, model_size, train_examples, train_steps};

/// A run's work: its optimizer steps, and its evaluation passes in the same unit (a batch of
/// evaluation is about a third of a training step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Work {
    pub train_steps: u64,
    pub eval_steps: u64,
}

impl Work {
    pub fn of(cfg: &Config) -> Work {
        let train = train_steps(cfg);
        let per_epoch = train / cfg.train.epochs.max(1) as u64;
        let evals = cfg.train.epochs.div_ceil(cfg.train.eval_every.max(1)) as u64;
        let test = per_epoch / 6 + 1;
        let train_eval = if cfg.train.eval_train { per_epoch } else { 0 };
        Work { train_steps: train, eval_steps: evals * (test + train_eval) / 3 }
    }

    pub fn steps(&self) -> u64 {
        self.train_steps + self.eval_steps
    }
}

/// The config without its seed: runs that differ only in their seed cost the same.
pub fn shape(cfg: &Config) -> String {
    let mut c = cfg.clone();
    c.seed = 0;
    c.train.threads = None;
    c.to_toml()
}

/// Work units of a task: ~ 6 x parameters x examples seen (forward and backward), for every
/// step of a sequence; per optimizer step, the update (~20 per parameter) and a fixed part;
/// and a fixed cost per process (start-up, data) and per probe.
pub fn task_units(t: &Task) -> f64 {
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

/// OUT/cost.json: measured seconds per training step, by shape.
const SAMPLE_FILE: &str = "cost.json";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Sample {
    /// Steps each shape was trained for when measured.
    steps: usize,
    seconds_per_step: BTreeMap<String, f64>,
}

/// Seconds per step by shape, and the formula's rate, for the tasks of one folder.
#[derive(Clone, Debug)]
pub struct Costs {
    per_step: BTreeMap<String, f64>,
    /// Work units per second.
    rate: f64,
}

impl Costs {
    /// Everything known in `out`: the finished runs of `tasks` (by shape, and as the formula's
    /// rate), then the measured sample.
    pub fn of(out: &Path, tasks: &[&Task]) -> Costs {
        let mut c = Costs::stable(out);
        let (mut units, mut secs) = (0.0, 0.0);
        let mut runs: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for t in tasks.iter().filter(|t| t.train) {
            if let Some(s) = final_summary(&run_dir(out, &t.id)).filter(|s| s.elapsed_s > 0.0 && s.steps > 0) {
                units += task_units(t);
                secs += s.elapsed_s;
                // The run's own time covers its evaluations: per step of its whole work.
                let e = runs.entry(shape(&t.config)).or_default();
                e.0 += s.elapsed_s;
                e.1 += Work::of(&t.config).steps() as f64;
            }
        }
        for (k, (s, n)) in runs {
            c.per_step.insert(k, s / n);
        }
        if secs > 1.0 {
            c.rate = units / secs;
        }
        c
    }

    /// What stays the same while the runs of `out` progress: the measured sample and the
    /// formula at its default rate.
    pub fn stable(out: &Path) -> Costs {
        let sample: Sample =
            std::fs::read(out.join(SAMPLE_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Costs { per_step: sample.seconds_per_step, rate: DEFAULT_RATE }
    }

    /// The formula alone.
    pub fn formula() -> Costs {
        Costs { per_step: BTreeMap::new(), rate: DEFAULT_RATE }
    }

    /// Estimated seconds of one core for `t`, and whether they were measured (a run or a
    /// sample of its shape) rather than the formula's.
    pub fn estimate(&self, t: &Task) -> (f64, bool) {
        match self.per_step.get(&shape(&t.config)).filter(|_| t.train) {
            Some(s) => (s * Work::of(&t.config).steps() as f64, true),
            None => (task_units(t) / self.rate, false),
        }
    }

    pub fn seconds(&self, t: &Task) -> f64 {
        self.estimate(t).0
    }
}

/// One claim's (or a sweep's) measured cost.
#[derive(Clone, Debug)]
pub struct MeasuredCost {
    pub name: String,
    pub runs: usize,
    pub steps: u64,
    pub core_hours: f64,
}

/// Measure every distinct training shape of `tasks` (labelled by the claim that asked for them):
/// a worker of `exe` trains it `sample` steps in a scratch folder and its CPU seconds per step
/// are recorded in `out`/cost.json (when `out` is given, merged with what is there); then the
/// core-hours of each label, from each run's `Work`.
pub fn measure(
    exe: &Path,
    tasks: &[(&str, &super::Task)],
    sample: usize,
    data_dir: Option<&Path>,
    out: Option<&Path>,
    mut progress: impl FnMut(&str),
) -> Result<Vec<MeasuredCost>, String> {
    let mut measured: Sample = out
        .and_then(|o| std::fs::read(o.join(SAMPLE_FILE)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|s: &Sample| s.steps == sample)
        .unwrap_or(Sample { steps: sample, ..Default::default() });
    let mut by_name: BTreeMap<String, MeasuredCost> = BTreeMap::new();
    for (name, t) in tasks {
        let c = by_name.entry(name.to_string()).or_insert(MeasuredCost {
            name: name.to_string(),
            runs: 0,
            steps: 0,
            core_hours: 0.0,
        });
        c.runs += 1;
        if !t.train {
            continue;
        }
        let work = Work::of(&t.config);
        c.steps += work.train_steps;
        let key = shape(&t.config);
        let sps = match measured.seconds_per_step.get(&key) {
            Some(v) => *v,
            None => {
                progress(&format!("{name}: sampling {} ({sample} steps)", t.label()));
                let v = seconds_per_step(exe, &t.config, sample.min(work.train_steps as usize).max(1), data_dir)
                    .map_err(|e| format!("{name} {}: {e}", t.label()))?;
                measured.seconds_per_step.insert(key, v);
                v
            }
        };
        c.core_hours += sps * work.steps() as f64 / 3600.0;
    }
    if let Some(o) = out {
        std::fs::create_dir_all(o).map_err(|e| format!("cannot create {}: {e}", o.display()))?;
        let p = o.join(SAMPLE_FILE);
        write_atomic(&p, (serde_json::to_string_pretty(&measured).expect("json") + "\n").as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    let mut v: Vec<MeasuredCost> = by_name.into_values().collect();
    v.sort_by_key(|c| c.name.trim_start_matches('C').parse::<u32>().unwrap_or(u32::MAX));
    Ok(v)
}

/// CPU seconds per training step of `cfg`, measured by a worker over `sample` steps in a scratch
/// folder (CPU rather than wall seconds: the estimate should not depend on what else the machine
/// runs while it is measured).
fn seconds_per_step(exe: &Path, cfg: &Config, sample: usize, data_dir: Option<&Path>) -> Result<f64, String> {
    let tmp = std::env::temp_dir().join(format!("depthlab-cost-{}-{}", std::process::id(), rand::random::<u64>()));
    let run = tmp.join("run");
    std::fs::create_dir_all(&run).map_err(|e| format!("cannot create {}: {e}", run.display()))?;
    let result = (|| {
        std::fs::write(run.join("config.toml"), cfg.to_toml()).map_err(|e| e.to_string())?;
        let job = super::worker::Job::Train { dir: run.clone(), stop_after: Some(sample) };
        let o = std::process::Command::new(exe)
            .args(job.command(data_dir))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .env("CI", "1")
            .output()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let state: serde_json::Value =
            std::fs::read(run.join("state.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(
                || format!("the sample run did not checkpoint: {}", String::from_utf8_lossy(&o.stderr).trim()),
            )?;
        let secs = state["cpu_s"].as_f64().filter(|s| *s > 0.0).or_else(|| state["elapsed_s"].as_f64());
        match (secs, state["step"].as_f64()) {
            (Some(s), Some(done)) if done >= 1.0 => Ok(s / done),
            _ => Err("the sample run made no step".to_string()),
        }
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
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

    const MNIST: &str = "[data]\nname = \"mnist\"\ntrain_subset = 6000\n[model]\narch = \"plain\"\ndepth = 30\nwidth = 50\n[optim]\nlr = 0.005\noptimizer = { kind = \"adam\" }\n[train]\nepochs = 12\n";

    #[test]
    fn brown_runs_cost_by_their_sentences_not_their_vocabulary() {
        let brown = |subset: &str| {
            task(&format!("[data]\nname = \"brown\"\n{subset}\n[model]\narch = \"lstm\"\ndepth = 3\nwidth = 32\nbidirectional = true\n[optim]\nlr = 0.01\noptimizer = {{ kind = \"adam\" }}\n[train]\nepochs = 6\nbatch_size = 32\n"))
        };
        let (small, whole) = (task_units(&brown("train_subset = 3000")), task_units(&brown("")));
        // Less the fixed cost of a process, the work grows with the sentences trained on.
        let ratio = (whole - STARTUP) / (small - STARTUP);
        assert!((ratio - crate::train::budget::BROWN_TRAIN as f64 / 3000.0).abs() < 0.5, "{whole} / {small}");
        // Measured: about 9 s and 4 s on one core; the estimate must not be orders apart.
        let r = small / task_units(&task(MNIST));
        assert!((0.5..20.0).contains(&r), "brown / mnist cost ratio {r}");
        let steps = Work::of(&brown("train_subset = 3000").config).train_steps;
        assert_eq!(steps, 94 * 6, "Brown's steps count the training sentences");
    }

    #[test]
    fn a_measured_shape_wins_over_the_formula_for_every_seed() {
        let dir = tempfile::tempdir().unwrap();
        let t = task(MNIST);
        let (formula, measured) = Costs::stable(dir.path()).estimate(&t);
        assert!(!measured && formula > 0.0);
        let sample = Sample { steps: 20, seconds_per_step: [(shape(&t.config), 0.01)].into_iter().collect() };
        std::fs::write(dir.path().join(SAMPLE_FILE), serde_json::to_string(&sample).unwrap()).unwrap();
        let mut other_seed = task(MNIST);
        other_seed.config.seed = 7;
        let (secs, measured) = Costs::stable(dir.path()).estimate(&other_seed);
        assert!(measured);
        assert!((secs - 0.01 * Work::of(&t.config).steps() as f64).abs() < 1e-9, "{secs}");
    }
}
