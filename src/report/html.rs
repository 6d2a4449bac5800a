//! The report page: a header (machine, versions, scale, time), a table of every claim with its
//! outcome, then each claim: the seed's sentence, the setup, tables, figures, the verdict with
//! its rule and numbers beside the published anchor, and the runs it used.

use std::fmt::Write as _;

use super::{Header, Section};
use crate::lab::{Outcome, Table};
use crate::plot::escape;

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; max-width: 1000px; margin: 2em auto; padding: 0 1.2em; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2.2em; border-top: 1px solid #ddd; padding-top: 1em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.6em 0 0.3em; font-size: 0.92em; }
th, td { border: 1px solid #d5d5d5; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.caption { color: #555; font-size: 0.88em; margin: 0 0 1em; }
blockquote { margin: 0.6em 0; padding: 0.4em 1em; border-left: 4px solid #c9c9d0; color: #333; font-style: italic; background: #fafafa; }
figure { margin: 1.2em 0; }
figure svg { width: 100%; max-width: 760px; height: auto; display: block; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.88em; margin-top: 0.3em; }
.badge { display: inline-block; padding: 0.1em 0.55em; border-radius: 0.7em; font-size: 0.85em; font-weight: 600; color: white; white-space: nowrap; }
.held { background: #2e7d32; } .did-not-hold { background: #c62828; } .inconclusive { background: #757575; }
.incomplete, .error { background: #ef6c00; }
.verdict { border: 1px solid #d5d5d5; border-radius: 6px; padding: 0.6em 1em; background: #fcfcfd; }
.anchor { font-size: 0.92em; color: #333; }
.meta td:first-child { color: #555; }
details { margin: 0.8em 0; } summary { cursor: pointer; color: #333; }
code { font-size: 0.9em; background: #f2f2f4; padding: 0 0.2em; border-radius: 3px; }
"#;

fn badge(state: &str) -> String {
    let class = state.split(" (").next().unwrap_or(state).replace(' ', "-");
    format!(r#"<span class="badge {class}">{}</span>"#, escape(state))
}

fn is_numeric(s: &str) -> bool {
    let t = s.trim().trim_end_matches('%');
    let t = t.split(" ± ").next().unwrap_or(t);
    !t.is_empty() && t.parse::<f64>().is_ok()
}

fn table(out: &mut String, t: &Table) {
    if !t.title.is_empty() {
        let _ = writeln!(out, "<h3>{}</h3>", escape(&t.title));
    }
    out.push_str("<table>\n<tr>");
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr>\n");
    for r in &t.rows {
        out.push_str("<tr>");
        for c in r {
            let class = if is_numeric(c) { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if !t.caption.is_empty() {
        let _ = writeln!(out, "<p class=\"caption\">{}</p>", escape(&t.caption));
    }
}

/// An SVG document as an inline element: without its XML prolog.
fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn met(m: &crate::lab::Measure) -> &'static str {
    match m.met {
        Some(true) => "yes",
        Some(false) => "no",
        None if m.condition.is_empty() => "",
        None => "not judged",
    }
}

/// Each seed's own outcome (protocol v2's agreement rule), with the conditions it failed.
fn seeds(out: &mut String, v: &crate::lab::Verdict) {
    if v.per_seed.is_empty() {
        return;
    }
    let mut t = Table::new("", &["seed", "outcome, the rule on this seed alone", "conditions not met"]);
    for s in &v.per_seed {
        let failed: Vec<String> = s
            .measured
            .iter()
            .filter(|m| m.met != Some(true))
            .map(|m| format!("{} = {} ({}, {})", m.name, m.shown, m.condition, met(m)))
            .collect();
        t.row(vec![s.seed.to_string(), s.outcome.text().into(), failed.join("; ")]);
    }
    let agree = v.per_seed.iter().filter(|s| s.outcome == v.means_outcome).count();
    t = t.caption(format!(
        "The rule on the seed means gives {}; {agree} of {} seeds agree (at least two thirds must, or the claim is inconclusive).",
        v.means_outcome.text(),
        v.per_seed.len()
    ));
    out.push_str("<h3>Seeds</h3>\n");
    table(out, &t);
}

/// The claim's protocol: v2's change and its reason, and what v1 measured (recorded once).
fn protocol(out: &mut String, c: &crate::lab::Claim) {
    out.push_str("<details><summary>Protocol history</summary>\n");
    let version = c.protocol.version;
    let change = if c.protocol.changed.is_empty() {
        "v2 changed nothing in this claim's rule or setup beyond the seeds' agreement rule.".to_string()
    } else {
        c.protocol.changed.to_string()
    };
    let _ = writeln!(out, "<p><b>Protocol v{version}.</b> {}</p>", escape(&change));
    if let Some((r, at)) = crate::lab::v1_record(c.id) {
        let _ = writeln!(out, "<p><b>v1, as measured</b> ({}): {}.</p>", escape(&at), badge(&r.outcome));
        let _ = writeln!(out, "<p><b>v1 rule.</b> {}</p>", escape(&r.rule));
        let mut t = Table::new("", &["measured (v1)", "value", "condition", "met"]);
        for m in &r.judged {
            let met = match m.met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "not judged",
            };
            t.row(vec![m.name.clone(), m.shown.clone(), m.condition.clone(), met.into()]);
        }
        table(out, &t);
    }
    out.push_str("</details>\n");
}

fn section(out: &mut String, s: &Section) {
    let c = s.claim;
    let _ = writeln!(
        out,
        "<h2 id=\"{id}\">{id} {}: {} {}</h2>",
        escape(c.slug),
        escape(c.title),
        badge(s.state()),
        id = c.id
    );
    let _ = writeln!(out, "<blockquote>{}</blockquote>", escape(c.quote));
    let _ = writeln!(out, "<p><b>Setup.</b> {}</p>", escape(&s.setup));
    let _ = writeln!(out, "<p><b>Data.</b> {}</p>", escape(&c.data.join("; ")));
    match &s.analysis {
        Err(e) => {
            let _ = writeln!(out, "<p><b>No verdict:</b> {}</p>", escape(e));
            if !s.missing.is_empty() {
                out.push_str("<details><summary>Runs missing or damaged</summary><ul>\n");
                for (_, why) in &s.missing {
                    let _ = writeln!(out, "<li>{}</li>", escape(why));
                }
                out.push_str("</ul></details>\n");
            }
        }
        Ok(a) => {
            for t in &a.tables {
                table(out, t);
            }
            for f in &a.figures {
                let _ = writeln!(
                    out,
                    "<figure>\n{}\n<figcaption><b>{}.</b> {}</figcaption>\n</figure>",
                    inline_svg(&f.svg),
                    escape(&f.title),
                    escape(&f.caption)
                );
            }
            let v = &a.verdict;
            out.push_str("<div class=\"verdict\">\n");
            let _ = writeln!(out, "<h3>Verdict: {}</h3>", badge(v.state()));
            let _ = writeln!(out, "<p><b>Rule.</b> {}</p>", escape(&v.rule));
            let mut m = Table::new("", &["measured", "value", "condition", "met"]);
            for x in &v.measured {
                m.row(vec![x.name.clone(), x.shown.clone(), x.condition.clone(), met(x).into()]);
            }
            table(out, &m);
            if !v.explanation.is_empty() {
                let _ = writeln!(out, "<p><b>Why.</b> {}</p>", escape(&v.explanation));
            }
            seeds(out, v);
            if !v.note.is_empty() {
                let _ = writeln!(out, "<p>{}</p>", escape(&v.note));
            }
            let _ = writeln!(out, "<p class=\"anchor\"><b>Published anchor.</b> {}</p>", escape(&v.anchor));
            if v.outcome == Outcome::Inconclusive && v.explanation.is_empty() {
                out.push_str("<p class=\"caption\">Inconclusive: the rule could not be applied to every number it needs, or the result lies within the noise the rule allows.</p>\n");
            }
            out.push_str("</div>\n");
            for n in &a.notes {
                let _ = writeln!(out, "<p class=\"caption\">{}</p>", escape(n));
            }
        }
    }
    protocol(out, c);
    let _ = writeln!(
        out,
        "<details><summary>Runs ({})</summary>\n<table><tr><th>run</th><th>what</th><th>status</th></tr>",
        s.runs.len()
    );
    for (id, label, status) in &s.runs {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"runs/{id}/\"><code>{id}</code></a></td><td>{}</td><td>{}</td></tr>",
            escape(label),
            escape(status)
        );
    }
    out.push_str("</table></details>\n");
}

pub fn page(h: &Header, sections: &[Section]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>depthlab: the seed's claims ({} scale)</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&h.scale)
    );
    out.push_str("<h1>Gating and depth: the seed's claims, measured</h1>\n");
    out.push_str("<p>Each claim of the seed text is an experiment with a verdict rule fixed before any run (CLAIMS.md); the verdict below each is computed by that rule from the runs listed with it.</p>\n");
    out.push_str("<table class=\"meta\">\n");
    for (k, v, class) in [
        ("machine", &h.machine, ""),
        ("versions", &h.versions, ""),
        ("scale", &h.scale, ""),
        ("seeds", &h.seeds, ""),
        ("time", &h.wall, " class=\"timing\""),
    ] {
        let _ = writeln!(out, "<tr><td>{k}</td><td{class}>{}</td></tr>", escape(v));
    }
    out.push_str("</table>\n<h2 id=\"summary\">Summary</h2>\n<table>\n<tr><th>claim</th><th>what it says</th><th>outcome</th><th>the number it turns on, and the anchor's</th><th>v1 (quick scale)</th></tr>\n");
    for s in sections {
        let v1 = crate::lab::v1_record(s.claim.id).map(|(r, _)| badge(&r.outcome)).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#{}\">{} {}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{v1}</td></tr>",
            s.claim.id,
            s.claim.id,
            escape(s.claim.slug),
            escape(s.claim.title),
            badge(s.state()),
            escape(&s.headline())
        );
    }
    out.push_str("</table>\n");
    for s in sections {
        section(&mut out, s);
    }
    out.push_str("</body>\n</html>\n");
    out
}
