//! Temporal depth: how the gradient of a sequence model's loss is spread over the inputs of the
//! steps before it, the temporal analogue of Veit et al.'s path-length distribution (probe
//! `paths`), and the effective temporal depth read off it.
//!
//! Definition. The *input* of step t is x_t, what the body reads at that step: the raw features
//! (`data.name = "adding"`), or the embedding's output for token data (`"copy"`, text). For a
//! loss step s (the step a loss term is read at) and a sequence b, the gradient reaching step
//! t = s - lag is g(s, b, lag) = ||dL_s/dx_{t,b}||, where L_s is the part of the (main) loss read
//! at step s. With a last-step readout (one target per sequence: adding, sequential MNIST) there
//! is one loss step, s = T - 1. With a per-step readout (copy memory, tagging) up to
//! `loss_steps` scored steps are taken, evenly spaced, and each is backpropagated on its own
//! (one forward and one backward per loss step), so that every term is decomposed by its own
//! lag s - t. Then, over the probe's batches, every sequence and every loss step (a sequence
//! counts at a loss step only where its label is scored):
//!
//! ```text
//! norm_by_lag[lag] = mean of g(s, b, lag)
//! mass[lag]        = sum of g(s, b, lag) / sum over all lags >= 0 of the same   (sums to 1)
//! effective_depth  = the smallest L such that mass[0] + .. + mass[L-1] >= fraction (0.9)
//! ```
//!
//! A loss step s reaches lags 0..=s only. Because a batch's loss is a mean over independent
//! sequences, row b of the batch's gradient is sequence b's own gradient (divided by the batch
//! size, a common factor that the normalisation removes). Inputs after the loss step (t > s,
//! only in bidirectional models) are not lags: their share of the whole gradient is
//! `future_fraction`, and `mass` is normalised over the past alone. For a convolutional body,
//! whose receptive field R is bounded, `mass[lag]` is exactly 0 for lag >= R
//! (`mass_beyond_receptive_field`). For a linear recurrence h_t = a h_{t-1} + W x_t,
//! `norm_by_lag[lag]` is a^lag times its value at lag 0 (`slope_per_step` = ln a).
//!
//! The model is not changed: parameter gradients are zeroed before and after.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::seq::IGNORE;
use crate::nn::loss::{mse, softmax_cross_entropy, LossOut};
use crate::nn::{Block, Ctx};
use crate::seq::batch::{BatchInputs, BatchTargets, SeqBatch};
use crate::seq::model::{Readout, SeqModel};
use crate::seq::Seq;
use crate::tensor::{Mat, Real};

/// What `temporal` measures.
#[derive(Clone, Debug)]
pub struct TemporalOptions {
    /// Per-step readouts: at most this many scored steps per batch are backpropagated, each on
    /// its own (evenly spaced over the scored steps, the first and the last included).
    pub loss_steps: usize,
    /// The share of the gradient mass that `effective_depth` holds.
    pub fraction: f64,
}

impl Default for TemporalOptions {
    fn default() -> Self {
        TemporalOptions { loss_steps: 8, fraction: 0.9 }
    }
}

/// The distribution of gradient mass over time lags (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Temporal {
    pub probe: String,
    /// The body's blocks, e.g. "lstm", "tcn", "linear+attention+attention".
    pub kind: String,
    /// "last" (one loss step per sequence, the last) or "each" (per-step targets).
    pub readout: String,
    /// "features" (raw inputs) or "embedding" (the embedding's output, for tokens).
    pub input: String,
    pub batches: usize,
    pub sequences: usize,
    /// The longest sequence seen.
    pub time: usize,
    /// Loss steps backpropagated, summed over batches.
    pub loss_steps: usize,
    pub fraction: f64,
    /// Mean loss over the batches.
    pub loss: f64,
    /// norm_by_lag[lag]: mean over (sequence, loss step) pairs of ||dL_s/dx_{s-lag}||.
    pub norm_by_lag: Vec<f64>,
    /// The (sequence, loss step) pairs that reached each lag.
    pub count_by_lag: Vec<usize>,
    /// The share of the gradient mass at each lag (sums to 1; all 0 when there is no gradient).
    pub mass: Vec<f64>,
    /// cumulative[lag] = mass[0] + .. + mass[lag].
    pub cumulative: Vec<f64>,
    /// The smallest L with cumulative[L - 1] >= fraction (null when there is no gradient).
    pub effective_depth: Option<usize>,
    /// Mass-weighted mean lag.
    pub mean_lag: f64,
    /// The share of the whole gradient that reaches inputs after the loss step (bidirectional
    /// models; 0 for causal ones).
    pub future_fraction: f64,
    /// Steps of input one output step sees (convolutional bodies; null when unbounded).
    pub receptive_field: Option<usize>,
    /// The mass at lags >= receptive_field (exactly 0 for a correct causal convolution).
    pub mass_beyond_receptive_field: Option<f64>,
    /// Least-squares slope of ln norm_by_lag per step back, over the lags whose norm is > 0.
    pub slope_per_step: f64,
    pub elapsed_s: f64,
}

/// dL/d(input) at every step, `(time * batch) x in` time-major, for `dout` = dL/d(head output)
/// of the last forward (`SeqModel::forward` with `Ctx::TRAIN`): the head, the readout's
/// scatter, then every body block's full backward, the first one included (training skips
/// that product on raw inputs, `SeqModel::backward`). For token inputs it is the gradient at the
/// embedding's output; the embedding itself gets no gradient. Parameter gradients of the head
/// and the body accumulate as in `SeqModel::backward`.
pub fn input_gradient<F: Real>(model: &mut SeqModel<F>, dout: &Mat<F>, time: usize, batch: usize) -> Seq<F> {
    let dh = model.head.backward(dout);
    let mut d = match model.readout {
        Readout::Each => Seq::from_mat(time, batch, dh),
        Readout::Last => {
            let mut s = Seq::zeros(time, batch, dh.cols);
            s.step_mut(time - 1).copy_from_slice(&dh.data);
            s
        }
    };
    for (_, b) in model.body.iter_mut().rev() {
        d = b.backward(&d);
    }
    d
}

fn loss_of<F: Real>(out: &Mat<F>, targets: &BatchTargets<F>) -> LossOut<F> {
    match targets {
        BatchTargets::LastValue(v) => mse(out, v),
        BatchTargets::LastClass(l) | BatchTargets::EachClass(l) => softmax_cross_entropy(out, l),
    }
}

/// Up to `k` of `steps`, evenly spaced, the first and the last included.
fn spread(steps: &[usize], k: usize) -> Vec<usize> {
    let (n, k) = (steps.len(), k.max(1));
    if n <= k {
        return steps.to_vec();
    }
    if k == 1 {
        return vec![steps[n - 1]];
    }
    let mut out: Vec<usize> = (0..k).map(|i| steps[(i * (n - 1) + (k - 1) / 2) / (k - 1)]).collect();
    out.dedup();
    out
}

/// The temporal-depth probe over `batches` (see the module docs).
pub fn temporal<F: Real>(
    model: &mut SeqModel<F>,
    batches: &[SeqBatch<F>],
    opts: &TemporalOptions,
) -> Result<Temporal, String> {
    let started = Instant::now();
    if batches.is_empty() {
        return Err("the temporal probe needs at least one batch".into());
    }
    if !(opts.fraction > 0.0 && opts.fraction <= 1.0) {
        return Err(format!("the temporal probe's fraction must be in (0, 1], got {}", opts.fraction));
    }
    model.zero_grad();
    let (mut sum, mut count): (Vec<f64>, Vec<usize>) = (Vec::new(), Vec::new());
    let (mut future, mut loss, mut sequences, mut time, mut nsteps) = (0.0f64, 0.0, 0, 0, 0);
    for b in batches {
        let (t_len, bs) = (b.time, b.batch);
        if t_len == 0 {
            continue;
        }
        time = time.max(t_len);
        sequences += bs;
        if sum.len() < t_len {
            sum.resize(t_len, 0.0);
            count.resize(t_len, 0);
        }
        // The loss steps and, per step, which sequences are scored there.
        let each = model.readout == Readout::Each;
        let scored = |s: usize, i: usize| -> bool {
            match &b.targets {
                BatchTargets::EachClass(l) => l[s * bs + i] != IGNORE,
                _ => true,
            }
        };
        let steps: Vec<usize> = if each {
            let all: Vec<usize> = (0..t_len).filter(|&s| (0..bs).any(|i| scored(s, i))).collect();
            spread(&all, opts.loss_steps)
        } else {
            vec![t_len - 1]
        };
        let mut batch_loss = None;
        for &s in &steps {
            let out = model.forward(b, &Ctx::TRAIN);
            let mut l = loss_of(&out, &b.targets);
            batch_loss.get_or_insert(l.loss);
            if each {
                // Keep the rows of step s: the gradient of the loss terms read there.
                let w = l.grad.cols;
                for (r, row) in l.grad.data.chunks_exact_mut(w).enumerate() {
                    if r / bs != s {
                        row.fill(F::zero());
                    }
                }
            }
            let dx = input_gradient(model, &l.grad, t_len, bs);
            for i in (0..bs).filter(|&i| scored(s, i)) {
                for t in 0..t_len {
                    let g = dx.step_row(t, i).iter().map(|v| v.f64() * v.f64()).sum::<f64>().sqrt();
                    if t <= s {
                        sum[s - t] += g;
                        count[s - t] += 1;
                    } else {
                        future += g;
                    }
                }
            }
        }
        nsteps += steps.len();
        loss += batch_loss.unwrap_or(f64::NAN);
    }
    model.zero_grad();
    let past: f64 = sum.iter().sum();
    let norm_by_lag: Vec<f64> = sum.iter().zip(&count).map(|(s, &c)| if c > 0 { s / c as f64 } else { 0.0 }).collect();
    let ok = past > 0.0 && past.is_finite();
    let mass: Vec<f64> = sum.iter().map(|s| if ok { s / past } else { 0.0 }).collect();
    let cumulative: Vec<f64> = mass
        .iter()
        .scan(0.0, |acc, m| {
            *acc += m;
            Some(*acc)
        })
        .collect();
    // A hair of slack so that rounding in the cumulative sum cannot push the 90% lag by one.
    let effective_depth =
        ok.then(|| cumulative.iter().position(|&c| c >= opts.fraction - 1e-12).map_or(mass.len(), |i| i + 1));
    let mean_lag = if ok { mass.iter().enumerate().map(|(l, m)| l as f64 * m).sum() } else { f64::NAN };
    let receptive_field = model.receptive_field();
    let mass_beyond_receptive_field = receptive_field.map(|r| mass.iter().skip(r).sum());
    let pts: Vec<(f64, f64)> =
        norm_by_lag.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(l, v)| (l as f64, v.ln())).collect();
    let slope_per_step = crate::stats::slope(&pts);
    let kind = model.body.iter().map(|(_, b)| b.kind()).collect::<Vec<_>>().join("+");
    Ok(Temporal {
        probe: "temporal".into(),
        kind,
        readout: match model.readout {
            Readout::Last => "last".into(),
            Readout::Each => "each".into(),
        },
        input: match batches[0].inputs {
            BatchInputs::Real(_) => "features".into(),
            BatchInputs::Tokens(_) => "embedding".into(),
        },
        batches: batches.len(),
        sequences,
        time,
        loss_steps: nsteps,
        fraction: opts.fraction,
        loss: loss / batches.len() as f64,
        future_fraction: if past + future > 0.0 { future / (past + future) } else { 0.0 },
        norm_by_lag,
        count_by_lag: count,
        mass,
        cumulative,
        effective_depth,
        mean_lag,
        receptive_field,
        mass_beyond_receptive_field,
        slope_per_step,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// The mass per lag (log y) with the effective depth marked, and the cumulative mass.
pub fn plot(t: &Temporal) -> (String, String) {
    use crate::plot::{LinePlot, Series};
    let depth = t.effective_depth.map_or("n/a".to_string(), |d| d.to_string());
    let title = format!("gradient mass by time lag ({}, effective depth {depth})", t.kind);
    let pts: Vec<(f64, f64)> =
        t.mass.iter().enumerate().filter(|(_, m)| **m > 0.0).map(|(l, m)| (l as f64, *m)).collect();
    let mut p = LinePlot::new(title, "lag (steps between input and loss)", "share of gradient mass")
        .log_y(true)
        .series(Series::new("mass(lag)", pts));
    let top = t.mass.iter().copied().fold(0.0, f64::max);
    let low = t.mass.iter().copied().filter(|m| *m > 0.0).fold(f64::INFINITY, f64::min);
    if let (Some(d), true) = (t.effective_depth, top > 0.0) {
        let x = d as f64 - 0.5;
        p = p.series(
            Series::new(format!("{:.0}% of the mass below", 100.0 * t.fraction), vec![(x, low), (x, top)]).dashed(),
        );
    }
    if let (Some(r), true) = (t.receptive_field, top > 0.0) {
        let x = r as f64 - 0.5;
        p = p.series(Series::new("receptive field", vec![(x, low), (x, top)]).dashed());
    }
    let cum: Vec<(f64, f64)> = t.cumulative.iter().enumerate().map(|(l, c)| (l as f64, *c)).collect();
    let n = t.cumulative.len().max(1) as f64 - 1.0;
    let c = LinePlot::new(
        format!("cumulative gradient mass ({})", t.kind),
        "lag (steps between input and loss)",
        "mass at lags <= lag",
    )
    .y_range(0.0, 1.0)
    .series(Series::new("cumulative mass", cum))
    .series(Series::new(format!("{:.0}%", 100.0 * t.fraction), vec![(0.0, t.fraction), (n, t.fraction)]).dashed());
    (p.to_svg(), c.to_svg())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_keeps_ends() {
        let s: Vec<usize> = (10..20).collect();
        assert_eq!(spread(&s, 3), vec![10, 15, 19]);
        assert_eq!(spread(&s, 20), s);
        assert_eq!(spread(&s, 1), vec![19]);
        assert_eq!(spread(&s, 2), vec![10, 19]);
    }
}
