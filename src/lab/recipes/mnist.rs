//! The MNIST stacks of the feed-forward claims: C4's deep stacks, C13 (a)'s plain net with heads
//! and C7's sized stacks share one model and optimiser (the CPU reference's), so that what each
//! claim shows about an architecture is not a difference of recipe.

use crate::lab::{Configs, Run};

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
