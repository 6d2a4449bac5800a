//! The README's config example and first two commands stay true.

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_config_example_parses() {
    let text = readme();
    // The training config example: the first toml block after "## Training" (Sweeps has its own).
    let training = text.find("## Training").expect("a Training section");
    let start = training + text[training..].find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + text[start..].find("```").unwrap();
    let cfg = depthlab::config::Config::parse(&text[start..end], "README.md", &[]).unwrap();
    assert_eq!(cfg.model.depth, 50);
    assert_eq!(cfg.model.aux.len(), 1);
}

#[test]
fn readme_starts_with_the_two_commands() {
    let text = readme();
    let start = text.find("```sh\n").unwrap() + 6;
    let block: Vec<&str> = text[start..].lines().take_while(|l| !l.starts_with("```")).collect();
    assert_eq!(block, ["cargo run --release -- reproduce", "cargo test"]);
    // The first command is the quick suite of every claim: its plan (which runs nothing) covers
    // each registered experiment and writes where the README says the report goes.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(["reproduce", "--plan"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = String::from_utf8_lossy(&out.stdout);
    for e in depthlab::lab::all() {
        assert!(plan.contains(&format!("  {} {}: ", e.id(), e.slug())), "the plan leaves out {}:\n{plan}", e.id());
    }
    assert!(plan.starts_with("quick scale; the report will be reproduce/quick/report.html\n"), "{plan}");
    assert!(text.contains("`reproduce/quick/report.html`"));
}

#[test]
fn readme_sweep_example_resolves() {
    let text = readme();
    let sweeps = text.find("## Sweeps").expect("a Sweeps section");
    let start = sweeps + text[sweeps..].find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + text[start..].find("```").unwrap();
    // The example's base path is relative to the sweep file, as it would be in the repository root.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mnist1d-highway.toml");
    std::fs::copy(example, dir.path().join("examples/mnist1d-highway.toml")).unwrap();
    let path = dir.path().join("depth.toml");
    std::fs::write(&path, &text[start..end]).unwrap();
    let sweep = depthlab::sweep::spec::Sweep::load(&path).unwrap();
    assert_eq!(sweep.runs.len(), 3 * 2 * 3);
}

#[test]
fn every_example_config_parses_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            depthlab::config::Config::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 16, "expected the example configs, found {n}");
}
