//! The `depthlab` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use depthlab::config::Config;
use depthlab::train::{self, RunOptions};

// What the command prints: a closed stdout or stderr (`depthlab ... | head -1`) must never stop
// the work or turn a finished command into a crash, so write errors are ignored.
macro_rules! out_line {
    ($($a:tt)*) => {{ use std::io::Write as _; let _ = writeln!(std::io::stdout(), $($a)*); }};
}
macro_rules! out_text {
    ($($a:tt)*) => {{ use std::io::Write as _; let _ = write!(std::io::stdout(), $($a)*); }};
}
macro_rules! err_line {
    ($($a:tt)*) => {{ use std::io::Write as _; let _ = writeln!(std::io::stderr(), $($a)*); }};
}

#[derive(Parser)]
#[command(
    name = "depthlab",
    version,
    about = "Build, train and look inside deep networks whose depth is made trainable by skip connections and gates"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model described by a TOML config; writes a run folder.
    Train {
        /// The config file (not needed with --resume, which reads the run's own).
        config: Option<PathBuf>,
        /// Override a config value, e.g. --set train.epochs=3 --set model.arch=plain
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// The run folder (default: runs/<config name>, numbered if taken).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the run in this folder from its last checkpoint.
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "sets", "out"])]
        resume: Option<PathBuf>,
        /// Folder holding data files (MNIST, Brown, text); default $DEPTHLAB_DATA, else ./data,
        /// ../shared/data and the user cache (docs/data.md).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Never download: a data set the run needs that is not there is an error saying what to
        /// run to get it (also DEPTHLAB_NO_DOWNLOAD=1; docs/data.md).
        #[arg(long)]
        no_download: bool,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Refuse a config whose estimated memory exceeds this (e.g. 2G, 500M; default: the
        /// memory available on this machine).
        #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
        max_memory: Option<u64>,
        /// Stop after N steps with a checkpoint, as if interrupted (for testing --resume).
        #[arg(long, hide = true)]
        stop_after: Option<usize>,
        /// Threads (default: train.threads, else every core); the results do not depend on it.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        threads: Option<u64>,
    },
    /// One forward and backward pass on a given batch, with weights by their PyTorch names:
    /// writes the loss, the outputs, every parameter gradient (`grad.<name>`) and the gradient
    /// at every block output (`act.<block>`) to a safetensors file (docs/pytorch.md).
    Grads {
        /// The model's config (its [model] section builds the net).
        #[arg(long)]
        config: PathBuf,
        /// Override a config value, e.g. --set model.depth=3
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Weights (safetensors, F32 or F64) named as the PyTorch state dict.
        #[arg(long)]
        weights: PathBuf,
        /// The batch (.npy): [batch, features], [batch, time, features] or int64 tokens [batch, time].
        #[arg(long)]
        input: PathBuf,
        /// Targets (.npy): int64 labels [batch] or [batch, time], or float [batch, out] (MSE).
        #[arg(long)]
        target: Option<PathBuf>,
        /// The targets a per-layer head names (model.layer_heads[j].target = NAME), as --target's.
        #[arg(long = "head-target", value_name = "NAME=FILE")]
        head_targets: Vec<String>,
        /// Where to write the tensors (safetensors, written atomically).
        #[arg(long)]
        out: PathBuf,
    },
    /// Look inside a model: gradient flow, mean-field theory, lesions, gates and a diagnosis.
    /// Input: a config (probed at initialisation, on the config's data) or a run folder (its
    /// config.toml and model.safetensors). Writes JSON and SVG files.
    Probe {
        /// A config file (CONFIG.toml) or a run folder (RUN_DIR).
        input: PathBuf,
        /// Probes, comma-separated: gradflow, meanfield, lesion, gates, paths, aux_share, jacobian,
        /// temporal, diagnosis (default: all that apply to the model).
        #[arg(long, value_name = "PROBES", value_delimiter = ',')]
        what: Vec<String>,
        /// Output folder (default: RUN_DIR/probes, or probes/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Training batches to average gradients and gates over.
        #[arg(long, default_value_t = 4)]
        batches: usize,
        /// Folder holding data files (MNIST, Brown, text); default $DEPTHLAB_DATA, else ./data,
        /// ../shared/data and the user cache (docs/data.md).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Threads (default: the config's train.threads, else every core); no probe's numbers
        /// depend on it.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        threads: Option<u64>,
    },
    /// Reproduce the seed's claims (../shared/CLAIMS.md): run each claim's experiment, apply its
    /// verdict rule and write one HTML report (OUT/report.html). Finished runs are kept: run it
    /// again to continue after an interruption.
    Reproduce {
        /// Claims to run (C1 .. C13, or their names, e.g. highway-vs-plain); default all.
        claims: Vec<String>,
        #[arg(long, value_enum, default_value = "quick")]
        scale: depthlab::lab::Scale,
        /// Seeds per configuration (default: each claim's own).
        #[arg(long)]
        seeds: Option<usize>,
        /// Run nothing to the end: train each distinct run for this many steps, measure its
        /// time per step, and print the core-hours each claim would take.
        #[arg(long, value_name = "STEPS")]
        measure_cost: Option<usize>,
        /// Then compare the outcomes with this verdicts.json (results/quick/verdicts.json):
        /// every claim's state, judged condition and seed outcome; exit 1 listing any that moved.
        #[arg(long, value_name = "VERDICTS")]
        expect: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Write the report of a suite folder (after `reproduce`, e.g. once every --shard is done);
    /// lists the runs that are missing, if any.
    Report {
        /// The suite folder (what `reproduce --out` was).
        dir: PathBuf,
        /// Only these claims (default: every claim the folder's suite has).
        claims: Vec<String>,
        /// Then compare the outcomes with this verdicts.json, as `reproduce --expect` does.
        #[arg(long, value_name = "VERDICTS")]
        expect: Option<PathBuf>,
    },
    /// Run a sweep: a base config, axes over any keys, seeds (SWEEP.toml); each run goes to
    /// OUT/runs/<id>, named by a hash of its config, and a finished run is never run again.
    /// `depthlab sweep collect DIR` tabulates the results.
    #[command(args_conflicts_with_subcommands = true)]
    Sweep {
        #[command(subcommand)]
        action: Option<SweepAction>,
        /// The sweep file.
        file: Option<PathBuf>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Time training steps of the reference workloads (BENCHMARKS.md): median and quartiles of
    /// ms per step after warm-up, the matrix-multiply GFLOP/s and its fraction of one core's
    /// measured GEMM peak, peak RSS.
    Bench {
        /// w1: 50-layer highway MLP, 784 -> 64, batch 128, tanh, cross-entropy, SGD momentum;
        /// w2: LSTM 32 -> 128, T = 100, batch 32, MSE on the last step, SGD; w3: TCN, input 2,
        /// 8 levels x 30 channels, kernel 7, T = 400, batch 32, adding problem; w4: GRU with
        /// W2's sizes; all: each in turn (each in its own process, so that peak RSS is its own).
        #[arg(value_parser = ["w1", "w2", "w3", "w4", "all"])]
        workload: String,
        /// Timed steps (after warm-up).
        #[arg(long, default_value_t = 200)]
        steps: usize,
        #[arg(long, default_value_t = 20)]
        warmup: usize,
        /// Threads (default 1, the setting the published comparisons start from).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        threads: u64,
        /// Batch size (default: the workload's own).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        batch: Option<u64>,
        /// Sequence length T of w2, w3, w4 (default: 100, 400, 100).
        #[arg(long)]
        t: Option<usize>,
        /// Also time each step with the telemetry of `[probe] gradflow_every = 1` on (gradient
        /// taps of every block output, and of every step for w2-w4, written as gradflow.jsonl
        /// records), alternating with plain steps: the ratio is the `probes x` column.
        #[arg(long)]
        probes: bool,
        /// One JSON line per workload instead of a table.
        #[arg(long)]
        json: bool,
        /// One core's peak GFLOP/s, already measured (what `all` passes to each workload).
        #[arg(long, hide = true)]
        peak_gflops: Option<f64>,
    },
    /// Data sets: `depthlab data fetch mnist|fashion-mnist|brown|austen [--dir DIR]` downloads and
    /// verifies them (docs/data.md).
    Data(depthlab::data::cli::DataArgs),
    /// What the run engine starts once per job (sweep::worker): `worker train RUN_DIR` or
    /// `worker probe INPUT --what A,B --out DIR`.
    #[command(hide = true)]
    Worker {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Subcommand)]
enum SweepAction {
    /// One table of every run under DIR (table.csv, table.jsonl: config keys and results), and
    /// with --metric and --by a plot of one against the other.
    Collect {
        dir: PathBuf,
        /// A column to plot (e.g. test_accuracy, final_train_loss, last_epoch.train_eval_loss).
        #[arg(long, requires = "by")]
        metric: Option<String>,
        /// The config key on the x axis (e.g. model.depth); lines for the other keys that vary.
        #[arg(long, requires = "metric")]
        by: Option<String>,
    },
}

/// How the run engine runs (sweep, reproduce).
#[derive(clap::Args)]
struct EngineArgs {
    /// Worker processes, each running one single-threaded run (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only share I of N (I from 0), for job arrays: Slurm, Kubernetes indexed Jobs, GNU
    /// parallel; every share writes to the same --out.
    #[arg(long, value_name = "I/N")]
    shard: Option<depthlab::sweep::Shard>,
    /// The folder of runs.
    #[arg(long)]
    out: Option<PathBuf>,
    /// List the runs, what is done and an estimate of the time left; run nothing.
    #[arg(long)]
    plan: bool,
    /// Folder holding data files (MNIST, Brown, text); default $DEPTHLAB_DATA, else ./data,
    /// ../shared/data and the user cache (docs/data.md).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Never download: data sets the runs need that are not there are one error before any run
    /// starts, saying what to run to get them (also DEPTHLAB_NO_DOWNLOAD=1; docs/data.md).
    #[arg(long)]
    no_download: bool,
    /// Find or fetch the data sets the runs need, then stop (before a job array whose nodes are
    /// offline: examples/slurm).
    #[arg(long, conflicts_with = "no_download")]
    fetch_only: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

impl EngineArgs {
    /// The engine these flags ask for, its workers this executable.
    fn engine(&self) -> Result<depthlab::sweep::Engine> {
        Ok(depthlab::sweep::Engine {
            jobs: depthlab::sweep::engine::jobs(self.jobs).map_err(anyhow::Error::msg)?,
            shard: self.shard,
            data_dir: self.data_dir.clone(),
            quiet: self.quiet,
            exe: std::env::current_exe()?,
            stop: Some(stop_on_signals()?),
            data: depthlab::data::require::Policy::new(self.data_dir.as_deref(), self.no_download, self.quiet)?,
            fetch_only: self.fetch_only,
        })
    }
}

fn default_out(config: &Path) -> PathBuf {
    let stem = config.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
    let base = Path::new("runs").join(stem);
    if !base.exists() {
        return base;
    }
    (2..).map(|i| Path::new("runs").join(format!("{stem}-{i}"))).find(|p| !p.exists()).unwrap()
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train { config, sets, out, resume, data_dir, no_download, quiet, max_memory, stop_after, threads } => {
            let threads = threads.map(|t| t as usize);
            let policy = depthlab::data::require::Policy::new(data_dir.as_deref(), no_download, quiet)?;
            let opts = RunOptions { data_dir, stop_after, quiet, stop: Some(stop_on_signals()?), max_memory, threads };
            let (summary, dir) = if let Some(dir) = resume {
                // (A folder without a config is resume's to explain.)
                if let Ok(cfg) = Config::load(&dir.join(train::folder::CONFIG), &[]) {
                    depthlab::data::require::require([&cfg], &policy)?;
                }
                (train::resume(&dir, &opts)?, dir)
            } else {
                let Some(path) = config else {
                    bail!("give a config file (depthlab train CONFIG.toml) or --resume RUN_DIR")
                };
                let cfg = Config::load(&path, &sets)?;
                depthlab::data::require::require([&cfg], &policy)?;
                let dir = out.unwrap_or_else(|| default_out(&path));
                (train::train(&cfg, &dir, &opts)?, dir)
            };
            if !quiet {
                let acc = |a: Option<f64>| a.map(|a| format!(", accuracy {a:.4}")).unwrap_or_default();
                out_line!(
                    "{}: {} after {} steps; train loss {:.4}{}; test loss {}{}",
                    dir.display(),
                    summary.status,
                    summary.steps,
                    summary.final_train_loss,
                    acc(summary.final_train_accuracy),
                    summary.test_loss.map(|l| format!("{l:.4}")).unwrap_or("- (no held-out examples)".into()),
                    acc(summary.test_accuracy)
                );
                for w in &summary.warnings {
                    err_line!("warning: {w}");
                }
            }
            Ok(())
        }
        Command::Grads { config, sets, weights, input, target, head_targets, out } => {
            let head_targets = head_targets
                .iter()
                .map(|a| depthlab::grads::parse_head_target(a))
                .collect::<Result<Vec<_>, String>>()
                .map_err(anyhow::Error::msg)?;
            let args = depthlab::grads::GradsArgs { config, sets, weights, input, target, head_targets, out };
            let (loss, n) = depthlab::grads::run(&args).map_err(anyhow::Error::msg)?;
            out_line!("{}: loss {loss:.6}, {n} tensors", args.out.display());
            Ok(())
        }
        Command::Probe { input, what, out, batches, data_dir, quiet, threads } => {
            let what = depthlab::probe::parse_what(&what).map_err(anyhow::Error::msg)?;
            let threads = threads.map(|t| t as usize);
            let opts = depthlab::probe::ProbeOptions { what, out, batches, data_dir, threads, ..Default::default() };
            let r = depthlab::probe::run(&input, &opts)?;
            if !quiet {
                for (k, s) in &r.ran {
                    out_line!("{}: {:.3} s", k.name(), s);
                }
                if let Some(d) = &r.diagnosis {
                    out_text!("{}", d.text());
                }
                let n = r.files.len();
                out_line!("wrote {n} file{} to {}", if n == 1 { "" } else { "s" }, r.out.display());
            }
            Ok(())
        }
        Command::Reproduce { claims, scale, seeds, measure_cost, expect, engine: flags } => {
            use depthlab::report::pipeline::{self, Reproduce, Reproduced};
            let r = Reproduce { claims, scale, seeds, out: flags.out.clone() };
            let engine = flags.engine()?;
            if let Some(sample) = measure_cost {
                let quiet = flags.quiet;
                out_text!(
                    "{}",
                    pipeline::measure_cost(&r, &engine, sample, |m| if !quiet {
                        err_line!("{m}")
                    })?
                );
                return Ok(());
            }
            match pipeline::reproduce(&r, &engine, flags.plan)? {
                Reproduced::Planned(text) => out_text!("{text}"),
                Reproduced::Fetched(text) => {
                    if !flags.quiet {
                        out_text!("{text}")
                    }
                }
                Reproduced::ShardDone { message, .. } => {
                    if !flags.quiet {
                        out_line!("{message}");
                    }
                }
                Reproduced::Reported { lines, files } => {
                    if !flags.quiet {
                        for l in lines {
                            out_line!("{l}");
                        }
                        out_line!("report: {}", files[0].display());
                    }
                    expect_outcomes(expect.as_deref(), &files[1], flags.quiet)?;
                }
            }
            Ok(())
        }
        Command::Report { dir, claims, expect } => {
            let (sections, files) = depthlab::report::report(&dir, &claims).map_err(anyhow::Error::msg)?;
            for l in depthlab::report::summary_lines(&sections) {
                out_line!("{l}");
            }
            out_line!("report: {}", files[0].display());
            expect_outcomes(expect.as_deref(), &files[1], false)
        }
        Command::Sweep { action: Some(SweepAction::Collect { dir, metric, by }), .. } => {
            let mb = metric.as_deref().zip(by.as_deref());
            let (t, files) = depthlab::sweep::collect::write(&dir, mb).map_err(anyhow::Error::msg)?;
            out_line!(
                "{} runs; wrote {}",
                t.rows.len(),
                files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
            );
            Ok(())
        }
        Command::Sweep { action: None, file, engine: flags } => {
            let Some(file) = file else {
                bail!("give a sweep file (depthlab sweep SWEEP.toml) or `depthlab sweep collect DIR`")
            };
            let sweep = depthlab::sweep::spec::Sweep::load(&file)?;
            match depthlab::sweep::run_sweep(&sweep, flags.out.as_deref(), &flags.engine()?, flags.plan)? {
                depthlab::sweep::Swept::Planned(text) => out_text!("{text}"),
                depthlab::sweep::Swept::Fetched(text) => {
                    if !flags.quiet {
                        out_text!("{text}")
                    }
                }
                depthlab::sweep::Swept::Ran { out, report: r } => {
                    if !flags.quiet {
                        out_line!(
                            "{}: {} runs done now, {} were done already ({}); collect with `depthlab sweep collect {}`",
                            out.display(),
                            r.ran,
                            r.skipped,
                            depthlab::sweep::cost::fmt_duration(r.wall_s),
                            out.display()
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Worker { args } => {
            let (job, data_dir) = depthlab::sweep::worker::Job::parse(&args).map_err(anyhow::Error::msg)?;
            job.run(data_dir, Some(stop_flag(false)?))?;
            Ok(())
        }
        Command::Bench { workload, steps, warmup, threads, batch, t, probes, json, peak_gflops } => {
            let opts = depthlab::bench::BenchOptions {
                steps,
                warmup,
                threads: threads as usize,
                batch: batch.map(|b| b as usize),
                t,
                probes,
                peak_gflops,
            };
            let results = if workload == "all" {
                bench_all(&opts)?
            } else {
                vec![depthlab::bench::run(&workload, &opts).map_err(anyhow::Error::msg)?]
            };
            if !json {
                out_line!("{}", depthlab::bench::table_header());
            }
            for r in &results {
                if json {
                    out_line!("{}", serde_json::to_string(r)?);
                } else {
                    out_line!("{}", depthlab::bench::table_row(r));
                }
            }
            if !json {
                if let Some(r) = results.first() {
                    let load = r.loadavg_1m.map_or("-".into(), |l| format!("{l:.2}"));
                    out_line!(
                        "peak: {:.1} GFLOP/s, the best of 5 single-thread f32 GEMMs {n} x {n} x {n}; load average {load}; {}",
                        r.peak_gflops,
                        r.cpu,
                        n = depthlab::bench::PEAK_N
                    );
                }
            }
            Ok(())
        }
        Command::Data(args) => Ok(args.run()?),
    }
}

/// `--expect VERDICTS`: the suite's outcomes against a reference (`report::expect`).
fn expect_outcomes(expected: Option<&Path>, verdicts: &Path, quiet: bool) -> Result<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    depthlab::report::expect::check(expected, verdicts).map_err(anyhow::Error::msg)?;
    if !quiet {
        out_line!("outcomes as in {}", expected.display());
    }
    Ok(())
}

/// `bench all`: each workload in a child process of this executable (so that its peak RSS is
/// its own), with one core's peak measured once here.
fn bench_all(opts: &depthlab::bench::BenchOptions) -> Result<Vec<depthlab::bench::BenchResult>> {
    let peak = opts.peak_gflops.unwrap_or_else(depthlab::bench::peak_gflops);
    let exe = std::env::current_exe()?;
    let mut out = Vec::new();
    for w in depthlab::bench::WORKLOADS {
        let mut c = std::process::Command::new(&exe);
        c.args(["bench", w, "--json", "--steps", &opts.steps.to_string(), "--warmup", &opts.warmup.to_string()]);
        c.args(["--threads", &opts.threads.to_string(), "--peak-gflops", &peak.to_string()]);
        if let Some(b) = opts.batch {
            c.args(["--batch", &b.to_string()]);
        }
        // T applies to the sequence workloads only.
        if let (Some(t), Some(_)) = (opts.t, depthlab::bench::default_t(w)) {
            c.args(["--t", &t.to_string()]);
        }
        if opts.probes {
            c.arg("--probes");
        }
        let o = c.stderr(std::process::Stdio::inherit()).output()?;
        if !o.status.success() {
            bail!("bench {w} failed ({})", o.status);
        }
        out.push(serde_json::from_slice(&o.stdout)?);
    }
    Ok(out)
}

/// SIGINT and SIGTERM ask a run to stop at the end of its step, with a checkpoint; a second
/// one ends the process at once (a person pressing Ctrl-C twice).
fn stop_on_signals() -> Result<depthlab::train::StopFlag> {
    stop_flag(true)
}

/// As `stop_on_signals`, with `second_exits` false for a worker: a cluster's SIGTERM reaches
/// the engine and its workers together, and the engine passes one on, so a worker's second
/// signal is that copy, and it must still finish its checkpoint.
fn stop_flag(second_exits: bool) -> Result<depthlab::train::StopFlag> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = depthlab::train::StopFlag::default();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        if second_exits {
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, asked.clone())?;
            signal_hook::flag::register(sig, asked.clone())?;
        }
        let f = flag.clone();
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(sig, move || f.store(sig, std::sync::atomic::Ordering::SeqCst))?;
        }
    }
    Ok(flag)
}

/// "2G", "500M", "64k" or a plain number of bytes.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1e3,
                'M' => 1e6,
                'G' => 1e9,
                'T' => 1e12,
                _ => return Err(format!("`{s}`: expected a size like 2G, 500M or 64k")),
            };
            (&t[..i], m)
        }
        _ => (t, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok((v * mult) as u64),
        _ => Err(format!("`{s}`: expected a size like 2G, 500M or 64k")),
    }
}

/// Keep freed memory for reuse: training allocates and frees the same large buffers every step
/// (a batch's activations), and glibc's defaults hand buffers above its threshold back to the
/// system on free, so that the next step pays a page fault per 4 KiB to get them again.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        // The largest threshold glibc accepts (32 MiB on 64-bit); larger buffers stay mapped.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            err_line!("error: {e}");
            // Each cause once: messages that already quote their source do not repeat it.
            let mut said = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !said.contains(&c) {
                    err_line!("  caused by: {c}");
                    said = c;
                }
            }
            let code = if let Some(t) = e.downcast_ref::<depthlab::train::TrainError>() {
                t.exit_code()
            } else if let Some(s) = e.downcast_ref::<depthlab::sweep::EngineError>() {
                s.exit_code()
            } else if let Some(w) = e.downcast_ref::<depthlab::sweep::worker::WorkerError>() {
                w.exit_code()
            } else {
                1
            };
            ExitCode::from(code)
        }
    }
}
