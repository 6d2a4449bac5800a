//! The `depthlab data` subcommands, kept here so the binary only has to name them.

use std::path::PathBuf;

use super::fetch::{self, FetchError, FetchOptions, FetchSet, Outcome, Progress};

#[derive(clap::Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DataCommand {
    /// Download a data set's four gzipped IDX files from its public mirrors, keeping each only if
    /// the SHA-256 of its content is the published one. Interrupted downloads resume; files
    /// already there and verified are not downloaded again.
    Fetch {
        set: FetchSet,
        /// The data folder; files go into DIR/mnist or DIR/fashion-mnist, where `depthlab train`
        /// looks. Default: the first folder `train` searches ($DEPTHLAB_DATA if set, else ./data
        /// and ../shared/data) that exists and is writable, else the first that can be created.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Base URL of a mirror to use instead of the usual ones (repeatable, tried in order).
        #[arg(long = "mirror", value_name = "URL", hide = true)]
        mirrors: Vec<String>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
}

impl DataArgs {
    pub fn run(self) -> Result<(), FetchError> {
        match self.command {
            DataCommand::Fetch { set, dir, mirrors, quiet } => {
                let dir = dir.unwrap_or_else(fetch::default_dir);
                let mirrors = (!mirrors.is_empty()).then_some(mirrors);
                let opts = FetchOptions { dir: dir.clone(), mirrors, progress: Progress::auto(quiet) };
                let report = fetch::fetch(set, &opts)?;
                if !quiet {
                    let new = report.files.iter().filter(|f| f.outcome != Outcome::AlreadyPresent).count();
                    println!(
                        "{}: {} files verified in {} ({new} downloaded, {} already there)",
                        set.name(),
                        report.files.len(),
                        report.folder.display(),
                        report.files.len() - new
                    );
                    if !fetch::searched_by_default(&dir) {
                        println!("train on it with --data-dir {} (or DEPTHLAB_DATA={0})", dir.display());
                    }
                }
                Ok(())
            }
        }
    }
}
