//! Losses: each returns the mean loss over the batch and dL/d(prediction).

use serde::{Deserialize, Serialize};

use crate::data::seq::IGNORE;
use crate::tensor::{Mat, Real};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Softmax cross-entropy over class logits, mean over the batch.
    CrossEntropy,
    /// Mean squared error, mean over all elements (PyTorch's `MSELoss()`).
    Mse,
}

/// The value of a loss on a batch and its gradient.
pub struct LossOut<F> {
    /// Mean loss, accumulated in f64.
    pub loss: f64,
    pub grad: Mat<F>,
    /// Correctly classified examples (cross-entropy only; 0 for MSE).
    pub correct: usize,
    /// Examples (rows) scored: all of them, less those labelled `IGNORE`.
    pub count: usize,
}

/// Softmax cross-entropy, stable: log-sum-exp shifted by the row maximum. Mean over the rows
/// whose label is not `IGNORE` (those rows get zero gradient), as PyTorch's `ignore_index`.
pub fn softmax_cross_entropy<F: Real>(logits: &Mat<F>, labels: &[u32]) -> LossOut<F> {
    assert_eq!(logits.rows, labels.len(), "cross-entropy: {} rows of logits for {} labels", logits.rows, labels.len());
    let counted = labels.iter().filter(|&&l| l != IGNORE).count();
    let n = counted.max(1) as f64;
    let mut grad = logits.clone();
    let mut total = 0.0f64;
    let mut correct = 0;
    for (r, &label) in labels.iter().enumerate() {
        let row = grad.row_mut(r);
        if label == IGNORE {
            row.fill(F::zero());
            continue;
        }
        let label = label as usize;
        assert!(label < logits.cols, "label {label} out of range for {} classes", logits.cols);
        let (mut argmax, mut max) = (0, row[0]);
        for (c, &v) in row.iter().enumerate() {
            if v > max {
                (argmax, max) = (c, v);
            }
        }
        correct += (argmax == label) as usize;
        let target_logit = row[label];
        row.iter_mut().for_each(|v| *v -= max);
        F::exp_slice(row);
        let sum: F = row.iter().copied().sum();
        total += sum.f64().ln() - (target_logit - max).f64();
        let inv = F::one() / (sum * F::c(n));
        row.iter_mut().for_each(|v| *v *= inv);
        row[label] -= F::c(1.0 / n);
    }
    LossOut { loss: total / n, grad, correct, count: counted }
}

/// Mean squared error over all elements.
pub fn mse<F: Real>(pred: &Mat<F>, target: &Mat<F>) -> LossOut<F> {
    assert_eq!(pred.shape(), target.shape(), "MSE: prediction {:?} vs target {:?}", pred.shape(), target.shape());
    let n = pred.len() as f64;
    let mut grad = Mat::zeros(pred.rows, pred.cols);
    let mut total = 0.0;
    for ((g, &p), &t) in grad.data.iter_mut().zip(&pred.data).zip(&target.data) {
        let d = p - t;
        total += d.f64() * d.f64();
        *g = d * F::c(2.0 / n);
    }
    LossOut { loss: total / n, grad, correct: 0, count: pred.rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_value_and_gradient() {
        let logits = Mat::from_vec(2, 3, vec![1.0f64, 2.0, 3.0, 1000.0, 0.0, -1000.0]);
        let out = softmax_cross_entropy(&logits, &[2, 0]);
        // Row 0: -log softmax_2 = log(e^1 + e^2 + e^3) - 3; row 1: ~0 (no overflow at 1000).
        let want0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln() - 3.0;
        assert!((out.loss - want0 / 2.0).abs() < 1e-12, "{}", out.loss);
        assert_eq!(out.correct, 2);
        // Finite differences of the mean loss.
        for i in 0..6 {
            let h = 1e-6;
            let mut p = logits.clone();
            p.data[i] += h;
            let mut m = logits.clone();
            m.data[i] -= h;
            let fd = (softmax_cross_entropy(&p, &[2, 0]).loss - softmax_cross_entropy(&m, &[2, 0]).loss) / (2.0 * h);
            assert!((fd - out.grad.data[i]).abs() < 1e-8, "logit {i}: fd {fd} vs {}", out.grad.data[i]);
        }
    }

    #[test]
    fn ignored_rows_are_neither_scored_nor_trained() {
        let logits = Mat::from_vec(3, 2, vec![0.3f64, -0.2, 5.0, 1.0, 0.1, 0.4]);
        let all = softmax_cross_entropy(&logits.cols_slice(0, 2), &[0, IGNORE, 1]);
        let kept = softmax_cross_entropy(&Mat::from_vec(2, 2, vec![0.3, -0.2, 0.1, 0.4]), &[0, 1]);
        assert_eq!(all.count, 2);
        assert!((all.loss - kept.loss).abs() < 1e-15);
        assert_eq!(all.grad.row(1), &[0.0, 0.0]);
        assert_eq!(all.grad.row(0), kept.grad.row(0));
    }

    #[test]
    fn mse_value_and_gradient() {
        let p = Mat::from_vec(2, 2, vec![1.0f64, 2.0, 3.0, 4.0]);
        let t = Mat::from_vec(2, 2, vec![0.0, 2.0, 5.0, 3.0]);
        let out = mse(&p, &t);
        assert!((out.loss - (1.0 + 0.0 + 4.0 + 1.0) / 4.0).abs() < 1e-15);
        for i in 0..4 {
            let h = 1e-6;
            let (mut a, mut b) = (p.clone(), p.clone());
            a.data[i] += h;
            b.data[i] -= h;
            let fd = (mse(&a, &t).loss - mse(&b, &t).loss) / (2.0 * h);
            assert!((fd - out.grad.data[i]).abs() < 1e-8);
        }
    }
}
