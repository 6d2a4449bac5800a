//! The MNIST stacks of the feed-forward claims: C4's deep stacks, C13 (a)'s plain net with heads
//! and C7's sized stacks share one model and optimiser (the CPU reference's), so that what each
//! claim shows about an architecture is not a difference of recipe.

use crate::lab::{Configs, Measure, Run};

/// The CPU reference of Srivastava et al.'s highway experiments (npow/schmidhuber-problems):
/// a 6k MNIST subset, tanh, Gaussian sigma_w^2 = 1, Adam 5e-3, gradient norm clipped to 5,
/// batch 128, gate bias -2, 12 epochs; the training set evaluated whole after each epoch.
pub const CPU_REFERENCE: &str = r#"
[data]
name = "mnist"
train_subset = 6000
test_subset = 2000
[model]
arch = "highway"
depth = 10
width = 50
activation = "tanh"
init = { kind = "gaussian", sigma_w2 = 1.0, sigma_b2 = 0.0 }
gate_bias = -2.0
[optim]
lr = 0.005
optimizer = { kind = "adam" }
clip_grad_norm = 5.0
[train]
epochs = 12
batch_size = 128
eval_train = true
"#;

/// For the pipeline's tests: a few steps of small nets on MNIST-1D.
pub const TINY_DATA: &str = r#"data = { name = "mnist1d", num_samples = 300 }"#;
pub const TINY_OPTIM: &str = r#"optim = { lr = 0.005, optimizer = { kind = "adam" } }"#;

/// Deep stacks as Srivastava et al. trained them (C4, C13 (a)): the CPU reference at quick
/// scale; at paper scale their setting as far as this engine goes: all of MNIST, SGD with
/// momentum and an exponentially decaying rate, longer training. The claims set arch and depth.
pub const SRIVASTAVA: Configs = Configs {
    base: CPU_REFERENCE,
    quick: &[],
    paper: &[
        r#"data = { name = "mnist" }"#,
        r#"optim = { lr = 0.01, optimizer = { kind = "sgd", momentum = 0.9 }, schedule = { kind = "exponential", gamma = 0.9999 }, clip_grad_norm = 5.0 }"#,
        "train.epochs = 40",
    ],
    tiny: &[TINY_DATA, "model.width = 8", TINY_OPTIM, "train = { epochs = 1, batch_size = 64, eval_train = true }"],
};

/// Srivastava et al.'s transform-gate bias for a highway stack of `depth` layers (CLAIMS.md
/// C4, protocol v2): they searched it in [-10, -1] and made it more negative for deeper nets.
/// Fixed as the bias whose coupled carry path keeps a gain of [`CARRY_GAIN`] at initialisation,
/// (1 - sigmoid(b))^(depth - 1) = 0.1, at every depth: b = logit(1 - 0.1^(1 / (depth - 1))),
/// about -1.2, -2.0, -3.0 and -3.75 at depth 10, 20, 50 and 100. A stack of one layer has no
/// carry path to keep: the formula needs depth >= 2.
pub fn gate_bias(depth: usize) -> f64 {
    assert!(depth >= 2, "the gate bias by depth needs a carry path: depth {depth} < 2");
    let t = 1.0 - CARRY_GAIN.powf(1.0 / (depth - 1) as f64);
    (t / (1.0 - t)).ln()
}

/// The coupled carry path's gain at initialisation that [`gate_bias`] keeps at every depth.
pub const CARRY_GAIN: f64 = 0.1;

/// The test accuracy after the last epoch; NaN for a run that diverged.
pub fn test_accuracy(r: &Run) -> Result<f64, String> {
    if r.diverged() {
        Ok(f64::NAN)
    } else {
        r.last("test_accuracy")
    }
}

/// The training-set loss after the last epoch (the main head's, evaluated over the whole
/// training set: `eval_train`); NaN for a run that diverged.
pub fn final_loss(r: &Run) -> Result<f64, String> {
    if r.diverged() {
        Ok(f64::NAN)
    } else {
        r.last("train_eval_loss")
    }
}

/// The training-set loss after each epoch, against the epochs done (1, 2, ...).
pub fn loss_curve(r: &Run) -> Result<Vec<(f64, f64)>, String> {
    Ok(r.series("epoch", "train_eval_loss")?.into_iter().map(|(e, v)| (e.epoch as f64 + 1.0, v)).collect())
}

/// What the seeds' own outcomes disagree on, for a claim the seeds leave inconclusive: each
/// judged condition that some seeds met and others did not, with the seeds on each side
/// ("highway depth 100 / depth 10: met by seeds 1, 3, not by 2"); empty when they agree.
pub fn seeds_split(per_seed: &[(u64, Vec<Measure>)]) -> String {
    let Some((_, first)) = per_seed.first() else { return String::new() };
    let mut out = Vec::new();
    for (k, m) in first.iter().enumerate().filter(|(_, m)| !m.condition.is_empty()) {
        let side = |want: Option<bool>| -> Vec<String> {
            per_seed
                .iter()
                .filter(|(_, ms)| ms.get(k).and_then(|m| m.met) == want)
                .map(|(s, _)| s.to_string())
                .collect()
        };
        let (yes, no, open) = (side(Some(true)), side(Some(false)), side(None));
        if [&yes, &no, &open].iter().filter(|v| !v.is_empty()).count() > 1 {
            let mut sides = Vec::new();
            for (v, what) in [(yes, "met by seeds"), (no, "failed by seeds"), (open, "not judged for seeds")] {
                if !v.is_empty() {
                    sides.push(format!("{what} {}", v.join(", ")));
                }
            }
            out.push(format!("{} {} ({})", m.name, m.condition, sides.join("; ")));
        }
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_split_names_the_conditions_they_disagree_on() {
        let m = |v: f64| vec![Measure::new("r", v, "").at_most(1.0), Measure::new("x", v, "").at_least(0.0)];
        assert_eq!(seeds_split(&[(1, m(0.5)), (2, m(0.6))]), "");
        assert_eq!(
            seeds_split(&[(1, m(0.5)), (2, m(2.0)), (3, m(0.1))]),
            "r <= 1 (met by seeds 1, 3; failed by seeds 2)"
        );
    }

    #[test]
    fn the_gate_bias_keeps_the_carry_gain_at_every_depth() {
        for (depth, about) in [(10, -1.2), (20, -2.0), (50, -3.0), (100, -3.75)] {
            let b = gate_bias(depth);
            assert!((b - about).abs() < 0.06, "depth {depth}: {b}");
            let carry = 1.0 - 1.0 / (1.0 + (-b).exp());
            assert!((carry.powi(depth as i32 - 1) - CARRY_GAIN).abs() < 1e-12, "depth {depth}");
        }
    }
}
