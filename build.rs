//! Records the compiler's version for the report's header.

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "an unknown rustc".into());
    println!("cargo:rustc-env=DEPTHLAB_RUSTC={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
