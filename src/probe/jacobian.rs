//! The Jacobian probe: singular values of the input-output Jacobian of the depth stack and of
//! every layer-to-layer Jacobian, at a few inputs, computed exactly in f64.
//!
//! For an input x the stem gives h_0; the stack gives h_l = f_l(h_{l-1}), l = 1..L. Each
//! layer-to-layer Jacobian J_l = dh_l/dh_{l-1} (`width x width`) is computed by one backward
//! pass of the block on a batch of `width` copies of h_{l-1} with the one-hot output gradients
//! I (row r of dL/dx is then d h_l[r] / d h_{l-1}): one backward per output unit, batched. The
//! input-output Jacobian at depth l is the chain-rule product dh_l/dh_0 = J_l J_{l-1} .. J_1.
//! Singular values come from a one-sided Jacobi SVD (`probe::svd`), which keeps the small ones
//! accurate relative to their size however ill-conditioned the product is.
//!
//! Dynamical isometry (Pennington et al. 2017): orthogonal tanh nets at criticality
//! (sigma_w^2 = 1, sigma_b^2 -> 0) keep every singular value of dh_L/dh_0 near 1; Gaussian
//! weights spread the spectrum with depth; ReLU nets cannot be isometric.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::svd;
use crate::nn::{Ctx, Model};
use crate::tensor::{matmul, Mat, Real, View};

/// Histogram of log10 s: `HIST_BINS` equal bins on [`HIST_LO`, `HIST_HI`).
pub const HIST_LO: f64 = -8.0;
pub const HIST_HI: f64 = 4.0;
pub const HIST_BINS: usize = 48;
/// Singular values at or below this fraction of the largest count as numerically zero.
pub const ZERO_REL: f64 = 1e-12;

/// What `compute` does.
#[derive(Clone, Debug)]
pub struct JacobianOptions {
    /// Inputs (rows of the batch given) at which the Jacobians are taken; their singular values
    /// are pooled per depth.
    pub inputs: usize,
    /// Depths l (1..=L) for the input-output Jacobian; empty: `default_depths(L)`.
    pub depths: Vec<usize>,
}

impl Default for JacobianOptions {
    fn default() -> Self {
        JacobianOptions { inputs: 4, depths: Vec::new() }
    }
}

/// Every depth when L <= 16; else 1, 2, 3, 4, 6, 8, 12, 16, 24, .. (2^k and 3 * 2^k) and L.
pub fn default_depths(depth: usize) -> Vec<usize> {
    if depth <= 16 {
        return (1..=depth).collect();
    }
    let mut out = Vec::new();
    let mut p = 1;
    while p <= depth {
        out.push(p);
        if p >= 2 && p + p / 2 <= depth {
            out.push(p + p / 2);
        }
        p *= 2;
    }
    out.push(depth);
    out.sort_unstable();
    out.dedup();
    out
}

/// The singular values of one Jacobian (pooled over inputs) at one depth.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Spectrum {
    /// Depth l: the Jacobian of h_l (the output of `layers.{l-1}`).
    pub layer: usize,
    /// Singular values pooled (inputs x width).
    pub count: usize,
    pub max: f64,
    pub min: f64,
    /// Mean of s^2 (= ||J||_F^2 / width, averaged over inputs).
    pub mean_sq: f64,
    /// max / min (null when min is 0).
    pub ratio: f64,
    /// Singular values at or below `ZERO_REL` * max: numerically zero (the Jacobian is rank
    /// deficient, as ReLU nets' are where units are off; or the value is below what a product of
    /// many f64 matrices resolves).
    pub zeros: usize,
    /// Mean of log10 s and its standard deviation (the spread of the spectrum), over the
    /// values that are not numerically zero.
    pub mean_log10: f64,
    pub std_log10: f64,
    /// Counts of log10 s in the fixed bins (see `Jacobian::hist_lo`, `hist_hi`).
    pub hist: Vec<usize>,
    /// Values below `hist_lo` (zeros included) and at or above `hist_hi`.
    pub below: usize,
    pub above: usize,
}

impl Spectrum {
    pub fn of(layer: usize, s: &[f64]) -> Spectrum {
        let n = s.len().max(1) as f64;
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = s.iter().copied().fold(f64::INFINITY, f64::min);
        let logs: Vec<f64> = s.iter().map(|v| v.log10()).collect();
        let resolved: Vec<f64> = s.iter().filter(|v| **v > ZERO_REL * max).map(|v| v.log10()).collect();
        let nr = resolved.len().max(1) as f64;
        let mean_log10 = resolved.iter().sum::<f64>() / nr;
        let var = resolved.iter().map(|l| (l - mean_log10).powi(2)).sum::<f64>() / nr;
        let (mut hist, mut below, mut above) = (vec![0; HIST_BINS], 0, 0);
        let width = (HIST_HI - HIST_LO) / HIST_BINS as f64;
        for l in &logs {
            if l.is_nan() || *l < HIST_LO {
                below += 1;
            } else if *l >= HIST_HI {
                above += 1;
            } else {
                hist[(((l - HIST_LO) / width) as usize).min(HIST_BINS - 1)] += 1;
            }
        }
        Spectrum {
            layer,
            count: s.len(),
            max,
            min,
            mean_sq: s.iter().map(|v| v * v).sum::<f64>() / n,
            ratio: max / min,
            zeros: s.len() - resolved.len(),
            mean_log10,
            std_log10: var.sqrt(),
            hist,
            below,
            above,
        }
    }
}

/// The Jacobian probe's report (`jacobian.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Jacobian {
    pub probe: String,
    pub arch: String,
    pub width: usize,
    pub depth: usize,
    /// Inputs at which the Jacobians were taken.
    pub inputs: usize,
    pub hist_lo: f64,
    pub hist_hi: f64,
    pub hist_bins: usize,
    /// dh_l/dh_0 at the chosen depths.
    pub input_output: Vec<Spectrum>,
    /// dh_l/dh_{l-1} at every depth l = 1..L.
    pub layer_to_layer: Vec<Spectrum>,
    pub elapsed_s: f64,
}

/// The layer-to-layer Jacobians J_1..J_L (each `width x width`, row r = d h_l[r] / d h_{l-1})
/// of the stack at the stem output of one input row `x`, in the model's float type, returned
/// in f64; and h_0.
pub fn stack_jacobians<F: Real>(model: &mut Model<F>, x: &[F]) -> Result<(Vec<f64>, Vec<Mat<f64>>), String> {
    super::ProbeKind::Jacobian.applies(&model.config)?;
    let n = model.blocks.len();
    let stem_in = model.blocks[0].1.in_dim();
    if x.len() != stem_in {
        return Err(format!("jacobian: input has {} values, the stem takes {stem_in}", x.len()));
    }
    let h0 = model.blocks[0].1.forward(&Mat::from_vec(1, stem_in, x.to_vec()), &Ctx::EVAL);
    let mut h = h0.clone();
    let mut out = Vec::with_capacity(n - 2);
    for (name, block) in model.blocks[1..n - 1].iter_mut() {
        let (din, dout) = (block.in_dim(), block.out_dim());
        if din != h.cols {
            return Err(format!("jacobian: {name} takes {din} values, gets {}", h.cols));
        }
        // `dout` copies of h_{l-1}; backward with one-hot rows gives J_l row by row.
        let batch = Mat::from_fn(dout, din, |_, c| h.data[c]);
        let y = block.forward(&batch, &Ctx::TRAIN);
        let eye = Mat::from_fn(dout, dout, |r, c| if r == c { F::one() } else { F::zero() });
        let j = block.backward(&eye);
        out.push(j.cast::<f64>());
        h = Mat::from_vec(1, dout, y.row(0).to_vec());
    }
    model.zero_grad();
    Ok((h0.data.iter().map(|v| v.f64()).collect(), out))
}

/// The input-output Jacobians dh_l/dh_0 = J_l .. J_1 for l = 1..L.
pub fn input_output(layers: &[Mat<f64>]) -> Vec<Mat<f64>> {
    let mut out: Vec<Mat<f64>> = Vec::with_capacity(layers.len());
    for j in layers {
        let p = match out.last() {
            Some(prev) => matmul(View::of(j), View::of(prev)),
            None => j.clone(),
        };
        out.push(p);
    }
    out
}

/// An f64 copy of a model (same config, same weights).
pub fn to_f64(model: &mut Model<f32>) -> Result<Model<f64>, String> {
    let (din, dout) = (model.blocks[0].1.in_dim(), model.out_dim());
    let mut m = Model::<f64>::build(&model.config, din, dout, model.loss_kind, 0)?;
    {
        let src = model.params();
        let mut dst = m.params();
        if src.len() != dst.len() {
            return Err("jacobian: the f64 copy has different parameters".into());
        }
        for ((sn, sp), (dn, dp)) in src.iter().zip(dst.iter_mut()) {
            if sn != dn || sp.value.shape() != dp.value.shape() {
                return Err(format!("jacobian: parameter {sn} does not match {dn} in the f64 copy"));
            }
            dp.value = sp.value.cast::<f64>();
        }
    }
    Ok(m)
}

/// The probe on an f32 model: the Jacobians are taken on an f64 copy, at the first
/// `opts.inputs` rows of `x`.
pub fn feed_forward(model: &mut Model<f32>, x: &Mat<f32>, opts: &JacobianOptions) -> Result<Jacobian, String> {
    let t = Instant::now();
    let mut m = to_f64(model)?;
    let mut j = compute(&mut m, &x.cast::<f64>(), opts)?;
    j.elapsed_s = t.elapsed().as_secs_f64();
    Ok(j)
}

/// The probe on a model in its own float type, at the first `opts.inputs` rows of `x`.
pub fn compute<F: Real>(model: &mut Model<F>, x: &Mat<F>, opts: &JacobianOptions) -> Result<Jacobian, String> {
    let t = Instant::now();
    super::ProbeKind::Jacobian.applies(&model.config)?;
    let inputs = opts.inputs.min(x.rows);
    if inputs == 0 {
        return Err("jacobian: no inputs to take the Jacobian at".into());
    }
    let depth = model.blocks.len() - 2;
    let depths = if opts.depths.is_empty() { default_depths(depth) } else { opts.depths.clone() };
    if let Some(bad) = depths.iter().find(|&&l| l == 0 || l > depth) {
        return Err(format!("jacobian: depth {bad} is out of range 1..={depth}"));
    }
    let mut io: Vec<Vec<f64>> = vec![Vec::new(); depths.len()];
    let mut ll: Vec<Vec<f64>> = vec![Vec::new(); depth];
    for r in 0..inputs {
        let (_, layers) = stack_jacobians(model, x.row(r))?;
        for (l, j) in layers.iter().enumerate() {
            ll[l].extend(svd::singular_values(&j.data, j.rows, j.cols));
        }
        let mut prod: Option<Mat<f64>> = None;
        let mut next = 0;
        let sorted = {
            let mut d: Vec<(usize, usize)> = depths.iter().copied().enumerate().map(|(i, l)| (l, i)).collect();
            d.sort_unstable();
            d
        };
        for (l, j) in layers.iter().enumerate() {
            let p = match &prod {
                Some(prev) => matmul(View::of(j), View::of(prev)),
                None => j.clone(),
            };
            while next < sorted.len() && sorted[next].0 == l + 1 {
                io[sorted[next].1].extend(svd::singular_values(&p.data, p.rows, p.cols));
                next += 1;
            }
            prod = Some(p);
            if next == sorted.len() {
                break;
            }
        }
    }
    let width = model.config.width;
    Ok(Jacobian {
        probe: "jacobian".into(),
        arch: model.config.arch.name().to_string(),
        width,
        depth,
        inputs,
        hist_lo: HIST_LO,
        hist_hi: HIST_HI,
        hist_bins: HIST_BINS,
        input_output: depths.iter().zip(&io).map(|(&l, s)| Spectrum::of(l, s)).collect(),
        layer_to_layer: ll.iter().enumerate().map(|(l, s)| Spectrum::of(l + 1, s)).collect(),
        elapsed_s: t.elapsed().as_secs_f64(),
    })
}

/// The plots: max, min and mean-squared singular value against depth (log y), input-output
/// solid, layer-to-layer dashed; and the spectrum histogram (fraction per bin of log10 s) at the
/// deepest input-output depth and the last layer.
pub fn plot(j: &Jacobian) -> (String, String) {
    use crate::plot::{LinePlot, Series};
    let by = |v: &[Spectrum], f: &dyn Fn(&Spectrum) -> f64| v.iter().map(|s| (s.layer as f64, f(s))).collect();
    let lines = LinePlot::new(
        format!("singular values of the Jacobian ({}, width {})", j.arch, j.width),
        "depth l",
        "singular value",
    )
    .log_y(true)
    // One colour per statistic; solid for input-output, dashed for layer-to-layer.
    .series(Series::new("max s of dh_l/dh_0", by(&j.input_output, &|s| s.max)).markers().color(0))
    .series(Series::new("min s of dh_l/dh_0", by(&j.input_output, &|s| s.min)).markers().color(1))
    .series(Series::new("mean s^2 of dh_l/dh_0", by(&j.input_output, &|s| s.mean_sq)).markers().color(2))
    .series(Series::new("max s of dh_l/dh_l-1", by(&j.layer_to_layer, &|s| s.max)).dashed().color(0))
    .series(Series::new("min s of dh_l/dh_l-1", by(&j.layer_to_layer, &|s| s.min)).dashed().color(1))
    .series(Series::new("mean s^2 of dh_l/dh_l-1", by(&j.layer_to_layer, &|s| s.mean_sq)).dashed().color(2))
    .to_svg();
    let w = (j.hist_hi - j.hist_lo) / j.hist_bins as f64;
    let hist = |s: &Spectrum| -> Vec<(f64, f64)> {
        let n = s.count.max(1) as f64;
        s.hist.iter().enumerate().map(|(i, &c)| (10f64.powf(j.hist_lo + (i as f64 + 0.5) * w), c as f64 / n)).collect()
    };
    // The bins are equal in log10 s: on a log axis of s they are evenly spaced and read as s.
    let mut p =
        LinePlot::new("spectrum of the Jacobian at the last layer", "singular value s", "fraction of singular values")
            .log_x(true);
    if let Some(s) = j.input_output.last() {
        p = p.series(Series::new(format!("dh_{}/dh_0", s.layer), hist(s)).markers());
    }
    if let Some(s) = j.layer_to_layer.last() {
        p = p.series(Series::new(format!("dh_{0}/dh_{1}", s.layer, s.layer - 1), hist(s)).dashed());
    }
    (lines, p.to_svg())
}
