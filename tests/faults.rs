//! The engine under damage, as the run folder's crash test is for one run: every file of a
//! finished run of a tiny suite (C4 and C5: trained runs, checkpoints, probe reports and their
//! figures) truncated, deleted, swapped with another run's, emptied, or (JSON) replaced by `{}`, in turn, and two run
//! folders swapped. In every case `report` either exits 0 with the uninterrupted verdicts (the
//! file is not one a verdict reads) or refuses, naming the run; `reproduce` then runs or probes
//! the damaged run again and ends with the uninterrupted verdicts and report. No case may change
//! a verdict silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CLAIMS: [&str; 2] = ["C4", "C5"];

fn depthlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(args)
        .env("CI", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn reproduce(out: &Path) -> Output {
    let mut a = vec!["reproduce"];
    a.extend(CLAIMS);
    a.extend(["--scale", "tiny", "--out", out.to_str().unwrap(), "--jobs", "2"]);
    depthlab(&a)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The report without its timings, and the verdicts.
fn results(out: &Path) -> (String, String) {
    let html = std::fs::read_to_string(out.join("report.html")).unwrap_or_default();
    let html = html.lines().filter(|l| !l.contains("class=\"timing\"")).collect::<Vec<_>>().join("\n");
    (html, std::fs::read_to_string(out.join("verdicts.json")).unwrap_or_default())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        let kind = e.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), dest).unwrap();
        } else if kind.is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Every file (and link: a run's current checkpoint is one) under `dir` but its lock, relative
/// to it, in order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let (p, kind) = (e.path(), e.file_type().unwrap());
            if kind.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != ".lock" {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Truncate,
    Delete,
    Swap,
    Empty,
    /// A JSON file replaced by `{}`: parses, but holds nothing.
    EmptyObject,
}

#[test]
fn every_damaged_file_is_rerun_or_refused_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let o = reproduce(&whole);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = results(&whole);
    // Two probed runs (C5 probes the gates of C4's highway nets), whose files have the same
    // names, so that each can take the other's.
    let probed: Vec<String> = std::fs::read_dir(whole.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|id| whole.join("runs").join(id).join("probes/gates.json").is_file())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(probed.len() >= 2, "{probed:?}");
    let (victim, other) = (&probed[0], &probed[1]);
    let kinds = files(&whole.join("runs").join(victim));
    for must in [
        "config.toml",
        "metrics.jsonl",
        "summary.json",
        "ckpt.0/state.json",
        "checkpoint",
        "probes/gates.json",
        "probes/gates.sha256",
    ] {
        assert!(kinds.iter().any(|k| k == Path::new(must)), "{must} in {kinds:?}");
    }

    let (mut cases, mut refused, mut unread) = (0, 0, 0);
    let mut silent = Vec::new();
    let mut check = |case: String, out: &Path| {
        cases += 1;
        let r = depthlab(&["report", out.to_str().unwrap()]);
        let err = stderr(&r);
        if r.status.success() {
            if results(out).1 == expected.1 {
                unread += 1;
            } else {
                silent.push(case.clone());
            }
        } else {
            assert!(err.contains(victim.as_str()), "{case}: the refusal must name run {victim}:\n{err}");
            refused += 1;
        }
        let o = reproduce(out);
        assert!(o.status.success(), "{case}: reproduce after the damage:\n{}", stderr(&o));
        let got = results(out);
        assert!(got.1 == expected.1, "{case}: the verdicts after reproduce differ from the uninterrupted ones");
        assert!(got.0 == expected.0, "{case}: the report after reproduce differs from the uninterrupted one");
    };

    for (k, kind) in kinds.iter().enumerate() {
        for fault in [Fault::Truncate, Fault::Delete, Fault::Swap, Fault::Empty, Fault::EmptyObject] {
            if fault == Fault::EmptyObject && kind.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let out = tmp.path().join(format!("case-{k}-{fault:?}"));
            copy_dir(&whole, &out);
            let path = out.join("runs").join(victim).join(kind);
            // A link is only deleted: what it points to is damaged as its own file.
            if path.symlink_metadata().unwrap().is_symlink() && fault != Fault::Delete {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            if fault == Fault::Truncate && bytes.len() < 2 {
                continue;
            }
            match fault {
                Fault::Truncate => std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap(),
                Fault::Delete => std::fs::remove_file(&path).unwrap(),
                Fault::Swap => {
                    let theirs = out.join("runs").join(other).join(kind);
                    let Ok(b) = std::fs::read(&theirs) else { continue };
                    if b == bytes {
                        continue; // the same bytes: no damage to look for
                    }
                    std::fs::write(&path, b).unwrap();
                    std::fs::write(&theirs, &bytes).unwrap();
                }
                Fault::Empty => std::fs::write(&path, b"").unwrap(),
                Fault::EmptyObject => std::fs::write(&path, b"{}").unwrap(),
            }
            check(format!("{fault:?} {}", kind.display()), &out);
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
    // Two whole run folders swapped: each holds the other's run.
    let out = tmp.path().join("case-folders");
    copy_dir(&whole, &out);
    let (a, b) = (out.join("runs").join(victim), out.join("runs").join(other));
    std::fs::rename(&a, out.join("runs/tmp")).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(out.join("runs/tmp"), &b).unwrap();
    check("swapped run folders".into(), &out);

    eprintln!(
        "{cases} cases over {} files of run {victim}: {refused} refused naming the run, {unread} not read by a verdict, {} silent; all rerun to the uninterrupted result",
        kinds.len(),
        silent.len()
    );
    assert!(silent.is_empty(), "verdicts changed without an error: {silent:?}");
    assert!(refused > cases / 2, "most damage is to files a verdict reads: {refused} of {cases} refused");
}

/// Two engines started together on one folder, and shards that overlap (0/2 with 0/3 and 1/3,
/// and the same shard twice), all exit 0; the report is then the one a single engine writes.
#[test]
fn engines_that_share_a_folder_cooperate() {
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    let o = reproduce(&single);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = results(&single);

    let spawn = |out: &Path, extra: &[&str]| {
        let mut a = vec!["reproduce"];
        a.extend(CLAIMS);
        a.extend(["--scale", "tiny", "--out", out.to_str().unwrap(), "--jobs", "1"]);
        a.extend(extra);
        Command::new(env!("CARGO_BIN_EXE_depthlab"))
            .args(&a)
            .env("CI", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let both = tmp.path().join("both");
    let engines = [spawn(&both, &[]), spawn(&both, &[])];
    for e in engines {
        let o = e.wait_with_output().unwrap();
        assert!(o.status.success(), "two engines on one folder: {}", stderr(&o));
    }
    assert!(results(&both) == expected, "two engines: not the single engine's report");

    let shards = tmp.path().join("shards");
    let engines = [
        spawn(&shards, &["--shard", "0/2"]),
        spawn(&shards, &["--shard", "0/3"]),
        spawn(&shards, &["--shard", "1/3"]),
        spawn(&shards, &["--shard", "0/2"]),
    ];
    for e in engines {
        let o = e.wait_with_output().unwrap();
        assert!(o.status.success(), "overlapping shards: {}", stderr(&o));
    }
    // What the overlapping shards left (2/3's share of 1/2's half) is done by the last one.
    for s in ["1/2", "2/3"] {
        let o = spawn(&shards, &["--shard", s]).wait_with_output().unwrap();
        assert!(o.status.success(), "shard {s}: {}", stderr(&o));
    }
    let o = depthlab(&["report", shards.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(results(&shards) == expected, "overlapping shards: not the single engine's report");
}
