//! Worker threads kept for the whole process, for `par::par_for`.
//!
//! A matrix product of a 50-layer MLP takes 10-15 us; starting and joining a thread costs about
//! as much, so threads started per call cannot share it. These workers stay: after a job each
//! spins for a short while (the next product comes within microseconds), then parks. Also used
//! directly by `matmul_strided_into` for its pieces.
//!
//! A caller claims idle workers for one call and posts them the job; the caller and the workers
//! then take its shares one at a time until none is left. A worker that has not begun when they
//! run out (descheduled, its core taken by another process) is not waited for; one that has
//! begun is, so a job may borrow the caller's stack. Where there are more shares than threads, a
//! thread that runs slower takes fewer. A worker some other caller holds is not waited for: its
//! shares run on the caller. Waiting threads yield the core, so that a machine with fewer free
//! cores than threads runs at about one thread's speed rather than far below it. Which thread
//! runs a share never changes a result (see `par`).

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks: long enough to bridge the gaps between the
/// products of one training step, short enough to leave the core alone between steps.
const SPIN: Duration = Duration::from_micros(200);

/// Workers the process may start at most, per core (they only grow past one fewer than the
/// cores when callers run side by side).
const WORKERS_PER_CORE: usize = 2;

/// A job: run `f(i)` for every share `i` that `next` hands out below `shares`.
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(usize) + Sync),
    next: *const AtomicUsize,
    shares: usize,
}

struct Slot {
    /// Held by the caller that posts to this worker, from claim to collection.
    claimed: AtomicBool,
    /// Jobs posted and jobs finished; the worker runs while they differ.
    posted: AtomicU64,
    finished: AtomicU64,
    /// Whether the worker has begun the posted job, set by the worker, or by the caller once the
    /// shares have run out: whoever sets it first decides. When the caller did, the worker never
    /// touches the job and releases the slot itself.
    begun: AtomicBool,
    job: UnsafeCell<Option<Job>>,
    /// What the last job left: its panic, and its thread's matrix-multiply work.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    macs: AtomicU64,
    thread: std::sync::OnceLock<Thread>,
}

// SAFETY: `job` is written only by the claiming caller before it bumps `posted` (Release), and
// read only by the worker after it sees that bump (Acquire); the caller does not touch it again
// until it has seen `finished` catch up.
unsafe impl Sync for Slot {}

static SLOTS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());

thread_local! {
    /// Whether this thread is running a share of a `run`: nested calls then run in order here.
    static IN_SHARE: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is inside a share of `run` (a worker, or a caller's own share).
pub fn in_share() -> bool {
    IN_SHARE.with(|c| c.get())
}

/// Run `f(0)`, ..., `f(shares - 1)` on this thread and up to `threads - 1` workers (as many idle
/// ones as are to be had), each taking the next share not yet taken. Returns the workers'
/// matrix-multiply work. A panic in any share is raised here once every share has ended.
pub fn run(threads: usize, shares: usize, f: &(dyn Fn(usize) + Sync)) -> u64 {
    if threads <= 1 || shares <= 1 || in_share() {
        (0..shares).for_each(f);
        return 0;
    }
    let workers = claim(threads.min(shares) - 1);
    let next = AtomicUsize::new(0);
    // SAFETY: the job outlives its use: a worker dereferences it only after winning `begun`, and
    // every worker that won is waited for below, panics included, before this returns.
    let erased: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
    for slot in &workers {
        unsafe { *slot.job.get() = Some(Job { f: erased, next: &next, shares }) };
        slot.begun.store(false, Ordering::SeqCst);
        slot.posted.fetch_add(1, Ordering::SeqCst);
        if let Some(t) = slot.thread.get() {
            t.unpark();
        }
    }
    let mut panic = as_share(|| take_shares(&next, shares, f));
    // Workers that have not begun by now are not waited for; they release their slots.
    let begun: Vec<bool> = workers.iter().map(|slot| slot.begun.swap(true, Ordering::SeqCst)).collect();
    let mut macs = 0;
    for (slot, _) in workers.iter().zip(&begun).filter(|(_, &b)| b) {
        wait_finished(slot);
        macs += slot.macs.load(Ordering::Acquire);
        if let Some(p) = slot.panic.lock().unwrap().take() {
            panic.get_or_insert(p);
        }
        slot.claimed.store(false, Ordering::Release);
    }
    if let Some(p) = panic {
        resume_unwind(p);
    }
    macs
}

/// Run the shares `next` hands out until there are none left, or one panics.
fn take_shares(next: &AtomicUsize, shares: usize, f: &(dyn Fn(usize) + Sync)) -> Option<Box<dyn Any + Send>> {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= shares {
            return None;
        }
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(i))) {
            return Some(p);
        }
    }
}

fn as_share<R>(f: impl FnOnce() -> R) -> R {
    IN_SHARE.with(|c| c.set(true));
    let r = f();
    IN_SHARE.with(|c| c.set(false));
    r
}

/// Up to `n` idle workers, claimed; new ones are started while there are too few.
fn claim(n: usize) -> Vec<&'static Slot> {
    let mut got = Vec::with_capacity(n);
    let mut slots = SLOTS.lock().unwrap();
    for slot in slots.iter() {
        if got.len() == n {
            return got;
        }
        if slot.claimed.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            got.push(*slot);
        }
    }
    // Asking for the cores reads cgroup files: once is enough.
    static MOST: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let most = *MOST.get_or_init(|| WORKERS_PER_CORE * super::par::all_cores());
    while got.len() < n && slots.len() < most {
        let slot: &'static Slot = Box::leak(Box::new(Slot {
            claimed: AtomicBool::new(true),
            posted: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            begun: AtomicBool::new(false),
            job: UnsafeCell::new(None),
            panic: Mutex::new(None),
            macs: AtomicU64::new(0),
            thread: std::sync::OnceLock::new(),
        }));
        let spawned = std::thread::Builder::new().name("depthlab-worker".into()).spawn(move || work(slot));
        match spawned {
            Ok(h) => {
                let _ = slot.thread.set(h.thread().clone());
                slots.push(slot);
                got.push(slot);
            }
            // No more threads to be had: the caller runs the rest itself.
            Err(_) => break,
        }
    }
    got
}

fn wait_finished(slot: &Slot) {
    let want = slot.posted.load(Ordering::Relaxed);
    let mut spins = 0u32;
    while slot.finished.load(Ordering::Acquire) != want {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            // The worker may share this core (a busy machine): let it run.
            std::thread::yield_now();
        }
    }
}

fn work(slot: &'static Slot) {
    IN_SHARE.with(|c| c.set(true));
    let mut seen = 0u64;
    loop {
        let idle_since = Instant::now();
        let mut spins = 0u32;
        while slot.posted.load(Ordering::Acquire) == seen {
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) {
                std::hint::spin_loop();
            } else if idle_since.elapsed() > SPIN {
                // An unpark between the check above and here makes park return at once.
                std::thread::park();
            } else {
                // Waiting, the core is given up to whatever else wants it (the caller, when
                // both share one core).
                std::thread::yield_now();
            }
        }
        seen = slot.posted.load(Ordering::Acquire);
        // SAFETY: see `Slot`.
        let job = unsafe { (*slot.job.get()).take() }.expect("a posted job");
        if slot.begun.swap(true, Ordering::SeqCst) {
            // The caller took the share back and returned without waiting: this slot is ours
            // to release.
            slot.finished.store(seen, Ordering::Release);
            slot.claimed.store(false, Ordering::Release);
            continue;
        }
        let before = super::matmul_macs();
        // SAFETY: the caller waits for `finished` before its job's borrows end.
        let panic = unsafe { take_shares(&*job.next, job.shares, &*job.f) };
        slot.macs.store(super::matmul_macs() - before, Ordering::Relaxed);
        if let Some(p) = panic {
            *slot.panic.lock().unwrap() = Some(p);
        }
        slot.finished.store(seen, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_share_runs_once_and_panics_come_back() {
        for shares in [0, 1, 2, 5] {
            let ran: Vec<AtomicUsize> = (0..shares).map(|_| AtomicUsize::new(0)).collect();
            run(shares, shares, &|i| {
                ran[i].fetch_add(1, Ordering::SeqCst);
            });
            assert!(ran.iter().all(|r| r.load(Ordering::SeqCst) == 1), "shares = {shares}");
        }
        let caught = catch_unwind(|| run(3, 3, &|i| assert_ne!(i, 2, "share two fails")));
        assert!(caught.is_err());
        // The pool still works after a panic.
        let sum = AtomicUsize::new(0);
        run(3, 3, &|i| {
            sum.fetch_add(i, Ordering::SeqCst);
        });
        assert_eq!(sum.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn nested_runs_stay_on_their_thread() {
        let count = AtomicUsize::new(0);
        run(2, 2, &|_| {
            let me = std::thread::current().id();
            run(3, 3, &|_| {
                assert_eq!(std::thread::current().id(), me);
                count.fetch_add(1, Ordering::SeqCst);
            });
        });
        assert_eq!(count.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn callers_side_by_side_share_the_workers() {
        std::thread::scope(|s| {
            for t in 0..4 {
                s.spawn(move || {
                    for round in 0..200 {
                        let got: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
                        run(3, 3, &|i| {
                            got[i].fetch_add(t * 1000 + round, Ordering::SeqCst);
                        });
                        assert!(got.iter().all(|g| g.load(Ordering::SeqCst) == t * 1000 + round));
                    }
                });
            }
        });
    }
}
