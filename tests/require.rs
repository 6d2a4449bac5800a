//! The check before runs start, through the command: `sweep`, `reproduce` and `train` in a
//! folder with no data, the user cache in a temporary folder and a mirror on 127.0.0.1 standing
//! in for the internet (`DEPTHLAB_MIRROR`, serving the shared data laid out as a data folder).
//! A suite whose data are missing fetches them once and runs; the next reuses them; offline it
//! refuses up front, one line per missing set, and makes no folder; an interrupted fetch resumes;
//! a corrupted mirror is skipped.

#[path = "common/mirror.rs"]
mod mirror;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mirror::{data_folder_files, gunzip, gzip, Mirror};

macro_rules! need_data {
    () => {
        match data_folder_files() {
            Some(f) => f,
            None => {
                println!(
                    "skipping: the shared data (MNIST, Brown, Austen) are not in $DEPTHLAB_DATA or ../shared/data"
                );
                return;
            }
        }
    };
}

/// A folder to run in, without data, with its own user cache.
struct Place {
    tmp: tempfile::TempDir,
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Place {
    fn new() -> Place {
        Place { tmp: tempfile::tempdir().unwrap() }
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn cache(&self) -> PathBuf {
        self.path().join("cache/depthlab")
    }

    /// `depthlab ARGS` here, fetching from `mirrors` (base URLs, tried in order).
    fn run(&self, mirrors: &[&Mirror], env: &[(&str, &str)], args: &[&str]) -> Out {
        let mut c = Command::new(env!("CARGO_BIN_EXE_depthlab"));
        c.args(args).current_dir(self.path()).env("CI", "1");
        c.env("XDG_CACHE_HOME", self.path().join("cache")).env("HOME", self.path().join("home"));
        c.env_remove("DEPTHLAB_DATA").env_remove("DEPTHLAB_NO_DOWNLOAD");
        let urls: Vec<&str> = mirrors.iter().map(|m| m.url.as_str()).collect();
        c.env("DEPTHLAB_MIRROR", urls.join(" "));
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        let out = Out {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        out
    }

    /// A sweep of tiny MNIST runs over `depths`, into `out`.
    fn mnist_sweep(&self, name: &str, depths: &[u32], out: &str) -> String {
        let base = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mnist-plain.toml");
        let depths: Vec<String> = depths.iter().map(|d| d.to_string()).collect();
        let text = format!(
            "base = \"{base}\"\nout = \"{out}\"\n[set]\n\"train.epochs\" = 1\n\"data.train_subset\" = 256\n\
             \"data.test_subset\" = 64\n\"model.width\" = 16\n[axes]\n\"model.depth\" = [{}]\n",
            depths.join(", ")
        );
        let file = self.path().join(name);
        std::fs::write(&file, text).unwrap();
        file.to_string_lossy().into_owned()
    }
}

/// The lines of `s` that say what is fetched.
fn fetching_lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| l.starts_with("fetching ")).collect()
}

/// The finished runs under `out`.
fn finished(out: &Path) -> usize {
    std::fs::read_dir(out.join("runs"))
        .map(|d| {
            d.filter(|e| {
                let s = std::fs::read_to_string(e.as_ref().unwrap().path().join("summary.json")).unwrap_or_default();
                s.contains("\"finished\"")
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_sweep_fetches_its_data_once_then_runs_and_the_next_reuses_them() {
    let files = need_data!();
    let m = Mirror::start(files.clone(), false);
    let p = Place::new();
    let s1 = p.mnist_sweep("s1.toml", &[1, 2], "o1");
    let r = p.run(&[&m], &[], &["sweep", &s1, "--jobs", "1"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines = fetching_lines(&r.stderr);
    assert_eq!(lines.len(), 1, "one line for MNIST:\n{}", r.stderr);
    let into = p.cache().join("mnist");
    assert!(
        lines[0].starts_with(&format!("fetching MNIST (11 MB) into {}: it is not in ", into.display())),
        "{}",
        lines[0]
    );
    for name in mirror::MNIST_NAMES {
        assert_eq!(m.ranges(&format!("mnist/{name}")), [None], "{name}: fetched once");
        assert_eq!(std::fs::read(into.join(name)).unwrap(), *files[&format!("mnist/{name}")]);
    }
    assert_eq!(finished(&p.path().join("o1")), 2, "{}", r.stderr);

    // Runs finished need no data: the same sweep again, offline and with an empty cache, is done.
    let empty = p.path().join("empty-cache");
    let r =
        p.run(&[&m], &[("DEPTHLAB_NO_DOWNLOAD", "1"), ("XDG_CACHE_HOME", empty.to_str().unwrap())], &["sweep", &s1]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("0 runs done now, 2 were done already"), "{}", r.stdout);

    // The next suite finds them in the cache: no request, no line.
    let s2 = p.mnist_sweep("s2.toml", &[3], "o2");
    let r = p.run(&[&m], &[], &["sweep", &s2, "--jobs", "1"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(fetching_lines(&r.stderr), Vec::<&str>::new());
    assert_eq!(m.seen().len(), 4);
    assert_eq!(finished(&p.path().join("o2")), 1);
}

#[test]
fn offline_a_suite_refuses_up_front_one_line_per_missing_set_and_makes_nothing() {
    let files = need_data!();
    let m = Mirror::start(files, false);
    let p = Place::new();
    let r = p.run(&[&m], &[], &["reproduce", "C4", "C13", "--no-download", "--out", "suite"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one line per missing set:\n{}", r.stderr);
    let cache = p.cache();
    for (line, set) in lines.iter().zip(["mnist", "brown"]) {
        assert!(line.contains(&format!("depthlab data fetch {set}`")), "{line}");
        assert!(line.contains(&cache.display().to_string()) && line.contains("--no-download"), "{line}");
    }
    assert!(lines[0].starts_with("error: MNIST (11 MB) is not in "), "{}", lines[0]);
    assert!(lines[1].starts_with("the Brown corpus (3 MB) is not in "), "{}", lines[1]);
    assert!(m.seen().is_empty(), "nothing downloaded");

    // The environment does the same for a sweep; and --data-dir is named in the command.
    let s = p.mnist_sweep("s.toml", &[1], "o");
    let r = p.run(&[&m], &[("DEPTHLAB_NO_DOWNLOAD", "1")], &["sweep", &s, "--data-dir", "mine"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("(DEPTHLAB_NO_DOWNLOAD=1): get it with `depthlab data fetch mnist --dir mine`"),
        "{}",
        r.stderr
    );
    let r = p.run(&[&m], &[("DEPTHLAB_NO_DOWNLOAD", "sometimes")], &["sweep", &s]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("error: DEPTHLAB_NO_DOWNLOAD=sometimes: expected 1"), "{}", r.stderr);

    // train too, for the Austen text, and a bad mirror variable is named.
    let austen = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/austen-lstm.toml");
    let r = p.run(&[&m], &[], &["train", austen, "--no-download", "--out", "run"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("the Austen text (1.6 MB) is not in") && r.stderr.contains("data fetch austen`"),
        "{}",
        r.stderr
    );
    let r = p.run(&[], &[("DEPTHLAB_MIRROR", "/srv/mirror")], &["train", austen]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("error: DEPTHLAB_MIRROR=/srv/mirror: bad mirror URL"), "{}", r.stderr);

    let mut made: Vec<String> =
        std::fs::read_dir(p.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    made.sort();
    assert_eq!(made, ["s.toml"], "no suite, run, data or cache folder");
}

#[test]
fn reproduce_fetch_only_gets_every_set_its_claims_need_once() {
    let files = need_data!();
    let m = Mirror::start(files, false);
    let p = Place::new();
    let r = p.run(&[&m], &[], &["reproduce", "C4", "C13", "--fetch-only", "--out", "suite"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let cache = p.cache();
    assert_eq!(
        r.stdout,
        format!("mnist: in {0} (fetched now)\nbrown: in {0} (fetched now)\n", cache.display()),
        "{}",
        r.stderr
    );
    assert_eq!(fetching_lines(&r.stderr).len(), 2, "{}", r.stderr);
    assert_eq!(m.seen().len(), 5, "four MNIST files and the corpus");
    assert!(!p.path().join("suite").exists(), "--fetch-only starts nothing");

    let r = p.run(&[&m], &[("DEPTHLAB_NO_DOWNLOAD", "1")], &["reproduce", "C4", "C13", "--fetch-only"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("brown: in") && r.stdout.contains("(already there)"), "{}", r.stdout);
    assert_eq!(m.seen().len(), 5);
}

#[test]
fn an_interrupted_fetch_resumes_and_a_corrupted_mirror_is_skipped() {
    let files = need_data!();
    let p = Place::new();
    let austen = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/austen-lstm.toml");
    let args = ["train", austen, "--set", "data.train=64", "--set", "model.width=8", "--set", "train.epochs=1"];
    let run = |out: &'static str| [&args[..], &["--out", out]].concat();

    // A mirror that breaks off: the run fails before it starts, keeping what it got.
    let m = Mirror::start(files.clone(), false);
    m.cut(500_000);
    let r = p.run(&[&m], &[], &run("a"));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(fetching_lines(&r.stderr).len(), 1, "{}", r.stderr);
    let first = r.stderr.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(first.starts_with("error: the Austen text (1.6 MB) is not in"), "{first}");
    assert!(
        first.contains("and fetching it into") && first.contains("(run `depthlab data fetch austen` to try again)"),
        "{first}"
    );
    assert!(r.stderr.contains("broke off after 500000 of"), "{}", r.stderr);
    assert!(!p.path().join("a").exists(), "no run folder");
    let part = p.cache().join("text/austen.txt.gz.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 500_000);

    // The next run continues the part.
    m.cut(0);
    let r = p.run(&[&m], &[], &run("a"));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(fetching_lines(&r.stderr).len(), 1, "{}", r.stderr);
    assert_eq!(m.ranges("text/austen.txt.gz"), [None, Some("bytes=500000-".into())], "the cut, then the rest");
    assert_eq!(std::fs::read(p.cache().join("text/austen.txt.gz")).unwrap(), *files["text/austen.txt.gz"]);
    assert!(!part.exists());
    assert!(p.path().join("a/summary.json").is_file(), "{}", r.stderr);

    // Elsewhere, a first mirror with a corrupted copy is passed over, saying nothing more.
    let mut bad_files = files.clone();
    let mut text = gunzip(&files["text/austen.txt.gz"]);
    text[0] = b'e'; // "EMMA" -> "eMMA"
    bad_files.insert("text/austen.txt.gz".into(), Arc::new(gzip(&text)));
    let bad = Mirror::start(bad_files, false);
    let good = Mirror::start(files.clone(), false);
    let q = Place::new();
    let r = q.run(&[&bad, &good], &[], &run("b"));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(fetching_lines(&r.stderr).len(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains(&bad.url), "the passed-over mirror is not news:\n{}", r.stderr);
    assert_eq!((bad.ranges("text/austen.txt.gz").len(), good.ranges("text/austen.txt.gz").len()), (1, 1));
    assert_eq!(std::fs::read(q.cache().join("text/austen.txt.gz")).unwrap(), *files["text/austen.txt.gz"]);
    assert!(q.path().join("b/summary.json").is_file(), "{}", r.stderr);
}

/// Slurm: submit.sh fetches the data once where it runs, then submits an array whose tasks are
/// told not to download (a stand-in `sbatch` records what it was given).
#[test]
fn the_slurm_submit_script_fetches_before_the_array_and_the_tasks_stay_offline() {
    let files = need_data!();
    let m = Mirror::start(files, false);
    let p = Place::new();
    let bin = p.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = p.path().join("sbatch.log");
    let sbatch = bin.join("sbatch");
    std::fs::write(
        &sbatch,
        "#!/bin/sh\nhave=missing\n[ -f \"$DEPTHLAB_DATA/mnist/train-labels-idx1-ubyte.gz\" ] && have=there\n\
         echo \"data $have, DEPTHLAB_NO_DOWNLOAD=$DEPTHLAB_NO_DOWNLOAD: $*\" >> \"$SBATCH_LOG\"\necho 42\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = p.mnist_sweep("s.toml", &[1], "o");
    let submit = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/slurm/submit.sh");
    let data = p.path().join("shared-data");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let env = [
        ("PATH", path.as_str()),
        ("SBATCH_LOG", log.to_str().unwrap()),
        ("DEPTHLAB", env!("CARGO_BIN_EXE_depthlab")),
        ("DEPTHLAB_DATA", data.to_str().unwrap()),
    ];
    let mut c = Command::new("bash");
    c.args([submit, "2", "sweep", &s, "--out", "o"]).current_dir(p.path()).env("CI", "1");
    c.env("XDG_CACHE_HOME", p.path().join("cache")).env_remove("DEPTHLAB_NO_DOWNLOAD");
    c.env("DEPTHLAB_MIRROR", &m.url);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(fetching_lines(&stderr).len(), 1, "{stderr}");
    let calls = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "the array and the report step: {calls:?}");
    assert!(calls[0].starts_with("data there, DEPTHLAB_NO_DOWNLOAD=1: --parsable --array=0-1 "), "{}", calls[0]);
    assert!(calls[0].ends_with(&format!("depthlab-array.sbatch sweep {s} --out o")), "{}", calls[0]);
    assert_eq!(m.seen().len(), 4);
    assert!(!p.path().join("o").exists(), "the array, not submit.sh, runs the sweep");
}

/// Kubernetes: the fetch Job's command fetches what the suite needs into its data volume and
/// starts nothing; the indexed Job's pods are told not to download.
#[test]
fn the_kubernetes_fetch_job_fetches_what_the_suite_needs() {
    let files = need_data!();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes");
    let yaml = std::fs::read_to_string(dir.join("fetch-job.yaml")).unwrap();
    let line = yaml.lines().find(|l| l.trim_start().starts_with("command: [\"depthlab\"")).unwrap();
    let mut args: Vec<String> = line
        .split_once('[')
        .unwrap()
        .1
        .trim_end_matches(']')
        .split(',')
        .map(|a| a.trim().trim_matches('"').to_string())
        .skip(1)
        .collect();
    assert!(args.contains(&"--fetch-only".to_string()), "{line}");
    assert!(yaml.contains("name: DEPTHLAB_DATA\n              value: /data"), "the volume is the data folder");
    // Only C4 of the suite, so that the test's mirror needs only MNIST (the paper scale's plan
    // is large to build); the volume and the results folder are here.
    let p = Place::new();
    let at = args.iter().position(|a| a == "--out").unwrap();
    args[at + 1] = p.path().join("results/suite").to_string_lossy().into_owned();
    args.insert(1, "C4".into());
    let m = Mirror::start(files, false);
    let data = p.path().join("data");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = p.run(&[&m], &[("DEPTHLAB_DATA", data.to_str().unwrap())], &args);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, format!("mnist: in {} (fetched now)\n", data.display()));
    assert!(!p.path().join("results").exists());

    let suite = std::fs::read_to_string(dir.join("indexed-job.yaml")).unwrap();
    assert!(suite.contains("name: DEPTHLAB_NO_DOWNLOAD\n              value: \"1\""), "{suite}");
}

/// The command a refusal names is the one that gets the data where the runs look, on a machine
/// with the same settings (here offline for runs, with a mirror for fetches).
#[test]
fn the_command_a_refusal_names_gets_the_data() {
    let files = need_data!();
    let m = Mirror::start(files, false);
    let p = Place::new();
    let s = p.mnist_sweep("s.toml", &[1], "o");
    let offline = [("DEPTHLAB_NO_DOWNLOAD", "1")];
    // (Each into its own folder: runs finished need no data.)
    for (data_dir, out) in [(None, "o1"), (Some("mine"), "o2")] {
        let mut args = vec!["sweep", s.as_str(), "--jobs", "1", "--out", out];
        args.extend(data_dir.map(|d| ["--data-dir", d]).into_iter().flatten());
        let r = p.run(&[&m], &offline, &args);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        let command = r.stderr.split('`').nth(1).unwrap();
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(&words[..4], ["depthlab", "data", "fetch", "mnist"], "{command}");
        let r = p.run(&[&m], &offline, &words[1..]);
        assert_eq!(r.code, Some(0), "{command}: {}", r.stderr);
        let r = p.run(&[&m], &offline, &args);
        assert_eq!(r.code, Some(0), "after `{command}`: {}", r.stderr);
    }
    assert_eq!(m.seen().len(), 8, "MNIST twice: into the cache, then into mine/");
}
