//! The run engine: a fixed set of runs (configs, each trained and probed, or probed at
//! initialisation), content-addressed so that a finished run is never run twice, run by local
//! worker processes (`--jobs N`) or split over machines (`--shard I/N`) writing to one folder.
//!
//! ```text
//! OUT/runs/<id>/      an ordinary `depthlab train` run folder (config.toml, metrics.jsonl, ...)
//!               probes/  the probes the plan asked for, as `depthlab probe` writes them
//! ```
//!
//! `<id>` is a hash of the resolved config (and whether it is trained): the same config gives
//! the same folder in every experiment, sweep and shard that needs it. The experiments of
//! `lab/` and users' sweeps (`spec`) both describe their runs as [`RunRequest`]s; [`Plan`]
//! merges them, and `exec` runs what is not done yet.

pub mod collect;
pub mod cost;
pub mod engine;
pub mod exec;
pub mod shard;
pub mod spec;
pub mod verify;
pub mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::probe::ProbeKind;
use crate::train::Summary;

pub use engine::{Engine, EngineError};
pub use shard::Shard;

/// One run an experiment or a sweep needs.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub config: Config,
    /// Train it (else: probe the config at initialisation).
    pub train: bool,
    /// Probes to run on the result (the trained checkpoint, or the initial weights).
    pub probes: Vec<ProbeKind>,
    /// What to call it in progress lines ("C4 highway depth 50 seed 2").
    pub label: String,
}

impl RunRequest {
    pub fn train(config: Config, label: impl Into<String>) -> Self {
        RunRequest { config, train: true, probes: Vec::new(), label: label.into() }
    }

    pub fn at_init(config: Config, probes: &[ProbeKind], label: impl Into<String>) -> Self {
        RunRequest { config, train: false, probes: probes.to_vec(), label: label.into() }
    }

    pub fn with_probes(mut self, probes: &[ProbeKind]) -> Self {
        for p in probes {
            if !self.probes.contains(p) {
                self.probes.push(*p);
            }
        }
        self
    }

    pub fn id(&self) -> String {
        run_id(&self.config, self.train)
    }
}

/// The folder name of a run: the first 16 hex digits of the SHA-256 of its resolved config
/// (with a marker for runs probed at initialisation, which are different runs of the same
/// config). `train.threads` is left out: it changes how fast a run goes, never what it gives.
pub fn run_id(cfg: &Config, train: bool) -> String {
    let mut h = Sha256::new();
    let mut cfg = cfg.clone();
    cfg.train.threads = None;
    h.update(cfg.to_toml().as_bytes());
    if !train {
        h.update(b"\n# probed at initialisation\n");
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// One unit of work: a run, with every probe any request asked of it.
#[derive(Clone, Debug)]
pub struct Task {
    pub id: String,
    pub config: Config,
    pub train: bool,
    pub probes: Vec<ProbeKind>,
    /// Every label a request gave it (runs are shared between experiments).
    pub labels: Vec<String>,
}

impl Task {
    pub fn label(&self) -> String {
        self.labels.join("; ")
    }
}

/// The tasks of a set of requests, one per run id, in id order.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub tasks: Vec<Task>,
}

impl Plan {
    pub fn new(requests: impl IntoIterator<Item = RunRequest>) -> Plan {
        let mut by_id: BTreeMap<String, Task> = BTreeMap::new();
        for r in requests {
            let id = r.id();
            let t = by_id.entry(id.clone()).or_insert_with(|| Task {
                id,
                config: r.config.clone(),
                train: r.train,
                probes: Vec::new(),
                labels: Vec::new(),
            });
            for p in r.probes {
                if !t.probes.contains(&p) {
                    t.probes.push(p);
                }
            }
            if !t.labels.contains(&r.label) {
                t.labels.push(r.label);
            }
        }
        let mut tasks: Vec<Task> = by_id.into_values().collect();
        for t in &mut tasks {
            t.probes.sort_by_key(|p| p.name());
        }
        Plan { tasks }
    }

    /// The tasks of `shard` (all, without one), balanced by what costs are known in `out`
    /// that do not change while the shards run (`cost::Costs::stable`).
    pub fn shard(&self, shard: Option<Shard>, out: &Path) -> Vec<&Task> {
        match shard {
            None => self.tasks.iter().collect(),
            Some(s) => {
                let stable = cost::Costs::stable(out);
                let costs: Vec<f64> = self.tasks.iter().map(|t| stable.seconds(t)).collect();
                let owner = shard::assign(&costs, s.count);
                self.tasks.iter().zip(owner).filter(|(_, o)| *o == s.index).map(|(t, _)| t).collect()
            }
        }
    }
}

/// What `sweep` did.
pub enum Swept {
    /// `--plan`: the plan, nothing run.
    Planned(String),
    /// `--fetch-only`: where each data set the runs need is.
    Fetched(String),
    /// The runs of this invocation (or shard) are done.
    Ran { out: PathBuf, report: exec::ExecReport },
}

/// `depthlab sweep FILE`: every run of the sweep not done yet (of `engine.shard`, if given)
/// into `out` (default: the sweep file's own), or with `plan` the plan alone.
pub fn run_sweep(sweep: &spec::Sweep, out: Option<&Path>, engine: &Engine, plan: bool) -> Result<Swept, EngineError> {
    let out = out.map_or_else(|| sweep.out.clone(), Path::to_path_buf);
    let plan_of = Plan::new(sweep.runs.iter().cloned());
    let tasks = plan_of.shard(engine.shard, &out);
    if plan {
        return Ok(Swept::Planned(engine.describe(&out, &tasks)));
    }
    if let Some(text) = engine.prepare(&out, &tasks)? {
        return Ok(Swept::Fetched(text));
    }
    let report = engine.run(&out, &tasks)?;
    Ok(Swept::Ran { out, report })
}

/// Where a run's files are under OUT.
pub fn run_dir(out: &Path, id: &str) -> PathBuf {
    out.join("runs").join(id)
}

/// How far a task has got on disk.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// Nothing yet.
    Missing,
    /// Another process is writing the run now (its description).
    Busy(String),
    /// Training started (a folder with a config; maybe a checkpoint).
    Started,
    /// Trained (finished or diverged: both are results) but some probes are missing.
    Trained { status: String },
    /// Everything there, and whole.
    Done { status: String },
    /// Something there is not whole (`verify`): it must be done again.
    Damaged(verify::Damage),
}

impl Progress {
    pub fn is_done(&self) -> bool {
        matches!(self, Progress::Done { .. })
    }
}

/// The summary of a trained run, if it has one that ends it (finished or diverged).
pub fn final_summary(dir: &Path) -> Option<Summary> {
    let s: Summary = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).ok()?).ok()?;
    (s.status == "finished" || s.status == "diverged").then_some(s)
}

/// Which probe files a task's probes write last: their presence marks the probe done.
pub fn probe_file(kind: ProbeKind) -> String {
    format!("{}.json", kind.name())
}

/// How far the run `id` (trained or probed at initialisation, with `probes`) has got in
/// `out`, its finished parts verified (`verify`).
pub fn progress_of(out: &Path, id: &str, train: bool, probes: &[ProbeKind]) -> Progress {
    let dir = run_dir(out, id);
    if let Some(holder) = crate::files::writer(&dir) {
        return Progress::Busy(holder);
    }
    if !dir.join(crate::train::folder::CONFIG).exists() {
        return if train && dir.join(crate::train::folder::SUMMARY).exists() {
            Progress::Damaged(verify::Damage::Run("config.toml is missing".into()))
        } else {
            Progress::Missing
        };
    }
    let cfg = match verify::config(&dir, id, train) {
        Ok(c) => c,
        Err(d) => return Progress::Damaged(d),
    };
    let status = if train {
        let Some(s) = final_summary(&dir) else { return Progress::Started };
        if let Err(d) = verify::trained(&dir, &s) {
            return Progress::Damaged(d);
        }
        s.status
    } else {
        "initialisation".to_string()
    };
    // A diverged run has no weights worth probing.
    if status == "diverged" {
        return Progress::Done { status };
    }
    let probes_dir = dir.join("probes");
    if let Err(d) = verify::probes(&probes_dir, &cfg, probes) {
        return Progress::Damaged(d);
    }
    let probed = probes.iter().all(|p| probes_dir.join(probe_file(*p)).is_file());
    match (probed, train) {
        (true, _) => Progress::Done { status },
        (false, true) => Progress::Trained { status },
        (false, false) => Progress::Missing,
    }
}

pub fn progress(out: &Path, t: &Task) -> Progress {
    progress_of(out, &t.id, t.train, &t.probes)
}

/// "1 run", "3 runs".
pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `--plan`: each task with its state and estimated time, and a summary line.
pub fn describe_plan(out: &Path, tasks: &[&Task], jobs: usize) -> String {
    let costs = cost::Costs::of(out, tasks);
    let mut lines = Vec::new();
    let (mut done, mut started, mut damaged, mut left) = (0, 0, 0, 0.0);
    let mut notes = Vec::new();
    for t in tasks {
        let p = progress(out, t);
        let secs = costs.seconds(t);
        let state = match &p {
            Progress::Done { status } => {
                done += 1;
                status.clone()
            }
            Progress::Trained { .. } => {
                left += secs * 0.1;
                "to probe".into()
            }
            Progress::Started => {
                started += 1;
                left += secs;
                "started".into()
            }
            Progress::Busy(holder) => {
                started += 1;
                notes.push(format!("{}: being run by another process ({holder})", t.id));
                "running".into()
            }
            Progress::Damaged(d) => {
                damaged += 1;
                left += secs;
                notes.push(format!("{}: damaged, to be done again: {}", t.id, d.what()));
                "damaged".into()
            }
            Progress::Missing => {
                left += secs;
                "to do".into()
            }
        };
        let what = if t.train { "train" } else { "init" };
        let probes: Vec<&str> = t.probes.iter().map(|p| p.name()).collect();
        let probes = if probes.is_empty() { String::new() } else { format!(" + {}", probes.join(",")) };
        lines.push(format!("{}  {state:<12} ~{:>9}  {what}{probes}  {}", t.id, cost::fmt_duration(secs), t.label()));
    }
    lines.extend(notes);
    lines.push(format!(
        "{}: {done} done, {started} started, {damaged} damaged, {} to do; about {} left with {jobs} worker{}",
        plural(tasks.len(), "run"),
        tasks.len() - done - started - damaged,
        cost::fmt_duration(left / jobs.max(1) as f64),
        if jobs == 1 { "" } else { "s" }
    ));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(depth: usize, seed: u64) -> String {
        format!(
            "seed = {seed}\n[data]\nname = \"mnist1d\"\n[model]\narch = \"plain\"\ndepth = {depth}\nwidth = 8\n[optim]\nlr = 0.1\noptimizer = {{ kind = \"sgd\" }}\n[train]\nepochs = 1\n"
        )
    }

    fn cfg(depth: usize, seed: u64) -> Config {
        Config::parse(&text(depth, seed), "test", &[]).unwrap()
    }

    #[test]
    fn ids_follow_the_resolved_config() {
        assert_eq!(run_id(&cfg(3, 1), true), run_id(&cfg(3, 1), true));
        assert_ne!(run_id(&cfg(3, 1), true), run_id(&cfg(3, 2), true));
        assert_ne!(run_id(&cfg(3, 1), true), run_id(&cfg(4, 1), true));
        assert_ne!(run_id(&cfg(3, 1), true), run_id(&cfg(3, 1), false));
        // A default written out is the same config.
        let explicit = Config::parse(&format!("{}eval_every = 1\n", text(3, 1)), "test", &[]).unwrap();
        assert_eq!(run_id(&explicit, true), run_id(&cfg(3, 1), true));
        assert_eq!(run_id(&cfg(3, 1), true).len(), 16);
    }

    #[test]
    fn a_plan_merges_requests_for_the_same_run() {
        let plan = Plan::new([
            RunRequest::train(cfg(3, 1), "a").with_probes(&[ProbeKind::Gates]),
            RunRequest::train(cfg(3, 1), "b").with_probes(&[ProbeKind::Lesion, ProbeKind::Gates]),
            RunRequest::train(cfg(4, 1), "c"),
        ]);
        assert_eq!(plan.tasks.len(), 2);
        let shared = plan.tasks.iter().find(|t| t.labels.len() == 2).unwrap();
        assert_eq!(shared.probes, [ProbeKind::Gates, ProbeKind::Lesion]);
        assert_eq!(shared.label(), "a; b");
        let ids: Vec<&str> = plan.tasks.iter().map(|t| t.id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn shards_partition_the_plan() {
        let plan = Plan::new((1..=7).map(|d| RunRequest::train(cfg(d, 1), format!("d{d}"))));
        let mut seen: Vec<String> = Vec::new();
        for i in 0..3 {
            seen.extend(
                plan.shard(Some(Shard { index: i, count: 3 }), Path::new("/nonexistent")).iter().map(|t| t.id.clone()),
            );
        }
        seen.sort();
        let all: Vec<String> = plan.tasks.iter().map(|t| t.id.clone()).collect();
        assert_eq!(seen, all);
    }
}
