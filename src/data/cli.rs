//! The `depthlab data` subcommands, kept here so the binary only has to name them.

use std::path::PathBuf;

use super::fetch::{self, FetchError, FetchOptions, FetchSet, Progress};
use super::require::{self, Policy, RequireError};

#[derive(clap::Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DataCommand {
    /// Download data sets from their public sources (docs/data.md), keeping each file only if the
    /// SHA-256 of its content is the published one. Interrupted downloads resume; files already
    /// there and verified are not downloaded again. (`train`, `sweep` and `reproduce` fetch what
    /// their runs need by themselves; this is for machines that will run offline.)
    Fetch {
        /// mnist, fashion-mnist, brown (the tagged Brown corpus), austen (the text of
        /// examples/austen-lstm.toml); several may be given.
        #[arg(required = true)]
        sets: Vec<FetchSet>,
        /// The data folder; files go into DIR/mnist, DIR/brown, ..., where the readers look.
        /// Default: the first folder `train` searches ($DEPTHLAB_DATA if set, else ./data,
        /// ../shared/data) that exists and is writable, else the user cache
        /// ($XDG_CACHE_HOME/depthlab or ~/.cache/depthlab).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Base URL of a mirror holding the sets' files under their names, to use instead of
        /// the usual sources (repeatable, tried in order). DEPTHLAB_MIRROR names mirrors laid out
        /// like a data folder instead (docs/data.md).
        #[arg(long = "mirror", value_name = "URL", hide = true)]
        mirrors: Vec<String>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
}

/// Why `depthlab data` failed.
#[derive(thiserror::Error, Debug)]
pub enum DataCliError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Setting(#[from] RequireError),
}

impl DataArgs {
    pub fn run(self) -> Result<(), DataCliError> {
        match self.command {
            DataCommand::Fetch { mut sets, dir, mirrors, quiet } => {
                // In the order given, each once.
                let mut seen = Vec::new();
                sets.retain(|s| {
                    !seen.contains(s) && {
                        seen.push(*s);
                        true
                    }
                });
                let dir = dir.unwrap_or_else(fetch::default_dir);
                let given: Option<Vec<fetch::Mirror>> =
                    (!mirrors.is_empty()).then(|| mirrors.into_iter().map(fetch::Mirror::Files).collect());
                // DEPTHLAB_MIRROR, as train and reproduce read it (downloading is asked for here).
                let env = Policy::new(None, false, quiet)?;
                for set in sets {
                    let mirrors = given.clone().or_else(|| require::mirrors_for(set, &env));
                    let opts = FetchOptions { dir: dir.clone(), mirrors, progress: Progress::auto(quiet) };
                    let report = fetch::fetch(set, &opts)?;
                    if !quiet {
                        let new = report.files.iter().filter(|f| f.outcome.downloaded()).count();
                        let n = report.files.len();
                        println!(
                            "{}: {n} file{} verified in {} ({new} downloaded, {} already there)",
                            set.name(),
                            if n == 1 { "" } else { "s" },
                            report.folder.display(),
                            n - new
                        );
                    }
                }
                if !quiet && !fetch::searched_by_default(&dir) {
                    println!("train on it with --data-dir {} (or DEPTHLAB_DATA={0})", dir.display());
                }
                Ok(())
            }
        }
    }
}
