//! Weight initialisation schemes.

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use crate::tensor::{Mat, Real};

/// How a layer's weight (`out x in`) and bias are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Init {
    /// W ~ N(0, sigma_w2 / fan_in), b ~ N(0, sigma_b2): the mean-field parameterisation.
    Gaussian { sigma_w2: f64, sigma_b2: f64 },
    /// W = gain * a random orthogonal matrix (orthonormal rows or columns when not square),
    /// b ~ N(0, sigma_b2).
    Orthogonal { gain: f64, sigma_b2: f64 },
    /// W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)); b = 0.
    Glorot,
    /// W ~ N(0, 2 / fan_in); b = 0.
    He,
}

/// How `weight_hh` is initialised, after PyTorch's default U(-1/sqrt(H), 1/sqrt(H)).
/// For LSTM and GRU each of the G square `H x H` gate blocks gets the scheme on its own.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HhInit {
    /// PyTorch's U(-1/sqrt(H), 1/sqrt(H)).
    #[default]
    Default,
    /// `gain` times a random orthogonal matrix (Haar measure).
    Orthogonal { gain: f64 },
    /// A standard Gaussian matrix rescaled so that its spectral radius (largest |eigenvalue|,
    /// estimated by power iteration in f64, `spectral_radius`) is `radius`.
    Spectral { radius: f64 },
    /// The identity, with all biases (ih and hh) zero: the IRNN of Le, Jaitly & Hinton (2015),
    /// meant for `RnnRelu`. W_ih keeps the default.
    Identity,
}

impl Default for Init {
    fn default() -> Self {
        Init::Gaussian { sigma_w2: 1.0, sigma_b2: 0.0 }
    }
}

impl Init {
    pub fn weight<F: Real>(&self, out: usize, fan_in: usize, rng: &mut impl Rng) -> Mat<F> {
        let gauss = |std: f64, rng: &mut dyn rand::RngCore| {
            let n = Normal::new(0.0, std).expect("finite std");
            Mat::from_fn(out, fan_in, |_, _| F::c(n.sample(rng)))
        };
        match *self {
            Init::Gaussian { sigma_w2, .. } => gauss((sigma_w2 / fan_in as f64).sqrt(), rng),
            Init::He => gauss((2.0 / fan_in as f64).sqrt(), rng),
            Init::Glorot => {
                let a = (6.0 / (fan_in + out) as f64).sqrt();
                let u = Uniform::new_inclusive(-a, a).expect("a > 0");
                Mat::from_fn(out, fan_in, |_, _| F::c(u.sample(rng)))
            }
            Init::Orthogonal { gain, .. } => {
                let q = random_orthogonal(out, fan_in, rng);
                Mat::from_fn(out, fan_in, |r, c| F::c(gain * q.at(r, c)))
            }
        }
    }

    pub fn bias<F: Real>(&self, n: usize, rng: &mut impl Rng) -> Vec<F> {
        match *self {
            Init::Gaussian { sigma_b2, .. } | Init::Orthogonal { sigma_b2, .. } if sigma_b2 > 0.0 => {
                let d = Normal::new(0.0, sigma_b2.sqrt()).expect("finite std");
                (0..n).map(|_| F::c(d.sample(rng))).collect()
            }
            _ => vec![F::zero(); n],
        }
    }
}

/// A `rows x cols` matrix with orthonormal rows (rows <= cols) or columns (rows > cols):
/// Gram–Schmidt (twice, for stability) on a Gaussian matrix, which gives the Haar measure.
pub fn random_orthogonal(rows: usize, cols: usize, rng: &mut impl Rng) -> Mat<f64> {
    let (n, m) = if rows <= cols { (rows, cols) } else { (cols, rows) };
    // n orthonormal vectors of length m.
    let normal = Normal::new(0.0, 1.0).unwrap();
    let mut v: Vec<Vec<f64>> = (0..n).map(|_| (0..m).map(|_| normal.sample(rng)).collect()).collect();
    for i in 0..n {
        for _pass in 0..2 {
            for j in 0..i {
                let d: f64 = v[i].iter().zip(&v[j]).map(|(a, b)| a * b).sum();
                let (head, tail) = v.split_at_mut(i);
                tail[0].iter_mut().zip(&head[j]).for_each(|(a, b)| *a -= d * b);
            }
        }
        let norm = v[i].iter().map(|a| a * a).sum::<f64>().sqrt();
        v[i].iter_mut().for_each(|a| *a /= norm);
    }
    if rows <= cols {
        Mat::from_fn(rows, cols, |r, c| v[r][c])
    } else {
        Mat::from_fn(rows, cols, |r, c| v[c][r])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn orthogonal_is_orthogonal() {
        let mut rng = StdRng::seed_from_u64(1);
        for (r, c) in [(8, 8), (5, 9), (9, 5)] {
            let q = random_orthogonal(r, c, &mut rng);
            let small = r.min(c);
            for i in 0..small {
                for j in 0..small {
                    let d: f64 = if r <= c {
                        (0..c).map(|k| q.at(i, k) * q.at(j, k)).sum()
                    } else {
                        (0..r).map(|k| q.at(k, i) * q.at(k, j)).sum()
                    };
                    assert!((d - (i == j) as u8 as f64).abs() < 1e-12, "{r}x{c}: <{i},{j}> = {d}");
                }
            }
        }
    }

    #[test]
    fn gaussian_has_the_asked_variance() {
        let mut rng = StdRng::seed_from_u64(2);
        let w: Mat<f64> = Init::Gaussian { sigma_w2: 2.0, sigma_b2: 0.0 }.weight(400, 100, &mut rng);
        let var = w.sum_sq() / w.len() as f64;
        assert!((var - 0.02).abs() < 0.001, "variance {var}, want 2/100");
        let b: Vec<f64> = Init::Gaussian { sigma_w2: 1.0, sigma_b2: 0.25 }.bias(40_000, &mut rng);
        let bvar = b.iter().map(|v| v * v).sum::<f64>() / b.len() as f64;
        assert!((bvar - 0.25).abs() < 0.01, "bias variance {bvar}");
    }
}
