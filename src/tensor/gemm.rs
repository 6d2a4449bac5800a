//! The one matrix multiply of the engine, over row-major matrices or strided column blocks of
//! them (dense stacks read a growing prefix of a wide buffer without copying).

use std::cell::Cell;

use super::{Mat, Real};

thread_local! {
    /// Multiply-adds of this thread's products: `depthlab bench` reads it around a step to count
    /// the model's matrix-multiply work as it was done rather than by a formula. Per thread, so
    /// that other threads (tests running side by side) do not count; `par::par_for` adds its
    /// threads' counts to the caller's.
    static MACS: Cell<u64> = const { Cell::new(0) };
}

/// Multiply-adds (m * n * k) of the `matmul*` calls this thread (and the `par_for` threads it
/// started) made so far.
pub fn matmul_macs() -> u64 {
    MACS.with(|m| m.get())
}

/// Add `macs` to this thread's count (the work of threads it started and joined).
pub(crate) fn add_macs(macs: u64) {
    MACS.with(|m| m.set(m.get() + macs));
}

/// A read-only view of `rows x cols` values starting at `ptr`, with row stride `rs` (column
/// stride 1) — or, transposed, the same memory read as its transpose.
#[derive(Clone, Copy)]
pub struct View<'a, F> {
    data: &'a [F],
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
}

impl<'a, F: Real> View<'a, F> {
    pub fn of(m: &'a Mat<F>) -> Self {
        View { data: &m.data, rows: m.rows, cols: m.cols, rs: m.cols as isize, cs: 1 }
    }

    /// The first `cols` columns of `m` (stride stays `m.cols`).
    pub fn left_cols(m: &'a Mat<F>, start: usize, cols: usize) -> Self {
        assert!(start + cols <= m.cols);
        View { data: &m.data[start..], rows: m.rows, cols, rs: m.cols as isize, cs: 1 }
    }

    /// Any strided view: element (r, c) is `data[r * rs + c * cs]` (bounds checked at use).
    pub fn new(data: &'a [F], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        View { data, rows, cols, rs: rs as isize, cs: cs as isize }
    }

    pub fn t(self) -> Self {
        View { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    fn check_bounds(&self) {
        if self.rows == 0 || self.cols == 0 {
            return;
        }
        let last = (self.rows as isize - 1) * self.rs + (self.cols as isize - 1) * self.cs;
        assert!((last as usize) < self.data.len(), "view out of bounds");
    }
}

/// `c = beta_c * c + a @ b` where `beta_c` is 0 (overwrite) or 1 (accumulate).
/// `c` may be a column block of a wider matrix: `c_start..c_start + b.cols()` of each row.
pub fn matmul_into<F: Real>(c: &mut Mat<F>, c_start: usize, a: View<F>, b: View<F>, accumulate: bool) {
    assert_eq!(c.rows, a.rows, "matmul: output has {} rows, want {}", c.rows, a.rows);
    assert!(c_start + b.cols <= c.cols, "matmul: output columns out of range");
    let c_rs = c.cols;
    matmul_strided_into(&mut c.data[c_start..], c_rs, 1, a, b, accumulate);
}

/// `c = c + a @ b` (or `c = a @ b`) where `c` is any strided region of `out`: element (r, col)
/// of the product goes to `out[r * c_rs + col * c_cs]`. For outputs that are not a column
/// block of a matrix (one sequence's rows inside a time-major batch, one head of attention).
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided_into<F: Real>(out: &mut [F], c_rs: usize, c_cs: usize, a: View<F>, b: View<F>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "matmul: inner dimensions {k} and {} differ", b.rows);
    a.check_bounds();
    b.check_bounds();
    if m == 0 || n == 0 {
        return;
    }
    add_macs((m * n * k) as u64);
    assert!((m - 1) * c_rs + (n - 1) * c_cs < out.len(), "matmul: output region out of bounds");
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                for c in 0..n {
                    out[r * c_rs + c * c_cs] = F::zero();
                }
            }
        }
        return;
    }
    // SAFETY: the output region was bounds-checked above; `out` is borrowed mutably so it
    // cannot alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            c_cs as isize,
            c_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs,
            a.rs,
            b.data.as_ptr(),
            b.cs,
            b.rs,
            F::one(),
            F::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `a @ b` as a new matrix.
pub fn matmul<F: Real>(a: View<F>, b: View<F>) -> Mat<F> {
    let mut c = Mat::zeros(a.rows(), b.cols());
    matmul_into(&mut c, 0, a, b, false);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
        Mat::from_fn(a.rows, b.cols, |i, j| (0..a.cols).map(|k| a.at(i, k) * b.at(k, j)).sum())
    }

    fn m(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
        Mat::from_fn(rows, cols, |r, c| (((r * 31 + c * 17) as u64 * 2654435761 + seed) % 1000) as f64 / 500.0 - 1.0)
    }

    #[test]
    fn matches_naive_with_transposes() {
        let a = m(7, 5, 1);
        let b = m(5, 3, 2);
        let want = naive(&a, &b);
        assert!(matmul(View::of(&a), View::of(&b)).data.iter().zip(&want.data).all(|(x, y)| (x - y).abs() < 1e-12));
        let at = a.transpose();
        let bt = b.transpose();
        let got = matmul(View::of(&at).t(), View::of(&bt).t());
        assert!(got.data.iter().zip(&want.data).all(|(x, y)| (x - y).abs() < 1e-12));
    }

    #[test]
    fn accumulates_into_a_column_block() {
        let a = m(4, 6, 3);
        let b = m(2, 2, 4);
        // Columns 1..3 of `a` times `b`, added into columns 2..4 of a 4x5 matrix of ones.
        let mut c = Mat::from_fn(4, 5, |_, _| 1.0);
        matmul_into(&mut c, 2, View::left_cols(&a, 1, 2), View::of(&b), true);
        let want = naive(&a.cols_slice(1, 2), &b);
        for r in 0..4 {
            assert_eq!(c.at(r, 0), 1.0);
            assert_eq!(c.at(r, 1), 1.0);
            for j in 0..2 {
                assert!((c.at(r, 2 + j) - 1.0 - want.at(r, j)).abs() < 1e-12);
            }
            assert_eq!(c.at(r, 4), 1.0);
        }
    }
}
