//! The fused per-step passes of the cells: one vectorised loop over a block of batch rows that
//! turns the gate pre-activations into the new state (forward), or the incoming gradient into
//! the gate pre-activation gradients (backward). Every slice is `rows x width`, row-major, and
//! every pass runs inside `kernels::simd`, so the loops over one row's `hs` units are compiled
//! for AVX-512 / AVX2.
//!
//! Each row is handled by an `#[inline(always)]` function whose gate blocks, states and outputs
//! are separate slice parameters: Rust marks them `noalias`, which survives inlining, so LLVM
//! vectorises the loop without run-time overlap checks (with a dozen streams it would otherwise
//! give up and emit scalar code, 10x slower here).
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
        )+
        let _ = rest;
    };
    ($row:expr, $hs:expr, [$($name:ident),+]) => {
        let rest = $row;
        $(
            let ($name, rest) = rest.split_at($hs);
        )+
        let _ = rest;
    };
}

/// Vanilla RNN: `h = act(pre + bias)`, tanh or ReLU.
pub(super) fn rnn_fwd<F: Real>(relu: bool, hs: usize, pre: &[F], bias: &[F], h: &mut [F]) {
    #[inline(always)]
    fn row<F: Real>(relu: bool, p: &[F], bias: &[F], h: &mut [F]) {
        let n = h.len();
        let (p, bias) = (&p[..n], &bias[..n]);
        if relu {
            for j in 0..n {
                h[j] = (p[j] + bias[j]).relu();
            }
        } else {
            for j in 0..n {
                h[j] = (p[j] + bias[j]).tanh_fast();
            }
        }
    }
    simd(
        #[inline(always)]
        || {
            for (p, h) in pre.chunks_exact(hs).zip(h.chunks_exact_mut(hs)) {
                row(relu, p, bias, h);
            }
        },
    )
}

/// LSTM: pre-activations `[i f g o]` (without bias) give the activations `act` (same layout);
/// `c = f * c_prev + i * g`, `h = o * tanh(c)`. tanh(c) is not kept: the backward computes it
/// again from c, which costs less than reading it back from memory.
#[allow(clippy::too_many_arguments)]
pub(super) fn lstm_fwd<F: Real>(
    hs: usize,
    pre: &[F],
    bias: &[F],
    c_prev: &[F],
    act: &mut [F],
    c: &mut [F],
    h: &mut [F],
) {
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn row<F: Real>(
        p: [&[F]; 4],
        b: [&[F]; 4],
        cp: &[F],
        gi: &mut [F],
        gf: &mut [F],
        gg: &mut [F],
        go: &mut [F],
        c: &mut [F],
        h: &mut [F],
    ) {
        let n = h.len();
        let (pi, pf, pg, po) = (&p[0][..n], &p[1][..n], &p[2][..n], &p[3][..n]);
        let (gi, gf, gg, go) = (&mut gi[..n], &mut gf[..n], &mut gg[..n], &mut go[..n]);
        let (bi, bf, bg, bo) = (&b[0][..n], &b[1][..n], &b[2][..n], &b[3][..n]);
        let (cp, c) = (&cp[..n], &mut c[..n]);
        for j in 0..n {
            let i = (pi[j] + bi[j]).sigmoid_fast();
            let f = (pf[j] + bf[j]).sigmoid_fast();
            let g = (pg[j] + bg[j]).tanh_fast();
            let o = (po[j] + bo[j]).sigmoid_fast();
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            let cj = f * cp[j] + i * g;
            c[j] = cj;
            h[j] = o * cj.tanh_fast();
        }
    }
    simd(
        #[inline(always)]
        || {
            blocks!(&bias[..4 * hs], hs, [bi, bf, bg, bo]);
            let rows = pre.chunks_exact(4 * hs).zip(act.chunks_exact_mut(4 * hs)).zip(c_prev.chunks_exact(hs));
            let rows = rows.zip(c.chunks_exact_mut(hs)).zip(h.chunks_exact_mut(hs));
            for ((((p4, g4), cp), c), h) in rows {
                blocks!(p4, hs, [pi, pf, pg, po]);
                blocks!(g4, hs, mut [gi, gf, gg, go]);
                row([pi, pf, pg, po], [bi, bf, bg, bo], cp, gi, gf, gg, go, c, h);
            }
        },
    )
}

/// GRU: pre-activations `[r z n]` of the input side (without bias) and `rec = W_hh h_prev`
/// (without bias) give `r = sigma(.)`, `z = sigma(.)`, `a = W_hn h + b_hn` (kept in `hn`),
/// `n = tanh(x_n + b_in + r * a)`, `h = (1 - z) n + z h_prev`; `act` gets [r z n].
#[allow(clippy::too_many_arguments)]
pub(super) fn gru_fwd<F: Real>(
    hs: usize,
    pre: &[F],
    rec: &[F],
    bias: &[F],
    bhn: &[F],
    h_prev: &[F],
    act: &mut [F],
    hn: &mut [F],
    h: &mut [F],
) {
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn row<F: Real>(
        p: [&[F]; 3],
        rec: [&[F]; 3],
        b: [&[F]; 4],
        hp: &[F],
        gr: &mut [F],
        gz: &mut [F],
        gn: &mut [F],
        a: &mut [F],
        h: &mut [F],
    ) {
        let n = h.len();
        let (pr, pz, pn) = (&p[0][..n], &p[1][..n], &p[2][..n]);
        let (gr, gz, gn) = (&mut gr[..n], &mut gz[..n], &mut gn[..n]);
        let (rr, rz, rn) = (&rec[0][..n], &rec[1][..n], &rec[2][..n]);
        let (br, bz, bn, bhn) = (&b[0][..n], &b[1][..n], &b[2][..n], &b[3][..n]);
        let (hp, a) = (&hp[..n], &mut a[..n]);
        for j in 0..n {
            let r = (pr[j] + br[j] + rr[j]).sigmoid_fast();
            let z = (pz[j] + bz[j] + rz[j]).sigmoid_fast();
            let aj = rn[j] + bhn[j];
            let nj = (pn[j] + bn[j] + r * aj).tanh_fast();
            gr[j] = r;
            gz[j] = z;
            gn[j] = nj;
            a[j] = aj;
            h[j] = nj + z * (hp[j] - nj);
        }
    }
    simd(
        #[inline(always)]
        || {
            blocks!(&bias[..3 * hs], hs, [br, bz, bn]);
            let rows = pre.chunks_exact(3 * hs).zip(act.chunks_exact_mut(3 * hs)).zip(rec.chunks_exact(3 * hs));
            let rows = rows.zip(h_prev.chunks_exact(hs)).zip(hn.chunks_exact_mut(hs)).zip(h.chunks_exact_mut(hs));
            for (((((p3, g3), r3), hp), a), h) in rows {
                blocks!(p3, hs, [pr, pz, pn]);
                blocks!(g3, hs, mut [gr, gz, gn]);
                blocks!(r3, hs, [rr, rz, rn]);
                row([pr, pz, pn], [rr, rz, rn], [br, bz, bn, bhn], hp, gr, gz, gn, a, h);
            }
        },
    )
}

/// The per-step gradient inputs shared by the backward passes: `dy` (the output gradient of
/// this step, row stride `dy_rs`), `dh` (in: the gradient reaching h_t from step t+1; out: the
/// part of dL/dh_{t-1} that does not go through W_hh, which is 0 except for GRU), and the tap
/// of dL/dh_t (written only when `TAPS`).
pub(super) struct StepGrad<'a, F> {
    pub dy: &'a [F],
    pub dy_rs: usize,
    pub dh: &'a mut [F],
    pub tap_h: &'a mut [F],
}

/// Row b of a step's `dy`.
fn dy_row<F>(dy: &[F], rs: usize, b: usize, hs: usize) -> &[F] {
    &dy[b * rs..b * rs + hs]
}

/// The tap row of batch row b, or an empty slice when taps are off.
fn tap_row<F, const TAPS: bool>(tap: &mut [F], b: usize, hs: usize) -> &mut [F] {
    if TAPS {
        &mut tap[b * hs..(b + 1) * hs]
    } else {
        &mut []
    }
}

/// Vanilla RNN: `dpre = (dy + dh) * act'(h)`.
pub(super) fn rnn_bwd<F: Real, const TAPS: bool>(relu: bool, hs: usize, g: StepGrad<F>, h: &[F], dg: &mut [F]) {
    #[inline(always)]
    fn row<F: Real, const TAPS: bool>(relu: bool, dy: &[F], dh: &[F], h: &[F], dg: &mut [F], tap: &mut [F]) {
        let n = dg.len();
        let (dy, dh, h) = (&dy[..n], &dh[..n], &h[..n]);
        if TAPS {
            let tap = &mut tap[..n];
            for j in 0..n {
                tap[j] = dy[j] + dh[j];
            }
        }
        if relu {
            for j in 0..n {
                dg[j] = if h[j] > F::zero() { dy[j] + dh[j] } else { F::zero() };
            }
        } else {
            for j in 0..n {
                dg[j] = (dy[j] + dh[j]) * (F::one() - h[j] * h[j]);
            }
        }
    }
    simd(
        #[inline(always)]
        || {
            let StepGrad { dy, dy_rs, dh, tap_h } = g;
            let rows = dh.chunks_exact(hs).zip(h.chunks_exact(hs)).zip(dg.chunks_exact_mut(hs));
            for (b, ((dhr, hr), dgr)) in rows.enumerate() {
                row::<F, TAPS>(relu, dy_row(dy, dy_rs, b, hs), dhr, hr, dgr, tap_row::<F, TAPS>(tap_h, b, hs));
            }
        },
    )
}

/// LSTM: from dh = dy + dh_rec and the carried dc, the gate gradients `[di df dg do]`; `dc`
/// becomes `dc_total * f` (what reaches c_{t-1}). tanh(c_t) is computed again from `c` (c_t),
/// bit for bit the forward's. With taps, dL/dh_t and dL/dc_t (total).
#[allow(clippy::too_many_arguments)]
pub(super) fn lstm_bwd<F: Real, const TAPS: bool>(
    hs: usize,
    g: StepGrad<F>,
    dc: &mut [F],
    tap_c: &mut [F],
    gates: &[F],
    c_prev: &[F],
    c: &[F],
    dg: &mut [F],
) {
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn row<F: Real, const TAPS: bool>(
        dy: &[F],
        dh: &[F],
        dc: &mut [F],
        gates: [&[F]; 4],
        cp: &[F],
        c: &[F],
        di: &mut [F],
        df: &mut [F],
        dgg: &mut [F],
        dgo: &mut [F],
        tap_h: &mut [F],
        tap_c: &mut [F],
    ) {
        let n = dc.len();
        let one = F::one();
        let (dy, dh, cp, c) = (&dy[..n], &dh[..n], &cp[..n], &c[..n]);
        let (gi, gf, gg, go) = (&gates[0][..n], &gates[1][..n], &gates[2][..n], &gates[3][..n]);
        let (di, df, dgg, dgo) = (&mut di[..n], &mut df[..n], &mut dgg[..n], &mut dgo[..n]);
        if TAPS {
            let (th, tcc) = (&mut tap_h[..n], &mut tap_c[..n]);
            for j in 0..n {
                let d = dy[j] + dh[j];
                th[j] = d;
                let t = c[j].tanh_fast();
                tcc[j] = dc[j] + d * go[j] * (one - t * t);
            }
        }
        for j in 0..n {
            let (i, f, g, o, t) = (gi[j], gf[j], gg[j], go[j], c[j].tanh_fast());
            let d = dy[j] + dh[j];
            let dct = dc[j] + d * o * (one - t * t);
            dgo[j] = d * t * o * (one - o);
            di[j] = dct * g * i * (one - i);
            dgg[j] = dct * i * (one - g * g);
            df[j] = dct * cp[j] * f * (one - f);
            dc[j] = dct * f;
        }
    }
    simd(
        #[inline(always)]
        || {
            let StepGrad { dy, dy_rs, dh, tap_h } = g;
            let rows = dh.chunks_exact(hs).zip(dc.chunks_exact_mut(hs)).zip(gates.chunks_exact(4 * hs));
            let rows = rows.zip(c_prev.chunks_exact(hs)).zip(c.chunks_exact(hs)).zip(dg.chunks_exact_mut(4 * hs));
            for (b, (((((dhr, dcr), g4), cp), c), d4)) in rows.enumerate() {
                blocks!(g4, hs, [gi, gf, gg, go]);
                blocks!(d4, hs, mut [di, df, dgg, dgo]);
                let (th, tcc) = (tap_row::<F, TAPS>(tap_h, b, hs), tap_row::<F, TAPS>(tap_c, b, hs));
                row::<F, TAPS>(dy_row(dy, dy_rs, b, hs), dhr, dcr, [gi, gf, gg, go], cp, c, di, df, dgg, dgo, th, tcc);
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
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn row<F: Real, const TAPS: bool>(
        dy: &[F],
        dh: &mut [F],
        gates: [&[F]; 3],
        a: &[F],
        hp: &[F],
        d: [&mut [F]; 3],
        e: [&mut [F]; 3],
        tap: &mut [F],
    ) {
        let n = dh.len();
        let one = F::one();
        let (dy, a, hp) = (&dy[..n], &a[..n], &hp[..n]);
        let (gr, gz, gn) = (&gates[0][..n], &gates[1][..n], &gates[2][..n]);
        let [dr, dz, dn] = d;
        let [er, ez, en] = e;
        let (dr, dz, dn, er, ez, en) =
            (&mut dr[..n], &mut dz[..n], &mut dn[..n], &mut er[..n], &mut ez[..n], &mut en[..n]);
        if TAPS {
            let tap = &mut tap[..n];
            for j in 0..n {
                tap[j] = dy[j] + dh[j];
            }
        }
        for j in 0..n {
            let (r, z, nj) = (gr[j], gz[j], gn[j]);
            let d = dy[j] + dh[j];
            let dpn = d * (one - z) * (one - nj * nj);
            let dpr = dpn * a[j] * r * (one - r);
            let dpz = d * (hp[j] - nj) * z * (one - z);
            dr[j] = dpr;
            dz[j] = dpz;
            dn[j] = dpn;
            er[j] = dpr;
            ez[j] = dpz;
            en[j] = dpn * r;
            dh[j] = d * z;
        }
    }
    simd(
        #[inline(always)]
        || {
            let StepGrad { dy, dy_rs, dh, tap_h } = g;
            let rows = dh.chunks_exact_mut(hs).zip(gates.chunks_exact(3 * hs)).zip(hn.chunks_exact(hs));
            let rows =
                rows.zip(h_prev.chunks_exact(hs)).zip(dg.chunks_exact_mut(3 * hs)).zip(dgh.chunks_exact_mut(3 * hs));
            for (b, (((((dhr, g3), a), hp), d3), e3)) in rows.enumerate() {
                blocks!(g3, hs, [gr, gz, gn]);
                blocks!(d3, hs, mut [dr, dz, dn]);
                blocks!(e3, hs, mut [er, ez, en]);
                let tap = tap_row::<F, TAPS>(tap_h, b, hs);
                row::<F, TAPS>(dy_row(dy, dy_rs, b, hs), dhr, [gr, gz, gn], a, hp, [dr, dz, dn], [er, ez, en], tap);
            }
        },
    )
}

/// `acc[c] += sum over rows of m[r * rs + c]` for `c < acc.len()`: bias gradients.
pub(super) fn col_sums<F: Real>(m: &[F], rows: usize, rs: usize, acc: &mut [F]) {
    #[inline(always)]
    fn row<F: Real>(acc: &mut [F], v: &[F]) {
        let v = &v[..acc.len()];
        for j in 0..acc.len() {
            acc[j] += v[j];
        }
    }
    let n = acc.len();
    simd(
        #[inline(always)]
        || {
            for r in 0..rows {
                row(acc, &m[r * rs..r * rs + n]);
            }
        },
    )
}
