//! Deterministic parallel loops: the caller cuts its work into items from the problem's shape
//! alone; `par_for` only decides which thread runs which items. So a result never depends on
//! the number of threads, as long as every reduction over items runs in item order.

/// `0..n` in `p` contiguous, nearly equal ranges.
pub fn ranges(n: usize, p: usize) -> Vec<(usize, usize)> {
    (0..p).map(|i| (i * n / p, (i + 1) * n / p)).collect()
}

/// The row ranges (consecutive, covering `data`) of a `rows x cols` buffer as disjoint slices;
/// an empty buffer gives empty slices.
pub fn split_rows<'a, F>(data: &'a mut [F], cols: usize, ranges: &[(usize, usize)]) -> Vec<&'a mut [F]> {
    if data.is_empty() {
        return ranges.iter().map(|_| <&mut [F]>::default()).collect();
    }
    let mut out = Vec::with_capacity(ranges.len());
    let mut rest = data;
    for &(a, b) in ranges {
        let (head, tail) = rest.split_at_mut((b - a) * cols);
        out.push(head);
        rest = tail;
    }
    out
}

/// Values an elementwise pass must have before it is shared among threads (some 5-10 us of
/// work, against about 1 us to hand a share to a kept worker).
const ELEMENTWISE_MIN: usize = 1 << 14;

/// `0..n` in nearly equal ranges of whole `unit`s (rows), one per thread; small passes stay
/// whole. An elementwise result does not depend on the split.
pub fn elementwise_parts(threads: usize, n: usize, unit: usize) -> Vec<(usize, usize)> {
    let units = n / unit.max(1);
    let p = elementwise_threads(threads, n).min(units.max(1));
    ranges(units, p).into_iter().map(|(a, b)| (a * unit, if b == units { n } else { b * unit })).collect()
}

/// The threads among which an elementwise pass over `n` values is worth sharing: 1 for a
/// small one.
pub fn elementwise_threads(threads: usize, n: usize) -> usize {
    if n < ELEMENTWISE_MIN {
        1
    } else {
        threads.max(1)
    }
}

/// The threads a run uses when nothing says otherwise: every core the process may use.
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `f` on every item, on at most `threads` threads: consecutive items go to the same
/// thread, the first group to this one, the others to the process's kept workers
/// (`tensor::pool`). One thread (or one item, or a call from inside another `par_for`) runs in
/// order here. The workers' matrix-multiply work is added to this thread's count
/// (`tensor::matmul_macs`).
pub fn par_for<T: Send>(threads: usize, items: Vec<T>, f: impl Fn(T) + Sync) {
    let groups = threads.clamp(1, items.len().max(1));
    if groups == 1 || super::pool::in_share() {
        items.into_iter().for_each(f);
        return;
    }
    let mut it = items.into_iter();
    let n = it.len();
    let cut: Vec<std::sync::Mutex<Vec<T>>> =
        ranges(n, groups).into_iter().map(|(a, b)| std::sync::Mutex::new(it.by_ref().take(b - a).collect())).collect();
    let macs =
        super::pool::run(groups, groups, &|g| std::mem::take(&mut *cut[g].lock().unwrap()).into_iter().for_each(&f));
    super::gemm::add_macs(macs);
}

thread_local! {
    /// Threads the work started on this thread may use (`with_threads`).
    static THREADS: std::cell::Cell<usize> = const { std::cell::Cell::new(1) };
}

/// Run `f` with this thread's work shared among `threads` threads: its matrix products (see
/// `tensor::matmul_strided_into`), the elementwise passes that ask `current_threads`, the
/// optimizer's update. A model sets it around its forward and backward passes, so that the
/// thread count need not be handed through every layer's signature.
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    let old = THREADS.with(|t| t.replace(threads.max(1)));
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREADS.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(old);
    f()
}

/// The threads this thread's work may use now: 1 inside a `par_for` item, whose threads are
/// already busy.
pub fn current_threads() -> usize {
    if super::pool::in_share() {
        1
    } else {
        THREADS.with(|t| t.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn ranges_cover_in_order() {
        assert_eq!(ranges(10, 3), vec![(0, 3), (3, 6), (6, 10)]);
        assert_eq!(ranges(2, 4), vec![(0, 0), (0, 1), (1, 1), (1, 2)]);
    }

    #[test]
    fn every_item_runs_once_whatever_the_thread_count() {
        for threads in [0, 1, 2, 3, 8, 50] {
            let seen = Mutex::new(Vec::new());
            par_for(threads, (0..17).collect(), |i: usize| seen.lock().unwrap().push(i));
            let mut seen = seen.into_inner().unwrap();
            seen.sort();
            assert_eq!(seen, (0..17).collect::<Vec<_>>(), "threads = {threads}");
        }
        par_for(4, Vec::<usize>::new(), |_| panic!("no items"));
    }

    #[test]
    fn the_threads_matrix_work_counts_for_the_caller() {
        use crate::tensor::{matmul, matmul_macs, Mat, View};
        let (a, b) = (Mat::<f32>::zeros(4, 3), Mat::<f32>::zeros(3, 5));
        for threads in [1, 3] {
            let before = matmul_macs();
            par_for(threads, (0..6).collect(), |_: usize| {
                matmul(View::of(&a), View::of(&b));
            });
            assert_eq!(matmul_macs() - before, 6 * 4 * 3 * 5, "threads = {threads}");
        }
    }

    #[test]
    fn one_thread_runs_in_order_on_the_caller() {
        let me = std::thread::current().id();
        let seen = Mutex::new(Vec::new());
        par_for(1, (0..5).collect(), |i: usize| {
            assert_eq!(std::thread::current().id(), me);
            seen.lock().unwrap().push(i)
        });
        assert_eq!(seen.into_inner().unwrap(), vec![0, 1, 2, 3, 4]);
    }
}
