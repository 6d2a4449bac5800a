//! A user's sweep (SWEEP.toml): a base config, axes over any of its keys, seeds, and probes to
//! run on every result.
//!
//! ```toml
//! base = "../examples/mnist1d-highway.toml"   # relative to this file (or a [base] table)
//! seeds = [1, 2, 3]                           # or a count: seeds = 3 is 1, 2, 3
//! probes = ["gradflow", "gates"]              # optional
//! out = "sweeps/depth"                        # optional; default sweeps/<file name>
//!
//! [set]                                       # optional: fixed overrides
//! "train.epochs" = 2
//!
//! [axes]                                      # every combination is a run (times each seed)
//! "model.depth" = [10, 20, 50]
//! "model.arch" = ["plain", "highway"]
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::RunRequest;
use crate::config::{Config, ConfigError};
use crate::probe::ProbeKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    base: toml::Value,
    #[serde(default)]
    seeds: Option<toml::Value>,
    #[serde(default)]
    probes: Vec<String>,
    #[serde(default)]
    out: Option<PathBuf>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    axes: toml::Table,
}

/// A sweep, resolved: every run it asks for.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub name: String,
    pub out: PathBuf,
    pub runs: Vec<RunRequest>,
    /// The keys that vary (axes, and `seed` when there are several).
    pub varying: Vec<String>,
}

/// Seeds per configuration a sweep or suite may ask for: more is a typo (each is a run).
pub const MAX_SEEDS: usize = 1000;
/// Runs one plan may hold: every run is a process and a folder; a grid larger than this is
/// refused before it is expanded.
pub const MAX_RUNS: usize = 100_000;

fn invalid(path: &Path, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { path: path.display().to_string(), msg: msg.into() }
}

/// `key=value` as `--set` takes it.
fn set_arg(key: &str, v: &toml::Value) -> String {
    format!("{key}={v}")
}

impl Sweep {
    pub fn load(path: &Path) -> Result<Sweep, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
        let f: SweepFile = toml::from_str(&text).map_err(|e| invalid(path, e.to_string()))?;
        let here = path.parent().unwrap_or(Path::new("."));
        let (base_text, origin) = match &f.base {
            toml::Value::String(p) => {
                let p = here.join(p);
                let t = std::fs::read_to_string(&p).map_err(|source| ConfigError::Io { path: p.clone(), source })?;
                (t, p.display().to_string())
            }
            toml::Value::Table(t) => {
                (toml::to_string(t).expect("a table serialises"), format!("{} [base]", path.display()))
            }
            _ => return Err(invalid(path, "base: expected a config file's path or a [base] table")),
        };
        let seeds: Vec<u64> = match &f.seeds {
            None => Vec::new(),
            Some(toml::Value::Integer(n)) if *n as u64 > MAX_SEEDS as u64 => {
                return Err(invalid(
                    path,
                    format!("seeds = {n}: at most {MAX_SEEDS} seeds (each is a run of every configuration)"),
                ))
            }
            Some(toml::Value::Integer(n)) if *n >= 1 => (1..=*n as u64).collect(),
            Some(toml::Value::Array(a)) if a.len() > MAX_SEEDS => {
                return Err(invalid(path, format!("seeds: {} seeds listed, at most {MAX_SEEDS}", a.len())))
            }
            Some(toml::Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|v| v.as_integer().filter(|i| *i >= 0).map(|i| i as u64))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid(path, "seeds: expected whole numbers >= 0"))?,
            Some(_) => return Err(invalid(path, "seeds: expected a count (seeds = 3) or a list (seeds = [1, 2])")),
        };
        let probes: Vec<ProbeKind> = f
            .probes
            .iter()
            .map(|p| ProbeKind::parse(p))
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(path, format!("probes: {e}")))?;
        let fixed: Vec<String> = f.set.iter().map(|(k, v)| set_arg(k, v)).collect();
        let mut axes: Vec<(String, Vec<toml::Value>)> = Vec::new();
        for (k, v) in &f.axes {
            match v {
                toml::Value::Array(a) if !a.is_empty() => axes.push((k.clone(), a.clone())),
                _ => return Err(invalid(path, format!("axes.\"{k}\": expected a non-empty list of values"))),
            }
        }
        if f.seeds.is_some() && (axes.iter().any(|(k, _)| k == "seed") || f.set.contains_key("seed")) {
            return Err(invalid(
                path,
                "seed is set both by `seeds` and by an axis or [set] \"seed\": give the seeds in one place",
            ));
        }
        let runs_asked =
            axes.iter().try_fold(seeds.len().max(1), |n, (_, v)| n.checked_mul(v.len())).filter(|n| *n <= MAX_RUNS);
        if runs_asked.is_none() {
            let sizes: Vec<String> = axes.iter().map(|(k, v)| format!("{} {k}", v.len())).collect();
            return Err(invalid(
                path,
                format!(
                    "the grid ({} x {} seed{}) is more than {MAX_RUNS} runs: split it into several sweeps",
                    sizes.join(" x "),
                    seeds.len().max(1),
                    if seeds.len() > 1 { "s" } else { "" }
                ),
            ));
        }
        // Every combination of the axes, the last axis varying fastest, then each seed.
        let mut combos: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for (k, values) in &axes {
            combos = combos
                .into_iter()
                .flat_map(|c| values.iter().map(move |v| [c.clone(), vec![(k.clone(), v.clone())]].concat()))
                .collect();
        }
        let seed_list: Vec<Option<u64>> =
            if seeds.is_empty() { vec![None] } else { seeds.iter().map(|s| Some(*s)).collect() };
        let mut runs = Vec::new();
        for c in &combos {
            for seed in &seed_list {
                let mut sets = fixed.clone();
                sets.extend(c.iter().map(|(k, v)| set_arg(k, v)));
                if let Some(s) = seed {
                    sets.push(format!("seed={s}"));
                }
                let config = Config::parse(&base_text, &origin, &sets)?;
                let mut label: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
                if let Some(s) = seed {
                    label.push(format!("seed={s}"));
                }
                runs.push(RunRequest::train(config, label.join(" ")).with_probes(&probes));
            }
        }
        for &k in &probes {
            let refused: Vec<&RunRequest> = runs.iter().filter(|r| k.applies(&r.config.model).is_err()).collect();
            if let Some(first) = refused.first() {
                let why = k.applies(&first.config.model).unwrap_err();
                return Err(invalid(
                    path,
                    format!(
                        "probes: `{}` does not apply to {} of the sweep's {} runs (the first: {}): {why}; probe those runs separately",
                        k.name(),
                        refused.len(),
                        runs.len(),
                        first.label
                    ),
                ));
            }
        }
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep").to_string();
        // Paths in or implied by the sweep file are relative to it, as `base` is.
        let out = here.join(f.out.unwrap_or_else(|| Path::new("sweeps").join(&name)));
        let mut varying: Vec<String> = axes.iter().map(|a| a.0.clone()).collect();
        if seeds.len() > 1 {
            varying.push("seed".into());
        }
        Ok(Sweep { name, out, runs, varying })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const BASE: &str = "seed = 7\n[data]\nname = \"mnist1d\"\n[model]\narch = \"plain\"\ndepth = 2\nwidth = 8\n[optim]\nlr = 0.1\noptimizer = { kind = \"sgd\" }\n[train]\nepochs = 1\n";

    fn sweep(text: &str) -> Result<Sweep, ConfigError> {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("base.toml"), BASE).unwrap();
        std::fs::write(d.path().join("s.toml"), text).unwrap();
        Sweep::load(&d.path().join("s.toml"))
    }

    #[test]
    fn a_grid_of_axes_times_seeds() {
        let s = sweep(
            "base = \"base.toml\"\nseeds = 2\nprobes = [\"gradflow\"]\n[set]\n\"train.epochs\" = 2\n[axes]\n\"model.depth\" = [1, 3]\n\"model.arch\" = [\"plain\", \"highway\"]\n",
        )
        .unwrap();
        assert_eq!(s.runs.len(), 8);
        assert_eq!(s.varying, ["model.arch", "model.depth", "seed"]);
        assert!(s.runs.iter().all(|r| r.config.train.epochs == 2 && r.probes == [ProbeKind::Gradflow]));
        let labels: Vec<&str> = s.runs.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels[0], "model.arch=\"plain\" model.depth=1 seed=1");
        assert_eq!(s.runs[7].config.model.depth, 3);
        assert_eq!(s.runs[7].config.seed, 2);
        assert!(s.out.ends_with("sweeps/s") && s.out.starts_with(std::env::temp_dir()), "beside the file: {:?}", s.out);
    }

    #[test]
    fn bad_sweeps_name_what_is_wrong() {
        let e = sweep("base = \"base.toml\"\n[axes]\n\"model.depth\" = 3\n").unwrap_err().to_string();
        assert!(e.contains("axes.\"model.depth\"") && e.contains("list"), "{e}");
        let e = sweep("base = \"base.toml\"\n[axes]\n\"model.depht\" = [3]\n").unwrap_err().to_string();
        assert!(e.contains("depht"), "{e}");
        let e = sweep("base = \"base.toml\"\n[axes]\n\"model.width\" = [0]\n").unwrap_err().to_string();
        assert!(e.contains("model.width=0") && e.contains("at least 1"), "{e}");
        let e = sweep("base = \"base.toml\"\nprobes = [\"gradflw\"]\n").unwrap_err().to_string();
        assert!(e.contains("gradflw"), "{e}");
        let e = sweep("base = \"nope.toml\"\n").unwrap_err().to_string();
        assert!(e.contains("nope.toml"), "{e}");
        let e = sweep("bse = \"base.toml\"\n").unwrap_err().to_string();
        assert!(e.contains("bse"), "{e}");
    }

    #[test]
    fn sizes_are_bounded_before_anything_is_expanded() {
        let e = sweep("base = \"base.toml\"\nseeds = 9223372036854775807\n").unwrap_err().to_string();
        assert!(e.contains("at most 1000 seeds"), "{e}");
        let e = sweep("base = \"base.toml\"\nseeds = 10000000\n").unwrap_err().to_string();
        assert!(e.contains("at most 1000 seeds"), "{e}");
        let axis: String = format!("[{}]", (1..=100).map(|i| i.to_string()).collect::<Vec<_>>().join(", "));
        let t = Instant::now();
        let e = sweep(&format!(
            "base = \"base.toml\"\n[axes]\n\"model.depth\" = {axis}\n\"model.width\" = {axis}\n\"seed\" = {axis}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than 100000 runs") && e.contains("100 model.depth"), "{e}");
        assert!(t.elapsed().as_secs_f64() < 5.0, "refused before the grid is built");
    }

    #[test]
    fn a_seed_axis_and_seeds_together_are_refused() {
        let e = sweep("base = \"base.toml\"\nseeds = 2\n[axes]\nseed = [1, 2, 3, 4]\n").unwrap_err().to_string();
        assert!(e.contains("seed is set both by `seeds` and by an axis"), "{e}");
        let s = sweep("base = \"base.toml\"\n[axes]\nseed = [1, 2, 3, 4]\n").unwrap();
        assert_eq!(s.runs.len(), 4, "an axis alone sets the seeds");
    }

    #[test]
    fn a_probe_that_does_not_apply_to_every_run_is_refused_at_load() {
        let e = sweep("base = \"base.toml\"\nprobes = [\"gradflow\", \"gates\"]\n[axes]\n\"model.arch\" = [\"plain\", \"highway\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`gates` does not apply to 1 of the sweep's 2 runs") && e.contains("plain"), "{e}");
    }
}
