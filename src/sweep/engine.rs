//! The run engine as `depthlab reproduce`, `depthlab sweep` and the Python package drive it:
//! its options checked once, a plan run or described, and one error for runs that stopped or
//! failed.

use std::path::{Path, PathBuf};

use super::exec::{self, ExecOptions, ExecReport, Stopped};
use super::{progress, Shard, Task};
use crate::data::require::{require, Policy};
use crate::train::StopFlag;

/// More worker processes than this is a typo, not a machine (each is one single-threaded run).
pub const MAX_JOBS: usize = 4096;

/// How the engine runs a plan.
#[derive(Clone, Debug)]
pub struct Engine {
    pub jobs: usize,
    pub shard: Option<Shard>,
    pub data_dir: Option<PathBuf>,
    pub quiet: bool,
    /// The program the workers run (`depthlab`, or the Python package's worker).
    pub exe: PathBuf,
    pub stop: Option<StopFlag>,
    /// Where the runs' data are looked for, and whether a missing set may be fetched.
    pub data: Policy,
    /// Find or fetch the data the runs need, then stop (before a job array whose nodes are
    /// offline).
    pub fetch_only: bool,
}

/// The engine stopped early or runs failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Stopped(#[from] Stopped),
    #[error("{} of {total} runs failed:\n{}", failed.len(), failed.iter().map(|(n, why)| format!("  {n}: {why}")).collect::<Vec<_>>().join("\n"))]
    Failed { failed: Vec<(String, String)>, total: usize },
    /// Bad input or a folder that cannot be used: the message says which.
    #[error("{0}")]
    Input(String),
}

impl EngineError {
    /// 128 + the signal for a stop, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Stopped(s) => s.exit_code(),
            _ => 1,
        }
    }
}

impl From<String> for EngineError {
    fn from(s: String) -> Self {
        EngineError::Input(s)
    }
}

/// `--jobs`: at least 1 and at most `MAX_JOBS`; default every core.
pub fn jobs(jobs: Option<usize>) -> Result<usize, String> {
    match jobs {
        None => Ok(crate::tensor::par::all_cores()),
        Some(0) => Err("--jobs must be at least 1 (worker processes, each running one run)".into()),
        Some(n) if n > MAX_JOBS => {
            Err(format!("--jobs {n} is more than {MAX_JOBS} worker processes; each runs one single-threaded run"))
        }
        Some(n) => Ok(n),
    }
}

impl Engine {
    /// Run every task of `tasks` that is not done into `out`.
    pub fn run(&self, out: &Path, tasks: &[&Task]) -> Result<ExecReport, EngineError> {
        let opts = ExecOptions {
            out: out.to_owned(),
            jobs: self.jobs,
            data_dir: self.data_dir.clone(),
            quiet: self.quiet,
            exe: self.exe.clone(),
            stop: self.stop.clone(),
        };
        let r = exec::run(tasks, &opts);
        if let Some(signal) = r.interrupted {
            return Err(Stopped { signal }.into());
        }
        if !r.failed.is_empty() {
            return Err(EngineError::Failed { failed: r.failed.clone(), total: r.ran + r.failed.len() });
        }
        Ok(r)
    }

    /// Find or fetch the data sets that the tasks not done yet need, before any folder is made;
    /// with `fetch_only`, what was found, and the caller stops.
    pub fn prepare(&self, out: &Path, tasks: &[&Task]) -> Result<Option<String>, EngineError> {
        self.require(tasks.iter().filter(|t| !progress(out, t).is_done()).map(|t| &t.config))
    }

    /// As `prepare`, for the runs of `configs`.
    pub fn require<'a>(
        &self,
        configs: impl IntoIterator<Item = &'a crate::config::Config>,
    ) -> Result<Option<String>, EngineError> {
        let ready = require(configs, &self.data).map_err(|e| EngineError::Input(e.to_string()))?;
        Ok(self.fetch_only.then(|| ready.to_string()))
    }

    /// `--plan`: each task with its state and estimated time.
    pub fn describe(&self, out: &Path, tasks: &[&Task]) -> String {
        super::describe_plan(out, tasks, self.jobs)
    }
}
