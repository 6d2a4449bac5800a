//! A feed-forward depth model: a stem, a depth stack, a head, optional auxiliary heads.
//!
//!   x -> stem: phi(W x + b) -> layers.0 .. layers.{depth-1} -> head: W h + b -> loss
//!                                   \-> aux.j: W h + b -> weight_j * loss   (deep supervision)
//!
//! `depth` counts the stack's layers, not the stem or the head. Block outputs are named
//! `stem`, `layers.{i}` and `head`; a dense stack is one block whose layers are `layers.{i}`
//! too. Gradient taps record dL/d(output) under `act.<name>`.

use rand::{rngs::StdRng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::loss::{mse, softmax_cross_entropy, LossKind, LossOut};
use super::{
    join, Activation, Block, Ctx, DenseMode, DenseStack, Highway, Init, Linear, LinearAct, ParamList, Residual,
    WeightedSkip,
};
use crate::tensor::{kernels::l2_norm, Mat, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// h <- phi(W h + b)
    Plain,
    /// h <- h + F(h)
    Residual,
    /// h <- T(h) H(h) + C(h) h
    Highway,
    /// DenseNet-style concatenation with a growth rate
    Dense,
    /// a plain chain whose every layer is wired to the head
    DenseToOutput,
    /// h <- a h + phi(W h + b), `a` learned
    WeightedSkip,
    /// Sequence models (`width` = hidden size / channels, `depth` = stacked layers / levels):
    /// Elman RNN with tanh,
    RnnTanh,
    /// Elman RNN with relu,
    RnnRelu,
    Lstm,
    Gru,
    /// temporal convolution net (dilated causal convolutions, residual blocks),
    Tcn,
    /// causal self-attention layers.
    Attention,
}

impl Arch {
    pub const ALL: [Arch; 12] = [
        Arch::Plain,
        Arch::Residual,
        Arch::Highway,
        Arch::Dense,
        Arch::DenseToOutput,
        Arch::WeightedSkip,
        Arch::RnnTanh,
        Arch::RnnRelu,
        Arch::Lstm,
        Arch::Gru,
        Arch::Tcn,
        Arch::Attention,
    ];

    /// The name configs use (`highway`, `dense_to_output`, `lstm`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Plain => "plain",
            Arch::Residual => "residual",
            Arch::Highway => "highway",
            Arch::Dense => "dense",
            Arch::DenseToOutput => "dense_to_output",
            Arch::WeightedSkip => "weighted_skip",
            Arch::RnnTanh => "rnn_tanh",
            Arch::RnnRelu => "rnn_relu",
            Arch::Lstm => "lstm",
            Arch::Gru => "gru",
            Arch::Tcn => "tcn",
            Arch::Attention => "attention",
        }
    }

    /// The arch of a config name.
    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    /// What the arch can do, in one place: the probes, the memory estimate and the tests ask
    /// here rather than listing architectures themselves.
    pub fn can(self) -> Can {
        let none = Can::default();
        let stack = Can { equal_width: true, deletable: true, ..none };
        let rnn = Can { sequence: true, recurrent: true, ..none };
        match self {
            Arch::Plain | Arch::WeightedSkip => stack,
            Arch::Residual => Can { skip_paths: true, ..stack },
            Arch::Highway => Can { skip_paths: true, gates: true, ..stack },
            // One block (concatenation), or layers whose outputs all feed the head.
            Arch::Dense | Arch::DenseToOutput => none,
            Arch::RnnTanh | Arch::RnnRelu => rnn,
            Arch::Lstm | Arch::Gru => Can { gates: true, ..rnn },
            Arch::Tcn | Arch::Attention => Can { sequence: true, ..none },
        }
    }

    /// Whether the arch models sequences (it then needs a sequence data set).
    pub fn is_sequence(self) -> bool {
        self.can().sequence
    }

    /// The archs with a capability, for messages: "plain, residual, highway, weighted_skip".
    pub fn listed(has: impl Fn(Can) -> bool) -> String {
        Arch::ALL.into_iter().filter(|a| has(a.can())).map(|a| a.name()).collect::<Vec<_>>().join(", ")
    }
}

/// What an architecture can do (`Arch::can`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Can {
    /// It models sequences (a sequence data set, `seq::build`).
    pub sequence: bool,
    /// A recurrent cell unrolled in time (dL/dh_t at every step; gate values for LSTM and GRU).
    pub recurrent: bool,
    /// A feed-forward stack of equal-width layers, each a map h -> h: the input-output Jacobian
    /// is a product of square layer Jacobians.
    pub equal_width: bool,
    /// Skip paths through the stack that the paths probe decomposes by length.
    pub skip_paths: bool,
    /// Learned gates to read (highway transform gates; LSTM and GRU gates).
    pub gates: bool,
    /// Each stack layer is a block that can be deleted (lesioned) on its own.
    pub deletable: bool,
}

/// Positional information added to the input of attention layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Positional {
    None,
    #[default]
    Sinusoidal,
    Learned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carry {
    /// C = 1 - T
    #[default]
    Coupled,
    /// C = sigmoid(W_C h + b_C)
    Independent,
}

/// An auxiliary head on the output of `layers.{layer}`, its loss added with `weight`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuxConfig {
    pub layer: usize,
    pub weight: f64,
}

/// A head on layer `layer` of a stacked recurrent body (0 = the lowest), with its own task:
/// the data's targets named `target` (absent: the main targets), its loss added with `weight`.
/// Parameters `layer_heads.{j}.weight` `[classes, width]` (width 2H when bidirectional) and
/// `layer_heads.{j}.bias`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerHeadConfig {
    pub layer: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default = "d_one_f")]
    pub weight: f64,
}

fn d_one_f() -> f64 {
    1.0
}

fn d_tanh() -> Activation {
    Activation::Tanh
}
fn d_gate_bias() -> f64 {
    -2.0
}
fn d_two() -> usize {
    2
}
fn d_growth() -> usize {
    12
}

/// The `[model]` section of a config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Layers in the depth stack (plain stacks may have 0: the stem and the head, one hidden
    /// layer).
    pub depth: usize,
    /// Units per layer (the stem's output and every stack layer).
    pub width: usize,
    #[serde(default = "d_tanh")]
    pub activation: Activation,
    #[serde(default)]
    pub init: Init,
    /// Highway: the transform gate's initial bias.
    #[serde(default = "d_gate_bias")]
    pub gate_bias: f64,
    /// Highway: coupled (C = 1 - T) or independent carry gate.
    #[serde(default)]
    pub carry: Carry,
    /// Highway, independent carry: the carry gate's initial bias (default: -gate_bias).
    #[serde(default)]
    pub carry_bias: Option<f64>,
    /// Residual: layers in each branch (1 or 2).
    #[serde(default = "d_two")]
    pub residual_layers: usize,
    /// Residual: pre-activation ordering (phi before each linear map).
    #[serde(default)]
    pub preact: bool,
    /// Dense: features added per layer.
    #[serde(default = "d_growth")]
    pub growth: usize,
    /// Weighted skip: one `a` per unit instead of one scalar.
    #[serde(default)]
    pub per_unit_alpha: bool,
    #[serde(default)]
    pub aux: Vec<AuxConfig>,
    /// Recurrent archs: heads on layers of the stack, each with its own targets and weight
    /// (`[[model.layer_heads]]` tables).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_heads: Vec<LayerHeadConfig>,
    /// Recurrent archs: both directions, outputs concatenated (taggers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidirectional: Option<bool>,
    /// LSTM: the forget gate's initial bias (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_bias: Option<f64>,
    /// Recurrent archs: W_hh initialisation, `{ kind = "default" | "orthogonal", gain |
    /// "spectral", radius | "identity" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hh_init: Option<super::HhInit>,
    /// TCN: kernel size (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_size: Option<usize>,
    /// TCN: dilation 2^i at level i (default true); false keeps every dilation at 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dilation: Option<bool>,
    /// Attention: heads (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads: Option<usize>,
    /// Attention: positional encoding (default sinusoidal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positional: Option<Positional>,
    /// Token inputs: embedding size (default `width`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embed_dim: Option<usize>,
}

impl ModelConfig {
    /// Errors name the key and what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        let seq = self.arch.is_sequence();
        let only = |set: bool, key: &str, archs: &[Arch]| -> Result<(), String> {
            if set && !archs.contains(&self.arch) {
                let names: Vec<&str> = archs.iter().map(|a| a.name()).collect();
                return Err(format!("model.{key} applies to arch {}, not {:?}", names.join(" | "), self.arch.name()));
            }
            Ok(())
        };
        let rnns: Vec<Arch> = Arch::ALL.into_iter().filter(|a| a.can().recurrent).collect();
        for (key, v) in
            [("gate_bias", Some(self.gate_bias)), ("carry_bias", self.carry_bias), ("forget_bias", self.forget_bias)]
        {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                return Err(format!("model.{key} must be a finite number, got {v}"));
            }
        }
        only(self.bidirectional.is_some(), "bidirectional", &rnns)?;
        only(self.hh_init.is_some(), "hh_init", &rnns)?;
        only(self.forget_bias.is_some(), "forget_bias", &[Arch::Lstm])?;
        only(self.kernel_size.is_some(), "kernel_size", &[Arch::Tcn])?;
        only(self.dilation.is_some(), "dilation", &[Arch::Tcn])?;
        only(self.heads.is_some(), "heads", &[Arch::Attention])?;
        only(self.positional.is_some(), "positional", &[Arch::Attention])?;
        if seq && !self.aux.is_empty() {
            return Err("model.aux: auxiliary heads attach to feed-forward stacks, not sequence models (recurrent ones take model.layer_heads)".into());
        }
        if !self.layer_heads.is_empty() && !rnns.contains(&self.arch) {
            return Err(format!(
                "model.layer_heads: per-layer heads attach to the layers of recurrent stacks ({}), not {:?}{}",
                rnns.iter().map(|a| a.name()).collect::<Vec<_>>().join(" | "),
                self.arch.name(),
                if seq { "" } else { " (feed-forward stacks take model.aux)" }
            ));
        }
        for (j, h) in self.layer_heads.iter().enumerate() {
            if h.layer >= self.depth {
                return Err(format!(
                    "model.layer_heads[{j}].layer = {} is out of range: the stack has layers 0..{} (model.depth = {})",
                    h.layer,
                    self.depth.saturating_sub(1),
                    self.depth
                ));
            }
            if !h.weight.is_finite() || h.weight < 0.0 {
                return Err(format!("model.layer_heads[{j}].weight must be a finite number >= 0, got {}", h.weight));
            }
            if h.target.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return Err(format!(
                    "model.layer_heads[{j}].target must name a target of the data (or be left out for the main targets)"
                ));
            }
        }
        if let Some(h) = self.heads {
            if h == 0 || !self.width.is_multiple_of(h) {
                return Err(format!("model.heads = {h} must divide model.width = {}", self.width));
            }
        }
        if self.kernel_size == Some(0) || self.embed_dim == Some(0) {
            return Err("model.kernel_size and model.embed_dim must be at least 1".into());
        }
        // A plain net of depth 0 is the stem and the head: one hidden layer, the shallow net of
        // depth-separation results. Every other arch needs its stack.
        if self.depth == 0 && self.arch != Arch::Plain {
            return Err(format!(
                "model.depth must be at least 1 for arch {} (0 is allowed for plain stacks only: the stem and the head, one hidden layer)",
                self.arch.name()
            ));
        }
        if self.width == 0 {
            return Err("model.width must be at least 1".into());
        }
        if !(self.residual_layers == 1 || self.residual_layers == 2) {
            return Err(format!("model.residual_layers must be 1 or 2, got {}", self.residual_layers));
        }
        if self.arch == Arch::Dense && self.growth == 0 {
            return Err("model.growth must be at least 1".into());
        }
        for (j, a) in self.aux.iter().enumerate() {
            if !self.arch.can().deletable {
                return Err(format!(
                    "model.aux[{j}]: auxiliary heads attach to the layers of stacks of one block per layer ({}), not {}",
                    Arch::listed(|c| c.deletable),
                    self.arch.name()
                ));
            }
            if self.depth == 0 {
                return Err(format!(
                    "model.aux[{j}]: a stack of depth 0 has no layers for an auxiliary head (set model.depth >= 1)"
                ));
            }
            if a.layer >= self.depth {
                return Err(format!(
                    "model.aux[{j}].layer = {} is out of range: the stack has layers 0..{}",
                    a.layer,
                    self.depth - 1
                ));
            }
            if !a.weight.is_finite() || a.weight < 0.0 {
                return Err(format!("model.aux[{j}].weight must be a finite number >= 0, got {}", a.weight));
            }
        }
        if let Init::Gaussian { sigma_w2, sigma_b2 } | Init::Orthogonal { gain: sigma_w2, sigma_b2 } = self.init {
            if !(sigma_w2.is_finite() && sigma_w2 >= 0.0 && sigma_b2.is_finite() && sigma_b2 >= 0.0) {
                return Err("model.init: sigma_w2 (or gain) and sigma_b2 must be finite and >= 0".into());
            }
        }
        Ok(())
    }
}

/// The targets of a batch, in the model's float type.
pub enum Target<'a, F> {
    Classes(&'a [u32]),
    Values(&'a Mat<F>),
}

/// What one per-layer head measured on a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeadOut {
    /// Its (unweighted) mean loss.
    pub loss: f64,
    pub correct: usize,
    pub count: usize,
    /// Whether its targets are classes (accuracy means something).
    pub classes: bool,
}

/// What one forward + backward pass measured.
#[derive(Clone, Debug, Default)]
pub struct StepOut {
    /// The optimised loss: main loss + sum of weighted auxiliary losses.
    pub loss: f64,
    /// The head's loss alone.
    pub main_loss: f64,
    /// Each auxiliary head's (unweighted) loss.
    pub aux_losses: Vec<f64>,
    /// Each per-layer head of a sequence model (`model.layer_heads`), in order.
    pub heads: Vec<HeadOut>,
    pub correct: usize,
    /// Examples scored (rows of the batch; for per-step targets, the steps not ignored).
    pub count: usize,
}

struct AuxHead<F> {
    layer: usize,
    weight: f64,
    head: Linear<F>,
    logits: Mat<F>,
}

pub struct Model<F> {
    pub config: ModelConfig,
    pub loss_kind: LossKind,
    /// `stem`, `layers.{i}` (or one `layers` block for dense stacks), `head`, in order.
    pub blocks: Vec<(String, Box<dyn Block<F>>)>,
    aux: Vec<AuxHead<F>>,
    tap: Tap,
    taps: Vec<(String, Mat<F>)>,
    tap_norms: Vec<(String, f64)>,
    threads: usize,
}

/// What the backward records of every block's dL/d(output).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tap {
    Off,
    Gradients,
    /// Only their norms: the training loop's gradient-flow records want no more, and copying
    /// every gradient was most of their cost.
    Norms,
}

impl<F: Real> Model<F> {
    /// Build with weights drawn from `seed`. `in_dim` and `out_dim` come from the data.
    pub fn build(
        config: &ModelConfig,
        in_dim: usize,
        out_dim: usize,
        loss_kind: LossKind,
        seed: u64,
    ) -> Result<Self, String> {
        config.validate()?;
        if config.arch.is_sequence() {
            return Err(format!("model.arch = {:?} is a sequence model: build it with seq::build", config.arch));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let (w, phi, init) = (config.width, config.activation, &config.init);
        let mut blocks: Vec<(String, Box<dyn Block<F>>)> =
            vec![("stem".into(), Box::new(LinearAct::new(in_dim, w, phi, init, &mut rng)))];
        let dense = |mode| -> Box<dyn Block<F>> {
            Box::new(DenseStack::new(w, w, config.depth, mode, phi, init, &mut StdRng::seed_from_u64(seed ^ 0x5eed)))
        };
        match config.arch {
            Arch::Dense => blocks.push(("layers".into(), dense(DenseMode::Concat { growth: config.growth }))),
            Arch::DenseToOutput => blocks.push(("layers".into(), dense(DenseMode::ToOutput))),
            arch => {
                for i in 0..config.depth {
                    let b: Box<dyn Block<F>> = match arch {
                        Arch::Plain => Box::new(LinearAct::new(w, w, phi, init, &mut rng)),
                        Arch::Residual => {
                            Box::new(Residual::new(w, config.residual_layers, phi, config.preact, init, &mut rng))
                        }
                        Arch::Highway => {
                            let carry = (config.carry == Carry::Independent)
                                .then(|| config.carry_bias.unwrap_or(-config.gate_bias));
                            Box::new(Highway::new(w, phi, init, config.gate_bias, carry, &mut rng))
                        }
                        Arch::WeightedSkip => {
                            Box::new(WeightedSkip::new(w, config.per_unit_alpha, phi, init, &mut rng))
                        }
                        _ => unreachable!("dense and sequence archs are handled above"),
                    };
                    blocks.push((format!("layers.{i}"), b));
                }
            }
        }
        let top = blocks.last().unwrap().1.out_dim();
        // Heads use Glorot: their scale is not what a depth experiment varies.
        blocks.push(("head".into(), Box::new(Linear::new(top, out_dim, &Init::Glorot, &mut rng))));
        let aux = config
            .aux
            .iter()
            .map(|a| AuxHead {
                layer: a.layer,
                weight: a.weight,
                head: Linear::new(w, out_dim, &Init::Glorot, &mut rng),
                logits: Mat::default(),
            })
            .collect();
        Ok(Model {
            config: config.clone(),
            loss_kind,
            blocks,
            aux,
            tap: Tap::Off,
            taps: Vec::new(),
            tap_norms: Vec::new(),
            threads: 1,
        })
    }

    pub fn out_dim(&self) -> usize {
        self.blocks.last().unwrap().1.out_dim()
    }

    /// The model's output for a batch (the head's logits or predictions).
    pub fn forward(&mut self, x: &Mat<F>, ctx: &Ctx) -> Mat<F> {
        crate::tensor::par::with_threads(self.threads, || self.forward_here(x, ctx))
    }

    fn forward_here(&mut self, x: &Mat<F>, ctx: &Ctx) -> Mat<F> {
        let n = self.blocks.len();
        let mut h = self.blocks[0].1.forward(x, ctx);
        for i in 1..n {
            h = self.blocks[i].1.forward_owned(h, ctx);
            if (1..n - 1).contains(&i) {
                for a in self.aux.iter_mut().filter(|a| a.layer + 1 == i) {
                    a.logits = a.head.forward(&h, ctx);
                }
            }
        }
        h
    }

    fn loss_of(&self, out: &Mat<F>, target: &Target<F>) -> LossOut<F> {
        match (self.loss_kind, target) {
            (LossKind::CrossEntropy, Target::Classes(labels)) => softmax_cross_entropy(out, labels),
            (LossKind::Mse, Target::Values(v)) => mse(out, v),
            (k, _) => panic!("loss {k:?} does not fit these targets"),
        }
    }

    /// Forward, loss and backward on one batch: parameter gradients are *accumulated*.
    pub fn forward_backward(&mut self, x: &Mat<F>, target: &Target<F>) -> StepOut {
        let out = self.forward(x, &Ctx::TRAIN);
        let main = self.loss_of(&out, target);
        let mut step = StepOut {
            loss: main.loss,
            main_loss: main.loss,
            correct: main.correct,
            count: main.count,
            ..Default::default()
        };
        let mut aux_grads = Vec::with_capacity(self.aux.len());
        for a in &self.aux {
            let l = self.loss_of(&a.logits, target);
            step.loss += a.weight * l.loss;
            step.aux_losses.push(l.loss);
            let mut g = l.grad;
            g.scale(F::c(a.weight));
            aux_grads.push(g);
        }
        self.backward(&main.grad, &aux_grads);
        step
    }

    /// Backward from dL/d(output) and, per auxiliary head, dL/d(its logits).
    pub fn backward(&mut self, dout: &Mat<F>, aux_grads: &[Mat<F>]) {
        crate::tensor::par::with_threads(self.threads, || self.backward_here(dout, aux_grads))
    }

    fn backward_here(&mut self, dout: &Mat<F>, aux_grads: &[Mat<F>]) {
        let (mut per_block, mut norms_per_block) = (Vec::new(), Vec::new());
        let n = self.blocks.len();
        let mut d = dout.clone();
        for i in (0..n).rev() {
            if (1..n - 1).contains(&i) {
                for (a, g) in self.aux.iter_mut().zip(aux_grads).filter(|(a, _)| a.layer + 1 == i) {
                    let dh = a.head.backward(g);
                    d.add_assign(&dh);
                }
            }
            let (name, block) = &mut self.blocks[i];
            let out_grad = (self.tap == Tap::Gradients).then(|| d.clone());
            let out_norm = (self.tap == Tap::Norms).then(|| l2_norm(&d.data));
            if i == 0 {
                // Nothing consumes dL/d(input): skip that product (the stem's is the widest).
                block.backward_params(&d);
            } else {
                d = block.backward_owned(d);
            }
            if let Some(g) = out_grad {
                // This block's output, then the layers inside it (recorded by its backward),
                // collected last block first and put in forward order below.
                let mut mine = vec![(join("act", name), g)];
                block.inner_taps(&join("act", name), &mut mine);
                per_block.push(mine);
            }
            if let Some(v) = out_norm {
                let mut inner = Vec::new();
                block.inner_taps(&join("act", name), &mut inner);
                let mine = std::iter::once((join("act", name), v));
                norms_per_block
                    .push(mine.chain(inner.into_iter().map(|(n, g)| (n, l2_norm(&g.data)))).collect::<Vec<_>>());
            }
        }
        self.taps = per_block.into_iter().rev().flatten().collect();
        self.tap_norms = norms_per_block.into_iter().rev().flatten().collect();
    }

    /// Threads the model's matrix products may share (`tensor::par::with_threads`); results do
    /// not depend on it. One until set.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Record dL/d(output) of every block (and every layer inside dense stacks) in backward.
    pub fn set_taps(&mut self, on: bool) {
        self.set_tap(if on { Tap::Gradients } else { Tap::Off });
    }

    /// Record only the norms of what `set_taps` records (`tap_norms`), not the gradients.
    pub fn set_tap_norms(&mut self, on: bool) {
        self.set_tap(if on { Tap::Norms } else { Tap::Off });
    }

    fn set_tap(&mut self, tap: Tap) {
        self.tap = tap;
        self.blocks.iter_mut().for_each(|(_, b)| b.set_inner_taps(tap != Tap::Off));
    }

    /// ||dL/dh|| of every tap of the last backward, in the order and with the names of `taps`
    /// (recorded with `set_tap_norms`, or computed from the gradients `set_taps` recorded).
    pub fn tap_norms(&self) -> Vec<(String, f64)> {
        if self.taps.is_empty() {
            self.tap_norms.clone()
        } else {
            self.taps.iter().map(|(n, g)| (n.clone(), l2_norm(&g.data))).collect()
        }
    }

    /// The gradients recorded by the last backward, named `act.stem`, `act.layers.{i}`, `act.head`.
    pub fn taps(&self) -> &[(String, Mat<F>)] {
        &self.taps
    }

    /// Every parameter, named as a PyTorch state dict, in a fixed order.
    pub fn params(&mut self) -> ParamList<'_, F> {
        let mut out = Vec::new();
        for (name, b) in self.blocks.iter_mut() {
            b.params(name, &mut out);
        }
        for (j, a) in self.aux.iter_mut().enumerate() {
            a.head.push_params(&format!("aux.{j}"), &mut out);
        }
        out
    }

    pub fn zero_grad(&mut self) {
        self.params().into_iter().for_each(|(_, p)| p.zero_grad());
    }

    pub fn num_params(&mut self) -> usize {
        self.params().iter().map(|(_, p)| p.len()).sum()
    }

    /// Run the forward pass checking each block's output; the name of the first block whose
    /// output holds a NaN or Inf (or "input" when the batch itself does).
    pub fn first_non_finite(&mut self, x: &Mat<F>) -> Option<String> {
        if !x.all_finite() {
            return Some("input".into());
        }
        let mut h = x.clone();
        for (name, b) in self.blocks.iter_mut() {
            h = b.forward(&h, &Ctx::EVAL);
            if !h.all_finite() {
                return Some(format!("{name} ({})", b.kind()));
            }
        }
        None
    }
}

impl<F: Real> Model<F> {
    /// The main loss and accuracy on a batch, forward only (auxiliary heads are not scored).
    pub fn evaluate(&mut self, x: &Mat<F>, target: &Target<F>) -> StepOut {
        let out = self.forward(x, &Ctx::EVAL);
        let l = self.loss_of(&out, target);
        StepOut { loss: l.loss, main_loss: l.loss, correct: l.correct, count: l.count, ..Default::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_are_the_config_names() {
        for a in Arch::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.name(), "{a:?}");
        }
    }
}
