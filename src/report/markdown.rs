//! summary.md: the report's summary as Markdown, small enough to commit (results/) and to read
//! on a code host: one headline per claim, each seed's outcome, and where and how it ran. The
//! HTML report holds everything else.

use std::fmt::Write as _;

use super::{Header, Section};

/// A table cell: one line, no column breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn page(h: &Header, sections: &[Section]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# depthlab reproduce: the seed's claims at {} scale\n", h.scale);
    out.push_str(
        "Each verdict is computed by the rule CLAIMS.md fixes for it, from the runs of this suite; `report.html` in the suite folder has the tables, figures, rules and runs behind each line.\n\n",
    );
    out.push_str(
        "| claim | outcome | the number it turns on, and the anchor's | v1 (quick scale) |\n|---|---|---|---|\n",
    );
    for s in sections {
        let v1 = crate::lab::v1_record(s.claim.id).map(|(r, _)| r.outcome).unwrap_or_default();
        let _ =
            writeln!(out, "| {} {} | **{}** | {} | {v1} |", s.claim.id, s.claim.slug, s.state(), cell(&s.headline()));
    }
    let with_seeds: Vec<&Section> =
        sections.iter().filter(|s| s.analysis.as_ref().is_ok_and(|a| !a.verdict.per_seed.is_empty())).collect();
    if !with_seeds.is_empty() {
        out.push_str("\n## Seeds\n\nThe rule applied to each seed's runs alone; a claim's outcome stands only where at least two thirds of its seeds agree with the outcome of the seed means.\n\n");
        let most = with_seeds.iter().filter_map(|s| s.analysis.as_ref().ok()).map(|a| a.verdict.per_seed.len()).max();
        let n = most.unwrap_or(0);
        out.push_str("| claim | seed means |");
        for i in 1..=n {
            let _ = write!(out, " {i} |");
        }
        out.push_str("\n|---|---|");
        out.push_str(&"---|".repeat(n));
        out.push('\n');
        for s in with_seeds {
            let v = &s.analysis.as_ref().expect("filtered").verdict;
            let _ = write!(out, "| {} | {} |", s.claim.id, v.means_outcome.text());
            for i in 0..n {
                let o = v.per_seed.get(i).map(|p| format!("{}: {}", p.seed, p.outcome.text())).unwrap_or_default();
                let _ = write!(out, " {o} |");
            }
            out.push('\n');
        }
    }
    let explained: Vec<&Section> =
        sections.iter().filter(|s| s.analysis.as_ref().is_ok_and(|a| !a.verdict.explanation.is_empty())).collect();
    if !explained.is_empty() {
        out.push_str("\n## Why\n\n");
        for s in explained {
            let v = &s.analysis.as_ref().expect("filtered").verdict;
            let _ = writeln!(out, "- **{} {}** ({}): {}", s.claim.id, s.claim.slug, s.state(), cell(&v.explanation));
        }
    }
    out.push_str("\n## Where it ran\n\n");
    for (k, v) in [("machine", &h.machine), ("versions", &h.versions), ("seeds", &h.seeds), ("time", &h.wall)] {
        let _ = writeln!(out, "- {k}: {v}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_stays_one_cell() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
    }
}
