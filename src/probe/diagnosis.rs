//! A short plain-language verdict per run, computed from the gradient flow and the gates, each
//! with the numbers behind it.
//!
//! Rules (thresholds are `VANISHING` and `EXPLODING`):
//! - feed-forward: r = ||dL/dh|| at the first stack layer / at the last. r < 1e-4: vanishing;
//!   r > 1e4: exploding; otherwise healthy. A non-finite norm: non-finite.
//! - sequence: r = ||dL/dh_t|| at the farthest step from the loss / at the last step, same
//!   thresholds, per tapped state (`act.rnn.l0.h`, ...); `bounded` when it is exactly 0 beyond
//!   some step (a convolution's receptive field, truncated backpropagation through time).
//! - highway gates: more than half of the transform gate values below 0.1: "most layers only
//!   carry"; more than half above 0.9: "most layers transform"; otherwise "mixed".
//! - LSTM / GRU: the mean forget (LSTM) or update (GRU) gate g keeps a fraction g of the state per
//!   step: half-life ln(1/2)/ln(g) steps; below 0.5 "short memory", above 0.9 "long memory".

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::gates::{HighwayGates, RecurrentGates, HIGH, LOW};
use super::gradflow::{Gradflow, SeqGradflow};

pub const VANISHING: f64 = 1e-4;
pub const EXPLODING: f64 = 1e4;

/// One finding.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    /// "gradflow" or "gates".
    pub topic: String,
    /// A one-word label: vanishing | exploding | healthy | non_finite | bounded | carrying |
    /// transforming | mixed | short_memory | long_memory | medium_memory.
    pub verdict: String,
    /// The sentence.
    pub text: String,
    /// The numbers the sentence is computed from.
    pub numbers: Value,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Diagnosis {
    pub probe: String,
    pub verdicts: Vec<Verdict>,
}

impl Diagnosis {
    /// The verdicts, one per line.
    pub fn text(&self) -> String {
        self.verdicts.iter().map(|v| format!("{}: {}\n", v.topic, v.text)).collect()
    }
}

/// vanishing / exploding / healthy / non_finite for a ratio of norms.
pub fn classify(ratio: f64) -> &'static str {
    if !ratio.is_finite() {
        "non_finite"
    } else if ratio < VANISHING {
        "vanishing"
    } else if ratio > EXPLODING {
        "exploding"
    } else {
        "healthy"
    }
}

fn verdict(topic: &str, v: &str, text: String, numbers: Value) -> Verdict {
    Verdict { topic: topic.into(), verdict: v.into(), text, numbers }
}

/// The verdict on a feed-forward model's gradient flow.
pub fn from_gradflow(gf: &Gradflow) -> Option<Verdict> {
    let n = gf.layers.len();
    if n < 2 {
        return None;
    }
    let (first, last) = (&gf.layers[0], &gf.layers[n - 1]);
    let r = first.norm / last.norm;
    let v = classify(r);
    let per_layer = r.powf(1.0 / (n - 1) as f64);
    let what = match v {
        "vanishing" => "vanishing".to_string(),
        "exploding" => "exploding".to_string(),
        "non_finite" => "not finite: the gradient overflowed or the loss is NaN".to_string(),
        _ => "healthy (within 1e-4..1e4)".to_string(),
    };
    Some(verdict(
        "gradflow",
        v,
        format!(
            "gradient at layer 1 ({}) is {:.1e} of layer {n} ({}): {what}; a factor {:.3} per layer",
            first.name, r, last.name, per_layer
        ),
        json!({"first_layer_norm": first.norm, "last_layer_norm": last.norm, "ratio": r,
               "per_layer_factor": per_layer, "layers": n,
               "thresholds": {"vanishing": VANISHING, "exploding": EXPLODING}}),
    ))
}

/// Verdicts on a sequence model's gradient flow, one per tapped state. A gradient that is
/// exactly 0 beyond some distance (a convolution's receptive field, truncated backpropagation
/// through time) is `bounded`, judged on the steps it reaches.
pub fn from_seq_gradflow(gf: &SeqGradflow) -> Vec<Verdict> {
    gf.series
        .iter()
        .filter(|s| s.by_distance.len() >= 2)
        .map(|s| {
            let name = s.name.trim_start_matches("act.");
            let d = s.by_distance.len() - 1;
            let r = s.far_to_near;
            let factor = s.slope_per_step.exp();
            let per_step =
                if factor.is_finite() { format!("; a factor {factor:.3} per step") } else { String::new() };
            let mut numbers = json!({"state": s.name, "near_norm": s.by_distance[0], "far_norm": s.by_distance[d],
                   "distance": d, "ratio": r, "per_step_factor": factor, "readout": gf.readout,
                   "thresholds": {"vanishing": VANISHING, "exploding": EXPLODING}});
            let reach = s.by_distance.iter().rposition(|&v| v != 0.0);
            if let (0.0, Some(k)) = (s.by_distance[d], reach) {
                let rk = s.by_distance[k] / s.by_distance[0];
                numbers["reach"] = json!(k);
                numbers["ratio_at_reach"] = json!(rk);
                let text = if k == 0 {
                    format!("{name}: gradient reaches only the last step (a bounded receptive field or truncated backpropagation)")
                } else {
                    format!(
                        "{name}: gradient is exactly 0 more than {k} steps before the last step (a bounded receptive field or truncated backpropagation); {k} steps back it is {rk:.1e} of that at the last step{per_step}"
                    )
                };
                return verdict("gradflow", "bounded", text, numbers);
            }
            let v = classify(r);
            let word = match v {
                "non_finite" => "not finite",
                w => w,
            };
            verdict(
                "gradflow",
                v,
                format!("{name}: gradient {d} steps before the last step is {r:.1e} of that at the last step: {word}{per_step}"),
                numbers,
            )
        })
        .collect()
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// The verdict on a highway net's transform gates.
pub fn from_highway(g: &HighwayGates) -> Verdict {
    let t = &g.transform;
    let nums = json!({"frac_below_0_1": t.frac_below, "frac_above_0_9": t.frac_above, "mean": t.mean,
                      "frac_layers_closed": g.frac_layers_closed, "frac_layers_open": g.frac_layers_open,
                      "layers": g.layers.len(), "low": LOW, "high": HIGH});
    if t.frac_below > 0.5 {
        verdict(
            "gates",
            "carrying",
            format!(
                "{} of transform gates are closed (< {LOW}): most layers only carry (mean T = {:.3}; {} of layers have mean T < {LOW})",
                pct(t.frac_below),
                t.mean,
                pct(g.frac_layers_closed)
            ),
            nums,
        )
    } else if t.frac_above > 0.5 {
        verdict(
            "gates",
            "transforming",
            format!(
                "{} of transform gates are open (> {HIGH}): most layers transform, as in a plain net (mean T = {:.3})",
                pct(t.frac_above),
                t.mean
            ),
            nums,
        )
    } else {
        verdict(
            "gates",
            "mixed",
            format!(
                "transform gates are mixed: {} closed (< {LOW}), {} open (> {HIGH}), mean T = {:.3}",
                pct(t.frac_below),
                pct(t.frac_above),
                t.mean
            ),
            nums,
        )
    }
}

/// Verdicts on the memory gates of an LSTM (forget) or GRU (update), per layer and direction.
pub fn from_recurrent(g: &RecurrentGates) -> Vec<Verdict> {
    let keep = if g.kind == "lstm" { "f" } else { "z" };
    let mut out = Vec::new();
    for l in &g.layers {
        let Some(gate) = l.gates.iter().find(|x| x.gate == keep) else { continue };
        let m = gate.overall.mean;
        let half_life = if m > 0.0 && m < 1.0 { (0.5f64).ln() / m.ln() } else { f64::INFINITY };
        let v = if m < 0.5 {
            "short_memory"
        } else if m > 0.9 {
            "long_memory"
        } else {
            "medium_memory"
        };
        let dir = if l.direction == 1 { " (reverse)" } else { "" };
        out.push(verdict(
            "gates",
            v,
            format!(
                "layer {}{dir}: mean {} gate {:.3}: the state keeps {:.0}% per step (half-life {:.1} steps); {} below {LOW}, {} above {HIGH}",
                l.layer,
                gate.role,
                m,
                100.0 * m,
                half_life,
                pct(gate.overall.frac_below),
                pct(gate.overall.frac_above)
            ),
            json!({"layer": l.layer, "direction": l.direction, "gate": gate.gate, "mean": m,
                   "half_life_steps": half_life, "frac_below_0_1": gate.overall.frac_below,
                   "frac_above_0_9": gate.overall.frac_above}),
        ));
    }
    out
}

/// All verdicts from what was measured.
pub fn diagnose(
    gradflow: Option<&Gradflow>,
    seq_gradflow: Option<&SeqGradflow>,
    highway: Option<&HighwayGates>,
    recurrent: Option<&RecurrentGates>,
) -> Diagnosis {
    let mut verdicts = Vec::new();
    verdicts.extend(gradflow.and_then(from_gradflow));
    if let Some(g) = seq_gradflow {
        verdicts.extend(from_seq_gradflow(g));
    }
    verdicts.extend(highway.map(from_highway));
    if let Some(g) = recurrent {
        verdicts.extend(from_recurrent(g));
    }
    Diagnosis { probe: "diagnosis".into(), verdicts }
}
