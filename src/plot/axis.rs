//! Axis ranges and ticks. Plotters' own key points are not used: they give no control over
//! label overlap, and on a log scale they label 1-2-5 points rather than decades.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

use super::style::text_width;

/// A labelled tick: its position in drawing space and its label.
pub(crate) type Tick = (f64, String);

/// Whether a set of ticks is readable on the axis being laid out.
pub(crate) type Readable<'a> = &'a dyn Fn(&[Tick]) -> bool;

/// Whether a set of tick labels (positions in drawing space) is readable on an axis over
/// [lo, hi]: the densest readable set is kept.
pub(crate) type Fits<'a> = &'a dyn Fn(&[(f64, String)], f64, f64) -> bool;

/// One axis in drawing space: log10 of the value on a log axis, the value itself otherwise.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    pub log: bool,
    pub lo: f64,
    pub hi: f64,
    /// Labelled ticks: position in drawing space and label.
    pub ticks: Vec<(f64, String)>,
    /// Unlabelled grid positions (the 2..9 multiples between decades of a log axis).
    pub minor: Vec<f64>,
}

/// Plotters maps drawing space to pixels with this and draws grid lines at its key points:
/// bold at the ticks, light at the minor positions.
impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (t * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.ticks.iter().map(|t| t.0).collect()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// `v` in drawing space, or None where it cannot be drawn (not finite; <= 0 on a log axis).
pub(crate) fn to_space(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() {
        None
    } else if log {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

impl Axis {
    /// An axis covering `values` (raw data; undrawable ones are ignored), padded by `pad` of
    /// its span on each side, or exactly `fixed` when given.
    pub fn fit(
        values: impl IntoIterator<Item = f64>,
        log: bool,
        fixed: Option<(f64, f64)>,
        pad: f64,
        fits: Fits,
    ) -> Axis {
        let (mut lo, mut hi) = values
            .into_iter()
            .filter_map(|v| to_space(v, log))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let fixed = fixed.and_then(|(a, b)| Some((to_space(a, log)?, to_space(b, log)?))).filter(|(a, b)| b > a);
        if let Some((a, b)) = fixed {
            (lo, hi) = (a, b);
        } else {
            if !lo.is_finite() {
                (lo, hi) = (0.0, 1.0);
            } else if hi <= lo {
                let half = if log { 0.5 } else { (lo.abs() * 0.05).max(0.5) };
                (lo, hi) = (lo - half, hi + half);
            }
            let p = (hi - lo) * pad;
            (lo, hi) = (lo - p, hi + p);
        }
        Axis::over(lo, hi, log, fits)
    }

    /// An axis over exactly [lo, hi] (drawing space).
    pub fn over(lo: f64, hi: f64, log: bool, fits: Fits) -> Axis {
        let fits = |t: &[(f64, String)]| fits(t, lo, hi);
        let (ticks, minor) = if log { log_ticks(lo, hi, &fits) } else { (linear_ticks(lo, hi, &fits), Vec::new()) };
        Axis { log, lo, hi, ticks, minor }
    }

    pub fn to_space(&self, v: f64) -> Option<f64> {
        to_space(v, self.log)
    }

    /// The label of the tick at drawing-space position `p` (empty if none is there).
    pub fn label(&self, p: f64) -> String {
        self.ticks.iter().find(|(q, _)| *q == p).map(|(_, l)| l.clone()).unwrap_or_default()
    }

    pub fn widest_label(&self, px: f64) -> f64 {
        self.ticks.iter().map(|(_, l)| text_width(l, px)).fold(0.0, f64::max)
    }
}

/// An axis of `n` cells labelled one label per cell (every k-th one if they crowd).
pub(crate) fn categorical(labels: &[String], n: usize, upward: bool, fits: Readable) -> Axis {
    let at = |i: usize| if upward { (n - i) as f64 - 0.5 } else { i as f64 + 0.5 };
    let mut ticks = Vec::new();
    for every in 1..=n.max(1) {
        ticks = labels
            .iter()
            .enumerate()
            .take(n)
            .filter(|(i, _)| i % every == 0)
            .map(|(i, l)| (at(i), l.clone()))
            .collect();
        if upward {
            ticks.reverse();
        }
        if fits(&ticks) {
            break;
        }
    }
    Axis { log: false, lo: 0.0, hi: n.max(1) as f64, ticks, minor: Vec::new() }
}

/// A `fits` for a horizontal axis `len_px` long: labels at least a gap apart.
pub(crate) fn fits_across(len_px: f64, px: f64) -> impl Fn(&[(f64, String)], f64, f64) -> bool {
    move |ticks: &[(f64, String)], lo: f64, hi: f64| {
        let at = |p: f64| (p - lo) / (hi - lo) * len_px;
        ticks.windows(2).all(|w| {
            let room = at(w[1].0) - at(w[0].0);
            room >= (text_width(&w[0].1, px) + text_width(&w[1].1, px)) / 2.0 + 0.8 * px
        })
    }
}

/// A `fits` for a vertical axis `len_px` long: labels at least two text heights apart, and
/// no more than 10.
pub(crate) fn fits_along(len_px: f64, px: f64) -> impl Fn(&[(f64, String)], f64, f64) -> bool {
    move |ticks: &[(f64, String)], lo: f64, hi: f64| {
        ticks.len() <= 10 && ticks.windows(2).all(|w| ((w[1].0 - w[0].0) / (hi - lo) * len_px).abs() >= 2.0 * px)
    }
}

/// The step of about `target` round ticks over [lo, hi]: 1, 2 or 5 times a power of ten (not
/// 2.5, which puts ticks between the integers of integer data such as epochs or layers).
fn nice_step(lo: f64, hi: f64, target: usize) -> f64 {
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag)
}

/// About `target` round tick values covering [lo, hi].
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let step = nice_step(lo, hi, target);
    let start = (lo / step - 1e-9).ceil() as i64;
    let end = (hi / step + 1e-9).floor() as i64;
    (start..=end).map(|i| i as f64 * step).map(|v| if v == 0.0 { 0.0 } else { v }).collect()
}

/// Labels for ticks a `step` apart: as many decimals as the step needs, scientific notation
/// for very large or small magnitudes.
pub(crate) fn tick_labels(values: &[f64], step: f64) -> Vec<String> {
    let mag = values.iter().map(|v| v.abs()).fold(0.0, f64::max);
    if mag >= 1e5 || (mag > 0.0 && mag < 1e-3) {
        return values.iter().map(|&v| sci(v, step)).collect();
    }
    let d = (0..=10).find(|&d| ((step * 10f64.powi(d)).round() - step * 10f64.powi(d)).abs() < 1e-6).unwrap_or(10);
    values
        .iter()
        .map(|&v| {
            let s = format!("{v:.*}", d as usize);
            match s.strip_prefix('-') {
                Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
                _ => s,
            }
        })
        .collect()
}

/// `v` in scientific notation with the fewest mantissa digits that keep it within step/1000.
fn sci(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let tol = (step.abs() * 1e-3).max(v.abs() * 1e-9);
    (0..=6)
        .map(|p| format!("{v:.p$e}"))
        .find(|s| s.parse::<f64>().is_ok_and(|x| (x - v).abs() <= tol))
        .unwrap_or_else(|| format!("{v:e}"))
}

fn linear_ticks(lo: f64, hi: f64, fits: Readable) -> Vec<(f64, String)> {
    let mut best = Vec::new();
    for target in (2..=8).rev() {
        let values = nice_ticks(lo, hi, target);
        let step = nice_step(lo, hi, target);
        let ticks: Vec<(f64, String)> = values.iter().copied().zip(tick_labels(&values, step)).collect();
        if fits(&ticks) {
            return ticks;
        }
        best = ticks;
    }
    // Even two ticks overlap: keep the ends only.
    if best.len() > 2 {
        best = vec![best[0].clone(), best[best.len() - 1].clone()];
    }
    best
}

/// 10^k with a superscript exponent.
pub(crate) fn pow10_label(k: i64) -> String {
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::from("10");
    if k < 0 {
        s.push('⁻');
    }
    for d in k.unsigned_abs().to_string().bytes() {
        s.push(SUP[(d - b'0') as usize]);
    }
    s
}

/// Decades where the axis holds at least three of them (every `n`-th one if all would
/// crowd); else round multiples (1-2-3-5, 1-2-5, ...); else two decades; else round linear values. Positions in log10
/// space.
fn log_ticks(lo: f64, hi: f64, fits: Readable) -> (Vec<Tick>, Vec<f64>) {
    let (a, b) = ((lo - 1e-9).ceil() as i64, (hi + 1e-9).floor() as i64);
    // The integer multiples of each decade inside the axis, for unlabelled grid lines.
    let multiples = |keep: &dyn Fn(i64) -> bool| -> Vec<f64> {
        // Over more decades they would crowd into stripes.
        if hi - lo > 3.0 {
            return Vec::new();
        }
        (lo.floor() as i64..=hi.ceil() as i64)
            .flat_map(|k| (1..=9).filter(|m| keep(*m)).map(move |m| k as f64 + (m as f64).log10()))
            .filter(|p| *p >= lo && *p <= hi)
            .collect()
    };
    let decades = |min: usize| -> Option<(Vec<Tick>, Vec<f64>)> {
        for every in 1..=(b - a).max(1) {
            let ticks: Vec<(f64, String)> =
                (a..=b).filter(|k| k.rem_euclid(every) == 0).map(|k| (k as f64, pow10_label(k))).collect();
            if ticks.len() < min {
                return None;
            }
            if fits(&ticks) {
                let minor = if every == 1 {
                    multiples(&|m| m > 1)
                } else {
                    (a..=b).map(|k| k as f64).filter(|p| !ticks.iter().any(|(q, _)| q == p)).collect()
                };
                return Some((ticks, minor));
            }
        }
        None
    };
    if let Some(t) = decades(3) {
        return t;
    }
    // Round multiples of each decade, densest readable set first.
    for set in [&[1, 2, 3, 5][..], &[1, 2, 5], &[1, 3], &[1]] {
        let values: Vec<f64> = (lo.floor() as i64..=hi.ceil() as i64)
            .flat_map(|k| set.iter().map(move |&m| m as f64 * 10f64.powi(k as i32)))
            .filter(|v| v.log10() >= lo - 1e-12 && v.log10() <= hi + 1e-12)
            .collect();
        if values.len() < 3 {
            break;
        }
        let ticks: Vec<(f64, String)> = values.iter().map(|&v| (v.log10(), super::fmt_num(v))).collect();
        if fits(&ticks) {
            return (ticks, multiples(&|m| !set.contains(&m)));
        }
    }
    if let Some(t) = decades(2) {
        return t;
    }
    let (rlo, rhi) = (10f64.powf(lo), 10f64.powf(hi));
    let mut best = Vec::new();
    for target in (2..=6).rev() {
        let values: Vec<f64> = nice_ticks(rlo, rhi, target).into_iter().filter(|v| *v > 0.0).collect();
        let labels = tick_labels(&values, nice_step(rlo, rhi, target));
        let ticks: Vec<(f64, String)> = values.iter().map(|v| v.log10()).zip(labels).collect();
        if fits(&ticks) {
            return (ticks, Vec::new());
        }
        best = ticks;
    }
    (best, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(_: &[(f64, String)], _: f64, _: f64) -> bool {
        true
    }

    fn labels(a: &Axis) -> Vec<&str> {
        a.ticks.iter().map(|(_, l)| l.as_str()).collect()
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 49.0, 8), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        let t = nice_ticks(0.0, 1.0, 5);
        assert_eq!(tick_labels(&t, 0.2), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(tick_labels(&[0.0, 0.25, 0.5], 0.25), ["0.00", "0.25", "0.50"]);
        assert_eq!(nice_ticks(0.0, 19.0, 8), vec![0.0, 5.0, 10.0, 15.0], "no 2.5 steps");
        assert_eq!(tick_labels(&[0.0, 2e-4, 4e-4], 2e-4), ["0", "2e-4", "4e-4"]);
        assert_eq!(tick_labels(&[0.0, 2.5e-4, 5e-4], 2.5e-4), ["0", "2.5e-4", "5e-4"]);
        assert_eq!(tick_labels(&[-10.0, 0.0, 10.0], 10.0), ["-10", "0", "10"]);
    }

    #[test]
    fn log_axis_is_labelled_at_decades() {
        let a = Axis::fit([1e-6, 3e-3, 0.0, -1.0, f64::NAN], true, None, 0.0, &any);
        assert_eq!(labels(&a), ["10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³"]);
        assert!((a.lo - (-6.0)).abs() < 1e-12, "0, -1 and NaN are left out of the range");
        // Many decades: every other one labelled, the rest grid lines.
        let few = |t: &[(f64, String)], _: f64, _: f64| t.len() <= 7;
        let a = Axis::fit([1e-12, 1.0], true, None, 0.0, &few);
        assert_eq!(labels(&a), ["10⁻¹²", "10⁻¹⁰", "10⁻⁸", "10⁻⁶", "10⁻⁴", "10⁻²", "10⁰"]);
        assert_eq!(a.minor.len(), 6, "the unlabelled decades are grid lines");
        let a = Axis::fit([1e-10, 1.0], true, None, 0.0, &few);
        assert!(a.ticks.len() <= 7 && a.minor.len() + a.ticks.len() == 11, "{:?}", labels(&a));
        // Two decades: 1-2-5 points, plain numbers.
        let a = Axis::fit([0.015, 3.0], true, None, 0.0, &any);
        assert_eq!(labels(&a), ["0.02", "0.03", "0.05", "0.1", "0.2", "0.3", "0.5", "1", "2", "3"]);
        let at_most_7 = |t: &[(f64, String)], _: f64, _: f64| t.len() <= 7;
        let a = Axis::fit([0.015, 3.0], true, None, 0.0, &at_most_7);
        assert_eq!(labels(&a), ["0.02", "0.05", "0.1", "0.2", "0.5", "1", "2"]);
        // Less than a decade: round values.
        let a = Axis::fit([0.165, 0.21], true, None, 0.0, &any);
        assert!(a.ticks.len() >= 2 && labels(&a).iter().all(|l| l.starts_with("0.")), "{:?}", labels(&a));
    }

    #[test]
    fn fixed_range_and_degenerate_data() {
        let a = Axis::fit([5.0], false, Some((0.0, 10.0)), 0.05, &any);
        assert_eq!((a.lo, a.hi), (0.0, 10.0));
        let a = Axis::fit([3.0, 3.0], false, None, 0.0, &any);
        assert!(a.lo < 3.0 && a.hi > 3.0);
        let a = Axis::fit(std::iter::empty(), true, None, 0.0, &any);
        assert!(a.hi > a.lo);
    }

    #[test]
    fn crowded_labels_thin_out() {
        let f = fits_across(100.0, 12.0);
        let a = Axis::over(0.0, 1000.0, false, &f);
        assert!(a.ticks.len() <= 3, "{:?}", labels(&a));
        assert_eq!(pow10_label(-12), "10⁻¹²");
        assert_eq!(pow10_label(3), "10³");
    }
}
