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

/// Something with an input, parameters and an output, seen as flat vectors: a `Block` on a batch,
/// a `SeqBlock` on a sequence batch. One checker serves them all.
pub trait Differentiable {
    /// The output for input `x` (and the current parameters).
    fn output(&mut self, x: &[f64]) -> Vec<f64>;
    /// Forward at `x`, then backward with dL/d(output) = `r`: returns dL/dx and accumulates
    /// the parameter gradients.
    fn input_grad(&mut self, x: &[f64], r: &[f64]) -> Vec<f64>;
    fn params(&mut self) -> ParamList<'_, f64>;
}

/// A `Block` on a batch of `.1` rows.
pub struct BlockAt<'a>(pub &'a mut dyn Block<f64>, pub usize);

impl Differentiable for BlockAt<'_> {
    fn output(&mut self, x: &[f64]) -> Vec<f64> {
        let m = Mat::from_vec(self.1, x.len() / self.1, x.to_vec());
        self.0.forward(&m, &Ctx::TRAIN).data
    }
    fn input_grad(&mut self, x: &[f64], r: &[f64]) -> Vec<f64> {
        let y = self.output(x);
        self.0.backward(&Mat::from_vec(self.1, y.len() / self.1, r.to_vec())).data
    }
    fn params(&mut self) -> ParamList<'_, f64> {
        let mut ps = Vec::new();
        self.0.params("", &mut ps);
        ps
    }
}

/// Per tensor (`input` and each parameter): ||analytic - numeric|| / max(both norms, 1e-12)
/// over at most `max_per_tensor` sampled elements, for L = sum(r * output(x)) with a fixed
/// random r.
pub fn check(f: &mut dyn Differentiable, x: &[f64], max_per_tensor: usize, seed: u64) -> GradReport {
    let mut rng = StdRng::seed_from_u64(seed);
    let y = f.output(x);
    let r: Vec<f64> = (0..y.len()).map(|_| rng.random_range(-1.0..1.0)).collect();
    let loss = |f: &mut dyn Differentiable, x: &[f64]| -> f64 { f.output(x).iter().zip(&r).map(|(a, b)| a * b).sum() };
    f.params().into_iter().for_each(|(_, p)| p.zero_grad());
    let dx = f.input_grad(x, &r);
    let mut analytic: Vec<(String, Vec<f64>)> = vec![("input".into(), dx)];
    analytic.extend(f.params().into_iter().map(|(n, p)| (n, p.grad.data.clone())));
    let h = 1e-6;
    let mut report = GradReport { tensors: Vec::new() };
    for (t, (name, grad)) in analytic.iter().enumerate() {
        let n = grad.len();
        let idx: Vec<usize> = if n <= max_per_tensor {
            (0..n).collect()
        } else {
            (0..max_per_tensor).map(|_| rng.random_range(0..n)).collect()
        };
        let (mut a, mut num) = (Vec::new(), Vec::new());
        for &i in &idx {
            let mut at = |delta: f64| -> f64 {
                if t == 0 {
                    let mut xp = x.to_vec();
                    xp[i] += delta;
                    loss(f, &xp)
                } else {
                    f.params()[t - 1].1.value.data[i] += delta;
                    let l = loss(f, x);
                    f.params()[t - 1].1.value.data[i] -= delta;
                    l
                }
            };
            num.push((at(h) - at(-h)) / (2.0 * h));
            a.push(grad[i]);
        }
        report.tensors.push((name.clone(), rel_err(&a, &num)));
    }
    report
}

/// Check dL/dx and dL/dtheta of `block` at `x`, sampling at most `max_per_tensor` elements of each.
pub fn check_block(block: &mut dyn Block<f64>, x: &Mat<f64>, max_per_tensor: usize, seed: u64) -> GradReport {
    check(&mut BlockAt(block, x.rows), &x.data, max_per_tensor, seed)
}

/// A batch of `rows x cols` values uniform in [-scale, scale].
pub fn random_input(rows: usize, cols: usize, scale: f64, seed: u64) -> Mat<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    Mat::from_fn(rows, cols, |_, _| rng.random_range(-scale..scale))
}
