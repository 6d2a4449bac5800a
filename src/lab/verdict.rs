//! A verdict: the claim, its rule, the numbers measured, and what the rule made of them.

use serde::Serialize;

use super::Claim;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Held,
    DidNotHold,
    /// The rule could not be applied, or the result lies within the noise it allows.
    #[default]
    Inconclusive,
}

impl Outcome {
    pub fn text(self) -> &'static str {
        match self {
            Outcome::Held => "held",
            Outcome::DidNotHold => "did not hold",
            Outcome::Inconclusive => "inconclusive",
        }
    }

    /// Every condition held: held; any failed: did not hold; else (some could not be
    /// judged): inconclusive.
    pub fn all(conditions: &[Option<bool>]) -> Outcome {
        if conditions.contains(&Some(false)) {
            Outcome::DidNotHold
        } else if conditions.iter().all(|c| *c == Some(true)) {
            Outcome::Held
        } else {
            Outcome::Inconclusive
        }
    }
}

/// One number the rule looked at.
#[derive(Clone, Debug, Serialize)]
pub struct Measure {
    pub name: String,
    pub value: f64,
    /// The value as shown (units, precision).
    pub shown: String,
    /// The condition on it, and whether it was met (None: not judged).
    pub condition: String,
    pub met: Option<bool>,
    /// The number the condition compares the value with, when it is one: what "by how much"
    /// is measured against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bar: Option<f64>,
    /// The number the verdict turns on: the summary's one line for the claim.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headline: bool,
}

impl Measure {
    pub fn new(name: impl Into<String>, value: f64, shown: impl Into<String>) -> Measure {
        Measure {
            name: name.into(),
            value,
            shown: shown.into(),
            condition: String::new(),
            met: None,
            bar: None,
            headline: false,
        }
    }

    /// This measure must satisfy `condition` (in words); `met` is whether it did.
    pub fn must(mut self, condition: impl Into<String>, met: Option<bool>) -> Measure {
        self.condition = condition.into();
        self.met = met;
        self
    }

    /// The value must be at most `bar` (`<=`): judged where the value is not NaN.
    pub fn at_most(self, bar: f64) -> Measure {
        let v = self.value;
        self.against(format!("<= {}", super::fmt::num(bar)), bar, (!v.is_nan()).then_some(v <= bar))
    }

    /// The value must be below `bar`.
    pub fn below(self, bar: f64) -> Measure {
        let v = self.value;
        self.against(format!("< {}", super::fmt::num(bar)), bar, (!v.is_nan()).then_some(v < bar))
    }

    /// The value must be at least `bar`.
    pub fn at_least(self, bar: f64) -> Measure {
        let v = self.value;
        self.against(format!(">= {}", super::fmt::num(bar)), bar, (!v.is_nan()).then_some(v >= bar))
    }

    /// The value must be above `bar`.
    pub fn above(self, bar: f64) -> Measure {
        let v = self.value;
        self.against(format!("> {}", super::fmt::num(bar)), bar, (!v.is_nan()).then_some(v > bar))
    }

    /// A condition against the number `bar`, written as `condition`.
    pub fn against(mut self, condition: impl Into<String>, bar: f64, met: Option<bool>) -> Measure {
        self.bar = Some(bar);
        self.must(condition, met)
    }

    /// This is the number the verdict turns on.
    pub fn headline(mut self) -> Measure {
        self.headline = true;
        self
    }

    /// How far a failed condition missed its bar, in words: "3.2x the bar" for ratios of
    /// positive numbers, else the difference.
    pub fn miss(&self) -> Option<String> {
        let bar = self.bar?;
        if self.met != Some(false) || !self.value.is_finite() {
            return None;
        }
        let v = self.value;
        Some(if v > 0.0 && bar > 0.0 {
            let r = if v > bar { v / bar } else { bar / v };
            format!("{}x {} the bar", super::fmt::num(r), if v > bar { "above" } else { "below" })
        } else {
            format!("{} {} the bar", super::fmt::num((v - bar).abs()), if v > bar { "above" } else { "below" })
        })
    }
}

/// The rule applied to one seed's runs alone.
#[derive(Clone, Debug, Serialize)]
pub struct SeedOutcome {
    pub seed: u64,
    pub outcome: Outcome,
    /// The judged measures of that seed.
    pub measured: Vec<Measure>,
}

/// Per-seed outcomes that agree with the outcome of the seed means: at least this share, or
/// the claim is inconclusive (seeds disagree). Protocol v2 (CLAIMS.md).
pub const AGREEMENT: f64 = 2.0 / 3.0;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Verdict {
    pub claim: String,
    pub rule: String,
    pub measured: Vec<Measure>,
    pub outcome: Outcome,
    pub anchor: String,
    pub note: String,
    /// The protocol (CLAIMS.md) the rule and the setup are of.
    pub protocol: u32,
    /// The rule applied to the seed means, before the seeds' agreement is asked.
    pub means_outcome: Outcome,
    /// The rule applied to each seed's runs alone; empty where the claim's runs are not random.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_seed: Vec<SeedOutcome>,
    /// Fewer than two thirds of the seeds' own outcomes agree with the means' outcome.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub seeds_disagree: bool,
    /// Why a claim did not hold or is inconclusive: the condition that failed and by how much,
    /// the control that shows the setup could show the effect, what would decide it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub explanation: String,
}

impl Verdict {
    /// The claim's verdict: the outcome of every judged measure together.
    pub fn new(claim: &Claim, measured: Vec<Measure>, note: String) -> Verdict {
        let outcome = outcome_of(&measured);
        Verdict {
            claim: claim.title.into(),
            rule: claim.rule.into(),
            outcome,
            means_outcome: outcome,
            measured,
            anchor: claim.anchor.into(),
            note,
            protocol: claim.protocol.version,
            ..Default::default()
        }
    }

    /// Apply protocol v2's agreement rule to the seeds' own outcomes: the means' outcome stands
    /// if at least two thirds of the seeds agree with it, else the claim is inconclusive
    /// (seeds disagree).
    pub fn with_seeds(mut self, per_seed: Vec<(u64, Vec<Measure>)>) -> Verdict {
        self.per_seed = per_seed
            .into_iter()
            .map(|(seed, measured)| SeedOutcome {
                seed,
                outcome: outcome_of(&measured),
                measured: measured.into_iter().filter(|m| !m.condition.is_empty()).collect(),
            })
            .collect();
        if !self.per_seed.is_empty() {
            let agree = self.per_seed.iter().filter(|s| s.outcome == self.means_outcome).count();
            if (agree as f64) < AGREEMENT * self.per_seed.len() as f64 - 1e-9 {
                self.outcome = Outcome::Inconclusive;
                self.seeds_disagree = true;
            }
        }
        self
    }

    /// Why the claim did not hold or is inconclusive, in words: each failed condition and by how
    /// much, then `control` (what shows the setup could have shown the effect); for an
    /// inconclusive claim, what could not be judged or how the seeds split, then `decide` (what
    /// would decide it). A claim that held needs no explanation.
    pub fn explain(mut self, control: &str, decide: &str) -> Verdict {
        let mut why: Vec<String> = Vec::new();
        match self.outcome {
            Outcome::Held => {}
            Outcome::DidNotHold => {
                for m in self.measured.iter().filter(|m| m.met == Some(false)) {
                    let by = m.miss().map(|miss| format!(", {miss}")).unwrap_or_default();
                    why.push(format!("{} was {} (needs {}{by}).", m.name, m.shown, m.condition));
                }
                if !control.is_empty() {
                    why.push(format!("Control: {control}"));
                }
            }
            Outcome::Inconclusive => {
                if self.seeds_disagree {
                    let agree = self.per_seed.iter().filter(|s| s.outcome == self.means_outcome).count();
                    why.push(format!(
                        "The seed means say \"{}\", but only {agree} of {} seeds agree (at least two thirds must).",
                        self.means_outcome.text(),
                        self.per_seed.len()
                    ));
                }
                for m in self.measured.iter().filter(|m| !m.condition.is_empty() && m.met.is_none()) {
                    why.push(format!("{} could not be judged ({}).", m.name, m.shown));
                }
                if !decide.is_empty() {
                    why.push(format!("What would decide it: {decide}"));
                }
            }
        }
        self.explanation = why.join(" ");
        self
    }

    /// What the summary says: the outcome, "inconclusive (seeds disagree)" where that is why.
    pub fn state(&self) -> &'static str {
        if self.seeds_disagree {
            "inconclusive (seeds disagree)"
        } else {
            self.outcome.text()
        }
    }

    /// The measure the verdict turns on: the one marked if it failed, else the first that
    /// failed, else the first condition that could not be judged (what an inconclusive verdict
    /// waits for), else the one marked, else the first judged.
    pub fn headline(&self) -> Option<&Measure> {
        let judged = || self.measured.iter().filter(|m| !m.condition.is_empty());
        self.measured
            .iter()
            .find(|m| m.headline && m.met == Some(false))
            .or_else(|| judged().find(|m| m.met == Some(false)))
            .or_else(|| judged().find(|m| m.met.is_none()))
            .or_else(|| self.measured.iter().find(|m| m.headline))
            .or_else(|| judged().next())
    }
}

/// Every judged measure together.
fn outcome_of(measured: &[Measure]) -> Outcome {
    let judged: Vec<Option<bool>> = measured.iter().filter(|m| !m.condition.is_empty()).map(|m| m.met).collect();
    Outcome::all(&judged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_combine() {
        assert_eq!(Outcome::all(&[Some(true), Some(true)]), Outcome::Held);
        assert_eq!(Outcome::all(&[Some(true), None]), Outcome::Inconclusive);
        assert_eq!(Outcome::all(&[None, Some(false)]), Outcome::DidNotHold);
        let claim =
            Claim { id: "C0", slug: "s", title: "c", quote: "q", anchor: "a", rule: "r", data: &[], ..Claim::TEMPLATE };
        let v = Verdict::new(
            &claim,
            vec![Measure::new("x", 1.0, "1").must("x > 0", Some(true)), Measure::new("y", 2.0, "2")],
            String::new(),
        );
        assert_eq!(v.outcome, Outcome::Held, "unjudged measures are shown, not counted");
    }

    #[test]
    fn the_means_outcome_stands_only_if_two_thirds_of_the_seeds_agree() {
        let claim =
            Claim { id: "C0", slug: "s", title: "c", quote: "q", anchor: "a", rule: "r", data: &[], ..Claim::TEMPLATE };
        let m = |v: f64| vec![Measure::new("x", v, "").at_most(1.0)];
        let held = |seeds: &[f64]| {
            Verdict::new(&claim, m(0.5), String::new())
                .with_seeds(seeds.iter().enumerate().map(|(i, v)| (i as u64 + 1, m(*v))).collect())
        };
        let v = held(&[0.5, 0.5, 2.0]);
        assert_eq!((v.outcome, v.seeds_disagree), (Outcome::Held, false), "2 of 3 agree");
        assert_eq!(v.per_seed[2].outcome, Outcome::DidNotHold);
        let v = held(&[0.5, 2.0, 2.0]);
        assert_eq!((v.outcome, v.seeds_disagree, v.means_outcome), (Outcome::Inconclusive, true, Outcome::Held));
        assert_eq!(v.state(), "inconclusive (seeds disagree)");
        let v = held(&[0.5, 0.5, 2.0, 2.0]);
        assert!(v.seeds_disagree, "2 of 4 is less than two thirds");
        let v = Verdict::new(&claim, m(0.5), String::new()).with_seeds(Vec::new());
        assert_eq!((v.outcome, v.seeds_disagree), (Outcome::Held, false), "no seeds: the means alone");
    }

    #[test]
    fn a_verdict_that_fails_says_what_failed_and_its_control() {
        let claim = Claim { id: "C0", title: "c", ..Claim::TEMPLATE };
        let v = Verdict::new(&claim, vec![Measure::new("ratio", 30.0, "30").at_most(3.0)], String::new())
            .explain("depth 50 trains (0.1).", "more seeds.");
        assert_eq!(v.outcome, Outcome::DidNotHold);
        assert!(v.explanation.contains("ratio was 30 (needs <= 3, 10x above the bar)"), "{}", v.explanation);
        assert!(v.explanation.contains("Control: depth 50 trains") && !v.explanation.contains("more seeds"));
        let m = |v: f64| vec![Measure::new("x", v, "").at_most(1.0)];
        let v = Verdict::new(&claim, m(0.5), String::new())
            .with_seeds(vec![(1, m(0.5)), (2, m(2.0)), (3, m(2.0))])
            .explain("", "five seeds.");
        assert!(v.explanation.contains("only 1 of 3 seeds agree") && v.explanation.contains("decide it: five seeds."));
        let v = Verdict::new(&claim, m(0.5), String::new()).explain("c", "d");
        assert!(v.explanation.is_empty(), "held: nothing to explain");
    }

    #[test]
    fn the_headline_is_what_failed_else_what_is_open_else_the_marked_measure() {
        let claim = Claim { id: "C0", title: "c", ..Claim::TEMPLATE };
        let name = |ms: Vec<Measure>| Verdict::new(&claim, ms, String::new()).headline().map(|m| m.name.clone());
        let marked = || Measure::new("marked", 1.0, "1").at_most(2.0).headline();
        let open = || Measure::new("open", f64::NAN, "n/a").at_most(2.0);
        let failed = || Measure::new("failed", 3.0, "3").at_most(2.0);
        assert_eq!(name(vec![marked(), open(), failed()]).as_deref(), Some("failed"));
        assert_eq!(name(vec![marked(), open()]).as_deref(), Some("open"));
        assert_eq!(name(vec![Measure::new("first", 1.0, "1").at_most(2.0), marked()]).as_deref(), Some("marked"));
        assert_eq!(name(vec![Measure::new("shown", 1.0, "1")]), None, "nothing judged");
    }

    #[test]
    fn a_failed_bar_says_by_how_much() {
        let m = Measure::new("r", 377.96, "").at_most(3.0);
        assert_eq!(m.met, Some(false));
        assert_eq!(m.miss().unwrap(), "125.9867x above the bar");
        assert!(Measure::new("r", 2.0, "").at_most(3.0).miss().is_none(), "met: no miss");
        assert_eq!(Measure::new("d", -0.5, "").at_least(0.8).miss().unwrap(), "1.3 below the bar");
        assert_eq!(Measure::new("n", f64::NAN, "").at_most(1.0).met, None, "NaN is not judged");
    }
}
