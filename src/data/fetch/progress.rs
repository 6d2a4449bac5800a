//! What the user sees while files download: a bar on a terminal, one line per event otherwise
//! (logs, CI), nothing with `--quiet`; or, under a command that says in one line what it fetches
//! (`train`, `reproduce`), only the bar. Everything goes to stderr so stdout keeps only the
//! result.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Quiet,
    Lines,
    Bar,
    /// A bar while a file downloads, and no lines: the caller says what was fetched.
    BarOnly,
}

impl Progress {
    /// A bar when stderr is a terminal outside CI (as `depthlab train` decides), else lines.
    pub fn auto(quiet: bool) -> Self {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }
}

/// One download's bar (if any) and the mode.
pub struct Reporter {
    mode: Progress,
    bar: Option<ProgressBar>,
}

impl Reporter {
    pub fn new(mode: Progress) -> Self {
        Reporter { mode, bar: None }
    }

    /// A line that stays: in Lines mode, or above the bar.
    pub fn line(&self, msg: &str) {
        match (self.mode, &self.bar) {
            (Progress::Quiet | Progress::BarOnly, _) => {}
            (_, Some(bar)) => bar.println(msg),
            (_, None) => eprintln!("{msg}"),
        }
    }

    /// A transfer of `name` starts at byte `from` of `total` (when the server says).
    pub fn start(&mut self, name: &str, url: &str, from: u64, total: Option<u64>) {
        let resume = if from > 0 { format!(" (resuming at byte {from})") } else { String::new() };
        match self.mode {
            Progress::Quiet => {}
            Progress::Lines => eprintln!("downloading {url}{resume}"),
            Progress::Bar | Progress::BarOnly => {
                let bar = match total {
                    Some(t) => ProgressBar::new(t),
                    None => ProgressBar::new_spinner(),
                };
                let style = "{msg:28} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {eta:>4}";
                bar.set_style(ProgressStyle::with_template(style).unwrap());
                bar.set_message(name.to_string());
                bar.set_position(from);
                self.bar = Some(bar);
            }
        }
    }

    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// The transfer ended, well or not: the bar goes, the caller reports the outcome.
    pub fn stop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop();
    }
}
