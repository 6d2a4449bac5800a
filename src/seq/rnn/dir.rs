//! One direction of one layer: its four parameters, its forward and backward through time, and
//! the buffers both keep (reused across calls).
//!
//! Time blocks: both passes run the recurrence a block of steps at a time (`Par::block_rows`
//! rows of the time-major buffers, from the batch size alone). The forward projects a block's
//! inputs just before its steps, and the backward runs a block's weight- and input-gradient
//! products just after them, so that the block's pre-activations and gate gradients are used
//! while they are still in cache. Done once over the whole sequence, the projection and the
//! gate gradients were written and read back through main memory: at T = 100 an LSTM step's
//! buffers were some 18 MB at batch 32 and 36 MB at batch 64, and each example-step cost ~20%
//! more than at T = 25 (BENCHMARKS.md).
//!
//! Threads: sequences of a batch are independent, so the recurrence is split by batch rows into
//! lanes — each lane runs a block's steps for its rows, without synchronisation. Lanes are cut
//! from the problem's shape alone, never from the thread count, and the bias-gradient sums over
//! them are added in lane order. The products between blocks are shared by `tensor::gemm`,
//! which cuts only where a cut product is the whole one bit for bit. So results are
//! bit-identical whatever the number of threads.

use super::cell::{col_sums, gru_bwd, gru_fwd, lstm_bwd, lstm_fwd, rnn_bwd, rnn_fwd, StepGrad};
use super::CellKind;
use crate::nn::Param;
use crate::tensor::par::{par_for, ranges, split_rows, with_threads};
use crate::tensor::{matmul_strided_into, Mat, Real, View};

/// How a direction's passes are cut and how many threads may work on them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Par {
    pub threads: usize,
    /// Multiply-adds a lane of the recurrence should get; 0: cut whenever there are rows.
    pub min_work: usize,
    /// Batch rows per lane of the recurrence (at most).
    pub lane_rows: usize,
    /// Rows (steps x batch) per time block, at least one step.
    pub block_rows: usize,
}

impl Par {
    /// Into how many lanes to cut `batch` rows of a recurrence of `work` multiply-adds.
    fn lanes(&self, batch: usize, work: usize) -> usize {
        let by_rows = batch.div_ceil(self.lane_rows.max(1)).max(1);
        let by_work = work.checked_div(self.min_work).map_or(by_rows, |w| w.max(1));
        by_rows.min(by_work)
    }

    /// Steps per time block at `batch` rows a step.
    fn block_steps(&self, batch: usize) -> usize {
        (self.block_rows / batch.max(1)).max(1)
    }
}

/// The time blocks of a pass over `time` steps, `sb` steps each, in processing order `s`: block
/// `j` holds steps `s0..s1` as processed, which are steps `t0..t1` in time (the reverse
/// direction processes t = T-1 first).
fn block(j: usize, sb: usize, time: usize, reverse: bool) -> (usize, usize, usize, usize) {
    let (s0, s1) = (j * sb, ((j + 1) * sb).min(time));
    let (t0, t1) = if reverse { (time - s1, time - s0) } else { (s0, s1) };
    (s0, s1, t0, t1)
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
    /// After forward, `(T*B) x G*H`: the gate activations (LSTM [i f g o], GRU [r z n]; none for
    /// vanilla RNNs, whose backward needs only h).
    pub gates: Mat<F>,
    /// `(T*B) x H` hidden states, cell states (LSTM), W_hn h + b_hn (GRU).
    pub h: Mat<F>,
    pub c: Mat<F>,
    hn: Mat<F>,
    /// Forward: one time block's pre-activations, `block rows x G*H`.
    pre: Mat<F>,
    /// GRU: the per-step recurrent product `B x G*H`.
    step: Mat<F>,
    /// Backward: one time block's pre-activation gradients of the input side and (GRU) of the
    /// recurrent side.
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
    hn: Vec<&'a mut [F]>,
    step: &'a mut [F],
}

impl<F: Real> Fwd<'_, F> {
    /// Steps `s0..s1` (in processing order) of one lane; `pre[t - t0]` holds the lane's rows of
    /// step t's input projection, to which the recurrent product is added.
    fn run(&self, l: &mut FwdLane<F>, (s0, s1, t0): (usize, usize, usize), mut pre: Vec<&mut [F]>) {
        let (hs, time, bp) = (self.hs, self.time, l.rows);
        let zeros = &self.zeros[..bp * hs];
        let w = View::of(self.w_hh_t);
        for s in s0..s1 {
            let t = if self.reverse { time - 1 - s } else { s };
            let tp = if self.reverse { t + 1 } else { t.wrapping_sub(1) };
            let p = &mut *pre[t - t0];
            match self.cell {
                CellKind::RnnTanh | CellKind::RnnRelu => {
                    if s > 0 {
                        matmul_strided_into(p, w.cols(), 1, View::new(l.h[tp], bp, hs, hs, 1), w, true);
                    }
                    rnn_fwd(self.cell == CellKind::RnnRelu, hs, p, self.bias, l.h[t]);
                }
                CellKind::Lstm => {
                    if s > 0 {
                        matmul_strided_into(p, w.cols(), 1, View::new(l.h[tp], bp, hs, hs, 1), w, true);
                    }
                    let (cp, ct): (&[F], &mut [F]) = if s > 0 {
                        let (a, b) = pair(&mut l.c, tp, t);
                        (a, b)
                    } else {
                        (zeros, &mut l.c[t])
                    };
                    lstm_fwd(hs, p, self.bias, cp, l.gates[t], ct, l.h[t]);
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
                    gru_fwd(hs, p, l.step, self.bias, self.bhn, hp, l.gates[t], l.hn[t], ht);
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
    hn: &'a Mat<F>,
    zeros: &'a [F],
    dy: &'a Mat<F>,
    dcol: usize,
}

/// One lane of the backward recurrence: its rows' carried gradients, bias sums and taps.
struct BwdLane<'a, F> {
    b0: usize,
    rows: usize,
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

    /// Steps `s1-1` down to `s0` (processing order) of one lane; `dg[t - t0]` (and `dgh`) get
    /// the lane's rows of step t's gate gradients.
    fn run(
        &self,
        l: &mut BwdLane<F>,
        (s0, s1, t0): (usize, usize, usize),
        mut dg: Vec<&mut [F]>,
        mut dgh: Vec<&mut [F]>,
    ) {
        let (hs, time, bp, b0) = (self.hs, self.time, l.rows, l.b0);
        let gh = self.w_hh.rows;
        let zeros = &self.zeros[..bp * hs];
        let BwdLane { tap_h, tap_c, dh, dc, db, dbh, .. } = l;
        let dy_rs = self.dy.cols;
        for s in (s0..s1).rev() {
            let t = if self.reverse { time - 1 - s } else { s };
            let tp = if self.reverse { t + 1 } else { t.wrapping_sub(1) };
            // Truncation: the carry from processing step s to s-1 is cut when (time - s) is a
            // multiple of k, i.e. the steps form blocks of k aligned to the last step processed.
            let carry = s > 0 && self.trunc.is_none_or(|k| (time - s) % k != 0);
            let g = StepGrad {
                dy: &self.dy.data[(t * self.batch + b0) * dy_rs + self.dcol..],
                dy_rs,
                dh,
                tap_h: &mut *tap_h[t],
            };
            let (dgt, dght) = (&mut *dg[t - t0], &mut *dgh[t - t0]);
            match self.cell {
                CellKind::RnnTanh | CellKind::RnnRelu => {
                    let relu = self.cell == CellKind::RnnRelu;
                    with_taps!(self.taps, rnn_bwd::<F>(relu, hs, g, self.rows(self.h, t, b0, bp), dgt));
                }
                CellKind::Lstm => {
                    let cp = if s > 0 { self.rows(self.c, tp, b0, bp) } else { zeros };
                    let (gates, ct) = (self.rows(self.gates, t, b0, bp), self.rows(self.c, t, b0, bp));
                    with_taps!(self.taps, lstm_bwd::<F>(hs, g, &mut **dc, &mut *tap_c[t], gates, cp, ct, dgt));
                }
                CellKind::Gru => {
                    let hp = if s > 0 { self.rows(self.h, tp, b0, bp) } else { zeros };
                    let (gates, hn) = (self.rows(self.gates, t, b0, bp), self.rows(self.hn, t, b0, bp));
                    with_taps!(self.taps, gru_bwd::<F>(hs, g, gates, hn, hp, dgt, dght));
                }
            }
            // The bias gradients, while this step's dz is in cache.
            let gru = self.cell == CellKind::Gru;
            col_sums(dgt, bp, gh, db);
            if gru {
                col_sums(dght, bp, gh, dbh);
            }
            if carry {
                // dL/dh_{t-1} (+)= dz_hh W_hh: one GEMM per step.
                let d: &[F] = if gru { dght } else { dgt };
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
            hn: e(),
            pre: e(),
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
        let sb = par.block_steps(batch).min(time);
        self.gates.reshape_for(if lstm || gru { tb } else { 0 }, gh);
        self.h.reshape_for(tb, hs);
        self.c.reshape_for(if lstm { tb } else { 0 }, hs);
        self.hn.reshape_for(if gru { tb } else { 0 }, hs);
        self.pre.reshape_for(sb * batch, gh);
        self.step.reshape_for(if gru { batch } else { 0 }, gh);
        self.zeros.clear();
        self.zeros.resize(batch * hs, F::zero());
        if tb == 0 {
            return;
        }

        // Batch rows cut into lanes, each holding its rows of every step's outputs.
        let parts = ranges(batch, par.lanes(batch, tb * hs * gh));
        let gates = lanes(&mut self.gates.data, time, batch, gh, &parts);
        let h = lanes(&mut self.h.data, time, batch, hs, &parts);
        let c = lanes(&mut self.c.data, time, batch, hs, &parts);
        let hn = lanes(&mut self.hn.data, time, batch, hs, &parts);
        let step = split_rows(&mut self.step.data, gh, &parts);
        let it = gates.into_iter().zip(h).zip(c).zip(hn).zip(step).zip(&parts);
        let mut lane_state: Vec<_> = it
            .map(|(((((gates, h), c), hn), step), &(b0, b1))| FwdLane { rows: b1 - b0, gates, h, c, hn, step })
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
        let w_ih = View::of(&self.w_ih.value).t();
        for j in 0..time.div_ceil(sb) {
            let (s0, s1, t0, t1) = block(j, sb, time, self.reverse);
            // The block's input projection, (steps*B) x in times in x G*H, then its steps.
            let rows = (t1 - t0) * batch;
            let pre = &mut self.pre.data[..rows * gh];
            let xb = View::new(&x.data[t0 * batch * nin..], rows, nin, nin, 1);
            with_threads(par.threads, || matmul_strided_into(pre, gh, 1, xb, w_ih, false));
            let pre = lanes(pre, t1 - t0, batch, gh, &parts);
            let items: Vec<_> = lane_state.iter_mut().zip(pre).collect();
            par_for(par.threads, items, |(lane, pre)| fwd.run(lane, (s0, s1, t0), pre));
        }
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
        mut dx: Option<&mut Mat<F>>,
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
        let sb = par.block_steps(batch).min(time);
        self.dg.reshape_for(sb * batch, gh);
        self.dgh.reshape_for(if gru { sb * batch } else { 0 }, gh);
        self.dh.reshape_for(batch, hs);
        self.dc.reshape_for(if lstm { batch } else { 0 }, hs);
        self.taps_h.reshape_for(if taps { tb } else { 0 }, hs);
        self.taps_c.reshape_for(if taps && lstm { tb } else { 0 }, hs);
        if tb == 0 {
            return;
        }

        // The lanes' state, kept from block to block.
        let parts = ranges(batch, par.lanes(batch, tb * hs * gh));
        let tap_h = lanes(&mut self.taps_h.data, time, batch, hs, &parts);
        let tap_c = lanes(&mut self.taps_c.data, time, batch, hs, &parts);
        self.dh.data.fill(F::zero());
        self.dc.data.fill(F::zero());
        let dh = split_rows(&mut self.dh.data, hs, &parts);
        let dc = split_rows(&mut self.dc.data, hs, &parts);
        let np = parts.len();
        self.db.reshape_for(np, gh);
        self.dbh.reshape_for(if gru { np } else { 0 }, gh);
        self.db.data.fill(F::zero());
        self.dbh.data.fill(F::zero());
        let lane_ranges: Vec<(usize, usize)> = (0..np).map(|p| (p, p + 1)).collect();
        let db = split_rows(&mut self.db.data, gh, &lane_ranges);
        let dbh = split_rows(&mut self.dbh.data, gh, &lane_ranges);
        let it = tap_h.into_iter().zip(tap_c).zip(dh).zip(dc).zip(db).zip(dbh).zip(&parts);
        let mut lane_state: Vec<_> = it
            .map(|((((((tap_h, tap_c), dh), dc), db), dbh), &(b0, b1))| BwdLane {
                b0,
                rows: b1 - b0,
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
            hn: &self.hn,
            zeros: &self.zeros,
            dy,
            dcol,
        };
        let (h, w_ih) = (&self.h, &self.w_ih.value);
        for j in (0..time.div_ceil(sb)).rev() {
            let (s0, s1, t0, t1) = block(j, sb, time, self.reverse);
            let rows = (t1 - t0) * batch;
            // The block's steps, backwards: per step one fused pass and one GEMM for
            // dL/dh_{t-1}.
            let dg = &mut self.dg.data[..rows * gh];
            let dgh = &mut self.dgh.data[..if gru { rows * gh } else { 0 }];
            let items: Vec<_> = lane_state
                .iter_mut()
                .zip(lanes(dg, t1 - t0, batch, gh, &parts))
                .zip(lanes(dgh, t1 - t0, batch, gh, &parts))
                .collect();
            par_for(par.threads, items, |((lane, dg), dgh)| bwd.run(lane, (s0, s1, t0), dg, dgh));

            // Then the block's share of dW_hh = sum_t dz_hh,t^T h_{t-1} (the first step
            // processed has h_{t-1} = 0 and drops out), dW_ih = dz^T x and dx = dz W_ih, while
            // its dz is in cache.
            let dg = &self.dg.data[..rows * gh];
            let dz_hh = if gru { &self.dgh.data[..rows * gh] } else { dg };
            // Steps of the block with a previous state: the first row of dz_hh and of h_{t-1}.
            let (with_prev, g_row, h_row) = if self.reverse {
                let t_end = t1.min(time - 1);
                (t_end.saturating_sub(t0), 0, (t0 + 1) * batch)
            } else {
                let t_start = t0.max(1);
                (t1.saturating_sub(t_start), (t_start - t0) * batch, (t_start - 1) * batch)
            };
            let (gw_hh, gw_ih) = (&mut self.w_hh.grad.data, &mut self.w_ih.grad.data);
            let dxb = dx.as_deref_mut().map(|d| &mut d.data[t0 * batch * nin..t1 * batch * nin]);
            with_threads(par.threads, || {
                if with_prev > 0 {
                    let k = with_prev * batch;
                    let a = View::new(&dz_hh[g_row * gh..], k, gh, gh, 1).t();
                    let b = View::new(&h.data[h_row * hs..], k, hs, hs, 1);
                    matmul_strided_into(gw_hh, hs, 1, a, b, true);
                }
                let a = View::new(dg, rows, gh, gh, 1);
                let xb = View::new(&x.data[t0 * batch * nin..], rows, nin, nin, 1);
                matmul_strided_into(gw_ih, nin, 1, a.t(), xb, true);
                if let Some(dxb) = dxb {
                    matmul_strided_into(dxb, nin, 1, a, View::of(w_ih), acc_dx);
                }
            });
        }
        let dbh = if gru { &self.dbh } else { &self.db };
        for (bias, sums) in [(&mut self.b_ih.grad.data, &self.db), (&mut self.b_hh.grad.data, dbh)] {
            for row in sums.data.chunks_exact(gh) {
                bias.iter_mut().zip(row).for_each(|(g, d)| *g += *d);
            }
        }
    }
}
