//! Run ids are a contract: they hash the resolved config, so a finished run is found again by
//! every later suite. This test snapshots every claim's runs at every scale (id, whether it is
//! trained, its probes, its label) in tests/fixtures/run_ids.txt. A change that moves an id
//! fails here; when that is meant, regenerate the file with
//! `DEPTHLAB_BLESS_RUN_IDS=1 cargo test --test run_ids` and say in the commit which ids moved
//! and why.

use depthlab::lab::{self, Params, Scale};

fn snapshot() -> String {
    let mut out = String::new();
    for scale in [Scale::Quick, Scale::Paper, Scale::Tiny] {
        let p = Params { scale, seeds: None };
        for e in lab::all() {
            for r in e.runs(&p) {
                let probes: Vec<&str> = r.probes.iter().map(|k| k.name()).collect();
                out += &format!(
                    "{} {} {} {} [{}] {}\n",
                    scale.name(),
                    e.id(),
                    r.id(),
                    if r.train { "train" } else { "init" },
                    probes.join(","),
                    r.label
                );
            }
        }
    }
    out
}

#[test]
fn every_claims_run_ids_are_unchanged() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run_ids.txt");
    let now = snapshot();
    if std::env::var_os("DEPTHLAB_BLESS_RUN_IDS").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let before = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if before == now {
        return;
    }
    let old: std::collections::BTreeSet<&str> = before.lines().collect();
    let new: std::collections::BTreeSet<&str> = now.lines().collect();
    let gone: Vec<&&str> = old.difference(&new).collect();
    let came: Vec<&&str> = new.difference(&old).collect();
    panic!(
        "the claims' runs changed ({} lines gone, {} new; order changes count too).\ngone:\n{}\nnew:\n{}",
        gone.len(),
        came.len(),
        gone.iter().take(40).map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"),
        came.iter().take(40).map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"),
    );
}
