//! One direction of one layer: its four parameters, its forward and backward through time, and
//! the buffers both keep (reused across calls).
//!
//! Threads: sequences of a batch are independent, so the recurrence is split by batch rows into
//! lanes — each lane runs the whole time loop for its rows, without synchronisation. The phases
//! around the loop (the input projection, the weight and input gradients) are split by output
//! rows into blocks. Lanes and blocks are cut from the problem's shape alone, never from the
//! thread count, and every reduction over them runs in block order: the threads only decide who
//! computes which block, so results are bit-identical whatever the number of threads (a GEMM's
//! rounding depends on its shape, so cutting by thread count would not be).

use super::cell::{col_sums, gru_bwd, gru_fwd, lstm_bwd, lstm_fwd, rnn_bwd, rnn_fwd, StepGrad};
use super::CellKind;
use crate::nn::Param;
use crate::tensor::par::{par_for, ranges, split_rows};
use crate::tensor::{matmul_strided_into, Mat, Real, View};

/// Most blocks a phase is cut into: enough for the few cores of the machines this runs on, few
/// enough that one thread does not pay much for the smaller GEMMs (W2 on one thread: 8 blocks
/// cost ~3% more CPU time than one, measured paired on a loaded machine).
const MAX_BLOCKS: usize = 4;

/// How a phase is cut and how many threads may work on it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Par {
    pub threads: usize,
    /// Multiply-adds a block of a phase should get; 0: cut whenever there are rows.
    pub min_work: usize,
    /// Batch rows per lane of the recurrence (at most).
    pub lane_rows: usize,
}

impl Par {
    /// Into how many blocks to cut `n` independent rows of a phase of `work` multiply-adds.
    fn blocks(&self, n: usize, work: usize) -> usize {
        let most = MAX_BLOCKS.min(n).max(1);
        work.checked_div(self.min_work).map_or(most, |w| w.clamp(1, most))
    }

    /// Into how many lanes to cut `batch` rows of a recurrence of `work` multiply-adds.
    fn lanes(&self, batch: usize, work: usize) -> usize {
        let by_rows = batch.div_ceil(self.lane_rows.max(1)).max(1);
        let by_work = work.checked_div(self.min_work).map_or(by_rows, |w| w.max(1));
        by_rows.min(by_work)
    }
}

/// A time-major `(time * batch) x cols` buffer cut, for each batch range in `parts`, into its
/// `time` per-step blocks (`rows x cols` each): what one lane of the recurrence may write.
fn lanes<'a, F>(
    data: &'a mut [F],
    time: usize,
    batch: usize,
    cols: usize,
    parts: &[(usize, usize)],
) -> Vec<Vec<&'a mut [F]>> {
    let mut out: Vec<Vec<&mut [F]>> = parts.iter().map(|_| Vec::with_capacity(time)).collect();
    if data.is_empty() {
        out.iter_mut().for_each(|o| o.extend((0..time).map(|_| <&mut [F]>::default())));
        return out;
    }
    assert_eq!(data.len(), time * batch * cols);
    for step in data.chunks_exact_mut(batch * cols) {
        for (o, s) in out.iter_mut().zip(split_rows(step, cols, parts)) {
            o.push(s);
        }
    }
    out
}

/// `(&v[read], &mut v[write])` for `read != write`.
fn pair<T>(v: &mut [T], read: usize, write: usize) -> (&T, &mut T) {
    if read < write {
        let (a, b) = v.split_at_mut(write);
        (&a[read], &mut b[0])
    } else {
        let (a, b) = v.split_at_mut(read);
        (&b[0], &mut a[write])
    }
}

macro_rules! with_taps {
    ($on:expr, $f:ident::<$F:ty>($($arg:expr),* $(,)?)) => {
        if $on {
            $f::<$F, true>($($arg),*)
        } else {
            $f::<$F, false>($($arg),*)
        }
    };
}

pub(super) struct Dir<F> {
    pub w_ih: Param<F>,
    pub w_hh: Param<F>,
    pub b_ih: Param<F>,
    pub b_hh: Param<F>,
    pub reverse: bool,
    /// W_hh^T (`H x G*H`), rebuilt at each forward: the per-step product reads it row-major.
    w_hh_t: Mat<F>,
    /// b_ih + b_hh per gate (GRU's n block: b_ih only) and, for GRU, b_hn.
    bias: Vec<F>,
    bhn: Vec<F>,
    /// After forward, `(T*B) x G*H`: the gate activations (LSTM [i f g o], GRU [r z n]; for
    /// vanilla RNNs the pre-activation).
    pub gates: Mat<F>,
    /// `(T*B) x H` hidden states, cell states and tanh(c) (LSTM), W_hn h + b_hn (GRU).
    pub h: Mat<F>,
    pub c: Mat<F>,
    tc: Mat<F>,
    hn: Mat<F>,
    /// GRU: the per-step recurrent product `B x G*H`.
    step: Mat<F>,
    /// Backward: pre-activation gradients of the input side and (GRU) of the recurrent side.
    dg: Mat<F>,
    dgh: Mat<F>,
    /// Backward: the gradient carried into h_{t-1} and c_{t-1}, `B x H`.
    dh: Mat<F>,
    dc: Mat<F>,
    /// Per lane of the backward loop, its bias-gradient sums (`lanes x G*H`), added in lane order.
    db: Mat<F>,
    dbh: Mat<F>,
    zeros: Vec<F>,
    /// dL/dh_t and dL/dc_t per step, `(T*B) x H`, when taps are on.
    pub taps_h: Mat<F>,
    pub taps_c: Mat<F>,
    pub time: usize,
    pub batch: usize,
}

/// The read-only state of one forward recurrence.
struct Fwd<'a, F> {
    cell: CellKind,
    reverse: bool,
    hs: usize,
    time: usize,
    w_hh_t: &'a Mat<F>,
    bias: &'a [F],
    bhn: &'a [F],
    zeros: &'a [F],
}

/// What one lane of the forward recurrence writes: its batch rows of every step.
struct FwdLane<'a, F> {
    rows: usize,
    gates: Vec<&'a mut [F]>,
    h: Vec<&'a mut [F]>,
    c: Vec<&'a mut [F]>,
    tc: Vec<&'a mut [F]>,
    hn: Vec<&'a mut [F]>,
    step: &'a mut [F],
}

impl<F: Real> Fwd<'_, F> {
    fn run(&self, mut l: FwdLane<F>) {
        let (hs, time, bp) = (self.hs, self.time, l.rows);
        let zeros = &self.zeros[..bp * hs];
        let w = View::of(self.w_hh_t);
        for s in 0..time {
            let t = if self.reverse { time - 1 - s } else { s };
            let tp = if self.reverse { t + 1 } else { t.wrapping_sub(1) };
            match self.cell {
                CellKind::RnnTanh | CellKind::RnnRelu => {
                    if s > 0 {
                        matmul_strided_into(l.gates[t], w.cols(), 1, View::new(l.h[tp], bp, hs, hs, 1), w, true);
                    }
                    rnn_fwd(self.cell == CellKind::RnnRelu, hs, l.gates[t], self.bias, l.h[t]);
                }
                CellKind::Lstm => {
                    if s > 0 {
                        matmul_strided_into(l.gates[t], w.cols(), 1, View::new(l.h[tp], bp, hs, hs, 1), w, true);
                    }
                    let (cp, ct): (&[F], &mut [F]) = if s > 0 {
                        let (a, b) = pair(&mut l.c, tp, t);
                        (a, b)
                    } else {
                        (zeros, &mut l.c[t])
                    };
                    lstm_fwd(hs, l.gates[t], self.bias, cp, ct, l.tc[t], l.h[t]);
                }
                CellKind::Gru => {
                    let (hp, ht): (&[F], &mut [F]) = if s > 0 {
                        let (a, b) = pair(&mut l.h, tp, t);
                        matmul_strided_into(l.step, w.cols(), 1, View::new(a, bp, hs, hs, 1), w, false);
                        (a, b)
                    } else {
                        l.step.fill(F::zero());
                        (zeros, &mut l.h[t])
                    };
                    gru_fwd(hs, l.gates[t], l.step, self.bias, self.bhn, hp, l.hn[t], ht);
                }
            }
        }
    }
}

/// The read-only state of one backward recurrence.
struct Bwd<'a, F> {
    cell: CellKind,
    reverse: bool,
    hs: usize,
    time: usize,
    batch: usize,
    trunc: Option<usize>,
    taps: bool,
    w_hh: &'a Mat<F>,
    gates: &'a Mat<F>,
    h: &'a Mat<F>,
    c: &'a Mat<F>,
    tc: &'a Mat<F>,
    hn: &'a Mat<F>,
    zeros: &'a [F],
    dy: &'a Mat<F>,
    dcol: usize,
}

struct BwdLane<'a, F> {
    b0: usize,
    rows: usize,
    dg: Vec<&'a mut [F]>,
    dgh: Vec<&'a mut [F]>,
    tap_h: Vec<&'a mut [F]>,
    tap_c: Vec<&'a mut [F]>,
    dh: &'a mut [F],
    dc: &'a mut [F],
    /// This lane's sums over its rows of dz (the bias gradient of bias_ih) and, for GRU,
    /// of dz_hh (bias_hh's), `G*H` each.
    db: &'a mut [F],
    dbh: &'a mut [F],
}

impl<F: Real> Bwd<'_, F> {
    /// Rows `b0..b0+bp` of step t of a time-major buffer.
    fn rows<'m>(&self, m: &'m Mat<F>, t: usize, b0: usize, bp: usize) -> &'m [F] {
        let r = t * self.batch + b0;
        &m.data[r * m.cols..(r + bp) * m.cols]
    }

    fn run(&self, l: BwdLane<F>) {
        let (hs, time, bp, b0) = (self.hs, self.time, l.rows, l.b0);
        let gh = self.w_hh.rows;
        let zeros = &self.zeros[..bp * hs];
        let BwdLane { mut dg, mut dgh, mut tap_h, mut tap_c, dh, dc, db, dbh, .. } = l;
        dh.fill(F::zero());
        dc.fill(F::zero());
        db.fill(F::zero());
        dbh.fill(F::zero());
        let dy_rs = self.dy.cols;
        for s in (0..time).rev() {
            let t = if self.reverse { time - 1 - s } else { s };
            let tp = if self.reverse { t + 1 } else { t.wrapping_sub(1) };
            // Truncation: the carry from processing step s to s-1 is cut when (time - s) is a
            // multiple of k, i.e. the steps form blocks of k aligned to the last step processed.
            let carry = s > 0 && self.trunc.is_none_or(|k| (time - s) % k != 0);
            let g = StepGrad {
                dy: &self.dy.data[(t * self.batch + b0) * dy_rs + self.dcol..],
                dy_rs,
                dh: &mut *dh,
                tap_h: &mut *tap_h[t],
            };
            let gates = self.rows(self.gates, t, b0, bp);
            match self.cell {
                CellKind::RnnTanh | CellKind::RnnRelu => {
                    let relu = self.cell == CellKind::RnnRelu;
                    with_taps!(self.taps, rnn_bwd::<F>(relu, hs, g, self.rows(self.h, t, b0, bp), &mut *dg[t]));
                }
                CellKind::Lstm => {
                    let cp = if s > 0 { self.rows(self.c, tp, b0, bp) } else { zeros };
                    let tc = self.rows(self.tc, t, b0, bp);
                    with_taps!(self.taps, lstm_bwd::<F>(hs, g, &mut *dc, &mut *tap_c[t], gates, cp, tc, &mut *dg[t]));
                }
                CellKind::Gru => {
                    let hp = if s > 0 { self.rows(self.h, tp, b0, bp) } else { zeros };
                    let hn = self.rows(self.hn, t, b0, bp);
                    with_taps!(self.taps, gru_bwd::<F>(hs, g, gates, hn, hp, &mut *dg[t], &mut *dgh[t]));
                }
            }
            // The bias gradients, while this step's dz is in cache.
            let gru = self.cell == CellKind::Gru;
            col_sums(dg[t], bp, gh, db);
            if gru {
                col_sums(dgh[t], bp, gh, dbh);
            }
            if carry {
                // dL/dh_{t-1} (+)= dz_hh W_hh: one GEMM per step.
                let d: &[F] = if gru { dgh[t] } else { dg[t] };
                matmul_strided_into(dh, hs, 1, View::new(d, bp, gh, gh, 1), View::of(self.w_hh), gru);
            } else {
                dh.fill(F::zero());
                dc.fill(F::zero());
            }
        }
    }
}

impl<F: Real> Dir<F> {
    pub fn new(w_ih: Mat<F>, w_hh: Mat<F>, b_ih: Vec<F>, b_hh: Vec<F>, reverse: bool) -> Self {
        let e = Mat::default;
        Dir {
            w_ih: Param::matrix(w_ih),
            w_hh: Param::matrix(w_hh),
            b_ih: Param::vector(b_ih),
            b_hh: Param::vector(b_hh),
            reverse,
            w_hh_t: e(),
            bias: Vec::new(),
            bhn: Vec::new(),
            gates: e(),
            h: e(),
            c: e(),
            tc: e(),
            hn: e(),
            step: e(),
            dg: e(),
            dgh: e(),
            dh: e(),
            dc: e(),
            db: e(),
            dbh: e(),
            zeros: Vec::new(),
            taps_h: e(),
            taps_c: e(),
            time: 0,
            batch: 0,
        }
    }

    pub fn hidden(&self) -> usize {
        self.w_hh.value.cols
    }

    /// Run the direction over `x` (`(time*batch) x in`), filling `h` (and the caches).
    pub fn forward(&mut self, cell: CellKind, x: &Mat<F>, time: usize, batch: usize, par: Par) {
        let (hs, gh, nin, tb) = (self.hidden(), self.w_hh.value.rows, x.cols, time * batch);
        assert_eq!(x.rows, tb, "rnn: input has {} rows, want {time} x {batch}", x.rows);
        assert_eq!(nin, self.w_ih.value.cols, "rnn: input width {nin}, want {}", self.w_ih.value.cols);
        let (lstm, gru) = (cell == CellKind::Lstm, cell == CellKind::Gru);
        self.time = time;
        self.batch = batch;
        // Derived weights: W_hh^T and the combined biases.
        let w = &self.w_hh.value;
        self.w_hh_t.reshape_for(hs, gh);
        for (r, row) in w.data.chunks_exact(hs).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                self.w_hh_t.data[c * gh + r] = v;
            }
        }
        let (bi, bh) = (&self.b_ih.value.data, &self.b_hh.value.data);
        self.bias.clear();
        self.bias.extend(bi.iter().zip(bh).enumerate().map(|(k, (&a, &b))| if gru && k >= 2 * hs { a } else { a + b }));
        self.bhn.clear();
        if gru {
            self.bhn.extend_from_slice(&bh[2 * hs..]);
        }
        self.gates.reshape_for(tb, gh);
        self.h.reshape_for(tb, hs);
        self.c.reshape_for(if lstm { tb } else { 0 }, hs);
        self.tc.reshape_for(if lstm { tb } else { 0 }, hs);
        self.hn.reshape_for(if gru { tb } else { 0 }, hs);
        self.step.reshape_for(if gru { batch } else { 0 }, gh);
        self.zeros.clear();
        self.zeros.resize(batch * hs, F::zero());
        if tb == 0 {
            return;
        }

        // The input projection of all steps: one GEMM, (T*B) x in times in x G*H.
        let rows = ranges(tb, par.blocks(tb, tb * nin * gh));
        let w_ih = View::of(&self.w_ih.value).t();
        let items: Vec<_> = split_rows(&mut self.gates.data, gh, &rows).into_iter().zip(rows.iter().copied()).collect();
        par_for(par.threads, items, |(out, (r0, r1))| {
            matmul_strided_into(out, gh, 1, View::new(&x.data[r0 * nin..], r1 - r0, nin, nin, 1), w_ih, false);
        });

        // The recurrence, batch rows cut into lanes.
        let parts = ranges(batch, par.lanes(batch, tb * hs * gh));
        let gates = lanes(&mut self.gates.data, time, batch, gh, &parts);
        let h = lanes(&mut self.h.data, time, batch, hs, &parts);
        let c = lanes(&mut self.c.data, time, batch, hs, &parts);
        let tc = lanes(&mut self.tc.data, time, batch, hs, &parts);
        let hn = lanes(&mut self.hn.data, time, batch, hs, &parts);
        let step = split_rows(&mut self.step.data, gh, &parts);
        let it = gates.into_iter().zip(h).zip(c).zip(tc).zip(hn).zip(step).zip(&parts);
        let items: Vec<_> = it
            .map(|((((((gates, h), c), tc), hn), step), &(b0, b1))| FwdLane {
                rows: b1 - b0,
                gates,
                h,
                c,
                tc,
                hn,
                step,
            })
            .collect();
        let fwd = Fwd {
            cell,
            reverse: self.reverse,
            hs,
            time,
            w_hh_t: &self.w_hh_t,
            bias: &self.bias,
            bhn: &self.bhn,
            zeros: &self.zeros,
        };
        par_for(par.threads, items, |lane| fwd.run(lane));
    }

    /// Backward through time for the last forward. `x` is that forward's input, `dy` the
    /// gradient of the layer's output (`(T*B) x W`, this direction's columns start at `dcol`).
    /// Writes (or, with `acc_dx`, adds) dL/dx into `dx` (skipped when None) and accumulates the
    /// parameter gradients.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &mut self,
        cell: CellKind,
        x: &Mat<F>,
        dy: &Mat<F>,
        dcol: usize,
        dx: Option<&mut Mat<F>>,
        acc_dx: bool,
        trunc: Option<usize>,
        taps: bool,
        par: Par,
    ) {
        let (time, batch) = (self.time, self.batch);
        let (hs, gh, nin, tb) = (self.hidden(), self.w_hh.value.rows, x.cols, time * batch);
        let (lstm, gru) = (cell == CellKind::Lstm, cell == CellKind::Gru);
        assert_eq!(
            (dy.rows, x.rows, dx.as_ref().map_or(tb, |d| d.rows), dx.as_ref().map_or(nin, |d| d.cols)),
            (tb, tb, tb, nin),
            "rnn backward: shapes differ from the forward"
        );
        self.dg.reshape_for(tb, gh);
        self.dgh.reshape_for(if gru { tb } else { 0 }, gh);
        self.dh.reshape_for(batch, hs);
        self.dc.reshape_for(if lstm { batch } else { 0 }, hs);
        self.taps_h.reshape_for(if taps { tb } else { 0 }, hs);
        self.taps_c.reshape_for(if taps && lstm { tb } else { 0 }, hs);
        if tb == 0 {
            return;
        }

        // The recurrence, backwards: per step one fused pass and one GEMM for dL/dh_{t-1}.
        let parts = ranges(batch, par.lanes(batch, tb * hs * gh));
        let dg = lanes(&mut self.dg.data, time, batch, gh, &parts);
        let dgh = lanes(&mut self.dgh.data, time, batch, gh, &parts);
        let tap_h = lanes(&mut self.taps_h.data, time, batch, hs, &parts);
        let tap_c = lanes(&mut self.taps_c.data, time, batch, hs, &parts);
        let dh = split_rows(&mut self.dh.data, hs, &parts);
        let dc = split_rows(&mut self.dc.data, hs, &parts);
        let np = parts.len();
        self.db.reshape_for(np, gh);
        self.dbh.reshape_for(if gru { np } else { 0 }, gh);
        let lane_ranges: Vec<(usize, usize)> = (0..np).map(|p| (p, p + 1)).collect();
        let db = split_rows(&mut self.db.data, gh, &lane_ranges);
        let dbh = split_rows(&mut self.dbh.data, gh, &lane_ranges);
        let it = dg.into_iter().zip(dgh).zip(tap_h).zip(tap_c).zip(dh).zip(dc).zip(db).zip(dbh).zip(&parts);
        let items: Vec<_> = it
            .map(|((((((((dg, dgh), tap_h), tap_c), dh), dc), db), dbh), &(b0, b1))| BwdLane {
                b0,
                rows: b1 - b0,
                dg,
                dgh,
                tap_h,
                tap_c,
                dh,
                dc,
                db,
                dbh,
            })
            .collect();
        let bwd = Bwd {
            cell,
            reverse: self.reverse,
            hs,
            time,
            batch,
            trunc,
            taps,
            w_hh: &self.w_hh.value,
            gates: &self.gates,
            h: &self.h,
            c: &self.c,
            tc: &self.tc,
            hn: &self.hn,
            zeros: &self.zeros,
            dy,
            dcol,
        };
        par_for(par.threads, items, |lane| bwd.run(lane));
        let dbh = if gru { &self.dbh } else { &self.db };
        for (bias, sums) in [(&mut self.b_ih.grad.data, &self.db), (&mut self.b_hh.grad.data, dbh)] {
            for row in sums.data.chunks_exact(gh) {
                bias.iter_mut().zip(row).for_each(|(g, d)| *g += *d);
            }
        }

        // After the loop, over all steps at once: dW_hh = dz_hh^T [h_{t-1}] (the first step
        // processed has h_{t-1} = 0 and drops out), dW_ih = dz^T x, dx = dz W_ih.
        // Threads split the gate rows of the weight gradients and the rows of dx.
        let (dg, h, w_ih) = (&self.dg, &self.h, &self.w_ih.value);
        let dgh = if gru { &self.dgh } else { &self.dg };
        let k_rows = (time - 1) * batch;
        let (g_row0, h_row0) = if self.reverse { (0, batch) } else { (batch, 0) };
        let pg = ranges(gh, par.blocks(gh, tb * gh * (hs + 2 * nin)));
        let pr = ranges(tb, pg.len());
        let it = split_rows(&mut self.w_hh.grad.data, hs, &pg).into_iter();
        let it = it.zip(split_rows(&mut self.w_ih.grad.data, nin, &pg));
        let want_dx = dx.is_some();
        let mut none = Vec::new();
        let dx_data = dx.map_or(&mut none, |d| &mut d.data);
        let it = it.zip(split_rows(dx_data, nin, &pr)).zip(pg.iter().copied()).zip(pr.iter().copied());
        let items: Vec<_> = it.collect();
        par_for(par.threads, items, |((((gw_hh, gw_ih), dxr), (g0, g1)), (r0, r1))| {
            let gw = g1 - g0;
            if k_rows > 0 && gw > 0 {
                let a = View::new(&dgh.data[g_row0 * gh + g0..], k_rows, gw, gh, 1).t();
                let b = View::new(&h.data[h_row0 * hs..], k_rows, hs, hs, 1);
                matmul_strided_into(gw_hh, hs, 1, a, b, true);
            }
            if gw > 0 {
                let a = View::new(&dg.data[g0..], tb, gw, gh, 1).t();
                matmul_strided_into(gw_ih, nin, 1, a, View::of(x), true);
            }
            if want_dx && r1 > r0 {
                let a = View::new(&dg.data[r0 * gh..], r1 - r0, gh, gh, 1);
                matmul_strided_into(dxr, nin, 1, a, View::of(w_ih), acc_dx);
            }
        });
    }
}
