//! A named, trainable tensor and its gradient.

use crate::tensor::{Mat, Real};

#[derive(Clone, Debug)]
pub struct Param<F> {
    /// The values, row-major. A weight of a layer mapping `in -> out` is `out x in` (PyTorch's
    /// `nn.Linear` layout, so state dicts move without transposes); a bias is `1 x out`.
    pub value: Mat<F>,
    /// dL/dvalue, accumulated by `backward` until `zero_grad`.
    pub grad: Mat<F>,
    /// The tensor's shape as PyTorch stores it (a bias is `[out]`, not `[1, out]`).
    pub shape: Vec<usize>,
}

impl<F: Real> Param<F> {
    pub fn new(value: Mat<F>, shape: Vec<usize>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            value.len(),
            "Param shape {shape:?} does not match {} values",
            value.len()
        );
        let grad = Mat::zeros(value.rows, value.cols);
        Param { value, grad, shape }
    }

    /// A `[out, in]` weight.
    pub fn matrix(value: Mat<F>) -> Self {
        let shape = vec![value.rows, value.cols];
        Param::new(value, shape)
    }

    /// A `[n]` vector (bias, per-unit gate coefficient), stored as `1 x n`.
    pub fn vector(values: Vec<F>) -> Self {
        let n = values.len();
        Param::new(Mat::from_vec(1, n, values), vec![n])
    }

    pub fn zero_grad(&mut self) {
        self.grad.fill(F::zero());
    }

    pub fn len(&self) -> usize {
        self.value.len()
    }

    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

/// A model's parameters, in a fixed order, with their state-dict names.
pub type ParamList<'a, F> = Vec<(String, &'a mut Param<F>)>;
