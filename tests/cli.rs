//! The `depthlab train` command: exit codes, messages and the run folder it leaves (or not).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use depthlab::train::load_tensors;
use serde_json::Value;

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

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success; stderr:\n{}", self.stderr);
        self
    }
    fn failed(&self) -> &Self {
        assert!(self.code.is_some_and(|c| c != 0), "expected failure, got {:?}; stdout:\n{}", self.code, self.stdout);
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
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(args)
        .current_dir(cwd)
        .env_remove("DEPTHLAB_DATA")
        .env("CI", "1")
        .output()
        .expect("run depthlab");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
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
        depthlab(tmp.path(), &a).failed().stderr_has(needles);
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
fn mnist_not_found_says_where_it_looked_and_how_to_provide_it() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mnist-plain.toml");
    let r = depthlab(tmp.path(), &["train", config, "--data-dir", empty.to_str().unwrap()]);
    r.failed().stderr_has(&["MNIST", "--data-dir", "DEPTHLAB_DATA", "looked in", "train-images"]);
    assert!(r.stderr.contains(&empty.join("train-images-idx3-ubyte").display().to_string()), "{}", r.stderr);
    assert_eq!(entries(tmp.path()), ["empty"], "a run folder was left behind");

    // $DEPTHLAB_DATA is where it looks without --data-dir.
    let out = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(["train", config, "--out", "run"])
        .current_dir(tmp.path())
        .env("DEPTHLAB_DATA", &empty)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&empty.join("train-images-idx3-ubyte").display().to_string()), "{stderr}");
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
