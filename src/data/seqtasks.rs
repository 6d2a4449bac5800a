//! Sequence tasks built from a seed (the adding problem, copy memory, lag-T recall) or from flat
//! data sets (pixel-by-pixel MNIST, permuted or not; any flat data set cut into steps, e.g.
//! MNIST-1D).
//!
//! Every generator is deterministic for its seed. The `*_split` helpers draw the training set
//! from `seed` and the test set from a second seed derived from it ([`derive_seed`]), so the two
//! sets are independent draws and neither depends on the size of the other.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::seq::{SeqDataset, SeqInputs, SeqSplit, SeqTargets, IGNORE};
use super::{Dataset, Split, Targets};

/// A second seed from `seed` for stream `stream` (SplitMix64 finaliser of `seed + stream * phi`):
/// `derive_seed(s, 0)` and `derive_seed(s, 1)` give unrelated generators for any `s`.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed.wrapping_add(stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// The adding problem

/// The MSE of always predicting the mean target 1.0 on the adding problem: the target is
/// `U1 + U2` with `U1, U2 ~ U[0, 1]` independent, so the MSE is `Var(U1 + U2) = 2 / 12 = 1/6`
/// (about 0.167). A model has learned the task only when its test MSE is well below this; Le et
/// al. (2015) count the problem as solved below about 0.01 (their plots start at this baseline).
pub const ADDING_MEAN_BASELINE_MSE: f64 = 1.0 / 6.0;

/// The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le, Jaitly & Hinton 2015,
/// "A simple way to initialize recurrent networks of rectified linear units"): `n` sequences of
/// `t` steps of 2 real features. Feature 0 of each step is a value drawn from `U[0, 1)`; feature
/// 1 is a marker, 1 at exactly two steps, one drawn uniformly from the first half `[0, t/2)` and
/// one from the second half `[t/2, t)`, and 0 elsewhere. The target, read off the last step, is
/// the sum of the two marked values (`LastValue`, dim 1), in `[0, 2)`.
///
/// Predicting the mean, 1.0, scores an MSE of [`ADDING_MEAN_BASELINE_MSE`] = 1/6.
///
/// Panics if `t < 2`.
pub fn adding(t: usize, n: usize, seed: u64) -> SeqDataset {
    assert!(t >= 2, "adding: a sequence needs at least 2 steps (one marker in each half), got t = {t}");
    let mut rng = StdRng::seed_from_u64(seed);
    let half = t / 2;
    let mut values = vec![0f32; n * t * 2];
    let mut targets = Vec::with_capacity(n);
    for i in 0..n {
        let seq = &mut values[i * t * 2..(i + 1) * t * 2];
        for step in 0..t {
            seq[step * 2] = rng.random::<f32>();
        }
        let a = rng.random_range(0..half);
        let b = rng.random_range(half..t);
        seq[a * 2 + 1] = 1.0;
        seq[b * 2 + 1] = 1.0;
        targets.push(seq[a * 2] + seq[b * 2]);
    }
    SeqDataset::new(SeqInputs::Real { n, time: t, dim: 2, values }, SeqTargets::LastValue { dim: 1, values: targets })
}

/// [`adding`] training (`n_train`, from `seed`) and test (`n_test`, from
/// `derive_seed(seed, 1)`) sets, named "adding T=`t`".
pub fn adding_split(t: usize, n_train: usize, n_test: usize, seed: u64) -> SeqSplit {
    SeqSplit {
        train: adding(t, n_train, seed),
        test: adding(t, n_test, derive_seed(seed, 1)),
        name: format!("adding T={t}"),
    }
}

/// The MSE of predicting the constant 1.0 for every sequence of `ds` (a `LastValue` data set of
/// dim 1 such as [`adding`]'s): close to [`ADDING_MEAN_BASELINE_MSE`] for large `n`.
///
/// Panics on other targets.
pub fn adding_mean_baseline_mse(ds: &SeqDataset) -> f64 {
    match &ds.targets {
        SeqTargets::LastValue { dim: 1, values } => {
            if values.is_empty() {
                return 0.0;
            }
            values.iter().map(|&v| (v as f64 - 1.0).powi(2)).sum::<f64>() / values.len() as f64
        }
        other => panic!("adding_mean_baseline_mse: expected LastValue targets of dim 1, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Copy memory

/// Symbols to remember in [`copy_memory`].
pub const COPY_LEN: usize = 10;
/// The blank token of [`copy_memory`].
pub const COPY_BLANK: u32 = 0;
/// The delimiter ("now recall") token of [`copy_memory`].
pub const COPY_DELIM: u32 = 9;
/// Vocabulary (and class count) of [`copy_memory`]: blank 0, symbols 1..=8, delimiter 9.
pub const COPY_VOCAB: usize = 10;
/// Chance accuracy on a recalled symbol: 1/8 (eight equally likely symbols). The matching chance
/// cross-entropy per recalled step is `ln 8` ≈ 2.079 nats ([`copy_memory_chance_loss`]).
pub const COPY_CHANCE_ACC: f64 = 1.0 / 8.0;

/// The cross-entropy per scored step of a model that knows the task but not the symbols (uniform
/// over 1..=8): `ln 8` nats. Bai et al. average their loss over all `T + 20` steps, which scales
/// this to `10 ln 8 / (T + 20)`.
pub fn copy_memory_chance_loss() -> f64 {
    (8f64).ln()
}

/// How the steps after the delimiter are filled in [`copy_memory_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CopyStyle {
    /// Delimiter 9 once, then 10 blanks 0 (Arjovsky, Shah & Bengio 2016's unitary-RNN paper;
    /// Graves et al. 2014 in spirit). The default.
    #[default]
    Blanks,
    /// 9 at every one of the last 11 steps (the first is the delimiter), exactly as the
    /// `data_generator` of Bai, Kolter & Koltun 2018 ("An empirical evaluation of generic
    /// convolutional and recurrent networks", TCN code, `copy_memory/utils.py`).
    Markers,
}

/// The copy-memory task with the default [`CopyStyle::Blanks`]; see [`copy_memory_with`].
pub fn copy_memory(t_blank: usize, n: usize, seed: u64) -> SeqDataset {
    copy_memory_with(t_blank, n, seed, CopyStyle::Blanks)
}

/// The copy-memory task of length `T + 20` (`T = t_blank`), as in Bai et al. 2018 §4: `n` token
/// sequences over the vocabulary of [`COPY_VOCAB`] = 10 (blank 0, symbols 1..=8, delimiter 9):
///
/// - steps `0..10`: 10 symbols drawn uniformly and independently from 1..=8;
/// - steps `10..T+9`: `T - 1` blanks (0);
/// - step `T + 9`: the delimiter 9;
/// - steps `T+10..T+20`: 10 blanks ([`CopyStyle::Blanks`]) or 10 more 9s
///   ([`CopyStyle::Markers`], Bai et al.'s code).
///
/// The model must output the 10 symbols, in order, at the last 10 steps. Targets are
/// `EachClass` with `n_classes` 10: the symbol at each of the last 10 steps and [`IGNORE`] at
/// every other step, so **only the recall steps are trained and scored** (Bai et al. instead
/// also train the output 0 at the first `T + 10` steps, which is trivial and dilutes the loss by
/// `10 / (T + 20)`). Chance is [`COPY_CHANCE_ACC`] = 1/8 per recalled symbol.
///
/// Panics if `t_blank == 0` (there is no room for the delimiter otherwise).
pub fn copy_memory_with(t_blank: usize, n: usize, seed: u64, style: CopyStyle) -> SeqDataset {
    assert!(t_blank >= 1, "copy_memory: t_blank must be at least 1 (T - 1 blanks precede the delimiter)");
    let len = t_blank + 2 * COPY_LEN;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seqs = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let symbols: Vec<u32> = (0..COPY_LEN).map(|_| rng.random_range(1..=8u32)).collect();
        let mut x = vec![COPY_BLANK; len];
        x[..COPY_LEN].copy_from_slice(&symbols);
        x[t_blank + COPY_LEN - 1] = COPY_DELIM;
        if style == CopyStyle::Markers {
            for v in &mut x[len - COPY_LEN..] {
                *v = COPY_DELIM;
            }
        }
        let mut y = vec![IGNORE; len];
        y[len - COPY_LEN..].copy_from_slice(&symbols);
        seqs.push(x);
        labels.push(y);
    }
    SeqDataset::new(
        SeqInputs::Tokens { seqs, vocab: COPY_VOCAB },
        SeqTargets::EachClass { labels, n_classes: COPY_VOCAB },
    )
}

/// [`copy_memory`] training (from `seed`) and test (from `derive_seed(seed, 1)`) sets, named
/// "copy memory T=`t_blank`".
pub fn copy_split(t_blank: usize, n_train: usize, n_test: usize, seed: u64) -> SeqSplit {
    SeqSplit {
        train: copy_memory(t_blank, n_train, seed),
        test: copy_memory(t_blank, n_test, derive_seed(seed, 1)),
        name: format!("copy memory T={t_blank}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Lag-T recall

/// The default alphabet of [`recall`]: chance accuracy 1/8, as on copy memory.
pub const RECALL_ALPHABET: usize = 8;

/// Why `recall(lag, len, alphabet, ..)` cannot be built, naming the config key (`data.t`,
/// `data.len`, `data.alphabet`); None when it can.
pub fn recall_problem(lag: usize, len: usize, alphabet: usize) -> Option<String> {
    if lag == 0 {
        Some("data.t must be at least 1 for recall (the lag: the target at step s is the symbol of step s - t)".into())
    } else if len <= lag {
        Some(format!(
            "data.len = {len} must be greater than data.t = {lag} for recall (only steps t..len have a target)"
        ))
    } else if alphabet < 2 {
        Some(format!("data.alphabet must be at least 2 for recall (symbols 0..alphabet), got {alphabet}"))
    } else if alphabet > u32::MAX as usize {
        Some(format!("data.alphabet must be at most {} for recall (symbols are u32 tokens), got {alphabet}", u32::MAX))
    } else {
        None
    }
}

/// Chance accuracy on [`recall`]: `1 / alphabet` (the symbols are uniform).
pub fn recall_chance(alphabet: usize) -> f64 {
    1.0 / alphabet as f64
}

/// Lag-`T` recall (`T = lag`): `n` token sequences of `len` symbols drawn uniformly and
/// independently from `0..alphabet` (the vocabulary; there are no other tokens). The target at
/// every step `s >= T` is the symbol of step `s - T`; steps `0..T` are [`IGNORE`]d
/// (`EachClass`, `n_classes = alphabet`).
///
/// Because the symbols are independent, the target at step `s` is independent of every other
/// input symbol: a causal model whose output at `s` sees only steps `s - T + 1 ..= s` (a
/// receptive field of at most `T` steps) cannot beat chance, [`recall_chance`], on fresh
/// sequences, and one that sees step `s - T` (a receptive field of at least `T + 1`) can score
/// 100%. There are `len - T` scored steps per sequence.
///
/// Panics where [`recall_problem`] names a problem.
pub fn recall(lag: usize, len: usize, alphabet: usize, n: usize, seed: u64) -> SeqDataset {
    if let Some(p) = recall_problem(lag, len, alphabet) {
        panic!("recall: {p}");
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let top = alphabet as u32;
    let mut seqs = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let x: Vec<u32> = (0..len).map(|_| rng.random_range(0..top)).collect();
        let mut y = vec![IGNORE; len];
        y[lag..].copy_from_slice(&x[..len - lag]);
        seqs.push(x);
        labels.push(y);
    }
    SeqDataset::new(SeqInputs::Tokens { seqs, vocab: alphabet }, SeqTargets::EachClass { labels, n_classes: alphabet })
}

/// [`recall`] training (from `seed`) and test (from `derive_seed(seed, 1)`) sets, named
/// "recall T=`lag`".
pub fn recall_split(lag: usize, len: usize, alphabet: usize, n_train: usize, n_test: usize, seed: u64) -> SeqSplit {
    SeqSplit {
        train: recall(lag, len, alphabet, n_train, seed),
        test: recall(lag, len, alphabet, n_test, derive_seed(seed, 1)),
        name: format!("recall T={lag}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Flat data sets as sequences

/// A uniformly random permutation of `0..len`, fixed by `seed` (Fisher–Yates with `StdRng`).
pub fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..len).collect();
    p.shuffle(&mut StdRng::seed_from_u64(seed));
    p
}

fn seq_targets(y: &Targets) -> SeqTargets {
    match y {
        Targets::Classes { labels, n_classes } => {
            SeqTargets::LastClass { labels: labels.clone(), n_classes: *n_classes }
        }
        Targets::Values(m) => SeqTargets::LastValue { dim: m.cols, values: m.data.clone() },
    }
}

/// A flat data set of `in_dim = steps * dim` features as `steps` steps of `dim` features:
/// step `s` holds features `s*dim .. (s+1)*dim` of each row. Class targets become `LastClass`,
/// real targets `LastValue` (both read off the last step). MNIST-1D (40 features) as a
/// sequence is `as_sequence(&ds, 40)`: 40 steps of 1 feature.
///
/// Panics if `steps` is 0 or does not divide `in_dim`.
pub fn as_sequence(ds: &Dataset, steps: usize) -> SeqDataset {
    let in_dim = ds.in_dim();
    assert!(
        steps > 0 && in_dim.is_multiple_of(steps),
        "as_sequence: {in_dim} features cannot be cut into {steps} steps of equal width"
    );
    SeqDataset::new(
        SeqInputs::Real { n: ds.len(), time: steps, dim: in_dim / steps, values: ds.x.data.clone() },
        seq_targets(&ds.y),
    )
}

/// [`as_sequence`] of both halves of a split.
pub fn as_sequence_split(split: &Split, steps: usize, name: impl Into<String>) -> SeqSplit {
    SeqSplit { train: as_sequence(&split.train, steps), test: as_sequence(&split.test, steps), name: name.into() }
}

fn permuted_pixels(ds: &Dataset, perm: Option<&[usize]>) -> SeqDataset {
    let d = ds.in_dim();
    let values = match perm {
        None => ds.x.data.clone(),
        Some(p) => {
            let mut v = Vec::with_capacity(ds.x.data.len());
            for r in 0..ds.len() {
                let row = ds.x.row(r);
                v.extend(p.iter().map(|&j| row[j]));
            }
            v
        }
    };
    SeqDataset::new(SeqInputs::Real { n: ds.len(), time: d, dim: 1, values }, seq_targets(&ds.y))
}

/// Sequential MNIST (Le, Jaitly & Hinton 2015): each image of the MNIST `split` (rows of 784
/// pixels in `[0, 1]`, scan-line order) read one pixel per step, 784 steps of 1 feature, with
/// its class read off the last step (`LastClass`, 10 classes).
///
/// With `permuted = Some(seed)` (pMNIST), step `s` shows pixel `permutation(784, seed)[s]`: one
/// fixed random permutation, the same for the training and the test set and for every image.
/// Works for any flat split (Fashion-MNIST too): the number of steps is the input width.
pub fn sequential_mnist(split: &Split, permuted: Option<u64>) -> SeqSplit {
    let d = split.train.in_dim();
    assert_eq!(
        d,
        split.test.in_dim(),
        "sequential_mnist: train rows have {d} pixels, test rows {}",
        split.test.in_dim()
    );
    let perm = permuted.map(|s| permutation(d, s));
    let name = match permuted {
        None => "sequential MNIST".to_string(),
        Some(s) => format!("permuted sequential MNIST (permutation seed {s})"),
    };
    SeqSplit {
        train: permuted_pixels(&split.train, perm.as_deref()),
        test: permuted_pixels(&split.test, perm.as_deref()),
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Mat;

    fn real(ds: &SeqDataset) -> (usize, usize, usize, &[f32]) {
        match &ds.inputs {
            SeqInputs::Real { n, time, dim, values } => (*n, *time, *dim, values),
            _ => panic!("expected real inputs"),
        }
    }

    #[test]
    fn adding_layout_and_targets() {
        let ds = adding(50, 200, 3);
        let (n, t, d, v) = real(&ds);
        assert_eq!((n, t, d), (200, 50, 2));
        let SeqTargets::LastValue { dim: 1, values: y } = &ds.targets else { panic!() };
        for i in 0..n {
            let s = &v[i * t * 2..(i + 1) * t * 2];
            let marks: Vec<usize> = (0..t).filter(|&k| s[k * 2 + 1] == 1.0).collect();
            assert_eq!(marks.len(), 2);
            assert!(marks[0] < 25 && marks[1] >= 25);
            assert!((0..t).all(|k| s[k * 2 + 1] == 0.0 || s[k * 2 + 1] == 1.0));
            assert!((0..t).all(|k| (0.0..1.0).contains(&s[k * 2])));
            assert_eq!(y[i], s[marks[0] * 2] + s[marks[1] * 2]);
        }
        assert_eq!(adding(50, 200, 3), ds);
        assert_ne!(adding(50, 200, 4), ds);
        // tiny t still places one marker in each half
        let tiny = adding(2, 1, 0);
        let (_, _, _, v) = real(&tiny);
        assert_eq!((v[1], v[3]), (1.0, 1.0));
    }

    #[test]
    fn adding_mean_baseline_is_one_sixth() {
        let ds = adding(20, 20_000, 11);
        let mse = adding_mean_baseline_mse(&ds);
        assert!((mse - ADDING_MEAN_BASELINE_MSE).abs() < 0.01, "mse {mse}");
        let s = adding_split(20, 100, 50, 1);
        assert_eq!((s.train.len(), s.test.len()), (100, 50));
        assert_ne!(s.train.inputs, adding(20, 50, derive_seed(1, 1)).inputs);
        assert_eq!(s.test, adding(20, 50, derive_seed(1, 1)));
        assert_eq!(s.name, "adding T=20");
    }

    #[test]
    fn derive_seed_differs() {
        assert_ne!(derive_seed(0, 0), derive_seed(0, 1));
        assert_ne!(derive_seed(0, 1), derive_seed(1, 1));
        assert_eq!(derive_seed(7, 1), derive_seed(7, 1));
    }

    #[test]
    fn copy_memory_layout() {
        for style in [CopyStyle::Blanks, CopyStyle::Markers] {
            let t = 30;
            let ds = copy_memory_with(t, 50, 5, style);
            let SeqInputs::Tokens { seqs, vocab: 10 } = &ds.inputs else { panic!() };
            let SeqTargets::EachClass { labels, n_classes: 10 } = &ds.targets else { panic!() };
            for (x, y) in seqs.iter().zip(labels) {
                assert_eq!(x.len(), t + 20);
                assert_eq!(y.len(), t + 20);
                assert!(x[..10].iter().all(|&s| (1..=8).contains(&s)));
                assert!(x[10..t + 9].iter().all(|&s| s == 0));
                assert_eq!(x[t + 9], 9);
                let tail = if style == CopyStyle::Blanks { 0 } else { 9 };
                assert!(x[t + 10..].iter().all(|&s| s == tail));
                assert!(y[..t + 10].iter().all(|&l| l == IGNORE));
                assert_eq!(&y[t + 10..], &x[..10]);
            }
        }
        assert_eq!(copy_memory(30, 5, 1), copy_memory_with(30, 5, 1, CopyStyle::Blanks));
    }

    #[test]
    fn copy_memory_chance_is_one_eighth() {
        // each symbol is uniform on 1..=8: guessing a fixed symbol is right 1/8 of the time
        let ds = copy_memory(5, 4000, 9);
        let SeqTargets::EachClass { labels, .. } = &ds.targets else { panic!() };
        let mut counts = [0usize; 10];
        for y in labels {
            for &l in y.iter().filter(|&&l| l != IGNORE) {
                counts[l as usize] += 1;
            }
        }
        let total: usize = counts.iter().sum();
        assert_eq!(total, 40_000);
        assert_eq!((counts[0], counts[9]), (0, 0));
        for c in &counts[1..9] {
            let p = *c as f64 / total as f64;
            assert!((p - COPY_CHANCE_ACC).abs() < 0.01, "{counts:?}");
        }
        assert!((copy_memory_chance_loss() - 2.0794).abs() < 1e-3);
        let s = copy_split(5, 10, 4, 2);
        assert_eq!((s.train.len(), s.test.len(), s.train.seq_len(0)), (10, 4, 25));
    }

    fn flat(n: usize, d: usize) -> Dataset {
        let x = Mat::from_fn(n, d, |r, c| (r * 1000 + c) as f32);
        Dataset::new(x, Targets::Classes { labels: (0..n as u32).map(|i| i % 3).collect(), n_classes: 3 })
    }

    #[test]
    fn as_sequence_cuts_rows_into_steps() {
        let ds = flat(3, 40);
        let s = as_sequence(&ds, 40);
        let (n, t, d, v) = real(&s);
        assert_eq!((n, t, d), (3, 40, 1));
        assert_eq!(v[40 + 5], 1005.0);
        assert_eq!(s.targets, SeqTargets::LastClass { labels: vec![0, 1, 2], n_classes: 3 });
        let s = as_sequence(&ds, 10);
        let (_, t, d, v) = real(&s);
        assert_eq!((t, d), (10, 4));
        assert_eq!(v[2 * 40 + 3 * 4 + 1], 2013.0);
        let reg = Dataset::new(Mat::zeros(2, 6), Targets::Values(Mat::from_vec(2, 1, vec![0.5, 1.5])));
        assert_eq!(as_sequence(&reg, 3).targets, SeqTargets::LastValue { dim: 1, values: vec![0.5, 1.5] });
    }

    #[test]
    #[should_panic(expected = "cannot be cut")]
    fn as_sequence_rejects_uneven_steps() {
        as_sequence(&flat(1, 10), 3);
    }

    #[test]
    fn sequential_and_permuted() {
        let split = Split { train: flat(4, 784), test: flat(2, 784) };
        let s = sequential_mnist(&split, None);
        let (n, t, d, v) = real(&s.train);
        assert_eq!((n, t, d), (4, 784, 1));
        assert_eq!(v[784 + 100], 1100.0);
        let p = sequential_mnist(&split, Some(42));
        let perm = permutation(784, 42);
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &j)| i == j));
        assert_ne!(perm, (0..784).collect::<Vec<_>>());
        let (_, _, _, tv) = real(&p.train);
        let (_, _, _, sv) = real(&p.test);
        for step in [0, 17, 783] {
            assert_eq!(tv[784 + step], (1000 + perm[step]) as f32);
            assert_eq!(sv[784 + step], (1000 + perm[step]) as f32, "test uses the same permutation");
        }
        assert_eq!(p.train.targets, SeqTargets::LastClass { labels: vec![0, 1, 2, 0], n_classes: 3 });
        assert!(p.name.contains("permuted"));
    }
}
