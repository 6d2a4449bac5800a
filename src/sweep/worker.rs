//! What the engine asks a worker process to do, and the one command line that says it. The
//! engine builds it (`Job::command`); `depthlab worker ...` and the Python package's worker
//! parse it with `Job::parse` and do it with `Job::run`, so the two can never disagree.
//!
//! ```text
//! worker train RUN_DIR [--stop-after N] [--data-dir D]         train or continue RUN_DIR
//! worker probe INPUT --what A,B --out DIR [--data-dir D]       probe a run folder or config
//! ```
//!
//! A worker runs single-threaded and quietly, and exits 0 when its job is done (a diverged run
//! is done: its summary says so), 128 + the signal after a stop request (with a checkpoint
//! written), `BUSY` (75) when another process is writing its folder, and 1 with the error on
//! stderr otherwise.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::probe::{ProbeKind, ProbeOptions};
use crate::train::{RunOptions, StopFlag, TrainError};

/// A worker's exit status when another process holds its folder (EX_TEMPFAIL): the engine
/// waits for that process rather than counting the job failed.
pub const BUSY: u8 = 75;

/// One job of a worker.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    /// Train the run in `dir` from its config.toml, or continue it from its checkpoint;
    /// `stop_after`: stop with a checkpoint after that many steps (to measure a run's cost).
    Train { dir: PathBuf, stop_after: Option<usize> },
    /// Run probes on a run folder (its trained weights) or a config (at initialisation).
    Probe { input: PathBuf, what: Vec<ProbeKind>, out: PathBuf },
}

/// Why a worker's job did not end done.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
}

impl WorkerError {
    /// 128 + the signal for a stop request, `BUSY` when another process holds the folder,
    /// else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            WorkerError::Train(TrainError::Busy(_)) | WorkerError::Probe(crate::probe::ProbeError::Busy(_)) => BUSY,
            WorkerError::Train(e) => e.exit_code(),
            WorkerError::Probe(_) => 1,
        }
    }
}

impl Job {
    /// The worker's arguments, after the program: `worker train DIR ...`.
    pub fn command(&self, data_dir: Option<&Path>) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["worker".into()];
        match self {
            Job::Train { dir, stop_after } => {
                a.extend(["train".into(), dir.into()]);
                if let Some(n) = stop_after {
                    a.extend(["--stop-after".into(), n.to_string().into()]);
                }
            }
            Job::Probe { input, what, out } => {
                let names: Vec<&str> = what.iter().map(|k| k.name()).collect();
                a.extend(["probe".into(), input.into(), "--what".into(), names.join(",").into()]);
                a.extend(["--out".into(), out.into()]);
            }
        }
        if let Some(d) = data_dir {
            a.extend(["--data-dir".into(), d.into()]);
        }
        a
    }

    /// The job and data folder of a worker's arguments (those after `worker`).
    pub fn parse(args: &[OsString]) -> Result<(Job, Option<PathBuf>), String> {
        let usage = "the worker runs `train RUN_DIR [--stop-after N]` or `probe INPUT --what A,B --out DIR`, each with an optional --data-dir D";
        let (kind, rest) = args.split_first().ok_or(usage)?;
        let (mut positional, mut opts): (Vec<PathBuf>, Vec<(String, OsString)>) = (Vec::new(), Vec::new());
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            match a.to_str() {
                Some(flag @ ("--stop-after" | "--what" | "--out" | "--data-dir")) => {
                    let v = it.next().ok_or_else(|| format!("{flag} needs a value; {usage}"))?;
                    opts.push((flag.to_string(), v.clone()));
                }
                Some(f) if f.starts_with('-') => return Err(format!("unknown option {f}; {usage}")),
                _ => positional.push(PathBuf::from(a)),
            }
        }
        let opt = |name: &str| opts.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let text = |name: &str| -> Result<Option<String>, String> {
            opt(name).map(|v| v.into_string().map_err(|v| format!("{name} {v:?} is not text"))).transpose()
        };
        let [one]: [PathBuf; 1] = positional.try_into().map_err(|_| usage.to_string())?;
        let job = match kind.to_str() {
            Some("train") => {
                let stop_after = text("--stop-after")?
                    .map(|n| n.parse::<usize>().map_err(|_| format!("--stop-after {n:?}: expected a number of steps")))
                    .transpose()?;
                Job::Train { dir: one, stop_after }
            }
            Some("probe") => {
                let what = crate::probe::parse_what(&[text("--what")?.unwrap_or_default()])?;
                let out = opt("--out").ok_or_else(|| format!("probe needs --out DIR; {usage}"))?.into();
                Job::Probe { input: one, what, out }
            }
            _ => return Err(usage.to_string()),
        };
        Ok((job, opt("--data-dir").map(PathBuf::from)))
    }

    /// Do the job, single-threaded and quietly; a stop request ends it at a checkpoint.
    pub fn run(&self, data_dir: Option<PathBuf>, stop: Option<StopFlag>) -> Result<(), WorkerError> {
        match self {
            Job::Train { dir, stop_after } => {
                let opts = RunOptions {
                    data_dir,
                    stop_after: *stop_after,
                    quiet: true,
                    stop,
                    max_memory: None,
                    threads: Some(1),
                };
                match crate::train::resume(dir, &opts) {
                    // A diverged run is a result: its summary says so.
                    Ok(_) | Err(TrainError::Diverged { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Job::Probe { input, what, out } => {
                let opts = ProbeOptions {
                    what: what.clone(),
                    out: Some(out.clone()),
                    data_dir,
                    threads: Some(1),
                    ..Default::default()
                };
                crate::probe::run(input, &opts).map(|_| ()).map_err(Into::into)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_reads_back_from_its_command_line() {
        let jobs = [
            Job::Train { dir: "out/runs/ab".into(), stop_after: None },
            Job::Train { dir: "/tmp/x y".into(), stop_after: Some(20) },
            Job::Probe {
                input: "r/config.toml".into(),
                what: vec![ProbeKind::Gates, ProbeKind::Lesion],
                out: "r/probes".into(),
            },
        ];
        for job in jobs {
            for data in [None, Some(Path::new("/data dir"))] {
                let args = job.command(data);
                assert_eq!(args[0], "worker");
                assert_eq!(Job::parse(&args[1..]), Ok((job.clone(), data.map(PathBuf::from))));
            }
        }
    }

    #[test]
    fn bad_worker_lines_are_refused_with_the_usage() {
        let parse = |a: &[&str]| Job::parse(&a.iter().map(OsString::from).collect::<Vec<_>>()).unwrap_err();
        assert!(parse(&[]).contains("train RUN_DIR"));
        assert!(parse(&["fly", "x"]).contains("train RUN_DIR"));
        assert!(parse(&["train"]).contains("train RUN_DIR"));
        assert!(parse(&["train", "a", "b"]).contains("train RUN_DIR"));
        assert!(parse(&["train", "a", "--stop-after", "x"]).contains("expected a number"));
        assert!(parse(&["train", "a", "--threads", "2"]).contains("unknown option --threads"));
        assert!(parse(&["probe", "a", "--what", "gates"]).contains("needs --out"));
        assert!(parse(&["probe", "a", "--what", "nope", "--out", "o"]).contains("unknown probe"));
        assert!(parse(&["train", "a", "--data-dir"]).contains("--data-dir needs a value"));
    }
}
