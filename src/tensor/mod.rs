//! Row-major matrices, the GEMM wrapper and fused elementwise kernels.

mod gemm;
pub mod kernels;
mod mat;
pub mod par;
mod pool;
mod real;

pub use gemm::{matmul, matmul_into, matmul_macs, matmul_strided_into, View};
pub use mat::{fill_rows, Mat};
pub use real::Real;
