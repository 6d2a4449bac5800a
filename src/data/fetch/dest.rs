//! Where fetched files go when no folder is given: where the readers will find them.

use std::path::{Path, PathBuf};

use crate::data::search;

/// [`fetch_dir`] of the search path without `--data-dir` (`$DEPTHLAB_DATA` if set, else `./data`,
/// `../shared/data` and the user cache).
pub fn default_dir() -> PathBuf {
    fetch_dir(&search::data_dir(None))
}

/// Where to put data sets found nowhere in the search path `dirs`: its first folder that exists
/// and is writable; else the user cache when the path has it (a clean checkout gets no data
/// folder of its own, and every checkout shares what was fetched once); else its first folder
/// that can be created; else `./data` (whose creation will then fail with a message naming it).
pub fn fetch_dir(dirs: &[PathBuf]) -> PathBuf {
    choose(dirs, search::user_cache().as_deref())
}

fn choose(dirs: &[PathBuf], cache: Option<&Path>) -> PathBuf {
    let creatable = |d: &Path| !d.exists() && d.ancestors().find(|a| a.exists()).is_some_and(writable);
    dirs.iter()
        .find(|d| writable(d))
        .or_else(|| dirs.iter().find(|d| Some(d.as_path()) == cache))
        .or_else(|| dirs.iter().find(|d| creatable(d)))
        .cloned()
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// Whether the reader, with no `--data-dir`, searches `dir` (so the user needs no flag).
pub fn searched_by_default(dir: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = canon(dir);
    search::data_dir(None).iter().any(|d| canon(d) == dir)
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
    fn an_existing_folder_beats_the_cache_which_beats_one_to_create() {
        let dir = tempfile::tempdir().unwrap();
        let (missing, existing) = (dir.path().join("a/data"), dir.path().join("shared"));
        let cache = dir.path().join("home/.cache/depthlab");
        std::fs::create_dir(&existing).unwrap();
        assert_eq!(choose(&[missing.clone(), existing.clone(), cache.clone()], Some(&cache)), existing);
        assert_eq!(choose(&[missing.clone(), cache.clone()], Some(&cache)), cache);
        assert_eq!(choose(std::slice::from_ref(&missing), Some(&cache)), missing, "a folder given alone");
        assert_eq!(choose(std::slice::from_ref(&missing), None), missing);
        // under a file nothing can be created
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(choose(&[file.join("data")], None), PathBuf::from("data"));
    }
}
