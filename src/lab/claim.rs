//! What every claim declares the same way: its fixed facts (from CLAIMS.md) in one value, and
//! its configs as one base text with the few keys each scale changes.

use super::Scale;
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
