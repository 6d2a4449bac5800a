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
}

impl Measure {
    pub fn new(name: impl Into<String>, value: f64, shown: impl Into<String>) -> Measure {
        Measure { name: name.into(), value, shown: shown.into(), condition: String::new(), met: None }
    }

    /// This measure must satisfy `condition` (in words); `met` is whether it did.
    pub fn must(mut self, condition: impl Into<String>, met: Option<bool>) -> Measure {
        self.condition = condition.into();
        self.met = met;
        self
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Verdict {
    pub claim: String,
    pub rule: String,
    pub measured: Vec<Measure>,
    pub outcome: Outcome,
    pub anchor: String,
    pub note: String,
}

impl Verdict {
    /// The claim's verdict: the outcome of every judged measure together.
    pub fn new(claim: &Claim, measured: Vec<Measure>, note: String) -> Verdict {
        let judged: Vec<Option<bool>> = measured.iter().filter(|m| !m.condition.is_empty()).map(|m| m.met).collect();
        Verdict {
            claim: claim.title.into(),
            rule: claim.rule.into(),
            outcome: Outcome::all(&judged),
            measured,
            anchor: claim.anchor.into(),
            note,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_combine() {
        assert_eq!(Outcome::all(&[Some(true), Some(true)]), Outcome::Held);
        assert_eq!(Outcome::all(&[Some(true), None]), Outcome::Inconclusive);
        assert_eq!(Outcome::all(&[None, Some(false)]), Outcome::DidNotHold);
        let claim = Claim { id: "C0", slug: "s", title: "c", quote: "q", anchor: "a", rule: "r", data: &[] };
        let v = Verdict::new(
            &claim,
            vec![Measure::new("x", 1.0, "1").must("x > 0", Some(true)), Measure::new("y", 2.0, "2")],
            String::new(),
        );
        assert_eq!(v.outcome, Outcome::Held, "unjudged measures are shown, not counted");
    }
}
