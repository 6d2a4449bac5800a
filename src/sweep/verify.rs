//! Whether a finished run is whole before anything reads a result from it: its folder is the
//! run its id names (the config hashes to the id), its checkpoint is whole (sizes and SHA-256
//! that state.json records), its metrics log holds exactly the records that checkpoint
//! recorded, every line parsing, and each probe's report parses into its type. A run that fails
//! is damaged: the engine runs it again (or probes it again), and an analysis refuses it,
//! naming what failed. A result is never read from a damaged run.

use std::path::Path;

use serde::Deserialize;

use super::run_id;
use crate::config::Config;
use crate::probe::ProbeKind;
use crate::train::folder::{read_checkpoint, CONFIG, METRICS, SUMMARY};
use crate::train::{Record, Summary};

/// What is wrong with a run folder, and what mends it.
#[derive(Clone, Debug, PartialEq)]
pub enum Damage {
    /// The run itself (config, checkpoint, log, summary): it must be trained again.
    Run(String),
    /// These probes' reports: they must be written again.
    Probes(Vec<ProbeKind>, String),
}

impl Damage {
    pub fn what(&self) -> &str {
        match self {
            Damage::Run(w) | Damage::Probes(_, w) => w,
        }
    }
}

/// The config in `dir`, checked against the run id the folder is named by.
pub fn config(dir: &Path, id: &str, train: bool) -> Result<Config, Damage> {
    let cfg = Config::load(&dir.join(CONFIG), &[]).map_err(|e| Damage::Run(e.to_string()))?;
    let own = run_id(&cfg, train);
    if own != id {
        return Err(Damage::Run(format!(
            "{CONFIG} is the config of run {own}, not of {id}: the folder holds another run's files"
        )));
    }
    Ok(cfg)
}

/// What the current checkpoint's state.json says of the run's progress.
#[derive(Deserialize)]
struct Recorded {
    epoch: usize,
    step: usize,
    metrics_bytes: u64,
    #[serde(default)]
    metrics_sha256: Option<String>,
    #[serde(default)]
    train_means: Option<(f64, Option<f64>)>,
    #[serde(default)]
    last_eval: Option<(f64, Option<f64>)>,
}

/// The same number, NaN included.
fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
        (None, None) => true,
        _ => false,
    }
}

/// Whether the summary of a finished run says what its final checkpoint recorded.
fn summary_agrees(s: &Summary, r: &Recorded) -> bool {
    s.epochs == r.epoch
        && s.steps == r.step
        && same(Some(s.final_train_loss), r.train_means.map(|t| t.0).or(Some(f64::NAN)))
        && same(s.final_train_accuracy, r.train_means.and_then(|t| t.1))
        && same(s.test_loss, r.last_eval.map(|e| e.0))
        && same(s.test_accuracy, r.last_eval.and_then(|e| e.1))
}

/// A trained run whose summary is final (`summary`): its checkpoint and metrics log.
pub fn trained(dir: &Path, summary: &Summary) -> Result<(), Damage> {
    let damaged = |what: String| Damage::Run(what);
    let checkpoint = read_checkpoint(dir).map_err(damaged)?;
    let recorded = match &checkpoint {
        Some(c) => Some(
            crate::read::from_value::<Recorded>(&c.state)
                .map_err(|e| damaged(format!("the checkpoint's state.json: {e}")))?,
        ),
        None => None,
    };
    let diverged = summary.status == "diverged";
    let log = std::fs::read(dir.join(METRICS)).map_err(|e| damaged(format!("{METRICS}: {e}")))?;
    match (&recorded, diverged) {
        (None, false) => return Err(damaged(format!("a finished run without a checkpoint ({SUMMARY} says finished)"))),
        (Some(r), false) if log.len() as u64 != r.metrics_bytes => {
            return Err(damaged(format!(
                "{METRICS} has {} bytes, but the final checkpoint recorded {}",
                log.len(),
                r.metrics_bytes
            )))
        }
        (Some(r), false) if r.metrics_sha256.as_ref().is_some_and(|h| *h != crate::files::sha256(&log)) => {
            return Err(damaged(format!(
                "{METRICS} is not the log the final checkpoint recorded (its SHA-256 differs)"
            )))
        }
        (Some(r), false) if !summary_agrees(summary, r) => {
            return Err(damaged(format!(
                "{SUMMARY} does not say what the final checkpoint recorded (step {} and its losses)",
                r.step
            )))
        }
        // A diverged run logs past its last checkpoint, up to the divergence.
        (Some(r), true) if (log.len() as u64) < r.metrics_bytes => {
            return Err(damaged(format!(
                "{METRICS} has {} bytes, fewer than the last checkpoint recorded ({})",
                log.len(),
                r.metrics_bytes
            )))
        }
        _ => {}
    }
    if log.last().is_some_and(|b| *b != b'\n') {
        return Err(damaged(format!("{METRICS} ends in the middle of a line")));
    }
    let mut last: Option<Record> = None;
    for (i, line) in log.split(|b| *b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        last = Some(crate::read::from_slice(line).map_err(|e| damaged(format!("{METRICS}:{}: {e}", i + 1)))?);
    }
    if diverged && last.as_ref().is_none_or(|r| r.kind != "diverged") {
        return Err(damaged(format!("{SUMMARY} says the run diverged, but {METRICS} does not end with it")));
    }
    Ok(())
}

/// The probes among `probes` whose reports are in `probes_dir`, each parsed into its type for
/// a model of `cfg`; the first one that does not parse is damage (every one that does not).
pub fn probes(probes_dir: &Path, cfg: &Config, probes: &[ProbeKind]) -> Result<(), Damage> {
    let mut bad = Vec::new();
    let mut why = Vec::new();
    let config = std::fs::read(probes_dir.parent().unwrap_or(probes_dir).join(CONFIG)).unwrap_or_default();
    for &k in probes {
        let name = super::probe_file(k);
        let Ok(bytes) = std::fs::read(probes_dir.join(&name)) else { continue };
        let checked = crate::probe::check_report(k, &cfg.model, &bytes)
            .map_err(|e| e.to_string())
            .and_then(|()| crate::probe::check_digest(probes_dir, &name, &bytes, &config));
        if let Err(e) = checked {
            bad.push(k);
            why.push(format!("probes/{name}: {e}"));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Damage::Probes(bad, why.join("; ")))
    }
}
