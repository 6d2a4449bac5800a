//! How tables and verdicts show numbers (the statistics themselves are `crate::stats`).

use crate::stats::{mean, std};

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

/// Values as a list in words: "1, 1.5, 2".
pub fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
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
    fn numbers_are_shown_with_four_digits() {
        assert_eq!(num(0.012345), "0.0123");
        assert_eq!(num(3e-7), "3.000e-7");
        assert_eq!(num(2.0), "2");
        assert_eq!(pct(0.974), "97.4%");
        assert_eq!(mean_pm(&[1.0, 3.0], num), "2 ± 1.4142");
        assert_eq!(mean_pm(&[1.0], num), "1");
        assert_eq!(list(&[1.0, 1.5]), "1, 1.5");
    }
}
