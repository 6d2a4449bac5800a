//! `depthlab reproduce`, once, for the command and the Python package: select the claims, plan
//! their runs together, record the suite, run what is not done (or one shard of it), record the
//! time, and write the report.

use std::path::{Path, PathBuf};

use super::suite::{self, Invocation, Suite};
use crate::lab::{self, Scale};
use crate::sweep::{cost, Engine, EngineError, Plan};

/// What to reproduce.
#[derive(Clone, Debug)]
pub struct Reproduce {
    /// Claim ids or names; empty: all.
    pub claims: Vec<String>,
    pub scale: Scale,
    /// Seeds per configuration, replacing each claim's default.
    pub seeds: Option<usize>,
    /// The suite folder (default reproduce/SCALE).
    pub out: Option<PathBuf>,
}

/// What `reproduce` did.
pub enum Reproduced {
    /// `--plan`: the plan, nothing run.
    Planned(String),
    /// `--fetch-only`: where each data set the runs need is.
    Fetched(String),
    /// One shard's runs are done; the report waits for the others.
    ShardDone { out: PathBuf, message: String },
    /// Every run is done and the report written: its summary lines and files.
    Reported { lines: Vec<String>, files: Vec<PathBuf> },
}

impl Reproduce {
    pub fn suite(&self) -> Result<Suite, String> {
        use crate::sweep::spec::MAX_SEEDS;
        match self.seeds {
            Some(0) => return Err("--seeds must be at least 1".into()),
            Some(n) if n > MAX_SEEDS => {
                return Err(format!("--seeds {n}: at most {MAX_SEEDS} seeds (each is a run of every configuration)"))
            }
            _ => {}
        }
        let experiments = lab::select(&self.claims)?;
        Ok(Suite {
            claims: experiments.iter().map(|e| e.id().to_string()).collect(),
            scale: self.scale,
            seeds: self.seeds,
        })
    }

    pub fn out(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| Path::new("reproduce").join(self.scale.name()))
    }
}

/// Plan, run and report the suite `r` with `engine`; with `plan`, describe the plan only.
pub fn reproduce(r: &Reproduce, engine: &Engine, plan: bool) -> Result<Reproduced, EngineError> {
    let suite = r.suite()?;
    let out = r.out();
    let planned = suite.plan()?;
    let tasks = planned.shard(engine.shard, &out);
    if plan {
        return Ok(Reproduced::Planned(describe(&suite, &out)? + &engine.describe(&out, &tasks)));
    }
    if let Some(text) = engine.prepare(&out, &tasks)? {
        return Ok(Reproduced::Fetched(text));
    }
    // Merged with the claims of any other engine on this folder.
    suite.save(&out)?;
    let started = std::time::Instant::now();
    let ran = engine.run(&out, &tasks);
    let inv = Invocation {
        shard: engine.shard.map(|s| s.to_string()),
        jobs: engine.jobs,
        ran: ran.as_ref().map_or(0, |r| r.ran),
        wall_s: started.elapsed().as_secs_f64(),
    };
    // What the runs did comes first; a timing that cannot be written (a full disk) is said
    // beside it, never instead of it.
    let timed = suite::record_invocation(&out, &inv);
    match (ran, timed) {
        (Err(EngineError::Failed { failed, total }), Err(t)) => {
            let mut failed = failed;
            failed.push(("the timing of this invocation".into(), t));
            return Err(EngineError::Failed { failed, total });
        }
        (Err(e), _) => return Err(e),
        (Ok(_), Err(t)) => return Err(t.into()),
        (Ok(_), Ok(())) => {}
    }
    if let Some(s) = engine.shard {
        let message = format!(
            "{}: shard {s} done; once every shard is, write the report with `depthlab report {}`",
            out.display(),
            out.display()
        );
        return Ok(Reproduced::ShardDone { out, message });
    }
    stopped(engine)?;
    // The report covers every claim in the folder; this invocation answers for its own.
    let mine = r.suite()?.claims;
    let written = super::report_until(&out, &mine, engine.stop.as_ref());
    stopped(engine)?;
    let (sections, files) = written?;
    Ok(Reproduced::Reported { lines: super::summary_lines(&sections), files })
}

/// A stop request that came after the runs (during the report) ends the command as one that
/// came during them: promptly, with the signal's exit status.
fn stopped(engine: &Engine) -> Result<(), EngineError> {
    match engine.stop.as_ref().map_or(0, |f| f.load(std::sync::atomic::Ordering::SeqCst)) {
        0 => Ok(()),
        signal => Err(crate::sweep::exec::Stopped { signal }.into()),
    }
}

/// The lines `--plan` starts with: the scale, the report's path and each claim's runs.
fn describe(suite: &Suite, out: &Path) -> Result<String, String> {
    let requests = suite.requests()?;
    let mut text = format!("{} scale; the report will be {}\n", suite.scale.name(), out.join("report.html").display());
    for e in suite.experiments()? {
        text += &match requests.iter().filter(|(c, _)| *c == e.id()).count() {
            0 => format!("  {} {}: no training runs (computed when the report is written)\n", e.id(), e.slug()),
            n => format!("  {} {}: {n} runs\n", e.id(), e.slug()),
        };
    }
    Ok(text)
}

/// `reproduce --measure-cost STEPS`: each distinct run shape of the suite trained `sample`
/// steps by a worker, its time per step kept in the suite folder's cost.json (which `--plan`,
/// the engine and shard balancing then use), and the core-hours each claim would take, as a
/// table.
pub fn measure_cost(
    r: &Reproduce,
    engine: &Engine,
    sample: usize,
    progress: impl FnMut(&str),
) -> Result<String, EngineError> {
    let suite = r.suite()?;
    let requests = suite.requests()?;
    let plan = Plan::new(requests.iter().map(|(_, r)| r.clone()));
    // Each task under the first claim that asked for it.
    let tasks: Vec<(&str, &crate::sweep::Task)> = plan
        .tasks
        .iter()
        .map(|t| (requests.iter().find(|(_, r)| r.id() == t.id).map_or("?", |(c, _)| *c), t))
        .collect();
    if let Some(text) = engine.require(tasks.iter().map(|(_, t)| &t.config))? {
        return Ok(text);
    }
    let costs = cost::measure(&engine.exe, &tasks, sample, engine.data_dir.as_deref(), Some(&r.out()), progress)?;
    let mut text = format!(
        "claim  runs of its own  training steps  core-hours ({} scale, measured over {sample} steps a run)\n",
        r.scale.name()
    );
    for c in &costs {
        text += &format!("{:<5} {:>16} {:>15} {:>11.2}\n", c.name, c.runs, c.steps, c.core_hours);
    }
    text += &format!(
        "all   {:>16} {:>15} {:>11.2}\n",
        costs.iter().map(|c| c.runs).sum::<usize>(),
        costs.iter().map(|c| c.steps).sum::<u64>(),
        costs.iter().map(|c| c.core_hours).sum::<f64>()
    );
    Ok(text)
}
