//! What a suite costs, measured rather than guessed: each distinct run of the plan (the same
//! config but for the seed counts once) is trained for a few steps in a scratch folder, its
//! time per step measured, and the whole run's time extrapolated from its step count and its
//! evaluations. The sum per claim is in core-hours (each run is one single-threaded process).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::Config;
use crate::sweep::Task;
use crate::train::budget;

/// One claim's estimate.
#[derive(Clone, Debug)]
pub struct ClaimCost {
    pub claim: String,
    pub runs: usize,
    pub steps: u64,
    pub core_hours: f64,
}

/// The config without its seed: runs that differ only in their seed cost the same.
fn shape(cfg: &Config) -> String {
    let mut c = cfg.clone();
    c.seed = 0;
    c.to_toml()
}

/// Seconds per training step of `cfg`, measured over `sample` steps in a scratch folder.
fn seconds_per_step(exe: &Path, cfg: &Config, sample: usize, data_dir: Option<&Path>) -> Result<f64, String> {
    let tmp = tempfile_dir()?;
    let cfg_path = tmp.join("config.toml");
    std::fs::write(&cfg_path, cfg.to_toml()).map_err(|e| e.to_string())?;
    let run = tmp.join("run");
    let mut c = Command::new(exe);
    // One thread, as the engine's workers run.
    c.args([
        "train",
        cfg_path.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "-q",
        "--threads",
        "1",
        "--stop-after",
    ])
    .arg(sample.to_string())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .env("CI", "1");
    if let Some(d) = data_dir {
        c.arg("--data-dir").arg(d);
    }
    let out = c.output().map_err(|e| e.to_string())?;
    let state: serde_json::Value = std::fs::read(run.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| format!("the sample run did not checkpoint: {}", String::from_utf8_lossy(&out.stderr).trim()))?;
    let _ = std::fs::remove_dir_all(&tmp);
    // CPU seconds, not wall seconds: the estimate should not depend on what else the machine
    // runs while it is measured (a checkpoint from before `cpu_s` existed has only the wall time).
    let secs = state["cpu_s"].as_f64().filter(|s| *s > 0.0).or_else(|| state["elapsed_s"].as_f64()).unwrap_or(f64::NAN);
    let done = state["step"].as_f64().unwrap_or(0.0);
    if done < 1.0 {
        return Err("the sample run made no step".into());
    }
    Ok(secs / done)
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let d = std::env::temp_dir().join(format!("depthlab-cost-{}-{}", std::process::id(), rand::random::<u64>()));
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    Ok(d)
}

/// Evaluation passes cost about a third of a training step per batch of forward work.
fn eval_steps(cfg: &Config, train_steps: u64) -> u64 {
    let per_epoch = train_steps / cfg.train.epochs.max(1) as u64;
    let evals = cfg.train.epochs.div_ceil(cfg.train.eval_every.max(1)) as u64;
    let test = per_epoch / 6 + 1;
    let train_eval = if cfg.train.eval_train { per_epoch } else { 0 };
    evals * (test + train_eval) / 3
}

/// Measure every distinct training run of `tasks` (labelled by claim) for `sample` steps.
pub fn measure(
    exe: &Path,
    tasks: &[(&str, &Task)],
    sample: usize,
    data_dir: Option<&Path>,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ClaimCost>, String> {
    let mut per_step: BTreeMap<String, f64> = BTreeMap::new();
    let mut claims: BTreeMap<String, ClaimCost> = BTreeMap::new();
    for (claim, t) in tasks {
        let c = claims.entry(claim.to_string()).or_insert(ClaimCost {
            claim: claim.to_string(),
            runs: 0,
            steps: 0,
            core_hours: 0.0,
        });
        c.runs += 1;
        if !t.train {
            continue;
        }
        let s = budget::train_steps(&t.config);
        c.steps += s;
        let key = shape(&t.config);
        let sps = match per_step.get(&key) {
            Some(v) => *v,
            None => {
                progress(&format!("{claim}: sampling {} ({} steps)", t.label(), sample));
                let v = seconds_per_step(exe, &t.config, sample.min(s as usize).max(1), data_dir)
                    .map_err(|e| format!("{claim} {}: {e}", t.label()))?;
                per_step.insert(key, v);
                v
            }
        };
        c.core_hours += sps * (s + eval_steps(&t.config, s)) as f64 / 3600.0;
    }
    let mut v: Vec<ClaimCost> = claims.into_values().collect();
    v.sort_by_key(|c| c.claim.trim_start_matches('C').parse::<u32>().unwrap_or(u32::MAX));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brown_steps_count_the_training_sentences() {
        let brown = |subset: &str| {
            let text = format!("[data]\nname = \"brown\"\n{subset}\n[model]\narch = \"lstm\"\ndepth = 3\nwidth = 32\n[optim]\nlr = 0.01\noptimizer = {{ kind = \"adam\" }}\n[train]\nepochs = 6\nbatch_size = 32\n");
            budget::train_steps(&Config::parse(&text, "t.toml", &[]).unwrap())
        };
        assert_eq!(brown("train_subset = 3000"), 94 * 6);
        assert_eq!(brown(""), 45_608u64.div_ceil(32) * 6);
        assert_eq!(brown("train_subset = 100000"), 45_608u64.div_ceil(32) * 6);
    }
}
