//! The `depthlab` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use depthlab::config::Config;
use depthlab::train::{self, RunOptions};

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
        /// Folder holding data files (MNIST); default $DEPTHLAB_DATA, ./data, ../shared/data.
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
    },
    /// One forward and backward pass on a given batch, with weights by their PyTorch names:
    /// writes the loss, the outputs, every parameter gradient (`grad.<name>`) and the gradient
    /// at every block output (`act.<block>`) to a safetensors file (README: PyTorch interchange).
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
        /// Probes, comma-separated: gradflow, meanfield, lesion, gates, diagnosis (default: all
        /// that apply to the model).
        #[arg(long, value_name = "PROBES", value_delimiter = ',')]
        what: Vec<String>,
        /// Output folder (default: RUN_DIR/probes, or probes/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Training batches to average gradients and gates over.
        #[arg(long, default_value_t = 4)]
        batches: usize,
        /// Folder holding data files (MNIST); default $DEPTHLAB_DATA, ./data, ../shared/data.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Time one training step of a reference workload (see BENCHMARKS.md).
    Bench {
        /// w1: 50-layer highway MLP, 784 -> 64, batch 128, tanh, cross-entropy, SGD momentum;
        /// w2: LSTM 32 -> 128, T = 100, batch 32, MSE on the last step, SGD.
        #[arg(value_parser = ["w1", "w2"])]
        workload: String,
        /// Timed steps (after warm-up).
        #[arg(long, default_value_t = 200)]
        steps: usize,
        #[arg(long, default_value_t = 20)]
        warmup: usize,
    },
    /// Data sets: `depthlab data fetch mnist|fashion-mnist [--dir DIR]` downloads and verifies one.
    Data(depthlab::data::cli::DataArgs),
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
        Command::Train { config, sets, out, resume, data_dir, quiet, max_memory, stop_after } => {
            let opts = RunOptions { data_dir, stop_after, quiet, stop: Some(stop_on_signals()?), max_memory };
            let (summary, dir) = if let Some(dir) = resume {
                (train::resume(&dir, &opts)?, dir)
            } else {
                let Some(path) = config else {
                    bail!("give a config file (depthlab train CONFIG.toml) or --resume RUN_DIR")
                };
                let cfg = Config::load(&path, &sets)?;
                let dir = out.unwrap_or_else(|| default_out(&path));
                (train::train(&cfg, &dir, &opts)?, dir)
            };
            if !quiet {
                let acc = |a: Option<f64>| a.map(|a| format!(", accuracy {a:.4}")).unwrap_or_default();
                println!(
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
                    eprintln!("warning: {w}");
                }
            }
            Ok(())
        }
        Command::Grads { config, sets, weights, input, target, out } => {
            let args = depthlab::grads::GradsArgs { config, sets, weights, input, target, out };
            let (loss, n) = depthlab::grads::run(&args).map_err(anyhow::Error::msg)?;
            println!("{}: loss {loss:.6}, {n} tensors", args.out.display());
            Ok(())
        }
        Command::Probe { input, what, out, batches, data_dir, quiet } => {
            let what = depthlab::probe::parse_what(&what).map_err(anyhow::Error::msg)?;
            let opts = depthlab::probe::ProbeOptions { what, out, batches, data_dir, ..Default::default() };
            let r = depthlab::probe::run(&input, &opts)?;
            if !quiet {
                for (k, s) in &r.ran {
                    println!("{}: {:.3} s", k.name(), s);
                }
                if let Some(d) = &r.diagnosis {
                    print!("{}", d.text());
                }
                let n = r.files.len();
                println!("wrote {n} file{} to {}", if n == 1 { "" } else { "s" }, r.out.display());
            }
            Ok(())
        }
        Command::Bench { workload, steps, warmup } => {
            let r = depthlab::bench::run(&workload, steps, warmup).map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        Command::Data(args) => Ok(args.run()?),
    }
}

/// SIGINT and SIGTERM ask a run to stop at the end of its step, with a checkpoint; a second
/// one ends the process at once.
fn stop_on_signals() -> Result<depthlab::train::StopFlag> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = depthlab::train::StopFlag::default();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, asked.clone())?;
        signal_hook::flag::register(sig, asked.clone())?;
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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            // Each cause once: messages that already quote their source do not repeat it.
            let mut said = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !said.contains(&c) {
                    eprintln!("  caused by: {c}");
                    said = c;
                }
            }
            let code = e.downcast_ref::<depthlab::train::TrainError>().map_or(1, |t| t.exit_code());
            ExitCode::from(code)
        }
    }
}
