//! The seed's claims as experiments (../shared/CLAIMS.md): one file per claim declares its runs
//! at each scale (on the run engine of `sweep`), and an analysis that turns the finished runs
//! into tables, figures and a [`Verdict`], computed by the claim's rule from the numbers
//! measured. Nothing in a verdict is written in advance.

pub mod claim;
pub mod figure;
pub mod fmt;
pub mod recipes;
pub mod recurrent;
pub mod runs;
pub mod verdict;

mod c10_gated_memory;
mod c11_temporal_depth;
mod c12_exploding;
mod c13_intermediate_losses;
mod c1_depth_efficiency;
mod c2_linear_chain;
mod c3_signal_propagation;
mod c4_highway_vs_plain;
mod c5_gate_analysis;
mod c6_effective_depth;
mod c7_dense_connections;
mod c8_receptive_field;
mod c9_bptt_vanishing;

use serde::Serialize;

use crate::sweep::RunRequest;
pub use claim::{config, v1_record, Claim, Configs, PerScale, Protocol, V1Record};
pub use figure::{Figure, Table};
pub use runs::{Run, RunSet};
pub use verdict::{Measure, Outcome, SeedOutcome, Verdict};

/// How big the experiments are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// The whole suite within minutes on a laptop's cores.
    Quick,
    /// The published setups, as far as this engine expresses them: hours, for a cluster.
    Paper,
    /// Seconds: every pipeline end to end on toy sizes, for the tests (its verdicts mean
    /// nothing).
    #[value(hide = true)]
    Tiny,
}

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Quick => "quick",
            Scale::Paper => "paper",
            Scale::Tiny => "tiny",
        }
    }

    /// The scale named `name` (as `name` gives it).
    pub fn parse(name: &str) -> Result<Scale, String> {
        [Scale::Quick, Scale::Paper, Scale::Tiny]
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("scale {name:?}: the scales are \"quick\" and \"paper\""))
    }
}

/// What every experiment is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Params {
    pub scale: Scale,
    /// Seeds per configuration, replacing each experiment's own default.
    pub seeds: Option<usize>,
}

impl Params {
    /// The seeds to run: 1..=n, n = `--seeds` or the experiment's default for this scale.
    pub fn seeds(&self, default: usize) -> Vec<u64> {
        (1..=self.seeds.unwrap_or(default).max(1) as u64).collect()
    }
}

/// What a claim's analysis finds: its tables and figures, and the numbers its rule judged.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    pub tables: Vec<Table>,
    pub figures: Vec<Figure>,
    /// The numbers the verdict rests on (the rule applied to the seed means), each with the
    /// rule's condition on it where the rule judges it.
    pub measured: Vec<Measure>,
    /// The rule applied to each seed's runs alone, by seed (protocol v2); empty where the
    /// claim's runs are not random.
    pub per_seed: Vec<(u64, Vec<Measure>)>,
    /// The verdict's words beside its numbers: what they mean, set against the anchor.
    pub note: String,
    /// For a claim that does not hold: the control that shows the setup could have shown the
    /// effect, with its number.
    pub control: String,
    /// For a claim that is inconclusive: what would decide it.
    pub decide: String,
    /// What a reader should know: deviations from the published setup, caveats.
    pub notes: Vec<String>,
}

/// The rule `judge` applied to all of `seeds` together and to each alone, as protocol v2 asks:
/// (the measures of the means, each seed's measures). `judge` takes indices into `seeds`.
pub fn by_seed(seeds: &[u64], judge: impl Fn(&[usize]) -> Vec<Measure>) -> (Vec<Measure>, Vec<(u64, Vec<Measure>)>) {
    let all: Vec<usize> = (0..seeds.len()).collect();
    let each =
        if seeds.len() > 1 { seeds.iter().enumerate().map(|(i, &s)| (s, judge(&[i]))).collect() } else { Vec::new() };
    (judge(&all), each)
}

/// What the report shows of a claim: its findings and the verdict they give.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    pub tables: Vec<Table>,
    pub figures: Vec<Figure>,
    pub verdict: Verdict,
    pub notes: Vec<String>,
}

/// One claim of the seed as an experiment: its fixed facts, and what is particular to it.
pub trait Experiment: Sync {
    fn claim(&self) -> &'static Claim;
    /// The setup at this scale, in words.
    fn setup(&self, p: &Params) -> String;
    /// Every run it needs.
    fn runs(&self, p: &Params) -> Vec<RunRequest>;
    /// Tables, figures and the measures its rule judges, from the finished runs.
    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String>;
}

impl dyn Experiment {
    pub fn id(&self) -> &'static str {
        self.claim().id
    }
    pub fn slug(&self) -> &'static str {
        self.claim().slug
    }
}

/// The claim's analysis of the runs in `runs`, and its verdict.
pub fn analyze(e: &dyn Experiment, p: &Params, runs: &RunSet) -> Result<Analysis, String> {
    let f = e.analyze(p, runs)?;
    let verdict = Verdict::new(e.claim(), f.measured, f.note).with_seeds(f.per_seed).explain(&f.control, &f.decide);
    Ok(Analysis { tables: f.tables, figures: f.figures, verdict, notes: f.notes })
}

/// Every experiment, in claim order.
pub fn all() -> Vec<&'static dyn Experiment> {
    vec![
        &c1_depth_efficiency::C1,
        &c2_linear_chain::C2,
        &c3_signal_propagation::C3,
        &c4_highway_vs_plain::C4,
        &c5_gate_analysis::C5,
        &c6_effective_depth::C6,
        &c7_dense_connections::C7,
        &c8_receptive_field::C8,
        &c9_bptt_vanishing::C9,
        &c10_gated_memory::C10,
        &c11_temporal_depth::C11,
        &c12_exploding::C12,
        &c13_intermediate_losses::C13,
    ]
}

/// Experiments by name: `C4`, `c4`, `highway-vs-plain` or `C4-highway-vs-plain`; none: all.
pub fn select(names: &[String]) -> Result<Vec<&'static dyn Experiment>, String> {
    if names.is_empty() {
        return Ok(all());
    }
    let mut out: Vec<&'static dyn Experiment> = Vec::new();
    for n in names {
        let n = n.trim();
        let e = all()
            .into_iter()
            .find(|e| {
                n.eq_ignore_ascii_case(e.id())
                    || n.eq_ignore_ascii_case(e.slug())
                    || n.eq_ignore_ascii_case(&format!("{}-{}", e.id(), e.slug()))
            })
            .ok_or_else(|| {
                let known: Vec<String> = all().iter().map(|e| format!("{} ({})", e.id(), e.slug())).collect();
                format!("unknown claim `{n}`: the claims are {}", known.join(", "))
            })?;
        if !out.iter().any(|o| o.id() == e.id()) {
            out.push(e);
        }
    }
    out.sort_by_key(|e| claim_number(e.id()));
    Ok(out)
}

fn claim_number(id: &str) -> u32 {
    id.trim_start_matches('C').parse().unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_parsed_by_their_names() {
        for s in [Scale::Quick, Scale::Paper, Scale::Tiny] {
            assert_eq!(Scale::parse(s.name()), Ok(s));
        }
        assert!(Scale::parse("Quick").unwrap_err().contains("\"quick\" and \"paper\""));
    }

    #[test]
    fn claims_are_found_by_id_and_slug() {
        let names = |v: &[&str]| -> Vec<&'static str> {
            select(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap().iter().map(|e| e.id()).collect()
        };
        assert_eq!(names(&["c4", "C2", "highway-vs-plain"]), ["C2", "C4"]);
        assert_eq!(names(&[]).len(), all().len());
        assert!(select(&["C99".into()]).err().unwrap().contains("C4 (highway-vs-plain)"));
    }

    #[test]
    fn every_experiment_plans_runs_at_both_scales() {
        for e in all() {
            for scale in [Scale::Quick, Scale::Paper, Scale::Tiny] {
                let p = Params { scale, seeds: None };
                let runs = e.runs(&p);
                for r in &runs {
                    r.config.validate().unwrap_or_else(|m| panic!("{} {}: {m}", e.id(), r.label));
                }
                assert!(!e.setup(&p).is_empty());
            }
        }
    }
}
