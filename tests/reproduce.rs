//! `depthlab reproduce` as a whole: one or two workers give the same report; a suite killed at
//! a random moment and restarted finishes without rerunning finished runs, with the same
//! report apart from timings; `report` says which runs are missing; `--plan` and bad claims.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CLAIMS: [&str; 2] = ["C4", "C5"];

fn depthlab(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_depthlab"));
    c.args(args).env("CI", "1").stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn reproduce(out: &Path, extra: &[&str]) -> Output {
    let mut a = vec!["reproduce"];
    a.extend(CLAIMS);
    a.extend(["--scale", "tiny", "--out", out.to_str().unwrap()]);
    a.extend(extra);
    depthlab(&a).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The report without its timings (the one line of the header marked as such).
fn report(out: &Path) -> String {
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    html.lines().filter(|l| !l.contains("class=\"timing\"")).collect::<Vec<_>>().join("\n")
}

fn verdicts(out: &Path) -> String {
    std::fs::read_to_string(out.join("verdicts.json")).unwrap()
}

#[test]
fn one_or_two_workers_give_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    ok(&reproduce(&one, &["--jobs", "1"]));
    ok(&reproduce(&two, &["--jobs", "2"]));
    assert_eq!(report(&one), report(&two));
    assert_eq!(verdicts(&one), verdicts(&two));
    // Everything is done: a second pass runs nothing and writes the same report.
    let again = reproduce(&one, &["--jobs", "2"]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && !err.contains("to do"), "{err}");
    assert_eq!(report(&one), report(&two));
    let plan = ok(&reproduce(&one, &["--plan"]));
    assert!(plan.contains("0 to do"), "{plan}");
}

#[test]
fn a_suite_killed_at_a_random_moment_continues_to_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    ok(&reproduce(&whole, &["--jobs", "2"]));
    let t0 = Instant::now();
    let cut = tmp.path().join("cut");
    let mut a = vec!["reproduce"];
    a.extend(CLAIMS);
    let out_s = cut.to_str().unwrap().to_string();
    a.extend(["--scale", "tiny", "--out", &out_s, "--jobs", "2"]);
    // Kill after a random share of a whole suite's time (a few hundred ms at tiny scale).
    let whole_ms = 2000u64;
    let at = Duration::from_millis(200 + (std::process::id() as u64 * 7919) % whole_ms);
    let mut child = depthlab(&a).spawn().unwrap();
    while t0.elapsed() < at && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().unwrap();
    // What was finished before the kill is not run again.
    let finished: Vec<String> = std::fs::read_dir(cut.join("runs"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join("summary.json").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let stamps: Vec<_> = finished
        .iter()
        .map(|id| std::fs::metadata(cut.join("runs").join(id).join("summary.json")).unwrap().modified().unwrap())
        .collect();
    ok(&reproduce(&cut, &["--jobs", "2"]));
    for (id, before) in finished.iter().zip(stamps) {
        let after = std::fs::metadata(cut.join("runs").join(id).join("summary.json")).unwrap().modified().unwrap();
        assert_eq!(before, after, "run {id} was finished before the kill and ran again");
    }
    assert_eq!(report(&whole), report(&cut));
    assert_eq!(verdicts(&whole), verdicts(&cut));
}

#[test]
fn report_lists_missing_runs_and_bad_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    ok(&reproduce(&out, &[]));
    // Remove one run: the report says which, and still writes what it can.
    let victim = std::fs::read_dir(out.join("runs")).unwrap().next().unwrap().unwrap().path();
    let id = victim.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::remove_dir_all(&victim).unwrap();
    let o = depthlab(&["report", out.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("missing") && err.contains(&id), "{err}");
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap().contains("incomplete"));

    let o = depthlab(&["reproduce", "C99", "--out", tmp.path().join("x").to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown claim `C99`"));
    let o = depthlab(&["report", tmp.path().join("nothing").to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("suite.json"));
    // Another scale into the same folder would mix two suites.
    let o =
        depthlab(&["reproduce", "C4", "--scale", "quick", "--plan", "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "--plan only reads");
    let o = depthlab(&["reproduce", "C4", "--scale", "quick", "--out", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("use another --out"));
}

/// A probe report whose field was renamed is never read as a verdict: `report` exits 1 naming
/// the run, the file and the field; `reproduce` probes the run again and the report is the
/// uninterrupted one.
#[test]
fn a_renamed_probe_field_fails_the_report_naming_run_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    ok(&reproduce(&out, &[]));
    let before = verdicts(&out);
    let gates = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path().join("probes/gates.json"))
        .find(|p| p.is_file() && std::fs::read_to_string(p).unwrap().contains("\"gate_bias\""))
        .expect("C5 probes the gates of C4's highway runs");
    let id = gates.parent().unwrap().parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&gates).unwrap();
    std::fs::write(&gates, text.replace("\"gate_bias\"", "\"bias_of_gate\"")).unwrap();
    let o = depthlab(&["report", out.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&id) && err.contains("probes/gates.json") && err.contains("gate_bias"), "{err}");
    ok(&reproduce(&out, &[]));
    assert_eq!(verdicts(&out), before);
    assert!(!std::fs::read_to_string(&gates).unwrap().contains("bias_of_gate"));
}

#[test]
fn the_guard_passes_on_its_own_outcomes_and_lists_each_outcome_that_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let reference = tmp.path().join("reference.json");
    ok(&reproduce(&out, &[]));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for c in CLAIMS {
        assert!(summary.contains(&format!("| {c} ")), "{c} has a line in the summary:\n{summary}");
    }
    assert!(summary.contains("## Seeds") && summary.contains("- versions: depthlab"), "{summary}");
    std::fs::copy(out.join("verdicts.json"), &reference).unwrap();
    let same = ok(&reproduce(&out, &["--expect", reference.to_str().unwrap()]));
    assert!(same.contains("outcomes as in"), "{same}");

    // Plant a flip in the reference: one claim's state and the first judged condition of it.
    let mut v: serde_json::Value = serde_json::from_str(&verdicts(&out)).unwrap();
    let claim = &mut v["claims"][0];
    let (id, state) = (claim["id"].as_str().unwrap().to_string(), claim["state"].as_str().unwrap().to_string());
    let planted = if state == "held" { "did not hold" } else { "held" };
    claim["state"] = planted.into();
    let judged = claim["verdict"]["measured"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["met"].is_boolean())
        .expect("a judged condition");
    let name = judged["name"].as_str().unwrap().to_string();
    let met = judged["met"].as_bool().unwrap();
    judged["met"] = (!met).into();
    std::fs::write(&reference, v.to_string()).unwrap();
    let o = depthlab(&["report", out.to_str().unwrap(), "--expect", reference.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{id} ")) && err.contains(&format!("{planted} -> {state}")), "{err}");
    assert!(err.contains(&format!("\"{name}\"")), "{err}");
    assert!(err.contains("2 outcomes differ"), "{err}");
}
