//! C3 (a): the mean-field slope test. The per-layer slope of ln ||dL/dh_l|| of plain tanh nets
//! at initialisation, measured by the meanfield probe for each seed, against (1/2) ln chi_1.

use super::SIGMA_B2;
use crate::lab::fmt::num;
use crate::lab::{Figure, Measure, Table};
use crate::nn::Activation;
use crate::plot::{LinePlot, Series};
use crate::probe::meanfield::{measure_slope, slope_tolerance, MeanField, SlopeMeasurement};
use crate::stats::{max_or_nan, mean};

/// The nets measured: sigma_w^2 values, depth, width, `batches` batches of `batch` inputs per
/// seed, and the stack layers [from, to) the slope is fitted over.
pub(super) struct Sizes {
    pub sw: Vec<f64>,
    pub depth: usize,
    pub width: usize,
    pub batch: usize,
    pub batches: usize,
    pub fit: [usize; 2],
}

/// One measurement per sigma_w^2 and seed: [sigma_w^2][seed].
pub(super) struct Slopes {
    depth: usize,
    fit: [usize; 2],
    by_sw: Vec<Vec<SlopeMeasurement>>,
}

/// Each seed measured alone, so that the rule can read any subset of them.
pub(super) fn measure(s: &Sizes, seeds: &[u64]) -> Result<Slopes, String> {
    let mut by_sw = Vec::new();
    for &sw in &s.sw {
        let per_seed = seeds.iter().map(|&seed| {
            measure_slope(Activation::Tanh, sw, SIGMA_B2, s.depth, s.width, s.batch, s.batches, &[seed], s.fit)
        });
        by_sw.push(per_seed.collect::<Result<Vec<_>, String>>()?);
    }
    Ok(Slopes { depth: s.depth, fit: s.fit, by_sw })
}

/// The slope at one sigma_w^2 over a set of seeds.
pub(super) struct Pooled<'a> {
    pub theory: &'a MeanField,
    pub measured: f64,
    pub tolerance: f64,
    pub agrees: bool,
}

impl Slopes {
    /// The slope of every sigma_w^2 over `seeds`: ||dL/dh_l||^2 averaged over their batches (as
    /// the probe averages over the seeds it is given: every seed has the same number of
    /// batches), its (1/2) ln fitted over the probe's layers.
    pub fn pooled(&self, seeds: &[usize]) -> Vec<Pooled<'_>> {
        self.by_sw
            .iter()
            .map(|per_seed| {
                let m0 = &per_seed[0];
                let log_norm = |l: usize| {
                    let sq: Vec<f64> = seeds.iter().map(|&s| (2.0 * per_seed[s].log_norm[l]).exp()).collect();
                    0.5 * mean(&sq).ln()
                };
                let pts: Vec<(f64, f64)> =
                    (self.fit[0]..self.fit[1]).map(|l| ((self.depth - 1 - l) as f64, log_norm(l))).collect();
                let measured = crate::stats::slope(&pts);
                let tolerance = slope_tolerance(m0.predicted_slope);
                Pooled {
                    theory: &m0.theory,
                    measured,
                    tolerance,
                    agrees: (measured - m0.predicted_slope).abs() <= tolerance,
                }
            })
            .collect()
    }
}

/// Every slope within the probe's tolerance; a slope that is not finite makes the outcome
/// inconclusive.
pub(super) fn judge(slopes: &Slopes, seeds: &[usize]) -> Measure {
    let pooled = slopes.pooled(seeds);
    let agree = pooled.iter().filter(|m| m.agrees).count();
    let worst = max_or_nan(
        &pooled.iter().map(|m| (m.measured - m.theory.predicted_slope).abs() / m.tolerance).collect::<Vec<_>>(),
    );
    Measure::new(
        "(a) slopes within tolerance",
        agree as f64,
        format!("{agree} of {} (largest |difference| / tolerance {})", pooled.len(), num(worst)),
    )
    .must(format!("all {}", pooled.len()), worst.is_finite().then_some(agree == pooled.len()))
}

pub(super) fn note(slopes: &Slopes, seeds: &[usize]) -> String {
    let pooled = slopes.pooled(seeds);
    let agree = pooled.iter().filter(|m| m.agrees).count();
    format!("{agree} of {} slopes agree with mean-field theory", pooled.len())
}

pub(super) fn table(s: &Sizes, slopes: &Slopes, seeds: &[usize]) -> Table {
    let mut t = Table::new(
        "(a) Gradient slope per layer: measured against mean-field theory",
        &[
            "sigma_w^2",
            "chi_1",
            "phase",
            "predicted (1/2) ln chi_1",
            "measured (seeds pooled)",
            "measured per seed",
            "|difference|",
            "tolerance",
            "agrees",
        ],
    )
    .caption(format!(
        "Plain tanh nets, {} layers of width {}, sigma_b^2 = 0.05; slope of (1/2) ln mean ||dL/dh_l||^2 per layer towards the input over layers {}..{}, {} seeds x {} batches of {}; pooled: the squared norms averaged over the seeds before the fit.",
        s.depth,
        s.width,
        s.fit[0],
        s.fit[1] - 1,
        seeds.len(),
        s.batches,
        s.batch
    ));
    for (m, per_seed) in slopes.pooled(seeds).iter().zip(&slopes.by_sw) {
        let each: Vec<String> = seeds.iter().map(|&i| format!("{:+.4}", per_seed[i].measured_slope)).collect();
        t.row(vec![
            num(m.theory.sigma_w2),
            format!("{:.4}", m.theory.chi_1),
            m.theory.phase.clone(),
            format!("{:+.4}", m.theory.predicted_slope),
            format!("{:+.4}", m.measured),
            each.join(", "),
            format!("{:.4}", (m.measured - m.theory.predicted_slope).abs()),
            format!("{:.4}", m.tolerance),
            if m.agrees { "yes".into() } else { "no".into() },
        ]);
    }
    t
}

/// The measured slopes over the theory's curve and its tolerance band.
pub(super) fn figure(slopes: &Slopes, seeds: &[usize], theory: &[MeanField]) -> Figure {
    let line: Vec<(f64, f64)> = theory.iter().map(|m| (m.sigma_w2, m.predicted_slope)).collect();
    let band = line
        .iter()
        .map(|&(x, y)| {
            let t = slope_tolerance(y);
            (x, y - t, y + t)
        })
        .collect();
    let measured = slopes.pooled(seeds).iter().map(|m| (m.theory.sigma_w2, m.measured)).collect();
    Figure::new(
        "(a) Gradient slope against sigma_w^2",
        "Measured slopes (markers, seeds pooled) and (1/2) ln chi_1 (line; the band is the tolerance). Negative: the gradient shrinks towards the input (ordered phase); positive: it grows (chaotic phase).",
        LinePlot::new("Slope of ln ||dL/dh_l|| per layer", "sigma_w^2", "slope (nats per layer towards the input)")
            .series(Series::new("(1/2) ln chi_1 (mean field)", line).band(band))
            .series(Series::new("measured", measured).points_only())
            .to_svg(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made-up measurements at one sigma_w^2 whose ln norms fall by `slope` per layer towards
    /// the input.
    fn fake(slope: f64, sw: f64) -> SlopeMeasurement {
        let theory = MeanField::compute(Activation::Tanh, sw, SIGMA_B2);
        let depth = 10;
        SlopeMeasurement {
            predicted_slope: theory.predicted_slope,
            theory,
            depth,
            width: 4,
            batch: 1,
            batches: 1,
            seeds: vec![1],
            fit_layers: [1, 9],
            log_norm: (0..depth).map(|l| slope * (depth - 1 - l) as f64).collect(),
            measured_slope: slope,
            tolerance: 0.0,
            agrees: false,
        }
    }

    #[test]
    fn each_seed_is_judged_alone_and_the_seeds_together_pool_their_norms() {
        let sw = 1.5;
        let predicted = MeanField::compute(Activation::Tanh, sw, SIGMA_B2).predicted_slope;
        let s = Slopes {
            depth: 10,
            fit: [1, 9],
            by_sw: vec![vec![fake(predicted, sw), fake(predicted + 0.5, sw), fake(predicted, sw)]],
        };
        assert!((s.pooled(&[0])[0].measured - predicted).abs() < 1e-9, "one seed: its own slope");
        assert_eq!(judge(&s, &[0]).met, Some(true));
        assert_eq!(judge(&s, &[1]).met, Some(false), "a slope 0.5 nats off fails");
        assert_eq!(judge(&s, &[0, 2]).met, Some(true));
        let both = s.pooled(&[0, 1])[0].measured;
        assert!(both > predicted && both < predicted + 0.5, "pooled lies between: {both}");
    }
}
