//! The finished runs an analysis reads, found by the same requests that planned them, and read
//! typed: a probe report as its type (`Run::probe`), metric records with their fields checked
//! (`Run::last`, `Run::epochs`). A field that is missing, renamed or of the wrong type is an
//! error that names the run, the file and the field, never a NaN that would turn a verdict
//! inconclusive; a NaN that a run really measured (written as null) reads as NaN.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::probe::Report;
use crate::sweep::{final_summary, probe_file, progress_of, run_dir, Progress, RunRequest};
use crate::train::{Record, Summary};

pub struct RunSet {
    out: PathBuf,
    /// Each run's state as verified once (`sweep::progress_of` hashes its checkpoint), by id.
    checked: Mutex<HashMap<String, Result<(), String>>>,
}

/// One finished run (or a run probed at initialisation).
pub struct Run {
    pub id: String,
    /// What the request called it ("C4 highway depth 50 seed 2").
    pub label: String,
    pub dir: PathBuf,
    /// None for runs probed at initialisation.
    pub summary: Option<Summary>,
}

impl RunSet {
    pub fn new(out: &Path) -> RunSet {
        RunSet { out: out.to_owned(), checked: Mutex::new(HashMap::new()) }
    }

    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Whether the run of `r` is done and whole (trained to its end, its probes there, every
    /// file verified); if not, what it lacks or what is damaged.
    fn check(&self, r: &RunRequest) -> Result<(), String> {
        let id = r.id();
        let key = format!("{id} {:?}", r.probes);
        if let Some(c) = self.checked.lock().expect("not poisoned").get(&key) {
            return c.clone();
        }
        let c = match progress_of(&self.out, &id, r.train, &r.probes) {
            Progress::Done { .. } => Ok(()),
            Progress::Damaged(d) => {
                Err(format!("run {id} ({}) is damaged: {}; `depthlab reproduce` runs it again", r.label, d.what()))
            }
            Progress::Busy(holder) => Err(format!("run {id} ({}) is being run by another process ({holder})", r.label)),
            Progress::Trained { .. } => {
                let p =
                    r.probes.iter().find(|p| !run_dir(&self.out, &id).join("probes").join(probe_file(**p)).is_file());
                Err(format!("run {id} ({}) lacks its `{}` probe", r.label, p.map_or("?", |p| p.name())))
            }
            Progress::Missing | Progress::Started => Err(format!("run {id} ({}) has not finished", r.label)),
        };
        self.checked.lock().expect("not poisoned").insert(key, c.clone());
        c
    }

    /// The run of `r`, if it is done and whole.
    pub fn get(&self, r: &RunRequest) -> Result<Run, String> {
        self.check(r)?;
        let id = r.id();
        let dir = run_dir(&self.out, &id);
        let summary = if r.train {
            Some(final_summary(&dir).ok_or_else(|| format!("run {id} ({}) has not finished", r.label))?)
        } else {
            None
        };
        Ok(Run { id, label: r.label.clone(), dir, summary })
    }

    /// The requests whose runs are not done or not whole, as (id, what is wrong).
    pub fn missing(&self, requests: &[RunRequest]) -> Vec<(String, String)> {
        requests.iter().filter_map(|r| self.check(r).err().map(|why| (r.id(), why))).collect()
    }
}

impl Run {
    /// The summary of a trained run.
    pub fn summary(&self) -> &Summary {
        self.summary.as_ref().expect("a trained run has a summary")
    }

    pub fn diverged(&self) -> bool {
        self.summary.as_ref().is_some_and(|s| s.status == "diverged")
    }

    /// An error about `file` of this run.
    pub fn error(&self, file: &str, what: impl std::fmt::Display) -> String {
        format!("run {} ({}): {file}: {what}", self.id, self.label)
    }

    /// Every record of metrics.jsonl, in order; a line that does not parse is an error.
    pub fn records(&self) -> Result<Vec<Record>, String> {
        let file = "metrics.jsonl";
        let text = std::fs::read_to_string(self.dir.join(file)).map_err(|e| self.error(file, e))?;
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                crate::read::from_slice(l.as_bytes()).map_err(|e| self.error(&format!("{file}:{}", i + 1), e))
            })
            .collect()
    }

    /// The epoch records.
    pub fn epochs(&self) -> Result<Vec<Record>, String> {
        Ok(self.records()?.into_iter().filter(|r| r.kind == "epoch").collect())
    }

    /// The records of `kind`, each with the number `key` (an error for a record without it).
    pub fn series(&self, kind: &str, key: &str) -> Result<Vec<(Record, f64)>, String> {
        self.records()?
            .into_iter()
            .filter(|r| r.kind == kind)
            .map(|r| {
                let v = self.need(&r, key)?;
                Ok((r, v))
            })
            .collect()
    }

    /// The number `key` of a record of this run; an error naming the run, the record and the
    /// field when it has no such number.
    pub fn need(&self, r: &Record, key: &str) -> Result<f64, String> {
        r.get(key).ok_or_else(|| {
            self.error("metrics.jsonl", format!("the {} record of step {} has no number `{key}`", r.kind, r.step))
        })
    }

    /// The epoch records that carry a test evaluation (those with `test_loss`: every
    /// `train.eval_every` epochs and the last), each with the number `key`.
    pub fn evaluated(&self, key: &str) -> Result<Vec<(Record, f64)>, String> {
        self.epochs()?
            .into_iter()
            .filter(|r| r.get("test_loss").is_some())
            .map(|r| {
                let v = self.need(&r, key)?;
                Ok((r, v))
            })
            .collect()
    }

    /// The number `key` of the last epoch record.
    pub fn last(&self, key: &str) -> Result<f64, String> {
        let r = self.epochs()?.pop().ok_or_else(|| self.error("metrics.jsonl", "no epoch record"))?;
        self.need(&r, key)
    }

    /// A probe's report, typed.
    pub fn probe<R: Report>(&self) -> Result<R, String> {
        let file = format!("probes/{}", probe_file(R::KIND));
        let bytes = std::fs::read(self.dir.join(&file)).map_err(|e| self.error(&file, e))?;
        crate::read::from_slice(&bytes).map_err(|e| self.error(&file, e))
    }
}
