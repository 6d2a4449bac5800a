//! A mirror on 127.0.0.1 for the fetch tests: a small HTTP/1.1 server in a thread, serving files
//! from memory by path, that can cut a transfer short, ignore Range requests, and records every
//! request it answers. Also the real data of `../shared/data` (or `$DEPTHLAB_DATA`), by the names
//! the public mirrors and a data folder use. Included by path (`#[path = "common/mirror.rs"]`)
//! by the tests that need it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Files by path (without the leading `/`).
pub type Files = HashMap<String, Arc<Vec<u8>>>;

/// MNIST's four files by their names on the public mirrors.
pub const MNIST_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// The shared data folder: `$DEPTHLAB_DATA`, else `../shared/data` next to the repository.
pub fn shared_data() -> PathBuf {
    std::env::var_os("DEPTHLAB_DATA")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

/// The four gzipped MNIST files by their mirror names, read once; `None` without the data.
pub fn mnist_files() -> Option<&'static Files> {
    static FILES: OnceLock<Option<Files>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let root = shared_data();
            let mut files = HashMap::new();
            for name in MNIST_NAMES {
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

/// A shared file's bytes (`brown/brown.tar.gz`, `text/austen.txt.gz`), read once.
pub fn shared_file(rel: &str) -> Option<Arc<Vec<u8>>> {
    type Read = HashMap<String, Option<Arc<Vec<u8>>>>;
    static FILES: OnceLock<Mutex<Read>> = OnceLock::new();
    let mut m = FILES.get_or_init(Default::default).lock().unwrap();
    m.entry(rel.to_string()).or_insert_with(|| std::fs::read(shared_data().join(rel)).ok().map(Arc::new)).clone()
}

/// The shared data laid out as a data folder that depthlab fetched into (`mnist/NAME.gz`,
/// `brown/brown.tar.gz`, `text/austen.txt.gz`): what `DEPTHLAB_MIRROR` points at.
pub fn data_folder_files() -> Option<Files> {
    let mut files: Files =
        mnist_files()?.iter().map(|(name, bytes)| (format!("mnist/{name}"), bytes.clone())).collect();
    for rel in ["brown/brown.tar.gz", "text/austen.txt.gz"] {
        files.insert(rel.to_string(), shared_file(rel)?);
    }
    Some(files)
}

/// What the server saw: the path and the Range header of each request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
}

pub struct Mirror {
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// While non-zero, every response is cut after this many body bytes.
    pub cut_after: Arc<AtomicUsize>,
}

impl Mirror {
    pub fn start(files: Files, ignore_range: bool) -> Mirror {
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

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The Range headers of the requests for `path`, in order.
    pub fn ranges(&self, path: &str) -> Vec<Option<String>> {
        self.seen().into_iter().filter(|s| s.path == format!("/{path}")).map(|s| s.range).collect()
    }

    pub fn cut(&self, after: usize) {
        self.cut_after.store(after, Ordering::SeqCst);
    }
}

/// One request, one response, then the connection closes.
fn answer(mut stream: TcpStream, files: &Files, ignore_range: bool, seen: &Mutex<Vec<Seen>>, cut_after: &AtomicUsize) {
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

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}
