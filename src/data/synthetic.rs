//! Small synthetic classification tasks: Telgarsky's alternating points (depth separation) and
//! parity.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Dataset, Targets};
use crate::tensor::Mat;

/// The tent map on [0, 1] written with two ReLUs: `m(x) = 2 relu(x) - 4 relu(x - 1/2)`
/// (`2x` on [0, 1/2], `2 - 2x` on [1/2, 1]).
pub fn tent(x: f64) -> f64 {
    2.0 * x.max(0.0) - 4.0 * (x - 0.5).max(0.0)
}

/// The `k`-fold composition of [`tent`] (`k = 0` is the identity): a sawtooth with `2^(k-1)`
/// teeth on [0, 1], equal to `i mod 2` at every `x = i / 2^k`. It is what a net with 2 ReLUs per
/// layer and `k` layers computes exactly.
pub fn sawtooth_function(x: f64, k: u32) -> f64 {
    (0..k).fold(x, |v, _| tent(v))
}

/// Telgarsky's alternating points (arXiv:1509.08101): the `2^k` points `x_i = i / 2^k`,
/// `i = 0 .. 2^k - 1`, with label `i mod 2` (classes, `n_classes` 2), as a `2^k x 1` input.
/// Thresholding [`sawtooth_function`]`(x, k)` at 1/2 classifies every point correctly, while
/// any function with fewer than `2^k` linear pieces must miss some. Every `x_i` is exact in f32
/// (`k <= 24`).
pub fn sawtooth(k: u32) -> Dataset {
    assert!(k <= 24, "sawtooth: k = {k} > 24 would need more than 2^24 points, not exact in f32");
    let n = 1usize << k;
    let x = Mat::from_fn(n, 1, |i, _| i as f32 / n as f32);
    let labels = (0..n).map(|i| (i % 2) as u32).collect();
    Dataset::new(x, Targets::Classes { labels, n_classes: 2 })
}

/// `n_samples` uniformly random bit strings of `n_bits` bits, coded as `+1` (bit 0) and `-1`
/// (bit 1), with label the parity: 1 when the number of 1-bits (of `-1` entries) is odd, i.e. when
/// the product of the inputs is `-1`. Two classes; deterministic for `seed`.
pub fn parity(n_bits: usize, n_samples: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Mat::zeros(n_samples, n_bits);
    let mut labels = Vec::with_capacity(n_samples);
    for r in 0..n_samples {
        let mut odd = 0u32;
        for v in x.row_mut(r) {
            let bit = rng.random::<bool>();
            odd ^= bit as u32;
            *v = if bit { -1.0 } else { 1.0 };
        }
        labels.push(odd);
    }
    Dataset::new(x, Targets::Classes { labels, n_classes: 2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(d: &Dataset) -> &[u32] {
        match &d.y {
            Targets::Classes { labels, n_classes: 2 } => labels,
            _ => panic!("expected 2 classes"),
        }
    }

    #[test]
    fn tent_map_shape() {
        for (x, y) in [(0.0, 0.0), (0.25, 0.5), (0.5, 1.0), (0.75, 0.5), (1.0, 0.0)] {
            assert_eq!(tent(x), y);
        }
        // k-fold composition: 2^(k-1) teeth, peaks at odd multiples of 2^-k
        assert_eq!(sawtooth_function(0.125, 3), 1.0);
        assert_eq!(sawtooth_function(0.25, 3), 0.0);
        assert_eq!(sawtooth_function(0.3, 0), 0.3);
    }

    #[test]
    fn sawtooth_points_alternate() {
        for k in 0..=12u32 {
            let d = sawtooth(k);
            assert_eq!((d.len(), d.in_dim()), (1 << k, 1));
            let y = labels(&d);
            for (i, &l) in y.iter().enumerate() {
                assert_eq!(l, (i % 2) as u32);
                assert_eq!(d.x.at(i, 0) as f64, i as f64 / (1u64 << k) as f64);
            }
        }
    }

    #[test]
    fn thresholded_tent_map_classifies_all_points() {
        for k in 1..=16u32 {
            let d = sawtooth(k);
            for (i, &l) in labels(&d).iter().enumerate() {
                let f = sawtooth_function(d.x.at(i, 0) as f64, k);
                assert_eq!((f > 0.5) as u32, l, "k={k} i={i} f={f}");
            }
            // one fold fewer misclassifies 3/4 of them
            if k >= 2 {
                let wrong = labels(&d)
                    .iter()
                    .enumerate()
                    .filter(|&(i, &l)| ((sawtooth_function(d.x.at(i, 0) as f64, k - 1) > 0.5) as u32) != l)
                    .count();
                assert_eq!(wrong, 3 * d.len() / 4, "k={k}");
            }
        }
    }

    #[test]
    fn parity_labels_and_determinism() {
        let d = parity(7, 2000, 3);
        assert_eq!((d.len(), d.in_dim()), (2000, 7));
        let y = labels(&d);
        for (r, &l) in y.iter().enumerate() {
            let row = d.x.row(r);
            assert!(row.iter().all(|&v| v == 1.0 || v == -1.0));
            let prod: f32 = row.iter().product();
            assert_eq!(l, (prod < 0.0) as u32);
        }
        let ones = y.iter().filter(|&&l| l == 1).count();
        assert!((900..=1100).contains(&ones), "{ones}");
        assert_eq!(parity(7, 2000, 3), d);
        assert_ne!(parity(7, 2000, 4).x, d.x);
        assert_eq!(parity(0, 3, 1).len(), 3);
    }
}
