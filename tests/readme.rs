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
    assert_eq!(block, ["cargo run --release -- train examples/mnist1d-highway.toml", "cargo test"]);
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mnist1d-highway.toml");
    depthlab::config::Config::load(&config, &[]).unwrap();
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
