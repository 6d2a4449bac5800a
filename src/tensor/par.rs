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

/// The threads a run uses when nothing says otherwise: every core the process may use.
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `f` on every item, on at most `threads` threads: consecutive items go to the same
/// thread, the first group to this one. One thread (or one item) runs in order, spawning none.
/// The started threads' matrix-multiply work is added to this thread's count
/// (`tensor::matmul_macs`).
pub fn par_for<T: Send>(threads: usize, items: Vec<T>, f: impl Fn(T) + Sync) {
    let groups = threads.clamp(1, items.len().max(1));
    if groups == 1 {
        items.into_iter().for_each(f);
        return;
    }
    let mut cut: Vec<Vec<T>> = Vec::with_capacity(groups);
    let mut it = items.into_iter();
    let n = it.len();
    for (a, b) in ranges(n, groups) {
        cut.push(it.by_ref().take(b - a).collect());
    }
    let mut cut = cut.into_iter();
    let first = cut.next().unwrap_or_default();
    let macs: u64 = std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = cut
            .map(|group| {
                s.spawn(move || {
                    group.into_iter().for_each(f);
                    super::matmul_macs()
                })
            })
            .collect();
        first.into_iter().for_each(f);
        // A panic in a thread is passed on as it is.
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).sum()
    });
    super::gemm::add_macs(macs);
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
