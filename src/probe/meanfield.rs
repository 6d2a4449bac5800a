//! Mean-field signal propagation in wide plain nets with Gaussian weights (Poole et al. 2016,
//! Schoenholz et al. 2017): h^l = phi(z^l), z^l = W^l h^{l-1} + b^l, W_ij ~ N(0, sigma_w^2/N),
//! b_i ~ N(0, sigma_b^2).
//!
//! - length map: q^l = sigma_w^2 E_z[phi(sqrt(q^{l-1}) z)^2] + sigma_b^2, fixed point q*;
//! - chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2]: the mean squared singular value of one layer's
//!   Jacobian, so ||dL/dh_l||^2 ~ chi_1^(L-l) and the slope of ln ||dL/dh_l|| per layer towards
//!   the input is (1/2) ln chi_1;
//! - chi_q = dq^l/dq^{l-1} at q* = sigma_w^2 E[phi(u) phi'(u) z] / sqrt(q*), u = sqrt(q*) z
//!   (= chi_1 + sigma_w^2 E[phi(u) phi''(u)] by Stein's lemma), and xi_q = -1/ln chi_q;
//! - correlation map c^l = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q*, with
//!   u_1 = sqrt(q*) z_1, u_2 = sqrt(q*)(c z_1 + sqrt(1 - c^2) z_2); its stable fixed point c*
//!   (1 in the ordered phase, chi_1 <= 1; below 1 in the chaotic phase) and slope there
//!   chi_c = sigma_w^2 E[phi'(u_1) phi'(u_2)] (= chi_1 at c* = 1), xi_c = -1/ln chi_c.
//!
//! Gaussian expectations use Gauss–Hermite quadrature (`GaussHermite`), nodes and weights from
//! Newton's method on the Hermite recurrence; any `Activation` works (ReLU's kink is integrated
//! exactly by an even rule, whose nodes are symmetric and avoid 0).

use serde::{Deserialize, Serialize};

use crate::nn::Activation;

/// An n-point Gauss–Hermite rule for E_{z ~ N(0,1)}[f(z)] = sum_i w_i f(z_i).
#[derive(Clone, Debug)]
pub struct GaussHermite {
    /// Nodes for the standard normal (sqrt(2) times the physicists' nodes), descending.
    pub z: Vec<f64>,
    /// Weights summing to 1.
    pub w: Vec<f64>,
}

impl GaussHermite {
    /// Nodes and weights of the physicists' rule (weight e^{-x^2}) by Newton's iteration on the
    /// orthonormal Hermite recurrence (Numerical Recipes' `gauher`), rescaled to N(0, 1).
    pub fn new(n: usize) -> Self {
        assert!(n >= 1, "Gauss-Hermite needs at least one node");
        let pim4 = std::f64::consts::PI.powf(-0.25);
        let nf = n as f64;
        let mut x = vec![0.0f64; n];
        let mut w = vec![0.0f64; n];
        let m = n.div_ceil(2);
        let mut z = 0.0f64;
        for i in 0..m {
            z = match i {
                0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-0.16667),
                1 => z - 1.14 * nf.powf(0.426) / z,
                2 => 1.86 * z - 0.86 * x[0],
                3 => 1.91 * z - 0.91 * x[1],
                _ => 2.0 * z - x[i - 2],
            };
            let mut pp = 1.0;
            for _ in 0..100 {
                // p1 = the orthonormal Hermite function of degree n at z, p2 of degree n - 1.
                let (mut p1, mut p2) = (pim4, 0.0f64);
                for j in 0..n {
                    let p3 = p2;
                    p2 = p1;
                    let jf = j as f64;
                    p1 = z * (2.0 / (jf + 1.0)).sqrt() * p2 - (jf / (jf + 1.0)).sqrt() * p3;
                }
                pp = (2.0 * nf).sqrt() * p2;
                let z1 = z;
                z = z1 - p1 / pp;
                if (z - z1).abs() <= 1e-15 * z.abs().max(1.0) {
                    break;
                }
            }
            x[i] = z;
            x[n - 1 - i] = -z;
            w[i] = 2.0 / (pp * pp);
            w[n - 1 - i] = w[i];
        }
        let s = std::f64::consts::PI.sqrt();
        GaussHermite {
            z: x.iter().map(|v| v * std::f64::consts::SQRT_2).collect(),
            w: w.iter().map(|v| v / s).collect(),
        }
    }

    /// E_{z ~ N(0,1)}[f(z)].
    pub fn expect(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.z.iter().zip(&self.w).map(|(&z, &w)| w * f(z)).sum()
    }

    /// E over two independent standard normals of f(z1, z2).
    pub fn expect2(&self, f: impl Fn(f64, f64) -> f64) -> f64 {
        let mut total = 0.0;
        for (&z1, &w1) in self.z.iter().zip(&self.w) {
            let inner: f64 = self.z.iter().zip(&self.w).map(|(&z2, &w2)| w2 * f(z1, z2)).sum();
            total += w1 * inner;
        }
        total
    }
}

/// Quadrature nodes used by `MeanField::compute`.
pub const NODES: usize = 80;
/// Nodes per dimension for the two-dimensional correlation integrals.
pub const NODES_2D: usize = 60;

/// The mean-field quantities of a plain net (see the module docs). Infinite depth scales
/// (exactly at criticality) serialise as `null`. It is read flattened into the probe's report, where
/// serde cannot tell a float from a null by itself: each float says so.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeanField {
    pub activation: Activation,
    #[serde(deserialize_with = "crate::read::nan_if_null")]
    pub sigma_w2: f64,
    #[serde(deserialize_with = "crate::read::nan_if_null")]
    pub sigma_b2: f64,
    /// The length fixed point q* (the pre-activations' variance per unit in deep layers).
    #[serde(deserialize_with = "crate::read::nan_if_null")]
    pub q_star: f64,
    /// Whether the length iteration converged (|q^{l+1} - q^l| < 1e-13 (1 + q)); it does not,
    /// for example, when q* = 0 is approached like 1/l.
    pub q_converged: bool,
    /// Iterations of the length map used.
    pub q_iterations: usize,
    pub chi_1: f64,
    /// Slope of the length map at q*.
    pub chi_q: f64,
    /// The stable fixed point of the correlation map.
    pub c_star: f64,
    /// Slope of the correlation map at c*.
    pub chi_c: f64,
    /// Depth scale of the length: -1/ln chi_q.
    pub xi_q: f64,
    /// Depth scale of correlations: -1/ln chi_c (diverges at chi_1 = 1).
    pub xi_c: f64,
    /// "ordered" (chi_1 < 1), "chaotic" (chi_1 > 1) or "critical" (|ln chi_1| < 1e-3).
    pub phase: String,
    /// Predicted slope of ln ||dL/dh_l|| per layer going towards the input: (1/2) ln chi_1.
    pub predicted_slope: f64,
}

impl MeanField {
    /// All quantities for `phi` with `sigma_w2`, `sigma_b2`, with `NODES`-point quadrature.
    pub fn compute(phi: Activation, sigma_w2: f64, sigma_b2: f64) -> Self {
        Self::with_rule(phi, sigma_w2, sigma_b2, &GaussHermite::new(NODES), &GaussHermite::new(NODES_2D))
    }

    pub fn with_rule(phi: Activation, sigma_w2: f64, sigma_b2: f64, gh: &GaussHermite, gh2: &GaussHermite) -> Self {
        let (q_star, q_converged, q_iterations) = length_fixed_point(phi, sigma_w2, sigma_b2, gh);
        let sq = q_star.sqrt();
        let chi_1 = sigma_w2 * gh.expect(|z| phi.df(sq * z).powi(2));
        let chi_q = if q_star > 0.0 {
            sigma_w2 * gh.expect(|z| phi.f(sq * z) * phi.df(sq * z) * z) / sq
        } else {
            // q* = 0: the slope is that of sigma_w^2 phi(sqrt(q) z)^2 at q -> 0 (phi(0) = 0).
            sigma_w2 * phi.df(0.0).powi(2)
        };
        let (c_star, chi_c) = correlation_fixed_point(phi, sigma_w2, sigma_b2, q_star, chi_1, gh2);
        let depth = |chi: f64| -1.0 / chi.ln();
        let l = chi_1.ln();
        let phase = if l.abs() < 1e-3 {
            "critical"
        } else if l < 0.0 {
            "ordered"
        } else {
            "chaotic"
        };
        MeanField {
            activation: phi,
            sigma_w2,
            sigma_b2,
            q_star,
            q_converged,
            q_iterations,
            chi_1,
            chi_q,
            c_star,
            chi_c,
            xi_q: depth(chi_q),
            xi_c: depth(chi_c),
            phase: phase.into(),
            predicted_slope: 0.5 * l,
        }
    }

    /// The length map once: q -> sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2.
    pub fn length_map(phi: Activation, sigma_w2: f64, sigma_b2: f64, q: f64, gh: &GaussHermite) -> f64 {
        let s = q.max(0.0).sqrt();
        sigma_w2 * gh.expect(|z| phi.f(s * z).powi(2)) + sigma_b2
    }
}

fn length_fixed_point(phi: Activation, sw: f64, sb: f64, gh: &GaussHermite) -> (f64, bool, usize) {
    let mut q = 1.0;
    for it in 1..=20_000 {
        let next = MeanField::length_map(phi, sw, sb, q, gh);
        if !next.is_finite() {
            return (next, false, it);
        }
        let done = (next - q).abs() < 1e-13 * (1.0 + q);
        q = next;
        if done {
            return (q, true, it);
        }
    }
    (q, false, 20_000)
}

/// c* and the slope of the correlation map there.
fn correlation_fixed_point(phi: Activation, sw: f64, sb: f64, q: f64, chi_1: f64, gh: &GaussHermite) -> (f64, f64) {
    if !(q > 0.0 && q.is_finite()) || chi_1 <= 1.0 {
        return (1.0, chi_1);
    }
    let s = q.sqrt();
    let cmap = |c: f64| {
        let r = (1.0 - c * c).max(0.0).sqrt();
        (sw * gh.expect2(|z1, z2| phi.f(s * z1) * phi.f(s * (c * z1 + r * z2))) + sb) / q
    };
    // Chaotic phase: c = 1 repels; iterate from 0 (every c in [0, 1) flows to c* there).
    let mut c = 0.0f64;
    for _ in 0..5_000 {
        let next = cmap(c).clamp(-1.0, 1.0);
        let done = (next - c).abs() < 1e-12;
        c = next;
        if done {
            break;
        }
    }
    let r = (1.0 - c * c).max(0.0).sqrt();
    let chi_c = sw * gh.expect2(|z1, z2| phi.df(s * z1) * phi.df(s * (c * z1 + r * z2)));
    (c, chi_c)
}

/// The tolerance of the slope bar: 10% of the predicted slope, or 0.01 nats per layer where
/// chi_1 is so close to 1 that 10% is less than that.
pub fn slope_tolerance(predicted: f64) -> f64 {
    (0.1 * predicted.abs()).max(0.01)
}

/// The measured per-layer gradient slope of plain nets, beside the prediction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlopeMeasurement {
    pub theory: MeanField,
    pub depth: usize,
    pub width: usize,
    pub batch: usize,
    pub batches: usize,
    pub seeds: Vec<u64>,
    /// Stack layers [from, to) the slope is fitted over.
    pub fit_layers: [usize; 2],
    /// Per stack layer l: (1/2) ln of the mean over batches and seeds of ||dL/dh_l||^2.
    pub log_norm: Vec<f64>,
    /// Least-squares slope of `log_norm` per layer going towards the input.
    pub measured_slope: f64,
    pub predicted_slope: f64,
    pub tolerance: f64,
    pub agrees: bool,
}

/// Build plain `phi` nets of `depth` layers of `width` with Gaussian weights (sigma_w2,
/// sigma_b2) from each seed, feed `batches` batches of `batch` Gaussian inputs whose squared
/// length per unit puts the stem's pre-activations at q* (so every layer starts at the fixed
/// point), with random labels of 10 classes through the Glorot head and cross-entropy; average
/// ||dL/dh_l||^2 over batches and seeds and fit the slope of its (1/2) ln over the stack layers
/// `fit` = [from, to).
#[allow(clippy::too_many_arguments)]
pub fn measure_slope(
    phi: Activation,
    sigma_w2: f64,
    sigma_b2: f64,
    depth: usize,
    width: usize,
    batch: usize,
    batches: usize,
    seeds: &[u64],
    fit: [usize; 2],
) -> Result<SlopeMeasurement, String> {
    use crate::nn::{LossKind, Model, ModelConfig, Target};
    use crate::tensor::Mat;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    if !(fit[0] < fit[1] && fit[1] <= depth && fit[1] - fit[0] >= 2) {
        return Err(format!("fit layers {fit:?} must be at least two layers within 0..{depth}"));
    }
    let theory = MeanField::compute(phi, sigma_w2, sigma_b2);
    let cfg: ModelConfig = toml::from_str(&format!(
        "arch = \"plain\"\ndepth = {depth}\nwidth = {width}\nactivation = \"{}\"\ninit = {{ kind = \"gaussian\", sigma_w2 = {sigma_w2:?}, sigma_b2 = {sigma_b2:?} }}",
        phi.name()
    ))
    .map_err(|e| e.to_string())?;
    // Stem pre-activation variance = sigma_w2 * v + sigma_b2 = q*.
    let v = ((theory.q_star - sigma_b2) / sigma_w2).max(0.0);
    let normal = Normal::new(0.0, v.sqrt()).map_err(|e| e.to_string())?;
    let mut sum_sq = vec![0.0f64; depth];
    for &seed in seeds {
        let mut model = Model::<f32>::build(&cfg, width, 10, LossKind::CrossEntropy, seed)?;
        model.set_taps(true);
        let mut rng = StdRng::seed_from_u64(seed ^ 0xda7a);
        for _ in 0..batches {
            let x: Mat<f32> = Mat::from_fn(batch, width, |_, _| normal.sample(&mut rng) as f32);
            let labels: Vec<u32> = (0..batch).map(|_| rng.random_range(0..10)).collect();
            model.forward_backward(&x, &Target::Classes(&labels));
            for (name, g) in model.taps() {
                if let Some(l) = super::gradflow::stack_index(name) {
                    sum_sq[l] += g.sum_sq();
                }
            }
        }
    }
    let n = (seeds.len() * batches).max(1) as f64;
    let log_norm: Vec<f64> = sum_sq.iter().map(|s| 0.5 * (s / n).ln()).collect();
    let pts: Vec<(f64, f64)> = (fit[0]..fit[1]).map(|l| ((depth - 1 - l) as f64, log_norm[l])).collect();
    let measured_slope = crate::stats::slope(&pts);
    let predicted_slope = theory.predicted_slope;
    let tolerance = slope_tolerance(predicted_slope);
    Ok(SlopeMeasurement {
        theory,
        depth,
        width,
        batch,
        batches,
        seeds: seeds.to_vec(),
        fit_layers: fit,
        log_norm,
        measured_slope,
        predicted_slope,
        tolerance,
        agrees: (measured_slope - predicted_slope).abs() <= tolerance,
    })
}

/// (sigma_w^2, sigma_b^2) of a stack layer's weights under `init` (square layers): Gaussian
/// as given, orthogonal gain^2, He 2, Glorot 1 (a uniform law of variance 1/N).
pub fn sigmas_of(init: &crate::nn::Init) -> (f64, f64) {
    use crate::nn::Init;
    match *init {
        Init::Gaussian { sigma_w2, sigma_b2 } => (sigma_w2, sigma_b2),
        Init::Orthogonal { gain, sigma_b2 } => (gain * gain, sigma_b2),
        Init::He => (2.0, 0.0),
        Init::Glorot => (1.0, 0.0),
    }
}

/// One stack layer: measured and predicted ln ||dL/dh_l||.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerPrediction {
    pub layer: usize,
    pub measured_log_norm: f64,
    pub predicted_log_norm: f64,
}

/// The `meanfield` probe: the theory for the model's (sigma_w^2, sigma_b^2, phi) and the
/// model's measured gradient (from `gradflow`) beside the predicted one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeanfieldReport {
    pub probe: String,
    #[serde(flatten)]
    pub theory: MeanField,
    pub quadrature_nodes: usize,
    /// Stack layers [from, to) of the fit: [L/5, L - L/10) for L >= 10, else all.
    pub fit_layers: [usize; 2],
    /// Least-squares slope of the measured ln ||dL/dh_l|| per layer towards the input.
    pub measured_slope: f64,
    pub tolerance: f64,
    /// |measured - predicted| <= tolerance.
    pub agrees: bool,
    /// Predicted ln norms are the line of slope `predicted_slope` through the measured mean
    /// over the fit layers.
    pub layers: Vec<LayerPrediction>,
    pub elapsed_s: f64,
}

/// The meanfield probe for a plain model whose gradient flow is `gf`.
pub fn report(cfg: &crate::nn::ModelConfig, gf: &super::gradflow::Gradflow) -> Result<MeanfieldReport, String> {
    let started = std::time::Instant::now();
    super::ProbeKind::Meanfield.applies(cfg)?;
    let (sw, sb) = sigmas_of(&cfg.init);
    let theory = MeanField::compute(cfg.activation, sw, sb);
    let depth = gf.layers.len();
    let fit = if depth >= 10 { [depth / 5, depth - depth / 10] } else { [0, depth] };
    let x = |l: usize| (depth - 1 - l) as f64;
    let pts: Vec<(f64, f64)> = (fit[0]..fit[1]).map(|l| (x(l), gf.layers[l].norm.ln())).collect();
    let measured_slope = crate::stats::slope(&pts);
    let finite: Vec<&(f64, f64)> = pts.iter().filter(|p| p.1.is_finite()).collect();
    let nf = finite.len().max(1) as f64;
    let (mx, my) = (finite.iter().map(|p| p.0).sum::<f64>() / nf, finite.iter().map(|p| p.1).sum::<f64>() / nf);
    let layers = gf
        .layers
        .iter()
        .map(|l| LayerPrediction {
            layer: l.layer,
            measured_log_norm: l.norm.ln(),
            predicted_log_norm: my + theory.predicted_slope * (x(l.layer) - mx),
        })
        .collect();
    let tolerance = slope_tolerance(theory.predicted_slope);
    Ok(MeanfieldReport {
        probe: "meanfield".into(),
        agrees: (measured_slope - theory.predicted_slope).abs() <= tolerance,
        theory,
        quadrature_nodes: NODES,
        fit_layers: fit,
        measured_slope,
        tolerance,
        layers,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_is_exact() {
        // ReLU: E[relu(sqrt(q) z)^2] = q/2, E[relu'^2] = 1/2: q* = sigma_b^2 / (1 - sigma_w^2/2).
        let m = MeanField::compute(Activation::Relu, 1.5, 0.1);
        assert!((m.q_star - 0.1 / 0.25).abs() < 1e-9, "{}", m.q_star);
        assert!((m.chi_1 - 0.75).abs() < 1e-12);
        assert!((m.chi_q - 0.75).abs() < 1e-9);
    }
}
