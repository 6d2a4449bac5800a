//! C5 gate-analysis: what the gates of C4's trained highway nets learn: transform-gate biases
//! and mean T per layer before and after training, their saturation, and how much each layer
//! matters (the test accuracy lost when its transform gate is forced shut).

use super::c4_highway_vs_plain as c4;
use super::fmt::{mean_pm, num as fmt, pct};
use super::runs::json_num as num;
use super::{Claim, Experiment, Figure, Findings, Measure, Params, RunSet, Scale, Table};
use crate::plot::{LinePlot, Series};
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

/// Per layer: (gate bias, mean T, fraction T < 0.1, fraction T > 0.9).
fn per_layer(gates: &serde_json::Value) -> Vec<[f64; 4]> {
    gates["layers"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    let t = &l["transform"];
                    [num(&l["gate_bias"]), num(&t["mean"]), num(&t["frac_below"]), num(&t["frac_above"])]
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Test accuracy lost by deleting each layer (baseline minus lesioned), per layer.
fn lesion_drops(lesion: &serde_json::Value) -> Vec<f64> {
    let base = num(&lesion["baseline"]["accuracy"]);
    lesion["single"].as_array().map(|s| s.iter().map(|l| base - num(&l["accuracy"])).collect()).unwrap_or_default()
}

pub const CLAIM: Claim = Claim {
    id: "C5",
    slug: "gate-analysis",
    title: "What the gates learn",
    quote: "The (learned) gate on that somewhere else layer tells you whether to access that info.",
    anchor: "Srivastava et al., NIPS 2015, Fig. 2 and 4: transform-gate biases mostly fall during training; with one layer's transform gate forced shut (T = 0), MNIST nets lose almost nothing for layers 15-45 (about 60% of layers idle).",
    rule: "Holds if at least half of the layers' mean gate bias fell during training and at least 40% of the layers are idle (lesioning one raises test error by under 1 point); fractions are means over seeds.",
    data: &["MNIST (C4's runs)"],
};

impl Experiment for C5 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        format!(
            "C4's highway runs at depth {} ({} seeds; their training is C4's), probed before and after training: per layer the mean transform-gate bias, the mean of T over the first 4 training batches and the fraction of T below 0.1 and above 0.9; then each layer's transform gate forced shut (T = 0, the layer only carries) in turn, scored on the first 500 test images.",
            depth(p),
            c4::seeds(p).len()
        )
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        c4::seeds(p).into_iter().flat_map(|s| [trained(p, s), initial(p, s)]).collect()
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let seeds = c4::seeds(p);
        let mut t = Table::new(
            "Per seed",
            &["seed", "test accuracy", "layers whose gate bias fell", "idle layers (< 1 point lost)", "mean T before", "mean T after", "layers with mean T < 0.1 after"],
        )
        .caption("Idle: forcing the layer's transform gate shut costs under 1 point of test accuracy on the first 500 test images.");
        let (mut fell, mut idle) = (Vec::new(), Vec::new());
        let mut bias_plot = LinePlot::new("Transform-gate bias per layer", "layer", "mean gate bias b_T");
        let mut t_plot = LinePlot::new("Mean transform gate T per layer", "layer", "mean T").y_range(0.0, 1.0);
        let mut drop_plot = LinePlot::new(
            "Test accuracy lost with one layer's gate shut",
            "layer shut (T = 0)",
            "accuracy lost (points)",
        );
        let mut drops_all: Vec<Vec<f64>> = Vec::new();
        for (i, &s) in seeds.iter().enumerate() {
            let after_run = runs.get(&trained(p, s))?;
            if after_run.diverged() {
                return Err(format!("the highway run of seed {s} diverged: no gates to analyse"));
            }
            let before = per_layer(&runs.get(&initial(p, s))?.probe_json(ProbeKind::Gates)?);
            let after = per_layer(&after_run.probe_json(ProbeKind::Gates)?);
            let lesion = after_run.probe_json(ProbeKind::Lesion)?;
            let drops = lesion_drops(&lesion);
            if before.len() != after.len() || after.len() != drops.len() || after.is_empty() {
                return Err(format!("seed {s}: the gates and lesion probes disagree on the number of layers"));
            }
            let n = after.len() as f64;
            let f = before.iter().zip(&after).filter(|(b, a)| a[0] < b[0]).count() as f64 / n;
            let id = drops.iter().filter(|d| **d < IDLE).count() as f64 / n;
            fell.push(f);
            idle.push(id);
            let closed = after.iter().filter(|a| a[1] < 0.1).count();
            t.row(vec![
                s.to_string(),
                pct(num(&lesion["baseline"]["accuracy"])),
                pct(f),
                pct(id),
                fmt(mean(&before.iter().map(|b| b[1]).collect::<Vec<_>>())),
                fmt(mean(&after.iter().map(|a| a[1]).collect::<Vec<_>>())),
                format!("{closed} of {}", after.len()),
            ]);
            let layer = |v: &[[f64; 4]], k: usize| -> Vec<(f64, f64)> {
                v.iter().enumerate().map(|(l, x)| (l as f64, x[k])).collect()
            };
            let c = 2 * i;
            bias_plot = bias_plot
                .series(Series::new(format!("after, seed {s}"), layer(&after, 0)).markers().color(c))
                .series(Series::new(format!("before, seed {s}"), layer(&before, 0)).dashed().color(c));
            t_plot = t_plot
                .series(Series::new(format!("after, seed {s}"), layer(&after, 1)).markers().color(c))
                .series(Series::new(format!("before, seed {s}"), layer(&before, 1)).dashed().color(c));
            drops_all.push(drops);
        }
        let n = drops_all[0].len();
        let mean_drop: Vec<(f64, f64)> =
            (0..n).map(|l| (l as f64, 100.0 * mean(&drops_all.iter().map(|d| d[l]).collect::<Vec<_>>()))).collect();
        let band = (0..n)
            .map(|l| {
                let v: Vec<f64> = drops_all.iter().map(|d| 100.0 * d[l]).collect();
                (
                    l as f64,
                    v.iter().copied().fold(f64::INFINITY, f64::min),
                    v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                )
            })
            .collect();
        drop_plot = drop_plot
            .series(Series::new(format!("mean over {} seeds", seeds.len()), mean_drop).markers().band(band))
            .series(
                Series::new("idle threshold (1 point)", vec![(0.0, 100.0 * IDLE), ((n - 1) as f64, 100.0 * IDLE)])
                    .dashed(),
            );
        let (mf, mi) = (mean(&fell), mean(&idle));
        let measured = vec![
            Measure::new("fraction of layers whose gate bias fell", mf, mean_pm(&fell, pct))
                .must(">= 50%", mf.is_finite().then_some(mf >= 0.5)),
            Measure::new("fraction of idle layers", mi, mean_pm(&idle, pct))
                .must(">= 40%", mi.is_finite().then_some(mi >= 0.4)),
        ];
        let note = format!(
            "The gate biases started at {} in every layer. One point is about one standard error of an accuracy near 90% measured on 500 images, so single layers near the threshold may be counted either way.",
            fmt(-2.0)
        );
        Ok(Findings {
            tables: vec![t],
            figures: vec![
                Figure::new(
                    "Gate biases before and after training",
                    "Dashed: at initialisation; solid: after C4's training.",
                    bias_plot.to_svg(),
                ),
                Figure::new(
                    "Mean transform gate per layer",
                    "T near 0: the layer carries its input through; near 1: it transforms.",
                    t_plot.to_svg(),
                ),
                Figure::new(
                    "Lesions",
                    "Test accuracy lost when one layer's transform gate is forced shut; the band spans the seeds.",
                    drop_plot.to_svg(),
                ),
            ],
            measured,
            note,
            notes: vec![],
        })
    }
}
