//! A small one-sided Jacobi SVD in f64 (Hestenes' method), for the Jacobian probe.
//!
//! The rows of B (A, or A^T when A has more rows than columns, so B has k = min(m, n) rows)
//! are rotated in pairs until they are mutually orthogonal: Q B = R with Q orthogonal, and the
//! singular values are the norms of R's rows. One-sided Jacobi computes small singular values
//! to high *relative* accuracy, which matters here: deep Jacobians have condition numbers of
//! 1e10 and more. Cost per sweep is about 3 k^2 max(m, n) flops; 6 to 12 sweeps are typical.

/// A = U diag(s) V^T, `s` descending; U is `m x k`, V is `n x k` (k = min(m, n)), both stored
/// row-major as `Vec<f64>`. Columns of U or V that belong to a zero singular value are zero.
#[derive(Clone, Debug)]
pub struct Svd {
    pub m: usize,
    pub n: usize,
    pub u: Vec<f64>,
    pub s: Vec<f64>,
    pub v: Vec<f64>,
}

use crate::tensor::kernels::simd;

const MAX_SWEEPS: usize = 80;

/// Orthogonalise the `k` rows (length `len`) of `b` in place; when `q` is given, apply the
/// same rotations to its `k x k` rows. Returns the number of sweeps. Inlined into `simd`'s
/// frames by its callers, so that the dots and rotations are vectorised (lane by lane, the
/// same arithmetic as the scalar code: no fused multiply-adds).
#[inline(always)]
fn orthogonalise(b: &mut [f64], k: usize, len: usize, mut q: Option<&mut [f64]>) -> usize {
    let eps = f64::EPSILON;
    let mut norms = vec![0.0; k];
    for sweep in 1..=MAX_SWEEPS {
        // Exact squared norms at each sweep's start; within a sweep they are updated.
        for (i, nrm) in norms.iter_mut().enumerate() {
            let r = &b[i * len..(i + 1) * len];
            *nrm = dot(r, r);
        }
        let mut rotated = false;
        for i in 0..k {
            for j in i + 1..k {
                let (alpha, beta) = (norms[i], norms[j]);
                if alpha == 0.0 || beta == 0.0 {
                    continue;
                }
                let (head, tail) = b.split_at_mut(j * len);
                let bi = &mut head[i * len..(i + 1) * len];
                let bj = &mut tail[..len];
                let gamma = dot(bi, bj);
                if gamma.abs() <= eps * (alpha.sqrt() * beta.sqrt()) {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + 1f64.hypot(zeta));
                let c = 1.0 / 1f64.hypot(t);
                let s = c * t;
                for (x, y) in bi.iter_mut().zip(bj.iter_mut()) {
                    let (a, b2) = (*x, *y);
                    *x = c * a - s * b2;
                    *y = s * a + c * b2;
                }
                norms[i] = (alpha - t * gamma).max(0.0);
                norms[j] = beta + t * gamma;
                if let Some(q) = q.as_deref_mut() {
                    let (qh, qt) = q.split_at_mut(j * k);
                    let (qi, qj) = (&mut qh[i * k..(i + 1) * k], &mut qt[..k]);
                    for (x, y) in qi.iter_mut().zip(qj.iter_mut()) {
                        let (a, b2) = (*x, *y);
                        *x = c * a - s * b2;
                        *y = s * a + c * b2;
                    }
                }
            }
        }
        if !rotated {
            return sweep;
        }
    }
    MAX_SWEEPS
}

/// x . y with four accumulators (so the compiler can keep them in vector registers).
#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = xc.remainder().iter().zip(yc.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// B = A (`m x n`, row-major) or A^T, whichever has no more rows than columns.
fn oriented(a: &[f64], m: usize, n: usize) -> (Vec<f64>, usize, usize, bool) {
    assert_eq!(a.len(), m * n, "svd: a {m}x{n} matrix needs {} values, got {}", m * n, a.len());
    if m <= n {
        (a.to_vec(), m, n, false)
    } else {
        let mut t = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                t[c * m + r] = a[r * n + c];
            }
        }
        (t, n, m, true)
    }
}

/// The singular values of the `m x n` row-major matrix `a`, descending (min(m, n) of them).
pub fn singular_values(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    let (mut b, k, len, _) = oriented(a, m, n);
    simd(
        #[inline(always)]
        || orthogonalise(&mut b, k, len, None),
    );
    let mut s: Vec<f64> = b.chunks(len.max(1)).take(k).map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
    s.sort_by(|x, y| y.total_cmp(x));
    s
}

/// The full SVD of the `m x n` row-major matrix `a`.
pub fn svd(a: &[f64], m: usize, n: usize) -> Svd {
    let (mut b, k, len, transposed) = oriented(a, m, n);
    let mut q = vec![0.0; k * k];
    (0..k).for_each(|i| q[i * k + i] = 1.0);
    simd(
        #[inline(always)]
        || orthogonalise(&mut b, k, len, Some(&mut q)),
    );
    // Q B = R: B = Q^T R = Q^T diag(s) W^T with W's columns the normalised rows of R.
    let s_raw: Vec<f64> = b.chunks(len.max(1)).take(k).map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&x, &y| s_raw[y].total_cmp(&s_raw[x]));
    // left: k x k (Q^T columns), right: len x k (normalised rows of R).
    let mut left = vec![0.0; k * k];
    let mut right = vec![0.0; len * k];
    let mut s = Vec::with_capacity(k);
    for (col, &i) in order.iter().enumerate() {
        let si = s_raw[i];
        s.push(si);
        for r in 0..k {
            left[r * k + col] = q[i * k + r];
        }
        if si > 0.0 {
            for c in 0..len {
                right[c * k + col] = b[i * len + c] / si;
            }
        }
    }
    // B = left diag(s) right^T; A = B, or A = B^T = right diag(s) left^T.
    let (u, v) = if transposed { (right, left) } else { (left, right) };
    Svd { m, n, u, s, v }
}

impl Svd {
    /// U diag(s) V^T, row-major `m x n`.
    pub fn reconstruct(&self) -> Vec<f64> {
        let k = self.s.len();
        let mut a = vec![0.0; self.m * self.n];
        for r in 0..self.m {
            for c in 0..self.n {
                a[r * self.n + c] = (0..k).map(|i| self.u[r * k + i] * self.s[i] * self.v[c * k + i]).sum();
            }
        }
        a
    }
}
