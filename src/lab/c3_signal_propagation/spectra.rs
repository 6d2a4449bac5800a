//! C3 (c): the input-output Jacobian's singular values at criticality, for orthogonal and
//! Gaussian weights under tanh and ReLU, by depth: the layer Jacobians of nets at
//! initialisation from the jacobian probe, their products, and their singular values. The rule
//! reads the ratio of the 95th to the 5th percentile of the singular values at the deepest
//! depth, pooled over the inputs and the seeds it is given.

use crate::lab::fmt::num;
use crate::lab::{Figure, Measure, Table};
use crate::nn::{Activation, LossKind, Model, ModelConfig};
use crate::plot::{LinePlot, Series};
use crate::probe::jacobian::{self, Spectrum, ZERO_REL};
use crate::probe::meanfield::GaussHermite;
use crate::probe::svd;
use crate::tensor::Mat;

/// The rule's bars on the ratio of the 95th to the 5th percentile of the singular values at the
/// deepest depth.
const ISO_BAR: f64 = 10.0;
const SPREAD_BAR: f64 = 100.0;
/// The percentiles the rule compares (protocol v2: the extreme singular values are noisy at
/// width 64).
const LOW: f64 = 0.05;
const HIGH: f64 = 0.95;
/// tanh at criticality: the point of its critical line whose length fixed point is q*. For
/// orthogonal weights the squared singular values of dh_L/dh_0 spread by about 8 L q*^2
/// (Pennington et al. 2017), so q* = 1/256 leaves 0.02 at L = 128 (protocol v2, fixed from
/// theory before any v2 run; v1's 1/64 left 0.25).
pub(super) const Q_STAR: f64 = 1.0 / 256.0;

/// The nets: width, the depths read, inputs pooled per net.
pub(super) struct Sizes {
    pub width: usize,
    pub depths: Vec<usize>,
    pub inputs: usize,
}

/// The point of tanh's critical line (chi_1 = 1) whose length fixed point is `q`:
/// sigma_w^2 = 1 / E[tanh'(sqrt(q) z)^2], sigma_b^2 = q - sigma_w^2 E[tanh(sqrt(q) z)^2].
pub(super) fn tanh_critical(q: f64) -> (f64, f64) {
    let gh = GaussHermite::new(crate::probe::meanfield::NODES);
    let s = q.sqrt();
    let sw = 1.0 / gh.expect(|z| Activation::Tanh.df(s * z).powi(2));
    let sb = q - sw * gh.expect(|z| Activation::Tanh.f(s * z).powi(2));
    (sw, sb.max(0.0))
}

/// What the rule asks of a net's percentile ratio at the deepest depth.
enum Bar {
    /// Isometry: below the bar.
    Below(f64),
    /// Spread: above the bar (exactly singular counts as above).
    Above(f64),
    /// Shown beside the others, not judged.
    None,
}

/// One of the four nets.
struct JacNet {
    name: &'static str,
    phi: Activation,
    orthogonal: bool,
    bar: Bar,
}

const JAC_NETS: [JacNet; 4] = [
    JacNet { name: "orthogonal tanh", phi: Activation::Tanh, orthogonal: true, bar: Bar::Below(ISO_BAR) },
    JacNet { name: "gaussian tanh", phi: Activation::Tanh, orthogonal: false, bar: Bar::Above(SPREAD_BAR) },
    JacNet { name: "orthogonal relu", phi: Activation::Relu, orthogonal: true, bar: Bar::Above(SPREAD_BAR) },
    JacNet { name: "gaussian relu", phi: Activation::Relu, orthogonal: false, bar: Bar::None },
];

/// (sigma_w^2, sigma_b^2, q_0) at criticality: tanh on its critical line at q* = 1/256 (inputs
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

/// One of the nets of `depth` layers of `width` at (sigma_w^2, sigma_b^2), in f64, and
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

/// The singular values of dh_l/dh_0 at each of `depths`, pooled over the net's inputs: the
/// probe's layer Jacobians, their chain-rule products, and the probe's SVD (exact in f64).
fn singular_values(
    net: &JacNet,
    at: (f64, f64, f64),
    width: usize,
    depths: &[usize],
    inputs: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>, String> {
    let depth = *depths.iter().max().ok_or("C3: no Jacobian depths")?;
    let (mut m, x) = jac_net(net, at, width, depth, inputs, seed)?;
    let mut out = vec![Vec::new(); depths.len()];
    for r in 0..inputs {
        let (_, layers) = jacobian::stack_jacobians(&mut m, x.row(r))?;
        let io = jacobian::input_output(&layers);
        for (i, &l) in depths.iter().enumerate() {
            let p = io.get(l - 1).ok_or_else(|| format!("C3: no Jacobian at depth {l}"))?;
            out[i].extend(svd::singular_values(&p.data, p.rows, p.cols));
        }
    }
    Ok(out)
}

/// The `q` quantile of `sorted` (ascending), interpolated linearly between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let x = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    sorted[lo] + (x - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The ratio of the 95th to the 5th percentile of `s`; infinite where the 5th percentile is
/// numerically zero (at most `ZERO_REL` of the largest value: exactly zero, as ReLU's units
/// that are off make it, or below what a product of many f64 matrices resolves), which the rule
/// counts as spread, as it counts an exactly singular Jacobian.
pub(super) fn percentile_ratio(s: &[f64]) -> f64 {
    let mut v: Vec<f64> = s.to_vec();
    v.sort_by(f64::total_cmp);
    let (lo, hi) = (quantile(&v, LOW), quantile(&v, HIGH));
    let max = v.last().copied().unwrap_or(f64::NAN);
    if lo <= ZERO_REL * max {
        f64::INFINITY
    } else {
        hi / lo
    }
}

fn shown(r: f64) -> String {
    if r == f64::INFINITY {
        "inf (p5 numerically zero)".into()
    } else {
        num(r)
    }
}

/// Every net's singular values, and the control.
pub(super) struct Spectra {
    width: usize,
    depths: Vec<usize>,
    inputs: usize,
    /// [net][seed][depth]: the singular values, pooled over the inputs.
    values: Vec<Vec<Vec<Vec<f64>>>>,
    /// The control: orthogonal tanh at the q* = 0 end of the critical line (sigma_w^2 = 1,
    /// sigma_b^2 = 0, inputs at q_0 = Q_STAR, where q^l falls like 1/l), the percentile ratio at
    /// the deepest depth by seed.
    control: Vec<f64>,
}

pub(super) fn compute(s: &Sizes, seeds: &[u64]) -> Result<Spectra, String> {
    let mut values = Vec::new();
    for net in &JAC_NETS {
        let per_seed =
            seeds.iter().map(|&seed| singular_values(net, critical(net.phi), s.width, &s.depths, s.inputs, seed));
        values.push(per_seed.collect::<Result<Vec<_>, String>>()?);
    }
    let deepest = *s.depths.iter().max().ok_or("C3: no Jacobian depths")?;
    let mut control = Vec::new();
    for &seed in seeds {
        let sv = singular_values(&JAC_NETS[0], (1.0, 0.0, Q_STAR), s.width, &[deepest], s.inputs, seed)?;
        control.push(percentile_ratio(&sv[0]));
    }
    Ok(Spectra { width: s.width, depths: s.depths.clone(), inputs: s.inputs, values, control })
}

impl Spectra {
    fn deepest(&self) -> usize {
        *self.depths.iter().max().expect("depths")
    }

    /// Net `n`'s singular values at depth index `i`, pooled over `seeds`.
    fn pooled(&self, n: usize, i: usize, seeds: &[usize]) -> Vec<f64> {
        seeds.iter().flat_map(|&s| self.values[n][s][i].iter().copied()).collect()
    }

    fn ratio(&self, n: usize, i: usize, seeds: &[usize]) -> f64 {
        percentile_ratio(&self.pooled(n, i, seeds))
    }

    fn spectrum(&self, n: usize, i: usize, seeds: &[usize]) -> Spectrum {
        Spectrum::of(self.depths[i], &self.pooled(n, i, seeds))
    }

    fn every_seed(&self) -> Vec<usize> {
        (0..self.values[0].len()).collect()
    }

    /// The control over `seeds` (its seeds' values, the largest where several).
    pub fn control(&self, seeds: &[usize]) -> f64 {
        seeds.iter().map(|&s| self.control[s]).fold(f64::NEG_INFINITY, f64::max)
    }

    /// Whether orthogonal tanh's isometry failed over `seeds`.
    pub fn isometry_failed(&self, seeds: &[usize]) -> bool {
        self.ratio(0, self.depths.len() - 1, seeds) >= ISO_BAR
    }

    pub fn judge(&self, seeds: &[usize]) -> Vec<Measure> {
        let deepest = self.deepest();
        let last = self.depths.len() - 1;
        let mut measured = Vec::new();
        for (n, net) in JAC_NETS.iter().enumerate() {
            let v = self.ratio(n, last, seeds);
            let m = Measure::new(format!("(c) {} p95/p5 singular value at depth {deepest}", net.name), v, shown(v));
            measured.push(match net.bar {
                // Isometry is what the v2 rule turns on.
                Bar::Below(bar) => m.below(bar).headline(),
                Bar::Above(bar) => m.above(bar),
                Bar::None => m,
            });
        }
        let c = self.control(seeds);
        measured.push(Measure::new(
            format!("(c, control, not judged) orthogonal tanh p95/p5 at depth {deepest}, sigma_w^2 = 1, sigma_b^2 = 0 (q* = 0), inputs at q_0 = 1/256"),
            c,
            shown(c),
        ));
        measured
    }

    pub fn note(&self, seeds: &[usize]) -> String {
        let last = self.depths.len() - 1;
        let r = |n| shown(self.ratio(n, last, seeds));
        format!(
            "at depth {} and width {} the ratio of the 95th to the 5th percentile of the singular values is {} for orthogonal tanh, {} for Gaussian tanh and {} for orthogonal ReLU (the control, orthogonal tanh at the q* = 0 end of the critical line: {})",
            self.deepest(),
            self.width,
            r(0),
            r(1),
            r(2),
            shown(self.control(seeds)),
        )
    }

    pub fn tables(&self) -> Vec<Table> {
        let deepest = self.deepest();
        let last = self.depths.len() - 1;
        let all = self.every_seed();
        let per_seed =
            |n: usize, i: usize| all.iter().map(|&s| shown(self.ratio(n, i, &[s]))).collect::<Vec<_>>().join(", ");
        let mut t_deepest = Table::new(
            format!("(c) Input-output Jacobian at depth {deepest}: singular values"),
            &["net", "p95/p5 (seeds pooled)", "p95/p5 per seed", "max/min", "max", "min", "numerically zero", "std of log10 s", "mean s^2"],
        )
        .caption(format!(
            "Width {}, {} inputs per net and {} seeds pooled (per seed: that seed's inputs alone); p95/p5: the 95th over the 5th percentile (inf where the 5th is numerically zero, at most 1e-12 of the largest: exactly zero, as ReLU's units that are off make it, or below what the f64 product resolves, as for Gaussian tanh, whose smallest values reach 1e-20 of the largest; the rule counts both as singular). Numerically zero: how many singular values are at most 1e-12 of the largest.",
            self.width, self.inputs, all.len()
        ));
        let cols = std::iter::once("net".to_string()).chain(self.depths.iter().map(|l| format!("depth {l}")));
        let mut t_depth = Table::with_columns("(c) p95/p5 singular value of dh_l/dh_0 by depth", cols).caption(
            "Seeds pooled, then each seed's own value in brackets (inf: the 5th percentile is numerically zero).",
        );
        for (n, net) in JAC_NETS.iter().enumerate() {
            let f = self.spectrum(n, last, &all);
            t_deepest.row(vec![
                net.name.into(),
                shown(self.ratio(n, last, &all)),
                per_seed(n, last),
                num(f.ratio),
                num(f.max),
                num(f.min),
                format!("{} of {}", f.zeros, f.count),
                format!("{:.3}", f.std_log10),
                num(f.mean_sq),
            ]);
            let mut row = vec![net.name.to_string()];
            row.extend(
                (0..self.depths.len()).map(|i| format!("{} ({})", shown(self.ratio(n, i, &all)), per_seed(n, i))),
            );
            t_depth.row(row);
        }
        vec![t_deepest, t_depth]
    }

    /// Every net's `what` against depth, seeds pooled (infinite values are not drawn).
    fn against_depth(&self, mut plot: LinePlot, what: impl Fn(usize, usize) -> f64) -> LinePlot {
        for (n, net) in JAC_NETS.iter().enumerate() {
            let pts = self
                .depths
                .iter()
                .enumerate()
                .map(|(i, &l)| (l as f64, what(n, i)))
                .filter(|p| p.1.is_finite())
                .collect();
            plot = plot.series(Series::new(net.name, pts).markers());
        }
        plot
    }

    pub fn figures(&self) -> Vec<Figure> {
        let deepest = self.deepest();
        let all = self.every_seed();
        let bar =
            |name: String, v: f64| Series::new(name, self.depths.iter().map(|&l| (l as f64, v)).collect()).dashed();
        let p_ratio = self
            .against_depth(
                LinePlot::new(
                    "(c) Spread of the input-output Jacobian's singular values",
                    "depth l",
                    "p95 / p5 of the singular values of dh_l/dh_0",
                )
                .log_y(true)
                .log_x(true),
                |n, i| self.ratio(n, i, &all),
            )
            .series(bar(format!("isometry bar ({ISO_BAR})"), ISO_BAR))
            .series(bar(format!("spread bar ({SPREAD_BAR})"), SPREAD_BAR));
        let p_spread = self.against_depth(
            LinePlot::new(
                "(c) Width of the singular value spectrum",
                "depth l",
                "std of log10 s of dh_l/dh_0 (decades)",
            )
            .log_x(true),
            |n, i| self.spectrum(n, i, &all).std_log10,
        );
        let bw = (jacobian::HIST_HI - jacobian::HIST_LO) / jacobian::HIST_BINS as f64;
        let mut p_hist = LinePlot::new(
            format!("(c) Singular values of dh_{deepest}/dh_0 (seeds pooled)"),
            "log10 s",
            "fraction of singular values",
        );
        for (n, net) in JAC_NETS.iter().enumerate() {
            let h = self.spectrum(n, self.depths.len() - 1, &all);
            let count = h.count.max(1) as f64;
            let pts = h
                .hist
                .iter()
                .enumerate()
                .map(|(i, &c)| (jacobian::HIST_LO + (i as f64 + 0.5) * bw, c as f64 / count))
                .collect();
            p_hist = p_hist.series(Series::new(net.name, pts).markers());
        }
        vec![
            Figure::new(
                "(c) Spread of the spectra against depth",
                "Standard deviation of log10 s over the singular values that are not numerically zero (seeds pooled): finite for ReLU too, whose p95/p5 is infinite.",
                p_spread.to_svg(),
            ),
            Figure::new(
                "(c) Jacobian spectra against depth",
                "The ratio of the 95th to the 5th percentile of the singular values of dh_l/dh_0 (log-log; seeds and inputs pooled), the number the rule judges at the deepest depth; where the 5th percentile is exactly zero (ReLU: units off) the ratio is infinite and is not drawn.",
                p_ratio.to_svg(),
            ),
            Figure::new(
                "(c) Spectra at the deepest depth",
                format!(
                    "Histogram of log10 s in bins of {bw} decades (seeds pooled); values below 1e{} (numerically zero) are left out.",
                    jacobian::HIST_LO
                ),
                p_hist.to_svg(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::meanfield::MeanField;

    #[test]
    fn the_critical_tanh_point_has_chi_1_one_at_its_fixed_point() {
        let (sw, sb) = tanh_critical(Q_STAR);
        let m = MeanField::compute(Activation::Tanh, sw, sb);
        assert!((m.q_star - Q_STAR).abs() < 1e-6, "q* = {}", m.q_star);
        assert!((m.chi_1 - 1.0).abs() < 1e-6, "chi_1 = {}", m.chi_1);
        assert!(sw > 1.0 && sb > 0.0, "sigma_w^2 = {sw}, sigma_b^2 = {sb}");
    }

    #[test]
    fn percentiles_leave_out_the_extremes_and_exact_zeros_count_as_singular() {
        // 100 values 1..=100: the 5th percentile is 5.95, the 95th 95.05.
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile_ratio(&v) - 95.05 / 5.95).abs() < 1e-12);
        // One huge and one tiny outlier move max/min, not the percentiles much.
        let mut w = vec![1.0; 98];
        w.extend([1e6, 1e-6]);
        assert!((percentile_ratio(&w) - 1.0).abs() < 1e-12);
        // Half the values exactly zero (ReLU units off): singular.
        let z: Vec<f64> = (0..64).map(|i| if i % 2 == 0 { 0.0 } else { 1.0 }).collect();
        assert_eq!(percentile_ratio(&z), f64::INFINITY);
    }

    /// Per net, seeds whose singular values are 1 and r (half each) at the one depth.
    fn spectra(ratios: &[[f64; 3]; 4]) -> Spectra {
        let at = |r: f64| vec![(0..20).map(|i| if i % 2 == 0 { 1.0 } else { r }).collect::<Vec<f64>>()];
        Spectra {
            width: 8,
            depths: vec![8],
            inputs: 1,
            values: ratios.iter().map(|r| r.iter().map(|&r| at(r)).collect()).collect(),
            control: vec![1.5, 1.5, 1.5],
        }
    }

    #[test]
    fn each_seed_is_judged_alone_and_the_seeds_together_pool_their_values() {
        let d = spectra(&[[2.0, 20.0, 2.0], [500.0, 50.0, 500.0], [300.0, 300.0, 0.0], [1.0, 1.0, 1.0]]);
        let judged =
            |seeds: &[usize]| d.judge(seeds).iter().take(4).map(|m| (m.value.round(), m.met)).collect::<Vec<_>>();
        assert_eq!(judged(&[0]), [(2.0, Some(true)), (500.0, Some(true)), (300.0, Some(true)), (1.0, None)]);
        assert_eq!(judged(&[1]), [(20.0, Some(false)), (50.0, Some(false)), (300.0, Some(true)), (1.0, None)]);
        // Seed 2's orthogonal ReLU has values 1 and 0: exactly singular counts as above.
        assert_eq!(judged(&[2])[2], (f64::INFINITY, Some(true)));
        // Pooled: orthogonal tanh's values 1, 2 and 20 (half of them 1): p95 = 20, p5 = 1.
        assert_eq!(judged(&[0, 1, 2])[0], (20.0, Some(false)));
        assert!(d.judge(&[0])[0].headline, "isometry is the headline");
    }
}
