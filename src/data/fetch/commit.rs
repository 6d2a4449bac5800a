//! Putting a verified download in place: the final name only ever holds a whole, verified file,
//! and it survives a crash right after the command says it is done.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::FetchError;

/// `NAME.part`: where `NAME` is downloaded to, and resumed from after an interruption.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Rename the verified `part` to `dest`. The data is flushed before the rename so the new name
/// can never point at blocks not yet written, and the folder after it so the rename itself is
/// on disk.
pub fn commit(part: &Path, dest: &Path) -> Result<(), FetchError> {
    File::open(part).and_then(|f| f.sync_all()).map_err(|e| FetchError::io("flush", part, e))?;
    std::fs::rename(part, dest).map_err(|e| FetchError::io("rename the download to", dest, e))?;
    sync_dir(dest.parent().unwrap_or(Path::new(".")))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), FetchError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(|e| FetchError::io("flush the folder", dir, e))
}

// Windows cannot open a folder as a file; its renames are journalled by NTFS.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), FetchError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_is_beside_the_file_and_commit_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("t10k-labels-idx1-ubyte.gz");
        let part = part_path(&dest);
        assert_eq!(part, dir.path().join("t10k-labels-idx1-ubyte.gz.part"));
        std::fs::write(&dest, b"old").unwrap();
        std::fs::write(&part, b"new").unwrap();
        commit(&part, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert!(!part.exists());
        let e = commit(&part, &dest).unwrap_err().to_string();
        assert!(e.contains("t10k-labels-idx1-ubyte.gz.part"), "{e}");
    }
}
