//! MNIST-1D (Greydanus 2020, "Scaling down deep learning"): 40-point 1-D signals made from 10
//! hand-drawn digit templates by padding, dilation, scaling, translation, correlated and iid
//! noise, shear and subsampling.
//!
//! The procedure and every default follow the reference implementation (greydanus/mnist1d,
//! `make_dataset` / `transform`), but the random numbers come from our own generator
//! ([`rand::rngs::StdRng`] seeded with [`Mnist1dConfig::seed`]), so the values do not match the
//! Python data set bit for bit; the distribution is the same. Generation is deterministic for a
//! given configuration.
//!
//! Per example, in this order: add `1e-8` (so the template is nonzero everywhere); append
//! `p ~ U{padding.0..=padding.1}` zeros; linearly resample to `template_len + padding.1` points;
//! multiply by `1 + scale_coeff * (u - 1/2)`; roll right by `k ~ U{0..max_translation}`; replace
//! the exact zeros (the padding) by Gaussian-smoothed noise (`sigma = 2`, reflected edges) of
//! scale `corr_noise_scale`; add iid noise of scale `iid_noise_scale`; subtract
//! `shear_scale * (u - 1/2) * linspace(-1/2, 1/2)`; linearly resample to `final_seq_length`.
//! Then the examples (num_samples / 10 per class) are shuffled, the whole set is standardised to
//! mean 0 and standard deviation 1, and the first `train_split` of it is the training set.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use super::{Dataset, Split, Targets};
use crate::tensor::Mat;

/// The generator's settings; [`Default`] gives those of the paper.
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist1dConfig {
    /// Examples in all, train and test together; rounded down to a multiple of 10 (equal counts
    /// per class).
    pub num_samples: usize,
    /// Share of the examples that go to the training set.
    pub train_split: f64,
    /// Template length used for the dilation step (the templates themselves have 12 points).
    pub template_len: usize,
    /// Inclusive range of the number of zeros appended before dilation.
    pub padding: (usize, usize),
    /// Amplitude scaling: a factor in `1 ± scale_coeff / 2`.
    pub scale_coeff: f64,
    /// Cyclic shift drawn from `0..max_translation`.
    pub max_translation: usize,
    pub corr_noise_scale: f64,
    pub iid_noise_scale: f64,
    /// Linear trend added: slope in `± shear_scale / 2` over the signal.
    pub shear_scale: f64,
    /// Apply one fixed random permutation to the time axis of every example.
    pub shuffle_seq: bool,
    /// Points per example (features).
    pub final_seq_length: usize,
    pub seed: u64,
}

impl Default for Mnist1dConfig {
    fn default() -> Self {
        Mnist1dConfig {
            num_samples: 5000,
            train_split: 0.8,
            template_len: 12,
            padding: (36, 60),
            scale_coeff: 0.4,
            max_translation: 48,
            corr_noise_scale: 0.25,
            iid_noise_scale: 2e-2,
            shear_scale: 0.75,
            shuffle_seq: false,
            final_seq_length: 40,
            seed: 42,
        }
    }
}

/// The raw digit outlines, 12 points each, before normalisation.
const RAW_TEMPLATES: [[f64; 12]; 10] = [
    [5.0, 6.0, 6.5, 6.75, 7.0, 7.0, 7.0, 7.0, 6.75, 6.5, 6.0, 5.0],
    [5.0, 3.0, 3.0, 3.4, 3.8, 4.2, 4.6, 5.0, 5.4, 5.8, 5.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.25, 4.75, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 6.0, 6.5, 6.5, 6.0, 5.0, 5.0, 6.0, 6.5, 6.5, 6.0, 5.0],
    [5.0, 4.4, 3.8, 3.2, 2.6, 2.6, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
    [5.0, 3.0, 3.0, 3.0, 3.0, 5.0, 6.0, 6.5, 6.5, 6.0, 4.5, 5.0],
    [5.0, 4.0, 3.5, 3.25, 3.0, 3.0, 3.0, 3.0, 3.25, 3.5, 4.0, 5.0],
    [5.0, 7.0, 7.0, 6.6, 6.2, 5.8, 5.4, 5.0, 4.6, 4.2, 5.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 4.0, 3.5, 3.5, 4.0, 5.0],
    [5.0, 4.0, 3.5, 3.5, 4.0, 5.0, 5.0, 5.0, 5.0, 4.7, 4.3, 5.0],
];

/// The 10 digit templates: each standardised (population std), shifted to start at 0, divided
/// by 6.
pub fn templates() -> [[f64; 12]; 10] {
    let mut out = RAW_TEMPLATES;
    for t in out.iter_mut() {
        let n = t.len() as f64;
        let mean = t.iter().sum::<f64>() / n;
        let std = (t.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        for v in t.iter_mut() {
            *v = (*v - mean) / std;
        }
        let first = t[0];
        for v in t.iter_mut() {
            *v = (*v - first) / 6.0;
        }
    }
    out
}

/// Linear resampling of `x` (taken on an even grid over [0, 1]) to `n` evenly spaced points.
fn resample(x: &[f64], n: usize) -> Vec<f64> {
    let m = x.len();
    if n == 1 || m == 1 {
        return vec![x[0]; n];
    }
    (0..n)
        .map(|j| {
            let s = j as f64 * (m - 1) as f64 / (n - 1) as f64;
            let i = (s.floor() as usize).min(m - 2);
            let f = s - i as f64;
            if f == 0.0 {
                x[i]
            } else {
                x[i] * (1.0 - f) + x[i + 1] * f
            }
        })
        .collect()
}

/// Gaussian smoothing with `sigma`, kernel truncated at `4 sigma`, edges reflected
/// (`... c b a | a b c ... x y z | z y x ...`).
fn gaussian_smooth(x: &[f64], sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as isize;
    let kernel: Vec<f64> = (-radius..=radius).map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp()).collect();
    let total: f64 = kernel.iter().sum();
    let n = x.len() as isize;
    let at = |mut i: isize| {
        // reflect until inside (several times only for very short signals)
        loop {
            if i < 0 {
                i = -i - 1;
            } else if i >= n {
                i = 2 * n - i - 1;
            } else {
                return x[i as usize];
            }
        }
    };
    (0..n)
        .map(|c| kernel.iter().enumerate().map(|(k, w)| w * at(c + k as isize - radius)).sum::<f64>() / total)
        .collect()
}

fn uniform(rng: &mut StdRng) -> f64 {
    rng.random::<f64>()
}

fn normal(rng: &mut StdRng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// One transformed example from template `t`.
fn transform(t: &[f64], cfg: &Mnist1dConfig, rng: &mut StdRng) -> Vec<f64> {
    let (lo, hi) = cfg.padding;
    let pad = lo + ((uniform(rng) * (hi - lo + 1) as f64) as usize).min(hi - lo);
    let mut x: Vec<f64> = t.iter().map(|v| v + 1e-8).collect();
    x.resize(x.len() + pad, 0.0);
    let mut x = resample(&x, cfg.template_len + hi);

    let s = 1.0 + cfg.scale_coeff * (uniform(rng) - 0.5);
    x.iter_mut().for_each(|v| *v *= s);

    let k = if cfg.max_translation > 0 { rng.random_range(0..cfg.max_translation) } else { 0 };
    let len = x.len();
    x.rotate_right(k % len);

    let noise: Vec<f64> = (0..x.len()).map(|_| cfg.corr_noise_scale * normal(rng)).collect();
    let smooth = gaussian_smooth(&noise, 2.0);
    for (v, c) in x.iter_mut().zip(&smooth) {
        if *v == 0.0 {
            *v = *c;
        }
    }
    for v in x.iter_mut() {
        *v += cfg.iid_noise_scale * normal(rng);
    }

    let coeff = cfg.shear_scale * (uniform(rng) - 0.5);
    let n = x.len();
    for (i, v) in x.iter_mut().enumerate() {
        let ramp = if n > 1 { -0.5 + i as f64 / (n - 1) as f64 } else { -0.5 };
        *v -= coeff * ramp;
    }
    resample(&x, cfg.final_seq_length)
}

/// Generate MNIST-1D: `num_samples / 10` examples per class, `final_seq_length` features, 10
/// classes; by default 4000 training and 1000 test examples of 40 points. Deterministic for a
/// configuration; see the module docs for how it differs from the Python data.
pub fn generate(cfg: &Mnist1dConfig) -> Split {
    assert!(cfg.padding.0 <= cfg.padding.1, "Mnist1dConfig: padding {:?} is not a range", cfg.padding);
    assert!(cfg.final_seq_length > 0 && cfg.template_len + cfg.padding.1 > 0, "Mnist1dConfig: empty signals");
    assert!((0.0..=1.0).contains(&cfg.train_split), "Mnist1dConfig: train_split {} not in [0, 1]", cfg.train_split);
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let temps = templates();
    let per_class = cfg.num_samples / temps.len();
    let len = cfg.final_seq_length;

    let mut xs: Vec<Vec<f64>> = Vec::with_capacity(per_class * temps.len());
    let mut ys: Vec<u32> = Vec::with_capacity(per_class * temps.len());
    for (label, t) in temps.iter().enumerate() {
        for _ in 0..per_class {
            xs.push(transform(t, cfg, &mut rng));
            ys.push(label as u32);
        }
    }

    let mut order: Vec<usize> = (0..ys.len()).collect();
    order.shuffle(&mut rng);
    let seq_order: Vec<usize> = if cfg.shuffle_seq {
        let mut o: Vec<usize> = (0..len).collect();
        o.shuffle(&mut rng);
        o
    } else {
        (0..len).collect()
    };

    let count = (xs.len() * len) as f64;
    let mean = xs.iter().flatten().sum::<f64>() / count;
    let var = xs.iter().flatten().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
    let std = if var > 0.0 { var.sqrt() } else { 1.0 };

    let n = ys.len();
    let x = Mat::from_fn(n, len, |r, c| ((xs[order[r]][seq_order[c]] - mean) / std) as f32);
    let labels: Vec<u32> = order.iter().map(|&i| ys[i]).collect();

    let split_ix = ((n as f64 * cfg.train_split) as usize).min(n);
    let train_idx: Vec<usize> = (0..split_ix).collect();
    let test_idx: Vec<usize> = (split_ix..n).collect();
    let all = Dataset::new(x, Targets::Classes { labels, n_classes: 10 });
    Split { train: all.batch(&train_idx), test: all.batch(&test_idx) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(d: &Dataset) -> &[u32] {
        match &d.y {
            Targets::Classes { labels, .. } => labels,
            _ => panic!("expected classes"),
        }
    }

    /// Nearest class mean: fit on train, accuracy on test.
    fn nearest_mean(s: &Split) -> f64 {
        let dim = s.train.in_dim();
        let mut means = vec![vec![0.0f64; dim]; 10];
        let mut counts = [0usize; 10];
        for (r, &l) in labels(&s.train).iter().enumerate() {
            counts[l as usize] += 1;
            for (m, &v) in means[l as usize].iter_mut().zip(s.train.x.row(r)) {
                *m += v as f64;
            }
        }
        for (m, &c) in means.iter_mut().zip(&counts) {
            m.iter_mut().for_each(|v| *v /= c as f64);
        }
        let correct = labels(&s.test)
            .iter()
            .enumerate()
            .filter(|&(r, &l)| {
                let x = s.test.x.row(r);
                let d = |m: &Vec<f64>| m.iter().zip(x).map(|(a, &b)| (a - b as f64).powi(2)).sum::<f64>();
                let best = (0..10).min_by(|&a, &b| d(&means[a]).total_cmp(&d(&means[b]))).unwrap();
                best == l as usize
            })
            .count();
        correct as f64 / s.test.len() as f64
    }

    /// Linear least squares on one-hot targets (with a bias and a tiny ridge): test accuracy.
    fn least_squares(s: &Split) -> f64 {
        let d = s.train.in_dim() + 1;
        let feat = |x: &[f32]| {
            let mut f: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            f.push(1.0);
            f
        };
        // normal equations A w = B, A = X^T X + lambda I, B = X^T Y
        let mut a = vec![vec![0.0f64; d]; d];
        let mut b = vec![vec![0.0f64; 10]; d];
        for (r, &l) in labels(&s.train).iter().enumerate() {
            let f = feat(s.train.x.row(r));
            for i in 0..d {
                for j in 0..d {
                    a[i][j] += f[i] * f[j];
                }
                b[i][l as usize] += f[i];
            }
        }
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += 1e-3;
        }
        // Gauss-Jordan with partial pivoting
        for c in 0..d {
            let p = (c..d).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap();
            a.swap(c, p);
            b.swap(c, p);
            let piv = a[c][c];
            a[c].iter_mut().for_each(|v| *v /= piv);
            b[c].iter_mut().for_each(|v| *v /= piv);
            let (ac, bc) = (a[c].clone(), b[c].clone());
            for i in (0..d).filter(|&i| i != c) {
                let f = a[i][c];
                a[i].iter_mut().zip(&ac).for_each(|(v, w)| *v -= f * w);
                b[i].iter_mut().zip(&bc).for_each(|(v, w)| *v -= f * w);
            }
        }
        let correct = labels(&s.test)
            .iter()
            .enumerate()
            .filter(|&(r, &l)| {
                let f = feat(s.test.x.row(r));
                let score = |k: usize| (0..d).map(|i| f[i] * b[i][k]).sum::<f64>();
                let best = (0..10).max_by(|&x, &y| score(x).total_cmp(&score(y))).unwrap();
                best == l as usize
            })
            .count();
        correct as f64 / s.test.len() as f64
    }

    #[test]
    fn templates_start_at_zero() {
        for t in templates() {
            assert_eq!(t[0], 0.0);
            assert!(t[11].abs() < 1e-12);
        }
    }

    #[test]
    fn resample_and_smooth() {
        assert_eq!(resample(&[0.0, 1.0, 2.0], 5), vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(resample(&[0.0, 0.0, 3.0], 3), vec![0.0, 0.0, 3.0]);
        let s = gaussian_smooth(&[1.0; 20], 2.0);
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-12));
        let mut spike = vec![0.0; 41];
        spike[20] = 1.0;
        let s = gaussian_smooth(&spike, 2.0);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(s[20] > s[19] && s[19] > s[18] && (s[19] - s[21]).abs() < 1e-15);
    }

    #[test]
    fn shapes_and_standardisation() {
        let s = generate(&Mnist1dConfig::default());
        assert_eq!((s.train.len(), s.test.len(), s.train.in_dim(), s.test.in_dim()), (4000, 1000, 40, 40));
        assert_eq!(s.train.y.out_dim(), 10);
        assert!(s.train.x.all_finite() && s.test.x.all_finite());
        let all: Vec<f64> = s.train.x.data.iter().chain(&s.test.x.data).map(|&v| v as f64).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64;
        assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3, "mean {mean} var {var}");
        let small = generate(&Mnist1dConfig { num_samples: 57, train_split: 0.5, ..Default::default() });
        assert_eq!((small.train.len(), small.test.len()), (25, 25));
    }

    #[test]
    fn deterministic_per_seed() {
        let cfg = Mnist1dConfig { num_samples: 500, ..Default::default() };
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
        let c = generate(&Mnist1dConfig { seed: 7, ..cfg });
        assert_ne!(a.train.x, c.train.x);
    }

    #[test]
    fn classes_balanced() {
        let s = generate(&Mnist1dConfig::default());
        let mut counts = [0usize; 10];
        for &l in labels(&s.train) {
            counts[l as usize] += 1;
        }
        // 400 expected per class; a random 4000 of 5000 stays well within +-60
        assert!(counts.iter().all(|&c| (340..=460).contains(&c)), "{counts:?}");
        let mut all = counts;
        for &l in labels(&s.test) {
            all[l as usize] += 1;
        }
        assert_eq!(all, [500; 10]);
    }

    #[test]
    fn learnable_but_not_linearly_trivial() {
        let s = generate(&Mnist1dConfig::default());
        let nm = nearest_mean(&s);
        let ls = least_squares(&s);
        println!("MNIST-1D test accuracy: nearest class mean {nm:.3}, linear least squares {ls:.3}");
        assert!(nm > 0.2 && ls > 0.2, "nearest mean {nm}, least squares {ls}");
        assert!(nm < 0.6 && ls < 0.6, "nearest mean {nm}, least squares {ls}");
    }
}
