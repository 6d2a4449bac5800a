//! What every claim declares the same way: its fixed facts (from CLAIMS.md) in one value, and
//! its configs as one base text with the few keys each scale changes.

use super::{Params, Scale};

use crate::config::Config;

/// A claim's fixed facts: what the report and verdicts.json say about it whatever the runs.
#[derive(Debug)]
pub struct Claim {
    /// "C4"
    pub id: &'static str,
    /// "highway-vs-plain"
    pub slug: &'static str,
    /// A title in words.
    pub title: &'static str,
    /// The seed's sentence the claim comes from.
    pub quote: &'static str,
    /// The published numbers it is set beside.
    pub anchor: &'static str,
    /// The verdict rule, as CLAIMS.md fixes it.
    pub rule: &'static str,
    /// The data sets it uses.
    pub data: &'static [&'static str],
    /// The anchor's number for the summary's one line, beside the measured one.
    pub anchor_headline: &'static str,
    /// The protocol (CLAIMS.md) its rule and setup are of, and what v2 changed and why.
    pub protocol: Protocol,
    /// Seeds per configuration at each scale (`--seeds` replaces them): protocol v2 asks at
    /// least 3 at quick scale of every claim whose runs are random.
    pub seeds: PerScale<usize>,
}

/// One value for each scale.
#[derive(Clone, Copy, Debug)]
pub struct PerScale<T> {
    pub quick: T,
    pub paper: T,
    pub tiny: T,
}

impl<T: Copy> PerScale<T> {
    pub fn at(&self, scale: Scale) -> T {
        match scale {
            Scale::Quick => self.quick,
            Scale::Paper => self.paper,
            Scale::Tiny => self.tiny,
        }
    }
}

/// Which protocol of CLAIMS.md a claim follows.
#[derive(Clone, Copy, Debug)]
pub struct Protocol {
    pub version: u32,
    /// What protocol v2 changed in the claim and why (CLAIMS.md's v2 entry, in words); empty
    /// where v2 changed nothing.
    pub changed: &'static str,
}

impl Protocol {
    /// A claim v2 does not change: v1's rule and setup, with v2's seeds and agreement rule.
    pub const UNCHANGED: Protocol = Protocol { version: 2, changed: "" };
    /// Protocol v1 (kept while a claim's v2 is not built).
    pub const V1: Protocol = Protocol { version: 1, changed: "" };
}

impl Claim {
    /// Empty facts, for tests that need a claim.
    pub const TEMPLATE: Claim = Claim {
        id: "",
        slug: "",
        title: "",
        quote: "",
        anchor: "",
        rule: "",
        data: &[],
        anchor_headline: "",
        protocol: Protocol::V1,
        seeds: PerScale { quick: 1, paper: 1, tiny: 1 },
    };

    /// The seeds of each configuration at `p`'s scale.
    pub fn seeds(&self, p: &Params) -> Vec<u64> {
        p.seeds(self.seeds.at(p.scale))
    }
}

/// What protocol v1 measured for a claim: recorded once (history/v1.json, from the quick suite
/// at b278039), never rerun.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct V1Record {
    pub id: String,
    pub outcome: String,
    pub rule: String,
    pub judged: Vec<V1Measure>,
}

#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct V1Measure {
    pub name: String,
    pub shown: String,
    pub condition: String,
    pub met: Option<bool>,
}

#[derive(serde::Deserialize)]
struct V1File {
    measured_at: String,
    claims: Vec<V1Record>,
}

/// Protocol v1's record of claim `id`, and where it was measured.
pub fn v1_record(id: &str) -> Option<(V1Record, String)> {
    let f: V1File = serde_json::from_str(include_str!("history/v1.json")).expect("history/v1.json is ours and valid");
    let at = f.measured_at;
    f.claims.into_iter().find(|c| c.id == id).map(|c| (c, at))
}

/// A claim's configs: `base` (TOML) with `--set`-style overrides per scale (a whole section can
/// be replaced: `data = { name = "mnist1d", num_samples = 300 }`), then the run's own.
#[derive(Debug)]
pub struct Configs {
    pub base: &'static str,
    pub quick: &'static [&'static str],
    pub paper: &'static [&'static str],
    pub tiny: &'static [&'static str],
}

impl Configs {
    /// The config of a run at `scale` with the run's own overrides (applied last). The configs
    /// are fixed text, so an error here is a bug in the claim.
    pub fn at(&self, scale: Scale, sets: &[String]) -> Config {
        let scale_sets = match scale {
            Scale::Quick => self.quick,
            Scale::Paper => self.paper,
            Scale::Tiny => self.tiny,
        };
        let all: Vec<String> = scale_sets.iter().map(|s| s.to_string()).chain(sets.iter().cloned()).collect();
        config(self.base, &all)
    }
}

/// A config from a TOML text and `--set`-style overrides; the claims' own configs are fixed
/// text, so an error here is a bug in the claim.
pub fn config(base: &str, sets: &[String]) -> Config {
    Config::parse(base, "experiment", sets).unwrap_or_else(|e| panic!("an experiment's config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_claim_has_its_v1_record() {
        for e in super::super::all() {
            let (r, at) = v1_record(e.id()).unwrap_or_else(|| panic!("{}: no v1 record", e.id()));
            assert!(["held", "did not hold", "inconclusive"].contains(&r.outcome.as_str()), "{}", r.outcome);
            assert!(!r.rule.is_empty() && !r.judged.is_empty() && at.contains("b278039"));
        }
    }

    const C: Configs = Configs {
        base: "[data]\nname = \"mnist\"\ntrain_subset = 600\n[model]\narch = \"plain\"\ndepth = 3\nwidth = 8\n[optim]\nlr = 0.1\noptimizer = { kind = \"sgd\" }\n[train]\nepochs = 2\n",
        quick: &[],
        paper: &["data = { name = \"mnist\" }", "train.epochs = 20"],
        tiny: &["data = { name = \"mnist1d\", num_samples = 300 }"],
    };

    #[test]
    fn a_scale_changes_only_its_keys_and_the_run_has_the_last_word() {
        let q = C.at(Scale::Quick, &["model.depth=5".into()]);
        let p = C.at(Scale::Paper, &["train.epochs=7".into()]);
        let t = C.at(Scale::Tiny, &[]);
        assert_eq!((q.model.depth, q.train.epochs), (5, 2));
        assert!(q.to_toml().contains("train_subset = 600"));
        assert!(!p.to_toml().contains("train_subset"), "a replaced section keeps nothing of the base");
        assert_eq!(p.train.epochs, 7);
        assert_eq!(t.data.name(), "mnist1d");
    }
}
