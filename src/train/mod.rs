//! The training loop and its run folder:
//!
//! ```text
//! RUN_DIR/config.toml        the resolved config (what --resume reads)
//!         metrics.jsonl      one JSON object per logged step ("kind": "step"), epoch ("epoch")
//!                            and evaluation ("eval")
//!         model.safetensors  the weights, PyTorch state-dict names
//!         optim.safetensors  the optimizer state
//!         state.json         where the checkpoint is: epoch, step, running sums, log length
//!         summary.json       written at the end: status, final losses and accuracies
//! ```
//!
//! Every random choice derives from the config's seed (weights) and (seed, epoch) (batch order),
//! so a run is bit-identical when repeated, and a resumed run ends with the same weights as one
//! that was never interrupted.

pub mod checkpoint;
mod metrics;
mod net;
mod record;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use serde_json::json;

use crate::config::{load_data, Config, Data, DataConfig};
use crate::data::{Split, Targets};
use crate::nn::{LossKind, Model};
use crate::optim::{clip_grad_norm, clip_grad_value, grad_norm, Optimizer};
use crate::seq::build::build_seq_model;
pub use checkpoint::{load_params, load_tensors, params_to_tensors, save_tensors, write_atomic};
pub use metrics::MetricsLog;
pub use net::{Batches, Net};
pub use record::Summary;
use record::{checkpoint, diverged, summary, write_gradflow_heatmap, State, Sums};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Io(String),
    #[error("training diverged at step {step} (epoch {epoch}): {what}; first non-finite output: {layer}")]
    Diverged { step: usize, epoch: usize, what: String, layer: String },
}

/// Options that are not part of the experiment (they do not change its numbers).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub data_dir: Option<PathBuf>,
    /// Stop (with a checkpoint) after this many steps, as if interrupted: for testing --resume.
    pub stop_after: Option<usize>,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// Loss and accuracy of `net` over the held-out set (or the training set, with `train`).
pub fn evaluate<B>(net: &mut impl Net<B>, data: &impl Batches<B>, train: bool) -> (f64, Option<f64>) {
    let (mut loss, mut correct, mut count) = (0.0, 0, 0);
    for idx in data.eval_order(train) {
        let out = net.eval_step(&data.eval_batch(train, &idx));
        loss += out.loss * out.count as f64;
        correct += out.correct;
        count += out.count;
    }
    let n = count.max(1) as f64;
    (loss / n, data.classes().then_some(correct as f64 / n))
}

/// The order of the training examples in `epoch`.
pub(crate) fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(epoch as u64 + 1)));
    idx.shuffle(&mut rng);
    idx
}

fn io<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> TrainError + '_ {
    move |e| TrainError::Io(format!("{what}: {e}"))
}

fn check_targets(cfg: &Config, split: &Split) -> Result<(), TrainError> {
    match (cfg.loss(), &split.train.y) {
        (LossKind::CrossEntropy, Targets::Values(_)) => {
            Err(TrainError::Setup("train.loss = \"cross_entropy\" needs class labels, but this data set has real-valued targets: set train.loss = \"mse\"".into()))
        }
        (LossKind::Mse, Targets::Classes { .. }) => {
            Err(TrainError::Setup("train.loss = \"mse\" needs real-valued targets, but this data set has class labels: use train.loss = \"cross_entropy\"".into()))
        }
        _ => Ok(()),
    }
}

fn arch_name(cfg: &Config) -> String {
    serde_json::to_value(cfg.model.arch).unwrap().as_str().unwrap_or("?").to_string()
}

/// The model and data of `cfg`, checked against each other, and what to do with them.
fn with_model<R>(cfg: &Config, opts: &RunOptions, go: impl Job<R>) -> Result<R, TrainError> {
    match load_data(cfg, opts.data_dir.as_deref())? {
        Data::Flat(split) => {
            if cfg.model.arch.is_sequence() {
                return Err(TrainError::Setup(format!(
                    "model.arch = \"{}\" is a sequence model, but this data set gives flat examples: use a sequence data set (adding, copy, seq_mnist, mnist1d_seq, brown, text)",
                    arch_name(cfg)
                )));
            }
            check_targets(cfg, &split)?;
            let model = Model::build(&cfg.model, split.train.in_dim(), split.train.y.out_dim(), cfg.loss(), cfg.seed)
                .map_err(TrainError::Setup)?;
            go.run(&split, model)
        }
        Data::Seq(split) => {
            if !cfg.model.arch.is_sequence() {
                return Err(TrainError::Setup(format!(
                    "model.arch = \"{}\" is a feed-forward model, but data set {} gives sequences: use rnn_tanh, rnn_relu, lstm, gru, tcn or attention",
                    arch_name(cfg),
                    split.name
                )));
            }
            if cfg.train.loss.is_some() {
                return Err(TrainError::Setup("train.loss: sequence tasks choose their loss from their targets (mse for values, cross-entropy for classes); remove the key".into()));
            }
            let model =
                build_seq_model(&cfg.model, &split, cfg.train.bptt_truncate, cfg.seed).map_err(TrainError::Setup)?;
            go.run(&split, model)
        }
    }
}

/// Something to do with a model and its data, whatever their kind.
trait Job<R> {
    fn run<B>(self, data: &impl Batches<B>, model: impl Net<B>) -> Result<R, TrainError>;
}

/// A fresh run of `cfg` into `dir` (created; it must not hold a run already).
pub fn train(cfg: &Config, dir: &Path, opts: &RunOptions) -> Result<Summary, TrainError> {
    if dir.join("config.toml").exists() {
        return Err(TrainError::Setup(format!(
            "{} already holds a run: choose another --out, or continue it with --resume {}",
            dir.display(),
            dir.display()
        )));
    }
    struct Fresh<'a>(&'a Config, &'a Path, &'a RunOptions);
    impl Job<Summary> for Fresh<'_> {
        fn run<B>(self, data: &impl Batches<B>, model: impl Net<B>) -> Result<Summary, TrainError> {
            let Fresh(cfg, dir, opts) = self;
            let optim = cfg.optim.build::<f32>().map_err(|e| TrainError::Setup(format!("optim: {e}")))?;
            std::fs::create_dir_all(dir).map_err(io(&format!("cannot create {}", dir.display())))?;
            write_atomic(&dir.join("config.toml"), cfg.to_toml().as_bytes()).map_err(io("cannot write config.toml"))?;
            let log = MetricsLog::open(&dir.join("metrics.jsonl"), None).map_err(io("cannot open metrics.jsonl"))?;
            run(cfg, data, model, optim, State::default(), log, dir, opts)
        }
    }
    with_model(cfg, opts, Fresh(cfg, dir, opts))
}

/// Continue the run in `dir` from its last checkpoint, to the end of its config.
pub fn resume(dir: &Path, opts: &RunOptions) -> Result<Summary, TrainError> {
    let cfg = Config::load(&dir.join("config.toml"), &[])?;
    let state_path = dir.join("state.json");
    let state: State = serde_json::from_str(&std::fs::read_to_string(&state_path).map_err(|e| {
        TrainError::Setup(format!("{} has no checkpoint to resume ({}: {e})", dir.display(), state_path.display()))
    })?)
    .map_err(|e| TrainError::Setup(format!("{}: {e}", state_path.display())))?;
    struct Resume<'a>(&'a Config, &'a Path, &'a RunOptions, State);
    impl Job<Summary> for Resume<'_> {
        fn run<B>(self, data: &impl Batches<B>, mut model: impl Net<B>) -> Result<Summary, TrainError> {
            let Resume(cfg, dir, opts, state) = self;
            let weights = dir.join("model.safetensors");
            let tensors = load_tensors(&weights).map_err(TrainError::Setup)?;
            load_params(&mut model.params(), &tensors, &weights.display().to_string()).map_err(TrainError::Setup)?;
            let mut optim = cfg.optim.build::<f32>().map_err(|e| TrainError::Setup(format!("optim: {e}")))?;
            let opt_path = dir.join("optim.safetensors");
            let opt_state = load_tensors(&opt_path).map_err(TrainError::Setup)?;
            optim.load_state(&opt_state).map_err(|e| TrainError::Setup(format!("{}: {e}", opt_path.display())))?;
            let log = MetricsLog::open(&dir.join("metrics.jsonl"), Some(state.metrics_bytes))
                .map_err(io("cannot open metrics.jsonl"))?;
            run(cfg, data, model, optim, state, log, dir, opts)
        }
    }
    with_model(&cfg, opts, Resume(&cfg, dir, opts, state))
}

#[allow(clippy::too_many_arguments)]
fn run<B, M: Net<B>>(
    cfg: &Config,
    data: &impl Batches<B>,
    mut model: M,
    mut optim: Box<dyn Optimizer<f32>>,
    mut state: State,
    mut log: MetricsLog,
    dir: &Path,
    opts: &RunOptions,
) -> Result<Summary, TrainError> {
    let t = &cfg.train;
    if data.is_empty() {
        return Err(TrainError::Setup("the training set is empty".into()));
    }
    let per_epoch = data.train_order(t.batch_size, cfg.seed, 0).len();
    let classes = data.classes();
    let started = Instant::now();
    // Time spent before this process (a resumed run), plus this process's.
    let before = state.elapsed_s;
    let elapsed = || before + started.elapsed().as_secs_f64();
    let total_steps = per_epoch * t.epochs;
    let bar = (!opts.quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()).then(|| {
        let b = indicatif::ProgressBar::new(total_steps as u64);
        b.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {msg}").unwrap());
        b.set_position(state.step as u64);
        b
    });
    let say = |msg: String| {
        if opts.quiet {
        } else if let Some(b) = &bar {
            b.println(msg);
        } else {
            eprintln!("{msg}");
        }
    };
    let nparams = model.num_params();
    let baselines = data.baselines();
    let receptive_field = model.receptive_field();
    if let (Some(r), 0) = (receptive_field, state.step) {
        say(format!("receptive field: {r} steps"));
    }
    let mut last_eval: (Option<f64>, Option<f64>) = (None, None);
    let flow_every = cfg.probe.gradflow_every;
    let mut flow = if flow_every > 0 {
        let keep = (state.step > 0).then_some(state.gradflow_bytes);
        Some(MetricsLog::open(&dir.join("gradflow.jsonl"), keep).map_err(io("cannot open gradflow.jsonl"))?)
    } else {
        None
    };
    while state.epoch < t.epochs {
        let epoch = state.epoch;
        let order = data.train_order(t.batch_size, cfg.seed, epoch);
        for (b, idx) in order.iter().enumerate().skip(state.batch) {
            let batch = data.train_batch(idx);
            model.zero_grad();
            let tapping = flow.is_some() && state.step % flow_every == 0;
            if tapping {
                model.set_taps(true);
            }
            let out = model.train_step(&batch);
            let step = state.step;
            if let (true, Some(f)) = (tapping, flow.as_mut()) {
                model.set_taps(false);
                let norms: serde_json::Map<String, serde_json::Value> =
                    model.tap_norms().into_iter().map(|(n, v)| (n, json!(v))).collect();
                f.write(&json!({"step": step, "epoch": epoch, "norms": norms})).map_err(io("gradflow.jsonl"))?;
            }
            // A non-finite loss or gradient ends the run, naming the first block whose output
            // is not finite (or, when every output is, what overflowed).
            let stop = |model: &mut M, log: &mut MetricsLog, what: String, otherwise: String| {
                let layer = model.first_non_finite(&batch).unwrap_or(otherwise);
                diverged(dir, log, state.clone(), step, epoch, what, layer, nparams, elapsed())
            };
            if !out.loss.is_finite() {
                let otherwise = "none in the forward pass (the loss itself overflowed)".into();
                return Err(stop(&mut model, &mut log, format!("loss is {}", out.loss), otherwise));
            }
            let mut params = model.params();
            let norm = match cfg.optim.clip_grad_norm {
                Some(c) => clip_grad_norm(&mut params, c),
                None => grad_norm(&params),
            };
            if !norm.is_finite() {
                let bad = params.iter().find(|(_, p)| !p.grad.all_finite()).map(|(n, _)| n.clone()).unwrap_or_default();
                drop(params);
                let otherwise = format!("none; the first non-finite gradient is that of {bad}");
                return Err(stop(&mut model, &mut log, format!("gradient norm is {norm}"), otherwise));
            }
            if let Some(v) = t.clip_grad_value {
                clip_grad_value(&mut params, v);
            }
            let lr = cfg.optim.lr_at(step);
            optim.step(&mut params, lr as f32);
            drop(params);
            state.step += 1;
            state.batch = b + 1;
            state.sums.add(&out, norm);
            state.window.add(&out, norm);
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!("epoch {} loss {:.4}", epoch + 1, out.loss));
            }
            if t.log_every > 0 && state.step % t.log_every == 0 {
                log.write(&state.window.record("step", epoch, state.step, lr, elapsed(), classes))
                    .map_err(io("metrics.jsonl"))?;
                state.window = Sums::default();
            }
            if opts.stop_after == Some(state.step) && state.step < total_steps {
                state.metrics_bytes = log.len();
                state.gradflow_bytes = flow.as_ref().map_or(0, |f| f.len());
                state.elapsed_s = elapsed();
                checkpoint(dir, &mut model, optim.as_ref(), &state)?;
                say(format!(
                    "stopped after step {} (checkpoint written; continue with --resume {})",
                    state.step,
                    dir.display()
                ));
                return Ok(summary(&state, "stopped", nparams, None, last_eval, None));
            }
        }
        let lr = cfg.optim.lr_at(state.step.saturating_sub(1));
        let mut rec = state.sums.record("epoch", epoch, state.step, lr, elapsed(), classes);
        let last = epoch + 1 == t.epochs;
        if (epoch + 1) % t.eval_every == 0 || last {
            let (tl, ta) = evaluate(&mut model, data, false);
            rec["test_loss"] = json!(tl);
            if let Some(a) = ta {
                rec["test_accuracy"] = json!(a);
            }
            if matches!(cfg.data, DataConfig::Text { .. }) {
                // Character language models are compared in bits per character.
                rec["test_bits_per_char"] = json!(tl / std::f64::consts::LN_2);
            }
            for (k, v) in &baselines {
                rec[k] = v.clone();
            }
            if t.eval_train {
                let (l, a) = evaluate(&mut model, data, true);
                rec["train_eval_loss"] = json!(l);
                if let Some(a) = a {
                    rec["train_eval_accuracy"] = json!(a);
                }
            }
            last_eval = (Some(tl), ta);
        }
        log.write(&rec).map_err(io("metrics.jsonl"))?;
        say(format!(
            "epoch {:>3}/{}  loss {:.4}{}",
            epoch + 1,
            t.epochs,
            rec["loss"].as_f64().unwrap(),
            [
                ("accuracy", "acc"),
                ("train_eval_loss", "train loss (eval)"),
                ("test_loss", "test loss"),
                ("test_accuracy", "test acc"),
                ("test_bits_per_char", "test bits/char"),
            ]
            .iter()
            .filter_map(|(k, label)| rec.get(*k).and_then(|v| v.as_f64()).map(|v| format!("  {label} {v:.4}")))
            .collect::<String>(),
        ));
        let train_means = (rec["loss"].as_f64().unwrap(), rec.get("accuracy").and_then(|a| a.as_f64()));
        state.epoch += 1;
        state.batch = 0;
        state.sums = Sums::default();
        if (epoch + 1) % t.checkpoint_every == 0 || last {
            state.metrics_bytes = log.len();
            state.gradflow_bytes = flow.as_ref().map_or(0, |f| f.len());
            state.elapsed_s = elapsed();
            checkpoint(dir, &mut model, optim.as_ref(), &state)?;
        }
        if last {
            if flow.is_some() {
                write_gradflow_heatmap(dir).map_err(io("gradflow_heatmap.svg"))?;
            }
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            let mut s = summary(&state, "finished", nparams, Some(train_means), last_eval, None);
            s.receptive_field = receptive_field;
            write_atomic(&dir.join("summary.json"), serde_json::to_string_pretty(&s).unwrap().as_bytes())
                .map_err(io("summary.json"))?;
            return Ok(s);
        }
    }
    // Resumed a run that had already finished.
    Ok(summary(&state, "finished", nparams, None, last_eval, None))
}
