//! The run engine from outside: a sweep split into shards run by separate processes collects to
//! exactly the table of one process; worker counts do not change results; a finished run is
//! never run again; a killed sweep continues where it stopped.

use std::path::Path;
use std::process::{Command, Stdio};

const BASE: &str = r#"seed = 1
[data]
name = "mnist1d"
num_samples = 600
[model]
arch = "plain"
depth = 2
width = 16
[optim]
lr = 0.01
optimizer = { kind = "adam" }
[train]
epochs = 2
batch_size = 64
"#;

const SWEEP: &str = r#"base = "base.toml"
seeds = 2
probes = ["gradflow"]
[axes]
"model.depth" = [1, 3]
"model.arch" = ["plain", "residual", "highway"]
"#;

fn depthlab(cwd: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(args)
        .current_dir(cwd)
        .env("CI", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn ok(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &err
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("base.toml"), BASE).unwrap();
    std::fs::write(tmp.path().join("s.toml"), SWEEP).unwrap();
    tmp
}

fn table(cwd: &Path, out: &str) -> String {
    ok(depthlab(cwd, &["sweep", "collect", out, "--metric", "test_accuracy", "--by", "model.depth"]));
    let t = std::fs::read_to_string(cwd.join(out).join("table.csv")).unwrap();
    assert_eq!(t.lines().count(), 13, "a header and 12 runs:\n{t}");
    t
}

#[test]
fn three_shards_in_three_processes_collect_to_the_table_of_one() {
    let tmp = setup();
    let p = tmp.path();
    ok(depthlab(p, &["sweep", "s.toml", "--out", "one", "--jobs", "1"]));
    let shards: Vec<_> = (0..3)
        .map(|i| depthlab(p, &["sweep", "s.toml", "--out", "many", "--jobs", "1", "--shard", &format!("{i}/3")]))
        .collect();
    for s in shards {
        ok(s);
    }
    let (one, many) = (table(p, "one"), table(p, "many"));
    assert_eq!(one, many);
    assert!(std::fs::read_to_string(p.join("one/test_accuracy_by_model_depth.svg")).unwrap().contains("<svg"));

    // Two workers give the same table too.
    ok(depthlab(p, &["sweep", "s.toml", "--out", "two", "--jobs", "2"]));
    assert_eq!(one, table(p, "two"));

    // Nothing runs twice: a second pass finds everything done.
    let again = ok(depthlab(p, &["sweep", "s.toml", "--out", "one"]));
    assert!(again.contains("0 runs done now, 12 were done already"), "{again}");
    let plan = ok(depthlab(p, &["sweep", "s.toml", "--out", "many", "--plan"]));
    assert!(plan.contains("12 runs: 12 done, 0 started, 0 to do"), "{plan}");
}

#[test]
fn a_killed_sweep_continues_where_it_stopped() {
    let tmp = setup();
    let p = tmp.path();
    std::fs::write(p.join("long.toml"), SWEEP.replace("seeds = 2", "seeds = 3")).unwrap();
    std::fs::write(p.join("base.toml"), BASE.replace("epochs = 2", "epochs = 6")).unwrap();
    let mut child = depthlab(p, &["sweep", "long.toml", "--out", "k", "--jobs", "2"]);
    // Let some runs finish, then kill the engine outright; its workers get SIGTERM.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_dir(p.join("k/runs")).map_or(0, |d| d.count()) < 6 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let plan = ok(depthlab(p, &["sweep", "long.toml", "--out", "k", "--plan"]));
    let done: usize =
        plan.lines().last().unwrap().split(": ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(done < 18, "the kill came after every run had finished: {plan}");
    let rest = ok(depthlab(p, &["sweep", "long.toml", "--out", "k", "--jobs", "2"]));
    assert!(rest.contains(&format!("{done} were done already")), "{rest}");
    // The same table as one uninterrupted process.
    ok(depthlab(p, &["sweep", "long.toml", "--out", "whole", "--jobs", "1"]));
    ok(depthlab(p, &["sweep", "collect", "k"]));
    ok(depthlab(p, &["sweep", "collect", "whole"]));
    let read = |d: &str| std::fs::read_to_string(p.join(d).join("table.csv")).unwrap();
    assert_eq!(read("k"), read("whole"));
}

#[test]
fn bad_shards_and_sweeps_are_refused() {
    let tmp = setup();
    let out = depthlab(tmp.path(), &["sweep", "s.toml", "--shard", "3/3"]).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("I/N"));
    std::fs::write(tmp.path().join("bad.toml"), "base = \"base.toml\"\n[axes]\n\"model.widht\" = [3]\n").unwrap();
    let out = depthlab(tmp.path(), &["sweep", "bad.toml"]).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("widht"));
    assert!(!tmp.path().join("sweeps").exists());
}
