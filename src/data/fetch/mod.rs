//! `depthlab data fetch`: download MNIST or Fashion-MNIST from public mirrors into the folder
//! layout the IDX reader expects, keeping only files whose content has the published SHA-256.
//!
//! Each file is downloaded to `NAME.part` and renamed to `NAME` only once verified, so `NAME`
//! is always whole. An interrupted transfer leaves the part behind and the next attempt (the
//! next mirror, or the next run) continues it with a Range request. A file the reader would
//! already find, verified, is not downloaded again.

mod catalog;
mod commit;
mod dest;
mod error;
mod progress;
mod transfer;
mod verify;

use std::path::{Path, PathBuf};

pub use catalog::{FetchSet, RemoteFile};
pub use dest::{default_dir, searched_by_default};
pub use error::FetchError;
pub use progress::Progress;

use crate::data::idx;
use progress::Reporter;
use transfer::Failure;
use verify::Verdict;

/// What to fetch into where, from where.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// The data folder: files go into `dir/mnist/` or `dir/fashion-mnist/`.
    pub dir: PathBuf,
    /// Base URLs tried in order, replacing the set's own mirrors (a local mirror, tests).
    pub mirrors: Option<Vec<String>>,
    pub progress: Progress,
}

/// How one file came to be there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Found where the reader looks, with the right content: nothing downloaded.
    AlreadyPresent,
    /// Downloaded from `url`: `bytes` in all, of which `resumed_from` came from an earlier,
    /// interrupted transfer.
    Downloaded { url: String, bytes: u64, resumed_from: u64 },
}

/// One verified file.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// The set's four files, all verified.
#[derive(Clone, Debug)]
pub struct FetchReport {
    /// The folder the files were put in (`dir/mnist` or `dir/fashion-mnist`).
    pub folder: PathBuf,
    pub files: Vec<Fetched>,
}

/// The folder the reader searches for `set` within a data folder `dir` (it looks there and in
/// its `mnist/` subfolder).
fn reader_base(set: FetchSet, dir: &Path) -> PathBuf {
    match set {
        FetchSet::Mnist => dir.to_path_buf(),
        FetchSet::FashionMnist => dir.join(set.folder()),
    }
}

/// Base URLs with a trailing slash, so file names append; only http and https.
fn mirror_list(set: FetchSet, custom: Option<&[String]>) -> Result<Vec<String>, FetchError> {
    let Some(custom) = custom.filter(|m| !m.is_empty()) else {
        return Ok(set.mirrors().iter().map(|m| m.to_string()).collect());
    };
    custom
        .iter()
        .map(|m| {
            let bad = |why: &str| FetchError::BadMirror { url: m.clone(), why: why.into() };
            let uri: ureq::http::Uri = m.parse().map_err(|_| bad("not a URL"))?;
            match uri.scheme_str() {
                Some("http" | "https") if uri.host().is_some() => {}
                _ => return Err(bad("give an http:// or https:// URL of the folder holding the files")),
            }
            Ok(if m.ends_with('/') { m.clone() } else { format!("{m}/") })
        })
        .collect()
}

/// Download (or find) the four files of `set` under `opts.dir`.
pub fn fetch(set: FetchSet, opts: &FetchOptions) -> Result<FetchReport, FetchError> {
    let mirrors = mirror_list(set, opts.mirrors.as_deref())?;
    let folder = opts.dir.join(set.folder());
    let new_dirs: Vec<PathBuf> = [&folder, &opts.dir].into_iter().filter(|d| !d.exists()).cloned().collect();
    std::fs::create_dir_all(&folder).map_err(|e| FetchError::io("create the folder", &folder, e))?;
    // Two fetches into one folder would write the same parts.
    let lock = crate::files::FolderLock::acquire(&folder).map_err(|e| FetchError::Busy(e.message))?;
    let got = fetch_into(set, opts, &mirrors, &folder);
    if got.is_err() && !new_dirs.is_empty() {
        // A failed first fetch leaves no empty folders behind; one holding a part to resume stays.
        drop(lock);
        let _ = std::fs::remove_file(folder.join(".lock"));
        for d in new_dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
    got
}

fn fetch_into(
    set: FetchSet,
    opts: &FetchOptions,
    mirrors: &[String],
    folder: &Path,
) -> Result<FetchReport, FetchError> {
    let mut rep = Reporter::new(opts.progress);
    let mut files = Vec::new();
    for file in set.files() {
        let dest = folder.join(file.name());
        let label = format!("{}/{}", set.folder(), file.name());
        if let Some(found) = present(set, &opts.dir, file, &dest, &rep)? {
            rep.line(&format!("{}: already there, SHA-256 verified", found.display()));
            files.push(Fetched { path: found, outcome: Outcome::AlreadyPresent });
            continue;
        }
        let outcome = from_mirrors(mirrors, file, &dest, &label, &mut rep)?;
        files.push(Fetched { path: dest, outcome });
    }
    Ok(FetchReport { folder: folder.to_path_buf(), files })
}

/// The file the reader would load for `file`, if it is there and verified. One that is there
/// but wrong is replaced when it is the download's own name, and refused otherwise.
fn present(
    set: FetchSet,
    dir: &Path,
    file: &RemoteFile,
    dest: &Path,
    rep: &Reporter,
) -> Result<Option<PathBuf>, FetchError> {
    let Ok(found) = idx::find_file(&reader_base(set, dir), file.stem, file.kind) else { return Ok(None) };
    match verify::verify(&found, file.sha256)? {
        Verdict::Good => Ok(Some(found)),
        Verdict::Bad(why) if found == dest => {
            rep.line(&format!("{} is there but {why}; downloading it again", found.display()));
            Ok(None)
        }
        Verdict::Bad(why) => Err(FetchError::PresentButWrong { path: found, why }),
    }
}

/// Try each mirror in turn until one gives a verified file, and put it in place.
fn from_mirrors(
    mirrors: &[String],
    file: &RemoteFile,
    dest: &Path,
    label: &str,
    rep: &mut Reporter,
) -> Result<Outcome, FetchError> {
    let part = commit::part_path(dest);
    let mut attempts = Vec::new();
    for (i, base) in mirrors.iter().enumerate() {
        let url = format!("{base}{}", file.name());
        match from_mirror(&url, file, &part, label, rep) {
            Ok((bytes, resumed_from)) => {
                commit::commit(&part, dest)?;
                let resumed =
                    if resumed_from > 0 { format!(", resumed at byte {resumed_from}") } else { String::new() };
                rep.line(&format!("{}: {bytes} bytes from {url}{resumed}, SHA-256 verified", dest.display()));
                return Ok(Outcome::Downloaded { url, bytes, resumed_from });
            }
            Err(Failure::Remote(why)) => {
                // The last mirror's failure is reported with the error; only a recovery is news.
                if i + 1 < mirrors.len() {
                    rep.line(&format!("warning: {why}; trying the next mirror"));
                }
                attempts.push(why);
            }
            Err(Failure::Local(e)) => return Err(e),
        }
    }
    Err(FetchError::AllMirrorsFailed { file: label.to_string(), attempts })
}

/// Download from one mirror and verify. A resumed download that fails verification is tried
/// once more from the start: its first part may have come from another mirror whose gzip file
/// has other bytes for the same content, or from a crash that lost the part's tail.
fn from_mirror(
    url: &str,
    file: &RemoteFile,
    part: &Path,
    label: &str,
    rep: &mut Reporter,
) -> Result<(u64, u64), Failure> {
    loop {
        let got = transfer::download(url, part, label, rep)?;
        match verify::verify(part, file.sha256)? {
            Verdict::Good => return Ok((got.bytes, got.resumed_from)),
            Verdict::Bad(why) => {
                std::fs::remove_file(part).map_err(|e| FetchError::io("delete the bad download", part, e))?;
                if got.resumed_from == 0 {
                    return Err(Failure::Remote(format!(
                        "{url}: the download ({} bytes) is not the published file: {why}; deleted it",
                        got.bytes
                    )));
                }
                rep.line(&format!(
                    "{url}: the download resumed at byte {} is not the published file ({why}); starting over",
                    got.resumed_from
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_get_a_slash_and_must_be_http() {
        let m = mirror_list(FetchSet::Mnist, Some(&["http://127.0.0.1:9/a".into(), "https://x.org/b/".into()]));
        assert_eq!(m.unwrap(), ["http://127.0.0.1:9/a/", "https://x.org/b/"]);
        assert_eq!(mirror_list(FetchSet::FashionMnist, Some(&[])).unwrap().len(), 2);
        for bad in ["ftp://x.org/", "/tmp/mirror", "not a url"] {
            let e = mirror_list(FetchSet::Mnist, Some(&[bad.into()])).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("URL"), "{e}");
        }
    }

    #[test]
    fn every_file_has_a_sha256_and_a_name_the_reader_accepts() {
        for set in [FetchSet::Mnist, FetchSet::FashionMnist] {
            for f in set.files() {
                assert_eq!(f.sha256.len(), 64);
                assert!(f.sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
                let dir = tempfile::tempdir().unwrap();
                let sub = dir.path().join(set.folder());
                std::fs::create_dir(&sub).unwrap();
                std::fs::write(sub.join(f.name()), b"").unwrap();
                assert_eq!(idx::find_file(&reader_base(set, dir.path()), f.stem, f.kind), Ok(sub.join(f.name())));
            }
        }
    }
}
