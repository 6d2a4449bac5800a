//! How much memory a run will need, estimated from its config before anything is allocated, so
//! that a config too big for the machine is refused with the estimate and the key to change
//! instead of aborting in the allocator minutes later.
//!
//! The estimate counts f32 values: the data set as held in memory, the parameters with their
//! gradients and the optimizer's state, and the activations the forward pass keeps for the
//! backward (depth x batch x width, x time for sequence models; a factor of two for the
//! backward's temporaries of the same size). It is meant to be within a small factor of the
//! truth, never to undercount by orders of magnitude.

use crate::config::{Config, DataConfig};
use crate::nn::{Arch, Carry, ModelConfig};
use crate::optim::OptimizerConfig;

/// The sizes that the data fix, as far as a config tells before loading it.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    /// Features per example (per step for sequences), or the vocabulary of token inputs.
    pub input: usize,
    pub tokens: bool,
    pub out: usize,
    /// Steps per sequence (1 for flat examples).
    pub time: usize,
    /// Examples held in memory (training and test).
    pub examples: usize,
    /// Rows in the largest batch the model sees (training or evaluation).
    pub batch: usize,
}

/// An estimate in bytes, by part.
#[derive(Clone, Copy, Debug, Default)]
pub struct Estimate {
    pub data: f64,
    /// Parameters and their gradients.
    pub params: f64,
    pub optimizer: f64,
    pub activations: f64,
}

impl Estimate {
    pub fn total(&self) -> f64 {
        self.data + self.params + self.optimizer + self.activations
    }
}

/// "1.2 GB"
pub fn fmt_bytes(b: f64) -> String {
    let (v, u) = if b >= 1e12 {
        (b / 1e12, "TB")
    } else if b >= 1e9 {
        (b / 1e9, "GB")
    } else if b >= 1e6 {
        (b / 1e6, "MB")
    } else {
        (b / 1e3, "kB")
    };
    format!("{v:.1} {u}")
}

/// The batch the evaluation passes use (train/net.rs): the most rows a forward pass sees.
const FLAT_EVAL_BATCH: usize = 1000;
const SEQ_EVAL_BATCH: usize = 256;
/// Upper bounds for data sets whose sizes are only known once read.
const BROWN_VOCAB: usize = 60_000;
const BROWN_TAGS: usize = 472;
const BROWN_SENTENCE: usize = 200;
const BROWN_TOKENS: usize = 1_200_000;
const TEXT_VOCAB: usize = 256;

/// The sizes `cfg`'s data will have.
pub fn dims(cfg: &Config) -> Dims {
    let b = cfg.train.batch_size;
    let flat = |input, out, examples: usize| Dims {
        input,
        tokens: false,
        out,
        time: 1,
        examples,
        batch: b.max(FLAT_EVAL_BATCH.min(examples)),
    };
    let seq = |input, tokens, out, time, examples: usize| Dims {
        input,
        tokens,
        out,
        time,
        examples,
        batch: b.max(SEQ_EVAL_BATCH.min(examples)),
    };
    // MNIST is read whole before a subset is taken.
    let mnist = 70_000;
    match &cfg.data {
        DataConfig::Mnist1d { num_samples, .. } => flat(40, 10, num_samples.unwrap_or(5000)),
        DataConfig::Mnist { .. } | DataConfig::FashionMnist { .. } => flat(784, 10, mnist),
        DataConfig::Sawtooth { k } => flat(1, 2, 1usize << (*k).min(30)),
        DataConfig::Parity { bits, train, test } => flat(*bits, 2, train.saturating_add(*test)),
        DataConfig::Adding { t, train, test } => seq(2, false, 1, *t, train.saturating_add(*test)),
        DataConfig::Copy { t, train, test } => seq(10, true, 10, t.saturating_add(20), train.saturating_add(*test)),
        DataConfig::Recall { t, len, alphabet, train, test } => {
            seq(*alphabet, true, *alphabet, crate::config::recall_len(*t, *len), train.saturating_add(*test))
        }
        DataConfig::SeqMnist { .. } => seq(1, false, 10, 784, mnist),
        DataConfig::Mnist1dSeq { .. } => seq(1, false, 10, 40, 5000),
        DataConfig::Brown { .. } => seq(BROWN_VOCAB, true, BROWN_TAGS, BROWN_SENTENCE, BROWN_TOKENS / 20),
        DataConfig::Text { window, train, .. } => {
            seq(TEXT_VOCAB, true, TEXT_VOCAB, *window, train.saturating_add(4_000_000 / window.max(&1)))
        }
    }
}

/// The Brown corpus's training sentences (src/data/brown.rs's split).
pub const BROWN_TRAIN: usize = 45_608;

/// Examples in the training split (sentences for Brown, windows for text).
pub fn train_examples(cfg: &Config) -> usize {
    match &cfg.data {
        DataConfig::Mnist { train_subset, .. }
        | DataConfig::FashionMnist { train_subset, .. }
        | DataConfig::SeqMnist { train_subset, .. } => train_subset.unwrap_or(60_000),
        DataConfig::Adding { train, .. }
        | DataConfig::Copy { train, .. }
        | DataConfig::Recall { train, .. }
        | DataConfig::Parity { train, .. }
        | DataConfig::Text { train, .. } => *train,
        DataConfig::Mnist1d { num_samples, .. } => num_samples.unwrap_or(5000) * 4 / 5,
        DataConfig::Brown { train_subset, .. } => train_subset.unwrap_or(BROWN_TRAIN).min(BROWN_TRAIN),
        _ => dims(cfg).examples,
    }
}

/// Optimizer steps of a run: batches per epoch (the last one may be short) times epochs.
pub fn train_steps(cfg: &Config) -> u64 {
    (train_examples(cfg).div_ceil(cfg.train.batch_size.max(1)).max(1) * cfg.train.epochs) as u64
}

/// Bytes of the data set as held: inputs and targets (f32 or u32 each), and the raw file for
/// the data sets read whole.
fn data_bytes(cfg: &Config, d: &Dims) -> f64 {
    let per_example = if d.tokens { 2.0 * d.time as f64 } else { (d.input * d.time + d.out.max(1)) as f64 };
    let raw = match cfg.data {
        DataConfig::Mnist { .. } | DataConfig::FashionMnist { .. } | DataConfig::SeqMnist { .. } => 70_000.0 * 785.0,
        _ => 0.0,
    };
    4.0 * d.examples as f64 * per_example + raw
}

/// Parameters of the model `m` on data of sizes `d`, and the f32 values kept per example by
/// its forward pass. Every arch is counted here by name: a new one must say what it costs.
pub fn model_size(m: &ModelConfig, d: &Dims) -> (f64, f64) {
    let (w, depth) = (m.width as f64, m.depth as f64);
    match m.arch {
        // Feed-forward stacks: parameters and values kept per layer, the width the head reads.
        Arch::Plain => stack(m, d, lin(w, w), 2.0 * w, w, 0.0),
        Arch::Residual => {
            let l = m.residual_layers as f64;
            stack(m, d, l * lin(w, w), (2.0 * l + 1.0) * w, w, 0.0)
        }
        Arch::Highway => {
            let gates = if m.carry == Carry::Independent { 3.0 } else { 2.0 };
            stack(m, d, gates * lin(w, w), (2.0 * gates + 2.0) * w, w, 0.0)
        }
        Arch::WeightedSkip => stack(m, d, lin(w, w) + if m.per_unit_alpha { w } else { 1.0 }, 3.0 * w, w, 0.0),
        Arch::Dense => {
            // Layer l reads the w + l g features before it and adds g.
            let g = m.growth as f64;
            let top = w + depth * g;
            stack(m, d, w * g + g, 3.0 * top, top, g * g * depth * (depth - 1.0) / 2.0)
        }
        // Every layer's output feeds the head.
        Arch::DenseToOutput => stack(m, d, lin(w, w), 3.0 * w, depth * w, 0.0),
        // Sequence models: parameters, values kept per step, the width the head reads.
        Arch::RnnTanh | Arch::RnnRelu => recurrent(m, d, 1.0, 3.0),
        Arch::Lstm => recurrent(m, d, 4.0, 12.0),
        Arch::Gru => recurrent(m, d, 3.0, 10.0),
        Arch::Tcn => sequence(m, d, |features| {
            let k = m.kernel_size.unwrap_or(2) as f64;
            let mut params = 0.0;
            for level in 0..m.depth {
                let input = if level == 0 { features } else { w };
                params += input * w * k + w + w * w * k + w;
                if input != w {
                    params += lin(input, w);
                }
            }
            (params, depth * 8.0 * w, w)
        }),
        Arch::Attention => sequence(m, d, |features| {
            let mut params = if features != w { lin(features, w) } else { 0.0 };
            params += depth * (4.0 * w * w + 4.0 * w);
            if m.positional == Some(crate::nn::Positional::Learned) {
                params += d.time as f64 * w;
            }
            let heads = m.heads.unwrap_or(1) as f64;
            (params, depth * (6.0 * w + 2.0 * heads * d.time as f64), w)
        }),
    }
}

fn lin(i: f64, o: f64) -> f64 {
    i * o + o
}

/// A feed-forward model: the stem, `depth` layers of the given size (and `extra` parameters),
/// the head on `top` features and any auxiliary heads.
fn stack(m: &ModelConfig, d: &Dims, layer_params: f64, layer_acts: f64, top: f64, extra: f64) -> (f64, f64) {
    let (w, depth, out, input) = (m.width as f64, m.depth as f64, d.out as f64, d.input as f64);
    let params = lin(input, w) + extra + depth * layer_params + lin(top, out) + m.aux.len() as f64 * lin(w, out);
    let acts = 2.0 * w + input + depth * layer_acts + 2.0 * out * (1 + m.aux.len()) as f64;
    (params, acts)
}

/// A stacked recurrent body of cells with `gates` gate blocks, keeping `kept` values per unit
/// per step, in one or both directions.
fn recurrent(m: &ModelConfig, d: &Dims, gates: f64, kept: f64) -> (f64, f64) {
    let (w, depth) = (m.width as f64, m.depth as f64);
    let dirs = if m.bidirectional == Some(true) { 2.0 } else { 1.0 };
    sequence(m, d, |features| {
        let mut params = 0.0;
        for k in 0..m.depth {
            let input = if k == 0 { features } else { dirs * w };
            params += dirs * (gates * w * (input + w) + 2.0 * gates * w);
        }
        (params, depth * dirs * kept * w, dirs * w)
    })
}

/// A sequence model: the embedding (token inputs) or input features, a body that `body` counts
/// from the features per step (parameters, values kept per step, the width the heads read),
/// and the heads.
fn sequence(m: &ModelConfig, d: &Dims, body: impl Fn(f64) -> (f64, f64, f64)) -> (f64, f64) {
    let (embed, features) = if d.tokens {
        let e = m.embed_dim.unwrap_or(m.width) as f64;
        (d.input as f64 * e, e)
    } else {
        (0.0, d.input as f64)
    };
    let (body_params, per_step, top) = body(features);
    // Layer heads counted at the main head's size (exact when they learn the main targets).
    let heads = 1.0 + m.layer_heads.len() as f64;
    let params = embed + body_params + heads * lin(top, d.out as f64);
    (params, d.time as f64 * (per_step + features + 2.0 * heads * d.out as f64))
}

/// The estimate for the model `m` on batches of `d`, with `slots` optimizer values per
/// parameter; data not counted.
pub fn model_estimate(m: &ModelConfig, d: &Dims, slots: f64) -> Estimate {
    let (params, acts) = model_size(m, d);
    Estimate {
        data: 0.0,
        params: 4.0 * 2.0 * params,
        optimizer: 4.0 * slots * params,
        activations: 4.0 * 2.0 * acts * d.batch as f64,
    }
}

/// The estimate for training `cfg`.
pub fn estimate(cfg: &Config) -> Estimate {
    let d = dims(cfg);
    let slots = match &cfg.optim.optimizer {
        OptimizerConfig::Sgd(c) if c.momentum == 0.0 => 0.0,
        OptimizerConfig::Sgd(_) => 1.0,
        OptimizerConfig::Adam(_) => 2.0,
    };
    Estimate { data: data_bytes(cfg, &d), ..model_estimate(&cfg.model, &d, slots) }
}

/// Memory the machine can give a new process now (MemAvailable), if the system says.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Refuse `e` when it exceeds `limit` (default: the available memory), naming the part that
/// dominates and the keys that shrink it.
pub fn refuse_over(e: &Estimate, limit: Option<u64>, what: &str) -> Result<(), String> {
    let (limit, source) = match limit {
        Some(l) => (l, "--max-memory"),
        None => match available_memory() {
            Some(l) => (l, "available on this machine"),
            None => return Ok(()),
        },
    };
    if e.total() <= limit as f64 {
        return Ok(());
    }
    let parts = [
        (
            e.activations,
            "activations kept for the backward pass",
            "train.batch_size, model.depth or model.width (data.t, data.window for sequences)",
        ),
        (e.params + e.optimizer, "parameters, gradients and optimizer state", "model.width or model.depth"),
        (e.data, "the data set", "data.train, data.test or data.num_samples"),
    ];
    let (_, part, keys) = parts.iter().copied().fold((f64::MIN, "", ""), |a, p| if p.0 > a.0 { p } else { a });
    Err(format!(
        "{what} would need about {} (data {}, parameters and gradients {}, optimizer state {}, activations {}), more than the {} {source}; most of it is {part}: lower {keys}",
        fmt_bytes(e.total()),
        fmt_bytes(e.data),
        fmt_bytes(e.params),
        fmt_bytes(e.optimizer),
        fmt_bytes(e.activations),
        fmt_bytes(limit as f64),
    ))
}

/// `refuse_over` for training `cfg`.
pub fn check(cfg: &Config, limit: Option<u64>) -> Result<(), super::TrainError> {
    refuse_over(&estimate(cfg), limit, "this config").map_err(super::TrainError::Setup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, "test", &[]).unwrap()
    }

    const BASE: &str = "[data]\nname = \"mnist1d\"\n[model]\narch = \"highway\"\ndepth = 50\nwidth = 64\n[optim]\nlr = 0.1\noptimizer = { kind = \"adam\" }\n[train]\nepochs = 1\n";

    #[test]
    fn parameters_are_counted_exactly_for_flat_models() {
        // Each count is the model's own parameter count for the data's sizes (40 in, 10 out).
        use crate::nn::{LossKind, Model};
        for arch in Arch::ALL.into_iter().filter(|a| !a.is_sequence()).map(Arch::name) {
            let c = config(&BASE.replace("\"highway\"", &format!("\"{arch}\"")).replace("depth = 50", "depth = 5"));
            let mut m = Model::<f32>::build(&c.model, 40, 10, LossKind::CrossEntropy, 0).unwrap();
            let (params, _) = model_size(&c.model, &dims(&c));
            assert_eq!(params as usize, m.num_params(), "{arch}");
        }
    }

    #[test]
    fn parameters_are_counted_exactly_for_sequence_models() {
        use crate::config::{load_data, Data};
        use crate::seq::build::build_seq_model;
        let cases = [
            ("adding", "lstm", ""),
            ("adding", "gru", "bidirectional = true"),
            ("adding", "rnn_tanh", ""),
            ("adding", "rnn_relu", ""),
            ("adding", "tcn", "kernel_size = 3"),
            ("adding", "attention", "heads = 2\npositional = \"learned\""),
            ("copy", "gru", "embed_dim = 5"),
            (
                "copy",
                "lstm",
                "bidirectional = true\n[[model.layer_heads]]\nlayer = 0\n[[model.layer_heads]]\nlayer = 1",
            ),
        ];
        for a in Arch::ALL.into_iter().filter(|a| a.is_sequence()) {
            assert!(cases.iter().any(|c| c.1 == a.name()), "no case counts {}", a.name());
        }
        for (data, arch, extra) in cases {
            let text = format!(
                "[data]\nname = \"{data}\"\nt = 12\ntrain = 4\ntest = 4\n[model]\narch = \"{arch}\"\ndepth = 2\nwidth = 8\n{extra}\n[optim]\nlr = 0.1\noptimizer = {{ kind = \"sgd\" }}\n[train]\nepochs = 1\n"
            );
            let c = config(&text);
            let Data::Seq(split) = load_data(&c, None).unwrap() else { panic!() };
            let mut m = build_seq_model::<f32>(&c.model, &split, None, 0).unwrap();
            let d = Dims { input: split.train.in_dim(), ..dims(&c) };
            let (params, _) = model_size(&c.model, &d);
            let n: usize = m.params().iter().map(|(_, p)| p.len()).sum();
            assert_eq!(params as usize, n, "{arch} on {data}");
        }
    }

    #[test]
    fn adam_doubles_what_sgd_with_momentum_keeps() {
        let adam = estimate(&config(BASE));
        let sgd = estimate(&config(&BASE.replace("kind = \"adam\"", "kind = \"sgd\", momentum = 0.9")));
        assert_eq!(adam.optimizer, 2.0 * sgd.optimizer);
        assert_eq!(adam.params, sgd.params);
    }

    #[test]
    fn activations_grow_with_depth_batch_and_time() {
        let a = estimate(&config(BASE)).activations;
        let deeper = estimate(&config(&BASE.replace("depth = 50", "depth = 100"))).activations;
        assert!(deeper > 1.9 * a && deeper < 2.1 * a, "{a} {deeper}");
        let seq = "[data]\nname = \"adding\"\nt = 100\n[model]\narch = \"lstm\"\ndepth = 1\nwidth = 128\n[optim]\nlr = 0.1\noptimizer = { kind = \"sgd\" }\n[train]\nepochs = 1\nbatch_size = 32\n";
        let short = estimate(&config(seq)).activations;
        let long = estimate(&config(&seq.replace("t = 100", "t = 1000"))).activations;
        assert!(long > 9.0 * short && long < 11.0 * short, "{short} {long}");
    }

    #[test]
    fn refusal_names_the_dominant_part_and_its_keys() {
        let e = estimate(&config(&BASE.replace("width = 64", "width = 100000")));
        let msg = refuse_over(&e, Some(1_000_000_000), "this config").unwrap_err();
        assert!(msg.contains("--max-memory") && msg.contains("model.width"), "{msg}");
        assert!(refuse_over(&estimate(&config(BASE)), Some(10_000_000_000), "x").is_ok());
    }
}
