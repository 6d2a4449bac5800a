//! Gate statistics. Highway nets: per layer, the transform gate's bias (mean over units), the
//! mean gate value T over a batch, and its saturation (fractions of values below 0.1: the
//! layer only carries; above 0.9: it only transforms); the carry gate likewise when it is
//! independent. LSTM: input, forget and output gates (and the candidate g) per step; GRU: reset
//! and update gates (and the candidate n) per step.

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::nn::{Ctx, Model};
use crate::seq::batch::{BatchInputs, SeqBatch};
use crate::seq::model::SeqModel;
use crate::seq::{CellKind, HhInit, Rnn, RnnConfig, SeqBlock};
use crate::tensor::{matmul_into, Mat, Real, View};

/// Below LOW a gate counts as closed, above HIGH as open.
pub const LOW: f64 = 0.1;
pub const HIGH: f64 = 0.9;

/// Mean and saturation of a set of gate values.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GateStat {
    pub mean: f64,
    pub std: f64,
    /// Fraction of values < 0.1.
    pub frac_below: f64,
    /// Fraction of values > 0.9.
    pub frac_above: f64,
    pub count: usize,
}

#[derive(Default)]
struct Acc {
    sum: f64,
    sq: f64,
    below: usize,
    above: usize,
    n: usize,
}

impl Acc {
    fn add<F: Real>(&mut self, vals: &[F]) {
        for v in vals {
            let v = v.f64();
            self.sum += v;
            self.sq += v * v;
            self.below += (v < LOW) as usize;
            self.above += (v > HIGH) as usize;
        }
        self.n += vals.len();
    }
    fn stat(&self) -> GateStat {
        let n = self.n.max(1) as f64;
        let mean = self.sum / n;
        GateStat {
            mean,
            std: (self.sq / n - mean * mean).max(0.0).sqrt(),
            frac_below: self.below as f64 / n,
            frac_above: self.above as f64 / n,
            count: self.n,
        }
    }
}

/// One highway layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HighwayLayer {
    pub layer: usize,
    pub name: String,
    /// Mean of `layers.{i}.gate.bias`.
    pub gate_bias: f64,
    pub transform: GateStat,
    /// The independent carry gate C, when there is one.
    pub carry: Option<GateStat>,
    pub carry_bias: Option<f64>,
}

/// Gate statistics of a highway net.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HighwayGates {
    pub probe: String,
    pub kind: String,
    pub examples: usize,
    pub layers: Vec<HighwayLayer>,
    /// Over all layers and values.
    pub transform: GateStat,
    /// Fraction of layers whose mean T is below 0.1 (closed: the layer only carries) and
    /// above 0.9 (open).
    pub frac_layers_closed: f64,
    pub frac_layers_open: f64,
    pub elapsed_s: f64,
}

fn sigmoid_stats<F: Real>(h: &Mat<F>, w: &Mat<F>, b: &Mat<F>, acc: &mut Acc) {
    let mut z = Mat::zeros(h.rows, w.rows);
    for r in 0..z.rows {
        z.row_mut(r).copy_from_slice(&b.data);
    }
    matmul_into(&mut z, 0, View::of(h), View::of(w).t(), true);
    F::sigmoid_slice(&mut z.data);
    acc.add(&z.data);
}

/// Transform (and independent carry) gate statistics of every highway layer over `batches`.
/// Gates are recomputed from each layer's input and its `gate.*` (`carry.*`) parameters, so
/// any block computing them is left alone. Errors when the model has no highway layers.
pub fn highway<F: Real>(model: &mut Model<F>, batches: &[Dataset]) -> Result<HighwayGates, String> {
    let started = std::time::Instant::now();
    let n = model.blocks.len();
    let hw: Vec<usize> = (0..n).filter(|&i| model.blocks[i].1.kind() == "highway").collect();
    if hw.is_empty() {
        return Err(format!("the gates probe needs highway layers, and this {:?} model has none", model.config.arch));
    }
    let mut t_acc: Vec<Acc> = hw.iter().map(|_| Acc::default()).collect();
    let mut c_acc: Vec<Acc> = hw.iter().map(|_| Acc::default()).collect();
    let mut has_carry = vec![false; hw.len()];
    let mut examples = 0;
    for b in batches {
        examples += b.len();
        let mut h: Mat<F> = b.x.cast();
        for i in 0..n {
            if let Some(j) = hw.iter().position(|&k| k == i) {
                let (name, block) = &mut model.blocks[i];
                let mut ps = Vec::new();
                block.params(name, &mut ps);
                let get = |s: &str| ps.iter().find(|(n, _)| n.ends_with(s)).map(|(_, p)| &p.value);
                if let (Some(w), Some(bias)) = (get(".gate.weight"), get(".gate.bias")) {
                    sigmoid_stats(&h, w, bias, &mut t_acc[j]);
                }
                if let (Some(w), Some(bias)) = (get(".carry.weight"), get(".carry.bias")) {
                    has_carry[j] = true;
                    sigmoid_stats(&h, w, bias, &mut c_acc[j]);
                }
            }
            h = model.blocks[i].1.forward(&h, &Ctx::EVAL);
        }
    }
    let mut total = Acc::default();
    let mut layers = Vec::new();
    for (j, &i) in hw.iter().enumerate() {
        let (name, block) = &mut model.blocks[i];
        let mut ps = Vec::new();
        block.params(name, &mut ps);
        let bias_mean = |s: &str| {
            ps.iter().find(|(n, _)| n.ends_with(s)).map(|(_, p)| {
                let d = &p.value.data;
                d.iter().map(|v| v.f64()).sum::<f64>() / d.len().max(1) as f64
            })
        };
        let a = &t_acc[j];
        total.sum += a.sum;
        total.sq += a.sq;
        total.below += a.below;
        total.above += a.above;
        total.n += a.n;
        layers.push(HighwayLayer {
            layer: name.strip_prefix("layers.").and_then(|s| s.parse().ok()).unwrap_or(j),
            name: name.clone(),
            gate_bias: bias_mean(".gate.bias").unwrap_or(f64::NAN),
            transform: a.stat(),
            carry: has_carry[j].then(|| c_acc[j].stat()),
            carry_bias: bias_mean(".carry.bias"),
        });
    }
    let nl = layers.len() as f64;
    Ok(HighwayGates {
        probe: "gates".into(),
        kind: "highway".into(),
        examples,
        frac_layers_closed: layers.iter().filter(|l| l.transform.mean < LOW).count() as f64 / nl,
        frac_layers_open: layers.iter().filter(|l| l.transform.mean > HIGH).count() as f64 / nl,
        transform: total.stat(),
        layers,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// One gate of one recurrent layer and direction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecurrentGate {
    /// "i", "f", "g", "o" (LSTM) or "r", "z", "n" (GRU), as PyTorch orders them.
    pub gate: String,
    /// What the gate is: "input", "forget", "candidate", "output", "reset", "update".
    pub role: String,
    /// Over all steps, sequences and units.
    pub overall: GateStat,
    /// mean_per_step[t]: the mean at step t over the batches that reach t.
    pub mean_per_step: Vec<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecurrentLayer {
    pub layer: usize,
    pub direction: usize,
    pub gates: Vec<RecurrentGate>,
}

/// Gate statistics of an LSTM or GRU.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecurrentGates {
    pub probe: String,
    /// "lstm" or "gru".
    pub kind: String,
    pub batches: usize,
    pub layers: Vec<RecurrentLayer>,
    pub elapsed_s: f64,
}

fn role(cell: CellKind, g: &str) -> &'static str {
    match (cell, g) {
        (CellKind::Lstm, "i") => "input",
        (CellKind::Lstm, "f") => "forget",
        (CellKind::Lstm, "g") | (CellKind::Gru, "n") => "candidate",
        (CellKind::Lstm, "o") => "output",
        (CellKind::Gru, "r") => "reset",
        (CellKind::Gru, "z") => "update",
        _ => "?",
    }
}

/// A stand-alone copy of the model's recurrent body named `rnn` (the model keeps it behind
/// `dyn SeqBlock`), with the model's weights: its `gate_values` are the model's.
fn rnn_copy<F: Real>(model: &mut SeqModel<F>, cfg: &crate::nn::ModelConfig, in_dim: usize) -> Result<Rnn<F>, String> {
    let cell = match cfg.arch {
        crate::nn::Arch::Lstm => CellKind::Lstm,
        crate::nn::Arch::Gru => CellKind::Gru,
        a => return Err(format!("the gates probe reads recurrent gates of lstm and gru cells, not of {}", a.name())),
    };
    let rc = RnnConfig::new(cell, in_dim, cfg.width)
        .layers(cfg.depth)
        .bidirectional(cfg.bidirectional.unwrap_or(false))
        .hh_init(HhInit::Default);
    let mut rnn = Rnn::new(&rc, &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0));
    rnn.threads = 1;
    let mut src = Vec::new();
    for (name, b) in model.body.iter_mut() {
        b.params(name, &mut src);
    }
    let mut dst = Vec::new();
    rnn.params("rnn", &mut dst);
    for (name, p) in dst.iter_mut() {
        let (_, s) = src
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| format!("the model has no parameter {name} for its {} body", cell.name()))?;
        if s.value.shape() != p.value.shape() {
            return Err(format!("parameter {name}: shape {:?}, expected {:?}", s.value.shape(), p.value.shape()));
        }
        p.value.data.copy_from_slice(&s.value.data);
    }
    Ok(rnn)
}

/// Per-step gate statistics of an LSTM or GRU model over `batches`.
pub fn recurrent<F: Real>(
    model: &mut SeqModel<F>,
    cfg: &crate::nn::ModelConfig,
    batches: &[SeqBatch<F>],
) -> Result<RecurrentGates, String> {
    let started = std::time::Instant::now();
    let Some(first) = batches.first() else { return Err("the gates probe needs at least one batch".into()) };
    let in_dim = match (&first.inputs, &model.embed) {
        (_, Some(e)) => e.dim(),
        (BatchInputs::Real(x), None) => x.dim(),
        (BatchInputs::Tokens(_), None) => return Err("token inputs need an embedding".into()),
    };
    let mut rnn = rnn_copy(model, cfg, in_dim)?;
    let cell = if cfg.arch == crate::nn::Arch::Lstm { CellKind::Lstm } else { CellKind::Gru };
    let nd = 1 + cfg.bidirectional.unwrap_or(false) as usize;
    let names = cell.gate_names();
    // [layer*nd + dir][gate] -> (overall, per-step sums, per-step counts)
    type PerStep = (Acc, Vec<f64>, Vec<usize>);
    let mut acc: Vec<Vec<PerStep>> =
        (0..cfg.depth * nd).map(|_| names.iter().map(|_| (Acc::default(), Vec::new(), Vec::new())).collect()).collect();
    for b in batches {
        let x = match (&b.inputs, &mut model.embed) {
            (BatchInputs::Tokens(ids), Some(e)) => e.forward(ids, b.time, b.batch),
            (BatchInputs::Real(x), None) => x.clone(),
            _ => return Err("the batch's inputs do not fit the model's input layer".into()),
        };
        rnn.forward(&x, &Ctx::EVAL);
        for l in 0..cfg.depth {
            for d in 0..nd {
                for (k, (_, seq)) in rnn.gate_values(l, d).iter().enumerate() {
                    let (all, sums, counts) = &mut acc[l * nd + d][k];
                    if sums.len() < seq.time {
                        sums.resize(seq.time, 0.0);
                        counts.resize(seq.time, 0);
                    }
                    for t in 0..seq.time {
                        let v = seq.step(t);
                        all.add(v);
                        sums[t] += v.iter().map(|x| x.f64()).sum::<f64>() / v.len().max(1) as f64;
                        counts[t] += 1;
                    }
                }
            }
        }
    }
    let layers = acc
        .into_iter()
        .enumerate()
        .map(|(i, gates)| RecurrentLayer {
            layer: i / nd,
            direction: i % nd,
            gates: gates
                .into_iter()
                .zip(names)
                .map(|((all, sums, counts), &g)| RecurrentGate {
                    gate: g.into(),
                    role: role(cell, g).into(),
                    overall: all.stat(),
                    mean_per_step: sums.iter().zip(&counts).map(|(s, &c)| s / c.max(1) as f64).collect(),
                })
                .collect(),
        })
        .collect();
    Ok(RecurrentGates {
        probe: "gates".into(),
        kind: cell.name().into(),
        batches: batches.len(),
        layers,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}
