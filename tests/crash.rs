//! Run folders under fire: a small run killed (SIGKILL) right after each change to its folder and
//! at random moments, failing writes as on a full disk, two writers at once, SIGINT and SIGTERM.
//! Whatever happens, resuming ends with exactly the model, metrics and gradient log of the run
//! that was never interrupted, and no folder is ever left that neither `train` nor `--resume`
//! can continue.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::Value;

/// 150 steps over 3 epochs, a metrics record every 4 steps and a gradient record every 5.
const SMALL: &str = r#"seed = 5
[data]
name = "mnist1d"
num_samples = 2000
[model]
arch = "highway"
depth = 6
width = 32
[optim]
lr = 0.003
optimizer = { kind = "adam" }
[train]
epochs = 3
batch_size = 32
log_every = 4
[probe]
gradflow_every = 5
"#;

fn depthlab(args: &[&str], fault: Option<String>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_depthlab"));
    c.args(args).env("CI", "1").env_remove("DEPTHLAB_FAULT").stdout(Stdio::null()).stderr(Stdio::piped());
    if let Some(f) = fault {
        c.env("DEPTHLAB_FAULT", f);
    }
    c
}

/// Exit code and stderr; None for a process killed by a signal.
fn run(mut c: Command) -> (Option<i32>, String) {
    let out = c.output().expect("run depthlab");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn train(cfg: &Path, dir: &Path, fault: Option<String>) -> (Option<i32>, String) {
    run(depthlab(&["train", cfg.to_str().unwrap(), "--out", dir.to_str().unwrap(), "-q"], fault))
}

fn resume(dir: &Path, fault: Option<String>) -> (Option<i32>, String) {
    run(depthlab(&["train", "--resume", dir.to_str().unwrap(), "-q"], fault))
}

/// What must come out the same: the weights, the optimizer state, and the logs without
/// their timings.
#[derive(Debug, PartialEq)]
struct Outcome {
    model: Vec<u8>,
    optim: Vec<u8>,
    metrics: Vec<Value>,
    gradflow: String,
    summary: Value,
}

fn without_timing(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("elapsed_s");
    }
    v
}

fn outcome(dir: &Path) -> Outcome {
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}/{f}: {e}", dir.display()));
    let metrics = String::from_utf8(read("metrics.jsonl")).unwrap();
    Outcome {
        model: read("model.safetensors"),
        optim: read("optim.safetensors"),
        metrics: metrics.lines().map(|l| without_timing(serde_json::from_str(l).unwrap())).collect(),
        gradflow: String::from_utf8(read("gradflow.jsonl")).unwrap(),
        summary: without_timing(serde_json::from_slice(&read("summary.json")).unwrap()),
    }
}

/// No temporaries, at most one generation folder, and the folder is a run `--resume` takes.
fn assert_tidy(dir: &Path) {
    let names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "temporaries left in {}: {names:?}", dir.display());
    assert!(names.iter().filter(|n| n.starts_with("ckpt.")).count() <= 1, "{names:?}");
}

/// Resume until the run finishes (it must, without faults, in one go).
fn finish(dir: &Path) {
    let (code, err) = resume(dir, None);
    assert_eq!(code, Some(0), "resume of {} failed: {err}", dir.display());
    assert_tidy(dir);
}

fn setup(text: &str) -> (tempfile::TempDir, PathBuf, Outcome) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, text).unwrap();
    let reference = tmp.path().join("reference");
    let (code, err) = train(&cfg, &reference, None);
    assert_eq!(code, Some(0), "{err}");
    let r = outcome(&reference);
    (tmp, cfg, r)
}

#[test]
fn killed_after_every_change_then_resumed_ends_identical() {
    let (tmp, cfg, reference) = setup(SMALL);
    let mut rng = StdRng::seed_from_u64(1);
    let (mut kills, mut k) = (0, 1);
    loop {
        let dir = tmp.path().join(format!("k{k}"));
        let (code, err) = train(&cfg, &dir, Some(format!("kill:{k}")));
        if code == Some(0) {
            // k is past the run's last change: every change has been struck.
            assert_eq!(outcome(&dir), reference);
            break;
        }
        assert_eq!(code, None, "kill:{k} should have killed the run: {err}");
        kills += 1;
        // A second kill while resuming, at a random later change.
        let (code, _) = resume(&dir, Some(format!("kill:{}", rng.random_range(1..60))));
        kills += (code.is_none()) as usize;
        if dir.join("config.toml").exists() {
            finish(&dir);
        } else {
            // Killed before the config was written: nothing to resume, and a fresh start
            // must take the folder.
            let (_, err) = resume(&dir, None);
            assert!(err.contains("start the run again"), "{err}");
            assert_eq!(train(&cfg, &dir, None).0, Some(0));
        }
        assert_eq!(outcome(&dir), reference, "after kill:{k}");
        std::fs::remove_dir_all(&dir).unwrap();
        k += 1;
    }
    assert!(k > 50, "the run made only {k} changes to its folder");
    eprintln!("{kills} kills at {} change points, all resumed identical", k - 1);
}

/// Kill `child` after `ms` milliseconds (if it is still running); whether it was killed.
fn kill_after(mut child: Child, ms: u64) -> bool {
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let status = child.wait().unwrap();
    killed && status.code().is_none()
}

#[test]
fn killed_at_random_moments_then_resumed_ends_identical() {
    // Bigger, so that a run lasts long enough to be struck anywhere.
    let text = SMALL
        .replace("width = 32", "width = 128")
        .replace("depth = 6", "depth = 12")
        .replace("epochs = 3", "epochs = 6");
    let (tmp, cfg, reference) = setup(&text);
    let t = Instant::now();
    let probe = tmp.path().join("timing");
    assert_eq!(train(&cfg, &probe, None).0, Some(0));
    let run_ms = (t.elapsed().as_millis() as u64).max(20);
    let mut rng = StdRng::seed_from_u64(2);
    let mut kills = 0;
    // At least 12 rounds, and more until 24 kills have struck a running process: how many land
    // depends on how fast this machine runs the resumes (shorter than the fresh run timed).
    let mut rounds = 0;
    for round in 0..48 {
        if round >= 12 && kills >= 24 {
            break;
        }
        rounds += 1;
        let dir = tmp.path().join(format!("r{round}"));
        let a = ["train", cfg.to_str().unwrap(), "--out", dir.to_str().unwrap(), "-q"];
        let mut args: Vec<&str> = a.to_vec();
        // Several kills per round: the first in the fresh run, the rest while resuming.
        for _ in 0..3 {
            let child = depthlab(&args, None).stderr(Stdio::null()).spawn().unwrap();
            kills += kill_after(child, rng.random_range(0..run_ms / 2)) as usize;
            args = vec!["train", "--resume", dir.to_str().unwrap(), "-q"];
        }
        if dir.join("config.toml").exists() {
            finish(&dir);
        } else {
            // Killed before the config was written: the folder holds nothing to resume, and a
            // fresh start must take it.
            assert_eq!(train(&cfg, &dir, None).0, Some(0));
        }
        assert_eq!(outcome(&dir), reference, "round {round}");
    }
    assert!(kills >= 24, "only {kills} of {} kills struck a running process", 3 * rounds);
    eprintln!("{kills} random kills in {rounds} rounds (a run takes {run_ms} ms), all resumed identical");
}

#[test]
fn a_failed_write_stops_cleanly_and_the_run_resumes_identical() {
    let (tmp, cfg, reference) = setup(SMALL);
    for n in [1, 2, 3, 10, 40, 60, 90, 120] {
        let dir = tmp.path().join(format!("w{n}"));
        let (code, err) = train(&cfg, &dir, Some(format!("enospc:{n}")));
        if code == Some(0) {
            continue;
        }
        assert_eq!(code, Some(1), "enospc:{n}: {err}");
        assert!(err.contains("no space left") && !err.contains("panicked"), "enospc:{n}: {err}");
        assert_tidy(&dir);
        if dir.join("config.toml").exists() {
            finish(&dir);
        } else {
            assert_eq!(train(&cfg, &dir, None).0, Some(0));
        }
        assert_eq!(outcome(&dir), reference, "after enospc:{n}");
    }
}

/// Wait until `path` exists.
fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A run long enough to be caught while it trains.
fn long_config() -> String {
    SMALL.replace("epochs = 3", "epochs = 200")
}

#[test]
fn a_second_writer_is_refused_with_the_holder_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, long_config()).unwrap();
    let dir = tmp.path().join("run");
    let first =
        depthlab(&["train", cfg.to_str().unwrap(), "--out", dir.to_str().unwrap(), "-q"], None).spawn().unwrap();
    wait_for(&dir.join("metrics.jsonl"));
    let pid = first.id().to_string();
    for second in [
        train(&cfg, &dir, None),
        resume(&dir, None),
        run(depthlab(&["train", cfg.to_str().unwrap(), "--out", dir.to_str().unwrap(), "-q"], None)),
    ] {
        assert_eq!(second.0, Some(1), "{}", second.1);
        assert!(second.1.contains("being written by another process") && second.1.contains(&pid), "{}", second.1);
    }
    kill_after(first, 0);
}

#[test]
fn sigint_and_sigterm_checkpoint_and_exit_130_and_143() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("c.toml");
        std::fs::write(&cfg, long_config()).unwrap();
        let dir = tmp.path().join("run");
        let child =
            depthlab(&["train", cfg.to_str().unwrap(), "--out", dir.to_str().unwrap(), "-q"], None).spawn().unwrap();
        wait_for(&dir.join("gradflow.jsonl"));
        let ok = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success();
        assert!(ok);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{signal}: {err}");
        assert!(err.contains("a checkpoint was written") && err.contains("--resume"), "{signal}: {err}");
        assert_tidy(&dir);
        let state: Value = serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
        let step = state["step"].as_u64().unwrap();
        assert!(step > 0, "{signal}: the checkpoint is at the step reached ({step})");
        // Cut the run short (the first epochs do not depend on how many follow), then compare
        // with an uninterrupted run of that length.
        let short = std::fs::read_to_string(dir.join("config.toml")).unwrap().replace("epochs = 200", "epochs = 3");
        std::fs::write(dir.join("config.toml"), &short).unwrap();
        let reference = tmp.path().join("reference");
        std::fs::write(&cfg, &short).unwrap();
        assert_eq!(train(&cfg, &reference, None).0, Some(0));
        if step < 150 {
            finish(&dir);
            assert_eq!(outcome(&dir), outcome(&reference), "{signal}");
        }
    }
}
