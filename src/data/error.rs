//! Errors from reading data files: each names the file, what was expected and what was found.

use std::path::PathBuf;

/// Something went wrong finding or reading a data file.
#[derive(thiserror::Error, Debug)]
pub enum DataError {
    /// The file exists (or was expected to) but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file was read but its contents are not what was expected: a wrong magic number, a
    /// truncated body, a count that does not match its partner file, a corrupt gzip stream.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },

    /// None of the places searched held the data. `looked_in` lists every path tried.
    #[error("{hint}\nlooked in:{}", list_paths(looked_in))]
    NotFound { looked_in: Vec<PathBuf>, hint: String },
}

impl DataError {
    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        DataError::Format { path: path.into(), msg: msg.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}

fn list_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return " (nowhere)".to_string();
    }
    paths.iter().map(|p| format!("\n  - {}", p.display())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_paths() {
        let e = DataError::format("/x/train-images", "bad magic");
        assert_eq!(e.to_string(), "/x/train-images: bad magic");
        let e = DataError::NotFound { looked_in: vec!["/a/f".into(), "/b/f".into()], hint: "no MNIST".into() };
        let s = e.to_string();
        assert!(s.starts_with("no MNIST"), "{s}");
        assert!(s.contains("/a/f") && s.contains("/b/f"), "{s}");
        let e = DataError::io("/q/z", std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"));
        assert!(e.to_string().contains("/q/z"));
    }
}
