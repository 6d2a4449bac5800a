//! C3 (a): the mean-field slope test. The per-layer slope of ln ||dL/dh_l|| of plain tanh nets
//! at initialisation, measured by the meanfield probe, against (1/2) ln chi_1.

use super::SIGMA_B2;
use crate::lab::fmt::num;
use crate::lab::{Figure, Measure, Table};
use crate::nn::Activation;
use crate::plot::{LinePlot, Series};
use crate::probe::meanfield::{measure_slope, slope_tolerance, MeanField, SlopeMeasurement};
use crate::stats::max_or_nan;

/// The nets measured: sigma_w^2 values, depth, width, `batches` batches of `batch` inputs per
/// seed, and the stack layers [from, to) the slope is fitted over.
pub(super) struct Sizes {
    pub sw: Vec<f64>,
    pub depth: usize,
    pub width: usize,
    pub batch: usize,
    pub batches: usize,
    pub seeds: Vec<u64>,
    pub fit: [usize; 2],
}

/// One measurement per sigma_w^2, pooled over the seeds.
pub(super) fn measure(s: &Sizes) -> Result<Vec<SlopeMeasurement>, String> {
    s.sw.iter()
        .map(|&sw| measure_slope(Activation::Tanh, sw, SIGMA_B2, s.depth, s.width, s.batch, s.batches, &s.seeds, s.fit))
        .collect()
}

/// Every slope within the probe's tolerance; a slope that is not finite makes the outcome
/// inconclusive.
pub(super) fn judge(slopes: &[SlopeMeasurement]) -> Measure {
    let agree = slopes.iter().filter(|m| m.agrees).count();
    let worst = max_or_nan(
        &slopes.iter().map(|m| (m.measured_slope - m.predicted_slope).abs() / m.tolerance).collect::<Vec<_>>(),
    );
    Measure::new(
        "(a) slopes within tolerance",
        agree as f64,
        format!("{agree} of {} (largest |difference| / tolerance {})", slopes.len(), num(worst)),
    )
    .must(format!("all {}", slopes.len()), worst.is_finite().then_some(agree == slopes.len()))
}

pub(super) fn note(slopes: &[SlopeMeasurement]) -> String {
    let agree = slopes.iter().filter(|m| m.agrees).count();
    format!("{agree} of {} slopes agree with mean-field theory", slopes.len())
}

pub(super) fn table(s: &Sizes, slopes: &[SlopeMeasurement]) -> Table {
    let mut t = Table::new(
        "(a) Gradient slope per layer: measured against mean-field theory",
        &["sigma_w^2", "chi_1", "phase", "predicted (1/2) ln chi_1", "measured", "|difference|", "tolerance", "agrees"],
    )
    .caption(format!(
        "Plain tanh nets, {} layers of width {}, sigma_b^2 = 0.05; slope of (1/2) ln mean ||dL/dh_l||^2 per layer towards the input over layers {}..{}, {} seeds x {} batches of {}.",
        s.depth,
        s.width,
        s.fit[0],
        s.fit[1] - 1,
        s.seeds.len(),
        s.batches,
        s.batch
    ));
    for m in slopes {
        t.row(vec![
            num(m.theory.sigma_w2),
            format!("{:.4}", m.theory.chi_1),
            m.theory.phase.clone(),
            format!("{:+.4}", m.predicted_slope),
            format!("{:+.4}", m.measured_slope),
            format!("{:.4}", (m.measured_slope - m.predicted_slope).abs()),
            format!("{:.4}", m.tolerance),
            if m.agrees { "yes".into() } else { "no".into() },
        ]);
    }
    t
}

/// The measured slopes over the theory's curve and its tolerance band.
pub(super) fn figure(slopes: &[SlopeMeasurement], theory: &[MeanField]) -> Figure {
    let line: Vec<(f64, f64)> = theory.iter().map(|m| (m.sigma_w2, m.predicted_slope)).collect();
    let band = line
        .iter()
        .map(|&(x, y)| {
            let t = slope_tolerance(y);
            (x, y - t, y + t)
        })
        .collect();
    let measured = slopes.iter().map(|m| (m.theory.sigma_w2, m.measured_slope)).collect();
    Figure::new(
        "(a) Gradient slope against sigma_w^2",
        "Measured slopes (markers) and (1/2) ln chi_1 (line; the band is the tolerance). Negative: the gradient shrinks towards the input (ordered phase); positive: it grows (chaotic phase).",
        LinePlot::new("Slope of ln ||dL/dh_l|| per layer", "sigma_w^2", "slope (nats per layer towards the input)")
            .series(Series::new("(1/2) ln chi_1 (mean field)", line).band(band))
            .series(Series::new("measured", measured).points_only())
            .to_svg(),
    )
}
