//! The regression guard: a suite's outcomes against a reference verdicts.json (results/quick/
//! in the repository). Outcomes are compared, not numbers: the claims' states, whether each
//! judged condition was met, and every seed's own outcome and conditions. The numbers may move
//! in their last digits from one machine to another; an outcome may not move without a commit
//! that says why.

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

/// The items of `before` and `after` matched by `key`: those of `before` in order, each with
/// its match or None, then those only `after` has.
fn paired<'a, T, K: PartialEq>(
    before: &'a [T],
    after: &'a [T],
    key: impl Fn(&T) -> K,
) -> Vec<(Option<&'a T>, Option<&'a T>)> {
    let find = |xs: &'a [T], k: &K| xs.iter().find(|x| key(x) == *k);
    let mut out: Vec<_> = before.iter().map(|b| (Some(b), find(after, &key(b)))).collect();
    out.extend(after.iter().filter(|a| find(before, &key(a)).is_none()).map(|a| (None, Some(a))));
    out
}

/// The judged conditions of `before` and `after` that differ in whether they were met, each as
/// "what: before -> after" (a condition one side lacks is a difference too).
fn conditions(before: &[Measure], after: &[Measure]) -> Vec<String> {
    fn judged(ms: &[Measure]) -> Vec<&Measure> {
        ms.iter().filter(|m| !m.condition.is_empty()).collect()
    }
    let (b, a) = (judged(before), judged(after));
    let mut out = Vec::new();
    for pair in paired(&b, &a, |m| m.name.clone()) {
        match pair {
            (Some(b), None) => out.push(format!("\"{}\": {} -> no longer measured", b.name, met(b))),
            (None, Some(a)) => out.push(format!("\"{}\": not measured before -> {}", a.name, met(a))),
            (Some(b), Some(a)) if b.met != a.met || b.condition != a.condition => {
                out.push(format!("\"{}\": {} -> {}", b.name, met(b), met(a)))
            }
            _ => {}
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
    for pair in paired(&e.claims, &a.claims, |c| c.id.clone()) {
        let (ec, ac) = match pair {
            (Some(ec), Some(ac)) => (ec, ac),
            (Some(ec), None) => {
                out.push(format!("{} {}: {} -> not in the suite", ec.id, ec.slug, ec.state));
                continue;
            }
            (None, Some(ac)) => {
                out.push(format!("{} {}: not in the reference -> {}", ac.id, ac.slug, ac.state));
                continue;
            }
            (None, None) => continue,
        };
        let name = format!("{} {}", ec.id, ec.slug);
        if ec.state != ac.state {
            out.push(format!("{name}: {} -> {}", ec.state, ac.state));
        }
        let (Some(ev), Some(av)) = (&ec.verdict, &ac.verdict) else {
            continue;
        };
        out.extend(conditions(&ev.measured, &av.measured).into_iter().map(|d| format!("{name}: {d}")));
        for pair in paired(&ev.per_seed, &av.per_seed, |s| s.seed) {
            match pair {
                (Some(es), None) => out.push(format!("{name}: seed {}: {} -> no outcome", es.seed, words(&es.outcome))),
                (None, Some(s)) => out.push(format!("{name}: seed {}: no outcome -> {}", s.seed, words(&s.outcome))),
                (Some(es), Some(s)) => {
                    if es.outcome != s.outcome {
                        out.push(format!("{name}: seed {}: {} -> {}", es.seed, words(&es.outcome), words(&s.outcome)));
                    }
                    let moved = conditions(&es.measured, &s.measured);
                    out.extend(moved.into_iter().map(|d| format!("{name}: seed {}: {d}", es.seed)));
                }
                (None, None) => {}
            }
        }
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
