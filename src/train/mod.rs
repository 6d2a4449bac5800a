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

pub mod budget;
pub mod checkpoint;
pub mod folder;
mod metrics;
mod net;
mod record;

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use serde_json::json;

use crate::config::{load_data, Config, Data, DataConfig};
use crate::data::{Split, Targets};
use crate::nn::{LossKind, Model};
use crate::optim::{clip_grad_norm, clip_grad_value, grad_norm, Optimizer};
use crate::seq::build::build_seq_model;
pub use checkpoint::{load_params, load_tensors, params_to_tensors, save_tensors, write_atomic};
use folder::RunFolder;
pub use metrics::{MetricsLog, Record};
pub use net::{Batches, Net};
pub use record::Summary;
use record::{checkpoint, diverged, summary, write_gradflow_heatmap, write_summary, State, Sums};

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
    /// Another process is writing the run folder.
    #[error("{0}")]
    Busy(String),
    #[error("training diverged at step {step} (epoch {epoch}): {what}; first non-finite output: {layer}")]
    Diverged { step: usize, epoch: usize, what: String, layer: String },
    #[error("interrupted by {} after step {step}; a checkpoint was written: continue with `depthlab train --resume {}`", signal_name(*.signal), .dir.display())]
    Interrupted { signal: i32, step: usize, dir: PathBuf },
}

impl TrainError {
    /// The exit status a command should end with: 128 + the signal for an interrupted run
    /// (130 for SIGINT, 143 for SIGTERM), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            TrainError::Interrupted { signal, .. } => (128 + signal).clamp(0, 255) as u8,
            _ => 1,
        }
    }
}

pub fn signal_name(signal: i32) -> String {
    match signal {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        6 => "SIGABRT (an abort)".into(),
        9 => "SIGKILL (often the kernel's out-of-memory killer, or a scheduler's hard limit)".into(),
        11 => "SIGSEGV (a crash)".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// A request to stop a run cleanly: the signal number that asked for it (0: none). The command
/// sets it from SIGINT and SIGTERM; the loop checks it after each step.
pub type StopFlag = Arc<AtomicI32>;

/// Options that are not part of the experiment (they do not change its numbers).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub data_dir: Option<PathBuf>,
    /// Stop (with a checkpoint) after this many steps, as if interrupted: for testing --resume.
    pub stop_after: Option<usize>,
    /// Print nothing but errors.
    pub quiet: bool,
    /// Finish the current step, write a checkpoint and return `Interrupted` once this is set.
    pub stop: Option<StopFlag>,
    /// Refuse configs whose estimated memory exceeds this many bytes (default: the memory the
    /// machine has available).
    pub max_memory: Option<u64>,
    /// Threads the run uses; wins over `train.threads` (default: every core). The results do
    /// not depend on it.
    pub threads: Option<usize>,
}

/// One gradflow.jsonl record (`[probe] gradflow_every`): ||dL/dh|| of every tapped output of
/// the model's last backward (run with taps on), by name.
pub fn gradflow_record<B>(model: &impl Net<B>, step: usize, epoch: usize) -> serde_json::Value {
    let norms: serde_json::Map<String, serde_json::Value> =
        model.tap_norms().into_iter().map(|(n, v)| (n, json!(v))).collect();
    json!({"step": step, "epoch": epoch, "norms": norms})
}

/// The threads a run of `cfg` uses: `--threads`, else `train.threads`, else every core.
pub fn threads(cfg: &Config, opts: &RunOptions) -> usize {
    opts.threads.or(cfg.train.threads).unwrap_or_else(crate::tensor::par::all_cores).max(1)
}

/// Loss and accuracy of `net` over the held-out set (or the training set, with `train`); None
/// when that set is empty.
pub fn evaluate<B>(net: &mut impl Net<B>, data: &impl Batches<B>, train: bool) -> Option<(f64, Option<f64>)> {
    evaluate_heads(net, data, train).0
}

/// [`evaluate`], and the sums of each per-layer head over the same examples.
fn evaluate_heads<B>(
    net: &mut impl Net<B>,
    data: &impl Batches<B>,
    train: bool,
) -> (Option<(f64, Option<f64>)>, Vec<record::HeadSums>) {
    let (mut loss, mut correct, mut count) = (0.0, 0, 0);
    let mut heads: Vec<record::HeadSums> = Vec::new();
    for idx in data.eval_order(train) {
        let out = net.eval_step(&data.eval_batch(train, &idx));
        loss += out.loss * out.count as f64;
        correct += out.correct;
        count += out.count;
        heads.resize_with(out.heads.len(), Default::default);
        heads.iter_mut().zip(&out.heads).for_each(|(s, h)| s.add(h));
    }
    if count == 0 {
        return (None, heads);
    }
    let n = count as f64;
    (Some((loss / n, data.classes().then_some(correct as f64 / n))), heads)
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

fn arch_name(cfg: &Config) -> &'static str {
    cfg.model.arch.name()
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
            let mut model =
                Model::build(&cfg.model, split.train.in_dim(), split.train.y.out_dim(), cfg.loss(), cfg.seed)
                    .map_err(TrainError::Setup)?;
            model.set_threads(threads(cfg, opts));
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
            let mut model =
                build_seq_model(&cfg.model, &split, cfg.train.bptt_truncate, cfg.seed).map_err(TrainError::Setup)?;
            model.set_threads(threads(cfg, opts));
            go.run(&split, model)
        }
    }
}

/// Something to do with a model and its data, whatever their kind.
trait Job<R> {
    fn run<B>(self, data: &impl Batches<B>, model: impl Net<B>) -> Result<R, TrainError>;
}

/// Say early (before loading any data) that another process writes `dir`; the lock taken later
/// is what enforces it.
fn refuse_busy(dir: &Path) -> Result<(), TrainError> {
    match crate::files::writer(dir) {
        Some(holder) => Err(TrainError::Busy(crate::files::busy(dir, &holder))),
        None => Ok(()),
    }
}

fn lock_error(e: crate::files::LockError) -> TrainError {
    if e.busy {
        TrainError::Busy(e.message)
    } else {
        TrainError::Io(e.message)
    }
}

/// Why `dir` cannot take a fresh run, if it holds one (whole or failed).
fn refuse_existing(dir: &Path) -> Result<(), TrainError> {
    if !dir.join(folder::CONFIG).exists() {
        return Ok(());
    }
    let d = dir.display();
    if folder::has_checkpoint(dir) {
        return Err(TrainError::Setup(format!(
            "{d} already holds a run: choose another --out, or continue it with --resume {d}"
        )));
    }
    let how = std::fs::read_to_string(dir.join(folder::SUMMARY))
        .ok()
        .and_then(|t| serde_json::from_str::<Summary>(&t).ok())
        .and_then(|s| s.message)
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    Err(TrainError::Setup(format!(
        "{d} holds a run that stopped before its first checkpoint{how}: start it over with --resume {d}, or delete the folder"
    )))
}

/// A fresh run of `cfg` into `dir` (created; it must not hold a run already).
pub fn train(cfg: &Config, dir: &Path, opts: &RunOptions) -> Result<Summary, TrainError> {
    refuse_busy(dir)?;
    refuse_existing(dir)?;
    budget::check(cfg, opts.max_memory)?;
    struct Fresh<'a>(&'a Config, &'a Path, &'a RunOptions);
    impl Job<Summary> for Fresh<'_> {
        fn run<B>(self, data: &impl Batches<B>, model: impl Net<B>) -> Result<Summary, TrainError> {
            let Fresh(cfg, dir, opts) = self;
            check_data(data)?;
            let optim = cfg.optim.build::<f32>().map_err(|e| TrainError::Setup(format!("optim: {e}")))?;
            let folder = RunFolder::lock(dir).map_err(lock_error)?;
            refuse_existing(dir)?;
            start(cfg, data, model, optim, folder, opts)
        }
    }
    with_model(cfg, opts, Fresh(cfg, dir, opts))
}

/// What every run needs of its data, checked before its folder is made.
fn check_data<B>(data: &impl Batches<B>) -> Result<(), TrainError> {
    if data.is_empty() {
        return Err(TrainError::Setup(
            "the training set is empty: give the data set at least one training example".into(),
        ));
    }
    Ok(())
}

/// A run from its first step, in a folder held and empty of any run.
fn start<B, M: Net<B>>(
    cfg: &Config,
    data: &impl Batches<B>,
    model: M,
    optim: Box<dyn Optimizer<f32>>,
    folder: RunFolder,
    opts: &RunOptions,
) -> Result<Summary, TrainError> {
    write_atomic(&folder.path(folder::CONFIG), cfg.to_toml().as_bytes()).map_err(io("cannot write config.toml"))?;
    let log = MetricsLog::open(&folder.path(folder::METRICS), None).map_err(io("cannot open metrics.jsonl"))?;
    run(cfg, data, model, optim, State::default(), log, &folder, opts)
}

/// Continue the run in `dir` from its last checkpoint, to the end of its config. A run that
/// never reached its first checkpoint starts over from its config.
pub fn resume(dir: &Path, opts: &RunOptions) -> Result<Summary, TrainError> {
    let cfg_path = dir.join(folder::CONFIG);
    refuse_busy(dir)?;
    if !cfg_path.is_file() && crate::files::was_locked(dir) {
        return Err(TrainError::Setup(format!(
            "{} was interrupted before its run wrote config.toml: there is nothing to resume; start the run again with `depthlab train CONFIG --out {}`",
            dir.display(),
            dir.display()
        )));
    }
    if !cfg_path.is_file() {
        return Err(TrainError::Setup(format!(
            "{} is not a run folder: it has no config.toml (give a folder written by `depthlab train`)",
            dir.display()
        )));
    }
    let cfg = Config::load(&cfg_path, &[])?;
    budget::check(&cfg, opts.max_memory)?;
    struct Resume<'a>(&'a Config, &'a Path, &'a RunOptions);
    impl Job<Summary> for Resume<'_> {
        fn run<B>(self, data: &impl Batches<B>, mut model: impl Net<B>) -> Result<Summary, TrainError> {
            let Resume(cfg, dir, opts) = self;
            check_data(data)?;
            let mut optim = cfg.optim.build::<f32>().map_err(|e| TrainError::Setup(format!("optim: {e}")))?;
            let folder = RunFolder::lock(dir).map_err(lock_error)?;
            let Some(folder::CheckpointFiles { model: weights, optim: opt_state, state }) =
                folder::read_checkpoint(dir).map_err(TrainError::Setup)?
            else {
                if !opts.quiet {
                    let _ = writeln!(
                        std::io::stderr(),
                        "{}: no checkpoint yet; starting the run over from its config.toml",
                        dir.display()
                    );
                }
                folder.reset().map_err(TrainError::Io)?;
                return start(cfg, data, model, optim, folder, opts);
            };
            let origin = |f: &str| dir.join(f).display().to_string();
            let state: State = serde_json::from_value(state)
                .map_err(|e| TrainError::Setup(format!("{}: not a checkpoint state: {e}", origin(folder::STATE))))?;
            let tensors =
                checkpoint::tensors_from_bytes(&weights, &origin(folder::MODEL)).map_err(TrainError::Setup)?;
            load_params(&mut model.params(), &tensors, &origin(folder::MODEL)).map_err(TrainError::Setup)?;
            let opt_tensors =
                checkpoint::tensors_from_bytes(&opt_state, &origin(folder::OPTIM)).map_err(TrainError::Setup)?;
            optim.load_state(&opt_tensors).map_err(|e| TrainError::Setup(format!("{}: {e}", origin(folder::OPTIM))))?;
            let log = MetricsLog::open(&folder.path(folder::METRICS), Some(state.metrics_bytes))
                .map_err(io("cannot open metrics.jsonl"))?;
            run(cfg, data, model, optim, state, log, &folder, opts)
        }
    }
    with_model(&cfg, opts, Resume(&cfg, dir, opts))
}

/// Optimizer steps of a whole run of `cfg` on its loaded data: the batches of epoch 0 (every
/// epoch has as many) times `train.epochs`. The progress bars (the command's, the Python
/// package's) have this length.
pub fn total_steps(cfg: &Config, data: &Data) -> usize {
    match data {
        Data::Flat(split) => steps_of(cfg, split),
        Data::Seq(split) => steps_of(cfg, split),
    }
}

fn steps_of<B>(cfg: &Config, data: &impl Batches<B>) -> usize {
    data.train_order(cfg.train.batch_size, cfg.seed, 0).len() * cfg.train.epochs
}

#[allow(clippy::too_many_arguments)]
fn run<B, M: Net<B>>(
    cfg: &Config,
    data: &impl Batches<B>,
    mut model: M,
    mut optim: Box<dyn Optimizer<f32>>,
    mut state: State,
    mut log: MetricsLog,
    folder: &RunFolder,
    opts: &RunOptions,
) -> Result<Summary, TrainError> {
    let t = &cfg.train;
    let dir = folder.dir();
    let classes = data.classes();
    let started = Instant::now();
    // Time spent before this process (a resumed run), plus this process's.
    let before = state.elapsed_s;
    let elapsed = || before + started.elapsed().as_secs_f64();
    let (cpu_before, cpu_started) = (state.cpu_s, record::process_cpu_s());
    let cpu = || cpu_before + record::process_cpu_s() - cpu_started;
    let total_steps = steps_of(cfg, data);
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
            // A closed stderr must not stop a run.
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
    };
    let nparams = model.num_params();
    let baselines = data.baselines();
    let receptive_field = model.receptive_field();
    if state.step == 0 {
        if let Some(r) = receptive_field {
            say(format!("receptive field: {r} steps"));
        }
        if data.eval_order(false).is_empty() {
            say("no held-out examples: the test loss is not measured".into());
        }
    }
    let flow_every = cfg.probe.gradflow_every;
    let mut flow = if flow_every > 0 {
        let keep = (state.step > 0).then_some(state.gradflow_bytes);
        Some(MetricsLog::open(&folder.path(folder::GRADFLOW), keep).map_err(io("cannot open gradflow.jsonl"))?)
    } else {
        None
    };
    let save =
        |model: &mut M, state: &mut State, log: &MetricsLog, flow: &Option<MetricsLog>, optim: &dyn Optimizer<f32>| {
            state.metrics_bytes = log.len();
            state.metrics_sha256 = Some(log.log().sha256());
            state.gradflow_bytes = flow.as_ref().map_or(0, |f| f.len());
            state.elapsed_s = elapsed();
            state.cpu_s = cpu();
            let logs: Vec<&crate::files::AppendLog> =
                std::iter::once(log.log()).chain(flow.as_ref().map(|f| f.log())).collect();
            checkpoint(folder, model, optim, state, &logs)
        };
    let finish = |state: &State| -> Result<Summary, TrainError> {
        if flow_every > 0 {
            write_gradflow_heatmap(dir).map_err(io("gradflow_heatmap.svg"))?;
        }
        let mut s = summary(state, "finished", nparams, None);
        s.receptive_field = receptive_field;
        write_summary(dir, &s)?;
        Ok(s)
    };
    let stop_requested = || opts.stop.as_ref().map_or(0, |f| f.load(Ordering::SeqCst));
    while state.epoch < t.epochs {
        let epoch = state.epoch;
        let order = data.train_order(t.batch_size, cfg.seed, epoch);
        for (b, idx) in order.iter().enumerate().skip(state.batch) {
            let batch = data.train_batch(idx);
            model.zero_grad();
            let tapping = flow.is_some() && state.step.is_multiple_of(flow_every);
            if tapping {
                model.set_taps(true);
            }
            let out = model.train_step(&batch);
            let step = state.step;
            if let (true, Some(f)) = (tapping, flow.as_mut()) {
                model.set_taps(false);
                f.write(&gradflow_record(&model, step, epoch)).map_err(io("gradflow.jsonl"))?;
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
            // The update is elementwise: the model's threads share it.
            crate::tensor::par::with_threads(threads(cfg, opts), || optim.step(&mut params, lr as f32));
            drop(params);
            // A finite loss can still run away; say so once, without stopping the run. Cross-
            // entropy is measured against 1 nat (above 1e6 the logits are that large), other
            // losses against their first value.
            let first = *state.first_loss.get_or_insert(out.loss);
            let scale = if classes { 1.0 } else { first.max(1.0) };
            if state.warnings.is_empty() && out.loss > LOSS_GROWTH * scale {
                let against = if classes { "nats".to_string() } else { format!("times its first value ({first:.3e})") };
                let w = format!(
                    "the loss reached {:.3e} at step {}, more than {LOSS_GROWTH:.0e} {against}: the run is probably diverging or badly initialised (lower optim.lr or the init's scale, or set optim.clip_grad_norm)",
                    out.loss,
                    step + 1
                );
                say(format!("warning: {w}"));
                state.warnings.push(w);
            }
            state.step += 1;
            state.batch = b + 1;
            state.sums.add(&out, norm);
            state.window.add(&out, norm);
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!("epoch {} loss {:.4}", epoch + 1, out.loss));
            }
            if t.log_every > 0 && state.step.is_multiple_of(t.log_every) {
                log.write(&state.window.record("step", epoch, state.step, lr, elapsed(), classes))
                    .map_err(io("metrics.jsonl"))?;
                state.window = Sums::default();
            }
            let signal = stop_requested();
            if (opts.stop_after == Some(state.step) || signal != 0) && state.step < total_steps {
                save(&mut model, &mut state, &log, &flow, optim.as_ref())?;
                if signal != 0 {
                    if let Some(b) = &bar {
                        b.abandon();
                    }
                    return Err(TrainError::Interrupted { signal, step: state.step, dir: dir.to_owned() });
                }
                say(format!(
                    "stopped after step {} (checkpoint written; continue with --resume {})",
                    state.step,
                    dir.display()
                ));
                return Ok(summary(&state, "stopped", nparams, None));
            }
        }
        let lr = cfg.optim.lr_at(state.step.saturating_sub(1));
        let mut rec = state.sums.record("epoch", epoch, state.step, lr, elapsed(), classes);
        let last = epoch + 1 == t.epochs;
        if (epoch + 1).is_multiple_of(t.eval_every) || last {
            let (test, heads) = evaluate_heads(&mut model, data, false);
            record::head_fields(&mut rec, &heads, "test_");
            if let Some((tl, ta)) = test {
                rec["test_loss"] = json!(tl);
                if let Some(a) = ta {
                    rec["test_accuracy"] = json!(a);
                }
                if matches!(cfg.data, DataConfig::Text { .. }) {
                    // Character language models are compared in bits per character.
                    rec["test_bits_per_char"] = json!(tl / std::f64::consts::LN_2);
                }
                state.last_eval = Some((tl, ta));
            }
            for (k, v) in &baselines {
                rec[k] = v.clone();
            }
            if t.eval_train {
                let (train, heads) = evaluate_heads(&mut model, data, true);
                record::head_fields(&mut rec, &heads, "train_eval_");
                if let Some((l, a)) = train {
                    rec["train_eval_loss"] = json!(l);
                    if let Some(a) = a {
                        rec["train_eval_accuracy"] = json!(a);
                    }
                }
            }
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
        state.train_means = Some((rec["loss"].as_f64().unwrap(), rec.get("accuracy").and_then(|a| a.as_f64())));
        state.epoch += 1;
        state.batch = 0;
        state.sums = Sums::default();
        if (epoch + 1).is_multiple_of(t.checkpoint_every) || last {
            save(&mut model, &mut state, &log, &flow, optim.as_ref())?;
        }
        if last {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
        }
    }
    // Here at the end of the last epoch, or on resuming a run that had finished (whose summary
    // a crash may have kept from being written).
    finish(&state)
}

/// A loss this many nats (cross-entropy), or times its first value (or 1, if larger), draws a
/// warning.
const LOSS_GROWTH: f64 = 1e6;
