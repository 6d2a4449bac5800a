//! Residual networks as ensembles of paths (Veit, Wilber, Belongie 2016). A stack of n blocks
//! with skip paths unrolls into 2^n paths; a path of length k passes through the branch of k
//! blocks and the skip of the others, so path lengths are binomial, C(n, k) / 2^n.
//!
//! The gradient through paths of length k is measured as Veit et al. do: one forward pass, then
//! a backward pass in which k sampled blocks pass the gradient through their branch *only* and
//! every other block through its skip only (`Switches::pass_branch_grad = false`). The branch
//! part of a block's backward is its full backward (`pass_branch_grad = true`) less its skip
//! part, so a residual block contributes J_F dy, and a highway layer everything but C * dy
//! (the transform path, gates included). ||dL/dh_0|| at the stack input (the stem's output)
//! is averaged over draws and batches: the *per-path* magnitude m(k). The gradient mass of all
//! paths of length k is m(k) C(n, k) (Veit's Fig. 6: m decays exponentially in k, the binomial
//! count grows, their product peaks at short lengths). Only the main loss is used (auxiliary
//! heads get no gradient). Switches and weights are restored; parameter gradients are zeroed.

use rand::{rngs::StdRng, seq::index::sample, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Targets};
use crate::nn::loss::{mse, softmax_cross_entropy};
use crate::nn::{Ctx, Model, Switches};
use crate::tensor::{kernels::simd, Mat, Real};

/// How many draws per length, the seed, and the share of gradient mass the effective range holds.
#[derive(Clone, Debug)]
pub struct PathOptions {
    /// Sampled block sets per length k and batch (one for k = 0 and k = n, which have one set).
    pub draws: usize,
    pub seed: u64,
    /// The effective path range is the shortest interval of lengths holding this share of the
    /// total gradient mass (default 0.9).
    pub mass: f64,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions { draws: 2, seed: 0, mass: 0.9 }
    }
}

/// One path length k.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PathLength {
    pub k: usize,
    /// C(n, k) / 2^n: the share of paths of this length.
    pub path_fraction: f64,
    /// log10 C(n, k).
    pub log10_paths: f64,
    /// m(k): mean over draws and batches of ||dL/dh_0|| through one path of length k.
    pub per_path: f64,
    /// Standard deviation of ||dL/dh_0|| over draws and batches.
    pub per_path_std: f64,
    /// m(k) C(n, k): the gradient mass of all paths of length k.
    pub total: f64,
    /// total / (sum over k of total).
    pub total_fraction: f64,
    /// Measurements averaged (draws x batches).
    pub samples: usize,
}

/// The path report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Paths {
    pub probe: String,
    pub arch: String,
    /// n: blocks in the stack.
    pub blocks: usize,
    pub batches: usize,
    pub draws: usize,
    /// n / 2: the median (and mean) path length.
    pub median_length: f64,
    /// The shortest interval of lengths holding 95% of the paths (Veit: 19..35 for n = 54).
    pub path_range_95: [usize; 2],
    /// The share of gradient mass `effective_range` holds (the option, e.g. 0.9).
    pub mass: f64,
    /// The shortest interval of lengths holding `mass` of the total gradient mass (Veit: 5..17
    /// for a trained 54-block ResNet).
    pub effective_range: [usize; 2],
    /// The share of gradient mass it actually holds (>= mass).
    pub effective_mass: f64,
    /// The share of all paths whose length lies in the effective range.
    pub effective_path_fraction: f64,
    /// The length k of the largest gradient mass.
    pub peak: usize,
    /// Least-squares slope of ln m(k) per unit of k (finite, positive m only).
    pub per_path_log_slope: f64,
    pub lengths: Vec<PathLength>,
    pub elapsed_s: f64,
}

/// ln C(n, k).
pub fn ln_choose(n: usize, k: usize) -> f64 {
    let k = k.min(n - k.min(n));
    (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum()
}

/// The shortest interval [a, b] of indices whose values sum to at least `share` of the total
/// (the one with the larger sum on ties); with the sum it holds, as a share of the total.
pub fn shortest_interval(values: &[f64], share: f64) -> ([usize; 2], f64) {
    let total: f64 = values.iter().filter(|v| v.is_finite()).sum();
    if values.is_empty() || total <= 0.0 {
        return ([0, values.len().saturating_sub(1)], f64::NAN);
    }
    let want = share * total;
    let mut best: Option<(usize, f64, [usize; 2])> = None;
    for a in 0..values.len() {
        let mut s = 0.0;
        for (b, &v) in values.iter().enumerate().skip(a) {
            s += if v.is_finite() { v } else { 0.0 };
            if s >= want * (1.0 - 1e-12) {
                let len = b - a;
                let better = match best {
                    None => true,
                    Some((l, bs, _)) => len < l || (len == l && s > bs),
                };
                if better {
                    best = Some((len, s, [a, b]));
                }
                break;
            }
        }
    }
    let (_, s, r) = best.expect("the whole range holds the total");
    (r, s / total)
}

/// dL/d(output) of the main loss for a batch.
fn loss_grad<F: Real>(out: &Mat<F>, y: &Targets) -> Mat<F> {
    match y {
        Targets::Classes { labels, .. } => softmax_cross_entropy(out, labels).grad,
        Targets::Values(v) => mse(out, &v.cast()).grad,
    }
}

/// Below this largest |value| the path gradient is scaled up (by a power of two) before it
/// reaches the subnormal floats, where arithmetic loses precision and runs slowly; above it the
/// arithmetic is that of the unscaled gradient, bit for bit.
const RESCALE_BELOW: f64 = 1.0 / (1u64 << 40) as f64;

/// When `max`, the largest |value| of `d`, is below `RESCALE_BELOW` (and not 0), multiply `d`
/// by the power of two 2^e that brings it to [0.5, 1): exact, since the backward is linear in d
/// and scaling by a power of two only moves exponents. Returns e (0 when not scaled).
fn rescale<F: Real>(d: &mut Mat<F>, max: f64) -> i32 {
    if !(max > 0.0 && max < RESCALE_BELOW) {
        return 0;
    }
    let e = -(max.log2().floor() as i32) - 1;
    let s = F::c(2f64.powi(e));
    d.data.iter_mut().for_each(|v| *v *= s);
    e
}

/// The largest |value| (NaNs ignored), in 16 lanes so that it vectorises (a max reduction in
/// one accumulator does not).
fn max_abs<F: Real>(v: &[F]) -> f64 {
    simd(
        #[inline(always)]
        || {
            let mut acc = [F::zero(); 16];
            let chunks = v.chunks_exact(16);
            let rest = chunks.remainder();
            for c in chunks {
                for (m, &x) in acc.iter_mut().zip(c) {
                    let a = x.abs();
                    *m = if a > *m { a } else { *m };
                }
            }
            let mut m = F::zero();
            for &a in acc.iter().chain(rest.iter()) {
                let a = a.abs();
                m = if a > m { a } else { m };
            }
            m.f64()
        },
    )
}

/// d * f element by element, and its largest |value|.
fn times<F: Real>(d: &Mat<F>, f: &Mat<F>) -> (Mat<F>, f64) {
    let mut out = d.clone();
    simd(
        #[inline(always)]
        || out.data.iter_mut().zip(&f.data).for_each(|(a, &b)| *a *= b),
    );
    let m = max_abs(&out.data);
    (out, m)
}

/// full -= skip element by element, and the largest |value| of the difference.
fn minus<F: Real>(full: &mut Mat<F>, skip: &Mat<F>) -> f64 {
    simd(
        #[inline(always)]
        || full.data.iter_mut().zip(&skip.data).for_each(|(f, &s)| *f -= s),
    );
    max_abs(&full.data)
}

/// A block's skip part of the backward (`pass_branch_grad = false`), after the forward that
/// set its caches, as a factor per element when it is one: a residual block passes dL/dy as it
/// is (factor 1), a highway layer multiplies it by C = 1 - T (or by its independent carry).
/// The factor is that backward of all ones; it stands for the block only when, for the probe's
/// own gradient `probe`, d * factor is that backward bit for bit. Else None: call the block.
fn skip_factor<F: Real>(blk: &mut dyn crate::nn::Block<F>, probe: &Mat<F>) -> Option<Mat<F>> {
    blk.switches()?.pass_branch_grad = false;
    let ones = Mat::from_fn(probe.rows, probe.cols, |_, _| F::one());
    let f = blk.backward(&ones);
    let want = blk.backward(probe);
    blk.switches()?.pass_branch_grad = true;
    let (got, _) = times(probe, &f);
    (f.shape() == probe.shape() && got.data.iter().zip(&want.data).all(|(a, b)| a.f64().to_bits() == b.f64().to_bits()))
        .then_some(f)
}

/// The stack's blocks, as indices into `model.blocks`, in order; an error unless every stack
/// block is residual or highway.
fn stack<F: Real>(model: &mut Model<F>) -> Result<Vec<usize>, String> {
    super::ProbeKind::Paths.applies(&model.config)?;
    let idx: Vec<usize> = model
        .blocks
        .iter_mut()
        .enumerate()
        .filter_map(|(i, (name, b))| (name.starts_with("layers.") && b.switches().is_some()).then_some(i))
        .collect();
    if idx.is_empty() {
        return Err("the paths probe needs a stack of blocks with skip paths".into());
    }
    Ok(idx)
}

/// Gradient through paths of every length, over `batches`. The model is left as it was (its
/// switches restored, its parameter gradients zeroed).
pub fn paths<F: Real>(model: &mut Model<F>, batches: &[Dataset], opts: &PathOptions) -> Result<Paths, String> {
    let started = std::time::Instant::now();
    if batches.is_empty() {
        return Err("the paths probe needs at least one batch".into());
    }
    let stack = stack(model)?;
    let n = stack.len();
    let head = model.blocks.len() - 1;
    let saved: Vec<Switches> = stack.iter().map(|&i| *model.blocks[i].1.switches().expect("stack block")).collect();
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x0009_a745);
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); n + 1];
    for b in batches {
        let x: Mat<F> = b.x.cast();
        let out = model.forward(&x, &Ctx::TRAIN);
        let dtop = model.blocks[head].1.backward(&loss_grad(&out, &b.y));
        // Each block's skip part, as a per-element factor when it is one (see `skip_factor`).
        let factors: Vec<Option<Mat<F>>> =
            stack.iter().map(|&i| skip_factor(model.blocks[i].1.as_mut(), &dtop)).collect();
        for (k, acc) in sums.iter_mut().enumerate() {
            let draws = if k == 0 || k == n { 1 } else { opts.draws.max(1) };
            for _ in 0..draws {
                let mut on = vec![false; n];
                sample(&mut rng, n, k).into_iter().for_each(|j| on[j] = true);
                let mut d = dtop.clone();
                // d is kept scaled by 2^exp (see `rescale`); the norm is taken back at the end.
                let mut exp = 0i32;
                for j in (0..n).rev() {
                    let blk = &mut model.blocks[stack[j]].1;
                    let (skip, skip_max) = match &factors[j] {
                        Some(f) => times(&d, f),
                        None => {
                            blk.switches().expect("stack block").pass_branch_grad = false;
                            let s = blk.backward(&d);
                            let m = max_abs(&s.data);
                            (s, m)
                        }
                    };
                    let max = if on[j] {
                        blk.switches().expect("stack block").pass_branch_grad = true;
                        let mut full = blk.backward(&d);
                        let m = minus(&mut full, &skip);
                        d = full;
                        m
                    } else {
                        d = skip;
                        skip_max
                    };
                    exp += rescale(&mut d, max);
                }
                let g = d.norm() * 2f64.powi(-exp);
                acc.0 += g;
                acc.1 += g * g;
                acc.2 += 1;
            }
        }
    }
    for (&i, s) in stack.iter().zip(&saved) {
        *model.blocks[i].1.switches().expect("stack block") = *s;
    }
    model.zero_grad();

    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut lengths: Vec<PathLength> = sums
        .iter()
        .enumerate()
        .map(|(k, &(s, s2, c))| {
            let c = c.max(1) as f64;
            let mean = s / c;
            let lc = ln_choose(n, k);
            PathLength {
                k,
                path_fraction: (lc - ln2n).exp(),
                log10_paths: lc / std::f64::consts::LN_10,
                per_path: mean,
                per_path_std: (s2 / c - mean * mean).max(0.0).sqrt(),
                total: mean * lc.exp(),
                total_fraction: 0.0,
                samples: c as usize,
            }
        })
        .collect();
    let totals: Vec<f64> = lengths.iter().map(|l| l.total).collect();
    let sum: f64 = totals.iter().filter(|v| v.is_finite()).sum();
    lengths.iter_mut().for_each(|l| l.total_fraction = l.total / sum);
    let (effective_range, effective_mass) = shortest_interval(&totals, opts.mass);
    let fractions: Vec<f64> = lengths.iter().map(|l| l.path_fraction).collect();
    let (path_range_95, _) = shortest_interval(&fractions, 0.95);
    let peak = totals
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k)
        .unwrap_or(0);
    let pts: Vec<(f64, f64)> =
        lengths.iter().filter(|l| l.per_path > 0.0).map(|l| (l.k as f64, l.per_path.ln())).collect();
    Ok(Paths {
        probe: "paths".into(),
        arch: model.config.arch.name().to_string(),
        blocks: n,
        batches: batches.len(),
        draws: opts.draws.max(1),
        median_length: n as f64 / 2.0,
        path_range_95,
        mass: opts.mass,
        effective_range,
        effective_mass,
        effective_path_fraction: fractions[effective_range[0]..=effective_range[1]].iter().sum(),
        peak,
        per_path_log_slope: crate::stats::slope(&pts),
        lengths,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// paths.svg: the per-path magnitude m(k) against k (log scale); paths_mass.svg: the share of
/// gradient mass m(k) C(n, k) and the share of paths C(n, k) / 2^n against k.
pub fn plot(p: &Paths) -> (String, String) {
    use crate::plot::{LinePlot, Series};
    let by = |f: &dyn Fn(&PathLength) -> f64| p.lengths.iter().map(|l| (l.k as f64, f(l))).collect::<Vec<_>>();
    let per = LinePlot::new(
        format!("gradient through one path of length k ({} blocks, {})", p.blocks, p.arch),
        "path length k",
        "||dL/dh_0|| per path",
    )
    .log_y(true)
    .series(Series::new("per path", by(&|l| if l.per_path > 0.0 { l.per_path } else { f64::NAN })).markers())
    .to_svg();
    let [a, b] = p.effective_range;
    let mass = LinePlot::new(
        format!(
            "gradient mass by path length: {:.0}% in {a}..{b}, peak at {} (median length {})",
            100.0 * p.mass,
            p.peak,
            crate::plot::fmt_num(p.median_length)
        ),
        "path length k",
        "share",
    )
    .series(Series::new("gradient mass m(k) C(n,k)", by(&|l| l.total_fraction)).markers())
    .series(Series::new("paths C(n,k) / 2^n", by(&|l| l.path_fraction)).dashed())
    .to_svg();
    (per, mass)
}
