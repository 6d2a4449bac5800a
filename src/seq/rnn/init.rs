//! Initialisation of one direction of one layer: PyTorch's default, then the options of
//! `RnnConfig` (recurrent-weight scheme, LSTM forget-gate bias). Values are drawn in f64 and
//! cast, so an f32 and an f64 model built from the same seed hold the same numbers.

use rand::Rng;
use rand_distr::{Distribution, Normal};

use super::{CellKind, HhInit, RnnConfig};
use crate::nn::random_orthogonal;

/// The four tensors of one direction, in f64: `w_ih` is `G*H x in` and `w_hh` is `G*H x H`,
/// row-major, gate blocks stacked in PyTorch's order.
pub(super) struct DirInit {
    pub w_ih: Vec<f64>,
    pub w_hh: Vec<f64>,
    pub b_ih: Vec<f64>,
    pub b_hh: Vec<f64>,
}

pub(super) fn init_dir(cfg: &RnnConfig, fan_in: usize, rng: &mut impl Rng) -> DirInit {
    let hs = cfg.hidden_size;
    let gh = cfg.cell.gates() * hs;
    // PyTorch: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)).
    let k = 1.0 / (hs as f64).sqrt();
    let mut u = |n: usize| -> Vec<f64> { (0..n).map(|_| rng.random_range(-k..k)).collect() };
    let mut d = DirInit { w_ih: u(gh * fan_in), w_hh: u(gh * hs), b_ih: u(gh), b_hh: u(gh) };
    // The recurrent scheme, one H x H gate block at a time.
    let blocks = d.w_hh.chunks_exact_mut(hs * hs);
    match cfg.hh_init {
        HhInit::Default => {}
        HhInit::Orthogonal { gain } => {
            for b in blocks {
                let q = random_orthogonal(hs, hs, rng);
                b.iter_mut().zip(&q.data).for_each(|(w, q)| *w = gain * q);
            }
        }
        HhInit::Spectral { radius } => {
            let normal = Normal::new(0.0, 1.0).expect("unit normal");
            for b in blocks {
                b.iter_mut().for_each(|w| *w = normal.sample(rng));
                let rho = spectral_radius(b, hs, rng);
                let s = if rho > 0.0 { radius / rho } else { 0.0 };
                b.iter_mut().for_each(|w| *w *= s);
            }
        }
        HhInit::Identity => {
            for b in blocks {
                b.iter_mut().enumerate().for_each(|(i, w)| *w = if i / hs == i % hs { 1.0 } else { 0.0 });
            }
            d.b_ih.fill(0.0);
            d.b_hh.fill(0.0);
        }
    }
    if let (CellKind::Lstm, Some(fb)) = (cfg.cell, cfg.forget_bias) {
        d.b_ih[hs..2 * hs].fill(fb);
        d.b_hh[hs..2 * hs].fill(0.0);
    }
    d
}

/// The largest |eigenvalue| of the row-major `n x n` matrix `a`, estimated by power iteration in
/// f64: after a burn-in of 200 products, the geometric mean of the growth factor ||A v|| / ||v||
/// over the next 800. The mean (not the last ratio) converges also when the dominant eigenvalue
/// is a complex pair, where v rotates instead of settling; the estimate is within about 1% for
/// Gaussian matrices, whose leading eigenvalues are close in modulus.
pub fn spectral_radius(a: &[f64], n: usize, rng: &mut impl Rng) -> f64 {
    assert_eq!(a.len(), n * n, "spectral_radius: {} values for a {n} x {n} matrix", a.len());
    if n == 0 {
        return 0.0;
    }
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    let mut v: Vec<f64> = (0..n).map(|_| normal.sample(rng)).collect();
    let mut w = vec![0.0; n];
    let (burn, keep) = (200, 800);
    let mut log_sum = 0.0;
    for it in 0..burn + keep {
        for (wi, row) in w.iter_mut().zip(a.chunks_exact(n)) {
            *wi = row.iter().zip(&v).map(|(x, y)| x * y).sum();
        }
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            // Nilpotent (or overflowing) on this vector: A^k v = 0 means radius 0 in practice.
            return if norm == 0.0 { 0.0 } else { f64::INFINITY };
        }
        if it >= burn {
            log_sum += norm.ln();
        }
        v.iter_mut().zip(&w).for_each(|(vi, wi)| *vi = wi / norm);
    }
    (log_sum / keep as f64).exp()
}
