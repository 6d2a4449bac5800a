//! The statistics the probes and the verdict rules share: means with their spread, line fits,
//! bands over seeds, the geometric mean of ratios, and a bootstrap over seeds. Values that are
//! not finite (a diverged run's loss, written as null and read as NaN) are left out of means
//! and fits; each function says what it gives when nothing is left.

/// Mean of the finite values (NaN when there are none).
pub fn mean(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if f.is_empty() {
        f64::NAN
    } else {
        f.iter().sum::<f64>() / f.len() as f64
    }
}

/// Sample standard deviation of the finite values (0 for one value, NaN for none).
pub fn std(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    match f.len() {
        0 => f64::NAN,
        1 => 0.0,
        n => {
            let m = mean(&f);
            (f.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        }
    }
}

/// A least-squares line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
}

impl Line {
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// Least-squares fit of y against x over the finite pairs; None for fewer than two distinct x.
pub fn fit_line(pts: &[(f64, f64)]) -> Option<Line> {
    let p: Vec<(f64, f64)> = pts.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    if p.len() < 2 {
        return None;
    }
    let n = p.len() as f64;
    let mx = p.iter().map(|q| q.0).sum::<f64>() / n;
    let my = p.iter().map(|q| q.1).sum::<f64>() / n;
    let sxx: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    let slope = sxy / sxx;
    Some(Line { slope, intercept: my - slope * mx })
}

/// The slope of `fit_line`, NaN where there is no line: for reports, which write NaN as null.
pub fn slope(pts: &[(f64, f64)]) -> f64 {
    fit_line(pts).map_or(f64::NAN, |l| l.slope)
}

/// Smallest and largest value, NaN ignored (+inf, -inf for none): the band a figure draws over
/// seeds.
pub fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().copied().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
}

/// Smallest value, NaN if any value is NaN: the mildest seed, where a NaN must not pass for a
/// bound.
pub fn min_or_nan(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, |a, x| if x.is_nan() || a.is_nan() { f64::NAN } else { a.min(x) })
}

/// Largest value, NaN if any value is NaN: the worst seed.
pub fn max_or_nan(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, |a, x| if x.is_nan() || a.is_nan() { f64::NAN } else { a.max(x) })
}

/// The geometric mean of the values that are not NaN (NaN when there are none): ratios that
/// span decades are averaged over seeds this way. A 0 (a gradient that underflowed) makes it 0
/// and an infinity infinite, as the ratios they stand for.
pub fn gmean(v: &[f64]) -> f64 {
    let logs: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).map(f64::ln).collect();
    if logs.is_empty() || logs.iter().any(|l| l.is_nan()) {
        f64::NAN
    } else if logs.contains(&f64::NEG_INFINITY) {
        0.0
    } else {
        (logs.iter().sum::<f64>() / logs.len() as f64).exp()
    }
}

/// A percentile interval of `statistic` over `draws` bootstrap resamples of `n` units (seeds):
/// each resample draws n unit indices with replacement (from a fixed generator seeded by
/// `seed`, so the interval is the same on every run), and the statistic of each resample that
/// is finite enters the interval. Returns (lower, upper) at `level` (0.8: the 10th and 90th
/// percentiles), or None if fewer than half the resamples give a finite statistic.
pub fn bootstrap(
    n: usize,
    draws: usize,
    level: f64,
    seed: u64,
    statistic: impl Fn(&[usize]) -> f64,
) -> Option<(f64, f64)> {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    if n == 0 || draws == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats: Vec<f64> = Vec::with_capacity(draws);
    let mut pick = vec![0usize; n];
    for _ in 0..draws {
        for p in pick.iter_mut() {
            *p = rng.random_range(0..n);
        }
        let s = statistic(&pick);
        if s.is_finite() {
            stats.push(s);
        }
    }
    if stats.len() * 2 < draws {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let i = (p * (stats.len() - 1) as f64).round() as usize;
        stats[i.min(stats.len() - 1)]
    };
    let tail = (1.0 - level) / 2.0;
    Some((q(tail), q(1.0 - tail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_fits_and_bands() {
        assert_eq!(mean(&[1.0, 2.0, f64::NAN, 3.0]), 2.0);
        assert!(mean(&[f64::NAN]).is_nan());
        assert!((std(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
        assert_eq!(std(&[5.0]), 0.0);
        let l = fit_line(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, f64::NAN)]).unwrap();
        assert!((l.slope - 2.0).abs() < 1e-12 && (l.intercept - 1.0).abs() < 1e-12);
        assert_eq!(l.at(4.0), 9.0);
        assert!(fit_line(&[(1.0, 1.0), (1.0, 2.0)]).is_none(), "one distinct x: no line");
        assert!(slope(&[(1.0, 1.0)]).is_nan());
        assert_eq!(min_max(&[3.0, f64::NAN, -1.0]), (-1.0, 3.0));
        assert!(min_or_nan(&[1.0, f64::NAN]).is_nan() && max_or_nan(&[f64::NAN, 1.0]).is_nan());
        assert_eq!((min_or_nan(&[2.0, 1.0]), max_or_nan(&[2.0, 1.0])), (1.0, 2.0));
        assert!((gmean(&[1.0, 100.0, f64::NAN]) - 10.0).abs() < 1e-12);
        assert_eq!(gmean(&[1.0, 0.0]), 0.0);
        assert!(gmean(&[f64::NAN]).is_nan() && gmean(&[-1.0]).is_nan());
    }

    #[test]
    fn the_bootstrap_interval_brackets_the_mean_and_is_repeatable() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mean_of = |ix: &[usize]| ix.iter().map(|&i| v[i]).sum::<f64>() / ix.len() as f64;
        let (lo, hi) = bootstrap(v.len(), 2000, 0.8, 7, mean_of).unwrap();
        assert!(lo < 3.5 && hi > 3.5 && lo > 1.0 && hi < 6.0, "{lo} {hi}");
        assert_eq!(bootstrap(v.len(), 2000, 0.8, 7, mean_of), Some((lo, hi)));
        // Identical units: no spread.
        assert_eq!(bootstrap(4, 100, 0.8, 1, |_| 2.0), Some((2.0, 2.0)));
        assert_eq!(bootstrap(4, 100, 0.8, 1, |_| f64::NAN), None);
        assert_eq!(bootstrap(0, 100, 0.8, 1, |_| 1.0), None);
    }
}
