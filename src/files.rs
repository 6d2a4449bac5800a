//! Durable file operations: files and folders that appear whole or not at all, and survive a
//! crash or a power loss once a call has returned.
//!
//! Every operation that changes a run folder goes through here, which also gives the crash tests
//! one place to strike: with `DEPTHLAB_FAULT=kill:N` the process kills itself (SIGKILL) right
//! after the N-th change, and with `DEPTHLAB_FAULT=enospc:N` the N-th write fails as if the disk
//! were full. Without the variable the hook is a counter increment.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Error, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Kill(u64),
    NoSpace(u64),
}

fn fault() -> Option<Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    *FAULT.get_or_init(|| {
        let v = std::env::var("DEPTHLAB_FAULT").ok()?;
        let (kind, n) = v.split_once(':')?;
        let n = n.trim().parse().ok()?;
        match kind {
            "kill" => Some(Fault::Kill(n)),
            "enospc" => Some(Fault::NoSpace(n)),
            _ => None,
        }
    })
}

static CHANGES: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Called after each change a crash could interrupt.
pub(crate) fn changed() {
    let n = CHANGES.fetch_add(1, Ordering::SeqCst) + 1;
    if fault() == Some(Fault::Kill(n)) {
        let _ = signal_hook::low_level::raise(signal_hook::consts::SIGKILL);
    }
}

/// Called before each write; fails like a full disk when asked to.
pub(crate) fn before_write(path: &Path) -> std::io::Result<()> {
    let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    if fault() == Some(Fault::NoSpace(n)) {
        return Err(Error::new(
            ErrorKind::StorageFull,
            format!("{}: no space left on device (injected)", path.display()),
        ));
    }
    Ok(())
}

/// The temporary name beside `path` that `write_atomic` writes first: hidden, and unique to
/// this process so that two writers never share one.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Whether `name` is a temporary file left by `write_atomic` or `create_dir_atomic` (of any
/// process): what `remove_temporaries` deletes.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Delete the temporaries that interrupted writers left in `dir` (not recursive).
pub fn remove_temporaries(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if is_temporary(&e.file_name().to_string_lossy()) {
            let p = e.path();
            if e.file_type()?.is_dir() {
                std::fs::remove_dir_all(&p)?;
            } else {
                std::fs::remove_file(&p)?;
            }
        }
    }
    Ok(())
}

/// Delete the temporaries in `dir` whose writing process has ended: for folders that several
/// processes may write at once (a suite folder), where another writer's temporary must be
/// left alone.
pub fn remove_stale_temporaries(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !is_temporary(&name) {
            continue;
        }
        let pid = name.trim_end_matches(".tmp").rsplit('.').next().and_then(|p| p.parse::<i32>().ok());
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let alive = pid.is_some_and(|p| p as u32 == std::process::id() || unsafe { libc::kill(p, 0) } == 0);
        if !alive && e.file_type()?.is_file() {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// Flush a folder's entries (new names, renames) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })?.sync_all()
}

/// Write `data` to a new file at `path` (which must not exist) and flush it to disk.
pub fn write_new(path: &Path, data: &[u8]) -> std::io::Result<()> {
    before_write(path)?;
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(data)?;
    f.sync_all()?;
    changed();
    Ok(())
}

/// Write `data` to `path` so that `path` holds either its old content or all of `data`, never
/// part of it, even after a crash: a temporary file beside it, flushed, renamed over it, and
/// the folder flushed. A failed write leaves no temporary behind.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(Error::new(ErrorKind::IsADirectory, format!("{} is a folder, not a file", path.display())));
    }
    let tmp = temp_path(path);
    let result = write_new(&tmp, data).and_then(|()| {
        std::fs::rename(&tmp, path)?;
        changed();
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Point the symbolic link `link` at `target` in one step (a new link renamed over the old).
pub fn replace_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    let tmp = temp_path(link);
    let _ = std::fs::remove_file(&tmp);
    let result = std::os::unix::fs::symlink(target, &tmp).and_then(|()| {
        std::fs::rename(&tmp, link)?;
        changed();
        sync_dir(link.parent().unwrap_or(Path::new(".")))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `bytes` (hex).
pub fn sha256(bytes: &[u8]) -> String {
    hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// The lock file every writer of a folder takes.
const LOCK: &str = ".lock";

/// Why a folder could not be taken for writing: another process holds it (`busy`), or the
/// lock file could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LockError {
    pub busy: bool,
    pub message: String,
}

impl From<LockError> for String {
    fn from(e: LockError) -> String {
        e.message
    }
}

/// A folder held for writing by this process (an advisory `flock` on `DIR/.lock`, which the
/// kernel releases when the process dies); released when dropped.
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Take `dir` (created if needed). A second writer gets an error naming the process that
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<FolderLock, LockError> {
        let io = |message: String| LockError { busy: false, message };
        std::fs::create_dir_all(dir).map_err(|e| io(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError { busy: true, message: busy(dir, &holder(&mut file)) })
            }
            Err(TryLockError::Error(e)) => return Err(io(format!("cannot lock {}: {e}", path.display()))),
        }
        let me = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.write_all(me.as_bytes()))
            .map_err(|e| io(format!("{}: {e}", path.display())))?;
        Ok(FolderLock { _file: file })
    }
}

/// The process writing `dir` now, if one is (described as for a refused writer).
pub fn writer(dir: &Path) -> Option<String> {
    let mut file = File::open(dir.join(LOCK)).ok()?;
    match file.try_lock_shared() {
        Err(TryLockError::WouldBlock) => Some(holder(&mut file)),
        _ => None,
    }
}

/// Whether some writer ever took `dir` (it has the lock file).
pub fn was_locked(dir: &Path) -> bool {
    dir.join(LOCK).is_file()
}

/// The error for a second writer.
pub fn busy(dir: &Path, holder: &str) -> String {
    format!(
        "{} is being written by another process ({holder}): wait for it to finish or stop it; only one process may write it at a time",
        dir.display()
    )
}

/// "pid 1234: depthlab train ..." from the lock file's pid, as far as /proc tells.
fn holder(lock: &mut File) -> String {
    let mut pid = String::new();
    let _ = lock.read_to_string(&mut pid);
    let pid = pid.trim();
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| b.split(|c| *c == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>().join(" "))
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    match (pid.is_empty(), cmd) {
        (true, _) => "a process that has not yet written its pid".into(),
        (false, Some(c)) => format!("pid {pid}: {c}"),
        (false, None) => format!("pid {pid}"),
    }
}

/// An append-only log (metrics.jsonl, gradflow.jsonl) that can be cut back to a length a
/// checkpoint recorded and flushed to disk before the checkpoint that records its length.
pub struct AppendLog {
    file: File,
    path: PathBuf,
    bytes: u64,
    /// SHA-256 of every byte so far, so that a checkpoint can record what the log held.
    digest: sha2::Sha256,
}

impl AppendLog {
    /// Open for appending. `keep_bytes`: cut the file to this length (the one recorded by the
    /// checkpoint a run resumes from); None starts it empty. A file shorter than `keep_bytes`
    /// lost records the checkpoint counts on: an error, never padding.
    pub fn open(path: &Path, keep_bytes: Option<u64>) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let have = file.metadata()?.len();
        let bytes = keep_bytes.unwrap_or(0);
        if have < bytes {
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!(
                    "{} holds {have} bytes, but the checkpoint was written when it held {bytes}: records were lost after the checkpoint (the file was cut or not flushed); the run cannot continue exactly",
                    path.display()
                ),
            ));
        }
        if have != bytes {
            file.set_len(bytes)?;
            changed();
        }
        let mut digest = <sha2::Sha256 as sha2::Digest>::new();
        if bytes > 0 {
            sha2::Digest::update(&mut digest, std::fs::read(path)?);
        }
        Ok(AppendLog { file, path: path.to_owned(), bytes, digest })
    }

    /// Append one line.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        before_write(&self.path)?;
        self.file.write_all(line.as_bytes())?;
        self.bytes += line.len() as u64;
        sha2::Digest::update(&mut self.digest, line.as_bytes());
        changed();
        Ok(())
    }

    /// The SHA-256 of what the log holds (hex).
    pub fn sha256(&self) -> String {
        hex(&sha2::Digest::finalize(self.digest.clone()))
    }

    /// Flush to disk (before a checkpoint records `len`).
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    pub fn len(&self) -> u64 {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["a.json"]);
    }

    #[test]
    fn write_atomic_to_a_folder_fails_cleanly() {
        let d = tempfile::tempdir().unwrap();
        let e = write_atomic(d.path(), b"x").unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        // The temporary of a folder named `out` would be `.out.<pid>.tmp` beside it, not `out..tmp`.
        assert!(temp_path(Path::new("x/out")).to_string_lossy().starts_with("x/.out."));
    }

    #[test]
    fn temporaries_are_found_and_removed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(".model.safetensors.77.tmp"), b"x").unwrap();
        std::fs::create_dir(d.path().join(".ckpt.3.77.tmp")).unwrap();
        std::fs::write(d.path().join("model.safetensors"), b"x").unwrap();
        remove_temporaries(d.path()).unwrap();
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["model.safetensors"]);
    }

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named() {
        let d = tempfile::tempdir().unwrap();
        assert!(writer(d.path()).is_none());
        let lock = FolderLock::acquire(d.path()).unwrap();
        let e = FolderLock::acquire(d.path()).err().unwrap();
        assert!(e.busy, "a held folder is busy, not an I/O error");
        assert!(e.message.contains("being written by another process"), "{e}");
        assert!(e.message.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(writer(d.path()).is_some_and(|w| w.contains(&std::process::id().to_string())));
        drop(lock);
        assert!(writer(d.path()).is_none());
        FolderLock::acquire(d.path()).unwrap();
    }

    #[test]
    fn append_log_refuses_to_pad_a_short_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.jsonl");
        let mut log = AppendLog::open(&p, None).unwrap();
        log.append("{}\n").unwrap();
        log.append("{}\n").unwrap();
        drop(log);
        let log = AppendLog::open(&p, Some(3)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}\n");
        drop(log);
        let e = AppendLog::open(&p, Some(10)).err().unwrap();
        assert!(e.to_string().contains("records were lost"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"{}\n", "nothing padded");
    }
}
