//! `depthlab reproduce`: the claims' runs planned together (runs two claims share are run
//! once), run by the engine, then the report; and `depthlab report OUT` for the analyses alone
//! once every shard is done. OUT/suite.json records what the suite is, so that `report` needs
//! nothing else; OUT/timing.jsonl records each invocation's wall time.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::write_atomic;
use crate::lab::{self, Params, Scale};
use crate::sweep::{Plan, RunRequest};

/// What a suite folder holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suite {
    /// Claim ids, in order.
    pub claims: Vec<String>,
    pub scale: Scale,
    pub seeds: Option<usize>,
}

impl Suite {
    pub fn params(&self) -> Params {
        Params { scale: self.scale, seeds: self.seeds }
    }

    pub fn experiments(&self) -> Result<Vec<&'static dyn lab::Experiment>, String> {
        lab::select(&self.claims)
    }

    /// Every run of every claim, as the claims ask for them.
    pub fn requests(&self) -> Result<Vec<(&'static str, RunRequest)>, String> {
        let p = self.params();
        Ok(self.experiments()?.into_iter().flat_map(|e| e.runs(&p).into_iter().map(move |r| (e.id(), r))).collect())
    }

    pub fn plan(&self) -> Result<Plan, String> {
        Ok(Plan::new(self.requests()?.into_iter().map(|(_, r)| r)))
    }

    pub fn path(out: &Path) -> PathBuf {
        out.join("suite.json")
    }

    pub fn load(out: &Path) -> Result<Suite, String> {
        let p = Suite::path(out);
        let bytes = std::fs::read(&p).map_err(|e| {
            format!("{}: {e}; is {} a folder written by `depthlab reproduce`?", p.display(), out.display())
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{}: {e}; if it is damaged, remove it: `depthlab reproduce` writes it again (the runs are kept)",
                p.display()
            )
        })
    }

    /// Record the suite in `out`, merged with the one there (under the suite's lock, so that
    /// engines sharing the folder never lose each other's claims); the merged suite. A folder
    /// may hold one suite: another scale or other seeds would mix runs of two suites in one
    /// report.
    pub fn save(&self, out: &Path) -> Result<Suite, String> {
        if out.exists() && !out.is_dir() {
            return Err(format!("--out {}: a file, not a folder for the suite", out.display()));
        }
        std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let _lock = lock(out)?;
        let mut suite = self.clone();
        if Suite::path(out).exists() {
            let old = Suite::load(out)?;
            if (old.scale, old.seeds) != (self.scale, self.seeds) {
                return Err(format!(
                    "{} holds a suite at scale {} with {} seeds; use another --out for scale {} with {} seeds",
                    out.display(),
                    old.scale.name(),
                    old.seeds.map_or("the default".to_string(), |s| s.to_string()),
                    self.scale.name(),
                    self.seeds.map_or("the default".to_string(), |s| s.to_string()),
                ));
            }
            // Claims run into the same folder accumulate, so that `report` covers them all.
            for c in old.claims {
                if !suite.claims.contains(&c) {
                    suite.claims.push(c);
                }
            }
            let ids = lab::select(&suite.claims)?;
            suite.claims = ids.iter().map(|e| e.id().to_string()).collect();
        }
        let text = serde_json::to_string_pretty(&suite).expect("json") + "\n";
        write_atomic(&Suite::path(out), text.as_bytes()).map_err(|e| format!("cannot write suite.json: {e}"))?;
        Ok(suite)
    }
}

/// One invocation of the engine on a suite folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Invocation {
    pub shard: Option<String>,
    pub jobs: usize,
    pub ran: usize,
    pub wall_s: f64,
}

/// The suite folder's lock, held while its manifests are read and written (blocking: the
/// other engine holds it for milliseconds).
fn lock(out: &Path) -> Result<std::fs::File, String> {
    let p = out.join(".suite.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| format!("cannot open {}: {e}", p.display()))?;
    f.lock().map_err(|e| format!("cannot lock {}: {e}", p.display()))?;
    Ok(f)
}

pub fn record_invocation(out: &Path, inv: &Invocation) -> Result<(), String> {
    let _lock = lock(out)?;
    let p = out.join("timing.jsonl");
    let mut text = std::fs::read_to_string(&p).unwrap_or_default();
    text += &(serde_json::to_string(inv).expect("json") + "\n");
    write_atomic(&p, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

pub fn invocations(out: &Path) -> Vec<Invocation> {
    std::fs::read_to_string(out.join("timing.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
