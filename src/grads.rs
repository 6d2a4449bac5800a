//! `depthlab grads`: one forward and one backward pass of a model on a given batch, with
//! weights loaded by their PyTorch state-dict names, everything written to one safetensors file
//! so that it can be set beside PyTorch's numbers (tools/torch_fixtures.py, docs/pytorch.md).
//!
//! The output file holds f32 tensors:
//!
//! * `loss` `[1]`: the optimised loss (cross-entropy or MSE, mean; plus `weight_j * loss_j` for
//!   auxiliary heads). Without a target, the loss is the plain sum of the main outputs (so
//!   dL/d(output) is all ones and auxiliary heads get no gradient).
//! * `output`: the model's output, `[batch, out]` (feed-forward models, and sequence models
//!   read at the last step), or `[batch, time, out]` (per-step readout, chosen by per-step
//!   targets).
//! * `grad.<name>` for every parameter `<name>`, in the parameter's own shape.
//! * `act.<block>`: dL/d(output of the block), the total gradient reaching that tensor.
//!   Feed-forward models: `act.stem`, `act.layers.{i}`, `act.head`, each `[batch, width]`
//!   (dense stacks: `act.layers` `[batch, width + depth*growth]` or `[batch, depth*width]` and
//!   `act.layers.{l}` per layer). Sequence models: `act.head` (the shape of `output`),
//!   `act.embed` (token inputs) and `act.<body block>` `[batch, time, width]`
//!   (`act.rnn`, `act.tcn`, `act.input`, `act.attn.{i}`), and per step `[batch, hidden]`:
//!   `act.rnn.l{k}.h.{t}` (and `act.rnn.l{k}.c.{t}` for LSTM, `act.rnn.l{k}_reverse.h.{t}`
//!   for the backward direction) and `act.tcn.l{i}.h.{t}` (the output of level i).
//!
//! Inputs are .npy arrays: feed-forward `[batch, features]` float32 (float64 is converted);
//! sequences `[batch, time, features]` float, or int64 tokens `[batch, time]` (an embedding).
//! Targets: int64 class labels `[batch]` (cross-entropy), `[batch, time]` for per-step labels
//! (cross-entropy over every step; -100 marks an unscored step, as PyTorch's `ignore_index`),
//! or float `[batch, out]` values (MSE). The sizes the weights fix (input features, classes,
//! vocabulary, learned positions) are read off the weight file, and the arrays must fit them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use safetensors::tensor::Dtype;
use safetensors::SafeTensors;

use crate::config::ModelSpec;
use crate::data::seq::{SeqDataset, SeqInputs, SeqSplit, SeqTargets, IGNORE};
use crate::nn::loss::LossKind;
use crate::nn::{join, Arch, Ctx, Model, ParamList, Target};
use crate::npy::{self, Array, Data};
use crate::seq::batch::{make_batch, SeqBatch};
use crate::seq::build::build_seq_model;
use crate::seq::model::{Readout, SeqModel};
use crate::seq::{Seq, SeqBlock};
use crate::tensor::Mat;
use crate::train::budget::{self, Dims};
use crate::train::checkpoint::{load_params, params_to_tensors, save_tensors, NamedTensor};

/// PyTorch's default `ignore_index` of cross-entropy.
pub const TORCH_IGNORE_INDEX: i64 = -100;

/// The command's arguments.
#[derive(Clone, Debug)]
pub struct GradsArgs {
    pub config: PathBuf,
    pub sets: Vec<String>,
    pub weights: PathBuf,
    pub input: PathBuf,
    pub target: Option<PathBuf>,
    /// The targets named by per-layer heads (`model.layer_heads[j].target`): (name, file).
    pub head_targets: Vec<(String, PathBuf)>,
    pub out: PathBuf,
}

/// `NAME=FILE` of `--head-target`.
pub fn parse_head_target(arg: &str) -> Result<(String, PathBuf), String> {
    match arg.split_once('=') {
        Some((n, f)) if !n.trim().is_empty() && !f.trim().is_empty() => {
            Ok((n.trim().to_string(), PathBuf::from(f.trim())))
        }
        _ => Err(format!("--head-target {arg}: expected NAME=FILE, e.g. --head-target base=target_base.npy")),
    }
}

/// One tensor of a weight file: its values when its dtype is F32 or F64 (converted to f32).
#[derive(Clone, Debug)]
pub struct WeightTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub values: Option<Vec<f32>>,
}

/// Every tensor of a safetensors file, whatever its dtype (checked against the model later).
pub fn read_weights(path: &Path) -> Result<Vec<WeightTensor>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    weights_from_bytes(&data, &path.display().to_string())
}

/// [`read_weights`] of a file's bytes; `origin` names it in errors.
pub fn weights_from_bytes(data: &[u8], origin: &str) -> Result<Vec<WeightTensor>, String> {
    let st = SafeTensors::deserialize(data).map_err(|e| format!("{origin}: not a safetensors file: {e}"))?;
    let mut out: Vec<WeightTensor> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let raw = view.data();
            let values = match view.dtype() {
                Dtype::F32 => Some(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
                Dtype::F64 => {
                    Some(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect())
                }
                _ => None,
            };
            WeightTensor { name, dtype: view.dtype(), shape: view.shape().to_vec(), values }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Everything the computation reads, with the names of the files for errors.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// None: the weights are drawn from the config's seed.
    pub weights: Option<Vec<WeightTensor>>,
    pub weights_origin: String,
    pub input: Array,
    pub input_origin: String,
    pub target: Option<Array>,
    pub target_origin: String,
    /// The targets of per-layer heads, by name: (name, array, origin).
    pub head_targets: Vec<(String, Array, String)>,
    /// Model outputs when no weight file fixes them (classes; MSE targets give their own width).
    pub out_dim: Option<usize>,
}

impl Loaded {
    /// Read the files named by `args`.
    pub fn read(args: &GradsArgs) -> Result<Loaded, String> {
        let weights = read_weights(&args.weights)?;
        let input = npy::read(&args.input)?;
        let target = args.target.as_deref().map(npy::read).transpose()?;
        let head_targets = args
            .head_targets
            .iter()
            .map(|(n, p)| Ok((n.clone(), npy::read(p)?, p.display().to_string())))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Loaded {
            weights: Some(weights),
            weights_origin: args.weights.display().to_string(),
            input,
            input_origin: args.input.display().to_string(),
            target,
            target_origin: args.target.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            head_targets,
            out_dim: None,
        })
    }

    fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.weights.as_ref()?.iter().find(|t| t.name == name).map(|t| &t.shape[..])
    }

    /// Dimension `axis` of the weight `name`, when the file has it with at least that rank.
    fn dim_of(&self, name: &str, axis: usize) -> Option<(usize, String)> {
        let s = self.shape_of(name)?;
        s.get(axis).map(|&d| (d, format!("{name} {s:?}")))
    }
}

/// The targets, as the models take them.
#[derive(Clone, Debug)]
pub enum FlatTarget {
    /// No target: the loss is the sum of the outputs.
    None,
    Classes(Vec<u32>),
    Values(Mat<f32>),
}

/// A model, its weights loaded, and the batch to run it on.
pub enum Problem {
    Flat { model: Box<Model<f32>>, x: Mat<f32>, target: FlatTarget },
    Seq { model: Box<SeqModel<f32>>, batch: SeqBatch<f32>, has_target: bool, probes: Vec<Record> },
}

/// What a `SeqBlock` probe recorded in the last backward: dL/d(output), dL/d(input).
type Record = Arc<Mutex<(Option<Seq<f32>>, Option<Seq<f32>>)>>;

/// A sequence block that records the gradients at its output and input as they pass.
struct Probe {
    inner: Box<dyn SeqBlock<f32>>,
    rec: Record,
}

impl SeqBlock<f32> for Probe {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn in_dim(&self) -> usize {
        self.inner.in_dim()
    }
    fn out_dim(&self) -> usize {
        self.inner.out_dim()
    }
    fn forward(&mut self, x: &Seq<f32>, ctx: &Ctx) -> Seq<f32> {
        self.inner.forward(x, ctx)
    }
    fn backward(&mut self, dy: &Seq<f32>) -> Seq<f32> {
        let dx = self.inner.backward(dy);
        *self.rec.lock().unwrap() = (Some(dy.clone()), Some(dx.clone()));
        dx
    }
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, f32>) {
        self.inner.params(prefix, out);
    }
    fn set_taps(&mut self, on: bool) {
        self.inner.set_taps(on);
    }
    fn taps(&self, prefix: &str, out: &mut Vec<(String, Mat<f32>)>) {
        self.inner.taps(prefix, out);
    }
    fn receptive_field(&self) -> Option<usize> {
        self.inner.receptive_field()
    }
    fn layers(&self) -> usize {
        self.inner.layers()
    }
    fn layer_output(&self, k: usize) -> Option<Seq<f32>> {
        self.inner.layer_output(k)
    }
    fn add_layer_grad(&mut self, k: usize, g: &Seq<f32>) {
        self.inner.add_layer_grad(k, g)
    }
}

fn shape_str(s: &[usize]) -> String {
    format!("{s:?}")
}

/// Real values of an array that must be float32 or float64.
fn floats(a: &Array, origin: &str, what: &str, want: &str) -> Result<Vec<f32>, String> {
    a.to_f32().ok_or_else(|| {
        format!(
            "{origin}: {what} is {} of shape {}; expected float32 (or float64) of shape {want}",
            a.dtype().name(),
            shape_str(&a.shape)
        )
    })
}

/// Float regression targets `[n, out]`, `out` fixed by the head's weights when they are known;
/// `note` says what one row is.
fn regression_targets(
    t: &Array,
    head: Option<&(usize, String)>,
    n: usize,
    origin: &str,
    note: &str,
) -> Result<(usize, Vec<f32>), String> {
    let out = head.map(|h| h.0).or(t.shape.get(1).copied()).unwrap_or(1);
    let want = format!("[{n}, {out}]{}", head.map(|h| format!(" (outputs from {})", h.1)).unwrap_or_default());
    if t.shape != [n, out] {
        return Err(format!("{origin}: regression targets have shape {}; expected {want}{note}", shape_str(&t.shape)));
    }
    Ok((out, floats(t, origin, "the target", &want)?))
}

fn ints(a: &Array) -> Option<&[i64]> {
    match &a.data {
        Data::I64(v) => Some(v),
        _ => None,
    }
}

/// Class labels `0..classes` (and, when `ignore` allows, -100 for an unscored step).
fn labels(v: &[i64], classes: usize, origin: &str, ignore: bool) -> Result<Vec<u32>, String> {
    v.iter()
        .map(|&l| {
            if ignore && l == TORCH_IGNORE_INDEX {
                Ok(IGNORE)
            } else if l >= 0 && (l as usize) < classes {
                Ok(l as u32)
            } else {
                Err(format!(
                    "{origin}: label {l} is out of range: the model has {classes} classes (0..{}){}",
                    classes.saturating_sub(1),
                    if ignore { ", and -100 marks an unscored step" } else { "" }
                ))
            }
        })
        .collect()
}

/// The loss kind the target asks for, checked against `train.loss` when the config sets it.
fn loss_kind(cfg: &ModelSpec, target: Option<&Array>, origin: &str) -> Result<Option<LossKind>, String> {
    let Some(t) = target else { return Ok(None) };
    let kind = if t.dtype() == npy::DType::I64 { LossKind::CrossEntropy } else { LossKind::Mse };
    if let Some(k) = cfg.loss {
        if k != kind {
            return Err(format!(
                "{origin}: {} targets mean {kind:?} loss, but the config sets train.loss = {k:?} (class labels are int64, regression targets float)",
                t.dtype().name()
            ));
        }
    }
    Ok(Some(kind))
}

/// Build the model the config describes, for these arrays, with the weights of `loaded` (or,
/// without, drawn from the config's seed), and check the arrays against it.
pub fn setup(cfg: &ModelSpec, loaded: &Loaded) -> Result<Problem, String> {
    cfg.model.validate()?;
    let mut p = if cfg.model.arch.is_sequence() { setup_seq(cfg, loaded)? } else { setup_flat(cfg, loaded)? };
    if let Some(w) = &loaded.weights {
        load_weights(&mut p.params(), w, &loaded.weights_origin)?;
    }
    Ok(p)
}

fn out_dim(loaded: &Loaded, fallback: Option<usize>) -> usize {
    loaded.dim_of("head.weight", 0).map(|d| d.0).or(loaded.out_dim).or(fallback).unwrap_or(1)
}

fn setup_flat(cfg: &ModelSpec, loaded: &Loaded) -> Result<Problem, String> {
    let (x, origin) = (&loaded.input, &loaded.input_origin);
    let from_w = loaded.dim_of("stem.linear.weight", 1);
    let features = from_w.as_ref().map(|d| d.0);
    let want = match &from_w {
        Some((d, src)) => format!("[batch, {d}] (features from {src})"),
        None => "[batch, features]".into(),
    };
    if x.shape.len() != 2 || x.shape[0] == 0 || features.is_some_and(|f| f != x.shape[1]) {
        return Err(format!(
            "{origin}: input has shape {}; model.arch = {:?} expects {want}",
            shape_str(&x.shape),
            arch_name(cfg.model.arch)
        ));
    }
    let values = floats(x, origin, "input", &want)?;
    let (n, d) = (x.shape[0], x.shape[1]);
    let x = Mat::from_vec(n, d, values);
    let kind = loss_kind(cfg, loaded.target.as_ref(), &loaded.target_origin)?;
    let head = loaded.dim_of("head.weight", 0);
    let (target, out) = match &loaded.target {
        None => (FlatTarget::None, out_dim(loaded, None)),
        Some(t) => {
            let o = &loaded.target_origin;
            if let Some(v) = ints(t) {
                let classes = out_dim(loaded, v.iter().max().map(|&m| m.max(0) as usize + 1));
                if t.shape != [n] {
                    return Err(format!(
                        "{o}: class labels have shape {}; expected [{n}] (one int64 label per example)",
                        shape_str(&t.shape)
                    ));
                }
                (FlatTarget::Classes(labels(v, classes, o, false)?), classes)
            } else {
                let (out, values) = regression_targets(t, head.as_ref(), n, o, "")?;
                (FlatTarget::Values(Mat::from_vec(n, out, values)), out)
            }
        }
    };
    let dims = Dims { input: d, tokens: false, out, time: 1, examples: 0, batch: n };
    budget::refuse_over(&budget::model_estimate(&cfg.model, &dims, 0.0), None, "this model and batch")?;
    let model = Model::build(&cfg.model, d, out, kind.unwrap_or(LossKind::CrossEntropy), cfg.seed)?;
    Ok(Problem::Flat { model: Box::new(model), x, target })
}

fn arch_name(a: Arch) -> &'static str {
    a.name()
}

fn setup_seq(cfg: &ModelSpec, loaded: &Loaded) -> Result<Problem, String> {
    let (x, origin) = (&loaded.input, &loaded.input_origin);
    let m = &cfg.model;
    let arch = arch_name(m.arch);
    let tokens = x.dtype() == npy::DType::I64;
    let (n, time) = (x.shape.first().copied().unwrap_or(0), x.shape.get(1).copied().unwrap_or(0));
    // The sizes the weights fix.
    let features = if tokens {
        None
    } else {
        match m.arch {
            Arch::Tcn => loaded.dim_of("tcn.levels.0.conv1.weight", 1),
            Arch::Attention => loaded.dim_of("input.weight", 1).or(loaded
                .weights
                .is_some()
                .then(|| (m.width, "model.width (the weights have no input.weight)".into()))),
            _ => loaded.dim_of("rnn.weight_ih_l0", 1),
        }
    };
    let ok = if tokens {
        x.shape.len() == 2
    } else {
        x.shape.len() == 3 && features.as_ref().is_none_or(|f| f.0 == x.shape[2])
    };
    if !ok || n == 0 || time == 0 {
        let f = features.as_ref().map(|(d, src)| format!("{d}] (features from {src})")).unwrap_or("features]".into());
        return Err(format!(
            "{origin}: input is {} of shape {}; model.arch = {arch:?} expects float32 [batch, time, {f} or int64 tokens [batch, time]",
            x.dtype().name(),
            shape_str(&x.shape)
        ));
    }
    let longest = loaded.dim_of("attn.0.pos.weight", 0);
    if let Some((max_len, src)) = &longest {
        if time > *max_len {
            return Err(format!("{origin}: input has {time} steps, but the learned positions ({src}) go to {max_len}"));
        }
    }
    let inputs = if let Some(v) = ints(x) {
        let vocab = loaded
            .dim_of("embed.weight", 0)
            .map(|d| d.0)
            .unwrap_or(v.iter().max().map_or(1, |&m| m.max(0) as usize + 1));
        if let Some(&bad) = v.iter().find(|&&t| t < 0 || t as usize >= vocab) {
            return Err(format!(
                "{origin}: token {bad} is out of range: the vocabulary (embed.weight) has {vocab} tokens"
            ));
        }
        let seqs = (0..n).map(|b| v[b * time..(b + 1) * time].iter().map(|&t| t as u32).collect()).collect();
        SeqInputs::Tokens { seqs, vocab }
    } else {
        let dim = x.shape[2];
        SeqInputs::Real { n, time, dim, values: floats(x, origin, "input", "[batch, time, features]")? }
    };
    loss_kind(cfg, loaded.target.as_ref(), &loaded.target_origin)?;
    let head = loaded.dim_of("head.weight", 0);
    let targets = match &loaded.target {
        None => SeqTargets::LastClass { labels: vec![0; n], n_classes: out_dim(loaded, None) },
        Some(t) => seq_targets(t, head, loaded.out_dim, n, time, &loaded.target_origin)?,
    };
    let mut train = SeqDataset::new(inputs, targets);
    train.named = named_targets(cfg, loaded, n, time)?;
    // A learned position table as long as the weights': one dummy sequence of that length.
    let test_len = longest.map(|l| l.0).unwrap_or(time);
    let test = match &train.inputs {
        SeqInputs::Tokens { vocab, .. } => SeqInputs::Tokens { seqs: vec![vec![0; test_len]], vocab: *vocab },
        SeqInputs::Real { dim, .. } => {
            SeqInputs::Real { n: 1, time: test_len, dim: *dim, values: vec![0.0; test_len * dim] }
        }
    };
    let test = SeqDataset::new(test, SeqTargets::LastClass { labels: vec![0], n_classes: 1 });
    let split = SeqSplit { train, test, name: "grads batch".into() };
    let dims = Dims {
        input: split.train.in_dim(),
        tokens,
        out: split.train.out_dim(),
        time: test_len.max(time),
        examples: 0,
        batch: n,
    };
    budget::refuse_over(&budget::model_estimate(m, &dims, 0.0), None, "this model and batch")?;
    let model = build_seq_model::<f32>(m, &split, cfg.bptt_truncate, cfg.seed)?;
    let mut model = model;
    let batch = make_batch(&split.train, &(0..n).collect::<Vec<_>>());
    // Every body block behind a probe, to record the gradient at its output.
    let body = std::mem::take(&mut model.body);
    let mut probes = Vec::new();
    for (name, inner) in body {
        let rec: Record = Arc::default();
        probes.push(rec.clone());
        model.body.push((name, Box::new(Probe { inner, rec })));
    }
    Ok(Problem::Seq { model: Box::new(model), batch, has_target: loaded.target.is_some(), probes })
}

/// Sequence targets of an array: int64 `[n]` (one class per sequence), `[n, time]` (per step,
/// -100 unscored) or float `[n, out]` (MSE). `head` is the weight fixing the outputs (classes
/// or width), `fallback` the outputs when there is none and the labels do not say.
fn seq_targets(
    t: &Array,
    head: Option<(usize, String)>,
    fallback: Option<usize>,
    n: usize,
    time: usize,
    o: &str,
) -> Result<SeqTargets, String> {
    if let Some(v) = ints(t) {
        let classes =
            head.as_ref().map(|h| h.0).or(fallback).or(v.iter().max().map(|&m| m.max(0) as usize + 1)).unwrap_or(1);
        if t.shape == [n] {
            Ok(SeqTargets::LastClass { labels: labels(v, classes, o, false)?, n_classes: classes })
        } else if t.shape == [n, time] {
            let l = labels(v, classes, o, true)?;
            Ok(SeqTargets::EachClass { labels: l.chunks(time).map(|c| c.to_vec()).collect(), n_classes: classes })
        } else {
            Err(format!(
                "{o}: class labels have shape {}; expected [{n}] (one per sequence) or [{n}, {time}] (one per step)",
                shape_str(&t.shape)
            ))
        }
    } else {
        let note = " (one vector per sequence, read at the last step)";
        let (out, values) = regression_targets(t, head.as_ref(), n, o, note)?;
        Ok(SeqTargets::LastValue { dim: out, values })
    }
}

/// The named targets the config's layer heads learn, from `--head-target` files. Without a
/// main target nothing is scored (the loss is the sum of the main outputs), and a head's
/// targets are then placeholders that fix only its output size.
fn named_targets(cfg: &ModelSpec, loaded: &Loaded, n: usize, time: usize) -> Result<Vec<(String, SeqTargets)>, String> {
    let heads = &cfg.model.layer_heads;
    if let Some((name, _, origin)) =
        loaded.head_targets.iter().find(|(name, _, _)| !heads.iter().any(|h| h.target.as_deref() == Some(name)))
    {
        return Err(format!(
            "--head-target {name}={origin}: no head of the config learns targets named {name:?} (model.layer_heads[j].target)"
        ));
    }
    let mut out: Vec<(String, SeqTargets)> = Vec::new();
    for (j, h) in heads.iter().enumerate() {
        let Some(name) = h.target.as_deref() else { continue };
        if out.iter().any(|(k, _)| k == name) {
            continue;
        }
        let weight = loaded.dim_of(&format!("layer_heads.{j}.weight"), 0);
        let targets = match (loaded.head_targets.iter().find(|(k, _, _)| k == name), &loaded.target) {
            (Some((_, t, origin)), _) => seq_targets(t, weight, None, n, time, origin)?,
            (None, Some(_)) => {
                return Err(format!(
                    "model.layer_heads[{j}].target = {name:?}: give its targets with --head-target {name}=FILE"
                ))
            }
            (None, None) => SeqTargets::LastClass { labels: vec![0; n], n_classes: weight.map_or(1, |w| w.0) },
        };
        out.push((name.to_string(), targets));
    }
    Ok(out)
}

/// Check dtypes, then copy the tensors into the parameters (all names, shapes checked).
fn load_weights(params: &mut ParamList<f32>, weights: &[WeightTensor], origin: &str) -> Result<(), String> {
    let expected: HashMap<&str, &[usize]> = params.iter().map(|(n, p)| (n.as_str(), &p.shape[..])).collect();
    for t in weights {
        if t.values.is_none() {
            let want = match expected.get(t.name.as_str()) {
                Some(s) => format!("F32 (or F64) of shape {s:?}"),
                None => "no such tensor: the model has no parameter of that name".into(),
            };
            return Err(format!(
                "{origin}: tensor `{}` has dtype {:?} and shape {:?}; expected {want}",
                t.name, t.dtype, t.shape
            ));
        }
    }
    let tensors: Vec<NamedTensor> =
        weights.iter().map(|t| (t.name.clone(), t.shape.clone(), t.values.clone().unwrap())).collect();
    load_params(params, &tensors, origin)
}

impl Problem {
    pub fn params(&mut self) -> ParamList<'_, f32> {
        match self {
            Problem::Flat { model, .. } => model.params(),
            Problem::Seq { model, .. } => model.params(),
        }
    }

    pub fn zero_grad(&mut self) {
        self.params().into_iter().for_each(|(_, p)| p.zero_grad());
    }

    /// The parameters as named tensors (a checkpoint's contents).
    pub fn weights(&mut self) -> Vec<NamedTensor> {
        params_to_tensors(&self.params())
    }

    /// The model's output, forward only: `[batch, out]` or `[batch, time, out]`.
    pub fn output(&mut self) -> (Vec<usize>, Vec<f32>) {
        match self {
            Problem::Flat { model, x, .. } => {
                let out = model.forward(x, &Ctx::EVAL);
                (vec![out.rows, out.cols], out.data)
            }
            Problem::Seq { model, batch, .. } => {
                let out = model.forward(batch, &Ctx::EVAL);
                seq_output(model.readout, batch, &out)
            }
        }
    }

    /// One forward and backward pass; parameter gradients accumulate. Returns the loss.
    pub fn step(&mut self) -> f64 {
        self.run(false).0
    }

    /// Zero the gradients, run one forward and backward pass and collect the loss, the output,
    /// every parameter gradient and the block-output gradients (module doc).
    pub fn gradients(&mut self) -> Vec<NamedTensor> {
        self.zero_grad();
        let (loss, mut out) = self.run(true);
        let mut tensors = vec![("loss".to_string(), vec![1], vec![loss as f32])];
        tensors.append(&mut out);
        tensors.extend(self.params().iter().map(|(n, p)| (format!("grad.{n}"), p.shape.clone(), p.grad.data.clone())));
        tensors
    }

    /// Forward and backward; with `collect`, the output and the taps as named tensors.
    fn run(&mut self, collect: bool) -> (f64, Vec<NamedTensor>) {
        match self {
            Problem::Flat { model, x, target } => {
                model.set_taps(collect);
                let out = model.forward(x, &Ctx::EVAL);
                let loss = match target {
                    FlatTarget::Classes(l) => model.forward_backward(x, &Target::Classes(l)).loss,
                    FlatTarget::Values(v) => model.forward_backward(x, &Target::Values(v)).loss,
                    FlatTarget::None => {
                        let out = model.forward(x, &Ctx::TRAIN);
                        model.backward(&Mat::from_vec(out.rows, out.cols, vec![1.0; out.len()]), &[]);
                        out.data.iter().map(|&v| v as f64).sum()
                    }
                };
                let mut t = Vec::new();
                if collect {
                    t.push(("output".into(), vec![out.rows, out.cols], out.data));
                    t.extend(model.taps().iter().map(|(n, g)| (n.clone(), vec![g.rows, g.cols], g.data.clone())));
                }
                (loss, t)
            }
            Problem::Seq { model, batch, has_target, probes } => {
                model.set_taps(collect);
                let out = model.forward(batch, &Ctx::TRAIN);
                let (loss, grad, head_grads) = if *has_target {
                    let l = model.losses(&out, batch);
                    (l.step.loss, l.grad, l.head_grads)
                } else {
                    let ones = Mat::from_vec(out.rows, out.cols, vec![1.0; out.len()]);
                    (out.data.iter().map(|&v| v as f64).sum(), ones, Vec::new())
                };
                model.backward(&grad, &head_grads);
                let mut t = Vec::new();
                if collect {
                    let (s, v) = seq_output(model.readout, batch, &out);
                    t.push(("output".into(), s.clone(), v));
                    t.push(("act.head".into(), s, seq_output(model.readout, batch, &grad).1));
                    for (j, hd) in model.heads.iter().enumerate() {
                        let (s, v) = seq_output(hd.readout, batch, hd.logits());
                        let g = head_grads
                            .get(j)
                            .map_or_else(|| vec![0.0; v.len()], |g| seq_output(hd.readout, batch, g).1);
                        t.push((format!("output.layer_heads.{j}"), s.clone(), v));
                        t.push((format!("act.layer_heads.{j}"), s, g));
                    }
                    for (i, rec) in probes.iter().enumerate() {
                        let (dy, dx) = rec.lock().unwrap().clone();
                        let name = &model.body[i].0;
                        if let Some(dy) = dy {
                            t.push((join("act", name), vec![dy.batch, dy.time, dy.dim()], dy.to_batch_major()));
                        }
                        if i == 0 && model.embed.is_some() {
                            if let Some(dx) = dx {
                                t.push(("act.embed".into(), vec![dx.batch, dx.time, dx.dim()], dx.to_batch_major()));
                            }
                        }
                    }
                    t.extend(model.taps().iter().map(|(n, g)| (n.clone(), vec![g.rows, g.cols], g.data.clone())));
                }
                (loss, t)
            }
        }
    }
}

/// A head output (or its gradient) in the file's layout: `[batch, out]`, or batch-major
/// `[batch, time, out]` for a per-step readout.
fn seq_output(readout: Readout, batch: &SeqBatch<f32>, m: &Mat<f32>) -> (Vec<usize>, Vec<f32>) {
    match readout {
        Readout::Last => (vec![m.rows, m.cols], m.data.clone()),
        Readout::Each => {
            let s = Seq::from_mat(batch.time, batch.batch, m.clone());
            (vec![batch.batch, batch.time, m.cols], s.to_batch_major())
        }
    }
}

/// The command: read, compute, write `args.out` (atomically; nothing on error). Returns the
/// loss and the number of tensors written.
pub fn run(args: &GradsArgs) -> Result<(f64, usize), String> {
    let cfg = ModelSpec::load(&args.config, &args.sets).map_err(|e| e.to_string())?;
    let loaded = Loaded::read(args)?;
    let mut p = setup(&cfg, &loaded)?;
    let tensors = p.gradients();
    save_tensors(&args.out, &tensors, None)?;
    Ok((tensors[0].2[0] as f64, tensors.len()))
}
