//! Records the compiler's version and the source's commit for the report's header.

use std::process::Command;

fn output(cmd: &mut Command) -> Option<String> {
    let o = cmd.output().ok().filter(|o| o.status.success())?;
    String::from_utf8(o.stdout).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(Command::new(rustc).arg("-V")).unwrap_or_else(|| "an unknown rustc".into());
    println!("cargo:rustc-env=DEPTHLAB_RUSTC={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
    // Outside a git checkout (a crate from a registry, a source archive) there is no commit.
    let commit = output(Command::new("git").args(["rev-parse", "--short=12", "HEAD"])).unwrap_or_default();
    println!("cargo:rustc-env=DEPTHLAB_COMMIT={commit}");
    // A new commit moves HEAD's branch (or HEAD itself, detached). Only files that exist are
    // watched: cargo reruns a build script whose watched file is missing on every build.
    let path = |p: &str| output(Command::new("git").args(["rev-parse", "--git-path", p]));
    let branch = output(Command::new("git").args(["symbolic-ref", "-q", "HEAD"]));
    let watched = [Some("HEAD"), branch.as_deref(), Some("packed-refs")];
    for p in watched.into_iter().flatten().filter_map(path) {
        if std::path::Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
