//! C3 signal-propagation: nonlinear nets behave like linear chains with the Jacobian in place
//! of the weight. (a) Mean-field theory predicts the per-layer slope of ln ||dL/dh_l|| as
//! (1/2) ln chi_1; (b) nets train only to a depth of a few correlation lengths xi_c, which
//! diverges at the order-to-chaos transition (Schoenholz et al. 2017); (c) at criticality
//! orthogonal tanh nets keep the input-output Jacobian's singular values near 1 while
//! Gaussian weights and ReLU spread them (Pennington et al. 2017). (a) and (c) are computed
//! in `analyze` from nets at initialisation; (b) is a grid of short training runs.

use super::fmt::{num, pct};
use super::{config, Claim, Experiment, Figure, Findings, Measure, Params, RunSet, Scale, Table};
use crate::nn::{Activation, LossKind, Model, ModelConfig};
use crate::plot::{HeatMap, LinePlot, Series};
use crate::probe::jacobian::{self, JacobianOptions, Spectrum};
use crate::probe::meanfield::{measure_slope, GaussHermite, MeanField, SlopeMeasurement};
use crate::stats::mean;
use crate::sweep::RunRequest;
use crate::tensor::Mat;

pub struct C3;

/// Schoenholz et al.'s bias variance for tanh.
const SIGMA_B2: f64 = 0.05;
/// (a): the bar of tests/probe.rs.
const SLOPE_SW: [f64; 5] = [1.0, 1.5, 2.0, 3.0, 4.0];
/// (b): 7 values over [1, 4], and the depths.
const MAP_SW: [f64; 7] = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0];
const MAP_DEPTHS: [usize; 5] = [10, 20, 40, 70, 100];
/// Trainable: test accuracy above twice chance (10 classes).
const TRAINABLE: f64 = 0.2;
/// Nets train up to about this many xi_c (Schoenholz et al.).
const XI_MULT: f64 = 6.0;
/// The rule's bar on the cells of the map on the predicted side.
const MAP_BAR: f64 = 0.8;
/// (c): the rule's bars on max/min singular value at the deepest depth.
const ISO_BAR: f64 = 10.0;
const SPREAD_BAR: f64 = 100.0;
/// (c): tanh at criticality with a small length fixed point (see `tanh_critical`).
const Q_STAR: f64 = 1.0 / 64.0;

/// The trainability runs: a plain tanh net of width 100 on an MNIST subset, SGD at the
/// reproduction's rate (see `setup`).
const QUICK: &str = r#"
[data]
name = "mnist"
train_subset = 9600
test_subset = 2000
[model]
arch = "plain"
depth = 10
width = 100
activation = "tanh"
init = { kind = "gaussian", sigma_w2 = 1.0, sigma_b2 = 0.05 }
[optim]
lr = 0.001
optimizer = { kind = "sgd" }
[train]
epochs = 1
batch_size = 32
"#;

/// The reproduction's setting (ghliu/mean-field-fcdnn): width 300, batch 256, all of MNIST,
/// SGD lr 1e-3; longer than its 200 steps (4 epochs, about 940 steps), closer to the long
/// training of Schoenholz et al.'s boundary.
const PAPER: &str = r#"
[data]
name = "mnist"
[model]
arch = "plain"
depth = 10
width = 300
activation = "tanh"
init = { kind = "gaussian", sigma_w2 = 1.0, sigma_b2 = 0.05 }
[optim]
lr = 0.001
optimizer = { kind = "sgd" }
[train]
epochs = 4
batch_size = 256
"#;

const TINY: &str = r#"
[data]
name = "mnist1d"
num_samples = 300
[model]
arch = "plain"
depth = 2
width = 8
activation = "tanh"
init = { kind = "gaussian", sigma_w2 = 1.0, sigma_b2 = 0.05 }
[optim]
lr = 0.01
optimizer = { kind = "sgd" }
[train]
epochs = 1
batch_size = 32
"#;

/// Sizes of (a) and (c), and the map's grid, at each scale.
struct Sizes {
    /// (a): depth, width, batch, batches, seeds, fit layers.
    slope: (usize, usize, usize, usize, Vec<u64>, [usize; 2]),
    map_sw: Vec<f64>,
    map_depths: Vec<usize>,
    /// (c): width, depths, inputs per net, seeds.
    jac: (usize, Vec<usize>, usize, Vec<u64>),
}

fn sizes(p: &Params) -> Sizes {
    match p.scale {
        Scale::Quick | Scale::Paper => Sizes {
            slope: (50, 300, 64, 4, vec![1, 2], [10, 45]),
            map_sw: MAP_SW.to_vec(),
            map_depths: MAP_DEPTHS.to_vec(),
            jac: (if p.scale == Scale::Paper { 256 } else { 64 }, vec![8, 16, 32, 64, 128], 4, vec![1, 2]),
        },
        Scale::Tiny => Sizes {
            slope: (12, 32, 16, 1, vec![1], [2, 10]),
            map_sw: vec![1.0, 4.0],
            map_depths: vec![2, 4],
            jac: (8, vec![2, 4, 8], 2, vec![1]),
        },
    }
}

fn map_run(p: &Params, sw: f64, depth: usize) -> RunRequest {
    let base = match p.scale {
        Scale::Quick => QUICK,
        Scale::Paper => PAPER,
        Scale::Tiny => TINY,
    };
    let cfg = config(
        base,
        &[
            format!("model.depth={depth}"),
            format!("model.init={{ kind = \"gaussian\", sigma_w2 = {sw:?}, sigma_b2 = {SIGMA_B2:?} }}"),
        ],
    );
    RunRequest::train(cfg, format!("C3 map sigma_w^2 {sw} depth {depth}"))
}

/// The point of tanh's critical line (chi_1 = 1) whose length fixed point is `q`:
/// sigma_w^2 = 1 / E[tanh'(sqrt(q) z)^2], sigma_b^2 = q - sigma_w^2 E[tanh(sqrt(q) z)^2].
fn tanh_critical(q: f64) -> (f64, f64) {
    let gh = GaussHermite::new(crate::probe::meanfield::NODES);
    let s = q.sqrt();
    let sw = 1.0 / gh.expect(|z| Activation::Tanh.df(s * z).powi(2));
    let sb = q - sw * gh.expect(|z| Activation::Tanh.f(s * z).powi(2));
    (sw, sb.max(0.0))
}

/// One of (c)'s four nets.
struct JacNet {
    name: &'static str,
    phi: Activation,
    orthogonal: bool,
}

const JAC_NETS: [JacNet; 4] = [
    JacNet { name: "orthogonal tanh", phi: Activation::Tanh, orthogonal: true },
    JacNet { name: "gaussian tanh", phi: Activation::Tanh, orthogonal: false },
    JacNet { name: "orthogonal relu", phi: Activation::Relu, orthogonal: true },
    JacNet { name: "gaussian relu", phi: Activation::Relu, orthogonal: false },
];

/// (sigma_w^2, sigma_b^2, q_0) at criticality: tanh on its critical line at q* = 1/64 (inputs
/// at q*), ReLU at sigma_w^2 = 2, sigma_b^2 = 0 (its only critical point; scale-free, inputs
/// at q_0 = 1).
fn critical(phi: Activation) -> (f64, f64, f64) {
    match phi {
        Activation::Relu => (2.0, 0.0, 1.0),
        _ => {
            let (sw, sb) = tanh_critical(Q_STAR);
            (sw, sb, Q_STAR)
        }
    }
}

/// One of (c)'s nets of `depth` layers of `width` at (sigma_w^2, sigma_b^2), in f64, and
/// `inputs` Gaussian inputs whose stem pre-activations have variance q_0.
fn jac_net(
    net: &JacNet,
    (sw, sb, q0): (f64, f64, f64),
    width: usize,
    depth: usize,
    inputs: usize,
    seed: u64,
) -> Result<(Model<f64>, Mat<f64>), String> {
    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution, Normal};
    let init = if net.orthogonal {
        format!("{{ kind = \"orthogonal\", gain = {:?}, sigma_b2 = {sb:?} }}", sw.sqrt())
    } else {
        format!("{{ kind = \"gaussian\", sigma_w2 = {sw:?}, sigma_b2 = {sb:?} }}")
    };
    let cfg: ModelConfig = toml::from_str(&format!(
        "arch = \"plain\"\ndepth = {depth}\nwidth = {width}\nactivation = \"{}\"\ninit = {init}",
        net.phi.name()
    ))
    .map_err(|e| format!("C3 Jacobian net: {e}"))?;
    let m = Model::<f64>::build(&cfg, width, 10, LossKind::CrossEntropy, seed)?;
    // Stem pre-activation variance = sigma_w^2 * v + sigma_b^2 = q_0 (orthogonal rows of a
    // square stem keep the length: the same per unit).
    let v = ((q0 - sb) / sw).max(0.0);
    let normal = Normal::new(0.0, v.sqrt()).map_err(|e| e.to_string())?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1ac0);
    Ok((m, Mat::from_fn(inputs, width, |_, _| normal.sample(&mut rng))))
}

/// The input-output spectra of one net at the given depths, pooled over its inputs, through
/// the jacobian probe.
fn spectra(net: &JacNet, width: usize, depths: &[usize], inputs: usize, seed: u64) -> Result<Vec<Spectrum>, String> {
    let depth = *depths.iter().max().ok_or("C3: no Jacobian depths")?;
    let (mut m, x) = jac_net(net, critical(net.phi), width, depth, inputs, seed)?;
    let j = jacobian::compute(&mut m, &x, &JacobianOptions { inputs, depths: depths.to_vec() })?;
    Ok(j.input_output)
}

/// max/min singular value of dh_depth/dh_0 at one input (the probe's layer Jacobians and their
/// product, without the probe's per-layer spectra, which cost most at large widths).
fn deepest_ratio(net: &JacNet, at: (f64, f64, f64), width: usize, depth: usize, seed: u64) -> Result<f64, String> {
    let (mut m, x) = jac_net(net, at, width, depth, 1, seed)?;
    let (_, layers) = jacobian::stack_jacobians(&mut m, x.row(0))?;
    let mut prod: Option<Mat<f64>> = None;
    for j in &layers {
        prod = Some(match &prod {
            Some(p) => crate::tensor::matmul(crate::tensor::View::of(j), crate::tensor::View::of(p)),
            None => j.clone(),
        });
    }
    let p = prod.ok_or("C3: no layers")?;
    let s = crate::probe::svd::singular_values(&p.data, p.rows, p.cols);
    Ok(Spectrum::of(depth, &s).ratio)
}

/// Where `depth` falls among the map's rows (row 0 at the top holds the deepest nets), as a
/// fractional row for the overlay; None outside the rows.
fn row_of(depth: f64, rows: &[usize]) -> Option<f64> {
    for r in 0..rows.len().saturating_sub(1) {
        let (hi, lo) = (rows[r] as f64, rows[r + 1] as f64);
        if depth <= hi && depth >= lo {
            return Some(r as f64 + (hi - depth) / (hi - lo));
        }
    }
    None
}

pub const CLAIM: Claim = Claim {
    id: "C3",
    slug: "signal-propagation",
    title: "Nonlinear nets: Jacobians, order and chaos",
    quote: "The picture is roughly the same for neurons with nonlinear activation functions, except that we think about the norm of the Jacobians.",
    anchor: "Schoenholz et al., ICLR 2017: tanh, sigma_b^2 = 0.05, sigma_w^2 in [1, 4]; gradients scale as chi_1^L; depth scale xi_c diverges at chi_1 = 1; nets train up to about 6 xi_c (reproduction ghliu/mean-field-fcdnn: MNIST, width 300, depth 10-100, SGD lr 1e-3, batch 256, 200 steps, training accuracy). Pennington et al., NeurIPS 2017: at criticality orthogonal tanh nets keep the input-output Jacobian's singular values near 1; Gaussian ones spread with depth; ReLU cannot reach isometry.",
    rule: "Holds if (a) every measured slope of ln ||dL/dh_l|| per layer agrees with (1/2) ln chi_1 within 10% (or 0.01 nats where that is larger), (b) at least 80% of the map's cells are on the side of 6 xi_c that the theory predicts (trainable, test accuracy above 0.2 = twice chance, where depth <= 6 xi_c; untrainable where depth > 6 xi_c), (c) orthogonal tanh keeps max/min singular value of the input-output Jacobian below 10 at depth 128 while Gaussian tanh and orthogonal ReLU exceed 100 (worst seed for the first, mildest seed for the others). Criticality: tanh on its critical line chi_1 = 1 at length fixed point q* = 1/64, ReLU at sigma_w^2 = 2, sigma_b^2 = 0.",
    data: &["MNIST (IDX files; a subset at quick scale) for the map; Gaussian inputs for (a) and (c)"],
};

impl Experiment for C3 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let s = sizes(p);
        let (d, w, b, nb, seeds, fit) = &s.slope;
        let (jw, jd, ji, js) = &s.jac;
        let (csw, csb) = tanh_critical(Q_STAR);
        let map = match p.scale {
            Scale::Quick => "a plain tanh net of width 100 (sigma_b^2 = 0.05) on the first 9,600 MNIST training images, one epoch of plain SGD at lr 1e-3 (the reproduction's rate) in batches of 32: 300 steps, scored on the first 2,000 test images. The reproduction trains 200 steps of batch 256 at width 300; batches of 32 at width 100 keep the 35 runs within the quick budget (a step's expected update does not depend on the batch size, only its noise does), and 300 steps is the 'few hundred' of CLAIMS.md.",
            Scale::Paper => "width 300 on all of MNIST, SGD lr 1e-3, batch 256, 4 epochs (about 940 steps), scored on the whole test set; the (a) and (c) parts as at quick scale, the Jacobians at width 256.",
            Scale::Tiny => "width 8 on 300 MNIST-1D examples, one epoch (a test of the pipeline; its verdict means nothing).",
        };
        format!(
            "(a) Mean-field slope test (the bar of tests/probe.rs): plain tanh nets of {d} layers of width {w}, Gaussian weights, sigma_b^2 = 0.05, sigma_w^2 in {}; {nb} batches of {b} Gaussian inputs at the fixed point q* with random labels, {} seeds; ||dL/dh_l||^2 averaged, its (1/2) ln fitted over stack layers {}..{} against (1/2) ln chi_1 from Gauss-Hermite quadrature. (b) Trainability map, sigma_w^2 in {} x depth in {}: {map} 6 xi_c from the mean-field theory at each sigma_w^2. (c) Input-output Jacobian spectra of plain nets of width {jw} at depth {} (one net of depth {} read at each), orthogonal or Gaussian weights x tanh or ReLU at criticality: tanh at the point of its critical line whose fixed point is q* = 1/64 (sigma_w^2 = {csw:.4}, sigma_b^2 = {csb:.2e}; a small q*, as isometry of tanh needs, chosen before any run), inputs at q*; ReLU at sigma_w^2 = 2, sigma_b^2 = 0; {ji} inputs per net pooled, {} seeds, exact Jacobians in f64 (probe jacobian).",
            SLOPE_SW.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
            seeds.len(),
            fit[0],
            fit[1] - 1,
            s.map_sw.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
            s.map_depths.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
            jd.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "),
            jd.iter().max().unwrap_or(&0),
            js.len(),
        )
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let s = sizes(p);
        let mut v = Vec::new();
        for &d in &s.map_depths {
            for &sw in &s.map_sw {
                v.push(map_run(p, sw, d));
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let s = sizes(p);
        let mut measured = Vec::new();
        let mut tables = Vec::new();
        let mut figures = Vec::new();

        // (a) Mean-field slopes.
        let (d, w, b, nb, seeds, fit) = s.slope.clone();
        let slope_sw: Vec<f64> = if p.scale == Scale::Tiny { vec![1.0, 4.0] } else { SLOPE_SW.to_vec() };
        let mut slopes: Vec<SlopeMeasurement> = Vec::new();
        for &sw in &slope_sw {
            slopes.push(measure_slope(Activation::Tanh, sw, SIGMA_B2, d, w, b, nb, &seeds, fit)?);
        }
        let mut t_a = Table::new(
            "(a) Gradient slope per layer: measured against mean-field theory",
            &["sigma_w^2", "chi_1", "phase", "predicted (1/2) ln chi_1", "measured", "|difference|", "tolerance", "agrees"],
        )
        .caption(format!(
            "Plain tanh nets, {d} layers of width {w}, sigma_b^2 = 0.05; slope of (1/2) ln mean ||dL/dh_l||^2 per layer towards the input over layers {}..{}, {} seeds x {nb} batches of {b}.",
            fit[0],
            fit[1] - 1,
            seeds.len()
        ));
        for m in &slopes {
            let diff = (m.measured_slope - m.predicted_slope).abs();
            t_a.row(vec![
                num(m.theory.sigma_w2),
                format!("{:.4}", m.theory.chi_1),
                m.theory.phase.clone(),
                format!("{:+.4}", m.predicted_slope),
                format!("{:+.4}", m.measured_slope),
                format!("{diff:.4}"),
                format!("{:.4}", m.tolerance),
                if m.agrees { "yes".into() } else { "no".into() },
            ]);
        }
        let agree = slopes.iter().filter(|m| m.agrees).count();
        let worst = slopes
            .iter()
            .map(|m| (m.measured_slope - m.predicted_slope).abs() / m.tolerance)
            .fold(0.0, |a: f64, v| if v.is_nan() { f64::NAN } else { a.max(v) });
        measured.push(
            Measure::new(
                "(a) slopes within tolerance",
                agree as f64,
                format!("{agree} of {} (largest |difference| / tolerance {})", slopes.len(), num(worst)),
            )
            .must(format!("all {}", slopes.len()), worst.is_finite().then_some(agree == slopes.len())),
        );
        tables.push(t_a);
        // The theory on a grid of sigma_w^2 over [1, 4] (for the curves of (a) and (b)).
        let fine: Vec<MeanField> =
            (0..=60).map(|i| MeanField::compute(Activation::Tanh, 1.0 + 0.05 * i as f64, SIGMA_B2)).collect();
        let theory_line: Vec<(f64, f64)> = fine.iter().map(|m| (m.sigma_w2, m.predicted_slope)).collect();
        let band: Vec<(f64, f64, f64)> = theory_line
            .iter()
            .map(|&(x, y)| {
                let t = crate::probe::meanfield::slope_tolerance(y);
                (x, y - t, y + t)
            })
            .collect();
        figures.push(Figure::new(
            "(a) Gradient slope against sigma_w^2",
            "Measured slopes (markers) and (1/2) ln chi_1 (line; the band is the tolerance). Negative: the gradient shrinks towards the input (ordered phase); positive: it grows (chaotic phase).",
            LinePlot::new("Slope of ln ||dL/dh_l|| per layer", "sigma_w^2", "slope (nats per layer towards the input)")
                .series(Series::new("(1/2) ln chi_1 (mean field)", theory_line).band(band))
                .series(
                    Series::new(
                        "measured",
                        slopes.iter().map(|m| (m.theory.sigma_w2, m.measured_slope)).collect(),
                    )
                    .points_only(),
                )
                .to_svg(),
        ));

        // (b) Trainability map.
        let rows: Vec<usize> = s.map_depths.iter().rev().copied().collect();
        let xi: Vec<f64> = s.map_sw.iter().map(|&sw| MeanField::compute(Activation::Tanh, sw, SIGMA_B2).xi_c).collect();
        let mut acc = vec![vec![f64::NAN; s.map_sw.len()]; rows.len()];
        let mut on_side = 0usize;
        let mut cells = 0usize;
        let mut text = vec![vec![String::new(); s.map_sw.len()]; rows.len()];
        let mut t_b = Table::new(
            "(b) Test accuracy after training, and the side of 6 xi_c",
            &std::iter::once("depth".to_string())
                .chain(s.map_sw.iter().map(|sw| format!("sigma_w^2 = {sw}")))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .caption("Each cell: test accuracy; T / U = predicted trainable (depth <= 6 xi_c) or untrainable; a mark (x) where the outcome is on the other side. Diverged runs count as untrainable.");
        for (r, &depth) in rows.iter().enumerate() {
            let mut row = vec![depth.to_string()];
            for (c, &sw) in s.map_sw.iter().enumerate() {
                let run = runs.get(&map_run(p, sw, depth))?;
                let a = if run.diverged() { f64::NAN } else { run.summary().test_accuracy.unwrap_or(f64::NAN) };
                acc[r][c] = a;
                let trainable = a > TRAINABLE;
                let predicted = (depth as f64) <= XI_MULT * xi[c];
                cells += 1;
                let ok = trainable == predicted;
                on_side += ok as usize;
                text[r][c] = format!("{}{}", if predicted { "T" } else { "U" }, if ok { "" } else { " x" });
                row.push(format!("{} {}{}", pct(a), if predicted { "T" } else { "U" }, if ok { "" } else { " (x)" }));
            }
            t_b.row(row);
        }
        let frac = on_side as f64 / cells.max(1) as f64;
        measured.push(
            Measure::new(
                "(b) map cells on the predicted side of 6 xi_c",
                frac,
                format!("{on_side} of {cells} ({})", pct(frac)),
            )
            .must(format!(">= {}", pct(MAP_BAR)), (cells > 0).then_some(frac >= MAP_BAR)),
        );
        let mut t_xi =
            Table::new("(b) Depth scales from mean-field theory", &["sigma_w^2", "chi_1", "phase", "xi_c", "6 xi_c"])
                .caption("tanh, sigma_b^2 = 0.05; xi_c = -1/ln chi_c, infinite at the transition (chi_1 = 1).");
        for (c, &sw) in s.map_sw.iter().enumerate() {
            let m = MeanField::compute(Activation::Tanh, sw, SIGMA_B2);
            t_xi.row(vec![num(sw), format!("{:.4}", m.chi_1), m.phase.clone(), num(xi[c]), num(XI_MULT * xi[c])]);
        }
        tables.push(t_b);
        tables.push(t_xi);
        // 6 xi_c over the map, in its cell coordinates (columns at sigma_w^2, rows by depth).
        let curve: Vec<(f64, f64)> = fine
            .iter()
            .filter(|m| m.sigma_w2 >= s.map_sw[0] - 1e-9 && m.sigma_w2 <= s.map_sw[s.map_sw.len() - 1] + 1e-9)
            .map(|m| (m.sigma_w2, row_of(XI_MULT * m.xi_c, &rows).unwrap_or(f64::NAN)))
            .collect();
        let step = if s.map_sw.len() > 1 { s.map_sw[1] - s.map_sw[0] } else { 1.0 };
        figures.push(Figure::new(
            "(b) Trainability map",
            format!(
                "Test accuracy after training by sigma_w^2 and depth (rows not evenly spaced in depth), with 6 xi_c from mean-field theory drawn over it; cells read T / U for the predicted side, x where the outcome is on the other. Chance is 10%; trainable means above {}.",
                pct(TRAINABLE)
            ),
            HeatMap {
                title: "Test accuracy of plain tanh nets after training".into(),
                x_label: "sigma_w^2".into(),
                y_label: "depth (layers)".into(),
                row_labels: rows.iter().map(|d| d.to_string()).collect(),
                x_start: s.map_sw[0],
                x_step: step,
                values: acc.clone(),
                log: false,
                col_labels: None,
                overlay: vec![Series::new("6 xi_c", curve).dashed()],
                cell_text: Some(text),
                ..Default::default()
            }
            .to_svg(),
        ));
        let mut p_acc = LinePlot::new("(b) Test accuracy against depth", "depth (layers)", "test accuracy");
        for (c, &sw) in s.map_sw.iter().enumerate() {
            let pts = rows.iter().enumerate().rev().map(|(r, &d)| (d as f64, acc[r][c])).collect();
            p_acc = p_acc
                .series(Series::new(format!("sigma_w^2 = {sw} (6 xi_c = {})", num(XI_MULT * xi[c])), pts).markers());
        }
        p_acc = p_acc.series(
            Series::new(
                "twice chance",
                vec![(s.map_depths[0] as f64, TRAINABLE), (s.map_depths[s.map_depths.len() - 1] as f64, TRAINABLE)],
            )
            .dashed(),
        );
        figures.push(Figure::new("(b) Accuracy by depth", "The map's columns as curves.", p_acc.to_svg()));

        // (c) Jacobian spectra.
        let (jw, jd, ji, js) = s.jac.clone();
        let deepest = *jd.iter().max().ok_or("C3: no Jacobian depths")?;
        let mut ratios: Vec<Vec<Vec<f64>>> = Vec::new(); // [net][seed][depth]
        let mut spreads: Vec<Vec<Vec<f64>>> = Vec::new(); // std of log10 s, the same way
        let mut hist: Vec<Spectrum> = Vec::new();
        let mut t_c = Table::new(
            format!("(c) Input-output Jacobian at depth {deepest}: singular values"),
            &["net", "max/min (per seed)", "max", "min", "numerically zero", "std of log10 s", "mean s^2"],
        )
        .caption(format!(
            "Width {jw}, {ji} inputs per net pooled; the first seed's max, min, zeros, spread and mean s^2; max/min of every seed (inf where a singular value is exactly 0)."
        ));
        for net in &JAC_NETS {
            let mut per_seed = Vec::new();
            let mut spread = Vec::new();
            let mut first: Option<Spectrum> = None;
            for &seed in &js {
                let sp = spectra(net, jw, &jd, ji, seed)?;
                per_seed.push(sp.iter().map(|x| x.ratio).collect::<Vec<f64>>());
                spread.push(sp.iter().map(|x| x.std_log10).collect::<Vec<f64>>());
                if first.is_none() {
                    first = sp.last().cloned();
                }
            }
            let f = first.ok_or("C3: no spectrum")?;
            t_c.row(vec![
                net.name.into(),
                per_seed.iter().map(|r| num(*r.last().unwrap_or(&f64::NAN))).collect::<Vec<_>>().join(", "),
                num(f.max),
                num(f.min),
                format!("{} of {}", f.zeros, f.count),
                format!("{:.3}", f.std_log10),
                num(f.mean_sq),
            ]);
            hist.push(f);
            ratios.push(per_seed);
            spreads.push(spread);
        }
        let at_deepest = |n: usize| -> Vec<f64> { ratios[n].iter().map(|r| *r.last().unwrap_or(&f64::NAN)).collect() };
        let worst = |v: Vec<f64>| {
            v.iter().copied().fold(f64::NEG_INFINITY, |a, x| if x.is_nan() { f64::NAN } else { a.max(x) })
        };
        let mildest =
            |v: Vec<f64>| v.iter().copied().fold(f64::INFINITY, |a, x| if x.is_nan() { f64::NAN } else { a.min(x) });
        let (ot, gt, or) = (worst(at_deepest(0)), mildest(at_deepest(1)), mildest(at_deepest(2)));
        let judged = |v: f64, ok: bool| (!v.is_nan()).then_some(ok);
        measured.push(
            Measure::new(format!("(c) orthogonal tanh max/min at depth {deepest} (worst seed)"), ot, num(ot))
                .must(format!("< {ISO_BAR}"), judged(ot, ot < ISO_BAR)),
        );
        measured.push(
            Measure::new(format!("(c) gaussian tanh max/min at depth {deepest} (mildest seed)"), gt, num(gt))
                .must(format!("> {SPREAD_BAR}"), judged(gt, gt > SPREAD_BAR)),
        );
        measured.push(
            Measure::new(format!("(c) orthogonal relu max/min at depth {deepest} (mildest seed)"), or, num(or))
                .must(format!("> {SPREAD_BAR}"), judged(or, or > SPREAD_BAR)),
        );
        let gr = mildest(at_deepest(3));
        measured.push(Measure::new(
            format!("(c) gaussian relu max/min at depth {deepest} (mildest seed)"),
            gr,
            num(gr),
        ));
        // Added after the quick run failed (c) at width 64: is it the width, or the point of
        // the critical line? Shown, not judged; the verdict stays that of the setup fixed
        // before the run.
        let mut posthoc = Vec::new();
        if jw < deepest {
            let wide = 2 * deepest;
            let r = deepest_ratio(&JAC_NETS[0], critical(Activation::Tanh), wide, deepest, js[0])?;
            posthoc.push((format!("width {wide}, q* = 1/64"), r));
            let r = deepest_ratio(&JAC_NETS[0], (1.0, 0.0, Q_STAR), jw, deepest, js[0])?;
            posthoc.push((format!("width {jw}, sigma_w^2 = 1, sigma_b^2 = 0 (q* = 0), inputs at q_0 = 1/64"), r));
        }
        for (what, r) in &posthoc {
            measured.push(Measure::new(
                format!("(c, post hoc, not judged) orthogonal tanh max/min at depth {deepest}, {what}, one input"),
                *r,
                num(*r),
            ));
        }
        tables.push(t_c);
        let cols: Vec<String> =
            std::iter::once("net".to_string()).chain(jd.iter().map(|l| format!("depth {l}"))).collect();
        let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
        let mut t_depth = Table::new("(c) max/min singular value of dh_l/dh_0 by depth", &cols)
            .caption("Every seed's value, separated by commas (inf: a singular value exactly 0).");
        for (n, net) in JAC_NETS.iter().enumerate() {
            let mut row = vec![net.name.to_string()];
            for i in 0..jd.len() {
                row.push(ratios[n].iter().map(|r| num(r[i])).collect::<Vec<_>>().join(", "));
            }
            t_depth.row(row);
        }
        tables.push(t_depth);
        let mut p_ratio = LinePlot::new(
            "(c) Spread of the input-output Jacobian's singular values",
            "depth l",
            "max s / min s of dh_l/dh_0",
        )
        .log_y(true)
        .log_x(true);
        for (n, net) in JAC_NETS.iter().enumerate() {
            // Exactly singular Jacobians (ReLU) have no finite ratio: drawn as missing.
            let pts = jd
                .iter()
                .enumerate()
                .map(|(i, &l)| {
                    (l as f64, mean(&ratios[n].iter().map(|r| r[i]).filter(|v| v.is_finite()).collect::<Vec<_>>()))
                })
                .collect();
            p_ratio = p_ratio.series(Series::new(net.name, pts).markers());
        }
        p_ratio = p_ratio
            .series(
                Series::new(format!("isometry bar ({ISO_BAR})"), jd.iter().map(|&l| (l as f64, ISO_BAR)).collect())
                    .dashed(),
            )
            .series(
                Series::new(format!("spread bar ({SPREAD_BAR})"), jd.iter().map(|&l| (l as f64, SPREAD_BAR)).collect())
                    .dashed(),
            );
        let mut p_spread = LinePlot::new(
            "(c) Width of the singular value spectrum",
            "depth l",
            "std of log10 s of dh_l/dh_0 (decades)",
        )
        .log_x(true);
        for (n, net) in JAC_NETS.iter().enumerate() {
            let pts = jd
                .iter()
                .enumerate()
                .map(|(i, &l)| (l as f64, mean(&spreads[n].iter().map(|r| r[i]).collect::<Vec<_>>())))
                .collect();
            p_spread = p_spread.series(Series::new(net.name, pts).markers());
        }
        figures.push(Figure::new(
            "(c) Spread of the spectra against depth",
            "Standard deviation of log10 s over the singular values that are not numerically zero (mean over seeds): finite for ReLU too, whose max/min is infinite.",
            p_spread.to_svg(),
        ));
        figures.push(Figure::new(
            "(c) Jacobian spectra against depth",
            "max/min singular value of dh_l/dh_0 (log-log; mean over the seeds where it is finite); ReLU Jacobians have exactly zero singular values (units off), so their ratio is infinite and is not drawn.",
            p_ratio.to_svg(),
        ));
        let mut p_hist = LinePlot::new(
            format!("(c) Singular values of dh_{deepest}/dh_0 (first seed)"),
            "log10 s",
            "fraction of singular values",
        );
        for (net, h) in JAC_NETS.iter().zip(&hist) {
            let bw = (jacobian::HIST_HI - jacobian::HIST_LO) / jacobian::HIST_BINS as f64;
            let n = h.count.max(1) as f64;
            let pts = h
                .hist
                .iter()
                .enumerate()
                .map(|(i, &c)| (jacobian::HIST_LO + (i as f64 + 0.5) * bw, c as f64 / n))
                .collect();
            p_hist = p_hist.series(Series::new(net.name, pts).markers());
        }
        figures.push(Figure::new(
            "(c) Spectra at the deepest depth",
            format!(
                "Histogram of log10 s in bins of {} decades; values below 1e{} (numerically zero) are left out.",
                (jacobian::HIST_HI - jacobian::HIST_LO) / jacobian::HIST_BINS as f64,
                jacobian::HIST_LO
            ),
            p_hist.to_svg(),
        ));

        let note = format!(
            "(a) {agree} of {} slopes agree with mean-field theory; (b) {on_side} of {cells} map cells lie on the predicted side of 6 xi_c; (c) at depth {deepest} and width {jw} max/min is {} for orthogonal tanh, {} for Gaussian tanh and {} for orthogonal ReLU.{}",
            slopes.len(),
            num(ot),
            num(gt),
            num(or),
            posthoc
                .iter()
                .map(|(what, r)| format!(" Post hoc (not judged): orthogonal tanh at {what}: {}.", num(*r)))
                .collect::<String>()
        );
        Ok(Findings {
            tables,
            figures,
            measured,
            note,
            notes: vec![
                "(b) is short training (a few hundred steps, as CLAIMS.md asks): Schoenholz et al.'s 6 xi_c bounds what trains eventually, and the boundary after few steps lies below it, which the rule's 80% allows for only in part. The reproduction the anchor cites draws its lines at 1, 2 and 4.5 xi_c for 200 steps. MNIST pixels are in [0, 1] here (the reproduction rescales them to [-0.5, 0.5]); the first layer's pre-activations start near sigma_w^2 x 0.1 and reach q* within a few layers.".into(),
                "(c) 'At criticality' is fixed in code: for tanh the point of the critical line chi_1 = 1 whose length fixed point is q* = 1/64 (sigma_b^2 is then about 5e-6, sigma_w^2 about 1.03), with the inputs at q*; ReLU's only critical point is sigma_w^2 = 2, sigma_b^2 = 0. This choice was made before any run. Pennington et al. show that tanh's spectrum narrows as q* falls (its spread grows with depth times q*), so the outcome depends on it.".into(),
                "(c) The rule proved ill-posed: 'at criticality' is a line, not a point, and along it tanh's spread at a given depth runs from isometric (q* -> 0) to wide. After the quick run failed (c) two checks were added, shown beside the verdict and not judged: the same net at width 256 (is it finite width? not mainly) and at the q* = 0 end of the line (sigma_w^2 = 1, sigma_b^2 = 0, inputs at q_0 = 1/64, as tests/probe_jacobian.rs sets it), where q^l falls like 1/l and the deep layers are nearly linear. A better rule fixes the point: orthogonal tanh at sigma_w^2 = 1, sigma_b^2 = 0 with inputs at q_0 = 1/64, or on the critical line with q* at most 1/L for depth L.".into(),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_critical_tanh_point_has_chi_1_one_at_its_fixed_point() {
        let (sw, sb) = tanh_critical(Q_STAR);
        let m = MeanField::compute(Activation::Tanh, sw, sb);
        assert!((m.q_star - Q_STAR).abs() < 1e-6, "q* = {}", m.q_star);
        assert!((m.chi_1 - 1.0).abs() < 1e-6, "chi_1 = {}", m.chi_1);
    }

    #[test]
    fn rows_are_interpolated_between_depths() {
        let rows = [100, 70, 40, 20, 10];
        assert_eq!(row_of(100.0, &rows), Some(0.0));
        assert_eq!(row_of(55.0, &rows), Some(1.5));
        assert_eq!(row_of(10.0, &rows), Some(4.0));
        assert_eq!(row_of(150.0, &rows), None);
        assert_eq!(row_of(5.0, &rows), None);
    }
}
