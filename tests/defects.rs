//! The experiment engine's defects found from outside (issue 18), one test each where the run
//! folder's fault test (tests/faults.rs: damaged runs, engines sharing a folder) does not
//! already hold it: sizes without bounds, a sweep whose probes do not apply, signals and closed
//! pipes, temporaries left behind, and the smaller ones of item 7.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BASE: &str = r#"seed = 1
[data]
name = "mnist1d"
num_samples = 300
[model]
arch = "plain"
depth = 2
width = 8
[optim]
lr = 0.01
optimizer = { kind = "adam" }
[train]
epochs = 1
batch_size = 64
"#;

fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_depthlab"));
    c.args(args).current_dir(cwd).env("CI", "1").stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    command(cwd, args).output().unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `o` failed with exit 1 (or clap's 2), its error holding every one of `needles`.
fn refused(o: &Output, needles: &[&str]) {
    let e = err(o);
    assert!(matches!(o.status.code(), Some(1) | Some(2)), "exit {:?}: {e}", o.status.code());
    for n in needles {
        assert!(e.contains(n), "{n:?} in:\n{e}");
    }
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", err(o));
    out(o) + &err(o)
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("base.toml"), BASE).unwrap();
    tmp
}

fn sweep_file(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), format!("base = \"base.toml\"\n{text}")).unwrap();
}

/// Defect 4: every size is bounded before anything is allocated, with the flag or key and the
/// limit named; a grid too large to list is refused at once.
#[test]
fn sizes_are_bounded_before_anything_is_allocated() {
    let tmp = setup();
    let p = tmp.path();
    let t0 = std::time::Instant::now();
    refused(&run(p, &["reproduce", "--plan", "--seeds", "18446744073709551615", "--out", "x"]), &["--seeds", "1000"]);
    refused(&run(p, &["reproduce", "C4", "--plan", "--shard", "0/4000000000", "--out", "x"]), &["100000 shards"]);
    refused(&run(p, &["reproduce", "C4", "--scale", "tiny", "--jobs", "0", "--out", "x"]), &["--jobs"]);
    sweep_file(p, "huge.toml", "seeds = 9223372036854775807\n[axes]\n\"model.depth\" = [2]\n");
    refused(&run(p, &["sweep", "huge.toml", "--plan"]), &["huge.toml", "seeds = 9223372036854775807", "1000"]);
    sweep_file(p, "many.toml", "seeds = 10000000\n[axes]\n\"model.depth\" = [2]\n");
    refused(&run(p, &["sweep", "many.toml", "--plan"]), &["many.toml", "1000"]);
    let axis = (1..=100).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    sweep_file(
        p,
        "grid.toml",
        &format!("[axes]\n\"model.depth\" = [{axis}]\n\"model.width\" = [{axis}]\n\"optim.lr\" = [{axis}]\n"),
    );
    refused(&run(p, &["sweep", "grid.toml", "--plan"]), &["grid.toml", "more than 100000 runs"]);
    assert!(t0.elapsed().as_secs() < 30, "refusals are immediate, not after planning");
    assert!(!p.join("x").exists() && !p.join("sweeps").exists(), "nothing written");
}

/// Defect 5: a probe that does not apply to every run of a sweep is refused when the sweep is
/// read (`--plan` too), before any run trains; and the README's own sweep finishes.
#[test]
fn a_sweeps_probes_must_apply_and_the_readmes_sweep_finishes() {
    let tmp = setup();
    let p = tmp.path();
    sweep_file(
        p,
        "gates.toml",
        "probes = [\"gradflow\", \"gates\"]\n[axes]\n\"model.arch\" = [\"plain\", \"highway\"]\n",
    );
    for plan in [true, false] {
        let mut a = vec!["sweep", "gates.toml"];
        if plan {
            a.push("--plan");
        }
        refused(&run(p, &a), &["gates.toml", "probe `gates`", "plain"]);
    }
    assert!(!p.join("sweeps").exists(), "nothing trained");

    // The README's example, beside a copy of the example it names, as a newcomer runs it.
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("```toml\nbase = \"examples/").expect("the README's sweep example") + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    std::fs::create_dir(p.join("examples")).unwrap();
    let base = text.lines().next().unwrap().trim_start_matches("base = \"").trim_end_matches('"');
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(base), p.join(base)).unwrap();
    std::fs::write(p.join("tiny.toml"), text).unwrap();
    let o = ok(&run(p, &["sweep", "tiny.toml", "--jobs", "2"]));
    assert!(o.contains("4 runs done now"), "{o}");
    let o = ok(&run(p, &["sweep", "collect", "sweeps/tiny", "--metric", "test_accuracy", "--by", "model.depth"]));
    assert!(o.contains("4 runs"), "{o}");
}

/// Defect 7, a sweep's smaller ones: seeds given twice; a default out beside the sweep file, as
/// an explicit one is; collect by a key of words.
#[test]
fn a_sweeps_seeds_out_and_collect_say_what_they_do() {
    let tmp = setup();
    let p = tmp.path();
    sweep_file(p, "twice.toml", "seeds = 2\n[axes]\n\"seed\" = [1, 2]\n\"model.depth\" = [1]\n");
    refused(&run(p, &["sweep", "twice.toml", "--plan"]), &["twice.toml", "seed", "one place"]);

    std::fs::create_dir(p.join("elsewhere")).unwrap();
    sweep_file(p, "s.toml", "probes = [\"gradflow\"]\n[axes]\n\"model.arch\" = [\"plain\", \"residual\"]\n");
    ok(&run(&p.join("elsewhere"), &["sweep", "../s.toml", "--jobs", "1"]));
    assert!(p.join("sweeps/s/runs").is_dir(), "the default out is beside the sweep file");
    assert!(!p.join("elsewhere/sweeps").exists());
    refused(
        &run(p, &["sweep", "collect", "sweeps/s", "--metric", "test_accuracy", "--by", "model.arch"]),
        &["model.arch"],
    );
    ok(&run(p, &["sweep", "collect", "sweeps/s", "--metric", "test_accuracy", "--by", "model.depth"]));
}

/// Defect 7, reproduce's smaller ones: `--seeds 0`, `--out` naming a file, a quiet shard,
/// "1 run", and a partial reproduce into a suite's folder keeps the suite's other claims.
#[test]
fn reproduces_smaller_defects() {
    let tmp = setup();
    let p = tmp.path();
    refused(&run(p, &["reproduce", "C4", "--scale", "tiny", "--seeds", "0", "--out", "s"]), &["--seeds", "at least 1"]);
    std::fs::write(p.join("afile"), "").unwrap();
    refused(&run(p, &["reproduce", "C4", "--scale", "tiny", "--out", "afile"]), &["--out afile", "a file"]);

    let o = run(p, &["reproduce", "C4", "C5", "--scale", "tiny", "--out", "s", "-q", "--shard", "0/2"]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(!err(&o).contains("shard 0/2 done") && !out(&o).contains("shard 0/2 done"), "-q is quiet");
    ok(&run(p, &["reproduce", "C4", "C5", "--scale", "tiny", "--out", "s"]));
    let summary = |o: &Output| out(o) + &err(o);
    // C4 alone into the suite's folder: the report still has C5.
    let o = ok(&run(p, &["reproduce", "C4", "--scale", "tiny", "--out", "s"]));
    let verdicts = std::fs::read_to_string(p.join("s/verdicts.json")).unwrap();
    assert!(verdicts.contains("\"C4\"") && verdicts.contains("\"C5\""), "{o}\n{verdicts}");
    // One run missing: "1 run", not "1 runs".
    let runs = p.join("s/runs");
    let victim = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    std::fs::remove_dir_all(&victim).unwrap();
    let o = run(p, &["report", "s"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!summary(&o).contains("1 runs"), "{}", summary(&o));
}

/// Defect 2, two claims reproduced at once into one folder: suite.json keeps both, and the
/// report covers both.
#[test]
fn two_claims_reproduced_at_once_into_one_folder_are_both_kept() {
    let tmp = setup();
    let p = tmp.path();
    let spawn = |claim: &str| command(p, &["reproduce", claim, "--scale", "tiny", "--out", "s"]).spawn().unwrap();
    let (a, b) = (spawn("C4"), spawn("C12"));
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", err(&o));
    }
    let suite = std::fs::read_to_string(p.join("s/suite.json")).unwrap();
    assert!(suite.contains("\"C4\"") && suite.contains("\"C12\""), "{suite}");
    ok(&run(p, &["report", "s"]));
    let verdicts = std::fs::read_to_string(p.join("s/verdicts.json")).unwrap();
    assert!(verdicts.contains("\"C4\"") && verdicts.contains("\"C12\""));
}

/// Defect 3: temporaries that a killed writer left (a report's, the verdicts', a probe's) are
/// removed by the next writer.
#[test]
fn temporaries_of_killed_writers_are_removed_by_the_next() {
    let tmp = setup();
    let p = tmp.path();
    ok(&run(p, &["reproduce", "C4", "C5", "--scale", "tiny", "--out", "s"]));
    let probed = std::fs::read_dir(p.join("s/runs"))
        .unwrap()
        .map(|e| e.unwrap().path().join("probes"))
        .find(|d| d.join("gates.json").is_file())
        .unwrap();
    let stale = [
        p.join("s/.report.html.99999.tmp"),
        p.join("s/.verdicts.json.99999.tmp"),
        probed.join(".gates.json.99999.tmp"),
    ];
    for f in &stale {
        std::fs::write(f, "left by a killed writer").unwrap();
    }
    std::fs::remove_file(probed.join("gates.json")).unwrap();
    ok(&run(p, &["reproduce", "C4", "C5", "--scale", "tiny", "--out", "s"]));
    for f in &stale {
        assert!(!f.exists(), "{} is still there", f.display());
    }
    assert!(probed.join("gates.json").is_file());
}

/// Defect 6: a closed stdout and stderr never stop the work.
#[test]
fn closed_pipes_do_not_stop_a_sweep() {
    let tmp = setup();
    let p = tmp.path();
    sweep_file(p, "s.toml", "seeds = 3\n[axes]\n\"model.depth\" = [1, 2]\n");
    let mut c = command(p, &["sweep", "s.toml", "--jobs", "2"]).spawn().unwrap();
    drop(c.stdout.take());
    drop(c.stderr.take());
    let status = c.wait().unwrap();
    assert!(status.success(), "{status}");
    let done = std::fs::read_dir(p.join("sweeps/s/runs"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("summary.json").is_file())
        .count();
    assert_eq!(done, 6);
}

/// Defect 7: a worker killed by a signal is named as such (not "exited with None"), and the
/// engine goes on with the other runs.
#[cfg(target_os = "linux")]
#[test]
fn a_worker_killed_by_a_signal_is_named() {
    let tmp = setup();
    let p = tmp.path();
    std::fs::write(p.join("base.toml"), BASE.replace("epochs = 1", "epochs = 2000")).unwrap();
    sweep_file(p, "s.toml", "[axes]\n\"model.depth\" = [1]\n");
    let child = command(p, &["sweep", "s.toml", "--jobs", "1"]).spawn().unwrap();
    // The worker is the engine's child process that trains.
    let engine = child.id().to_string();
    let worker = || {
        std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()).find_map(|e| {
            let cmd = String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).ok()?).replace('\0', " ");
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // stat: pid (comm) state ppid ...
            let ppid = stat.rsplit(") ").next()?.split(' ').nth(1)?.to_string();
            (cmd.contains(" worker train ") && ppid == engine).then(|| e.file_name())
        })
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut pid = None;
    while pid.is_none() && std::time::Instant::now() < until {
        pid = worker();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = pid.expect("the engine started a worker");
    let k = Command::new("kill").args(["-KILL", pid.to_str().unwrap()]).status().unwrap();
    assert!(k.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("was killed by SIGKILL") && !err(&o).contains("None"), "{}", err(&o));
}

/// Defect 7: a finished run whose checkpoint link dangles is called damaged, not a run that
/// "has not written a checkpoint yet".
#[test]
fn a_dangling_checkpoint_is_called_damage() {
    let tmp = setup();
    let p = tmp.path();
    ok(&run(p, &["train", "base.toml", "--out", "r", "-q"]));
    let target = std::fs::read_link(p.join("r/checkpoint")).unwrap();
    std::fs::remove_dir_all(p.join("r").join(target)).unwrap();
    refused(&run(p, &["probe", "r", "--what", "gradflow"]), &["damaged"]);
}
