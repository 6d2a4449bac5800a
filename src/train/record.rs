//! What a run records: its state at a checkpoint, the running sums behind its log records, its
//! summary, and the files written at a checkpoint, a divergence and the end.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::folder::{CheckpointFiles, RunFolder, SUMMARY};
use super::{io, params_to_tensors, write_atomic, MetricsLog, Net, TrainError};
use crate::files::AppendLog;
use crate::nn::{HeadOut, StepOut};
use crate::optim::Optimizer;
use crate::train::checkpoint::tensors_to_bytes;

/// Where a run is: saved with each checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct State {
    pub(super) epoch: usize,
    /// Batches of `epoch` already done.
    pub(super) batch: usize,
    pub(super) step: usize,
    pub(super) metrics_bytes: u64,
    /// SHA-256 of metrics.jsonl at the checkpoint (what `sweep::verify` checks the log
    /// against; absent in checkpoints of older builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) metrics_sha256: Option<String>,
    /// Length of gradflow.jsonl at the checkpoint (when `[probe] gradflow_every` is on).
    #[serde(default)]
    pub(super) gradflow_bytes: u64,
    pub(super) elapsed_s: f64,
    /// CPU seconds of training (every thread), beside the wall time: what a run costs on a
    /// shared machine, where the wall time also counts the other processes.
    #[serde(default)]
    pub(super) cpu_s: f64,
    /// Running sums of the current epoch and of the current `log_every` window, so a resumed
    /// run logs the same means as an uninterrupted one.
    pub(super) sums: Sums,
    pub(super) window: Sums,
    /// The loss of the first step: the scale against which a growing loss is reported.
    #[serde(default)]
    pub(super) first_loss: Option<f64>,
    /// The training means of the last finished epoch and the last evaluation, so that the
    /// summary can be written again from the state alone.
    #[serde(default)]
    pub(super) train_means: Option<(f64, Option<f64>)>,
    #[serde(default)]
    pub(super) last_eval: Option<(f64, Option<f64>)>,
    #[serde(default)]
    pub(super) warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Sums {
    pub(super) loss: f64,
    pub(super) correct: usize,
    pub(super) examples: usize,
    pub(super) grad_norm: f64,
    pub(super) steps: usize,
    /// With per-layer heads: the main loss alone (summed as `loss`), and per head its
    /// count-weighted loss, correct and scored examples.
    #[serde(default)]
    pub(super) main_loss: f64,
    #[serde(default)]
    pub(super) heads: Vec<HeadSums>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct HeadSums {
    pub(super) loss: f64,
    pub(super) correct: usize,
    pub(super) count: usize,
    #[serde(default)]
    pub(super) classes: bool,
}

impl HeadSums {
    pub(super) fn add(&mut self, h: &HeadOut) {
        self.loss += h.loss * h.count as f64;
        self.correct += h.correct;
        self.count += h.count;
        self.classes = h.classes;
    }
}

/// `layer_heads.{j}.<prefix>loss` and, for class targets, `.<prefix>accuracy`, for every head.
pub(super) fn head_fields(r: &mut serde_json::Value, heads: &[HeadSums], prefix: &str) {
    for (j, h) in heads.iter().enumerate() {
        let n = h.count.max(1) as f64;
        r[format!("layer_heads.{j}.{prefix}loss")] = json!(h.loss / n);
        if h.classes {
            r[format!("layer_heads.{j}.{prefix}accuracy")] = json!(h.correct as f64 / n);
        }
    }
}

impl Sums {
    pub(super) fn add(&mut self, out: &StepOut, norm: f64) {
        self.loss += out.loss * out.count as f64;
        self.correct += out.correct;
        self.examples += out.count;
        self.grad_norm += norm;
        self.steps += 1;
        if !out.heads.is_empty() {
            self.main_loss += out.main_loss * out.count as f64;
            self.heads.resize_with(out.heads.len(), HeadSums::default);
            self.heads.iter_mut().zip(&out.heads).for_each(|(s, h)| s.add(h));
        }
    }
    pub(super) fn record(
        &self,
        kind: &str,
        epoch: usize,
        step: usize,
        lr: f64,
        elapsed: f64,
        classes: bool,
    ) -> serde_json::Value {
        let mut r = json!({
            "kind": kind, "epoch": epoch, "step": step,
            "loss": self.loss / self.examples.max(1) as f64,
            "grad_norm": self.grad_norm / self.steps.max(1) as f64,
            "lr": lr, "elapsed_s": elapsed,
        });
        if classes {
            r["accuracy"] = json!(self.correct as f64 / self.examples.max(1) as f64);
        }
        if !self.heads.is_empty() {
            // `loss` is the optimised one (main + weighted heads).
            r["main_loss"] = json!(self.main_loss / self.examples.max(1) as f64);
            head_fields(&mut r, &self.heads, "");
        }
        r
    }
}

/// The final numbers of a run, as written to summary.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub status: String,
    pub epochs: usize,
    pub steps: usize,
    pub params: usize,
    pub final_train_loss: f64,
    pub final_train_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub elapsed_s: f64,
    /// Steps of input one output sees (convolutional sequence models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receptive_field: Option<usize>,
    pub message: Option<String>,
    /// What went wrong without stopping the run (a loss that grew past a bound).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

pub(super) fn checkpoint<B>(
    folder: &RunFolder,
    model: &mut impl Net<B>,
    optim: &dyn Optimizer<f32>,
    state: &State,
    logs: &[&AppendLog],
) -> Result<(), TrainError> {
    let files = CheckpointFiles {
        model: tensors_to_bytes(&params_to_tensors(&model.params()), None).map_err(TrainError::Io)?,
        optim: tensors_to_bytes(&optim.state(), None).map_err(TrainError::Io)?,
        state: serde_json::to_value(state).expect("state serialises"),
    };
    folder.write_checkpoint(files, logs).map_err(TrainError::Io)
}

/// Blocks by steps: ||dL/dh|| from gradflow.jsonl as a heat map (log colour).
pub(super) fn write_gradflow_heatmap(dir: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(dir.join("gradflow.jsonl"))?;
    let records: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let Some(first) = records.first() else { return Ok(()) };
    let rows: Vec<String> = first["norms"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    // Feed-forward order: stem, layers.0.., head (the JSON map is sorted by name).
    let mut rows = rows;
    rows.sort_by_key(|n| {
        let idx = n.rsplit('.').next().and_then(|i| i.parse::<usize>().ok());
        (
            if n.ends_with("stem") {
                0
            } else if n.ends_with("head") {
                2
            } else {
                1
            },
            idx,
            n.clone(),
        )
    });
    let values: Vec<Vec<f64>> =
        rows.iter().map(|r| records.iter().map(|rec| rec["norms"][r].as_f64().unwrap_or(f64::NAN)).collect()).collect();
    let step = |i: usize| records.get(i).and_then(|r| r["step"].as_f64()).unwrap_or(0.0);
    let map = crate::plot::HeatMap {
        title: "||dL/dh|| during training".into(),
        x_label: "step".into(),
        y_label: "block output".into(),
        row_labels: rows.iter().map(|r| r.trim_start_matches("act.").to_string()).collect(),
        x_start: step(0),
        x_step: step(1) - step(0),
        values,
        log: true,
        value_label: "||dL/dh||".into(),
        ..Default::default()
    };
    write_atomic(&dir.join("gradflow_heatmap.svg"), map.to_svg().as_bytes())
}

pub(super) fn summary(state: &State, status: &str, params: usize, message: Option<String>) -> Summary {
    Summary {
        status: status.into(),
        epochs: state.epoch,
        steps: state.step,
        params,
        final_train_loss: state.train_means.map(|t| t.0).unwrap_or(f64::NAN),
        final_train_accuracy: state.train_means.and_then(|t| t.1),
        test_loss: state.last_eval.map(|e| e.0),
        test_accuracy: state.last_eval.and_then(|e| e.1),
        elapsed_s: state.elapsed_s,
        receptive_field: None,
        message,
        warnings: state.warnings.clone(),
    }
}

pub(super) fn write_summary(dir: &Path, s: &Summary) -> Result<(), TrainError> {
    write_atomic(&dir.join(SUMMARY), (serde_json::to_string_pretty(s).unwrap() + "\n").as_bytes())
        .map_err(io("cannot write summary.json"))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn diverged(
    dir: &Path,
    log: &mut MetricsLog,
    mut state: State,
    step: usize,
    epoch: usize,
    what: String,
    layer: String,
    params: usize,
    elapsed: f64,
) -> TrainError {
    let err = TrainError::Diverged { step, epoch, what, layer };
    let _ = log.write(&json!({"kind": "diverged", "epoch": epoch, "step": step, "message": err.to_string()}));
    state.elapsed_s = elapsed;
    let mut s = summary(&state, "diverged", params, Some(err.to_string()));
    // A diverged run has no final numbers, whatever earlier epochs measured.
    (s.final_train_loss, s.final_train_accuracy, s.test_loss, s.test_accuracy) = (f64::NAN, None, None, None);
    let _ = write_summary(dir, &s);
    err
}

/// CPU time of this process so far (all its threads), in seconds.
pub(super) fn process_cpu_s() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    if rc == 0 {
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}
