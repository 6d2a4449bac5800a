//! C9 bptt-vanishing: gradients vanish in time. ||dL/dh_t|| against the distance from the loss
//! (probe gradflow) for tanh RNNs whose W_hh is a Gaussian matrix rescaled to a grid of
//! spectral radii, and for an LSTM and a GRU, at initialisation and after training on the adding
//! problem at T = 100; beside it, Pascanu et al.'s sufficient condition for vanishing (largest
//! singular value of W_hh below 1/gamma, gamma = 1 for tanh), with each net's largest singular
//! value computed from its weights.

use super::c10_gated_memory::{self as c10, Cell, Task};
use super::recurrent::{gmean, initial_weight, trained_weight};
use super::runs::num as jnum;
use super::stats::{mean, num};
use super::{Analysis, Experiment, Figure, Measure, Params, Run, RunSet, Scale, Table, Verdict};
use crate::config::Config;
use crate::plot::{LinePlot, Series};
use crate::probe::ProbeKind;
use crate::sweep::RunRequest;

pub struct C9;

/// The lag of the adding problem the claim is about.
pub fn lag(p: &Params) -> usize {
    if p.scale == Scale::Tiny {
        10
    } else {
        100
    }
}

/// Spectral radii of W_hh. A Gaussian matrix's largest singular value is about twice its
/// spectral radius, so the radii below about 0.5 give nets that Pascanu et al.'s condition
/// predicts to vanish, and those above it nets where the condition says nothing; 1.5 is where
/// C12's exploding nets start.
fn radii(p: &Params) -> Vec<f64> {
    match p.scale {
        Scale::Quick => vec![0.1, 0.25, 0.4, 0.55, 0.75, 1.0, 1.5],
        Scale::Paper => vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0],
        Scale::Tiny => vec![0.25, 1.0],
    }
}

/// The gated nets (and the tanh RNN with PyTorch's default W_hh, the RNN of C10's comparison).
const CELLS: [Cell; 4] = [Cell::Rnn, Cell::LstmBias0, Cell::LstmBias1, Cell::Gru];

fn grid_config(p: &Params, radius: f64, seed: u64) -> Config {
    c10::config_with(
        p,
        Cell::Rnn,
        Task::Adding,
        lag(p),
        seed,
        &[format!("model.hh_init={{ kind = \"spectral\", radius = {radius} }}")],
    )
}

fn grid_run(p: &Params, radius: f64, seed: u64, trained: bool) -> RunRequest {
    let cfg = grid_config(p, radius, seed);
    let label = format!("C9 tanh RNN, W_hh spectral radius {radius}, seed {seed}");
    if trained {
        RunRequest::train(cfg, label).with_probes(&[ProbeKind::Gradflow])
    } else {
        RunRequest::at_init(cfg, &[ProbeKind::Gradflow], format!("{label}, at initialisation"))
    }
}

/// The net of `cell` trained on the adding problem (C10's run) or probed at initialisation.
pub fn cell_run(p: &Params, cell: Cell, seed: u64, trained: bool, probe: ProbeKind) -> RunRequest {
    let r = c10::run(p, cell, Task::Adding, lag(p), seed);
    if trained {
        r.with_probes(&[probe])
    } else {
        RunRequest::at_init(r.config, &[probe], format!("{}, at initialisation", r.label))
    }
}

/// What one net's gradient does along time: the first layer's hidden state.
#[derive(Clone, Default)]
struct Flow {
    by_distance: Vec<f64>,
    slope: f64,
    far_to_near: f64,
}

fn flow(r: &Run) -> Result<Option<Flow>, String> {
    if r.diverged() {
        return Ok(None);
    }
    let g = r.probe(ProbeKind::Gradflow)?;
    let s = g["series"]
        .as_array()
        .and_then(|v| v.iter().find(|s| s["name"] == "act.rnn.l0.h"))
        .ok_or_else(|| format!("run {}: gradflow has no series act.rnn.l0.h", r.id))?;
    let by_distance = s["by_distance"].as_array().map(|v| v.iter().map(jnum).collect()).unwrap_or_default();
    Ok(Some(Flow { by_distance, slope: jnum(&s["slope_per_step"]), far_to_near: jnum(&s["far_to_near"]) }))
}

/// One net over seeds: init and trained flows, largest singular values, test MSE.
#[derive(Default)]
struct Net {
    name: String,
    /// A vanilla tanh RNN (Pascanu's condition applies to it as stated).
    rnn: bool,
    radius: Option<f64>,
    sigma_init: Vec<f64>,
    sigma_trained: Vec<f64>,
    init: Vec<Flow>,
    trained: Vec<Flow>,
    mse: Vec<f64>,
    diverged: usize,
}

impl Net {
    fn slope_init(&self) -> f64 {
        mean(&self.init.iter().map(|f| f.slope).collect::<Vec<_>>())
    }
    fn slope_trained(&self) -> f64 {
        mean(&self.trained.iter().map(|f| f.slope).collect::<Vec<_>>())
    }
    fn ratio_init(&self) -> f64 {
        gmean(&self.init.iter().map(|f| f.far_to_near).collect::<Vec<_>>())
    }
    fn ratio_trained(&self) -> f64 {
        gmean(&self.trained.iter().map(|f| f.far_to_near).collect::<Vec<_>>())
    }
    fn s_init(&self) -> f64 {
        mean(&self.sigma_init)
    }
    fn s_trained(&self) -> f64 {
        mean(&self.sigma_trained)
    }
}

fn collect(net: &mut Net, init: &RunRequest, trained: &RunRequest, runs: &RunSet) -> Result<(), String> {
    let ri = runs.get(init)?;
    net.init.extend(flow(&ri)?);
    net.sigma_init.push(initial_weight(&init.config, "rnn.weight_hh_l0")?.sigma_max());
    let rt = runs.get(trained)?;
    if rt.diverged() {
        net.diverged += 1;
        return Ok(());
    }
    net.trained.extend(flow(&rt)?);
    net.sigma_trained.push(trained_weight(&rt, "rnn.weight_hh_l0")?.sigma_max());
    net.mse.push(rt.summary().test_loss.unwrap_or(f64::NAN));
    Ok(())
}

fn curve(f: &Flow) -> Vec<(f64, f64)> {
    f.by_distance.iter().enumerate().map(|(d, v)| (d as f64, *v)).filter(|(_, v)| *v > 0.0 && v.is_finite()).collect()
}

impl Experiment for C9 {
    fn id(&self) -> &'static str {
        "C9"
    }
    fn slug(&self) -> &'static str {
        "bptt-vanishing"
    }
    fn title(&self) -> &'static str {
        "Gradients vanish in time"
    }
    fn quote(&self) -> &'static str {
        "our gradients can and do vanish by the time they get back to the beginning."
    }
    fn anchor(&self) -> &'static str {
        "Pascanu, Mikolov, Bengio, ICML 2013: for a tanh RNN (gamma = 1 bounds tanh'), a largest singular value of W_hh below 1/gamma suffices for the gradient to vanish exponentially in the distance; above it, gradients can explode (a necessary condition only)."
    }
    fn rule(&self) -> &'static str {
        "Holds if every tanh RNN whose W_hh has largest singular value below 1 (computed from the weights, at initialisation and after training) has an exponentially decaying gradient (a negative least-squares slope of ln ||dL/dh_t|| against the distance from the loss), the decay rate grows as the radius falls (at initialisation, the fitted slope rises strictly from each radius of the grid to the next), and after training the far-to-near gradient ratio (||dL/dh_0|| / ||dL/dh_{T-1}||) of the LSTM (forget bias 1) and of the GRU each exceeds that of the tanh RNN with PyTorch's default W_hh (C10's RNN) by a factor of 100."
    }
    fn setup(&self, p: &Params) -> String {
        let r: Vec<String> = radii(p).iter().map(|r| num(*r)).collect();
        let s = c10::seeds(p).len();
        format!(
            "The adding problem at T = {}. Tanh RNNs whose W_hh is a standard Gaussian matrix rescaled to spectral radius {} (model.hh_init = spectral), the tanh RNN with PyTorch's default W_hh, LSTMs with forget bias 0 and 1 and a GRU, trained exactly as C10's nets at this lag ({}; the default-init RNN, the LSTMs and the GRU are C10's runs). The gradflow probe averages ||dL/dh_t|| of the layer's hidden state over 4 training batches of 64, at initialisation and after training; slope and far-to-near ratio are its fits over all {} distances. Largest singular values by Jacobi SVD of each net's weight_hh (the whole G*H x H matrix for gated cells), at initialisation (built from the config) and from the final checkpoint. {s} seed(s).",
            lag(p),
            r.join(", "),
            match p.scale {
                Scale::Quick => "one layer of 64 units, 16 epochs of Adam 3e-3 on 6,400 sequences, clip 1",
                Scale::Paper => "128 units, 10 epochs of Adam 1e-3 on 50,000 sequences, clip 1",
                Scale::Tiny => "8 units, one epoch on 64 sequences",
            },
            lag(p)
        )
    }
    fn data(&self) -> &'static [&'static str] {
        &["the adding problem (generated from the seed)"]
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for s in c10::seeds(p) {
            for r in radii(p) {
                v.push(grid_run(p, r, s, false));
                v.push(grid_run(p, r, s, true));
            }
            for c in CELLS {
                v.push(cell_run(p, c, s, false, ProbeKind::Gradflow));
                v.push(cell_run(p, c, s, true, ProbeKind::Gradflow));
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Analysis, String> {
        let seeds = c10::seeds(p);
        let mut grid: Vec<Net> = Vec::new();
        for r in radii(p) {
            let mut n =
                Net { name: format!("tanh RNN, radius {}", num(r)), rnn: true, radius: Some(r), ..Default::default() };
            for &s in &seeds {
                collect(&mut n, &grid_run(p, r, s, false), &grid_run(p, r, s, true), runs)?;
            }
            grid.push(n);
        }
        let mut gated: Vec<Net> = Vec::new();
        for c in CELLS {
            let name =
                if c == Cell::Rnn { "tanh RNN, PyTorch's default W_hh".to_string() } else { c.name().to_string() };
            let mut n = Net { name, rnn: c == Cell::Rnn, ..Default::default() };
            for &s in &seeds {
                let (i, t) =
                    (cell_run(p, c, s, false, ProbeKind::Gradflow), cell_run(p, c, s, true, ProbeKind::Gradflow));
                collect(&mut n, &i, &t, runs)?;
            }
            gated.push(n);
        }
        let mut measured = Vec::new();
        // (1) Every net with sigma_max < 1 decays, at initialisation and after training.
        for n in grid.iter().chain(&gated) {
            for (when, s, slope, present) in [
                ("at initialisation", n.s_init(), n.slope_init(), !n.init.is_empty()),
                ("after training", n.s_trained(), n.slope_trained(), !n.trained.is_empty()),
            ] {
                if !n.rnn || !present || !(s < 1.0) {
                    continue;
                }
                measured.push(
                    Measure::new(
                        format!("slope of ln ||dL/dh_t|| per step, {} {when} (sigma_max {})", n.name, num(s)),
                        slope,
                        format!("{} per step", num(slope)),
                    )
                    .must("< 0", slope.is_finite().then_some(slope < 0.0)),
                );
            }
        }
        // (2) At initialisation the slope rises strictly with the radius.
        let slopes: Vec<f64> = grid.iter().map(Net::slope_init).collect();
        let rises = slopes.windows(2).filter(|w| w[1] > w[0]).count();
        let steps = slopes.len().saturating_sub(1);
        let all_finite = slopes.iter().all(|s| s.is_finite());
        measured.push(
            Measure::new(
                "steps of the radius grid where the slope at initialisation rises",
                rises as f64,
                format!("{rises} of {steps}"),
            )
            .must(format!("all {steps}"), (all_finite && steps > 0).then_some(rises == steps)),
        );
        // (3) After training, gated nets keep far more of the gradient over T steps.
        let rnn = &gated[0];
        for g in [&gated[2], &gated[3]] {
            let ratio = g.ratio_trained() / rnn.ratio_trained();
            measured.push(
                Measure::new(
                    format!("far-to-near ratio after training, {} / tanh RNN (default W_hh)", g.name),
                    ratio,
                    format!("{} ({} / {})", num(ratio), num(g.ratio_trained()), num(rnn.ratio_trained())),
                )
                .must(">= 100", (!ratio.is_nan()).then_some(ratio >= 100.0)),
            );
        }

        let mut t_grid = Table::new(
            "Tanh RNNs over the spectral radius of W_hh",
            &[
                "radius",
                "sigma_max at init",
                "Pascanu: vanishing implied",
                "slope at init",
                "bound ln sigma_max",
                "far/near at init",
                "sigma_max trained",
                "slope trained",
                "far/near trained",
                "test MSE",
            ],
        )
        .caption(format!("Slopes: least-squares fits of ln ||dL/dh_t|| per step back in time (nats per step; negative: decaying). Since ||dh_t/dh_(t-1)|| <= sigma_max * max tanh' <= sigma_max, the slope can be no larger than ln sigma_max. far/near = ||dL/dh_0|| / ||dL/dh_(T-1)||. Means over {} seed(s) (ratios: geometric means).", seeds.len()));
        let implied = |s: f64| if s < 1.0 { "yes (sigma_max < 1)" } else { "not determined" }.to_string();
        for n in &grid {
            t_grid.row(vec![
                num(n.radius.unwrap_or(f64::NAN)),
                num(n.s_init()),
                implied(n.s_init()),
                num(n.slope_init()),
                num(n.s_init().ln()),
                num(n.ratio_init()),
                num(n.s_trained()),
                num(n.slope_trained()),
                num(n.ratio_trained()),
                num(mean(&n.mse)),
            ]);
        }
        let mut t_gated = Table::new(
            "The default-init RNN and the gated nets",
            &["net", "sigma_max(weight_hh) at init", "slope at init", "far/near at init", "sigma_max trained", "slope trained", "far/near trained", "test MSE"],
        )
        .caption("As above, for the hidden state h_t (LSTM: not its cell state). For gated cells weight_hh stacks G gate blocks (G*H x H) and the gates, not W_hh alone, set the Jacobian, so Pascanu's bound does not apply to them as it stands.");
        for n in &gated {
            t_gated.row(vec![
                n.name.clone(),
                num(n.s_init()),
                num(n.slope_init()),
                num(n.ratio_init()),
                num(n.s_trained()),
                num(n.slope_trained()),
                num(n.ratio_trained()),
                num(mean(&n.mse)),
            ]);
        }

        let mut figs = Vec::new();
        for (when, trained) in [("at initialisation", false), ("after training", true)] {
            let mut plot = LinePlot::new(
                format!("||dL/dh_t|| against the distance from the loss, {when}"),
                "steps before the last (the loss's step)",
                "||dL/dh_t|| (first seed)",
            )
            .log_y(true);
            for (i, n) in grid.iter().chain(&gated).enumerate() {
                let f = if trained { n.trained.first() } else { n.init.first() };
                if let Some(f) = f {
                    let s = Series::new(n.name.clone(), curve(f)).color(i);
                    plot = plot.series(if n.radius.is_some() { s } else { s.dashed() });
                }
            }
            figs.push(Figure::new(
                format!("Gradient against distance, {when}"),
                "The gradflow probe's mean over 4 batches of ||dL/dh_t|| for the first layer's hidden state; solid: tanh RNNs by spectral radius, dashed: the default-init RNN and the gated nets. Distances where the gradient underflowed to 0 are left out.",
                plot.to_svg(),
            ));
        }
        let pts = |f: &dyn Fn(&Net) -> f64| -> Vec<(f64, f64)> {
            grid.iter().map(|n| (n.radius.unwrap_or(f64::NAN), f(n))).filter(|q| q.1.is_finite()).collect()
        };
        let slope_plot = LinePlot::new(
            "Decay rate against the spectral radius",
            "spectral radius of W_hh at initialisation",
            "slope of ln ||dL/dh_t|| (nats per step)",
        )
        .series(Series::new("at initialisation", pts(&Net::slope_init)).markers().color(0))
        .series(Series::new("after training", pts(&Net::slope_trained)).markers().color(1))
        .series(
            Series::new("bound ln sigma_max (at initialisation)", pts(&|n: &Net| n.s_init().ln())).dashed().color(2),
        )
        .series(Series::new("no decay", vec![(radii(p)[0], 0.0), (*radii(p).last().unwrap(), 0.0)]).dashed().color(3));
        figs.push(Figure::new(
            "Decay rate against the spectral radius",
            "Fitted slope per step back in time of each tanh RNN (mean over seeds) and Pascanu's bound ln sigma_max: the measured slope lies below it; below 0 the gradient vanishes exponentially.",
            slope_plot.to_svg(),
        ));

        let crossing = grid.iter().find(|n| n.s_init() >= 1.0).and_then(|n| n.radius);
        let mut notes = vec![
            "The decay-rate condition is fixed in code as: at initialisation, the fitted slope (mean over seeds) rises strictly from each radius of the grid to the next; it is judged on the whole grid, including radii where Pascanu's condition says nothing.".to_string(),
            "'The RNN' of the after-training comparison is fixed as the tanh RNN with PyTorch's default W_hh (U(-1/sqrt(H), 1/sqrt(H))), the RNN that C10 compares with the gated nets; the trained grid nets are in the table beside it.".to_string(),
        ];
        if grid.iter().chain(&gated).any(|n| n.diverged > 0) {
            let d: Vec<String> = grid.iter().chain(&gated).filter(|n| n.diverged > 0).map(|n| n.name.clone()).collect();
            notes.push(format!("Diverged in training (no trained numbers): {}.", d.join(", ")));
        }
        let note = format!(
            "At initialisation the tanh RNNs' slopes run from {} (radius {}) to {} (radius {}); sigma_max first reaches 1 at radius {} (a Gaussian matrix's sigma_max is about twice its radius). After training the far-to-near ratio is {} for the default-init RNN, {} for the LSTM (bias 1) and {} for the GRU.",
            num(slopes.first().copied().unwrap_or(f64::NAN)),
            num(radii(p)[0]),
            num(slopes.last().copied().unwrap_or(f64::NAN)),
            num(*radii(p).last().unwrap()),
            crossing.map_or("beyond the grid".to_string(), num),
            num(rnn.ratio_trained()),
            num(gated[2].ratio_trained()),
            num(gated[3].ratio_trained()),
        );
        Ok(Analysis {
            tables: vec![t_grid, t_gated],
            figures: figs,
            verdict: Verdict::from_measures(self.title(), self.rule(), self.anchor(), measured, note),
            notes,
        })
    }
}
