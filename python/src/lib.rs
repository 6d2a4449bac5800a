//! `depthlab._depthlab`: the thin native layer under the `depthlab` Python package. It holds
//! only what needs Rust (running the engine with the GIL released, arrays in and out, errors as
//! exceptions); the friendly API (Run objects, progress bars, reading run folders) lives in
//! python/depthlab/__init__.py, where it is cheap to change.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use depthlab::config::{Config, ConfigError as CfgError, ModelSpec};
use depthlab::grads::{Loaded, WeightTensor};
use depthlab::npy::{Array, Data};
use depthlab::probe::{ProbeError, ProbeOptions};
use depthlab::sweep::{Engine, EngineError, Swept};
use depthlab::train::{RunOptions, StopFlag, TrainError};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

create_exception!(depthlab, Error, PyException, "Any error depthlab reports (bad input, I/O, a diverged run).");
create_exception!(
    depthlab,
    ConfigError,
    Error,
    "A config that cannot be read or is invalid; the message names the key."
);
create_exception!(depthlab, DataError, Error, "A data set that cannot be found or read; the message names the file.");
create_exception!(
    depthlab,
    Interrupted,
    Error,
    "The run stopped early at a checkpoint (a stop request other than Ctrl-C)."
);

/// SIGINT, as the command would record it for Ctrl-C.
const SIGINT: i32 = 2;

fn config_err(e: CfgError) -> PyErr {
    ConfigError::new_err(e.to_string())
}

fn train_err(e: TrainError) -> PyErr {
    match e {
        TrainError::Config(e) => config_err(e),
        TrainError::Data(e) => DataError::new_err(e.to_string()),
        TrainError::Interrupted { .. } => Interrupted::new_err(e.to_string()),
        e => Error::new_err(e.to_string()),
    }
}

fn probe_err(e: ProbeError) -> PyErr {
    match e {
        ProbeError::Config(e) => config_err(e),
        ProbeError::Data(e) => DataError::new_err(e.to_string()),
        e => Error::new_err(e.to_string()),
    }
}

/// A Python value (dict, list, str, int, float, bool) as TOML.
fn to_toml(v: &Bound<'_, PyAny>, key: &str) -> PyResult<toml::Value> {
    // bool before int: Python's bool is an int.
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(toml::Value::Boolean(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(toml::Value::Integer(
            v.extract::<i64>().map_err(|_| ConfigError::new_err(format!("{key}: integer out of range")))?,
        ));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(v.extract::<f64>()?));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(toml::Value::String(s.extract::<String>()?));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, val) in d.iter() {
            let k: String =
                k.extract().map_err(|_| ConfigError::new_err(format!("{key}: keys must be strings, got {k:?}")))?;
            let path = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
            if val.is_none() {
                continue; // None: leave the key out, so the default holds
            }
            t.insert(k, to_toml(&val, &path)?);
        }
        return Ok(toml::Value::Table(t));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let mut a = Vec::new();
        for (i, item) in v.try_iter()?.enumerate() {
            a.push(to_toml(&item?, &format!("{key}[{i}]"))?);
        }
        return Ok(toml::Value::Array(a));
    }
    let ty = v.get_type().name()?.to_string();
    Err(ConfigError::new_err(format!(
        "{}: a config value must be a dict, list, str, int, float or bool, not {ty}",
        if key.is_empty() { "config" } else { key }
    )))
}

/// A value in TOML's one-line form, as the right-hand side of `--set KEY=VALUE` needs (tables
/// inline: `{ kind = "sgd", momentum = 0.9 }`).
fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let items: Vec<String> = t
                .iter()
                .map(|(k, v)| {
                    let bare = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    let key = if bare { k.clone() } else { toml::Value::String(k.clone()).to_string() };
                    format!("{key} = {}", inline(v))
                })
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        toml::Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        v => v.to_string(),
    }
}

/// The TOML text of a config given as a dict; with `key`, of an override's value
/// (`{"optim.optimizer": {...}}`), on one line.
#[pyfunction]
#[pyo3(signature = (value, key=""))]
fn dump_toml(value: &Bound<'_, PyAny>, key: &str) -> PyResult<String> {
    match to_toml(value, key)? {
        toml::Value::Table(t) if key.is_empty() => {
            toml::to_string(&t).map_err(|e| ConfigError::new_err(format!("config: {e}")))
        }
        v if key.is_empty() => Err(PyTypeError::new_err(format!("a config is a dict, not {}", inline(&v)))),
        v => Ok(inline(&v)),
    }
}

/// Parse and validate a config; its resolved TOML (every default written out).
#[pyfunction]
fn resolve_config(text: &str, origin: &str, sets: Vec<String>) -> PyResult<String> {
    Config::parse(text, origin, &sets).map(|c| c.to_toml()).map_err(config_err)
}

/// Run `job` on its own thread with the GIL released; every `poll_s`, with the GIL held, check
/// for signals (Ctrl-C) and call `on_poll`. Either raising asks the run to stop at its next
/// step (with a checkpoint), and that exception is raised once it has.
fn supervise(
    py: Python<'_>,
    poll_s: f64,
    on_poll: Option<Bound<'_, PyAny>>,
    job: impl FnOnce(StopFlag) -> PyResult<String> + Send + 'static,
) -> PyResult<String> {
    let stop: StopFlag = Arc::new(AtomicI32::new(0));
    let (tx, mut rx) = mpsc::channel();
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("depthlab-train".into())
        .spawn(move || {
            // A panic must not take the interpreter down: it becomes a Python error.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(flag)));
            let _ = tx.send(r);
        })
        .map_err(|e| Error::new_err(format!("cannot start the training thread: {e}")))?;
    let poll = Duration::from_secs_f64(poll_s.clamp(0.001, 10.0));
    let mut pending: Option<PyErr> = None;
    let outcome = loop {
        // The receiver is not Sync: it goes into the GIL-free closure and comes back.
        let (got, back) = py.detach(move || (rx.recv_timeout(poll), rx));
        rx = back;
        if pending.is_none() {
            let raised = py.check_signals().err().or_else(|| on_poll.as_ref().and_then(|f| f.call0().err()));
            if let Some(e) = raised {
                stop.store(SIGINT, Ordering::SeqCst);
                pending = Some(e);
            }
        }
        match got {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(Box::new("the training thread ended without a result") as Box<dyn std::any::Any + Send>)
            }
        }
    };
    let _ = handle.join();
    // The last records, written after the last poll, still reach the callback.
    if pending.is_none() {
        if let Some(f) = &on_poll {
            f.call0()?;
        }
    }
    match outcome {
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(Error::new_err(format!("internal error in depthlab (please report it): {what}")))
        }
        Ok(r) => match (r, pending) {
            (_, Some(e)) => Err(e),
            (Ok(s), None) => Ok(s),
            (Err(e), None) => Err(e),
        },
    }
}

/// Find or fetch the data sets the runs of `configs` need, before anything starts (downloads
/// are off with DEPTHLAB_NO_DOWNLOAD=1; docs/data.md).
fn require_data<'a>(
    configs: impl IntoIterator<Item = &'a Config>,
    data_dir: Option<&Path>,
    quiet: bool,
) -> PyResult<()> {
    use depthlab::data::require::{require, Policy};
    let err = |e: depthlab::data::require::RequireError| DataError::new_err(e.to_string());
    require(configs, &Policy::new(data_dir, false, quiet).map_err(err)?).map(drop).map_err(err)
}

fn options(threads: Option<usize>, data_dir: Option<PathBuf>, quiet: bool) -> RunOptions {
    RunOptions { threads, data_dir, quiet, ..Default::default() }
}

/// Train the config (resolved TOML) into `out`, or continue the run in `out` with `resume`.
/// Returns summary.json's text.
#[pyfunction]
#[pyo3(signature = (config, origin, out, resume=false, on_poll=None, poll_s=0.1, threads=None, data_dir=None, quiet=true))]
#[allow(clippy::too_many_arguments)]
fn train(
    py: Python<'_>,
    config: Option<String>,
    origin: &str,
    out: PathBuf,
    resume: bool,
    on_poll: Option<Bound<'_, PyAny>>,
    poll_s: f64,
    threads: Option<usize>,
    data_dir: Option<PathBuf>,
    quiet: bool,
) -> PyResult<String> {
    if threads == Some(0) {
        return Err(Error::new_err("threads must be at least 1"));
    }
    let cfg = match (&config, resume) {
        (Some(text), false) => Some(Config::parse(text, origin, &[]).map_err(config_err)?),
        (None, true) => None,
        _ => return Err(PyTypeError::new_err("give a config to train, or resume=True without one")),
    };
    let opts = options(threads, data_dir, quiet);
    supervise(py, poll_s, on_poll, move |stop| {
        let opts = RunOptions { stop: Some(stop), ..opts };
        let resumed = || Config::load(&out.join(depthlab::train::folder::CONFIG), &[]).ok();
        require_data(cfg.clone().or_else(resumed).iter(), opts.data_dir.as_deref(), opts.quiet)?;
        let s = match cfg {
            Some(cfg) => depthlab::train::train(&cfg, &out, &opts),
            None => depthlab::train::resume(&out, &opts),
        }
        .map_err(train_err)?;
        Ok(serde_json::to_string(&s).expect("summary serialises"))
    })
}

/// The number of training steps a run of the config takes (`depthlab::train::total_steps`, the
/// length of the engine's own progress bar). It loads the data, since the training set's size
/// is only known then.
#[pyfunction]
#[pyo3(signature = (config, origin, data_dir=None))]
fn total_steps(py: Python<'_>, config: &str, origin: &str, data_dir: Option<PathBuf>) -> PyResult<usize> {
    let cfg = Config::parse(config, origin, &[]).map_err(config_err)?;
    py.detach(|| depthlab::config::load_data(&cfg, data_dir.as_deref()))
        .map(|data| depthlab::train::total_steps(&cfg, &data))
        .map_err(|e| DataError::new_err(e.to_string()))
}

/// Weights handed in flat: (name, shape, float32 values).
type WeightsIn<'py> = Vec<(String, Vec<usize>, PyReadonlyArray1<'py, f32>)>;

type Tensors<'py> = Vec<(String, Vec<usize>, Bound<'py, PyArray1<f32>>)>;

fn tensors_out<'py>(py: Python<'py>, t: Vec<(String, Vec<usize>, Vec<f32>)>) -> Tensors<'py> {
    t.into_iter().map(|(n, s, v)| (n, s, PyArray1::from_vec(py, v))).collect()
}

/// The tensors of a safetensors file (model.safetensors: PyTorch's names), as
/// (name, shape, flat float32 values).
#[pyfunction]
fn load_tensors<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Tensors<'py>> {
    let t = py.detach(|| depthlab::train::load_tensors(&path)).map_err(Error::new_err)?;
    Ok(tensors_out(py, t))
}

/// The path of a run folder's latest weights.
#[pyfunction]
fn model_file(dir: PathBuf) -> PathBuf {
    depthlab::train::folder::checkpoint_file(&dir, depthlab::train::folder::MODEL)
}

/// An array handed over flat: its shape and exactly one of float32 or int64 values.
fn array(
    shape: Vec<usize>,
    f: Option<PyReadonlyArray1<'_, f32>>,
    i: Option<PyReadonlyArray1<'_, i64>>,
) -> PyResult<Array> {
    let data = match (f, i) {
        (Some(f), None) => Data::F32(f.as_slice()?.to_vec()),
        (None, Some(i)) => Data::I64(i.as_slice()?.to_vec()),
        _ => return Err(PyTypeError::new_err("an array is float32 or int64")),
    };
    Ok(Array { shape, data })
}

/// One forward and backward pass (the command `depthlab grads`): every tensor it writes, as
/// (name, shape, flat float32 values). `weights`: (name, shape, flat float32), or None for
/// the config's seed.
#[pyfunction]
#[pyo3(signature = (config, origin, sets, weights, x_shape, x_f32=None, x_i64=None, y_shape=None, y_f32=None, y_i64=None))]
#[allow(clippy::too_many_arguments)]
fn grads<'py>(
    py: Python<'py>,
    config: &str,
    origin: &str,
    sets: Vec<String>,
    weights: Option<WeightsIn<'py>>,
    x_shape: Vec<usize>,
    x_f32: Option<PyReadonlyArray1<'py, f32>>,
    x_i64: Option<PyReadonlyArray1<'py, i64>>,
    y_shape: Option<Vec<usize>>,
    y_f32: Option<PyReadonlyArray1<'py, f32>>,
    y_i64: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<Tensors<'py>> {
    let spec = ModelSpec::parse(config, origin, &sets).map_err(config_err)?;
    let weights = match weights {
        None => None,
        Some(w) => Some(
            w.into_iter()
                .map(|(name, shape, v)| {
                    Ok(WeightTensor {
                        name,
                        dtype: safetensors::Dtype::F32,
                        shape,
                        values: Some(v.as_slice()?.to_vec()),
                    })
                })
                .collect::<PyResult<Vec<_>>>()?,
        ),
    };
    let target = match y_shape {
        Some(s) => Some(array(s, y_f32, y_i64)?),
        None => None,
    };
    let loaded = Loaded {
        weights,
        weights_origin: "weights".into(),
        input: array(x_shape, x_f32, x_i64)?,
        input_origin: "x".into(),
        target,
        target_origin: "y".into(),
        head_targets: Vec::new(),
        out_dim: None,
    };
    let t = py
        .detach(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                depthlab::grads::setup(&spec, &loaded).map(|mut p| p.gradients())
            }))
        })
        .map_err(|_| Error::new_err("internal error in depthlab grads (please report it)"))?
        .map_err(Error::new_err)?;
    Ok(tensors_out(py, t))
}

/// Run probes on a config file (at initialisation) or a run folder, writing into `out`;
/// the command's summary of what ran (JSON).
#[pyfunction]
#[pyo3(signature = (input, out, what, batches=4, threads=None, data_dir=None))]
fn probe(
    py: Python<'_>,
    input: PathBuf,
    out: PathBuf,
    what: Vec<String>,
    batches: usize,
    threads: Option<usize>,
    data_dir: Option<PathBuf>,
) -> PyResult<String> {
    let what = depthlab::probe::parse_what(&what).map_err(Error::new_err)?;
    let opts = ProbeOptions { what, out: Some(out), batches, data_dir, threads, ..Default::default() };
    let r = py
        .detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| depthlab::probe::run(&input, &opts))))
        .map_err(|_| Error::new_err("internal error in depthlab probe (please report it)"))?
        .map_err(probe_err)?;
    Ok(serde_json::to_string(&r).expect("probe run serialises"))
}

/// The engine's error as the Python exception for it.
fn engine_err(e: EngineError) -> PyErr {
    match e {
        EngineError::Stopped(s) => Interrupted::new_err(s.to_string()),
        e => Error::new_err(e.to_string()),
    }
}

/// The engine for `exe`'s workers (a program taking the worker's command line, see
/// `worker`), stopped by `stop`.
fn engine(
    jobs: Option<usize>,
    data_dir: Option<PathBuf>,
    quiet: bool,
    exe: PathBuf,
    stop: StopFlag,
) -> PyResult<Engine> {
    let jobs = depthlab::sweep::engine::jobs(jobs).map_err(Error::new_err)?;
    let data = depthlab::data::require::Policy::new(data_dir.as_deref(), false, quiet)
        .map_err(|e| DataError::new_err(e.to_string()))?;
    Ok(Engine { jobs, shard: None, data_dir, quiet, exe, stop: Some(stop), data, fetch_only: false })
}

/// `depthlab sweep FILE` then `depthlab sweep collect`: every run of the sweep file not done
/// yet, by `jobs` workers of `exe`, then the table (JSON: out, ran, skipped, columns, rows,
/// files).
#[pyfunction]
#[pyo3(signature = (file, exe, out=None, jobs=None, data_dir=None, metric=None, by=None, quiet=true, poll_s=0.2))]
#[allow(clippy::too_many_arguments)]
fn sweep(
    py: Python<'_>,
    file: PathBuf,
    exe: PathBuf,
    out: Option<PathBuf>,
    jobs: Option<usize>,
    data_dir: Option<PathBuf>,
    metric: Option<String>,
    by: Option<String>,
    quiet: bool,
    poll_s: f64,
) -> PyResult<String> {
    if metric.is_some() != by.is_some() {
        return Err(Error::new_err("give metric and by together (a plot of the metric against the key)"));
    }
    let spec = depthlab::sweep::spec::Sweep::load(&file).map_err(config_err)?;
    supervise(py, poll_s, None, move |stop| {
        let engine = engine(jobs, data_dir, quiet, exe, stop)?;
        let Swept::Ran { out, report: r } =
            depthlab::sweep::run_sweep(&spec, out.as_deref(), &engine, false).map_err(engine_err)?
        else {
            unreachable!("a sweep that is not a plan runs")
        };
        let mb = metric.as_deref().zip(by.as_deref());
        let (t, files) = depthlab::sweep::collect::write(&out, mb).map_err(Error::new_err)?;
        let v = serde_json::json!({
            "out": out, "ran": r.ran, "skipped": r.skipped, "wall_s": r.wall_s,
            "columns": t.columns, "rows": t.rows, "files": files,
        });
        Ok(v.to_string())
    })
}

/// `depthlab reproduce`: run the suite of `claims` (empty: all) at `scale` into `out` with
/// `jobs` worker processes of `exe`, then write its report. Returns the report's summary lines
/// (JSON). The GIL is released and Ctrl-C stops the workers at their checkpoints, as with
/// `train`.
#[pyfunction]
#[pyo3(signature = (claims, scale, out, exe, jobs=None, seeds=None, data_dir=None, quiet=true, poll_s=0.2))]
#[allow(clippy::too_many_arguments)]
fn reproduce(
    py: Python<'_>,
    claims: Vec<String>,
    scale: &str,
    out: PathBuf,
    exe: PathBuf,
    jobs: Option<usize>,
    seeds: Option<usize>,
    data_dir: Option<PathBuf>,
    quiet: bool,
    poll_s: f64,
) -> PyResult<String> {
    use depthlab::report::pipeline::{self, Reproduce, Reproduced};
    let scale = depthlab::lab::Scale::parse(scale).map_err(Error::new_err)?;
    let r = Reproduce { claims, scale, seeds, out: Some(out) };
    supervise(py, poll_s, None, move |stop| {
        let engine = engine(jobs, data_dir, quiet, exe, stop)?;
        match pipeline::reproduce(&r, &engine, false).map_err(engine_err)? {
            Reproduced::Reported { lines, .. } => Ok(serde_json::to_string(&lines).expect("lines serialise")),
            _ => unreachable!("a whole suite that is not a plan ends with its report"),
        }
    })
}

/// The run engine's worker (`depthlab worker ...`, sweep::worker): do the job its command line
/// says, with the GIL released; the exit status the command would end with.
#[pyfunction]
#[pyo3(signature = (args, poll_s=0.1))]
fn worker(py: Python<'_>, args: Vec<std::ffi::OsString>, poll_s: f64) -> PyResult<i32> {
    let (job, data_dir) = depthlab::sweep::worker::Job::parse(&args).map_err(Error::new_err)?;
    let code = supervise(py, poll_s, None, move |stop| {
        Ok(match job.run(data_dir, Some(stop)) {
            Ok(()) => "0".to_string(),
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code().to_string()
            }
        })
    })?;
    Ok(code.parse().expect("an exit code"))
}

/// Whether `dir` holds a checkpoint a run can continue from.
#[pyfunction]
fn has_checkpoint(dir: PathBuf) -> bool {
    depthlab::train::folder::has_checkpoint(Path::new(&dir))
}

#[pymodule]
fn _depthlab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("Interrupted", py.get_type::<Interrupted>())?;
    m.add_function(wrap_pyfunction!(dump_toml, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_config, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(total_steps, m)?)?;
    m.add_function(wrap_pyfunction!(load_tensors, m)?)?;
    m.add_function(wrap_pyfunction!(model_file, m)?)?;
    m.add_function(wrap_pyfunction!(grads, m)?)?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_function(wrap_pyfunction!(has_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(reproduce, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(worker, m)?)?;
    Ok(())
}
