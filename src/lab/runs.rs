//! The finished runs an analysis reads: summaries, metric records and probe reports, found by
//! the same requests that planned them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::probe::ProbeKind;
use crate::sweep::{final_summary, probe_file, run_dir, RunRequest};
use crate::train::Summary;

pub struct RunSet {
    out: PathBuf,
}

/// One finished run (or a run probed at initialisation).
pub struct Run {
    pub id: String,
    pub dir: PathBuf,
    /// None for runs probed at initialisation.
    pub summary: Option<Summary>,
}

impl RunSet {
    pub fn new(out: &Path) -> RunSet {
        RunSet { out: out.to_owned() }
    }

    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The run of `r`, if it is done (trained to its end, its probes there).
    pub fn get(&self, r: &RunRequest) -> Result<Run, String> {
        let id = r.id();
        let dir = run_dir(&self.out, &id);
        let summary = if r.train {
            Some(final_summary(&dir).ok_or_else(|| format!("run {id} ({}) has not finished", r.label))?)
        } else {
            None
        };
        let diverged = summary.as_ref().is_some_and(|s| s.status == "diverged");
        if !diverged {
            if let Some(p) = r.probes.iter().find(|p| !dir.join("probes").join(probe_file(**p)).is_file()) {
                return Err(format!("run {id} ({}) lacks its `{}` probe", r.label, p.name()));
            }
        }
        Ok(Run { id, dir, summary })
    }

    /// The requests whose runs are not done, as (id, label).
    pub fn missing(&self, requests: &[RunRequest]) -> Vec<(String, String)> {
        requests.iter().filter(|r| self.get(r).is_err()).map(|r| (r.id(), r.label.clone())).collect()
    }
}

impl Run {
    pub fn summary(&self) -> &Summary {
        self.summary.as_ref().expect("a trained run has a summary")
    }

    pub fn diverged(&self) -> bool {
        self.summary.as_ref().is_some_and(|s| s.status == "diverged")
    }

    /// Every record of metrics.jsonl.
    pub fn metrics(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("metrics.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The records of one kind ("epoch", "step").
    pub fn records(&self, kind: &str) -> Vec<Value> {
        self.metrics().into_iter().filter(|r| r["kind"] == kind).collect()
    }

    /// The last epoch record (Null when there is none).
    pub fn last_epoch(&self) -> Value {
        self.records("epoch").pop().unwrap_or(Value::Null)
    }

    /// A number of the last epoch record (NaN when absent or not finite).
    pub fn last(&self, key: &str) -> f64 {
        num(&self.last_epoch()[key])
    }

    /// A probe's report, as written (non-finite numbers are null: read them with `num`).
    pub fn probe(&self, kind: ProbeKind) -> Result<Value, String> {
        let p = self.dir.join("probes").join(probe_file(kind));
        let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", p.display()))
    }
}

/// A JSON number, NaN for null (how reports write non-finite values) or anything else.
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}
