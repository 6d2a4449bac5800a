//! The check before runs start: which data sets the planned runs need (from their configs), where
//! each one is in the search path, and a fetch of each one found nowhere; or, where downloading
//! is off (`--no-download`, [`NO_DOWNLOAD_ENV`]), one refusal that says for every missing set
//! where it was looked for and the command that gets it. `train`, `sweep` and `reproduce` call
//! [`require`] after planning and before anything starts or any folder is made.
//!
//! A set counts as there when its reader would find all its files; its content is checked when
//! it is fetched (and by `depthlab data fetch` on a copy that is there), not on every run.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::fetch::{self, FetchError, FetchOptions, FetchSet, Progress};
use super::search;
use crate::config::{Config, DataConfig};

/// Set to `1` (or `true`, `yes`, `on`), it turns downloads off as `--no-download` does: for
/// machines, such as a cluster's nodes, that have no internet.
pub const NO_DOWNLOAD_ENV: &str = "DEPTHLAB_NO_DOWNLOAD";

/// The base URL of a mirror laid out like a data folder (`URL/mnist/train-images-idx3-ubyte.gz`,
/// `URL/brown/brown.tar.gz`, `URL/text/austen.txt.gz`, ...: any folder depthlab fetched into,
/// served over HTTP), used instead of the public sources: for a local mirror, and for tests.
/// Several may be given, separated by spaces or commas, tried in order.
pub const MIRROR_ENV: &str = "DEPTHLAB_MIRROR";

/// Longest wait for another process that fetches into the same folder (a job array's tasks
/// started together) before this one gives up.
const WAIT_FOR_OTHER_FETCHER: Duration = Duration::from_secs(30 * 60);

/// Where to look, and whether a missing set may be downloaded.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `--data-dir`: searched alone, and where fetched sets go.
    pub data_dir: Option<PathBuf>,
    /// `None` when a missing set may be downloaded; else what turned downloading off, as the
    /// user would write it (`--no-download`, `DEPTHLAB_NO_DOWNLOAD=1`).
    pub offline: Option<String>,
    /// Base URLs of mirrors laid out like data folders, replacing the public sources.
    pub mirrors: Option<Vec<String>>,
    /// Print nothing but errors (else one line per set fetched, and a bar on a terminal).
    pub quiet: bool,
}

impl Policy {
    /// From a command's flags and the environment ([`NO_DOWNLOAD_ENV`], [`MIRROR_ENV`]); a value
    /// in the environment that means nothing is an error naming it.
    pub fn new(data_dir: Option<&Path>, no_download: bool, quiet: bool) -> Result<Policy, RequireError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Policy::from_env(data_dir, no_download, quiet, env(NO_DOWNLOAD_ENV), env(MIRROR_ENV))
    }

    fn from_env(
        data_dir: Option<&Path>,
        no_download: bool,
        quiet: bool,
        no_download_env: Option<String>,
        mirror_env: Option<String>,
    ) -> Result<Policy, RequireError> {
        let env_off = match &no_download_env {
            None => false,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(RequireError::Setting {
                        name: NO_DOWNLOAD_ENV,
                        value: v.clone(),
                        why: "expected 1 (no downloads) or 0 (true/false, yes/no and on/off are read too)".into(),
                    })
                }
            },
        };
        let offline = match (no_download, env_off, no_download_env) {
            (true, _, _) => Some("--no-download".to_string()),
            (false, true, Some(v)) => Some(format!("{NO_DOWNLOAD_ENV}={}", v.trim())),
            _ => None,
        };
        let mirrors = match mirror_env {
            None => None,
            Some(v) => Some(
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|u| !u.is_empty())
                    .map(fetch::check_mirror_url)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| RequireError::Setting { name: MIRROR_ENV, value: v.clone(), why: e.to_string() })?,
            ),
        };
        Ok(Policy { data_dir: data_dir.map(Path::to_path_buf), offline, mirrors, quiet })
    }

    /// What a fetch shows: one line per set says what is fetched (see [`require`]), so only a bar
    /// on a terminal shows it going.
    fn progress(&self) -> Progress {
        match Progress::auto(self.quiet) {
            Progress::Bar => Progress::BarOnly,
            Progress::Lines | Progress::Quiet | Progress::BarOnly => Progress::Quiet,
        }
    }
}

/// The data set a run of `cfg` reads from files, if any.
pub fn needs(cfg: &Config) -> Option<FetchSet> {
    match &cfg.data {
        DataConfig::Mnist { .. } | DataConfig::SeqMnist { .. } => Some(FetchSet::Mnist),
        DataConfig::FashionMnist { .. } => Some(FetchSet::FashionMnist),
        DataConfig::Brown { .. } => Some(FetchSet::Brown),
        DataConfig::Text { file: None, .. } => Some(FetchSet::Austen),
        // A text file of the user's own is theirs to provide.
        DataConfig::Text { file: Some(_), .. } => None,
        // Made in-process from a seed (listed one by one, so that a new kind of data must be
        // placed here).
        DataConfig::Mnist1d { .. }
        | DataConfig::Mnist1dSeq { .. }
        | DataConfig::Sawtooth { .. }
        | DataConfig::Parity { .. }
        | DataConfig::Adding { .. }
        | DataConfig::Copy { .. }
        | DataConfig::Recall { .. } => None,
    }
}

/// Where a needed set is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub set: FetchSet,
    /// The data folder (or, for Fashion-MNIST, the folder) its reader will load it from.
    pub dir: PathBuf,
    /// Fetched by this call.
    pub fetched: bool,
}

/// Every set the runs need, found or fetched.
#[derive(Clone, Debug, Default)]
pub struct Ready {
    pub sets: Vec<Located>,
}

impl fmt::Display for Ready {
    /// One line per set (`mnist: in DIR (fetched now)`), or one saying none is needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sets.is_empty() {
            return writeln!(f, "the runs read no data files (their data are made in-process)");
        }
        for l in &self.sets {
            let how = if l.fetched { "fetched now" } else { "already there" };
            writeln!(f, "{}: in {} ({how})", l.set.name(), l.dir.display())?;
        }
        Ok(())
    }
}

/// A set that is missing, and why it stays missing.
#[derive(Debug)]
pub struct Missing {
    pub set: FetchSet,
    /// The folders searched.
    pub looked_in: Vec<PathBuf>,
    /// The command that gets it where the runs will look.
    pub command: String,
    pub why: Why,
}

#[derive(Debug)]
pub enum Why {
    /// Downloading is off; says by what.
    Offline(String),
    /// The fetch into `into` failed.
    FetchFailed { into: PathBuf, error: FetchError },
    /// Fetched into a folder the runs do not search.
    NotSearched(PathBuf),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (set, places) = (self.set, search::list(&self.looked_in));
        write!(f, "{} ({}) is not in {places}", set.title(), set.download_size())?;
        match &self.why {
            Why::Offline(by) => write!(f, ", and downloading is off ({by}): get it with `{}`", self.command),
            Why::FetchFailed { into, error } => write!(
                f,
                ", and fetching it into {} failed (run `{}` to try again): {error}",
                into.display(),
                self.command
            ),
            Why::NotSearched(into) => write!(
                f,
                "; it was fetched into {}, which is not searched: pass --data-dir {0} or set {}",
                into.display(),
                search::DATA_ENV
            ),
        }
    }
}

#[derive(thiserror::Error, Debug)]
pub enum RequireError {
    /// An environment variable with a value that means nothing.
    #[error("{name}={value}: {why}")]
    Setting { name: &'static str, value: String, why: String },
    /// Sets the runs need that are not there: one line each (more for a failed fetch's details).
    #[error("{}", .0.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("\n"))]
    Missing(Vec<Missing>),
}

/// Find every data set the runs of `configs` need, fetching those found nowhere (into the first
/// writable folder of the search path, or the user cache), or refuse with every missing one
/// where downloading is off. Prints one line per set it fetches, unless quiet.
pub fn require<'a>(configs: impl IntoIterator<Item = &'a Config>, policy: &Policy) -> Result<Ready, RequireError> {
    let sets: BTreeSet<FetchSet> = configs.into_iter().filter_map(needs).collect();
    let search = search::data_dir(policy.data_dir.as_deref());
    let mut ready = Ready::default();
    let mut missing = Vec::new();
    for set in sets {
        match set.locate(&search) {
            Ok(dir) => ready.sets.push(Located { set, dir, fetched: false }),
            Err(looked_in) => missing.push((set, looked_in)),
        }
    }
    if missing.is_empty() {
        return Ok(ready);
    }
    let command = |set: FetchSet| match &policy.data_dir {
        Some(d) => format!("depthlab data fetch {} --dir {}", set.name(), d.display()),
        None => format!("depthlab data fetch {}", set.name()),
    };
    if let Some(by) = &policy.offline {
        let m = missing.into_iter().map(|(set, looked_in)| Missing {
            set,
            looked_in,
            command: command(set),
            why: Why::Offline(by.clone()),
        });
        return Err(RequireError::Missing(m.collect()));
    }
    let into = fetch::fetch_dir(&search);
    let mut failed = Vec::new();
    for (set, looked_in) in missing {
        if !policy.quiet {
            eprintln!(
                "fetching {} ({}) into {}: it is not in {}",
                set.title(),
                set.download_size(),
                into.join(set.folder()).display(),
                search::list(&looked_in)
            );
        }
        let opts = FetchOptions { dir: into.clone(), mirrors: mirrors_for(set, policy), progress: policy.progress() };
        match fetch_waiting(set, &opts, policy.quiet) {
            Ok(_) => match set.locate(&search) {
                Ok(dir) => ready.sets.push(Located { set, dir, fetched: true }),
                // Only where no folder of the search path could be made (fetch_dir's last resort).
                Err(_) => {
                    failed.push(Missing { set, looked_in, command: command(set), why: Why::NotSearched(into.clone()) })
                }
            },
            Err(error) => failed.push(Missing {
                set,
                looked_in,
                command: command(set),
                why: Why::FetchFailed { into: into.clone(), error },
            }),
        }
    }
    if failed.is_empty() {
        Ok(ready)
    } else {
        Err(RequireError::Missing(failed))
    }
}

/// The policy's data-folder mirrors as mirrors of this set's files.
pub(crate) fn mirrors_for(set: FetchSet, policy: &Policy) -> Option<Vec<fetch::Mirror>> {
    let files = |base: &String| fetch::Mirror::Files(format!("{base}{}/", set.folder()));
    policy.mirrors.as_ref().map(|m| m.iter().map(files).collect())
}

/// `fetch`, waiting for another process that is fetching into the same folder to finish first
/// (the tasks of a job array that start together) and then finding what it fetched.
fn fetch_waiting(set: FetchSet, opts: &FetchOptions, quiet: bool) -> Result<fetch::FetchReport, FetchError> {
    let folder = opts.dir.join(set.folder());
    let until = Instant::now() + WAIT_FOR_OTHER_FETCHER;
    let mut said = false;
    loop {
        match fetch::fetch(set, opts) {
            Err(FetchError::Busy(why)) if Instant::now() < until => {
                if !said && !quiet {
                    eprintln!("waiting: {why}");
                    said = true;
                }
                while crate::files::writer(&folder).is_some() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            got => return got,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config whose `[data]` is `data`, with a model that fits it.
    fn cfg(data: &str) -> Config {
        let kind = |k: &str| data.contains(&format!("\"{k}\""));
        let model = if kind("text") || kind("brown") {
            "arch = \"lstm\"\nembed_dim = 4"
        } else if kind("seq_mnist") || kind("adding") {
            "arch = \"lstm\""
        } else {
            "arch = \"plain\""
        };
        let text = format!("[data]\n{data}\n\n[model]\n{model}\ndepth = 1\nwidth = 4\n\n[optim]\nlr = 0.1\noptimizer = {{ kind = \"sgd\" }}\n[train]\nepochs = 1\nbatch_size = 2\n");
        Config::parse(&text, "t.toml", &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn policy(dir: &Path, offline: bool) -> Policy {
        Policy::from_env(Some(dir), offline, true, None, None).unwrap()
    }

    #[test]
    fn what_each_kind_of_data_needs() {
        assert_eq!(needs(&cfg("name = \"mnist\"")), Some(FetchSet::Mnist));
        assert_eq!(needs(&cfg("name = \"seq_mnist\"")), Some(FetchSet::Mnist));
        assert_eq!(needs(&cfg("name = \"fashion_mnist\"")), Some(FetchSet::FashionMnist));
        assert_eq!(needs(&cfg("name = \"mnist1d\"")), None);
        assert_eq!(needs(&cfg("name = \"adding\"\nt = 10")), None);
    }

    #[test]
    fn the_environment_is_read_strictly() {
        let p = |off: Option<&str>, mirror: Option<&str>| {
            Policy::from_env(None, false, true, off.map(Into::into), mirror.map(Into::into))
        };
        assert_eq!(p(None, None).unwrap().offline, None);
        assert_eq!(p(Some("0"), None).unwrap().offline, None);
        assert_eq!(p(Some("off"), None).unwrap().offline, None);
        assert_eq!(p(Some(" YES "), None).unwrap().offline.as_deref(), Some("DEPTHLAB_NO_DOWNLOAD=YES"));
        assert_eq!(p(Some("1"), None).unwrap().offline.as_deref(), Some("DEPTHLAB_NO_DOWNLOAD=1"));
        let flag = Policy::from_env(None, true, true, Some("0".into()), None).unwrap();
        assert_eq!(flag.offline.as_deref(), Some("--no-download"), "the flag wins");
        let e = p(Some("maybe"), None).unwrap_err().to_string();
        assert!(e.starts_with("DEPTHLAB_NO_DOWNLOAD=maybe: expected 1"), "{e}");

        let m = p(None, Some("http://127.0.0.1:8000, https://m.org/data/")).unwrap().mirrors.unwrap();
        assert_eq!(m, ["http://127.0.0.1:8000/", "https://m.org/data/"]);
        let e = p(None, Some("/srv/mirror")).unwrap_err().to_string();
        assert!(e.starts_with("DEPTHLAB_MIRROR=/srv/mirror: ") && e.contains("http://"), "{e}");
        let with = Policy { mirrors: Some(m), ..p(None, None).unwrap() };
        let files = |u: &str| fetch::Mirror::Files(u.into());
        assert_eq!(
            mirrors_for(FetchSet::Austen, &with).unwrap(),
            [files("http://127.0.0.1:8000/text/"), files("https://m.org/data/text/")]
        );
    }

    #[test]
    fn sets_that_are_there_are_found_and_none_are_fetched_offline() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text");
        std::fs::create_dir(&text).unwrap();
        std::fs::write(text.join("austen.txt.gz"), b"").unwrap();
        let runs = [
            cfg("name = \"text\"\nwindow = 8\ntrain = 4"),
            cfg("name = \"mnist1d\""),
            cfg("name = \"text\"\nwindow = 8\ntrain = 8"),
        ];
        let ready = require(&runs, &policy(dir.path(), true)).unwrap();
        assert_eq!(ready.sets, [Located { set: FetchSet::Austen, dir: dir.path().into(), fetched: false }]);
        assert_eq!(ready.to_string(), format!("austen: in {} (already there)\n", dir.path().display()));
        let none = require(&runs[1..2], &policy(dir.path(), true)).unwrap();
        assert!(none.sets.is_empty() && none.to_string().contains("no data files"));

        // Two sets missing, offline: one line each, naming the folder and the command; nothing made.
        let runs = [cfg("name = \"mnist\""), cfg("name = \"seq_mnist\""), cfg("name = \"brown\"")];
        let e = require(&runs, &policy(dir.path(), true)).unwrap_err();
        let RequireError::Missing(m) = &e else { panic!("{e}") };
        assert_eq!(m.iter().map(|m| m.set).collect::<Vec<_>>(), [FetchSet::Mnist, FetchSet::Brown]);
        let s = e.to_string();
        let lines: Vec<&str> = s.lines().collect();
        let d = dir.path().display();
        assert_eq!(
            lines,
            [
                format!("MNIST (11 MB) is not in {d}, and downloading is off (--no-download): get it with `depthlab data fetch mnist --dir {d}`"),
                format!("the Brown corpus (3 MB) is not in {d}, and downloading is off (--no-download): get it with `depthlab data fetch brown --dir {d}`"),
            ]
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only text/ there");
    }
}
