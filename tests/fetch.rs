//! `depthlab data fetch` against mirrors on 127.0.0.1: a small HTTP/1.1 server in a thread,
//! serving the real MNIST files from memory, that can cut a transfer short, ignore Range
//! requests or serve a corrupted file, and records every request it answers.
//!
//! The real files are found with the usual data-folder rules (`$DEPTHLAB_DATA`, else
//! `../shared/data` next to the repository); without them the tests print a note and pass.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use depthlab::data::fetch::{fetch, FetchError, FetchOptions, FetchReport, FetchSet, Outcome, Progress};
use depthlab::data::idx::load_mnist_from;
use depthlab::data::Targets;
use sha2::{Digest, Sha256};

const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// The four gzipped MNIST files by their mirror names, read once.
fn mnist_files() -> Option<&'static HashMap<String, Arc<Vec<u8>>>> {
    static FILES: OnceLock<Option<HashMap<String, Arc<Vec<u8>>>>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let root = std::env::var_os("DEPTHLAB_DATA")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
            let mut files = HashMap::new();
            for name in NAMES {
                // The mirrors say train-images-idx3-ubyte.gz, the shared folder train-images.idx3-ubyte.gz.
                let dotted = name.replacen("-idx", ".idx", 1);
                let bytes = [name, &dotted]
                    .iter()
                    .flat_map(|n| [root.join(n), root.join("mnist").join(n)])
                    .find_map(|p| std::fs::read(p).ok())?;
                files.insert(name.to_string(), Arc::new(bytes));
            }
            Some(files)
        })
        .as_ref()
}

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

/// What the server saw: the path and the Range header of each request.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    range: Option<String>,
}

struct Mirror {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// While non-zero, every response is cut after this many body bytes.
    cut_after: Arc<AtomicUsize>,
}

impl Mirror {
    fn start(files: HashMap<String, Arc<Vec<u8>>>, ignore_range: bool) -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cut_after = Arc::new(AtomicUsize::new(0));
        let (s, c) = (seen.clone(), cut_after.clone());
        let files = Arc::new(files);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (files, s, c) = (files.clone(), s.clone(), c.clone());
                std::thread::spawn(move || answer(stream, &files, ignore_range, &s, &c));
            }
        });
        Mirror { url, seen, cut_after }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn ranges(&self, name: &str) -> Vec<Option<String>> {
        self.seen().into_iter().filter(|s| s.path == format!("/{name}")).map(|s| s.range).collect()
    }
}

/// One request, one response, then the connection closes.
fn answer(
    mut stream: TcpStream,
    files: &HashMap<String, Arc<Vec<u8>>>,
    ignore_range: bool,
    seen: &Mutex<Vec<Seen>>,
    cut_after: &AtomicUsize,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next().and_then(|l| l.split(' ').nth(1)).unwrap_or("").to_string();
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_string());
    seen.lock().unwrap().push(Seen { path: path.clone(), range: range.clone() });

    let Some(body) = files.get(path.trim_start_matches('/')) else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let len = body.len();
    let from = range.filter(|_| !ignore_range).and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok());
    let (status, extra, part) = match from {
        Some(f) if f >= len => {
            let h =
                format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\n");
            let _ = stream.write_all(format!("{h}Connection: close\r\n\r\n").as_bytes());
            return;
        }
        Some(f) => ("206 Partial Content", format!("Content-Range: bytes {f}-{}/{len}\r\n", len - 1), &body[f..]),
        None => ("200 OK", String::new(), &body[..]),
    };
    let h = format!("HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n", part.len());
    if stream.write_all(h.as_bytes()).is_err() {
        return;
    }
    let cut = cut_after.load(Ordering::SeqCst);
    let send = if cut > 0 { &part[..cut.min(part.len())] } else { part };
    let _ = stream.write_all(send);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn opts(dir: &Path, mirrors: &[&Mirror]) -> FetchOptions {
    FetchOptions {
        dir: dir.to_path_buf(),
        mirrors: Some(mirrors.iter().map(|m| m.url.clone()).collect()),
        progress: Progress::Quiet,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The files in `dir/mnist`, sorted.
/// The data files in `dir/mnist` (not the lock file every fetch takes).
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
    m.cut_after.store(cut, Ordering::SeqCst);
    let tmp = tempfile::tempdir().unwrap();
    let s = fetch(FetchSet::Mnist, &opts(tmp.path(), &[&m])).unwrap_err().to_string();
    assert!(s.contains(&format!("broke off after {cut} of {} bytes", files[name].len())), "{s}");
    assert!(s.contains(&format!("{name}.part")) && s.contains(&format!("{}{name}", m.url)), "{s}");
    let part = tmp.path().join("mnist").join(format!("{name}.part"));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), cut as u64);
    assert_eq!(listing(tmp.path()), [format!("{name}.part")], "no final file before it is whole");

    m.cut_after.store(0, Ordering::SeqCst);
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
    let files: Option<HashMap<String, Arc<Vec<u8>>>> =
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

/// `depthlab ARGS` in `cwd`, with `DEPTHLAB_DATA` set to `data` or unset.
fn depthlab_with(cwd: &Path, data: Option<&Path>, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_depthlab"));
    cmd.args(args).current_dir(cwd).env("CI", "1");
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
