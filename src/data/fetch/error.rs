//! Why a fetch failed, worded for the person who ran it.

use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum FetchError {
    /// Something on this machine: a folder that cannot be created, a disk that is full.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Every mirror was tried for this file; `attempts` says what each one did wrong.
    #[error("could not fetch {file} from any mirror:{}", list(attempts))]
    AllMirrorsFailed { file: String, attempts: Vec<String> },

    /// A file the reader would load in place of a download is already there but is not the
    /// published one; replacing a file the user put there is not this command's call.
    #[error(
        "{} is already there but is not the published file: {why}; the reader would load it \
         instead of a download, so move it away and run again",
        path.display()
    )]
    PresentButWrong { path: PathBuf, why: String },

    /// Another fetch is writing the same folder.
    #[error("{0}")]
    Busy(String),

    #[error("bad mirror URL `{url}`: {why}")]
    BadMirror { url: String, why: String },
}

impl FetchError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FetchError::Io { action, path: path.into(), source }
    }
}

fn list(items: &[String]) -> String {
    items.iter().map(|s| format!("\n  - {s}")).collect()
}
