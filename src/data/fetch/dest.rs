//! Where the files go when no `--dir` is given: where the reader will find them.

use std::path::{Path, PathBuf};

use crate::data::idx;

/// The first of the reader's data folders (`$DEPTHLAB_DATA` if set, else `./data` and
/// `../shared/data`) that is an existing, writable folder; else the first that can be created;
/// else `./data` (whose creation will then fail with a message naming it).
pub fn default_dir() -> PathBuf {
    choose(&idx::data_dir(None))
}

fn choose(dirs: &[PathBuf]) -> PathBuf {
    let creatable = |d: &Path| !d.exists() && d.ancestors().find(|a| a.exists()).is_some_and(writable);
    dirs.iter()
        .find(|d| writable(d))
        .or_else(|| dirs.iter().find(|d| creatable(d)))
        .cloned()
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// Whether the reader, with no `--data-dir`, searches `dir` (so the user needs no flag).
pub fn searched_by_default(dir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = canon(dir);
    idx::data_dir(None).iter().any(|d| canon(d) == dir)
}

/// Permission bits do not tell (root, ACLs, read-only mounts); creating a file does.
fn writable(dir: &Path) -> bool {
    if !dir.is_dir() {
        return false;
    }
    let probe = dir.join(format!(".depthlab-write-test-{}", std::process::id()));
    let ok = std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).is_ok();
    if ok {
        let _ = std::fs::remove_file(&probe);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_needs_an_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(writable(dir.path()));
        assert!(!writable(&dir.path().join("missing")));
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert!(!writable(&file));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the probe file was left behind");
    }

    #[test]
    fn an_existing_folder_beats_one_to_create() {
        let dir = tempfile::tempdir().unwrap();
        let (missing, existing) = (dir.path().join("a/data"), dir.path().join("shared"));
        std::fs::create_dir(&existing).unwrap();
        assert_eq!(choose(&[missing.clone(), existing.clone()]), existing);
        assert_eq!(choose(std::slice::from_ref(&missing)), missing);
        // under a file nothing can be created
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(choose(&[file.join("data")]), PathBuf::from("data"));
    }
}
