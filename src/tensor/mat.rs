//! A row-major matrix: the one tensor type of the engine. Batches are rows; sequences are
//! rows of `batch * time` or one matrix per step, as each block documents.

use super::Real;

#[derive(Debug, PartialEq)]
pub struct Mat<F> {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<F>,
}

/// Every `row.len()`-long row of `data` set to `row` (a bias before the products are added):
/// the first row written, then the filled part copied after itself, doubling, so that a batch of
/// short rows costs a few large copies instead of a call to memmove per row.
pub fn fill_rows<F: Copy>(data: &mut [F], row: &[F]) {
    let n = row.len();
    if n == 0 || data.is_empty() {
        return;
    }
    assert_eq!(data.len() % n, 0, "fill_rows: {} values are not rows of {n}", data.len());
    data[..n].copy_from_slice(row);
    let mut done = n;
    while done < data.len() {
        let m = done.min(data.len() - done);
        data.copy_within(..m, done);
        done += m;
    }
}

impl<F: Clone> Clone for Mat<F> {
    fn clone(&self) -> Self {
        Mat { rows: self.rows, cols: self.cols, data: self.data.clone() }
    }

    /// Into the existing allocation: blocks keep their inputs and caches with `clone_from`
    /// every step (the derived one allocated a new buffer and freed the old each time).
    fn clone_from(&mut self, source: &Self) {
        self.rows = source.rows;
        self.cols = source.cols;
        self.data.clone_from(&source.data);
    }
}

impl<F: Real> Mat<F> {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Mat { rows, cols, data: vec![F::zero(); rows * cols] }
    }

    pub fn from_vec(rows: usize, cols: usize, data: Vec<F>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "Mat::from_vec: {rows}x{cols} needs {} values, got {}",
            rows * cols,
            data.len()
        );
        Mat { rows, cols, data }
    }

    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> F) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                data.push(f(r, c));
            }
        }
        Mat { rows, cols, data }
    }

    /// A `rows x cols` matrix on a buffer from this thread's scratch pool (contents
    /// unspecified). Give it back with `recycle` when done: temporaries of every layer then
    /// share a few warm buffers.
    pub fn scratch(rows: usize, cols: usize) -> Self {
        let mut data = F::take_buffer();
        data.resize(rows * cols, F::zero());
        Mat { rows, cols, data }
    }

    /// Return the buffer to the scratch pool.
    pub fn recycle(self) {
        F::give_buffer(self.data);
    }

    /// Resize to `rows x cols`, reusing the allocation; contents are unspecified (zeroed when
    /// growing). Blocks use it to keep their caches across steps without reallocating.
    pub fn reshape_for(&mut self, rows: usize, cols: usize) {
        self.rows = rows;
        self.cols = cols;
        self.data.resize(rows * cols, F::zero());
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    #[inline]
    pub fn row(&self, r: usize) -> &[F] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    #[inline]
    pub fn row_mut(&mut self, r: usize) -> &mut [F] {
        &mut self.data[r * self.cols..(r + 1) * self.cols]
    }

    #[inline]
    pub fn at(&self, r: usize, c: usize) -> F {
        self.data[r * self.cols + c]
    }

    pub fn fill(&mut self, v: F) {
        self.data.iter_mut().for_each(|x| *x = v);
    }

    /// Sum of squares, accumulated in f64 so that norms of large tensors stay exact enough.
    pub fn sum_sq(&self) -> f64 {
        self.data.iter().map(|v| v.f64() * v.f64()).sum()
    }

    pub fn norm(&self) -> f64 {
        self.sum_sq().sqrt()
    }

    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|v| v.is_finite())
    }

    pub fn add_assign(&mut self, other: &Mat<F>) {
        assert_eq!(self.shape(), other.shape());
        self.data.iter_mut().zip(&other.data).for_each(|(a, b)| *a += *b);
    }

    pub fn scale(&mut self, s: F) {
        self.data.iter_mut().for_each(|a| *a *= s);
    }

    pub fn transpose(&self) -> Mat<F> {
        Mat::from_fn(self.cols, self.rows, |r, c| self.at(c, r))
    }

    /// Columns `start..start+width` of every row, as a new matrix.
    pub fn cols_slice(&self, start: usize, width: usize) -> Mat<F> {
        let mut out = Mat::zeros(self.rows, width);
        for r in 0..self.rows {
            out.row_mut(r).copy_from_slice(&self.row(r)[start..start + width]);
        }
        out
    }

    /// Rows selected by index, as a new matrix (mini-batch gathering).
    pub fn gather_rows(&self, idx: &[usize]) -> Mat<F> {
        let mut out = Mat::zeros(idx.len(), self.cols);
        for (o, &i) in idx.iter().enumerate() {
            out.row_mut(o).copy_from_slice(self.row(i));
        }
        out
    }

    /// `acc[c] += sum_r self[r, c]`: the bias gradient of a batch.
    #[inline(always)]
    pub fn col_sums_into(&self, acc: &mut [F]) {
        assert_eq!(acc.len(), self.cols);
        for r in 0..self.rows {
            for (a, v) in acc.iter_mut().zip(self.row(r)) {
                *a += *v;
            }
        }
    }

    pub fn cast<G: Real>(&self) -> Mat<G> {
        Mat { rows: self.rows, cols: self.cols, data: self.data.iter().map(|v| G::c(v.f64())).collect() }
    }
}

impl<F> Default for Mat<F> {
    fn default() -> Self {
        Mat { rows: 0, cols: 0, data: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_rows_sets_every_row() {
        for rows in [0, 1, 2, 3, 7, 8, 33] {
            let mut data = vec![-1.0f32; rows * 3];
            fill_rows(&mut data, &[1.0, 2.0, 3.0]);
            assert!(data.chunks_exact(3).all(|r| r == [1.0, 2.0, 3.0]), "{rows} rows: {data:?}");
        }
        fill_rows::<f32>(&mut [], &[]);
    }

    #[test]
    fn clone_from_copies_into_the_existing_buffer() {
        let src = Mat::from_vec(2, 3, vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let mut dst = Mat::from_vec(3, 3, vec![9.0f32; 9]);
        let before = dst.data.as_ptr();
        dst.clone_from(&src);
        assert_eq!(dst, src);
        assert_eq!(dst.data.as_ptr(), before, "a smaller source is copied in place");
        let mut empty = Mat::<f32>::default();
        empty.clone_from(&src);
        assert_eq!(empty, src);
    }
}
