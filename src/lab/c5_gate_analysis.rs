//! C5 gate-analysis: what the gates of C4's trained highway nets learn: transform-gate biases
//! and mean T per layer before and after training, their saturation, and how much each layer
//! matters (the test accuracy lost when its transform gate is forced shut).

use super::c4_highway_vs_plain as c4;
use super::figure::over_seeds;
use super::fmt::{mean_pm, num, pct};
use super::{by_seed, Claim, Experiment, Figure, Findings, Measure, Params, Protocol, RunSet, Scale, Table};
use crate::plot::{LinePlot, Series};
use crate::probe::gates::{HighwayGates, HighwayLayer};
use crate::probe::lesion::Lesion;
use crate::probe::ProbeKind;
use crate::stats::mean;
use crate::sweep::RunRequest;

pub struct C5;

/// Srivastava et al.'s Fig. 2 and 4 look at a 50-layer MNIST net: C4's highway runs at depth 50.
const DEPTH: usize = 50;

/// A layer is idle when deleting it costs less than this much test accuracy (one point).
const IDLE: f64 = 0.01;

fn depth(p: &Params) -> usize {
    match p.scale {
        Scale::Tiny => DEPTH / 10,
        _ => DEPTH,
    }
}

fn trained(p: &Params, seed: u64) -> RunRequest {
    c4::run(p, "highway", DEPTH, seed).with_probes(&[ProbeKind::Gates, ProbeKind::Lesion])
}

fn initial(p: &Params, seed: u64) -> RunRequest {
    let r = c4::run(p, "highway", DEPTH, seed);
    RunRequest::at_init(
        r.config,
        &[ProbeKind::Gates],
        format!("C5 highway depth {} seed {seed}, at initialisation", depth(p)),
    )
}

/// What the probes saw of one seed's highway net.
struct Seed {
    seed: u64,
    /// The gates per layer at initialisation and after training.
    before: Vec<HighwayLayer>,
    after: Vec<HighwayLayer>,
    /// The lesion probe's accuracy with every gate as trained.
    accuracy: f64,
    /// Per layer, the accuracy lost when its transform gate is forced shut.
    drops: Vec<f64>,
}

impl Seed {
    /// The share of layers whose mean gate bias fell in training.
    fn fell(&self) -> f64 {
        let n = self.after.len() as f64;
        self.before.iter().zip(&self.after).filter(|(b, a)| a.gate_bias < b.gate_bias).count() as f64 / n
    }

    /// The share of layers that can be shut at a cost under IDLE.
    fn idle(&self) -> f64 {
        self.drops.iter().filter(|d| **d < IDLE).count() as f64 / self.after.len() as f64
    }
}

fn read(p: &Params, runs: &RunSet) -> Result<Vec<Seed>, String> {
    let mut out = Vec::new();
    for s in c4::CLAIM.seeds(p) {
        let after = runs.get(&trained(p, s))?;
        if after.diverged() {
            return Err(format!("the highway run of seed {s} diverged: no gates to analyse"));
        }
        let before = runs.get(&initial(p, s))?.probe::<HighwayGates>()?.layers;
        let lesion = after.probe::<Lesion>()?;
        let file = "probes/lesion";
        let no_accuracy = |what: &str| after.error(file, format!("{what} has no accuracy"));
        let accuracy = lesion.baseline.accuracy.ok_or_else(|| no_accuracy("the baseline"))?;
        let drops = lesion
            .single
            .iter()
            .map(|l| Ok(accuracy - l.accuracy.ok_or_else(|| no_accuracy("a single-layer lesion"))?))
            .collect::<Result<Vec<f64>, String>>()?;
        let after = after.probe::<HighwayGates>()?.layers;
        if before.len() != after.len() || after.len() != drops.len() || after.is_empty() {
            return Err(format!("seed {s}: the gates and lesion probes disagree on the number of layers"));
        }
        out.push(Seed { seed: s, before, after, accuracy, drops });
    }
    Ok(out)
}

/// The rule over `seeds`: the shares of layers whose bias fell and of idle layers, means over
/// the seeds.
fn judge(data: &[Seed], seeds: &[usize]) -> Vec<Measure> {
    let fell: Vec<f64> = seeds.iter().map(|&i| data[i].fell()).collect();
    let idle: Vec<f64> = seeds.iter().map(|&i| data[i].idle()).collect();
    let (mf, mi) = (mean(&fell), mean(&idle));
    vec![
        Measure::new("fraction of layers whose gate bias fell", mf, mean_pm(&fell, pct)).at_least(0.5),
        Measure::new("fraction of idle layers", mi, mean_pm(&idle, pct)).at_least(0.4).headline(),
    ]
}

/// The mean over layers of each layer's mean transform-gate bias.
fn mean_bias(layers: &[HighwayLayer]) -> f64 {
    mean(&layers.iter().map(|l| l.gate_bias).collect::<Vec<_>>())
}

/// The control of a failure, from the runs: the probes can see what the rule asks for, gate
/// biases that move in training and layers whose lesion costs accuracy.
fn control(data: &[Seed]) -> String {
    let moved = mean(
        &data
            .iter()
            .flat_map(|x| x.before.iter().zip(&x.after).map(|(b, a)| (a.gate_bias - b.gate_bias).abs()))
            .collect::<Vec<_>>(),
    );
    let (seed, layer, drop) = data
        .iter()
        .flat_map(|x| x.drops.iter().enumerate().map(move |(l, d)| (x.seed, l, *d)))
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .unwrap_or((0, 0, f64::NAN));
    format!(
        "the probes see both effects where they occur: the gate biases moved by {} per layer on average (up or down), and shutting one layer's gate costs up to {} points of test accuracy (layer {layer}, seed {seed}) against the 1-point idle threshold.",
        num(moved),
        num(100.0 * drop)
    )
}

fn decide(data: &[Seed], per_seed: &[(u64, Vec<Measure>)]) -> String {
    let split = super::recipes::mnist::seeds_split(per_seed);
    if split.is_empty() {
        "runs whose lesions and gates can be read (a share could not be computed).".into()
    } else {
        format!("the seeds split on {split}; more than {} seeds would decide.", data.len())
    }
}

fn mean_t(layers: &[HighwayLayer]) -> f64 {
    mean(&layers.iter().map(|l| l.transform.mean).collect::<Vec<_>>())
}

fn table(data: &[Seed]) -> Table {
    let mut t = Table::new(
        "Per seed",
        &["seed", "test accuracy", "layers whose gate bias fell", "idle layers (< 1 point lost)", "mean T before", "mean T after", "layers with mean T < 0.1 after"],
    )
    .caption("Idle: forcing the layer's transform gate shut costs under 1 point of test accuracy on the first 500 test images.");
    for x in data {
        let closed = x.after.iter().filter(|l| l.transform.mean < 0.1).count();
        t.row(vec![
            x.seed.to_string(),
            pct(x.accuracy),
            pct(x.fell()),
            pct(x.idle()),
            num(mean_t(&x.before)),
            num(mean_t(&x.after)),
            format!("{closed} of {}", x.after.len()),
        ]);
    }
    t
}

/// `field` per layer, after training (solid) and before (dashed), a colour per seed.
fn per_layer(mut plot: LinePlot, data: &[Seed], field: fn(&HighwayLayer) -> f64) -> LinePlot {
    let pts = |v: &[HighwayLayer]| v.iter().enumerate().map(|(l, x)| (l as f64, field(x))).collect::<Vec<_>>();
    for (i, x) in data.iter().enumerate() {
        let s = x.seed;
        plot = plot
            .series(Series::new(format!("after, seed {s}"), pts(&x.after)).markers().color(2 * i))
            .series(Series::new(format!("before, seed {s}"), pts(&x.before)).dashed().color(2 * i));
    }
    plot
}

fn figures(data: &[Seed]) -> Vec<Figure> {
    let bias_plot = LinePlot::new("Transform-gate bias per layer", "layer", "mean gate bias b_T");
    let t_plot = LinePlot::new("Mean transform gate T per layer", "layer", "mean T").y_range(0.0, 1.0);
    let bias = per_layer(bias_plot, data, |l| l.gate_bias);
    let t = per_layer(t_plot, data, |l| l.transform.mean);
    let n = data[0].drops.len();
    let cols = (0..n).map(|l| (l as f64, data.iter().map(|x| 100.0 * x.drops[l]).collect()));
    let drops =
        LinePlot::new("Test accuracy lost with one layer's gate shut", "layer shut (T = 0)", "accuracy lost (points)")
            .series(over_seeds(format!("mean over {} seeds", data.len()), cols).markers())
            .series(
                Series::new("idle threshold (1 point)", vec![(0.0, 100.0 * IDLE), ((n - 1) as f64, 100.0 * IDLE)])
                    .dashed(),
            );
    vec![
        Figure::new(
            "Gate biases before and after training",
            "Dashed: at initialisation; solid: after C4's training.",
            bias.to_svg(),
        ),
        Figure::new(
            "Mean transform gate per layer",
            "T near 0: the layer carries its input through; near 1: it transforms.",
            t.to_svg(),
        ),
        Figure::new(
            "Lesions",
            "Test accuracy lost when one layer's transform gate is forced shut; the band spans the seeds.",
            drops.to_svg(),
        ),
    ]
}

pub const CLAIM: Claim = Claim {
    id: "C5",
    slug: "gate-analysis",
    title: "What the gates learn",
    quote: "The (learned) gate on that somewhere else layer tells you whether to access that info.",
    anchor: "Srivastava et al., NIPS 2015, Fig. 2 and 4: transform-gate biases mostly fall during training; with one layer's transform gate forced shut (T = 0), MNIST nets lose almost nothing for layers 15-45 (about 60% of layers idle).",
    rule: "Holds if at least half of the layers' mean gate bias fell during training and at least 40% of the layers are idle (lesioning one raises test error by under 1 point); fractions are means over seeds (protocol v2: each seed's nets alone too, and at least two thirds of the seeds must agree).",
    data: &["MNIST (C4's runs)"],
    anchor_headline: "Srivastava et al.: about 60% of layers idle (15-45 of 50)",
    seeds: c4::CLAIM.seeds,
    protocol: Protocol {
        version: 2,
        changed: "Reads C4's v2 runs: the depth-50 highway nets now start with the transform-gate bias of their depth, b(50) = logit(1 - 0.1^(1/49)) = -2.96 (v1: -2 at every depth), so that the coupled carry path's gain at initialisation is 0.1 as at every depth; 3 seeds instead of 2. Rule unchanged.",
    },
};

impl Experiment for C5 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        format!(
            "C4's highway runs at depth {} ({} seeds; their training is C4's), probed before and after training: per layer the mean transform-gate bias, the mean of T over the first 4 training batches and the fraction of T below 0.1 and above 0.9; then each layer's transform gate forced shut (T = 0, the layer only carries) in turn, scored on the first 500 test images.",
            depth(p),
            c4::CLAIM.seeds(p).len()
        )
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        c4::CLAIM.seeds(p).into_iter().flat_map(|s| [trained(p, s), initial(p, s)]).collect()
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let data = read(p, runs)?;
        let note = format!(
            "The gate biases started at {} on average over layers and seeds (C4's bias for depth {}: {}) and ended at {}. One point is about one standard error of an accuracy near 90% measured on 500 images, so single layers near the threshold may be counted either way.",
            num(mean(&data.iter().map(|x| mean_bias(&x.before)).collect::<Vec<_>>())),
            DEPTH,
            num(super::recipes::mnist::gate_bias(DEPTH)),
            num(mean(&data.iter().map(|x| mean_bias(&x.after)).collect::<Vec<_>>())),
        );
        let seeds: Vec<u64> = data.iter().map(|x| x.seed).collect();
        let (measured, per_seed) = by_seed(&seeds, |s| judge(&data, s));
        Ok(Findings {
            tables: vec![table(&data)],
            figures: figures(&data),
            control: control(&data),
            decide: decide(&data, &per_seed),
            measured,
            per_seed,
            note,
            notes: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(gate_bias: f64) -> HighwayLayer {
        HighwayLayer {
            layer: 0,
            name: String::new(),
            gate_bias,
            transform: Default::default(),
            carry: None,
            carry_bias: None,
        }
    }

    fn seed(after: [f64; 4], drops: [f64; 4]) -> Seed {
        let before = [-2.0; 4].map(layer).to_vec();
        Seed { seed: 1, before, after: after.map(layer).to_vec(), accuracy: 0.9, drops: drops.to_vec() }
    }

    #[test]
    fn each_seed_counts_its_layers_and_the_rule_takes_the_mean() {
        // Seed 0: two biases fell, two layers cost under a point; seed 1: none of either.
        let data = [seed([-2.5, -2.1, -1.0, -2.0], [0.0, 0.005, 0.02, 0.5]), seed([-1.0; 4], [0.02; 4])];
        assert_eq!((data[0].fell(), data[0].idle()), (0.5, 0.5));
        let met = |seeds: &[usize]| judge(&data, seeds).iter().map(|m| m.met).collect::<Vec<_>>();
        assert_eq!(met(&[0]), [Some(true), Some(true)]);
        assert_eq!(met(&[1]), [Some(false), Some(false)]);
        let both = judge(&data, &[0, 1]);
        assert_eq!((both[0].value, both[1].value), (0.25, 0.25));
        assert_eq!(both[1].miss().unwrap(), "1.6x below the bar");
        let c = control(&data);
        assert!(c.contains("moved by 0.7 per layer") && c.contains("up to 50 points"), "{c}");
    }

    #[test]
    fn the_nets_are_c4s_highway_nets_at_depth_50_with_its_seeds() {
        let p = Params { scale: Scale::Quick, seeds: None };
        let runs = C5.runs(&p);
        assert_eq!(runs.len(), 2 * c4::CLAIM.seeds(&p).len());
        assert!(c4::CLAIM.seeds(&p).len() >= 3);
        for s in c4::CLAIM.seeds(&p) {
            assert_eq!(trained(&p, s).id(), c4::run(&p, "highway", DEPTH, s).id(), "C4's run, probed");
            assert_eq!(initial(&p, s).config.model.gate_bias, super::super::recipes::mnist::gate_bias(DEPTH));
        }
    }
}
