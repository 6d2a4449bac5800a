//! Pointwise nonlinearities phi, their derivatives, and the `Act` block.
//!
//! Forward works in place on the pre-activation. The derivative is taken from the output where
//! that is possible (tanh: 1 - y^2, sigmoid: y (1 - y), relu and leaky relu: the sign of y), so
//! a block need not keep both; only GELU needs the pre-activation (see `needs_input`).

use serde::{Deserialize, Serialize};

use super::{Block, Ctx, ParamList};
use crate::tensor::{Mat, Real};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Tanh,
    Relu,
    Sigmoid,
    Identity,
    /// max(x, 0.01 x), PyTorch's default slope.
    LeakyRelu,
    /// x * Phi(x) with the exact normal CDF (PyTorch's default `approximate='none'`).
    Gelu,
}

const LEAKY_SLOPE: f64 = 0.01;

/// erf to ~1e-15, since std has none: the Maclaurin series below 2 (terms stay small, so little
/// cancellation), the continued fraction of erfc from 2 on (converges fast there).
fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 2.0 {
        let x2 = ax * ax;
        let (mut term, mut sum, mut n) = (ax, ax, 0.0);
        while term.abs() > 1e-17 * sum {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        // erfc(x) = e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), bottom up.
        let mut f = ax;
        for k in (1..=60).rev() {
            f = ax + (k as f64 / 2.0) / f;
        }
        1.0 - (-ax * ax).exp() / (f * std::f64::consts::PI.sqrt())
    };
    r.copysign(x)
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

fn gelu_grad(x: f64) -> f64 {
    let cdf = 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    cdf + x * pdf
}

/// Expand `$body` once per activation, with `$f: Fn(z) -> phi(z)` and
/// `$d: Fn(z, y) -> phi'(z)` (given the input z and the output y = phi(z)) bound to closures
/// specialised for it: a fused loop in `$body` then compiles per activation and vectorises.
/// For GELU, `$d` needs the true input z; for the others z is not read.
#[macro_export]
macro_rules! with_activation {
    ($phi:expr, $F:ty, |$f:ident, $d:ident| $body:expr) => {{
        use $crate::nn::Activation as A;
        #[allow(unused_imports)]
        use $crate::tensor::Real as _;
        match $phi {
            A::Tanh => {
                let $f = |z: $F| z.tanh_fast();
                let $d = |_z: $F, y: $F| <$F>::one() - y * y;
                $body
            }
            A::Sigmoid => {
                let $f = |z: $F| z.sigmoid_fast();
                let $d = |_z: $F, y: $F| y * (<$F>::one() - y);
                $body
            }
            A::Relu => {
                let $f = |z: $F| z.relu();
                let $d = |_z: $F, y: $F| if y > <$F>::zero() { <$F>::one() } else { <$F>::zero() };
                $body
            }
            A::Identity => {
                let $f = |z: $F| z;
                let $d = |_z: $F, _y: $F| <$F>::one();
                $body
            }
            A::LeakyRelu => {
                let s = <$F>::c(0.01);
                let $f = move |z: $F| if z > <$F>::zero() { z } else { z * s };
                let $d = move |_z: $F, y: $F| if y > <$F>::zero() { <$F>::one() } else { s };
                $body
            }
            A::Gelu => {
                let $f = |z: $F| <$F>::c(A::Gelu.f(z.f64()));
                let $d = |z: $F, _y: $F| <$F>::c(A::Gelu.df(z.f64()));
                $body
            }
        }
    }};
}

impl Activation {
    /// Every activation, in declaration order.
    pub const ALL: [Activation; 6] = [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Identity,
        Activation::LeakyRelu,
        Activation::Gelu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Gelu => "gelu",
        }
    }

    /// Whether `grad` needs the pre-activation rather than only the output.
    pub fn needs_input(self) -> bool {
        self == Activation::Gelu
    }

    /// phi(z) for one value (f64; for analysis and mean-field integrals).
    pub fn f(self, z: f64) -> f64 {
        match self {
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.relu(),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
            Activation::Identity => z,
            Activation::LeakyRelu => {
                if z > 0.0 {
                    z
                } else {
                    LEAKY_SLOPE * z
                }
            }
            Activation::Gelu => gelu(z),
        }
    }

    /// phi'(z) for one value.
    pub fn df(self, z: f64) -> f64 {
        match self {
            Activation::Tanh => 1.0 - z.tanh().powi(2),
            Activation::Relu => (z > 0.0) as u8 as f64,
            Activation::Sigmoid => {
                let s = 1.0 / (1.0 + (-z).exp());
                s * (1.0 - s)
            }
            Activation::Identity => 1.0,
            Activation::LeakyRelu => {
                if z > 0.0 {
                    1.0
                } else {
                    LEAKY_SLOPE
                }
            }
            Activation::Gelu => gelu_grad(z),
        }
    }

    /// `z <- phi(z)` in place.
    pub fn apply<F: Real>(self, z: &mut [F]) {
        match self {
            Activation::Tanh => F::tanh_slice(z),
            Activation::Sigmoid => F::sigmoid_slice(z),
            Activation::Relu => z.iter_mut().for_each(|v| *v = v.relu()),
            Activation::Identity => {}
            Activation::LeakyRelu => {
                let s = F::c(LEAKY_SLOPE);
                z.iter_mut().for_each(|v| *v = if *v > F::zero() { *v } else { *v * s })
            }
            Activation::Gelu => z.iter_mut().for_each(|v| *v = F::c(gelu(v.f64()))),
        }
    }

    /// `dz = dy * phi'(z)`, from the output `y` (and the input `z` when `needs_input`).
    pub fn grad<F: Real>(self, z: Option<&[F]>, y: &[F], dy: &[F], dz: &mut [F]) {
        dz.copy_from_slice(dy);
        self.grad_in_place(z, y, dz);
    }

    /// `d <- d * phi'(z)`, from the output `y` (and the input `z` when `needs_input`).
    pub fn grad_in_place<F: Real>(self, z: Option<&[F]>, y: &[F], d: &mut [F]) {
        let one = F::one();
        match self {
            Activation::Tanh => d.iter_mut().zip(y).for_each(|(d, &y)| *d *= one - y * y),
            Activation::Sigmoid => d.iter_mut().zip(y).for_each(|(d, &y)| *d *= y * (one - y)),
            Activation::Relu => d.iter_mut().zip(y).for_each(|(d, &y)| {
                if y <= F::zero() {
                    *d = F::zero()
                }
            }),
            Activation::Identity => {}
            Activation::LeakyRelu => {
                let s = F::c(LEAKY_SLOPE);
                d.iter_mut().zip(y).for_each(|(d, &y)| {
                    if y <= F::zero() {
                        *d *= s
                    }
                })
            }
            Activation::Gelu => {
                let z = z.expect("GELU's derivative needs its input");
                d.iter_mut().zip(z).for_each(|(d, &z)| *d *= F::c(gelu_grad(z.f64())));
            }
        }
    }
}

/// phi as a block of its own (pre-activation residual branches use it).
pub struct Act<F> {
    pub phi: Activation,
    dim: usize,
    x: Mat<F>,
    y: Mat<F>,
}

impl<F: Real> Act<F> {
    pub fn new(phi: Activation, dim: usize) -> Self {
        Act { phi, dim, x: Mat::zeros(0, 0), y: Mat::zeros(0, 0) }
    }
}

impl<F: Real> Block<F> for Act<F> {
    fn kind(&self) -> &'static str {
        self.phi.name()
    }
    fn in_dim(&self) -> usize {
        self.dim
    }
    fn out_dim(&self) -> usize {
        self.dim
    }
    fn forward(&mut self, x: &Mat<F>, _ctx: &Ctx) -> Mat<F> {
        let mut y = x.clone();
        self.phi.apply(&mut y.data);
        if self.phi.needs_input() {
            self.x.clone_from(x);
        }
        self.y.clone_from(&y);
        y
    }
    fn backward(&mut self, dy: &Mat<F>) -> Mat<F> {
        let mut dx = Mat::zeros(dy.rows, dy.cols);
        let z = self.phi.needs_input().then_some(&self.x.data[..]);
        self.phi.grad(z, &self.y.data, &dy.data, &mut dx.data);
        dx
    }
    fn params<'a>(&'a mut self, _prefix: &str, _out: &mut ParamList<'a, F>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_accurate() {
        // Reference values of erf (Abramowitz & Stegun, table 7.1).
        for (x, want) in [
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.5, 0.999_999_256_901_627_7),
        ] {
            assert!((erf(x) - want).abs() < 1e-13, "erf({x}) = {}, want {want}", erf(x));
            assert!((erf(-x) + want).abs() < 1e-13);
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for phi in Activation::ALL {
            for z in [-2.3, -0.7, 0.4, 1.9] {
                let h = 1e-6;
                let fd = (phi.f(z + h) - phi.f(z - h)) / (2.0 * h);
                assert!((fd - phi.df(z)).abs() < 1e-7, "{phi:?}'({z}): {fd} vs {}", phi.df(z));
                // The slice path agrees with the scalar one.
                let mut v = [z];
                phi.apply(&mut v);
                assert!((v[0] - phi.f(z)).abs() < 1e-15);
                let mut d = [0.0];
                phi.grad(Some(&[z]), &v, &[1.0], &mut d);
                assert!((d[0] - phi.df(z)).abs() < 1e-12, "{phi:?} grad from output");
            }
        }
    }
}
