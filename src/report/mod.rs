//! The report a researcher reads: one self-contained HTML page (report.html, plots inline,
//! no other file needed; it opens from the folder with a double click), its summary as Markdown
//! (summary.md, small enough to commit) and the verdicts as JSON (verdicts.json) for machines.

pub mod expect;
mod html;
pub mod machine;
mod markdown;
pub mod pipeline;
pub mod suite;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::files::write_atomic;
use crate::lab::{Analysis, Claim, Experiment, Params, RunSet};
pub use suite::Suite;

/// One claim's part of the report.
pub struct Section {
    pub claim: &'static Claim,
    pub setup: String,
    /// The analysis, or why there is none (runs missing, an analysis error).
    pub analysis: Result<Analysis, String>,
    /// Its runs: (id, label, status).
    pub runs: Vec<(String, String, String)>,
    pub missing: Vec<(String, String)>,
}

impl Section {
    /// What the summary table shows.
    pub fn state(&self) -> &'static str {
        match &self.analysis {
            Ok(a) => a.verdict.state(),
            Err(_) if !self.missing.is_empty() => "incomplete",
            Err(_) => "error",
        }
    }

    /// One line a researcher reads in ten seconds: the number the verdict turns on against its
    /// bar, and the anchor's number beside it (or why there is no verdict).
    pub fn headline(&self) -> String {
        match &self.analysis {
            Ok(a) => match a.verdict.headline() {
                Some(m) => {
                    format!("{} = {} (needs {}); anchor: {}", m.name, m.shown, m.condition, self.claim.anchor_headline)
                }
                None => format!("anchor: {}", self.claim.anchor_headline),
            },
            Err(e) => e.lines().next().unwrap_or_default().to_string(),
        }
    }
}

/// The analysis of one experiment over the runs in `out`.
pub fn section(e: &'static dyn Experiment, p: &Params, runs: &RunSet) -> Section {
    let requests = e.runs(p);
    let missing = runs.missing(&requests);
    let mut listed: Vec<(String, String, String)> = Vec::new();
    for r in &requests {
        let id = r.id();
        if listed.iter().any(|l| l.0 == id) {
            continue;
        }
        let status = match runs.get(r) {
            Ok(run) => run.summary.as_ref().map_or("probed at initialisation".into(), |s| s.status.clone()),
            Err(why) if why.contains(" is damaged: ") => "damaged".into(),
            Err(_) => "missing".into(),
        };
        listed.push((id, r.label.clone(), status));
    }
    let analysis = if missing.is_empty() {
        crate::lab::analyze(e, p, runs)
    } else {
        Err(format!("{} of its {} are not done or not whole", missing.len(), crate::sweep::plural(listed.len(), "run")))
    };
    Section { claim: e.claim(), setup: e.setup(p), analysis, runs: listed, missing }
}

/// What the report says about how it was made.
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub machine: String,
    pub versions: String,
    pub scale: String,
    pub seeds: String,
    /// Wall time of the engine's invocations and the runs' own time (timings: they differ
    /// between otherwise identical reports).
    pub wall: String,
}

/// verdicts.json: each claim's state and verdict.
#[derive(Serialize)]
struct VerdictFile<'a> {
    scale: &'a str,
    claims: Vec<VerdictEntry<'a>>,
}

#[derive(Serialize)]
struct VerdictEntry<'a> {
    id: &'a str,
    slug: &'a str,
    state: &'a str,
    /// The summary's one line: the deciding number against its bar, the anchor's beside it.
    headline: String,
    /// The protocol the verdict is of, and protocol v1's outcome as measured at b278039.
    protocol: u32,
    v1_outcome: Option<String>,
    verdict: Option<&'a crate::lab::Verdict>,
    error: Option<&'a str>,
    missing_runs: Vec<&'a str>,
}

/// Write OUT/report.html, OUT/verdicts.json and OUT/summary.md; their paths, in that order.
pub fn write(out: &Path, header: &Header, sections: &[Section]) -> Result<Vec<PathBuf>, String> {
    // What a killed report left (its own temporaries), not another engine's writing now.
    crate::files::remove_stale_temporaries(out).map_err(|e| format!("cannot clean {}: {e}", out.display()))?;
    let html_path = out.join("report.html");
    write_atomic(&html_path, html::page(header, sections).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", html_path.display()))?;
    let v = VerdictFile {
        scale: &header.scale,
        claims: sections
            .iter()
            .map(|s| VerdictEntry {
                id: s.claim.id,
                slug: s.claim.slug,
                state: s.state(),
                headline: s.headline(),
                protocol: s.claim.protocol.version,
                v1_outcome: crate::lab::v1_record(s.claim.id).map(|(r, _)| r.outcome),
                verdict: s.analysis.as_ref().ok().map(|a| &a.verdict),
                error: s.analysis.as_ref().err().map(|e| e.as_str()),
                missing_runs: s.missing.iter().map(|m| m.0.as_str()).collect(),
            })
            .collect(),
    };
    let json_path = out.join("verdicts.json");
    write_atomic(&json_path, (serde_json::to_string_pretty(&v).expect("json") + "\n").as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    let md_path = out.join("summary.md");
    write_atomic(&md_path, markdown::page(header, sections).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", md_path.display()))?;
    Ok(vec![html_path, json_path, md_path])
}

/// `depthlab report OUT [CLAIM ...]`: analyse the suite in OUT and write its report, which
/// always covers every claim the folder's suite has (and any asked for besides). Errs (after
/// writing what it can) when a claim asked for (default: every one) has runs missing or
/// damaged, or cannot be analysed, naming each; else the sections of the claims asked for.
pub fn report(out: &Path, claims: &[String]) -> Result<(Vec<Section>, Vec<PathBuf>), String> {
    report_until(out, claims, None)
}

/// `report`, checking `stop` between claims: a stop request ends it with "stopped" (the
/// caller turns that into the signal's exit).
pub fn report_until(
    out: &Path,
    claims: &[String],
    stop: Option<&crate::train::StopFlag>,
) -> Result<(Vec<Section>, Vec<PathBuf>), String> {
    let mut suite = Suite::load(out)?;
    let asked: Vec<String> = crate::lab::select(claims)?.iter().map(|e| e.id().to_string()).collect();
    if !claims.is_empty() {
        for c in &asked {
            if !suite.claims.contains(c) {
                suite.claims.push(c.clone());
            }
        }
        suite.claims = crate::lab::select(&suite.claims)?.iter().map(|e| e.id().to_string()).collect();
    }
    let p = suite.params();
    let runs = RunSet::new(out);
    let mut sections = Vec::new();
    for e in suite.experiments()? {
        if stop.is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst) != 0) {
            return Err("stopped".into());
        }
        sections.push(section(e, &p, &runs));
    }
    let inv = suite::invocations(out);
    let wall: f64 = inv.iter().map(|i| i.wall_s).sum();
    let run_s: f64 = suite
        .plan()?
        .tasks
        .iter()
        .filter_map(|t| crate::sweep::final_summary(&crate::sweep::run_dir(out, &t.id)).map(|s| s.elapsed_s))
        .sum();
    let header = Header {
        machine: machine::describe(),
        versions: machine::versions(),
        scale: suite.scale.name().to_string(),
        seeds: suite.seeds.map_or("each claim's default".into(), |s| s.to_string()),
        wall: format!(
            "{} wall time over {}; the runs' own training time {}",
            crate::sweep::cost::fmt_duration(wall),
            crate::sweep::plural(inv.len(), "invocation"),
            crate::sweep::cost::fmt_duration(run_s)
        ),
    };
    let files = write(out, &header, &sections)?;
    let sections: Vec<Section> = sections.into_iter().filter(|s| asked.iter().any(|c| c == s.claim.id)).collect();
    match problems(&sections, &files[0]) {
        Some(e) => Err(e),
        None => Ok((sections, files)),
    }
}

/// What keeps `sections` from being a whole report: runs missing or damaged, then analyses
/// that failed, each named.
fn problems(sections: &[Section], html: &Path) -> Option<String> {
    let missing: Vec<String> = sections
        .iter()
        .flat_map(|s| s.missing.iter().map(move |(_, why)| format!("  {}: {why}", s.claim.id)))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{} missing or damaged (the report covers the claims whose runs are all there and whole: {}):\n{}",
            if missing.len() == 1 { "1 run is".to_string() } else { format!("{} runs are", missing.len()) },
            html.display(),
            missing.join("\n")
        ));
    }
    // An analysis that could not read what its verdict rests on is an error, not a verdict.
    let failed: Vec<String> = sections
        .iter()
        .filter_map(|s| s.analysis.as_ref().err().map(|e| format!("  {} {}: {e}", s.claim.id, s.claim.slug)))
        .collect();
    (!failed.is_empty()).then(|| {
        format!(
            "{} could not be analysed (the report shows the others: {}):\n{}",
            crate::sweep::plural(failed.len(), "claim"),
            html.display(),
            failed.join("\n")
        )
    })
}

/// The summary line of each claim, for the terminal: its state and its headline.
pub fn summary_lines(sections: &[Section]) -> Vec<String> {
    sections.iter().map(|s| format!("{} {}: {}: {}", s.claim.id, s.claim.slug, s.state(), s.headline())).collect()
}
