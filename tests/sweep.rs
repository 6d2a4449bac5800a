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
    assert!(plan.contains("12 runs: 12 done, 0 started, 0 damaged, 0 to do"), "{plan}");
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

/// The Slurm array script, run as Slurm runs an array: one process per task id, each with the
/// array's variables set, all at once into one folder; the table is one process's.
#[test]
fn the_slurm_array_script_splits_a_sweep_into_shards() {
    let tmp = setup();
    let p = tmp.path();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm/depthlab-array.sbatch");
    let tasks: Vec<_> = (3..6)
        .map(|id| {
            Command::new("bash")
                .arg(&script)
                .args(["sweep", "s.toml", "--out", "array"])
                .current_dir(p)
                .env("CI", "1")
                .env("DEPTHLAB", env!("CARGO_BIN_EXE_depthlab"))
                .env("SLURM_ARRAY_TASK_ID", id.to_string())
                .env("SLURM_ARRAY_TASK_MIN", "3")
                .env("SLURM_ARRAY_TASK_COUNT", "3")
                .env("SLURM_CPUS_PER_TASK", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for t in tasks {
        ok(t);
    }
    ok(depthlab(p, &["sweep", "s.toml", "--out", "one", "--jobs", "1"]));
    assert_eq!(table(p, "array"), table(p, "one"));
    // Outside an array it refuses to guess.
    let o = Command::new("bash").arg(&script).args(["sweep", "s.toml"]).current_dir(p).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("job array"));
}

/// The indexed Job's shard count is its completion count, and each pod's index is its shard.
#[test]
fn the_kubernetes_job_shards_by_its_completion_index() {
    let yaml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes/indexed-job.yaml"))
            .unwrap();
    let field = |k: &str| -> usize {
        let line = yaml.lines().find(|l| l.trim_start().starts_with(&format!("{k}:"))).unwrap();
        line.split(':').nth(1).unwrap().split('#').next().unwrap().trim().parse().unwrap()
    };
    let (completions, parallelism) = (field("completions"), field("parallelism"));
    assert!(yaml.contains("completionMode: Indexed"));
    let cmd = yaml.lines().find(|l| l.contains("exec depthlab")).unwrap();
    assert!(cmd.contains(&format!("--shard \"${{JOB_COMPLETION_INDEX}}/{completions}\"")), "{cmd}");
    assert!(parallelism <= completions);
    // The command line is one depthlab accepts (planned, not run).
    let args: Vec<String> = cmd
        .trim()
        .trim_start_matches("- exec depthlab ")
        .replace("\"${JOB_COMPLETION_INDEX}", "0")
        .replace('"', "")
        .split_whitespace()
        .map(String::from)
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = tmp.path().join("suite");
    let i = a.iter().position(|x| *x == "--out").unwrap();
    a[i + 1] = out.to_str().unwrap();
    a.push("--plan");
    let plan = ok(depthlab(tmp.path(), &a));
    assert!(plan.contains(" runs: "), "{plan}");
}

/// A stop request while tasks are still queued ends the engine (it used to wait for the queue
/// to empty, which no worker empties once stopping: Ctrl-C hung the command).
#[test]
fn a_stop_with_tasks_still_queued_returns() {
    use depthlab::config::Config;
    use depthlab::sweep::{exec, Plan, RunRequest};
    use std::sync::atomic::AtomicI32;
    use std::sync::{mpsc, Arc};
    let dir = tempfile::tempdir().unwrap();
    let requests = (1..=3).map(|d| {
        let cfg = Config::parse(BASE, "base.toml", &[format!("model.depth={d}")]).unwrap();
        RunRequest::train(cfg, format!("depth {d}"))
    });
    let plan = Plan::new(requests);
    let opts = exec::ExecOptions {
        out: dir.path().to_owned(),
        jobs: 1,
        data_dir: None,
        quiet: true,
        exe: env!("CARGO_BIN_EXE_depthlab").into(),
        stop: Some(Arc::new(AtomicI32::new(2))),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let tasks = plan.shard(None, std::path::Path::new("."));
        tx.send(exec::run(&tasks, &opts)).unwrap();
    });
    let r = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the engine returns once stopped");
    assert_eq!(r.interrupted, Some(2));
    assert_eq!((r.ran, r.failed.len()), (0, 0));
}
