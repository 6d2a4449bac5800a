//! The regression guard: a suite's outcomes against a reference verdicts.json (results/quick/
//! in the repository). Outcomes are compared, not numbers: the claims' states, whether each
//! judged condition was met, and every seed's own outcome and conditions. The numbers may move
//! in their last digits from one machine to another; an outcome may not move without a commit
//! that says why.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    scale: String,
    claims: Vec<Claim>,
}

#[derive(Deserialize)]
struct Claim {
    id: String,
    slug: String,
    state: String,
    verdict: Option<Verdict>,
}

#[derive(Deserialize)]
struct Verdict {
    measured: Vec<Measure>,
    #[serde(default)]
    per_seed: Vec<Seed>,
}

#[derive(Deserialize)]
struct Measure {
    name: String,
    shown: String,
    condition: String,
    met: Option<bool>,
}

#[derive(Deserialize)]
struct Seed {
    seed: u64,
    /// `did_not_hold`, as verdicts.json writes an outcome (`words` shows it as the state is).
    outcome: String,
    measured: Vec<Measure>,
}

fn words(outcome: &str) -> String {
    outcome.replace('_', " ")
}

fn load(path: &Path) -> Result<File, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::read::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn met(m: &Measure) -> String {
    let judged = match m.met {
        Some(true) => "met",
        Some(false) => "failed",
        None => "not judged",
    };
    format!("{judged} ({} {})", m.shown, m.condition)
}

/// The judged conditions of `before` and `after` that differ in whether they were met, each as
/// "what: before -> after" (a condition one side lacks is a difference too).
fn conditions(before: &[Measure], after: &[Measure]) -> Vec<String> {
    let judged = |ms: &[Measure]| -> BTreeMap<String, usize> {
        ms.iter().enumerate().filter(|(_, m)| !m.condition.is_empty()).map(|(i, m)| (m.name.clone(), i)).collect()
    };
    let (b, a) = (judged(before), judged(after));
    let mut out = Vec::new();
    for (name, &i) in &b {
        match a.get(name) {
            None => out.push(format!("\"{name}\": {} -> no longer measured", met(&before[i]))),
            Some(&j) if before[i].met != after[j].met || before[i].condition != after[j].condition => {
                out.push(format!("\"{name}\": {} -> {}", met(&before[i]), met(&after[j])))
            }
            Some(_) => {}
        }
    }
    for (name, &j) in &a {
        if !b.contains_key(name) {
            out.push(format!("\"{name}\": not measured before -> {}", met(&after[j])));
        }
    }
    out
}

/// Every outcome of `actual` that differs from `expected`, one line each: claim, what, before,
/// after. Empty when they agree.
pub fn differences(expected: &Path, actual: &Path) -> Result<Vec<String>, String> {
    let (e, a) = (load(expected)?, load(actual)?);
    let mut out = Vec::new();
    if e.scale != a.scale {
        out.push(format!("scale: {} -> {}", e.scale, a.scale));
    }
    for ec in &e.claims {
        let name = format!("{} {}", ec.id, ec.slug);
        let Some(ac) = a.claims.iter().find(|c| c.id == ec.id) else {
            out.push(format!("{name}: {} -> not in the suite", ec.state));
            continue;
        };
        if ec.state != ac.state {
            out.push(format!("{name}: {} -> {}", ec.state, ac.state));
        }
        let (Some(ev), Some(av)) = (&ec.verdict, &ac.verdict) else {
            continue;
        };
        out.extend(conditions(&ev.measured, &av.measured).into_iter().map(|d| format!("{name}: {d}")));
        for es in &ev.per_seed {
            match av.per_seed.iter().find(|s| s.seed == es.seed) {
                None => out.push(format!("{name}: seed {}: {} -> no outcome", es.seed, words(&es.outcome))),
                Some(s) => {
                    if es.outcome != s.outcome {
                        out.push(format!("{name}: seed {}: {} -> {}", es.seed, words(&es.outcome), words(&s.outcome)));
                    }
                    out.extend(
                        conditions(&es.measured, &s.measured)
                            .into_iter()
                            .map(|d| format!("{name}: seed {}: {d}", es.seed)),
                    );
                }
            }
        }
        for s in av.per_seed.iter().filter(|s| !ev.per_seed.iter().any(|es| es.seed == s.seed)) {
            out.push(format!("{name}: seed {}: no outcome -> {}", s.seed, words(&s.outcome)));
        }
    }
    for ac in a.claims.iter().filter(|c| !e.claims.iter().any(|ec| ec.id == c.id)) {
        out.push(format!("{} {}: not in the reference -> {}", ac.id, ac.slug, ac.state));
    }
    Ok(out)
}

/// `differences` as the guard's answer: Ok when none, else an error that lists them.
pub fn check(expected: &Path, actual: &Path) -> Result<(), String> {
    let d = differences(expected, actual)?;
    if d.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} differ{} from {} (before -> after):\n  {}\nIf the change is meant, update the reference with a commit that says why the outcome moved (cp {} {}).",
        crate::sweep::plural(d.len(), "outcome"),
        if d.len() == 1 { "s" } else { "" },
        expected.display(),
        d.join("\n  "),
        actual.display(),
        expected.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, state: &str, met: bool, seed2: &str) -> std::path::PathBuf {
        let v = serde_json::json!({
            "scale": "quick",
            "claims": [{
                "id": "C4", "slug": "highway-vs-plain", "state": state,
                "verdict": {
                    "measured": [
                        {"name": "loss at depth 100", "shown": if met { "0.008" } else { "0.02" }, "condition": "<= 0.01", "met": met},
                        {"name": "shown only", "shown": "3", "condition": "", "met": null}
                    ],
                    "per_seed": [
                        {"seed": 1, "outcome": "held", "measured": []},
                        {"seed": 2, "outcome": seed2.replace(' ', "_"), "measured": []}
                    ]
                }
            }]
        });
        let p = dir.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    }

    #[test]
    fn outcomes_that_moved_are_listed_and_numbers_that_moved_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let before = file(tmp.path(), "a.json", "held", true, "held");
        let same_outcomes = {
            let p = tmp.path().join("b.json");
            let t = std::fs::read_to_string(&before).unwrap().replace("0.008", "0.0081");
            std::fs::write(&p, t).unwrap();
            p
        };
        assert_eq!(differences(&before, &same_outcomes).unwrap(), Vec::<String>::new());
        check(&before, &same_outcomes).unwrap();
        let after = file(tmp.path(), "c.json", "did not hold", false, "did not hold");
        assert!(std::fs::read_to_string(&after).unwrap().contains("did_not_hold"), "as verdicts.json writes it");
        let d = differences(&before, &after).unwrap();
        assert_eq!(
            d,
            [
                "C4 highway-vs-plain: held -> did not hold",
                "C4 highway-vs-plain: \"loss at depth 100\": met (0.008 <= 0.01) -> failed (0.02 <= 0.01)",
                "C4 highway-vs-plain: seed 2: held -> did not hold",
            ]
        );
        let e = check(&before, &after).unwrap_err();
        assert!(e.starts_with("3 outcomes differ from ") && e.contains("seed 2: held -> did not hold"), "{e}");
    }

    #[test]
    fn a_reference_that_does_not_read_is_an_error_naming_the_file_and_field() {
        let tmp = tempfile::tempdir().unwrap();
        let good = file(tmp.path(), "a.json", "held", true, "held");
        let bad = tmp.path().join("bad.json");
        std::fs::write(&bad, r#"{"scale": "quick", "claims": [{"id": "C4", "slug": "x", "verdict": null}]}"#).unwrap();
        let e = differences(&bad, &good).unwrap_err();
        assert!(e.contains("bad.json") && e.contains("claims[0]") && e.contains("state"), "{e}");
    }
}
