//! C2 linear-chain: in a chain of linear layers the error signal is multiplied by every layer's
//! weight on its way down, so it shrinks or grows geometrically unless the weights have norm
//! one. Scalar chains (dL/dh_0 = w^L dL/dh_L exactly) and width-64 matrix chains (scaled
//! orthogonal: exactly g per layer; Gaussian: g per layer on average, with a finite-width
//! correction), built as real `Model<f64>`s and differentiated by the engine. Nothing is
//! trained: everything is computed in `analyze`.

use super::fmt::{list, num};
use super::{Claim, Experiment, Figure, Findings, Measure, Params, PerScale, Protocol, RunSet, Scale, Table};
use crate::data::{Dataset, Targets};
use crate::nn::{LossKind, Model, ModelConfig, Target};
use crate::plot::{LinePlot, Series};
use crate::probe::gradflow;
use crate::stats::{max_or_nan, mean, std};
use crate::sweep::RunRequest;
use crate::tensor::Mat;

pub struct C2;

const WEIGHTS: [f64; 3] = [0.9, 1.0, 1.1];
const GAINS: [f64; 3] = [0.9, 1.0, 1.1];
/// The rule's tolerances: relative error of a scalar chain's gradient ratio, and of an
/// orthogonal chain's slope against ln g.
const SCALAR_TOL: f64 = 1e-5;
const SLOPE_TOL: f64 = 0.02;

/// Sizes at each scale: scalar chain lengths, matrix chain width and depth, seeds of the
/// random matrices. Quick is the paper setup (CLAIMS.md: quick = paper).
struct Sizes {
    lengths: &'static [usize],
    width: usize,
    depth: usize,
    seeds: Vec<u64>,
}

fn sizes(p: &Params) -> Sizes {
    match p.scale {
        Scale::Quick | Scale::Paper => {
            Sizes { lengths: &[1, 2, 5, 10, 20, 50, 100], width: 64, depth: 100, seeds: CLAIM.seeds(p) }
        }
        Scale::Tiny => Sizes { lengths: &[1, 5, 10], width: 8, depth: 10, seeds: CLAIM.seeds(p) },
    }
}

fn model_config(width: usize, depth: usize, init: &str) -> Result<ModelConfig, String> {
    toml::from_str(&format!(
        "arch = \"plain\"\ndepth = {depth}\nwidth = {width}\nactivation = \"identity\"\ninit = {init}"
    ))
    .map_err(|e| format!("C2: a chain's model config: {e}"))
}

/// Set every parameter named `name` (exactly) to `value` everywhere.
fn fill(model: &mut Model<f64>, name: &str, value: f64) -> Result<(), String> {
    let mut params = model.params();
    let (_, p) = params.iter_mut().find(|(n, _)| n == name).ok_or_else(|| format!("C2: the model has no {name}"))?;
    p.value.data.iter_mut().for_each(|v| *v = value);
    Ok(())
}

/// A scalar chain: the stem and the head are the identity (weight 1, bias 0), the L stack
/// layers have weight `w` and bias 0, so h_L = w^L x. One backward pass of the engine (MSE
/// against 0 at x = 1) with its gradient taps: dL/dh_0 (the stem's output, = dL/dx) over
/// dL/dh_L (the last layer's output), and ln |dL/dh_l| for l = 0..L.
fn scalar_chain(w: f64, len: usize) -> Result<(f64, Vec<f64>), String> {
    let cfg = model_config(1, len, "{ kind = \"gaussian\", sigma_w2 = 1.0, sigma_b2 = 0.0 }")?;
    let mut m = Model::<f64>::build(&cfg, 1, 1, LossKind::Mse, 1)?;
    for (name, v) in [("stem.linear.weight", 1.0), ("stem.linear.bias", 0.0), ("head.weight", 1.0), ("head.bias", 0.0)]
    {
        fill(&mut m, name, v)?;
    }
    for l in 0..len {
        fill(&mut m, &format!("layers.{l}.linear.weight"), w)?;
        fill(&mut m, &format!("layers.{l}.linear.bias"), 0.0)?;
    }
    m.set_taps(true);
    let x = Mat::from_vec(1, 1, vec![1.0]);
    let target = Mat::from_vec(1, 1, vec![0.0]);
    m.forward_backward(&x, &Target::Values(&target));
    let tap = |name: &str| -> Result<f64, String> {
        m.taps().iter().find(|(n, _)| n == name).map(|(_, g)| g.data[0]).ok_or_else(|| format!("C2: no tap {name}"))
    };
    let bottom = tap("act.stem")?;
    let top = tap(&format!("act.layers.{}", len - 1))?;
    let mut logs = vec![bottom.abs().ln()];
    for l in 0..len {
        logs.push(tap(&format!("act.layers.{l}"))?.abs().ln());
    }
    Ok((bottom / top, logs))
}

/// The expected per-layer slope of ln ||dL/dh|| for a Gaussian chain of width n and gain g at
/// one input: each layer multiplies the squared norm by (g^2/n) chi^2_n, so the mean of ln of
/// the factor is ln g + (psi(n/2) + ln(2/n)) / 2.
fn gaussian_slope(g: f64, n: usize) -> f64 {
    g.ln() + 0.5 * (digamma(n as f64 / 2.0) + (2.0 / n as f64).ln())
}

/// psi(x) by the recurrence up to x >= 10 and the asymptotic series (truncation below 1e-12).
fn digamma(mut x: f64) -> f64 {
    let mut r = 0.0;
    while x < 10.0 {
        r -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    r + x.ln() - 0.5 / x - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f / 240.0)))
}

/// A matrix chain: `depth` linear layers of `width` under `init`, one Gaussian input and a
/// Gaussian target of 10 values through the Glorot head, MSE (whose gradient, unlike a
/// saturated softmax's, never underflows however large the output grows); the gradflow
/// probe's ||dL/dh_l|| per stack layer (l = 0 the first), and its least-squares slope of ln
/// norm per layer going towards the input.
fn matrix_chain(width: usize, depth: usize, init: &str, seed: u64) -> Result<(f64, Vec<f64>), String> {
    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution, Normal};
    let cfg = model_config(width, depth, init)?;
    let mut m = Model::<f64>::build(&cfg, width, 10, LossKind::Mse, seed)?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc2);
    let normal = Normal::new(0.0, 1.0).map_err(|e| e.to_string())?;
    let x = Mat::from_fn(1, width, |_, _| normal.sample(&mut rng) as f32);
    let y = Mat::from_fn(1, 10, |_, _| normal.sample(&mut rng) as f32);
    let gf = gradflow::feed_forward(&mut m, &[Dataset::new(x, Targets::Values(y))]);
    let norms: Vec<f64> = gf.layers.iter().map(|l| l.norm).collect();
    let slope = gf.slope_per_layer.ok_or("C2: the gradflow probe gave no slope (fewer than two layers)")?;
    Ok((slope, norms))
}

/// A matrix chain's weights: scaled orthogonal (the rule judges these) or Gaussian (shown
/// beside them).
#[derive(Clone, Copy, PartialEq)]
enum Weights {
    Orthogonal,
    Gaussian,
}

impl Weights {
    fn name(self) -> &'static str {
        match self {
            Weights::Orthogonal => "orthogonal",
            Weights::Gaussian => "gaussian",
        }
    }

    /// The init of gain g: norms scaled by g exactly (orthogonal) or on average (variance g^2/n).
    fn init(self, g: f64) -> String {
        match self {
            Weights::Orthogonal => format!("{{ kind = \"orthogonal\", gain = {g:?}, sigma_b2 = 0.0 }}"),
            Weights::Gaussian => format!("{{ kind = \"gaussian\", sigma_w2 = {:?}, sigma_b2 = 0.0 }}", g * g),
        }
    }

    /// The expected slope per layer at width n.
    fn predicted(self, g: f64, n: usize) -> f64 {
        match self {
            Weights::Orthogonal => g.ln(),
            Weights::Gaussian => gaussian_slope(g, n),
        }
    }
}

/// The tolerance on an orthogonal chain's slope: 2% of |ln g|; at g = 1, where ln g = 0 and a
/// relative tolerance would demand exactly 0, 2% of ln 1.1 (the same absolute tolerance as at
/// g = 1.1).
fn slope_tolerance(g: f64) -> f64 {
    SLOPE_TOL * if (g - 1.0).abs() < 1e-12 { 1.1f64.ln() } else { g.ln().abs() }
}

/// A scalar chain of `len` units of weight `w`.
struct Scalar {
    w: f64,
    len: usize,
    /// dL/dh_0 over dL/dh_L.
    ratio: f64,
    /// ln |dL/dh_l|, l = 0..L.
    logs: Vec<f64>,
}

impl Scalar {
    fn want(&self) -> f64 {
        self.w.powi(self.len as i32)
    }
    fn error(&self) -> f64 {
        ((self.ratio - self.want()) / self.want()).abs()
    }
}

/// A matrix chain of one kind of weights at gain g, over the seeds.
struct Matrix {
    weights: Weights,
    g: f64,
    /// The fitted slope per layer, by seed.
    slopes: Vec<f64>,
    /// ||dL/dh_l|| per stack layer of the first seed.
    norms: Vec<f64>,
}

impl Matrix {
    fn slopes_of(&self, seeds: &[usize]) -> Vec<f64> {
        seeds.iter().map(|&s| self.slopes[s]).collect()
    }
    /// The largest |slope - ln g| over `seeds`; a slope that is not finite (a norm that under-
    /// or overflowed) makes it NaN, failing the comparison rather than dropping out of it.
    fn deviation(&self, seeds: &[usize]) -> f64 {
        max_or_nan(&self.slopes_of(seeds).iter().map(|v| (v - self.g.ln()).abs()).collect::<Vec<_>>())
    }
}

/// Every chain, computed.
struct Data {
    width: usize,
    depth: usize,
    scalar: Vec<Scalar>,
    matrix: Vec<Matrix>,
}

fn compute(p: &Params) -> Result<Data, String> {
    let s = sizes(p);
    let mut scalar = Vec::new();
    for &w in &WEIGHTS {
        for &len in s.lengths {
            let (ratio, logs) = scalar_chain(w, len)?;
            scalar.push(Scalar { w, len, ratio, logs });
        }
    }
    let mut matrix = Vec::new();
    for weights in [Weights::Orthogonal, Weights::Gaussian] {
        for &g in &GAINS {
            let mut chain = Matrix { weights, g, slopes: Vec::new(), norms: Vec::new() };
            for &seed in &s.seeds {
                let (slope, norms) = matrix_chain(s.width, s.depth, &weights.init(g), seed)?;
                chain.slopes.push(slope);
                if seed == s.seeds[0] {
                    chain.norms = norms;
                }
            }
            matrix.push(chain);
        }
    }
    Ok(Data { width: s.width, depth: s.depth, scalar, matrix })
}

/// The largest relative error of a scalar chain against w^L (infinite if one is not finite).
fn worst_scalar(d: &Data) -> f64 {
    d.scalar.iter().map(Scalar::error).fold(0.0, |a: f64, e| if e.is_finite() { a.max(e) } else { f64::INFINITY })
}

/// The rule over the random matrices of `seeds` (scalar chains have none).
fn judge(d: &Data, seeds: &[usize]) -> Vec<Measure> {
    let worst = worst_scalar(d);
    let mut measured = vec![Measure::new("largest relative error of a scalar chain", worst, format!("{worst:.2e}"))
        .must(format!("<= {SCALAR_TOL:e}"), Some(worst <= SCALAR_TOL))];
    for c in &d.matrix {
        let g = c.g;
        measured.push(if c.weights == Weights::Orthogonal {
            let (dev, tol) = (c.deviation(seeds), slope_tolerance(g));
            Measure::new(
                format!("orthogonal chain slope at g = {g} (largest deviation from ln g over seeds)"),
                dev,
                format!("{dev:.2e} nats/layer"),
            )
            .must(format!("<= {tol:.2e}"), dev.is_finite().then_some(dev <= tol))
        } else {
            let slopes = c.slopes_of(seeds);
            let m = mean(&slopes);
            Measure::new(
                format!("gaussian chain slope at g = {g} (mean over seeds; ln g = {:+.4})", g.ln()),
                m,
                format!("{m:+.4} ± {:.4}", std(&slopes)),
            )
        });
    }
    measured
}

fn note(d: &Data, seeds: &[usize]) -> String {
    let worst_scalar = worst_scalar(d);
    let of = |w: Weights| d.matrix.iter().filter(move |c| c.weights == w);
    let worst_orth = max_or_nan(&of(Weights::Orthogonal).map(|c| c.deviation(seeds)).collect::<Vec<_>>());
    let excess: Vec<f64> = of(Weights::Gaussian)
        .flat_map(|c| c.slopes_of(seeds).into_iter().map(|v| v - c.g.ln()).collect::<Vec<_>>())
        .collect();
    format!(
        "Scalar chains match w^L to {worst_scalar:.1e} relative; orthogonal chains' slopes match ln g to {worst_orth:.1e} nats per layer. Gaussian chains' slopes differ from ln g by {:+.4} ± {:.4} nats per layer (mean ± sd over gains and seeds), against the finite-width expectation {:+.4}: the same law on average, with a spread from matrix to matrix that orthogonal chains do not have.",
        mean(&excess),
        std(&excess),
        gaussian_slope(1.0, d.width)
    )
}

fn tables(d: &Data, seeds: &[usize]) -> Vec<Table> {
    let mut t_scalar = Table::new(
        "Scalar chains: dL/dh_0 over dL/dh_L against w^L",
        &["w", "L", "dL/dh_0 / dL/dh_L", "w^L", "relative error"],
    )
    .caption("One backward pass of the engine in f64; dL/dh_0 is dL/dx, the stem being the identity.");
    for c in &d.scalar {
        t_scalar.row(vec![
            num(c.w),
            c.len.to_string(),
            format!("{:.10e}", c.ratio),
            format!("{:.10e}", c.want()),
            format!("{:.2e}", c.error()),
        ]);
    }
    let mut t_matrix = Table::new(
        "Matrix chains: slope of ln ||dL/dh_l|| per layer towards the input",
        &["weights", "g", "ln g", "slope (mean ± sd)", "|slope - ln g|", "tolerance", "finite-width prediction"],
    )
    .caption(format!(
        "Width {}, {} layers, {} seeds. The finite-width prediction for Gaussian chains is ln g + (psi(n/2) + ln(2/n))/2, the mean log growth of a chi_n/sqrt(n) factor per layer; for orthogonal ones it is ln g.",
        d.width,
        d.depth,
        seeds.len()
    ));
    for c in &d.matrix {
        let slopes = c.slopes_of(seeds);
        let judged = c.weights == Weights::Orthogonal;
        t_matrix.row(vec![
            c.weights.name().to_string(),
            num(c.g),
            format!("{:+.5}", c.g.ln()),
            format!("{:+.5} ± {:.5}", mean(&slopes), std(&slopes)),
            format!("{:.2e}", if judged { c.deviation(seeds) } else { (mean(&slopes) - c.g.ln()).abs() }),
            if judged { format!("{:.2e}", slope_tolerance(c.g)) } else { "(not judged)".into() },
            format!("{:+.5}", c.weights.predicted(c.g, d.width)),
        ]);
    }
    vec![t_scalar, t_matrix]
}

fn figures(d: &Data, seeds: &[usize]) -> Vec<Figure> {
    let longest = d.scalar.iter().map(|c| c.len).max().unwrap_or(0);
    let mut p_scalar = LinePlot::new(
        format!("Scalar chains of {longest} units: the error signal per unit"),
        "unit l (0 = the chain's input)",
        "ln |dL/dh_l| (nats)",
    );
    for c in d.scalar.iter().filter(|c| c.len == longest) {
        let (w, logs) = (c.w, &c.logs);
        let pts: Vec<(f64, f64)> = logs.iter().enumerate().map(|(l, v)| (l as f64, *v)).collect();
        // Theory: ln |dL/dh_l| = ln |dL/dh_L| + (L - l) ln w.
        let top = logs[logs.len() - 1];
        let theory = (0..logs.len()).map(|l| (l as f64, top + (longest - l) as f64 * w.ln())).collect();
        p_scalar = p_scalar
            .series(Series::new(format!("measured, w = {w}"), pts).markers())
            .series(Series::new(format!("(L - l) ln w, w = {w}"), theory).dashed());
    }
    let mut p_chain = LinePlot::new(
        format!("Matrix chains (width {}): ln ||dL/dh_l|| below the last layer", d.width),
        "layers below the last (towards the input)",
        "ln ||dL/dh_l|| - ln ||dL/dh_L-1|| (nats)",
    );
    for c in &d.matrix {
        // ln ||dL/dh_l|| relative to the last layer, against layers below it.
        let top = c.norms[c.norms.len() - 1].ln();
        let pts = c.norms.iter().enumerate().map(|(l, n)| ((d.depth - 1 - l) as f64, n.ln() - top)).collect();
        p_chain = p_chain.series(Series::new(format!("{} g = {}", c.weights.name(), c.g), pts));
    }
    let lo = 0.9f64.ln() * 1.2;
    let hi = 1.1f64.ln() * 1.2;
    let mut p_slope = LinePlot::new(
        "Per-layer slope of ln ||dL/dh_l|| against ln g",
        "ln g",
        "slope (nats per layer towards the input)",
    )
    .series(Series::new("slope = ln g", vec![(lo, lo), (hi, hi)]).dashed());
    for weights in [Weights::Orthogonal, Weights::Gaussian] {
        let (mut pts, mut bars) = (Vec::new(), Vec::new());
        for c in d.matrix.iter().filter(|c| c.weights == weights) {
            let slopes = c.slopes_of(seeds);
            let (m, sd) = (mean(&slopes), std(&slopes));
            pts.push((c.g.ln(), m));
            bars.push((c.g.ln(), m - sd, m + sd));
        }
        p_slope = p_slope.series(
            Series::new(format!("{} (mean ± sd over seeds)", weights.name()), pts).points_only().error_bars(bars),
        );
    }
    vec![
        Figure::new(
            "Scalar chains",
            "ln |dL/dh_l| at every unit of the longest chains (markers) and the line (L - l) ln w through the last unit (dashed).",
            p_scalar.to_svg(),
        ),
        Figure::new(
            "Matrix chains",
            "ln ||dL/dh_l|| relative to the last stack layer, first seed; orthogonal chains are straight lines of slope ln g, Gaussian ones wander around them.",
            p_chain.to_svg(),
        ),
        Figure::new(
            "Slope against ln g",
            "The fitted slope per layer (mean over seeds) against ln g; the dashed line is slope = ln g.",
            p_slope.to_svg(),
        ),
    ]
}

pub const CLAIM: Claim = Claim {
    id: "C2",
    slug: "linear-chain",
    title: "The error signal scales like the product of the weights",
    quote: "If the (norm of the) weights ... is not equal to one, the error signal will either successively shrink or grow.",
    anchor: "Exact for linear chains: dL/dx = w^L dL/dh_L for a scalar chain of L units of weight w; an orthogonal matrix scaled by g multiplies every vector's norm by exactly g, so ln ||dL/dh_l|| falls by ln g per layer towards the input (Saxe, McClelland, Ganguli 2014 use such scaled orthogonal chains); a Gaussian matrix of variance g^2/n does so only on average, with fluctuations of order 1/sqrt(n) per layer.",
    rule: "Holds if every scalar chain (w in {0.9, 1, 1.1}, L up to 100) matches w^L within 1e-5 relative, and every orthogonal chain's (width 64) slope of ln ||dL/dh_l|| per layer matches ln g within 2% (at g = 1, where ln g = 0, within 2% of ln 1.1 = 0.0019 nats per layer); Gaussian chains are reported beside them, not judged.",
    data: &["None: a single input (scalar chains) or one Gaussian input and target (matrix chains)"],
    anchor_headline: "the product of the weights: w^L exactly",
    seeds: PerScale { quick: 3, paper: 3, tiny: 2 },
    protocol: Protocol::UNCHANGED,
};

impl Experiment for C2 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let s = sizes(p);
        format!(
            "No training. Scalar chains: a plain net of width 1 with identity activations, its stem and head set to the identity and its L stack layers to weight w (bias 0), for w in 0.9, 1, 1.1 and L in {}; one backward pass of the engine in f64 (MSE against 0 at x = 1), dL/dh_0 (the stem's output, which is dL/dx) over dL/dh_L read from the gradient taps. Matrix chains: plain nets of width {} and {} identity layers (f64), weights scaled orthogonal (gain g) or Gaussian (variance g^2/{}), bias 0, g in 0.9, 1, 1.1; one Gaussian input and a Gaussian target of 10 values through the Glorot head, MSE; the gradflow probe's ||dL/dh_l|| at every stack layer and its least-squares slope of ln norm per layer going towards the input; {} seeds of the random matrices.{}",
            list(s.lengths),
            s.width,
            s.depth,
            s.width,
            s.seeds.len(),
            match p.scale {
                Scale::Paper => " The paper scale is the quick one: these are exact computations, cheap at any size.",
                Scale::Tiny => " (Tiny: a test of the pipeline.)",
                Scale::Quick => "",
            }
        )
    }
    fn runs(&self, _p: &Params) -> Vec<RunRequest> {
        Vec::new()
    }

    fn analyze(&self, p: &Params, _runs: &RunSet) -> Result<Findings, String> {
        let d = compute(p)?;
        let seeds: Vec<usize> = (0..sizes(p).seeds.len()).collect();
        let (measured, per_seed) = super::by_seed(&sizes(p).seeds, |s| judge(&d, s));
        Ok(Findings {
            tables: tables(&d, &seeds),
            figures: figures(&d, &seeds),
            measured,
            per_seed,
            note: note(&d, &seeds),
            notes: vec![
                "The rule's 2% relative tolerance is empty at g = 1 (ln g = 0): there it is read as 2% of ln 1.1 = 0.0019 nats per layer, the absolute tolerance at g = 1.1. Fixed in the code (slope_tolerance) before any number was computed.".into(),
                "dL/dx is read as dL/dh_0, the gradient at the stem's output: the stem is set to the identity (weight 1, bias 0), and the engine skips the product with the stem's weights that only dL/d(input) would need.".into(),
            ],
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_matches_known_values() {
        // psi(1) = -gamma, psi(1/2) = -gamma - 2 ln 2, psi(32) = H_31 - gamma.
        let gamma = 0.5772156649015329;
        assert!((digamma(1.0) + gamma).abs() < 1e-11);
        assert!((digamma(0.5) + gamma + 2.0 * 2f64.ln()).abs() < 1e-11);
        assert!((digamma(32.0) - 3.4500295305349873).abs() < 1e-12);
    }

    #[test]
    fn a_scalar_chain_is_the_product_of_its_weights() {
        let (r, logs) = scalar_chain(1.1, 20).unwrap();
        assert!((r / 1.1f64.powi(20) - 1.0).abs() < 1e-12, "{r}");
        assert_eq!(logs.len(), 21);
        let (slope, norms) = matrix_chain(16, 12, &Weights::Orthogonal.init(0.9), 1).unwrap();
        assert!((slope - 0.9f64.ln()).abs() < 1e-9, "{slope}");
        assert_eq!(norms.len(), 12);
    }

    #[test]
    fn a_slope_that_is_not_finite_leaves_its_chain_unjudged() {
        let chain = |weights, slopes: Vec<f64>| Matrix { weights, g: 1.1, slopes, norms: vec![] };
        let d = Data {
            width: 64,
            depth: 100,
            scalar: vec![Scalar { w: 1.1, len: 10, ratio: 1.1f64.powi(10), logs: vec![] }],
            matrix: vec![
                chain(Weights::Orthogonal, vec![1.1f64.ln(), f64::NAN, 1.1f64.ln() + 0.01]),
                chain(Weights::Gaussian, vec![0.0, 0.2, f64::NAN]),
            ],
        };
        let met = |seeds: &[usize]| judge(&d, seeds).iter().map(|m| m.met).collect::<Vec<_>>();
        assert_eq!(met(&[0]), [Some(true), Some(true), None]);
        assert_eq!(met(&[0, 1]), [Some(true), None, None], "a NaN slope must not drop out");
        assert_eq!(met(&[2]), [Some(true), Some(false), None]);
        // Gaussian chains are shown by their mean over the seeds given.
        assert!((judge(&d, &[0, 1])[2].value - 0.1).abs() < 1e-12);
    }
}
