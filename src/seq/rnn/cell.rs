//! The fused per-step passes of the cells: one vectorised loop over a block of batch rows that
//! turns the gate pre-activations into the new state (forward), or the incoming gradient into
//! the gate pre-activation gradients (backward). Every slice is `rows x width`, row-major, and
//! every function runs inside `kernels::simd`, so the inner loops over one row's `hs` units are
//! compiled for AVX-512 / AVX2. Inner slices are re-sliced to `hs` so that bounds checks vanish.
//!
//! Gate blocks of a row are stacked in PyTorch's order: LSTM [i | f | g | o], GRU [r | z | n].

use crate::tensor::kernels::simd;
use crate::tensor::Real;

/// Split a row of `k * hs` values into its gate blocks.
macro_rules! blocks {
    ($row:expr, $hs:expr, mut [$($name:ident),+]) => {
        let rest = $row;
        $(
            let ($name, rest) = rest.split_at_mut($hs);
            let $name = &mut $name[..$hs];
        )+
        let _ = rest;
    };
    ($row:expr, $hs:expr, [$($name:ident),+]) => {
        let rest = $row;
        $(
            let ($name, rest) = rest.split_at($hs);
            let $name = &$name[..$hs];
        )+
        let _ = rest;
    };
}

/// Vanilla RNN: `h = act(pre + bias)`, tanh or ReLU.
pub(super) fn rnn_fwd<F: Real>(relu: bool, hs: usize, pre: &[F], bias: &[F], h: &mut [F]) {
    simd(
        #[inline(always)]
        || {
            let bias = &bias[..hs];
            for (p, h) in pre.chunks_exact(hs).zip(h.chunks_exact_mut(hs)) {
                let (p, h) = (&p[..hs], &mut h[..hs]);
                if relu {
                    for j in 0..hs {
                        h[j] = (p[j] + bias[j]).max(F::zero());
                    }
                } else {
                    for j in 0..hs {
                        h[j] = (p[j] + bias[j]).tanh_fast();
                    }
                }
            }
        },
    )
}

/// LSTM: pre-activations `[i f g o]` (without bias) become the activations in place;
/// `c = f * c_prev + i * g`, `tc = tanh(c)`, `h = o * tc`.
pub(super) fn lstm_fwd<F: Real>(
    hs: usize,
    pre: &mut [F],
    bias: &[F],
    c_prev: &[F],
    c: &mut [F],
    tc: &mut [F],
    h: &mut [F],
) {
    simd(
        #[inline(always)]
        || {
            blocks!(&bias[..4 * hs], hs, [bi, bf, bg, bo]);
            let rows = pre.chunks_exact_mut(4 * hs).zip(c_prev.chunks_exact(hs));
            let rows = rows.zip(c.chunks_exact_mut(hs)).zip(tc.chunks_exact_mut(hs)).zip(h.chunks_exact_mut(hs));
            for ((((g4, cp), c), tc), h) in rows {
                blocks!(g4, hs, mut [gi, gf, gg, go]);
                let (cp, c, tc, h) = (&cp[..hs], &mut c[..hs], &mut tc[..hs], &mut h[..hs]);
                for j in 0..hs {
                    let i = (gi[j] + bi[j]).sigmoid_fast();
                    let f = (gf[j] + bf[j]).sigmoid_fast();
                    let g = (gg[j] + bg[j]).tanh_fast();
                    let o = (go[j] + bo[j]).sigmoid_fast();
                    gi[j] = i;
                    gf[j] = f;
                    gg[j] = g;
                    go[j] = o;
                    let cj = f * cp[j] + i * g;
                    let t = cj.tanh_fast();
                    c[j] = cj;
                    tc[j] = t;
                    h[j] = o * t;
                }
            }
        },
    )
}

/// GRU: pre-activations `[r z n]` of the input side (without bias) and `rec = W_hh h_prev`
/// (without bias) give `r = sigma(.)`, `z = sigma(.)`, `a = W_hn h + b_hn` (kept in `hn`),
/// `n = tanh(x_n + b_in + r * a)`, `h = (1 - z) n + z h_prev`. `pre` ends up holding [r z n].
#[allow(clippy::too_many_arguments)]
pub(super) fn gru_fwd<F: Real>(
    hs: usize,
    pre: &mut [F],
    rec: &[F],
    bias: &[F],
    bhn: &[F],
    h_prev: &[F],
    hn: &mut [F],
    h: &mut [F],
) {
    simd(
        #[inline(always)]
        || {
            blocks!(&bias[..3 * hs], hs, [br, bz, bn]);
            let bhn = &bhn[..hs];
            let rows = pre.chunks_exact_mut(3 * hs).zip(rec.chunks_exact(3 * hs)).zip(h_prev.chunks_exact(hs));
            let rows = rows.zip(hn.chunks_exact_mut(hs)).zip(h.chunks_exact_mut(hs));
            for ((((g3, r3), hp), a), h) in rows {
                blocks!(g3, hs, mut [gr, gz, gn]);
                blocks!(r3, hs, [rr, rz, rn]);
                let (hp, a, h) = (&hp[..hs], &mut a[..hs], &mut h[..hs]);
                for j in 0..hs {
                    let r = (gr[j] + br[j] + rr[j]).sigmoid_fast();
                    let z = (gz[j] + bz[j] + rz[j]).sigmoid_fast();
                    let aj = rn[j] + bhn[j];
                    let n = (gn[j] + bn[j] + r * aj).tanh_fast();
                    gr[j] = r;
                    gz[j] = z;
                    gn[j] = n;
                    a[j] = aj;
                    h[j] = n + z * (hp[j] - n);
                }
            }
        },
    )
}

/// The per-step gradient inputs shared by the backward passes: `dy` (the output gradient of
/// this step, row stride `dy_rs`), `dh` (in: the gradient reaching h_t from step t+1; out: the
/// part of dL/dh_{t-1} that does not go through W_hh, which is 0 except for GRU), and the taps
/// (written only when `TAPS`).
pub(super) struct StepGrad<'a, F> {
    pub dy: &'a [F],
    pub dy_rs: usize,
    pub dh: &'a mut [F],
    pub tap_h: &'a mut [F],
}

/// Vanilla RNN: `dpre = (dy + dh) * act'(h)`.
pub(super) fn rnn_bwd<F: Real, const TAPS: bool>(relu: bool, hs: usize, g: StepGrad<F>, h: &[F], dg: &mut [F]) {
    let StepGrad { dy, dy_rs, dh, tap_h } = g;
    simd(
        #[inline(always)]
        || {
            for (b, ((dhr, hr), dgr)) in
                dh.chunks_exact_mut(hs).zip(h.chunks_exact(hs)).zip(dg.chunks_exact_mut(hs)).enumerate()
            {
                let dyr = &dy[b * dy_rs..b * dy_rs + hs];
                let (dhr, hr, dgr) = (&mut dhr[..hs], &hr[..hs], &mut dgr[..hs]);
                if TAPS {
                    let tap = &mut tap_h[b * hs..(b + 1) * hs];
                    for j in 0..hs {
                        tap[j] = dyr[j] + dhr[j];
                    }
                }
                if relu {
                    for j in 0..hs {
                        let d = dyr[j] + dhr[j];
                        dgr[j] = if hr[j] > F::zero() { d } else { F::zero() };
                    }
                } else {
                    for j in 0..hs {
                        let d = dyr[j] + dhr[j];
                        dgr[j] = d * (F::one() - hr[j] * hr[j]);
                    }
                }
            }
        },
    )
}

/// LSTM: from dh = dy + dh_rec and the carried dc, the gate gradients
/// `[di df dg do]`; `dc` becomes `dc_total * f` (what reaches c_{t-1}).
#[allow(clippy::too_many_arguments)]
pub(super) fn lstm_bwd<F: Real, const TAPS: bool>(
    hs: usize,
    g: StepGrad<F>,
    dc: &mut [F],
    tap_c: &mut [F],
    gates: &[F],
    c_prev: &[F],
    tc: &[F],
    dg: &mut [F],
) {
    let StepGrad { dy, dy_rs, dh, tap_h } = g;
    simd(
        #[inline(always)]
        || {
            let one = F::one();
            let rows = dh.chunks_exact_mut(hs).zip(dc.chunks_exact_mut(hs)).zip(gates.chunks_exact(4 * hs));
            let rows = rows.zip(c_prev.chunks_exact(hs)).zip(tc.chunks_exact(hs)).zip(dg.chunks_exact_mut(4 * hs));
            for (b, (((((dhr, dcr), g4), cp), tc), d4)) in rows.enumerate() {
                let dyr = &dy[b * dy_rs..b * dy_rs + hs];
                let (dhr, dcr, cp, tc) = (&mut dhr[..hs], &mut dcr[..hs], &cp[..hs], &tc[..hs]);
                blocks!(g4, hs, [gi, gf, gg, go]);
                blocks!(d4, hs, mut [di, df, dgg, dgo]);
                if TAPS {
                    let th = &mut tap_h[b * hs..(b + 1) * hs];
                    let tcc = &mut tap_c[b * hs..(b + 1) * hs];
                    for j in 0..hs {
                        let d = dyr[j] + dhr[j];
                        th[j] = d;
                        tcc[j] = dcr[j] + d * go[j] * (one - tc[j] * tc[j]);
                    }
                }
                for j in 0..hs {
                    let (i, f, g, o, t) = (gi[j], gf[j], gg[j], go[j], tc[j]);
                    let d = dyr[j] + dhr[j];
                    let dct = dcr[j] + d * o * (one - t * t);
                    dgo[j] = d * t * o * (one - o);
                    di[j] = dct * g * i * (one - i);
                    dgg[j] = dct * i * (one - g * g);
                    df[j] = dct * cp[j] * f * (one - f);
                    dcr[j] = dct * f;
                }
            }
        },
    )
}

/// GRU: from dh = dy + dh_rec, the input-side gate gradients `dg = [dr dz dn]` (pre-activation)
/// and the recurrent-side ones `dgh = [dr dz dn * r]` (w.r.t. W_hh h + b_hh); `dh` becomes the
/// direct part `dh * z` of dL/dh_{t-1}.
#[allow(clippy::too_many_arguments)]
pub(super) fn gru_bwd<F: Real, const TAPS: bool>(
    hs: usize,
    g: StepGrad<F>,
    gates: &[F],
    hn: &[F],
    h_prev: &[F],
    dg: &mut [F],
    dgh: &mut [F],
) {
    let StepGrad { dy, dy_rs, dh, tap_h } = g;
    simd(
        #[inline(always)]
        || {
            let one = F::one();
            let rows = dh.chunks_exact_mut(hs).zip(gates.chunks_exact(3 * hs)).zip(hn.chunks_exact(hs));
            let rows =
                rows.zip(h_prev.chunks_exact(hs)).zip(dg.chunks_exact_mut(3 * hs)).zip(dgh.chunks_exact_mut(3 * hs));
            for (b, (((((dhr, g3), a), hp), d3), e3)) in rows.enumerate() {
                let dyr = &dy[b * dy_rs..b * dy_rs + hs];
                let (dhr, a, hp) = (&mut dhr[..hs], &a[..hs], &hp[..hs]);
                blocks!(g3, hs, [gr, gz, gn]);
                blocks!(d3, hs, mut [dr, dz, dn]);
                blocks!(e3, hs, mut [er, ez, en]);
                if TAPS {
                    let th = &mut tap_h[b * hs..(b + 1) * hs];
                    for j in 0..hs {
                        th[j] = dyr[j] + dhr[j];
                    }
                }
                for j in 0..hs {
                    let (r, z, n) = (gr[j], gz[j], gn[j]);
                    let d = dyr[j] + dhr[j];
                    let dpn = d * (one - z) * (one - n * n);
                    let dpr = dpn * a[j] * r * (one - r);
                    let dpz = d * (hp[j] - n) * z * (one - z);
                    dr[j] = dpr;
                    dz[j] = dpz;
                    dn[j] = dpn;
                    er[j] = dpr;
                    ez[j] = dpz;
                    en[j] = dpn * r;
                    dhr[j] = d * z;
                }
            }
        },
    )
}

/// `acc[c] += sum over rows of m[r * rs + c]` for `c < acc.len()`: bias gradients.
pub(super) fn col_sums<F: Real>(m: &[F], rows: usize, rs: usize, acc: &mut [F]) {
    let n = acc.len();
    simd(
        #[inline(always)]
        || {
            for r in 0..rows {
                let row = &m[r * rs..r * rs + n];
                acc.iter_mut().zip(row).for_each(|(a, v)| *a += *v);
            }
        },
    )
}
