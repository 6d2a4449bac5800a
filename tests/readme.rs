//! The README's first two commands, the docs' example configs and every relative link of the
//! README and docs/ stay true.

use std::path::{Component, Path, PathBuf};

/// Files that other branches are writing now: links to them may come first. The lead empties
/// this list as those branches merge (the last test fails once a listed file exists).
const PENDING: &[&str] = &["docs/instruments.md"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The first toml block after `heading` in `text`.
fn toml_after<'a>(text: &'a str, heading: &str, file: &str) -> &'a str {
    let at = text.find(heading).unwrap_or_else(|| panic!("{file} has no heading {heading:?}"));
    let start = at
        + text[at..].find("```toml\n").unwrap_or_else(|| panic!("{file}: no toml block after {heading:?}"))
        + "```toml\n".len();
    let end = start + text[start..].find("```").unwrap();
    &text[start..end]
}

#[test]
fn training_config_example_parses() {
    let text = read("docs/training.md");
    let example = toml_after(&text, "## The config", "docs/training.md");
    let cfg = depthlab::config::Config::parse(example, "docs/training.md", &[]).unwrap();
    assert_eq!(cfg.model.depth, 50);
    assert_eq!(cfg.model.aux.len(), 1);
}

#[test]
fn readme_starts_with_the_two_commands() {
    let text = read("README.md");
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
fn sweep_example_resolves() {
    let text = read("docs/sweeps.md");
    let example = toml_after(&text, "## The sweep file", "docs/sweeps.md");
    // The example's base path is relative to the sweep file, as it would be in the repository root.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    let base = root().join("examples/mnist1d-highway.toml");
    std::fs::copy(base, dir.path().join("examples/mnist1d-highway.toml")).unwrap();
    let path = dir.path().join("depth.toml");
    std::fs::write(&path, example).unwrap();
    let sweep = depthlab::sweep::spec::Sweep::load(&path).unwrap();
    assert_eq!(sweep.runs.len(), 3 * 2 * 3);
}

#[test]
fn every_example_config_parses_and_validates() {
    let dir = root().join("examples");
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

/// README.md and every docs/*.md.
fn markdown_files() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    let mut files = vec![root().join("README.md")];
    files.extend(docs);
    files
}

/// The targets of the inline links `[text](target)` of a markdown text, with their line
/// numbers; code blocks and code spans hold code, not links (`layers[l](x)` is Python).
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let prose: Vec<&str> = line.split('`').step_by(2).collect();
        let prose = prose.join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            out.push((i + 1, after[..end].split_whitespace().next().unwrap_or("").to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// `p` with its `.` and `..` taken out, without touching the disk (a pending target is absent).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c.as_os_str()),
        }
    }
    out
}

#[test]
fn link_targets_skip_code_and_keep_anchors() {
    let text = "See [a](docs/a.md#x) and `layers[l](x)`.\n```\n[b](nope.md)\n```\n[c](../c.md \"title\") [d](#here)";
    let found: Vec<(usize, String)> = link_targets(text);
    let want = [(1, "docs/a.md#x"), (5, "../c.md"), (5, "#here")];
    assert_eq!(found, want.map(|(l, t)| (l, t.to_string())));
}

#[test]
fn every_relative_link_in_the_readme_and_docs_points_at_a_file() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let shown = file.strip_prefix(root()).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, target) in link_targets(&text) {
            let path = target.split('#').next().unwrap();
            // An anchor in the same file, or a page elsewhere.
            if path.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let resolved = lexical(&file.parent().unwrap().join(path));
            let Ok(rel) = resolved.strip_prefix(root()) else {
                broken.push(format!("{shown}:{line}: {target} points outside the repository"));
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            if PENDING.contains(&rel.as_str()) {
                continue;
            }
            if !resolved.exists() {
                broken.push(format!("{shown}:{line}: {target} ({rel}) does not exist"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 30, "expected the README's and the docs' links, found {checked}");
    for p in PENDING {
        assert!(!root().join(p).exists(), "{p} exists now: take it out of PENDING in tests/readme.rs");
    }
}
