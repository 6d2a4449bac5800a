//! Where data sets are looked for: one search path that every reader, `depthlab data fetch` and
//! the check before a run share, so that what one of them puts somewhere the others find.
//!
//! In order, stopping at the first source that is given:
//! 1. a `--data-dir` value,
//! 2. the environment variable [`DATA_ENV`] (`DEPTHLAB_DATA`),
//! 3. `./data` and `../shared/data` relative to the current directory, then the user cache
//!    ([`user_cache`]: `$XDG_CACHE_HOME/depthlab`, else `~/.cache/depthlab` on Linux).
//!
//! A folder given by flag or environment is searched alone: it is where the user said the data
//! are, and where a fetch puts them.

use std::path::{Path, PathBuf};

/// The environment variable naming a data folder.
pub const DATA_ENV: &str = "DEPTHLAB_DATA";

/// The data folders to search, in order (see the module's docs).
pub fn data_dir(cli: Option<&Path>) -> Vec<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    data_dir_from(cli, std::env::var_os(DATA_ENV).map(PathBuf::from), &cwd, user_cache())
}

pub(crate) fn data_dir_from(
    cli: Option<&Path>,
    env: Option<PathBuf>,
    cwd: &Path,
    cache: Option<PathBuf>,
) -> Vec<PathBuf> {
    if let Some(d) = cli {
        return vec![d.to_path_buf()];
    }
    if let Some(d) = env.filter(|d| !d.as_os_str().is_empty()) {
        return vec![d];
    }
    let mut dirs = vec![cwd.join("data"), cwd.join("..").join("shared").join("data")];
    dirs.extend(cache);
    dirs
}

/// `depthlab` in the user's cache folder: `$XDG_CACHE_HOME` (when absolute) or `~/.cache` on
/// Linux, `~/Library/Caches` on macOS; `None` where there is no home folder.
pub fn user_cache() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("depthlab"))
}

/// The folders as one line, as places something is not in: `/a, /b or /c`.
pub fn list(dirs: &[PathBuf]) -> String {
    let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    match names.split_last() {
        None => "nowhere".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order() {
        let cwd = Path::new("/w");
        let cli = Path::new("/cli");
        let cache = Some(PathBuf::from("/home/u/.cache/depthlab"));
        assert_eq!(data_dir_from(Some(cli), Some("/env".into()), cwd, cache.clone()), [PathBuf::from("/cli")]);
        assert_eq!(data_dir_from(None, Some("/env".into()), cwd, cache.clone()), [PathBuf::from("/env")]);
        assert_eq!(
            data_dir_from(None, Some("".into()), cwd, cache.clone()),
            [PathBuf::from("/w/data"), PathBuf::from("/w/../shared/data"), PathBuf::from("/home/u/.cache/depthlab")]
        );
        assert_eq!(data_dir_from(None, None, cwd, cache).len(), 3);
        assert_eq!(data_dir_from(None, None, cwd, None).len(), 2, "no home: no cache");
    }

    #[test]
    fn lists_read_as_a_sentence() {
        assert_eq!(list(&[]), "nowhere");
        assert_eq!(list(&["/a".into()]), "/a");
        assert_eq!(list(&["/a".into(), "/b".into(), "/c".into()]), "/a, /b or /c");
    }
}
