//! The run folder on disk: one writer at a time, and checkpoints that become current in one
//! atomic step.
//!
//! ```text
//! RUN_DIR/.lock                     flock'd by the one process writing the folder (its pid inside)
//!         config.toml               written first; with no checkpoint the run starts over
//!         metrics.jsonl, gradflow.jsonl
//!         ckpt.<g>/                 a whole checkpoint: model.safetensors, optim.safetensors,
//!                                   state.json (which records the others' sizes and SHA-256)
//!         checkpoint -> ckpt.<g>    the current one: switched by renaming a new link over it
//!         model.safetensors -> checkpoint/model.safetensors   (and optim.safetensors,
//!         state.json -> checkpoint/state.json                   so readers need not know)
//!         summary.json
//! ```
//!
//! A crash at any moment leaves either the previous checkpoint current or the new one, each
//! whole: a generation folder is written and flushed before the link names it, and the logs
//! are flushed before the checkpoint that records their length. Stray generations and
//! temporaries are removed when the next writer opens the folder.

use std::path::{Path, PathBuf};

use crate::files;

pub const CONFIG: &str = "config.toml";
pub const METRICS: &str = "metrics.jsonl";
pub const GRADFLOW: &str = "gradflow.jsonl";
pub const SUMMARY: &str = "summary.json";
pub const MODEL: &str = "model.safetensors";
pub const OPTIM: &str = "optim.safetensors";
pub const STATE: &str = "state.json";
const CURRENT: &str = "checkpoint";
const GENERATION: &str = "ckpt.";

/// The files of one checkpoint, as bytes.
#[derive(Debug)]
pub struct CheckpointFiles {
    pub model: Vec<u8>,
    pub optim: Vec<u8>,
    /// state.json (its `files` entry is added when written, and checked when read).
    pub state: serde_json::Value,
}

/// A run folder held for writing: the lock is released when this is dropped (or the process
/// dies, which the kernel handles).
pub struct RunFolder {
    dir: PathBuf,
    _lock: files::FolderLock,
}

/// Sizes and SHA-256 of the files a state.json belongs to, checked when it is loaded.
fn digest(bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({"bytes": bytes.len(), "sha256": files::sha256(bytes)})
}

fn io_err(what: String) -> impl Fn(std::io::Error) -> String {
    move |e| format!("{what}: {e}")
}

impl RunFolder {
    /// Take the folder for writing (creating it if needed), and remove what interrupted
    /// writers left. A second writer gets an error naming the process that holds it.
    pub fn lock(dir: &Path) -> Result<RunFolder, files::LockError> {
        let lock = files::FolderLock::acquire(dir)?;
        let folder = RunFolder { dir: dir.to_owned(), _lock: lock };
        folder.clean().map_err(|message| files::LockError { busy: false, message })?;
        Ok(folder)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Remove what interrupted writers left: temporaries, and generations that never became
    /// current (or stopped being current).
    fn clean(&self) -> Result<(), String> {
        let err = io_err(format!("cannot clean {}", self.dir.display()));
        files::remove_temporaries(&self.dir).map_err(&err)?;
        let current = self.current_generation();
        for e in std::fs::read_dir(&self.dir).map_err(&err)? {
            let name = e.map_err(&err)?.file_name().to_string_lossy().into_owned();
            if name.starts_with(GENERATION) && Some(&name) != current.as_ref() {
                std::fs::remove_dir_all(self.dir.join(&name)).map_err(&err)?;
            }
        }
        Ok(())
    }

    fn current_generation(&self) -> Option<String> {
        current_generation(&self.dir)
    }

    /// Make `files` the current checkpoint. `logs` are flushed first, so that the lengths the
    /// state records are on disk before the state is.
    pub fn write_checkpoint(&self, files: CheckpointFiles, logs: &[&files::AppendLog]) -> Result<(), String> {
        let next = self
            .current_generation()
            .and_then(|g| g.strip_prefix(GENERATION).and_then(|n| n.parse::<u64>().ok()))
            .map_or(0, |n| n + 1);
        let name = format!("{GENERATION}{next}");
        let gen = self.dir.join(&name);
        let err = |what: &str| io_err(format!("cannot write the checkpoint {}{what}", gen.display()));
        if gen.exists() {
            std::fs::remove_dir_all(&gen).map_err(err(""))?;
        }
        std::fs::create_dir(&gen).map_err(err(""))?;
        let mut state = files.state;
        state["files"] = serde_json::json!({ MODEL: digest(&files.model), OPTIM: digest(&files.optim) });
        let state_text = serde_json::to_string_pretty(&state).expect("state serialises");
        files::write_new(&gen.join(MODEL), &files.model).map_err(err(&format!("/{MODEL}")))?;
        files::write_new(&gen.join(OPTIM), &files.optim).map_err(err(&format!("/{OPTIM}")))?;
        files::write_new(&gen.join(STATE), state_text.as_bytes()).map_err(err(&format!("/{STATE}")))?;
        files::sync_dir(&gen).map_err(err(""))?;
        for log in logs {
            log.sync().map_err(err(" (flushing the logs)"))?;
        }
        let old = self.current_generation();
        files::replace_symlink(Path::new(&name), &self.dir.join(CURRENT)).map_err(err(" (switching to it)"))?;
        // Committed. What follows only tidies up; a crash here is cleaned by the next writer.
        for f in [MODEL, OPTIM, STATE] {
            let link = self.dir.join(f);
            if std::fs::symlink_metadata(&link).is_err() {
                files::replace_symlink(&Path::new(CURRENT).join(f), &link).map_err(err(""))?;
            }
        }
        if let Some(old) = old.filter(|o| *o != name) {
            std::fs::remove_dir_all(self.dir.join(old)).map_err(err(" (removing the previous one)"))?;
            files::changed();
        }
        Ok(())
    }

    /// Forget every checkpoint and log (a run that starts over from its config).
    pub fn reset(&self) -> Result<(), String> {
        let err = io_err(format!("cannot reset {}", self.dir.display()));
        for f in [CURRENT, MODEL, OPTIM, STATE, METRICS, GRADFLOW, SUMMARY, "gradflow_heatmap.svg"] {
            let p = self.dir.join(f);
            if std::fs::symlink_metadata(&p).is_ok() {
                std::fs::remove_file(&p).map_err(&err)?;
                files::changed();
            }
        }
        self.clean()
    }
}

/// The generation folder the `checkpoint` link names, if any.
fn current_generation(dir: &Path) -> Option<String> {
    let target = std::fs::read_link(dir.join(CURRENT)).ok()?;
    let name = target.to_str()?.to_string();
    (name.starts_with(GENERATION) && !name.contains('/')).then_some(name)
}

/// The current checkpoint of `dir`, checked whole: None when the run has none yet.
pub fn read_checkpoint(dir: &Path) -> Result<Option<CheckpointFiles>, String> {
    let Some(name) = current_generation(dir) else {
        if std::fs::symlink_metadata(dir.join(CURRENT)).is_ok() {
            return Err(format!("{}: `{CURRENT}` does not name a checkpoint folder ({GENERATION}N)", dir.display()));
        }
        return Ok(None);
    };
    let gen = dir.join(&name);
    let read = |f: &str| std::fs::read(gen.join(f)).map_err(io_err(format!("cannot read {}", gen.join(f).display())));
    let state_path = gen.join(STATE);
    let state: serde_json::Value = serde_json::from_slice(&read(STATE)?)
        .map_err(|e| format!("{}: not a checkpoint state: {e}", state_path.display()))?;
    let model = read(MODEL)?;
    let optim = read(OPTIM)?;
    for (f, bytes) in [(MODEL, &model), (OPTIM, &optim)] {
        let want = &state["files"][f];
        if *want != digest(bytes) {
            return Err(format!(
                "{}: does not match the checkpoint's record of it ({} bytes, SHA-256 {}); the checkpoint is damaged",
                gen.join(f).display(),
                want["bytes"],
                want["sha256"]
            ));
        }
    }
    Ok(Some(CheckpointFiles { model, optim, state }))
}

/// Where the current checkpoint's file `name` is (`MODEL`, `OPTIM`, `STATE`): in its generation
/// folder when there is one, else at the top of `dir` (where a run folder from before
/// generations kept it).
pub fn checkpoint_file(dir: &Path, name: &str) -> PathBuf {
    match current_generation(dir) {
        Some(g) => dir.join(g).join(name),
        None => dir.join(name),
    }
}

/// Whether `dir` has a current checkpoint.
pub fn has_checkpoint(dir: &Path) -> bool {
    current_generation(dir).is_some_and(|g| dir.join(g).join(STATE).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ckpt(n: u8) -> CheckpointFiles {
        CheckpointFiles { model: vec![n; 10], optim: vec![n; 3], state: serde_json::json!({"step": n}) }
    }

    #[test]
    fn a_checkpoint_becomes_current_whole_and_the_previous_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let f = RunFolder::lock(d.path()).unwrap();
        assert!(read_checkpoint(d.path()).unwrap().is_none());
        f.write_checkpoint(ckpt(1), &[]).unwrap();
        f.write_checkpoint(ckpt(2), &[]).unwrap();
        let c = read_checkpoint(d.path()).unwrap().unwrap();
        assert_eq!((c.model, c.optim, c.state["step"].as_u64()), (vec![2; 10], vec![2; 3], Some(2)));
        // Readers that know nothing of generations see the current files.
        assert_eq!(std::fs::read(d.path().join(MODEL)).unwrap(), vec![2; 10]);
        let gens: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(GENERATION))
            .collect();
        assert_eq!(gens, ["ckpt.1"]);
    }

    #[test]
    fn a_damaged_checkpoint_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = RunFolder::lock(d.path()).unwrap();
        f.write_checkpoint(ckpt(1), &[]).unwrap();
        std::fs::write(d.path().join("ckpt.0").join(OPTIM), [9u8; 3]).unwrap();
        let e = read_checkpoint(d.path()).unwrap_err();
        assert!(e.contains("optim.safetensors") && e.contains("damaged"), "{e}");
    }

    #[test]
    fn stray_generations_are_cleaned_when_the_folder_is_taken() {
        let d = tempfile::tempdir().unwrap();
        {
            let f = RunFolder::lock(d.path()).unwrap();
            f.write_checkpoint(ckpt(1), &[]).unwrap();
        }
        std::fs::create_dir(d.path().join("ckpt.7")).unwrap();
        std::fs::write(d.path().join(".state.json.99.tmp"), b"x").unwrap();
        let _f = RunFolder::lock(d.path()).unwrap();
        assert!(!d.path().join("ckpt.7").exists());
        assert!(!d.path().join(".state.json.99.tmp").exists());
        assert!(d.path().join("ckpt.0").exists());
    }
}
