//! Gradient flow: how large dL/d(output) is at every block of a feed-forward model, or at every
//! step of a sequence model, and how large dL/dtheta is for every parameter tensor, averaged
//! over batches.
//!
//! Norms are Frobenius norms of the whole batch's gradient (`batch x width`): since the loss is
//! a mean over the batch, they shrink like 1/sqrt(batch) with the batch size, but ratios between
//! layers do not depend on it.

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::nn::{Model, ParamList, Target};
use crate::seq::batch::SeqBatch;
use crate::seq::model::{Readout, SeqModel};
use crate::tensor::{Mat, Real};

/// The norm of one gradient, over batches.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NormStat {
    pub name: String,
    /// Mean over batches of the Frobenius norm.
    pub norm: f64,
    /// sqrt of the mean over batches of the squared norm.
    pub rms: f64,
    /// Each batch's norm.
    pub per_batch: Vec<f64>,
}

impl NormStat {
    fn new(name: &str) -> Self {
        NormStat { name: name.into(), ..Default::default() }
    }
    fn push(&mut self, v: f64) {
        self.per_batch.push(v);
        let n = self.per_batch.len() as f64;
        self.norm = self.per_batch.iter().sum::<f64>() / n;
        self.rms = (self.per_batch.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
    }
}

/// A parameter tensor's gradient norm and its value's norm.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ParamStat {
    pub name: String,
    pub shape: Vec<usize>,
    /// Mean over batches of ||dL/dtheta||.
    pub grad_norm: f64,
    /// ||theta||.
    pub value_norm: f64,
    /// grad_norm / value_norm (0 when the value is 0).
    pub ratio: f64,
}

/// One stack layer's gradient, with its index.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerNorm {
    pub layer: usize,
    pub name: String,
    pub norm: f64,
    pub rms: f64,
}

/// Gradient flow of a feed-forward model (`Model`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Gradflow {
    pub probe: String,
    pub kind: String,
    pub batches: usize,
    pub batch_size: usize,
    /// Mean loss over the batches.
    pub loss: f64,
    /// Every gradient tap in model order (`act.stem`, `act.layers.{i}`, `act.head`; dense
    /// stacks also `act.layers`).
    pub blocks: Vec<NormStat>,
    /// The taps `act.layers.{i}`, by i: the depth stack.
    pub layers: Vec<LayerNorm>,
    pub params: Vec<ParamStat>,
    /// norm(layers.0) / norm(layers.{L-1}) (null when the stack has one layer).
    pub first_to_last: Option<f64>,
    /// Least-squares slope of ln norm per layer going towards the input (layers.{L-1} to
    /// layers.0), over the whole stack.
    pub slope_per_layer: Option<f64>,
    pub elapsed_s: f64,
}

/// dL/dh for a batch's targets in the model's float type.
fn run_batch<F: Real>(model: &mut Model<F>, b: &Dataset) -> f64 {
    let x: Mat<F> = b.x.cast();
    match &b.y {
        crate::data::Targets::Classes { labels, .. } => model.forward_backward(&x, &Target::Classes(labels)).loss,
        crate::data::Targets::Values(v) => {
            let v: Mat<F> = v.cast();
            model.forward_backward(&x, &Target::Values(&v)).loss
        }
    }
}

/// `act.layers.{i}` -> i.
pub(crate) fn stack_index(name: &str) -> Option<usize> {
    name.strip_prefix("act.layers.")?.parse().ok()
}

/// The gradient at every block output and every parameter, over `batches`. The model's
/// parameter gradients are zeroed before and after; weights are not changed.
pub fn feed_forward<F: Real>(model: &mut Model<F>, batches: &[Dataset]) -> Gradflow {
    let started = std::time::Instant::now();
    model.set_taps(true);
    let mut blocks: Vec<NormStat> = Vec::new();
    let mut pgrad: Vec<f64> = Vec::new();
    let mut loss = 0.0;
    for b in batches {
        model.zero_grad();
        loss += run_batch(model, b);
        for (i, (name, g)) in model.taps().iter().enumerate() {
            if blocks.len() <= i {
                blocks.push(NormStat::new(name));
            }
            blocks[i].push(g.norm());
        }
        add_grad_norms(&model.params(), &mut pgrad);
    }
    model.set_taps(false);
    let params = param_stats(&model.params(), &pgrad, batches.len());
    model.zero_grad();
    let mut layers: Vec<LayerNorm> = blocks
        .iter()
        .filter_map(|b| {
            stack_index(&b.name).map(|layer| LayerNorm {
                layer,
                name: b.name.trim_start_matches("act.").into(),
                norm: b.norm,
                rms: b.rms,
            })
        })
        .collect();
    layers.sort_by_key(|l| l.layer);
    let first_to_last = (layers.len() >= 2).then(|| layers[0].norm / layers[layers.len() - 1].norm);
    let pts: Vec<(f64, f64)> = layers.iter().map(|l| ((layers.len() - 1 - l.layer) as f64, l.norm.ln())).collect();
    let slope_per_layer = (layers.len() >= 2).then(|| crate::stats::slope(&pts));
    Gradflow {
        probe: "gradflow".into(),
        kind: "feed_forward".into(),
        batches: batches.len(),
        batch_size: batches.first().map(|b| b.len()).unwrap_or(0),
        loss: loss / batches.len().max(1) as f64,
        blocks,
        layers,
        params,
        first_to_last,
        slope_per_layer,
        elapsed_s: started.elapsed().as_secs_f64(),
    }
}

/// One recurrent state's gradient (e.g. `act.rnn.l0.h`) against the distance from the loss.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimeSeries {
    /// The tap name without its step: `act.rnn.l0.h`, `act.rnn.l0.c`, `act.tcn.l2.h`.
    pub name: String,
    /// by_distance[d]: mean over batches of ||dL/dh_t|| at t = T - 1 - d (d steps before the
    /// last step, where a last-step readout's loss enters).
    pub by_distance: Vec<f64>,
    /// How many batches each distance was averaged over (sequences may differ in length).
    pub count: Vec<usize>,
    /// norm at the farthest distance / norm at distance 0.
    pub far_to_near: f64,
    /// Least-squares slope of ln norm per step going back in time.
    pub slope_per_step: f64,
}

/// Gradient flow of a sequence model (`SeqModel`): per-step gradients of every tapped state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeqGradflow {
    pub probe: String,
    pub kind: String,
    /// "last" (one target per sequence, read off the last step) or "each" (one per step).
    pub readout: String,
    pub batches: usize,
    pub loss: f64,
    pub series: Vec<TimeSeries>,
    pub params: Vec<ParamStat>,
    pub elapsed_s: f64,
}

/// `act.rnn.l0.h.17` -> (`act.rnn.l0.h`, 17).
fn split_step(name: &str) -> Option<(&str, usize)> {
    let (base, t) = name.rsplit_once('.')?;
    Some((base, t.parse().ok()?))
}

/// ||dL/dh_t|| of every tapped state (recurrent layers, TCN levels) against the distance from
/// the last step, over `batches`; parameter gradient norms as for feed-forward models.
pub fn sequence<F: Real>(model: &mut SeqModel<F>, batches: &[SeqBatch<F>]) -> SeqGradflow {
    let started = std::time::Instant::now();
    model.set_taps(true);
    // name -> (sum by distance, count by distance)
    let mut acc: Vec<(String, Vec<f64>, Vec<usize>)> = Vec::new();
    let mut pgrad: Vec<f64> = Vec::new();
    let mut loss = 0.0;
    for b in batches {
        model.zero_grad();
        loss += model.forward_backward(b).loss;
        for (name, g) in model.taps() {
            let Some((base, t)) = split_step(name) else { continue };
            if t >= b.time {
                continue;
            }
            let d = b.time - 1 - t;
            let i = match acc.iter().position(|a| a.0 == base) {
                Some(i) => i,
                None => {
                    acc.push((base.to_string(), Vec::new(), Vec::new()));
                    acc.len() - 1
                }
            };
            let (_, sum, count) = &mut acc[i];
            if sum.len() <= d {
                sum.resize(d + 1, 0.0);
                count.resize(d + 1, 0);
            }
            sum[d] += g.norm();
            count[d] += 1;
        }
        add_grad_norms(&model.params(), &mut pgrad);
    }
    model.set_taps(false);
    let params = param_stats(&model.params(), &pgrad, batches.len());
    model.zero_grad();
    let series = acc
        .into_iter()
        .map(|(name, sum, count)| {
            let by_distance: Vec<f64> = sum.iter().zip(&count).map(|(s, &c)| s / c.max(1) as f64).collect();
            let pts: Vec<(f64, f64)> = by_distance.iter().enumerate().map(|(d, v)| (d as f64, v.ln())).collect();
            let far_to_near = match (by_distance.first(), by_distance.last()) {
                (Some(&a), Some(&b)) => b / a,
                _ => f64::NAN,
            };
            TimeSeries { name, far_to_near, slope_per_step: crate::stats::slope(&pts), by_distance, count }
        })
        .collect();
    SeqGradflow {
        probe: "gradflow".into(),
        kind: "sequence".into(),
        readout: match model.readout {
            Readout::Last => "last".into(),
            Readout::Each => "each".into(),
        },
        batches: batches.len(),
        loss: loss / batches.len().max(1) as f64,
        series,
        params,
        elapsed_s: started.elapsed().as_secs_f64(),
    }
}

/// `acc[i] += ||dL/dtheta_i||` for every parameter, in order.
fn add_grad_norms<F: Real>(params: &ParamList<F>, acc: &mut Vec<f64>) {
    acc.resize(params.len(), 0.0);
    for (a, (_, p)) in acc.iter_mut().zip(params.iter()) {
        *a += p.grad.norm();
    }
}

/// Per parameter: the gradient norm averaged over `batches` (from `sums`), its value norm and
/// their ratio.
fn param_stats<F: Real>(params: &ParamList<F>, sums: &[f64], batches: usize) -> Vec<ParamStat> {
    let nb = batches.max(1) as f64;
    params
        .iter()
        .zip(sums)
        .map(|((name, p), g)| {
            let (grad_norm, value_norm) = (g / nb, p.value.norm());
            ParamStat {
                name: name.clone(),
                shape: p.shape.clone(),
                grad_norm,
                value_norm,
                ratio: if value_norm > 0.0 { grad_norm / value_norm } else { 0.0 },
            }
        })
        .collect()
}
