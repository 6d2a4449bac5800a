//! Gradient clipping, as `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`.
//!
//! These take the parameter list as a slice, so a `&mut ParamList` (or `&ParamList` for
//! [`grad_norm`]) passes as it is.

use crate::nn::Param;
use crate::tensor::kernels::sum_sq;
use crate::tensor::Real;

/// The global L2 norm of all gradients together, accumulated in f64 (each tensor in the 8 lanes
/// of `kernels::sum_sq`, the tensors in order).
pub fn grad_norm<F: Real>(params: &[(String, &mut Param<F>)]) -> f64 {
    params.iter().map(|(_, p)| sum_sq(&p.grad.data)).sum::<f64>().sqrt()
}

/// Scale all gradients by `max_norm / norm` when their global L2 norm exceeds `max_norm`, so the
/// norm becomes `max_norm`. Returns the norm *before* clipping.
///
/// Unlike PyTorch (which adds 1e-6 to the norm) the clipped norm is `max_norm` to rounding. A
/// non-finite norm (a NaN or infinite gradient) is returned with the gradients left untouched, so
/// the caller can see it and skip the step.
pub fn clip_grad_norm<F: Real>(params: &mut [(String, &mut Param<F>)], max_norm: f64) -> f64 {
    assert!(max_norm >= 0.0, "clip_grad_norm: max_norm must be >= 0, got {max_norm}");
    let norm = grad_norm(params);
    if norm.is_finite() && norm > max_norm {
        let s = F::c(max_norm / norm);
        for (_, p) in params.iter_mut() {
            p.grad.scale(s);
        }
    }
    norm
}

/// Clamp every gradient element to `[-v, v]` (NaN stays NaN).
pub fn clip_grad_value<F: Real>(params: &mut [(String, &mut Param<F>)], v: f64) {
    assert!(v >= 0.0, "clip_grad_value: v must be >= 0, got {v}");
    let (hi, lo) = (F::c(v), F::c(-v));
    for (_, p) in params.iter_mut() {
        for g in p.grad.data.iter_mut() {
            if *g > hi {
                *g = hi;
            } else if *g < lo {
                *g = lo;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ParamList;

    fn with_grads<F: Real>(a: &[f64], b: &[f64]) -> (Param<F>, Param<F>) {
        let mut pa = Param::vector(vec![F::zero(); a.len()]);
        let mut pb = Param::vector(vec![F::zero(); b.len()]);
        pa.grad.data = a.iter().map(|&x| F::c(x)).collect();
        pb.grad.data = b.iter().map(|&x| F::c(x)).collect();
        (pa, pb)
    }

    #[test]
    fn norm_and_clip_to_exactly_max_norm() {
        let (mut a, mut b) = with_grads::<f64>(&[3.0, 4.0], &[12.0]);
        let mut list: ParamList<f64> = vec![("a".into(), &mut a), ("b".into(), &mut b)];
        assert_eq!(grad_norm(&list), 13.0);
        let before = clip_grad_norm(&mut list, 1.0);
        assert_eq!(before, 13.0);
        assert!((grad_norm(&list) - 1.0).abs() < 1e-15);
        assert!((list[0].1.grad.data[0] - 3.0 / 13.0).abs() < 1e-16);
        // Below the limit: untouched.
        let again = clip_grad_norm(&mut list, 5.0);
        assert!((again - 1.0).abs() < 1e-15);
        assert!((list[1].1.grad.data[0] - 12.0 / 13.0).abs() < 1e-16);
    }

    #[test]
    fn clip_in_f32() {
        let (mut a, mut b) = with_grads::<f32>(&[300.0, -400.0], &[1200.0, 0.5]);
        let mut list: ParamList<f32> = vec![("a".into(), &mut a), ("b".into(), &mut b)];
        let before = clip_grad_norm(&mut list, 2.5);
        assert!((before - (1300.0f64.powi(2) + 0.25).sqrt()).abs() < 1e-9);
        assert!((grad_norm(&list) - 2.5).abs() < 1e-6, "{}", grad_norm(&list));
    }

    #[test]
    fn non_finite_norm_leaves_grads() {
        let (mut a, mut b) = with_grads::<f64>(&[f64::NAN, 1.0], &[2.0]);
        let mut list: ParamList<f64> = vec![("a".into(), &mut a), ("b".into(), &mut b)];
        assert!(clip_grad_norm(&mut list, 1.0).is_nan());
        assert_eq!(list[1].1.grad.data[0], 2.0);
    }

    #[test]
    fn clip_value() {
        let (mut a, mut b) = with_grads::<f64>(&[3.0, -4.0, 0.5], &[f64::NAN, -0.25]);
        let mut list: ParamList<f64> = vec![("a".into(), &mut a), ("b".into(), &mut b)];
        clip_grad_value(&mut list, 1.0);
        assert_eq!(list[0].1.grad.data, vec![1.0, -1.0, 0.5]);
        assert!(list[1].1.grad.data[0].is_nan());
        assert_eq!(list[1].1.grad.data[1], -0.25);
    }
}
