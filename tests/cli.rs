//! The `depthlab train` command: exit codes, messages and the run folder it leaves (or not).

use depthlab::train::load_tensors;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{run_depthlab, Run};

/// A tiny residual net on MNIST-1D: 13 steps per epoch.
const TINY: &str = r#"# a comment
seed = 3

[data]
name = "mnist1d"
num_samples = 500

[model]
arch = "residual"
depth = 4
width = 12
activation = "relu"
init = { kind = "he" }

[optim]
lr = 0.02
optimizer = { kind = "sgd", momentum = 0.9 }

[train]
epochs = 2
batch_size = 32
"#;

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success; stderr:\n{}", self.stderr);
        self
    }
    fn failed(&self) -> &Self {
        assert!(self.code.is_some_and(|c| c != 0), "expected failure, got {:?}; stdout:\n{}", self.code, self.stdout);
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("backtrace"), "{}", self.stderr);
        self
    }
    /// Failed as a bad input does: exit 1, a message, no panic.
    fn refused(&self) -> &Self {
        self.failed();
        assert_eq!(self.code, Some(1), "{}", self.stderr);
        self
    }
    fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.stderr.contains(n), "`{n}` not in stderr:\n{}", self.stderr);
        }
        self
    }
}

/// `depthlab ARGS` in `cwd`, with no data folder in the environment.
fn depthlab(cwd: &Path, args: &[&str]) -> Run {
    run_depthlab(args, |c| {
        c.current_dir(cwd).env_remove("DEPTHLAB_DATA").env("CI", "1");
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// metrics.jsonl without `elapsed_s`.
fn metrics(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("elapsed_s");
            v
        })
        .collect()
}

// ---- successful runs ----

#[test]
fn train_writes_a_run_folder_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "tiny.toml", TINY);
    // Without --out the run goes to runs/<config name>, then runs/<config name>-2.
    let r = depthlab(tmp.path(), &["train", "tiny.toml", "--set", "train.epochs=1"]);
    r.ok();
    assert!(r.stdout.contains("finished after 13 steps"), "{}", r.stdout);
    assert!(r.stderr.contains("epoch   1/1"), "{}", r.stderr);
    let dir = tmp.path().join("runs/tiny");
    assert_eq!(
        entries(&dir),
        [
            ".lock",
            "checkpoint",
            "ckpt.0",
            "config.toml",
            "metrics.jsonl",
            "model.safetensors",
            "optim.safetensors",
            "state.json",
            "summary.json"
        ]
    );
    assert_eq!(json(&dir.join("summary.json"))["status"], "finished");

    let r = depthlab(tmp.path(), &["train", "tiny.toml", "--quiet", "--set", "train.epochs=1"]);
    r.ok();
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "--quiet printed:\n{}{}", r.stdout, r.stderr);
    assert!(tmp.path().join("runs/tiny-2/summary.json").is_file());
    assert!(
        std::fs::read(dir.join("model.safetensors")).unwrap()
            == std::fs::read(tmp.path().join("runs/tiny-2/model.safetensors")).unwrap(),
        "the same config twice gave different weights"
    );
}

#[test]
fn set_overrides_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "tiny.toml", TINY);
    let out = tmp.path().join("run");
    depthlab(
        tmp.path(),
        &[
            "train",
            cfg.to_str().unwrap(),
            "--set",
            "model.depth=3",
            "--set",
            "train.epochs=1",
            "--set",
            "model.arch=plain", // a bare string
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
    )
    .ok();
    let names: Vec<String> = load_tensors(&out.join("model.safetensors")).unwrap().into_iter().map(|t| t.0).collect();
    let mut layers: Vec<&str> =
        names.iter().filter_map(|n| n.strip_prefix("layers.")).map(|n| n.split('.').next().unwrap()).collect();
    layers.dedup();
    assert_eq!(layers, ["0", "1", "2"], "{names:?}");
    // A plain layer has one linear map, a residual one two.
    assert!(names.iter().all(|n| !n.contains("fc2")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("stem.")) && names.iter().any(|n| n.starts_with("head.")));
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(resolved.contains("depth = 3") && resolved.contains("arch = \"plain\""), "{resolved}");
    assert!(resolved.contains("epochs = 1"), "{resolved}");
    let s = json(&out.join("summary.json"));
    assert_eq!((s["epochs"].as_u64(), s["steps"].as_u64()), (Some(1), Some(13)));
}

#[test]
fn stop_after_and_resume_match_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(tmp.path(), "tiny.toml", TINY);
    let cfg = cfg.to_str().unwrap();
    let (full, cut) = (tmp.path().join("full"), tmp.path().join("cut"));
    depthlab(tmp.path(), &["train", cfg, "--out", full.to_str().unwrap(), "-q"]).ok();
    let r = depthlab(tmp.path(), &["train", cfg, "--out", cut.to_str().unwrap(), "--stop-after", "9"]);
    r.ok().stderr_has(&["stopped after step 9", "--resume"]);
    assert!(r.stdout.contains("stopped after 9 steps"), "{}", r.stdout);
    assert!(!cut.join("summary.json").exists());
    depthlab(tmp.path(), &["train", "--resume", cut.to_str().unwrap(), "-q"]).ok();
    assert!(
        std::fs::read(full.join("model.safetensors")).unwrap() == std::fs::read(cut.join("model.safetensors")).unwrap()
    );
    assert_eq!(metrics(&full), metrics(&cut));
}

// ---- refused runs ----

#[test]
fn out_holding_a_run_is_refused_with_a_hint_to_resume() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "tiny.toml", TINY);
    depthlab(tmp.path(), &["train", "tiny.toml", "--out", "run", "-q", "--set", "train.epochs=1"]).ok();
    let before = std::fs::read(tmp.path().join("run/model.safetensors")).unwrap();
    let log = std::fs::read(tmp.path().join("run/metrics.jsonl")).unwrap();
    depthlab(tmp.path(), &["train", "tiny.toml", "--out", "run", "-q"]).failed().stderr_has(&[
        "run",
        "already holds a run",
        "--resume",
    ]);
    assert!(std::fs::read(tmp.path().join("run/model.safetensors")).unwrap() == before);
    assert!(std::fs::read(tmp.path().join("run/metrics.jsonl")).unwrap() == log);
}

#[test]
fn resume_conflicts_with_a_config_and_needs_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "tiny.toml", TINY);
    depthlab(tmp.path(), &["train", "tiny.toml", "--resume", "x"]).failed().stderr_has(&["--resume"]);
    depthlab(tmp.path(), &["train", "--resume", "x", "--set", "train.epochs=1"]).failed();
    depthlab(tmp.path(), &["train"]).failed().stderr_has(&["--resume"]);
    depthlab(tmp.path(), &["train", "--resume", "nowhere"]).failed().stderr_has(&["nowhere"]);
    assert_eq!(entries(tmp.path()), ["tiny.toml"]);
}

/// Run `depthlab train bad.toml ARGS` both into the default run folder and with --out; each must
/// fail with all of `needles` in stderr and leave no folder behind.
fn config_error(toml: &str, args: &[&str], needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "bad.toml", toml);
    let mut with_out = vec!["train", "bad.toml", "--out", "out"];
    with_out.extend(args);
    let mut without = vec!["train", "bad.toml"];
    without.extend(args);
    for a in [without, with_out] {
        depthlab(tmp.path(), &a).refused().stderr_has(needles);
        assert_eq!(entries(tmp.path()), ["bad.toml"], "depthlab {a:?} left something behind");
    }
}

#[test]
fn unknown_key_names_it_and_the_allowed_keys() {
    config_error(
        &TINY.replace("width = 12", "widht = 3"),
        &[],
        &["bad.toml", "widht", "line 11", "arch", "depth", "width", "activation", "init", "aux"],
    );
    config_error(&format!("{TINY}\nepocs = 3\n"), &[], &["bad.toml", "epocs"]);
}

#[test]
fn bad_value_type_names_the_key() {
    config_error(&TINY.replace("depth = 4", "depth = \"ten\""), &[], &["bad.toml", "depth = \"ten\"", "line 10"]);
}

#[test]
fn bad_enum_value_lists_the_variants() {
    config_error(
        &TINY.replace("arch = \"residual\"", "arch = \"hiway\""),
        &[],
        &["bad.toml", "hiway", "plain", "residual", "highway", "dense", "dense_to_output", "weighted_skip"],
    );
}

#[test]
fn bad_set_values_name_the_key() {
    config_error(TINY, &["--set", "train.epochs=abc"], &["--set", "train.epochs", "abc"]);
    config_error(TINY, &["--set", "train.epochs"], &["--set", "train.epochs", "KEY=VALUE"]);
    config_error(TINY, &["--set", "model.widht=3"], &["--set", "widht", "width"]);
    config_error(TINY, &["--set", "model.arch=hiway"], &["--set", "hiway", "highway"]);
}

#[test]
fn aux_layer_out_of_range_is_an_error() {
    let aux = TINY.replace("init = { kind = \"he\" }", "init = { kind = \"he\" }\naux = [{ layer = 4, weight = 0.3 }]");
    config_error(&aux, &[], &["bad.toml", "model.aux[0].layer", "4", "0..3"]);
    // In range it trains.
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "aux.toml", &aux.replace("layer = 4", "layer = 3"));
    depthlab(tmp.path(), &["train", "aux.toml", "--out", "run", "-q", "--set", "train.epochs=1"]).ok();
    let names: Vec<String> =
        load_tensors(&tmp.path().join("run/model.safetensors")).unwrap().into_iter().map(|t| t.0).collect();
    assert!(names.contains(&"aux.0.weight".to_string()), "{names:?}");
}

/// A sequence config: the adding problem with a small GRU.
const ADDING: &str = r#"seed = 1
[data]
name = "adding"
t = 10
train = 64
test = 32
[model]
arch = "gru"
depth = 1
width = 8
[optim]
lr = 0.01
optimizer = { kind = "adam" }
[train]
epochs = 1
batch_size = 16
"#;

#[test]
fn values_that_would_panic_are_refused_naming_the_key_and_line() {
    config_error(&format!("{ADDING}bptt_truncate = 0\n"), &[], &["bad.toml:17", "train.bptt_truncate", "at least 1"]);
    config_error(&ADDING.replace("t = 10", "t = 1"), &[], &["bad.toml:4", "data.t", "at least 2"]);
    config_error(ADDING, &["--set", "data.t=0"], &["--set data.t=0", "data.t", "at least 2"]);
    let copy = ADDING.replace("\"adding\"", "\"copy\"");
    config_error(&copy, &["--set", "data.t=0"], &["--set data.t=0", "data.t", "at least 1"]);
    let text = "seed = 1\n[data]\nname = \"text\"\nfile = \"t.txt\"\nwindow = 0\n[model]\narch = \"lstm\"\ndepth = 1\nwidth = 8\n[optim]\nlr = 0.01\noptimizer = { kind = \"adam\" }\n[train]\nepochs = 1\n";
    config_error(text, &[], &["bad.toml:5", "data.window", "at least 1"]);
    config_error(TINY, &["--set", "train.epochs=0"], &["--set train.epochs=0", "train.epochs must be at least 1"]);
}

#[test]
fn validation_errors_name_the_line_and_set_errors_the_set() {
    config_error(&TINY.replace("depth = 4", "depth = 0"), &[], &["bad.toml:10: model.depth must be at least 1"]);
    // The file's depth is fine: the --set is to blame, not the file.
    config_error(TINY, &["--set", "model.depth=0"], &["--set model.depth=0: model.depth must be at least 1"]);
    assert!(!depthlab_err(TINY, &["--set", "model.depth=0"]).contains("bad.toml"));
    // A --set that repairs the file is taken.
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "t.toml", &TINY.replace("depth = 4", "depth = 0"));
    depthlab(tmp.path(), &["train", "t.toml", "--set", "model.depth=2", "--set", "train.epochs=1", "-q"]).ok();
}

/// stderr of `depthlab train bad.toml ARGS` (which must fail).
fn depthlab_err(toml: &str, args: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "bad.toml", toml);
    let mut a = vec!["train", "bad.toml"];
    a.extend(args);
    let r = depthlab(tmp.path(), &a);
    r.refused();
    r.stderr
}

#[test]
fn non_finite_values_are_refused_everywhere() {
    let highway = TINY.replace("arch = \"residual\"", "arch = \"highway\"");
    config_error(
        &highway.replace("depth = 4", "depth = 4\ngate_bias = nan"),
        &[],
        &["bad.toml:11", "model.gate_bias", "finite"],
    );
    config_error(
        &highway,
        &["--set", "model.carry_bias=nan"],
        &["--set model.carry_bias=nan", "model.carry_bias", "finite"],
    );
    config_error(
        TINY,
        &["--set", "optim.optimizer={ kind = \"sgd\", momentum = nan }"],
        &["optim.optimizer.momentum must be a finite number, got nan"],
    );
    config_error(
        TINY,
        &["--set", "optim.schedule={ kind = \"exponential\", gamma = inf }"],
        &["optim.schedule.gamma must be a finite number, got inf"],
    );
    config_error(TINY, &["--set", "optim.lr=-inf"], &["optim.lr must be a finite number, got -inf"]);
    let e = depthlab_err(TINY, &["--set", "optim.optimizer={ kind = \"sgd\", momentum = nan }"]);
    assert!(!e.contains("null"), "{e}");
}

#[test]
fn a_number_too_large_is_named_as_such() {
    config_error(
        TINY,
        &["--set", "train.epochs=99999999999999999999"],
        &["--set train.epochs=99999999999999999999", "not a number a config can hold"],
    );
    config_error(
        &TINY.replace("epochs = 2", "epochs = 99999999999999999999"),
        &[],
        &["bad.toml", "line 20", "99999999999999999999"],
    );
}

#[test]
fn aux_heads_on_models_without_layers_name_the_arch() {
    let dense = TINY
        .replace("arch = \"residual\"", "arch = \"dense\"")
        .replace("init = { kind = \"he\" }", "init = { kind = \"he\" }\naux = [{ layer = 1, weight = 0.3 }]");
    config_error(&dense, &[], &["bad.toml:14", "not dense"]);
    let e = depthlab_err(&dense, &[]);
    assert!(!e.contains("Dense"), "the enum's debug name: {e}");
    let seq = ADDING.replace("width = 8\n", "width = 8\naux = [{ layer = 0, weight = 0.3 }]\n");
    config_error(&seq, &[], &["bad.toml:11", "model.aux", "not sequence models"]);
}

#[test]
fn configs_too_big_for_memory_are_refused_with_the_estimate_and_the_key() {
    config_error(TINY, &["--set", "model.width=1000000"], &["would need about", "more than the", "model.width"]);
    config_error(TINY, &["--set", "model.depth=1000000"], &["would need about", "model.depth"]);
    config_error(TINY, &["--max-memory", "1M"], &["would need about", "--max-memory"]);
    config_error(ADDING, &["--set", "data.t=100000000"], &["would need about", "data.t"]);
    // The same for probe (a config at initialisation).
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "big.toml", &TINY.replace("width = 12", "width = 1000000"));
    depthlab(tmp.path(), &["probe", "big.toml"]).refused().stderr_has(&["would need about", "model.width"]);
    assert_eq!(entries(tmp.path()), ["big.toml"]);
}

#[test]
fn an_empty_test_set_reports_no_test_loss() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a.toml", &ADDING.replace("test = 32", "test = 0"));
    let r = depthlab(tmp.path(), &["train", "a.toml", "--out", "run"]);
    r.ok().stderr_has(&["no held-out examples"]);
    assert!(r.stdout.contains("test loss - (no held-out examples)"), "{}", r.stdout);
    let s = json(&tmp.path().join("run/summary.json"));
    assert!(s["test_loss"].is_null(), "{s}");
    let last = metrics(&tmp.path().join("run")).pop().unwrap();
    assert!(last.get("test_loss").is_none() && last.get("test_mean_baseline_mse").is_none(), "{last}");
}

#[test]
fn a_loss_that_runs_away_finishes_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = TINY
        .replace("arch = \"residual\"", "arch = \"plain\"")
        .replace("depth = 4", "depth = 8")
        .replace("init = { kind = \"he\" }", "init = { kind = \"gaussian\", sigma_w2 = 200.0, sigma_b2 = 0.0 }")
        .replace("lr = 0.02", "lr = 1e-30");
    write(tmp.path(), "big.toml", &toml);
    let r = depthlab(tmp.path(), &["train", "big.toml", "--out", "run", "--set", "train.epochs=1"]);
    r.ok().stderr_has(&["warning: the loss reached", "diverging"]);
    let s = json(&tmp.path().join("run/summary.json"));
    assert_eq!(s["status"], "finished");
    assert!(s["warnings"][0].as_str().unwrap().contains("the loss reached"), "{s}");
}

#[test]
fn resuming_a_finished_run_reports_its_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "tiny.toml", TINY);
    let first = depthlab(tmp.path(), &["train", "tiny.toml", "--out", "run", "--set", "train.epochs=1"]);
    first.ok();
    // As if killed after the last checkpoint but before the summary.
    std::fs::remove_file(tmp.path().join("run/summary.json")).unwrap();
    let again = depthlab(tmp.path(), &["train", "--resume", "run"]);
    again.ok();
    assert!(!again.stdout.contains("NaN") && !again.stdout.contains("test loss -"), "{}", again.stdout);
    assert_eq!(first.stdout, again.stdout);
    assert!(tmp.path().join("run/summary.json").is_file());
}

#[test]
fn grads_takes_a_model_only_config_and_refuses_a_folder_as_out() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "m.toml", "[model]\narch = \"plain\"\ndepth = 2\nwidth = 4\n");
    let x = depthlab::npy::Array::f32(vec![3, 5], (0..15).map(|i| i as f32 / 15.0).collect());
    depthlab::npy::write(&tmp.path().join("x.npy"), &x).unwrap();
    // Weights of the same model, from a training run of it.
    write(
        tmp.path(),
        "t.toml",
        &TINY
            .replace("arch = \"residual\"", "arch = \"plain\"")
            .replace("depth = 4", "depth = 2")
            .replace("width = 12", "width = 4"),
    );
    depthlab(tmp.path(), &["train", "t.toml", "--out", "run", "-q", "--set", "train.epochs=1"]).ok();
    let w = std::fs::canonicalize(tmp.path().join("run/model.safetensors")).unwrap();
    std::fs::copy(&w, tmp.path().join("w.safetensors")).unwrap();
    // A model-only config is enough, though the weights fix 40 input features.
    let args = ["grads", "--config", "m.toml", "--weights", "w.safetensors", "--input", "x.npy", "--out"];
    let r = depthlab(tmp.path(), &[&args[..], &["g.safetensors"]].concat());
    r.refused().stderr_has(&["x.npy", "[3, 5]", "[batch, 40]"]);
    let x = depthlab::npy::Array::f32(vec![3, 40], vec![0.5; 120]);
    depthlab::npy::write(&tmp.path().join("x.npy"), &x).unwrap();
    depthlab(tmp.path(), &[&args[..], &["g.safetensors"]].concat()).ok();
    assert!(tmp.path().join("g.safetensors").is_file());
    // A folder as --out: an error, and no temporary beside it.
    std::fs::create_dir(tmp.path().join("dir")).unwrap();
    depthlab(tmp.path(), &[&args[..], &["dir"]].concat()).refused().stderr_has(&["dir", "is a folder"]);
    let stray: Vec<String> = entries(tmp.path()).into_iter().filter(|n| n.contains("tmp")).collect();
    assert!(stray.is_empty(), "{stray:?}");
    // Too big for memory: refused before the model is built.
    write(tmp.path(), "big.toml", "[model]\narch = \"plain\"\ndepth = 2\nwidth = 1000000\n");
    let big =
        ["grads", "--config", "big.toml", "--weights", "w.safetensors", "--input", "x.npy", "--out", "g2.safetensors"];
    depthlab(tmp.path(), &big).refused().stderr_has(&["would need about", "model.width"]);
}

#[test]
fn missing_config_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    depthlab(tmp.path(), &["train", "missing.toml"]).failed().stderr_has(&["missing.toml", "cannot read config"]);
    assert!(entries(tmp.path()).is_empty());
}

// ---- divergence ----

#[test]
fn divergence_exits_non_zero_naming_step_and_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = TINY
        .replace("arch = \"residual\"", "arch = \"plain\"")
        .replace("width = 12", "width = 16")
        .replace("init = { kind = \"he\" }", "init = { kind = \"gaussian\", sigma_w2 = 50.0, sigma_b2 = 0.0 }")
        .replace("lr = 0.02", "lr = 1e6")
        .replace("momentum = 0.9", "momentum = 0.0");
    write(tmp.path(), "div.toml", &toml);
    let r = depthlab(tmp.path(), &["train", "div.toml", "--out", "run"]);
    r.failed().stderr_has(&["diverged", "at step "]);
    let layer = ["stem", "layers.", "head"].iter().any(|l| r.stderr.contains(l));
    assert!(layer, "no layer named in:\n{}", r.stderr);
    let dir = tmp.path().join("run");
    let s = json(&dir.join("summary.json"));
    assert_eq!(s["status"], "diverged", "{s}");
    let step = s["steps"].as_u64().unwrap();
    assert!(r.stderr.contains(&format!("at step {step} ")), "{}", r.stderr);
    for name in entries(&dir) {
        assert!(!name.ends_with(".tmp"), "{name} left in the run folder");
    }
    assert_eq!(metrics(&dir).last().unwrap()["kind"], "diverged");
}

// ---- data files ----

#[test]
fn mnist_not_found_says_where_it_looked_and_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = empty.display().to_string();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mnist-plain.toml");
    let r = depthlab(tmp.path(), &["train", config, "--data-dir", &e, "--no-download"]);
    r.refused()
        .stderr_has(&[&format!("MNIST (11 MB) is not in {e}"), &format!("`depthlab data fetch mnist --dir {e}`")]);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert_eq!(entries(tmp.path()), ["empty"], "a run folder was left behind");
    assert_eq!(entries(&empty), Vec::<String>::new());

    // $DEPTHLAB_DATA is where it looks without --data-dir, and where `data fetch` puts it.
    let out = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(["train", config, "--out", "run"])
        .current_dir(tmp.path())
        .env("DEPTHLAB_DATA", &empty)
        .env("DEPTHLAB_NO_DOWNLOAD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("is not in {e}, and downloading is off (DEPTHLAB_NO_DOWNLOAD=1)")), "{stderr}");
    assert!(stderr.contains("`depthlab data fetch mnist`"), "{stderr}");
    assert_eq!(entries(tmp.path()), ["empty"]);
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn idx_images(n: u32) -> Vec<u8> {
    let mut v = [0x803u32, n, 28, 28].iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    v.extend((0..n as usize * 784).map(|i| (i % 251) as u8));
    v
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut v = [0x801u32, n].iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    v.extend((0..n).map(|i| (i % 10) as u8));
    v
}

/// A data folder with the four MNIST files, gzipped; `train-images` replaced by `images`.
fn mnist_dir(root: &Path, name: &str, images: Vec<u8>) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("train-images-idx3-ubyte.gz"), images).unwrap();
    std::fs::write(d.join("train-labels-idx1-ubyte.gz"), gz(&idx_labels(40))).unwrap();
    std::fs::write(d.join("t10k-images-idx3-ubyte.gz"), gz(&idx_images(20))).unwrap();
    std::fs::write(d.join("t10k-labels-idx1-ubyte.gz"), gz(&idx_labels(20))).unwrap();
    d
}

#[test]
fn broken_idx_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mnist-plain.toml");
    let small = ["--set", "model.depth=2", "--set", "model.width=8", "--set", "train.epochs=1", "-q"];

    // A gzip stream cut in half.
    let whole = gz(&idx_images(40));
    let cut = mnist_dir(tmp.path(), "cut", whole[..whole.len() / 2].to_vec());
    let mut args = vec!["train", config, "--out", "run", "--data-dir", cut.to_str().unwrap()];
    args.extend(small);
    depthlab(tmp.path(), &args).failed().stderr_has(&["train-images-idx3-ubyte.gz", "truncated"]);

    // A whole gzip stream of an IDX file whose body is shorter than its header says.
    let mut short = idx_images(40);
    short.truncate(short.len() - 100);
    let short = mnist_dir(tmp.path(), "short", gz(&short));
    args[5] = short.to_str().unwrap();
    depthlab(tmp.path(), &args).failed().stderr_has(&["train-images-idx3-ubyte.gz", "truncated", "40 x 28 x 28"]);
    assert!(!tmp.path().join("run").exists(), "a run folder was left behind");

    // The same files, whole, train.
    let good = mnist_dir(tmp.path(), "good", gz(&idx_images(40)));
    args[5] = good.to_str().unwrap();
    depthlab(tmp.path(), &args).ok();
    let s = json(&tmp.path().join("run/summary.json"));
    assert_eq!((s["status"].as_str(), s["steps"].as_u64()), (Some("finished"), Some(1)));
}
