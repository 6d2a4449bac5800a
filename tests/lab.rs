//! Every experiment's whole pipeline at tiny scale: its runs, its analysis, its verdict and its
//! section of the report. What is checked is that the files and the verdict's fields are there
//! and well formed, not the outcome (tiny runs decide nothing).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// `depthlab reproduce CLAIM --scale tiny` into a fresh folder; the claim's verdicts.json entry.
fn reproduce_tiny(claim: &str) -> (tempfile::TempDir, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("suite");
    let o = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(["reproduce", claim, "--scale", "tiny", "--jobs", "2", "--out", out.to_str().unwrap()])
        .env("CI", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{claim}: {err}\n{stdout}");
    assert!(stdout.contains(&format!("report: {}", out.join("report.html").display())), "{stdout}");
    let v: Value = serde_json::from_slice(&std::fs::read(out.join("verdicts.json")).unwrap()).unwrap();
    let entry = v["claims"].as_array().unwrap().iter().find(|c| c["id"] == claim).cloned().unwrap();
    check_report(&out, claim, &entry);
    (tmp, entry)
}

fn check_report(out: &Path, claim: &str, entry: &Value) {
    assert!(
        ["held", "did not hold", "inconclusive", "inconclusive (seeds disagree)"]
            .contains(&entry["state"].as_str().unwrap()),
        "{entry}"
    );
    let v = &entry["verdict"];
    for k in ["claim", "rule", "anchor"] {
        assert!(!v[k].as_str().unwrap().is_empty(), "{claim}: verdict.{k} is empty");
    }
    let measured = v["measured"].as_array().unwrap();
    assert!(measured.iter().any(|m| !m["condition"].as_str().unwrap().is_empty()), "{claim}: no measure is judged");
    for m in measured {
        assert!(m["name"].is_string() && m["shown"].is_string(), "{m}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(&format!("<h2 id=\"{claim}\">")), "{claim}: no section");
    let section = &html[html.find(&format!("<h2 id=\"{claim}\">")).unwrap()..];
    assert!(section.contains("<svg") && section.contains("Verdict"), "{claim}: no figure or verdict");
    // Every run the section lists is there.
    for id in section.split("<a href=\"runs/").skip(1).map(|s| &s[..16]) {
        assert!(out.join("runs").join(id).join("config.toml").is_file(), "{claim}: run {id} missing");
    }
}

#[test]
fn c4_highway_vs_plain() {
    let (_t, e) = reproduce_tiny("C4");
    assert_eq!(e["slug"], "highway-vs-plain");
}

#[test]
fn c5_gate_analysis() {
    let (_t, e) = reproduce_tiny("C5");
    assert_eq!(e["slug"], "gate-analysis");
    let names: Vec<&str> =
        e["verdict"]["measured"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(
        names.iter().any(|n| n.contains("gate bias fell")) && names.iter().any(|n| n.contains("idle")),
        "{names:?}"
    );
}

#[test]
fn c6_effective_depth() {
    let (_t, e) = reproduce_tiny("C6");
    assert_eq!(e["slug"], "effective-depth");
}

#[test]
fn c7_dense_connections() {
    let (_t, e) = reproduce_tiny("C7");
    assert_eq!(e["slug"], "dense-connections");
}

#[test]
fn c2_linear_chain() {
    let (_t, e) = reproduce_tiny("C2");
    assert_eq!(e["slug"], "linear-chain");
}

#[test]
fn c1_depth_efficiency() {
    let (_t, e) = reproduce_tiny("C1");
    assert_eq!(e["slug"], "depth-efficiency");
}

#[test]
fn c3_signal_propagation() {
    let (_t, e) = reproduce_tiny("C3");
    assert_eq!(e["slug"], "signal-propagation");
}

#[test]
fn c13_intermediate_losses() {
    let (_t, e) = reproduce_tiny("C13");
    assert_eq!(e["slug"], "intermediate-losses");
    let names: Vec<&str> =
        e["verdict"]["measured"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.starts_with("(a)")) && names.iter().any(|n| n.starts_with("(b)")), "{names:?}");
}

#[test]
fn c8_receptive_field() {
    let (_t, e) = reproduce_tiny("C8");
    assert_eq!(e["slug"], "receptive-field");
    let names: Vec<&str> =
        e["verdict"]["measured"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(
        names.iter().any(|n| n.contains("receptive field short of T"))
            && names.iter().any(|n| n.contains("reaches T that succeed"))
            && names.iter().any(|n| n.contains("attention")),
        "{names:?}"
    );
}

#[test]
fn c9_bptt_vanishing() {
    let (_t, e) = reproduce_tiny("C9");
    assert_eq!(e["slug"], "bptt-vanishing");
    let names: Vec<&str> =
        e["verdict"]["measured"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.contains("far/near")), "{names:?}");
}

#[test]
fn c10_gated_memory() {
    let (_t, e) = reproduce_tiny("C10");
    assert_eq!(e["slug"], "gated-memory");
}

#[test]
fn c11_temporal_depth() {
    let (_t, e) = reproduce_tiny("C11");
    assert_eq!(e["slug"], "temporal-depth");
    let names: Vec<&str> =
        e["verdict"]["measured"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert!(names.iter().any(|n| n.contains("effective temporal depth")), "{names:?}");
}

#[test]
fn c12_exploding() {
    let (_t, e) = reproduce_tiny("C12");
    assert_eq!(e["slug"], "exploding");
}
