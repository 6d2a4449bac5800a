//! The `depthlab bench` command's options and fields (not its timings): `--t`, `--probes`,
//! `params`.

use depthlab::train::Net;
use serde_json::Value;
use std::path::Path;

mod common;
use common::{run_depthlab, Run};

/// `depthlab bench ARGS` with the temporary folder `tmp`.
fn bench(tmp: &Path, args: &[&str]) -> Run {
    let args: Vec<&str> = std::iter::once("bench").chain(args.iter().copied()).collect();
    run_depthlab(&args, |c| {
        c.env("TMPDIR", tmp);
    })
}

fn json_lines(r: &Run) -> Vec<Value> {
    assert_eq!(r.code, Some(0), "stderr:\n{}", r.stderr);
    r.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// Refused as a bad input is: exit 1 and a message naming the problem, no panic.
fn refused(r: &Run, needles: &[&str]) {
    assert_eq!(r.code, Some(1), "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    for n in needles {
        assert!(r.stderr.contains(n), "`{n}` not in stderr:\n{}", r.stderr);
    }
}

#[test]
fn t_sets_the_sequence_length_and_params_is_the_models_parameter_count() {
    let tmp = tempfile::tempdir().unwrap();
    let w2_params = Net::<depthlab::seq::batch::SeqBatch<f32>>::num_params(&mut depthlab::bench::w2_model());
    let r = bench(tmp.path(), &["w2", "--t", "50", "--steps", "2", "--warmup", "0", "--json"]);
    let lines = json_lines(&r);
    assert_eq!(lines.len(), 1);
    let v = &lines[0];
    assert_eq!(v["workload"], "w2");
    assert_eq!(v["t"], 50);
    assert_eq!(v["params"].as_u64(), Some(w2_params as u64));
    // LSTM 32 -> 128 and a 128 -> 1 readout: 4 x 128 x (32 + 128 + 2 biases) + 129.
    assert_eq!(w2_params, 4 * 128 * (32 + 128 + 2) + 129);
    assert_eq!(v["probes"], false);
    assert!(v["probe_overhead"].is_null() && v["plain_median_ms"].is_null());
    // The counted work grows with T: at T = 50 it is about half of W2's at T = 100.
    let r100 = bench(tmp.path(), &["w2", "--steps", "1", "--warmup", "0", "--json"]);
    let v100 = &json_lines(&r100)[0];
    assert_eq!(v100["t"], 100);
    let (g50, g100) = (v["gflop_per_step"].as_f64().unwrap(), v100["gflop_per_step"].as_f64().unwrap());
    assert!((g50 / g100 - 0.5).abs() < 0.01, "{g50} vs {g100}");

    let w1_params = depthlab::bench::w1_model().num_params();
    let v = &json_lines(&bench(tmp.path(), &["w1", "--batch", "4", "--steps", "1", "--warmup", "0", "--json"]))[0];
    assert_eq!(v["params"].as_u64(), Some(w1_params as u64));
    assert_eq!(w1_params, 466_890);
    assert!(v["t"].is_null(), "{v}");
}

#[test]
fn the_table_shows_params_and_t() {
    let tmp = tempfile::tempdir().unwrap();
    let r = bench(tmp.path(), &["w4", "--t", "20", "--batch", "2", "--steps", "1", "--warmup", "0"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let mut lines = r.stdout.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&head[..5], ["work", "params", "batch", "T", "threads"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let params = Net::<depthlab::seq::batch::SeqBatch<f32>>::num_params(&mut depthlab::bench::w4_model());
    assert_eq!(row[..5], ["w4".to_string(), params.to_string(), "2".into(), "20".into(), "1".into()]);
    // Without --probes the last column is empty.
    assert_eq!(*row.last().unwrap(), "-");
}

#[test]
fn all_passes_t_to_the_sequence_workloads_only() {
    let tmp = tempfile::tempdir().unwrap();
    let r = bench(tmp.path(), &["all", "--t", "12", "--batch", "2", "--steps", "1", "--warmup", "0", "--json"]);
    let lines = json_lines(&r);
    let got: Vec<(String, Value)> =
        lines.iter().map(|v| (v["workload"].as_str().unwrap().to_string(), v["t"].clone())).collect();
    let want: Vec<(String, Value)> = [("w1", Value::Null), ("w2", 12.into()), ("w3", 12.into()), ("w4", 12.into())]
        .into_iter()
        .map(|(w, t)| (w.to_string(), t))
        .collect();
    assert_eq!(got, want);
    assert!(lines.iter().all(|v| v["params"].as_u64().is_some_and(|p| p > 0)));
}

#[test]
fn probes_times_steps_with_the_telemetry_and_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    for w in ["w1", "w2"] {
        let mut args = vec![w, "--probes", "--batch", "2", "--steps", "3", "--warmup", "1", "--json"];
        if w == "w2" {
            args.extend(["--t", "10"]);
        }
        let v = &json_lines(&bench(tmp.path(), &args))[0];
        assert_eq!(v["probes"], true, "{v}");
        assert_eq!(v["steps"], 3);
        assert!(v["probe_overhead"].as_f64().is_some_and(|r| r.is_finite() && r > 0.0), "{v}");
        assert!(v["plain_median_ms"].as_f64().is_some_and(|m| m > 0.0), "{v}");
    }
    // The gradflow records went to a file in the temporary folder, removed at the end.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // The table's last column is the ratio.
    let r = bench(tmp.path(), &["w1", "--probes", "--batch", "2", "--steps", "2", "--warmup", "0"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.lines().next().unwrap().trim_end().ends_with("probes x"), "{}", r.stdout);
    let last = r.stdout.lines().nth(1).unwrap().split_whitespace().last().unwrap().to_string();
    assert!(last.parse::<f64>().is_ok_and(|x| x > 0.0), "{}", r.stdout);
}

#[test]
fn bad_t_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    refused(&bench(tmp.path(), &["w2", "--t", "0", "--steps", "1"]), &["--t must be at least 1"]);
    refused(
        &bench(tmp.path(), &["w1", "--t", "50", "--steps", "1"]),
        &["--t (sequence length) applies to the sequence workloads w2, w3, w4, not w1"],
    );
    refused(&bench(tmp.path(), &["w3", "--t", "100001", "--steps", "1"]), &["--t 100001 is more than 100000"]);
    // Not a number: the argument parser's own usage error.
    let r = bench(tmp.path(), &["w2", "--t", "ten"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--t"), "{}", r.stderr);
}
