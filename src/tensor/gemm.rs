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
    let out_ptr = SendPtr(out.as_mut_ptr());
    let product = |r0: usize, r1: usize, c0: usize, c1: usize| {
        // SAFETY: the output region was bounds-checked above, and so is every sub-block of it;
        // `out` is borrowed mutably so it cannot alias the inputs, and the pieces of a cut write
        // disjoint blocks.
        unsafe {
            gemm::gemm(
                r1 - r0,
                c1 - c0,
                k,
                out_ptr.get().add(r0 * c_rs + c0 * c_cs),
                c_cs as isize,
                c_rs as isize,
                accumulate,
                a.data.as_ptr().offset(r0 as isize * a.rs),
                a.cs,
                a.rs,
                b.data.as_ptr().offset(c0 as isize * b.cs),
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
    };
    // The pieces call the kernel directly, so the workers count none of the work counted above.
    let threads = super::par::current_threads();
    match cut(m, n, k, threads) {
        Cut::Whole => product(0, m, 0, n),
        Cut::Cols(p) => {
            super::pool::run(threads, p, &|i| {
                let (c0, c1) = piece(n, p, i);
                product(0, m, c0, c1)
            });
        }
        Cut::Rows(p) => {
            super::pool::run(threads, p, &|i| {
                let (r0, r1) = piece(m, p, i);
                product(r0, r1, 0, n)
            });
        }
    }
}

/// The output pointer, shared by the pieces of a cut product (each writes its own block).
#[derive(Clone, Copy)]
struct SendPtr<F>(*mut F);
// SAFETY: see `product` in `matmul_strided_into`.
unsafe impl<F> Send for SendPtr<F> {}
unsafe impl<F> Sync for SendPtr<F> {}

impl<F> SendPtr<F> {
    // A method, so that closures capture the wrapper and not its raw field.
    fn get(self) -> *mut F {
        self.0
    }
}

/// How a product is shared among threads.
#[derive(Debug, PartialEq)]
enum Cut {
    Whole,
    Cols(usize),
    Rows(usize),
}

/// Products below this many multiply-adds per piece are not cut: a piece must outweigh the
/// ~1 us of handing it to a worker and collecting it.
const MIN_PIECE_MACS: usize = 1 << 17;

/// Pieces are whole multiples of this many rows or columns, so that the kernel's tiles stay
/// full.
const PIECE_ALIGN: usize = 16;

/// Whether and how to cut an `m x k` by `k x n` product among `threads`: one piece per thread,
/// along the longer side of the output, so that the pieces stay wide enough for the kernel's
/// full tiles (W1's 128 x 128 products ran 4% faster cut by rows than by columns, and two
/// pieces per thread were no better than one). Only products with k <= 512 are cut: the gemm
/// crate then sums each element's k terms in one block, in the same order whatever the block of
/// rows or columns it sits in, so a cut product is bit for bit the whole one
/// (`cut_products_are_bit_identical` checks it). Longer sums are split into blocks whose length
/// depends on m and n, and stay whole.
fn cut(m: usize, n: usize, k: usize, threads: usize) -> Cut {
    if threads <= 1 || k > 512 {
        return Cut::Whole;
    }
    let want = threads.min(m * n * k / MIN_PIECE_MACS);
    let (cols, rows) = ((n / PIECE_ALIGN).min(want), (m / PIECE_ALIGN).min(want));
    if rows >= 2 && (m >= n || rows > cols) {
        Cut::Rows(rows)
    } else if cols >= 2 {
        Cut::Cols(cols)
    } else {
        Cut::Whole
    }
}

/// Piece `i` of `p` of `0..len`: boundaries at multiples of `PIECE_ALIGN`.
fn piece(len: usize, p: usize, i: usize) -> (usize, usize) {
    let blocks = len.div_ceil(PIECE_ALIGN);
    let at = |j: usize| (j * blocks / p * PIECE_ALIGN).min(len);
    (at(i), at(i + 1))
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

    fn m32(rows: usize, cols: usize, seed: u64) -> Mat<f32> {
        let mut s = seed;
        Mat::from_fn(rows, cols, |_, _| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
    }

    #[test]
    fn cut_products_are_bit_identical() {
        // The shapes of W1-W4's products and the edges of `cut`: k at 512 and past it, pieces
        // at the alignment, widths not a multiple of it, transposed operands, accumulation.
        let shapes = [
            (128, 64, 128),
            (128, 128, 64),
            (64, 128, 128),
            (3200, 32, 512),
            (32, 128, 512),
            (512, 32, 128),
            (40, 512, 70),
            (128, 513, 64),
            (128, 784, 64),
            (200, 300, 33),
            (33, 300, 200),
            (1000, 7, 1),
        ];
        for &(m, k, n) in &shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = if ta { m32(k, m, 1) } else { m32(m, k, 1) };
                let b = if tb { m32(n, k, 2) } else { m32(k, n, 2) };
                let va = if ta { View::of(&a).t() } else { View::of(&a) };
                let vb = if tb { View::of(&b).t() } else { View::of(&b) };
                let start = m32(m, n, 3);
                let product = |threads: usize, accumulate: bool| {
                    let mut c = start.clone();
                    crate::tensor::par::with_threads(threads, || matmul_into(&mut c, 0, va, vb, accumulate));
                    c.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                };
                for accumulate in [false, true] {
                    let whole = product(1, accumulate);
                    for threads in [2, 3, 8] {
                        assert!(
                            product(threads, accumulate) == whole,
                            "{m}x{k}x{n} ta={ta} tb={tb} accumulate={accumulate} threads={threads}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn products_are_cut_only_where_it_is_exact_and_pays() {
        assert_eq!(cut(128, 128, 64, 2), Cut::Rows(2));
        assert_eq!(cut(128, 128, 64, 1), Cut::Whole);
        assert_eq!(cut(64, 256, 128, 2), Cut::Cols(2), "a wide output is cut by columns");
        assert_eq!(cut(128, 16, 512, 2), Cut::Rows(2));
        assert_eq!(cut(16, 128, 512, 2), Cut::Cols(2), "too few rows for two aligned pieces");
        assert_eq!(cut(128, 64, 513, 2), Cut::Whole, "a sum split into blocks");
        assert_eq!(cut(16, 16, 64, 8), Cut::Whole, "too small to hand out");
        assert_eq!(cut(3200, 512, 32, 8), Cut::Rows(8));
        assert_eq!(cut(3200, 512, 32, 16), Cut::Rows(16));
        assert_eq!(cut(24, 24, 512, 2), Cut::Whole, "too narrow for two aligned pieces");
        for (len, p) in [(128, 2), (130, 3), (64, 8), (17, 2)] {
            let pieces: Vec<_> = (0..p).map(|i| piece(len, p, i)).collect();
            assert_eq!(pieces[0].0, 0);
            assert_eq!(pieces[p - 1].1, len);
            assert!(pieces.windows(2).all(|w| w[0].1 == w[1].0), "{pieces:?}");
            assert!(pieces.iter().all(|&(a, _)| a % PIECE_ALIGN == 0), "{pieces:?}");
        }
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
