//! The float types the engine runs in.
//!
//! Training runs in f32; finite-difference gradient checks and analysis (Jacobians, mean-field
//! integrals) run the *same* block code in f64, so a gradient check tests the code that trains.
//! That is why every block is generic over `Real` rather than having a separate f64 path.

use num_traits::{Float, FromPrimitive};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use super::kernels;

pub trait Real:
    Float
    + FromPrimitive
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
{
    /// The safetensors / numpy name of the type.
    const DTYPE: &'static str;
    /// `x <- tanh(x)` over a slice (f32: a vectorised kernel, bounded error; f64: libm).
    fn tanh_slice(x: &mut [Self]);
    /// `x <- 1 / (1 + exp(-x))` over a slice.
    fn sigmoid_slice(x: &mut [Self]);
    /// `x <- exp(x)` over a slice.
    fn exp_slice(x: &mut [Self]);
    /// tanh of one value; f32 uses the bounded-error kernel. Inlined, so loops over it
    /// vectorise inside `kernels::simd`.
    fn tanh_fast(self) -> Self;
    fn sigmoid_fast(self) -> Self;
    /// max(x, 0) that keeps NaN (as PyTorch's relu does; `f32::max` would return 0).
    #[inline(always)]
    fn relu(self) -> Self {
        if self < Self::zero() {
            Self::zero()
        } else {
            self
        }
    }
    fn c(v: f64) -> Self;
    fn f64(self) -> f64;
    /// A buffer from this thread's pool of scratch buffers (see `Mat::scratch`).
    fn take_buffer() -> Vec<Self>;
    /// Return a buffer to this thread's pool.
    fn give_buffer(v: Vec<Self>);
}

/// Scratch buffers are few (a block's temporaries) and reused every step: a short stack per
/// thread and type keeps them warm in cache instead of one cold set per layer.
const POOL_DEPTH: usize = 8;

macro_rules! pool {
    ($t:ty, $name:ident) => {
        thread_local! {
            static $name: std::cell::RefCell<Vec<Vec<$t>>> = const { std::cell::RefCell::new(Vec::new()) };
        }
    };
}
pool!(f32, POOL_F32);
pool!(f64, POOL_F64);

impl Real for f32 {
    const DTYPE: &'static str = "F32";
    fn tanh_slice(x: &mut [f32]) {
        kernels::tanh_f32(x)
    }
    fn sigmoid_slice(x: &mut [f32]) {
        kernels::sigmoid_f32(x)
    }
    fn exp_slice(x: &mut [f32]) {
        kernels::exp_f32(x)
    }
    #[inline(always)]
    fn tanh_fast(self) -> f32 {
        kernels::tanh_one(self)
    }
    #[inline(always)]
    fn sigmoid_fast(self) -> f32 {
        kernels::sigmoid_one(self)
    }
    fn take_buffer() -> Vec<f32> {
        POOL_F32.with(|p| p.borrow_mut().pop()).unwrap_or_default()
    }
    fn give_buffer(v: Vec<f32>) {
        POOL_F32.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_DEPTH {
                p.push(v)
            }
        })
    }
    #[inline(always)]
    fn c(v: f64) -> f32 {
        v as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const DTYPE: &'static str = "F64";
    fn tanh_slice(x: &mut [f64]) {
        x.iter_mut().for_each(|v| *v = v.tanh());
    }
    fn sigmoid_slice(x: &mut [f64]) {
        x.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
    }
    fn exp_slice(x: &mut [f64]) {
        x.iter_mut().for_each(|v| *v = v.exp());
    }
    #[inline(always)]
    fn tanh_fast(self) -> f64 {
        self.tanh()
    }
    #[inline(always)]
    fn sigmoid_fast(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
    fn take_buffer() -> Vec<f64> {
        POOL_F64.with(|p| p.borrow_mut().pop()).unwrap_or_default()
    }
    fn give_buffer(v: Vec<f64>) {
        POOL_F64.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_DEPTH {
                p.push(v)
            }
        })
    }
    #[inline(always)]
    fn c(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
}
