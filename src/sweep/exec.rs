//! Running a plan's tasks with N worker processes: each task is a worker's `train` of its run
//! folder (which starts a run that has no checkpoint from its config.toml, and continues one
//! that has) and then its `probe` for the probes it lacks (`worker::Job`). Each run is one
//! single-threaded process (`--threads 1`): N workers fill N cores without oversubscribing
//! them. Results depend neither on how many run at once nor on the thread count.
//!
//! Children run in their own process group (a Ctrl-C reaches the engine, which passes one
//! SIGINT or SIGTERM on to each child: they checkpoint and stop) and get SIGTERM if the engine
//! dies.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cost::{fmt_duration, Costs};
use super::verify::Damage;
use super::worker::Job;
use super::{probe_file, progress, run_dir, Progress, Task};
use crate::files::write_atomic;
use crate::probe::ProbeKind;
use crate::train::StopFlag;

#[derive(Clone, Debug)]
pub struct ExecOptions {
    pub out: PathBuf,
    pub jobs: usize,
    pub data_dir: Option<PathBuf>,
    pub quiet: bool,
    /// The `depthlab` executable the workers run.
    pub exe: PathBuf,
    pub stop: Option<StopFlag>,
}

/// The engine stopped on a signal; the runs in progress wrote checkpoints.
#[derive(Debug, thiserror::Error)]
#[error("stopped by {}: the runs in progress wrote checkpoints; run the same command again to continue", crate::train::signal_name(*.signal))]
pub struct Stopped {
    pub signal: i32,
}

impl Stopped {
    /// 128 + the signal, as a shell reports a process a signal ended.
    pub fn exit_code(&self) -> u8 {
        (128 + self.signal).clamp(0, 255) as u8
    }
}

/// What a run of the engine did.
#[derive(Clone, Debug, Default)]
pub struct ExecReport {
    /// Tasks worked on / found done already.
    pub ran: usize,
    pub skipped: usize,
    /// Tasks that failed: (id and label, why).
    pub failed: Vec<(String, String)>,
    /// A signal stopped it (the signal's number).
    pub interrupted: Option<i32>,
    pub wall_s: f64,
}

/// What the workers share.
struct Shared {
    queue: VecDeque<usize>,
    running: Vec<Option<(usize, u32)>>,
    /// Workers holding a task (taken from the queue, not yet accounted for): a worker between
    /// taking a task and starting its child has no pid in `running` yet.
    active: usize,
    done: usize,
    failed: Vec<(String, String)>,
    interrupted: Option<i32>,
    /// Tasks found being run by another process (said once each).
    waiting: Vec<usize>,
    /// Estimated seconds of the tasks not done yet.
    left_s: f64,
    /// Estimated seconds of the tasks done, and the worker-seconds they took, to correct the
    /// estimate as runs finish.
    done_estimate_s: f64,
    busy_s: f64,
}

/// Run every task of `tasks` that is not done, `opts.jobs` at a time.
pub fn run(tasks: &[&Task], opts: &ExecOptions) -> ExecReport {
    let started = Instant::now();
    let todo: Vec<usize> = (0..tasks.len()).filter(|&i| !progress(&opts.out, tasks[i]).is_done()).collect();
    let skipped = tasks.len() - todo.len();
    let jobs = opts.jobs.max(1).min(todo.len().max(1));
    let costs = Costs::of(&opts.out, tasks);
    let shared = Arc::new(Mutex::new(Shared {
        queue: todo.iter().copied().collect(),
        running: vec![None; jobs],
        active: 0,
        done: 0,
        failed: Vec::new(),
        interrupted: None,
        waiting: Vec::new(),
        left_s: todo.iter().map(|&i| costs.seconds(tasks[i])).sum(),
        done_estimate_s: 0.0,
        busy_s: 0.0,
    }));
    let total = todo.len();
    let display = Display::new(opts.quiet, total, jobs);
    if total > 0 {
        display.line(format!(
            "{total} run{} to do ({skipped} already done), {jobs} at a time; about {} left",
            if total == 1 { "" } else { "s" },
            fmt_duration(shared.lock().unwrap().left_s / jobs as f64)
        ));
    }
    std::thread::scope(|scope| {
        for w in 0..jobs {
            let shared = shared.clone();
            let display = &display;
            let costs = &costs;
            scope.spawn(move || worker(w, tasks, opts, &shared, display, costs, jobs));
        }
        // Pass a stop request on to each running child, once, including children that start
        // after it (a worker that took its task just before the request).
        let mut forwarded: Vec<u32> = Vec::new();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let s = shared.lock().unwrap();
            let signal = opts.stop.as_ref().map_or(0, |f| f.load(Ordering::SeqCst));
            // Once stopping, the tasks left in the queue are not taken: waiting for the queue
            // to empty would wait forever.
            if s.active == 0 && (s.queue.is_empty() || signal != 0) {
                break;
            }
            if signal != 0 {
                for (_, pid) in s.running.iter().flatten() {
                    if !forwarded.contains(pid) {
                        forwarded.push(*pid);
                        // SAFETY: kill(2) on a child we started and have not yet reaped.
                        unsafe {
                            libc::kill(*pid as i32, signal);
                        }
                    }
                }
            }
        }
    });
    display.finish();
    let s = shared.lock().unwrap();
    ExecReport {
        ran: s.done,
        skipped,
        failed: s.failed.clone(),
        interrupted: s
            .interrupted
            .or_else(|| opts.stop.as_ref().map(|f| f.load(Ordering::SeqCst)).filter(|&sig| sig != 0)),
        wall_s: started.elapsed().as_secs_f64(),
    }
}

fn worker(
    w: usize,
    tasks: &[&Task],
    opts: &ExecOptions,
    shared: &Mutex<Shared>,
    display: &Display,
    costs: &Costs,
    jobs: usize,
) {
    loop {
        let stopping = opts.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst) != 0);
        let taken = if stopping {
            None
        } else {
            let mut s = shared.lock().unwrap();
            let i = s.queue.pop_front();
            s.active += usize::from(i.is_some());
            i
        };
        let Some(i) = taken else {
            return;
        };
        let t = tasks[i];
        let name = format!("{} ({})", t.label(), t.id);
        display.worker(w, &name);
        let begun = Instant::now();
        let result = run_task(t, opts, display, |pid| shared.lock().unwrap().running[w] = pid.map(|p| (i, p)));
        let mut s = shared.lock().unwrap();
        s.running[w] = None;
        s.active -= 1;
        if let Err(TaskError::Busy(holder)) = &result {
            // Another engine runs it: look again once the others are taken.
            if !s.waiting.contains(&i) {
                s.waiting.push(i);
                display.line(format!("{name}: being run by another process ({holder}); waiting for it"));
            }
            s.queue.push_back(i);
            drop(s);
            display.worker(w, "");
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let estimate = costs.seconds(t);
        s.left_s -= estimate;
        let secs = begun.elapsed().as_secs_f64();
        s.done_estimate_s += estimate;
        s.busy_s += secs;
        // How far off the estimates are takes over as work is done.
        let weight = (s.busy_s / 30.0).min(1.0);
        let factor = weight * s.busy_s / s.done_estimate_s.max(1e-3) + (1.0 - weight);
        match result {
            Ok(status) => {
                s.done += 1;
                let left = fmt_duration(s.left_s.max(0.0) * factor / jobs as f64);
                display.done(format!("{name}: {status} in {}; about {left} left", fmt_duration(secs)));
            }
            Err(TaskError::Interrupted(sig)) => {
                s.interrupted = Some(sig);
                display.line(format!("{name}: stopped by a signal (a checkpoint was written)"));
            }
            Err(TaskError::Failed(why)) => {
                display.line(format!("{name}: FAILED: {why}"));
                s.failed.push((name, why));
            }
            Err(TaskError::Busy(_)) => unreachable!("requeued above"),
        }
        display.worker(w, "");
    }
}

enum TaskError {
    Interrupted(i32),
    Failed(String),
    /// Another process is writing the run (its description).
    Busy(String),
}

/// Train (or continue) and probe one task; the status it ended with.
fn run_task(
    t: &Task,
    opts: &ExecOptions,
    display: &Display,
    mut running: impl FnMut(Option<u32>),
) -> Result<String, TaskError> {
    let dir = run_dir(&opts.out, &t.id);
    let cfg_path = dir.join("config.toml");
    match progress(&opts.out, t) {
        Progress::Done { status } => return Ok(format!("{status} (by another process)")),
        Progress::Busy(holder) => return Err(TaskError::Busy(holder)),
        Progress::Damaged(Damage::Run(what)) => {
            let aside = set_aside(&opts.out, &t.id).map_err(TaskError::Failed)?;
            display.line(format!("{}: damaged ({what}); moved to {} and run again", t.id, aside.display()));
        }
        Progress::Damaged(Damage::Probes(kinds, what)) => {
            for k in kinds {
                let p = dir.join("probes").join(probe_file(k));
                std::fs::remove_file(&p)
                    .map_err(|e| TaskError::Failed(format!("cannot remove {}: {e}", p.display())))?;
            }
            display.line(format!("{}: damaged ({what}); probing it again", t.id));
        }
        _ => {}
    }
    if !cfg_path.is_file() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| TaskError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        write_atomic(&cfg_path, t.config.to_toml().as_bytes())
            .map_err(|e| TaskError::Failed(format!("cannot write {}: {e}", cfg_path.display())))?;
    }
    if t.train && matches!(progress(&opts.out, t), Progress::Missing | Progress::Started) {
        child(opts, &Job::Train { dir: dir.clone(), stop_after: None }, &mut running)?;
    }
    let status = match progress(&opts.out, t) {
        Progress::Done { status } => return Ok(status),
        Progress::Trained { status } => status,
        Progress::Busy(holder) => return Err(TaskError::Busy(holder)),
        Progress::Damaged(d) => {
            return Err(TaskError::Failed(format!("the run is damaged after training: {}", d.what())))
        }
        Progress::Missing | Progress::Started if t.train => {
            return Err(TaskError::Failed("the run ended without a summary".into()));
        }
        _ => "initialisation".to_string(),
    };
    let what: Vec<ProbeKind> =
        t.probes.iter().copied().filter(|p| !dir.join("probes").join(probe_file(*p)).is_file()).collect();
    let input = if t.train { dir.clone() } else { cfg_path };
    child(opts, &Job::Probe { input, what, out: dir.join("probes") }, &mut running)?;
    Ok(if t.train { format!("{status}, probed") } else { "probed at initialisation".into() })
}

/// Move a damaged run's folder out of the way (OUT/damaged/ID.N), keeping what it held: the
/// engine then runs it again from its config, to the same result as an uninterrupted run.
fn set_aside(out: &Path, id: &str) -> Result<PathBuf, String> {
    let dir = run_dir(out, id);
    let damaged = out.join("damaged");
    std::fs::create_dir_all(&damaged).map_err(|e| format!("cannot create {}: {e}", damaged.display()))?;
    let to = (0..).map(|n| damaged.join(format!("{id}.{n}"))).find(|p| !p.exists()).expect("a free name");
    std::fs::rename(&dir, &to).map_err(|e| format!("cannot move {} to {}: {e}", dir.display(), to.display()))?;
    Ok(to)
}

/// Run a worker process for `job` to the end; its stderr's last lines are the error when it
/// fails.
fn child(opts: &ExecOptions, job: &Job, running: &mut impl FnMut(Option<u32>)) -> Result<(), TaskError> {
    use std::os::unix::process::ExitStatusExt;
    let mut c = Command::new(&opts.exe);
    c.args(job.command(opts.data_dir.as_deref()));
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).env("CI", "1");
    // Its own process group: a terminal's Ctrl-C goes to the engine, which passes it on once.
    c.process_group(0);
    // SAFETY: prctl is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut ch = c.spawn().map_err(|e| TaskError::Failed(format!("cannot start {}: {e}", opts.exe.display())))?;
    running(Some(ch.id()));
    let mut err = String::new();
    if let Some(mut s) = ch.stderr.take() {
        use std::io::Read;
        let _ = s.read_to_string(&mut err);
    }
    let status = ch.wait().map_err(|e| TaskError::Failed(e.to_string()));
    running(None);
    let status = status?;
    let tail = || {
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join(" / ")
    };
    let line =
        || job.command(opts.data_dir.as_deref()).iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(c @ (130 | 143)), _) => Err(TaskError::Interrupted(c - 128)),
        (Some(c), _) if c == i32::from(super::worker::BUSY) => {
            Err(TaskError::Busy(tail().trim_start_matches("error: ").to_string()))
        }
        (Some(code), _) => Err(TaskError::Failed(format!("`{}` exited with status {code}: {}", line(), tail()))),
        (None, Some(sig)) => Err(TaskError::Failed(format!(
            "`{}` was killed by {}{}",
            line(),
            crate::train::signal_name(sig),
            if err.trim().is_empty() { String::new() } else { format!(": {}", tail()) }
        ))),
        (None, None) => Err(TaskError::Failed(format!("`{}` ended without a status: {}", line(), tail()))),
    }
}

/// Progress for a person: bars on a terminal, one line per finished task otherwise.
struct Display {
    quiet: bool,
    multi: Option<(indicatif::MultiProgress, indicatif::ProgressBar, Vec<indicatif::ProgressBar>)>,
}

impl Display {
    fn new(quiet: bool, total: usize, jobs: usize) -> Display {
        let tty = !quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let multi = (tty && total > 0).then(|| {
            let m = indicatif::MultiProgress::new();
            let main = m.add(indicatif::ProgressBar::new(total as u64));
            main.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {elapsed} elapsed").unwrap(),
            );
            let workers = (0..jobs)
                .map(|_| {
                    let b = m.add(indicatif::ProgressBar::new_spinner());
                    b.set_style(indicatif::ProgressStyle::with_template("  {spinner} {msg}").unwrap());
                    b.enable_steady_tick(Duration::from_millis(200));
                    b
                })
                .collect();
            (m, main, workers)
        });
        Display { quiet, multi }
    }

    fn line(&self, msg: String) {
        match &self.multi {
            _ if self.quiet => {}
            Some((m, _, _)) => {
                let _ = m.println(msg);
            }
            // A closed stderr must not stop the runs.
            None => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "{msg}");
            }
        }
    }

    fn done(&self, msg: String) {
        if let Some((_, main, _)) = &self.multi {
            main.inc(1);
        }
        self.line(msg);
    }

    fn worker(&self, w: usize, what: &str) {
        if let Some((_, _, workers)) = &self.multi {
            workers[w].set_message(what.to_string());
        }
    }

    fn finish(&self) {
        if let Some((m, main, workers)) = &self.multi {
            workers.iter().for_each(|b| b.finish_and_clear());
            main.finish_and_clear();
            let _ = m.clear();
        }
    }
}
