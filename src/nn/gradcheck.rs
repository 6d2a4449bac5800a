//! Finite-difference gradient checks, for any block (f64, central differences).
//!
//! The scalar checked is L = sum(r * block(x)) with a fixed random `r`, so dL/dy = r exercises
//! every output. For each input element and each parameter element (or a random subset of a
//! large tensor), (L(v + h) - L(v - h)) / 2h is compared with the analytic gradient.

use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{Block, Ctx, ParamList};
use crate::tensor::Mat;

/// The worst disagreement found, per tensor, as ||analytic - numeric|| / max(||analytic||, ||numeric||, 1e-12).
#[derive(Debug)]
pub struct GradReport {
    pub tensors: Vec<(String, f64)>,
}

impl GradReport {
    pub fn worst(&self) -> (String, f64) {
        self.tensors.iter().cloned().fold((String::new(), 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }

    /// Panics with every tensor's error when any exceeds `tol`.
    pub fn assert_below(&self, tol: f64) {
        let (name, err) = self.worst();
        assert!(
            err < tol,
            "gradient check failed: {name} has relative error {err:.3e} (tol {tol:.0e}); all: {:?}",
            self.tensors
        );
    }
}

fn rel_err(a: &[f64], n: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(n).map(|(a, n)| (a - n).powi(2)).sum::<f64>().sqrt();
    let na = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let nn = n.iter().map(|v| v * v).sum::<f64>().sqrt();
    diff / na.max(nn).max(1e-12)
}

/// Check dL/dx and dL/dtheta of `block` at `x`, sampling at most `max_per_tensor` elements of each.
pub fn check_block(block: &mut dyn Block<f64>, x: &Mat<f64>, max_per_tensor: usize, seed: u64) -> GradReport {
    let mut rng = StdRng::seed_from_u64(seed);
    let y = block.forward(x, &Ctx::TRAIN);
    let r = Mat::from_fn(y.rows, y.cols, |_, _| rng.random_range(-1.0..1.0));
    let loss = |block: &mut dyn Block<f64>, x: &Mat<f64>| -> f64 {
        let y = block.forward(x, &Ctx::TRAIN);
        y.data.iter().zip(&r.data).map(|(a, b)| a * b).sum()
    };
    // Analytic.
    zero_grads(block);
    block.forward(x, &Ctx::TRAIN);
    let dx = block.backward(&r);
    let mut analytic: Vec<(String, Vec<f64>)> = vec![("input".into(), dx.data.clone())];
    {
        let mut ps: ParamList<f64> = Vec::new();
        block.params("", &mut ps);
        for (name, p) in ps {
            analytic.push((name, p.grad.data.clone()));
        }
    }
    let h = 1e-6;
    let mut report = GradReport { tensors: Vec::new() };
    for (t, (name, grad)) in analytic.iter().enumerate() {
        let n = grad.len();
        let idx: Vec<usize> = if n <= max_per_tensor {
            (0..n).collect()
        } else {
            (0..max_per_tensor).map(|_| rng.random_range(0..n)).collect()
        };
        let mut a = Vec::new();
        let mut num = Vec::new();
        for &i in &idx {
            let perturbed = |block: &mut dyn Block<f64>, delta: f64| -> f64 {
                if t == 0 {
                    let mut xp = x.clone();
                    xp.data[i] += delta;
                    loss(block, &xp)
                } else {
                    set_param(block, t - 1, i, delta);
                    let l = loss(block, x);
                    set_param(block, t - 1, i, -delta);
                    l
                }
            };
            let fd = (perturbed(block, h) - perturbed(block, -h)) / (2.0 * h);
            a.push(grad[i]);
            num.push(fd);
        }
        report.tensors.push((name.clone(), rel_err(&a, &num)));
    }
    report
}

fn set_param(block: &mut dyn Block<f64>, p: usize, i: usize, delta: f64) {
    let mut ps: ParamList<f64> = Vec::new();
    block.params("", &mut ps);
    ps[p].1.value.data[i] += delta;
}

fn zero_grads(block: &mut dyn Block<f64>) {
    let mut ps: ParamList<f64> = Vec::new();
    block.params("", &mut ps);
    ps.into_iter().for_each(|(_, p)| p.zero_grad());
}

/// A batch of `rows x cols` values uniform in [-scale, scale].
pub fn random_input(rows: usize, cols: usize, scale: f64, seed: u64) -> Mat<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    Mat::from_fn(rows, cols, |_, _| rng.random_range(-scale..scale))
}
