//! The few statistics the verdict rules need, and the number formats tables use.

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

/// Least-squares slope and intercept of y against x over the finite pairs; None for fewer
/// than two distinct x.
pub fn fit_line(pts: &[(f64, f64)]) -> Option<(f64, f64)> {
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
    Some((slope, my - slope * mx))
}

/// A number for a table: 4 significant digits, scientific outside [1e-3, 1e5).
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "n/a".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let a = v.abs();
    if v != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.3e}")
    } else {
        let s = format!("{v:.4}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// A fraction as a percentage: "97.4%".
pub fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", 100.0 * v)
    } else {
        "n/a".into()
    }
}

/// "m ± s" over seeds.
pub fn mean_pm(v: &[f64], show: impl Fn(f64) -> String) -> String {
    if v.len() > 1 {
        format!("{} ± {}", show(mean(v)), show(std(v)))
    } else {
        show(mean(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert_eq!(mean(&[1.0, 2.0, f64::NAN, 3.0]), 2.0);
        assert!((std(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
        let (s, b) = fit_line(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]).unwrap();
        assert!((s - 2.0).abs() < 1e-12 && (b - 1.0).abs() < 1e-12);
        assert!(fit_line(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
        assert_eq!(num(0.012345), "0.0123");
        assert_eq!(num(3e-7), "3.000e-7");
        assert_eq!(num(2.0), "2");
        assert_eq!(pct(0.974), "97.4%");
    }
}
