//! What the report says about where it ran: the machine, and the versions of what ran.

/// "AMD EPYC 9R14 (2 cores), 23.4 GiB, Debian GNU/Linux 12 (bookworm)"
pub fn describe() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| format!(", {:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| l[12..].trim_matches('"').to_string()))
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    format!("{cpu} ({cores} core{}){mem}, {os}", if cores == 1 { "" } else { "s" })
}

/// "depthlab 0.1.0, commit 28fa300c1a2b (built with rustc 1.95.0 ...)"
pub fn versions() -> String {
    let commit = env!("DEPTHLAB_COMMIT");
    let commit = if commit.is_empty() { String::new() } else { format!(", commit {commit}") };
    format!("depthlab {}{commit} (built with {})", env!("CARGO_PKG_VERSION"), env!("DEPTHLAB_RUSTC"))
}
