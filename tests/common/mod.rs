//! Helpers shared by the integration tests: models and batches for the probe tests, and
//! running the `depthlab` command.
#![allow(dead_code)]

use depthlab::data::{Dataset, Targets};
use depthlab::nn::{LossKind, Model, ModelConfig};
use depthlab::tensor::Mat;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// A model from a `[model]` table, for `in_dim` inputs and 10 classes.
pub fn model(toml: &str, in_dim: usize, seed: u64) -> Model<f32> {
    let cfg: ModelConfig = toml::from_str(toml).unwrap();
    Model::build(&cfg, in_dim, 10, LossKind::CrossEntropy, seed).unwrap()
}

/// `n` batches of `b` Gaussian inputs of width `d` with random labels.
pub fn batches(n: usize, b: usize, d: usize, seed: u64) -> Vec<Dataset> {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 1.0).unwrap();
    (0..n)
        .map(|_| {
            let x = Mat::from_fn(b, d, |_, _| normal.sample(&mut rng) as f32);
            let labels = (0..b).map(|_| rng.random_range(0..10)).collect();
            Dataset::new(x, Targets::Classes { labels, n_classes: 10 })
        })
        .collect()
}

/// What a finished `depthlab` process gave.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `depthlab` with `args`, set up further by `setup` (folder, environment), run to its end.
pub fn run_depthlab(args: &[&str], setup: impl FnOnce(&mut std::process::Command)) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_depthlab"));
    cmd.args(args);
    setup(&mut cmd);
    let std::process::Output { status, stdout, stderr } = cmd.output().expect("run depthlab");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}
