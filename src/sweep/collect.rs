//! `depthlab sweep collect DIR`: one table of every run under DIR/runs, its summary beside its
//! config keys, as CSV and JSONL, and a plot of one metric against one key.
//!
//! The table holds no timings, so it is the same whichever machines, shards or worker counts
//! produced the runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::Config;
use crate::files::write_atomic;

/// One row per run: column -> value (numbers, strings, booleans; absent when the run has none).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<BTreeMap<String, Value>>,
}

/// The leaves of a TOML table as `a.b.c` -> value.
fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, Value>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                flatten(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), serde_json::to_value(other).unwrap_or(Value::Null));
        }
    }
}

/// The summary's numbers and the last epoch record's (train_eval_loss, test_bits_per_char,
/// ...), without timings.
fn results(dir: &Path, out: &mut BTreeMap<String, Value>) {
    if let Some(Value::Object(s)) =
        std::fs::read(dir.join("summary.json")).ok().and_then(|b| serde_json::from_slice(&b).ok())
    {
        for (k, v) in s {
            if k != "elapsed_s" {
                out.insert(k, v);
            }
        }
    }
    let last_epoch = std::fs::read_to_string(dir.join("metrics.jsonl")).ok().and_then(|t| {
        t.lines().rev().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| v["kind"] == "epoch")
    });
    if let Some(Value::Object(rec)) = last_epoch {
        for (k, v) in rec {
            if !matches!(k.as_str(), "kind" | "elapsed_s" | "epoch" | "step") {
                out.entry(format!("last_epoch.{k}")).or_insert(v);
            }
        }
    }
}

/// Every run folder under `dir/runs` (those with a config.toml), by id.
pub fn run_dirs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let runs = dir.join("runs");
    let rd = std::fs::read_dir(&runs).map_err(|e| format!("{}: no runs to collect ({e})", runs.display()))?;
    let mut v: Vec<PathBuf> =
        rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("config.toml").is_file()).collect();
    v.sort();
    Ok(v)
}

/// The table of every run under `dir/runs`; a finished run that is not whole
/// (`super::verify`) is an error naming it, never a row.
pub fn collect(dir: &Path) -> Result<Table, String> {
    let mut rows = Vec::new();
    let mut damaged = Vec::new();
    for run in run_dirs(dir)? {
        let id = run.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if let Some(s) = super::final_summary(&run) {
            if let Err(d) = super::verify::config(&run, &id, true).and_then(|_| super::verify::trained(&run, &s)) {
                damaged.push(format!("  {id}: {}", d.what()));
                continue;
            }
        }
        let cfg_path = run.join("config.toml");
        let cfg = Config::load(&cfg_path, &[]).map_err(|e| e.to_string())?;
        let mut row = BTreeMap::new();
        row.insert("id".to_string(), Value::from(run.file_name().unwrap().to_string_lossy().into_owned()));
        flatten("", &toml::Value::try_from(&cfg).map_err(|e| e.to_string())?, &mut row);
        row.entry("status".to_string()).or_insert(Value::from("not started"));
        results(&run, &mut row);
        rows.push(row);
    }
    if !damaged.is_empty() {
        return Err(format!(
            "{} under {} {} damaged; run the sweep again to redo {}:\n{}",
            super::plural(damaged.len(), "run"),
            dir.join("runs").display(),
            if damaged.len() == 1 { "is" } else { "are" },
            if damaged.len() == 1 { "it" } else { "them" },
            damaged.join("\n")
        ));
    }
    // id and status, the config keys, then the results.
    let mut cols: BTreeSet<String> = rows.iter().flat_map(|r| r.keys().cloned()).collect();
    cols.remove("id");
    cols.remove("status");
    let (config, results): (Vec<String>, Vec<String>) = cols.into_iter().partition(|c| is_config_key(c));
    let columns = [vec!["id".to_string(), "status".to_string()], config, results].concat();
    Ok(Table { columns, rows })
}

fn csv_cell(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

impl Table {
    pub fn to_csv(&self) -> String {
        let mut out = self.columns.join(",") + "\n";
        for r in &self.rows {
            let cells: Vec<String> = self.columns.iter().map(|c| csv_cell(r.get(c))).collect();
            out += &(cells.join(",") + "\n");
        }
        out
    }

    pub fn to_jsonl(&self) -> String {
        self.rows.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect()
    }

    /// The columns whose value differs between rows (what the sweep varied).
    pub fn varying(&self) -> Vec<String> {
        self.columns
            .iter()
            .filter(|c| {
                let first = self.rows.first().and_then(|r| r.get(*c));
                c.as_str() != "id" && self.rows.iter().any(|r| r.get(*c) != first)
            })
            .cloned()
            .collect()
    }
}

/// `metric` against `by`: one line per value of the other varying config keys (seeds
/// averaged; the band spans their min and max).
pub fn plot(t: &Table, metric: &str, by: &str) -> Result<String, String> {
    if !t.columns.iter().any(|c| c == metric) {
        return Err(format!("no column `{metric}`; the columns are {}", t.columns.join(", ")));
    }
    if !t.columns.iter().any(|c| c == by) {
        return Err(format!("no column `{by}`; the columns are {}", t.columns.join(", ")));
    }
    let config_keys: Vec<String> = t
        .varying()
        .into_iter()
        .filter(|c| c != by && c != "seed" && !c.starts_with("last_epoch.") && is_config_key(c))
        .collect();
    // A plot needs numbers on both axes: a key of words (model.arch) is a line, not an axis.
    for (key, flag) in [(by, "--by"), (metric, "--metric")] {
        if !t.rows.iter().any(|r| r.get(key).is_some_and(Value::is_number)) {
            let values: BTreeSet<String> =
                t.rows.iter().filter_map(|r| r.get(key)).map(|v| csv_cell(Some(v))).collect();
            let values: Vec<String> = values.into_iter().take(6).collect();
            return Err(format!(
                "{flag} {key}: no run has a number there (values: {}); {flag} takes a numeric column, and keys of words become the plot's lines",
                if values.is_empty() { "none".to_string() } else { values.join(", ") }
            ));
        }
    }
    let mut groups: BTreeMap<String, BTreeMap<String, (f64, Vec<f64>)>> = BTreeMap::new();
    for r in &t.rows {
        let (Some(x), Some(y)) = (r.get(by).and_then(|v| v.as_f64()), r.get(metric).and_then(|v| v.as_f64())) else {
            continue;
        };
        let name: Vec<String> = config_keys.iter().map(|k| format!("{k}={}", csv_cell(r.get(k)))).collect();
        let name = if name.is_empty() { metric.to_string() } else { name.join(" ") };
        groups.entry(name).or_default().entry(format!("{x:020.6}")).or_insert((x, Vec::new())).1.push(y);
    }
    let mut p = crate::plot::LinePlot::new(format!("{metric} against {by}"), by, metric);
    for (name, pts) in groups {
        let mean: Vec<(f64, f64)> =
            pts.values().map(|(x, ys)| (*x, ys.iter().sum::<f64>() / ys.len() as f64)).collect();
        let band: Vec<(f64, f64, f64)> = pts
            .values()
            .map(|(x, ys)| {
                let (lo, hi) = crate::stats::min_max(ys);
                (*x, lo, hi)
            })
            .collect();
        p = p.series(crate::plot::Series::new(name, mean).markers().band(band));
    }
    Ok(p.to_svg())
}

fn is_config_key(c: &str) -> bool {
    ["seed", "data.", "model.", "optim.", "train.", "probe."].iter().any(|p| c.starts_with(p))
}

/// Write DIR/table.csv, DIR/table.jsonl and (with `metric` and `by`) DIR/<metric>_by_<by>.svg.
pub fn write(dir: &Path, metric_by: Option<(&str, &str)>) -> Result<(Table, Vec<PathBuf>), String> {
    let t = collect(dir)?;
    crate::files::remove_stale_temporaries(dir).map_err(|e| format!("cannot clean {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for (name, text) in [("table.csv", t.to_csv()), ("table.jsonl", t.to_jsonl())] {
        let p = dir.join(name);
        write_atomic(&p, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        files.push(p);
    }
    if let Some((metric, by)) = metric_by {
        let svg = plot(&t, metric, by)?;
        let p = dir.join(format!("{}_by_{}.svg", metric.replace('.', "_"), by.replace('.', "_")));
        write_atomic(&p, svg.as_bytes()).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        files.push(p);
    }
    Ok((t, files))
}
