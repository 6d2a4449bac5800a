//! C9 bptt-vanishing: gradients vanish in time. ||dL/dh_t|| against the distance from the loss
//! (probe gradflow) for tanh RNNs whose W_hh is a Gaussian matrix rescaled to a grid of
//! spectral radii or an orthogonal matrix times a grid of gains (= its largest singular value),
//! and for an LSTM and a GRU, at initialisation and after training on the adding problem at
//! T = 100; beside it, Pascanu et al.'s sufficient condition for vanishing (largest singular
//! value of W_hh below 1/gamma, gamma = 1 for tanh), with each net's largest singular value
//! computed from its weights.

use super::c10_gated_memory::{self as c10, Cell, Task};
use super::fmt::num;
use super::recurrent::{initial_weight, trained_weight};
use super::runs::json_num as jnum;
use super::{Claim, Experiment, Figure, Findings, Measure, Params, Run, RunSet, Scale, Table};
use crate::config::Config;
use crate::plot::{HeatMap, LinePlot, Series};
use crate::probe::ProbeKind;
use crate::stats::gmean;
use crate::stats::mean;
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

/// Gains of an orthogonal W_hh: every singular value equals the gain, so this grid sets the
/// largest singular value itself (and the spectral radius with it) on both sides of Pascanu's
/// threshold 1, which the Gaussian grid crosses only near radius 0.5.
fn gains(p: &Params) -> Vec<f64> {
    match p.scale {
        Scale::Quick => vec![0.5, 0.8, 0.95, 1.2],
        Scale::Paper => vec![0.5, 0.7, 0.8, 0.9, 0.95, 1.05, 1.2, 1.5],
        Scale::Tiny => vec![0.8, 1.2],
    }
}

/// The default-init tanh RNN (C10's) and the gated nets.
const CELLS: [Cell; 4] = [Cell::Rnn, Cell::LstmBias0, Cell::LstmBias1, Cell::Gru];

/// How a grid net's W_hh starts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Init {
    Spectral(f64),
    Orthogonal(f64),
}

impl Init {
    fn value(self) -> f64 {
        match self {
            Init::Spectral(v) | Init::Orthogonal(v) => v,
        }
    }
    fn name(self) -> String {
        match self {
            Init::Spectral(r) => format!("Gaussian W_hh, spectral radius {}", num(r)),
            Init::Orthogonal(g) => format!("orthogonal W_hh, gain {}", num(g)),
        }
    }
    fn toml(self) -> String {
        match self {
            Init::Spectral(r) => format!("model.hh_init={{ kind = \"spectral\", radius = {r:?} }}"),
            Init::Orthogonal(g) => format!("model.hh_init={{ kind = \"orthogonal\", gain = {g:?} }}"),
        }
    }
}

fn grids(p: &Params) -> [Vec<Init>; 2] {
    [radii(p).into_iter().map(Init::Spectral).collect(), gains(p).into_iter().map(Init::Orthogonal).collect()]
}

fn grid_config(p: &Params, init: Init, seed: u64) -> Config {
    c10::config_with(p, Cell::Rnn, Task::Adding, lag(p), seed, &[init.toml()])
}

fn grid_run(p: &Params, init: Init, seed: u64, trained: bool) -> RunRequest {
    let cfg = grid_config(p, init, seed);
    let label = format!("C9 tanh RNN, {}, seed {seed}", init.name());
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
    let g = r.probe_json(ProbeKind::Gradflow)?;
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
    /// A short name for the heat maps' rows.
    short: String,
    /// A vanilla tanh RNN (Pascanu's condition applies to it as stated).
    rnn: bool,
    init: Option<Init>,
    sigma_init: Vec<f64>,
    sigma_trained: Vec<f64>,
    at_init: Vec<Flow>,
    trained: Vec<Flow>,
    mse: Vec<f64>,
    diverged: usize,
}

impl Net {
    fn slope_init(&self) -> f64 {
        mean(&self.at_init.iter().map(|f| f.slope).collect::<Vec<_>>())
    }
    fn slope_trained(&self) -> f64 {
        mean(&self.trained.iter().map(|f| f.slope).collect::<Vec<_>>())
    }
    fn ratio_init(&self) -> f64 {
        gmean(&self.at_init.iter().map(|f| f.far_to_near).collect::<Vec<_>>())
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
    net.at_init.extend(flow(&ri)?);
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

/// ||dL/dh_t|| against the distance, over the distances where it did not underflow to 0.
fn curve(f: &Flow) -> Vec<(f64, f64)> {
    f.by_distance.iter().enumerate().map(|(d, v)| (d as f64, *v)).filter(|(_, v)| *v > 0.0 && v.is_finite()).collect()
}

/// The first seed's ||dL/dh_t|| / ||dL/dh_(T-1)|| of every net, a heat map row each.
fn heat(nets: &[&Net], trained: bool, when: &str, t: usize) -> String {
    let rows: Vec<Vec<f64>> = nets
        .iter()
        .map(|n| {
            let f = if trained { n.trained.first() } else { n.at_init.first() };
            match f {
                Some(f) => {
                    let d0 = f.by_distance.first().copied().unwrap_or(f64::NAN);
                    f.by_distance.iter().map(|v| v / d0).collect()
                }
                None => vec![f64::NAN; t],
            }
        })
        .collect();
    HeatMap {
        title: format!("||dL/dh_t|| relative to the loss's step, {when}"),
        x_label: "steps before the last (the loss's step)".into(),
        y_label: String::new(),
        row_labels: nets.iter().map(|n| n.short.clone()).collect(),
        x_start: 0.0,
        x_step: 1.0,
        values: rows,
        log: true,
        value_label: "||dL/dh_t|| / ||dL/dh_(T-1)|| (first seed)".into(),
        ..Default::default()
    }
    .to_svg()
}

pub const CLAIM: Claim = Claim {
    id: "C9",
    slug: "bptt-vanishing",
    title: "Gradients vanish in time",
    quote: "our gradients can and do vanish by the time they get back to the beginning.",
    anchor: "Pascanu, Mikolov, Bengio, ICML 2013: for a tanh RNN (gamma = 1 bounds tanh'), a largest singular value of W_hh below 1/gamma suffices for the gradient to vanish exponentially in the distance; above it, gradients can explode (a necessary condition only).",
    rule: "Holds if every tanh RNN whose W_hh has largest singular value below 1 (computed from the weights, at initialisation and after training) has an exponentially decaying gradient (a negative least-squares slope of ln ||dL/dh_t|| against the distance from the loss), the decay rate grows as the radius falls (at initialisation, within each grid (Gaussian W_hh by spectral radius, orthogonal W_hh by gain), the fitted slope rises strictly from each grid point to the next), and after training the far-to-near gradient ratio (||dL/dh_0|| / ||dL/dh_{T-1}||) of the LSTM (forget bias 1) and of the GRU each exceeds that of the tanh RNN with PyTorch's default W_hh (C10's RNN) by a factor of 100.",
    data: &["the adding problem (generated from the seed)"],
};

impl Experiment for C9 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let r: Vec<String> = radii(p).iter().map(|r| num(*r)).collect();
        let g: Vec<String> = gains(p).iter().map(|r| num(*r)).collect();
        let s = c10::seeds(p).len();
        format!(
            "The adding problem at T = {}. Tanh RNNs whose W_hh is a standard Gaussian matrix rescaled to spectral radius {} (model.hh_init = spectral; its largest singular value is about twice the radius), or an orthogonal matrix times a gain {} (every singular value equals the gain, so this grid sets sigma_max itself), the tanh RNN with PyTorch's default W_hh, LSTMs with forget bias 0 and 1 and a GRU, all trained exactly as C10's nets at this lag ({}; the default-init RNN, the LSTMs and the GRU are C10's runs). The gradflow probe averages ||dL/dh_t|| of the layer's hidden state over 4 training batches of 64, at initialisation and after training; slope and far-to-near ratio are its fits over the {} distances (a least-squares line through ln ||dL/dh_t|| where it has not underflowed to 0 in f32). Largest singular values by Jacobi SVD of each net's weight_hh (the whole G*H x H matrix for gated cells), at initialisation (built from the config) and from the final checkpoint. {s} seed(s).",
            lag(p),
            r.join(", "),
            g.join(", "),
            c10::training(p),
            lag(p)
        )
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for s in c10::seeds(p) {
            for i in grids(p).concat() {
                v.push(grid_run(p, i, s, false));
                v.push(grid_run(p, i, s, true));
            }
            for c in CELLS {
                v.push(cell_run(p, c, s, false, ProbeKind::Gradflow));
                v.push(cell_run(p, c, s, true, ProbeKind::Gradflow));
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let seeds = c10::seeds(p);
        let mut families: Vec<Vec<Net>> = Vec::new();
        for family in grids(p) {
            let mut nets = Vec::new();
            for i in family {
                let short = match i {
                    Init::Spectral(r) => format!("Gaussian, radius {}", num(r)),
                    Init::Orthogonal(g) => format!("orthogonal, gain {}", num(g)),
                };
                let mut n = Net {
                    name: format!("tanh RNN, {}", i.name()),
                    short,
                    rnn: true,
                    init: Some(i),
                    ..Default::default()
                };
                for &s in &seeds {
                    collect(&mut n, &grid_run(p, i, s, false), &grid_run(p, i, s, true), runs)?;
                }
                nets.push(n);
            }
            families.push(nets);
        }
        let mut gated: Vec<Net> = Vec::new();
        for c in CELLS {
            let (name, short) = match c {
                Cell::Rnn => ("tanh RNN, PyTorch's default W_hh".to_string(), "tanh RNN, default".to_string()),
                _ => (c.name().to_string(), c.name().to_string()),
            };
            let mut n = Net { name, short, rnn: c == Cell::Rnn, ..Default::default() };
            for &s in &seeds {
                let (i, t) =
                    (cell_run(p, c, s, false, ProbeKind::Gradflow), cell_run(p, c, s, true, ProbeKind::Gradflow));
                collect(&mut n, &i, &t, runs)?;
            }
            gated.push(n);
        }
        let grid: Vec<&Net> = families.iter().flatten().collect();
        let mut measured = Vec::new();
        // (1) Every tanh RNN with sigma_max < 1 decays, at initialisation and after training.
        for n in grid.iter().copied().chain(gated.iter().filter(|n| n.rnn)) {
            for (when, s, slope, present) in [
                ("at init", n.s_init(), n.slope_init(), !n.at_init.is_empty()),
                ("trained", n.s_trained(), n.slope_trained(), !n.trained.is_empty()),
            ] {
                if !present || s.is_nan() || s >= 1.0 {
                    continue;
                }
                measured.push(
                    Measure::new(
                        format!("slope, {}, {when} (sigma_max {})", n.short, num(s)),
                        slope,
                        format!("{} per step", num(slope)),
                    )
                    .must("< 0", slope.is_finite().then_some(slope < 0.0)),
                );
            }
        }
        // (2) At initialisation the slope rises strictly along each grid.
        let mut monotone = Vec::new();
        for (family, what) in families.iter().zip(["spectral radius (Gaussian W_hh)", "gain (orthogonal W_hh)"]) {
            let slopes: Vec<f64> = family.iter().map(Net::slope_init).collect();
            let rises = slopes.windows(2).filter(|w| w[1] > w[0]).count();
            let steps = slopes.len().saturating_sub(1);
            let all_finite = slopes.iter().all(|s| s.is_finite());
            measured.push(
                Measure::new(
                    format!("grid steps where the slope at init rises, {what}"),
                    rises as f64,
                    format!("{rises} of {steps}"),
                )
                .must(format!("all {steps}"), (all_finite && steps > 0).then_some(rises == steps)),
            );
            monotone.push(slopes);
        }
        // (3) After training, gated nets keep far more of the gradient over T steps.
        let rnn = &gated[0];
        for g in [&gated[2], &gated[3]] {
            let ratio = g.ratio_trained() / rnn.ratio_trained();
            measured.push(
                Measure::new(
                    format!("far/near ratio trained, {} / tanh RNN (default)", g.name),
                    ratio,
                    format!("{} ({} / {})", num(ratio), num(g.ratio_trained()), num(rnn.ratio_trained())),
                )
                .must(">= 100", (!ratio.is_nan()).then_some(ratio >= 100.0)),
            );
        }

        let implied = |s: f64| if s < 1.0 { "yes" } else { "not determined" }.to_string();
        let mut t_grid = Table::new(
            "Tanh RNNs over the initial W_hh",
            &[
                "W_hh at init",
                "sigma_max at init",
                "vanishing implied (sigma_max < 1)",
                "slope at init",
                "bound ln sigma_max",
                "far/near at init",
                "sigma_max trained",
                "slope trained",
                "far/near trained",
                "test MSE",
            ],
        )
        .caption(format!("Slopes: least-squares fits of ln ||dL/dh_t|| per step back in time (nats per step; negative: decaying). Since ||dh_t/dh_(t-1)|| <= sigma_max * max tanh' <= sigma_max, the slope can be no larger than ln sigma_max. far/near = ||dL/dh_0|| / ||dL/dh_(T-1)|| (0: underflowed in f32). Means over {} seed(s) (ratios: geometric means). The test MSE of predicting the mean is about 0.167.", seeds.len()));
        for n in &grid {
            t_grid.row(vec![
                n.short.clone(),
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
            &[
                "net",
                "sigma_max(weight_hh) at init",
                "slope at init",
                "far/near at init",
                "sigma_max trained",
                "slope trained",
                "far/near trained",
                "test MSE",
            ],
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
        let every: Vec<&Net> = grid.iter().copied().chain(&gated).collect();
        for (when, trained) in [("at initialisation", false), ("after training", true)] {
            figs.push(Figure::new(
                format!("Gradient against distance, every net, {when}"),
                format!("One row per net (first seed): ||dL/dh_t|| of the first layer's hidden state over the gradflow probe's 4 batches, divided by its value at the loss's step (log colour scale). Vanishing shows as the colour fading from the loss's step (left) towards the first step (right); grey: underflowed to 0 in f32. {}", if trained { "Trained as C10's nets on adding T = 100." } else { "" }),
                heat(&every, trained, when, lag(p)),
            ));
        }
        let mut gp = LinePlot::new(
            "||dL/dh_t|| of the default-init RNN and the gated nets",
            "steps before the last (the loss's step)",
            "||dL/dh_t|| (first seed)",
        )
        .log_y(true);
        for (k, n) in gated.iter().enumerate() {
            if let Some(f) = n.at_init.first() {
                gp = gp.series(Series::new(format!("{}, at init", n.short), curve(f)).dashed().color(k));
            }
            if let Some(f) = n.trained.first() {
                gp = gp.series(Series::new(format!("{}, trained", n.short), curve(f)).color(k));
            }
        }
        figs.push(Figure::new(
            "Gradient against distance, gated nets",
            "The gradflow probe's ||dL/dh_t|| for the first layer's hidden state (first seed), dashed at initialisation and solid after training; distances where it underflowed to 0 are left out.",
            gp.to_svg(),
        ));
        // The sufficient condition beside the measured decay.
        let pts = |fam: &[Net], trained: bool| -> Vec<(f64, f64)> {
            fam.iter()
                .map(|n| if trained { (n.s_trained(), n.slope_trained()) } else { (n.s_init(), n.slope_init()) })
                .filter(|q| q.0.is_finite() && q.1.is_finite())
                .collect()
        };
        let xs: Vec<f64> =
            grid.iter().flat_map(|n| [n.s_init(), n.s_trained()]).filter(|x| x.is_finite() && *x > 0.0).collect();
        let (xlo, xhi) = (xs.iter().copied().fold(f64::INFINITY, f64::min), xs.iter().copied().fold(0.0, f64::max));
        let bound: Vec<(f64, f64)> =
            (0..=40).map(|k| xlo * (xhi / xlo).powf(k as f64 / 40.0)).map(|x| (x, x.ln())).collect();
        let ys: Vec<f64> =
            families.iter().flat_map(|f| pts(f, false).into_iter().chain(pts(f, true))).map(|q| q.1).collect();
        let ylo = ys.iter().copied().fold(0.0, f64::min);
        let mut sp = LinePlot::new(
            "Measured decay rate against Pascanu's condition",
            "largest singular value of W_hh (log scale)",
            "slope of ln ||dL/dh_t|| (nats per step)",
        )
        .log_x(true);
        if xlo.is_finite() && xhi > xlo {
            sp = sp.series(Series::new("bound: slope <= ln sigma_max", bound).dashed().color(7)).series(
                Series::new(
                    "sigma_max = 1 (left of it: vanishing implied)",
                    vec![(1.0, ylo), (1.0, 0.0f64.max(xhi.ln()))],
                )
                .dashed()
                .color(5),
            );
        }
        for (k, (fam, what)) in families.iter().zip(["Gaussian", "orthogonal"]).enumerate() {
            sp = sp
                .series(Series::new(format!("{what} W_hh, at init"), pts(fam, false)).markers().color(2 * k))
                .series(Series::new(format!("{what} W_hh, trained"), pts(fam, true)).points_only().color(2 * k + 1));
        }
        figs.push(Figure::new(
            "Decay rate against the largest singular value",
            format!("Each tanh RNN's fitted slope of ln ||dL/dh_t|| per step back in time (mean over {} seed(s)) against its W_hh's largest singular value, at initialisation (lines through the grid) and after training (points). Pascanu et al.: left of sigma_max = 1 the gradient must vanish; the measured slope must lie below ln sigma_max everywhere.", seeds.len()),
            sp.to_svg(),
        ));

        let crossing = families[0].iter().find(|n| n.s_init() >= 1.0).and_then(|n| n.init).map(Init::value);
        let mut notes = vec![
            "The decay-rate condition is fixed in code as: at initialisation, the fitted slope (mean over seeds) rises strictly from each point of the grid to the next, in each of the two grids (Gaussian W_hh by spectral radius; orthogonal W_hh by gain, where the gain is both the spectral radius and sigma_max); it is judged on the whole grid, including points where Pascanu's condition says nothing.".to_string(),
            "'The RNN' of the after-training comparison is fixed as the tanh RNN with PyTorch's default W_hh (U(-1/sqrt(H), 1/sqrt(H))), the RNN that C10 compares with the gated nets; the trained grid nets are in the table beside it. Far-to-near ratios are geometric means over seeds, 0 when a seed's gradient underflowed to 0 in f32 at the far end (then a gated net's ratio over it is infinite).".to_string(),
        ];
        let d: Vec<String> = every.iter().filter(|n| n.diverged > 0).map(|n| n.name.clone()).collect();
        if !d.is_empty() {
            notes.push(format!("Diverged in training (no trained numbers): {}.", d.join(", ")));
        }
        let r = radii(p);
        let note = format!(
            "At initialisation the Gaussian-W_hh RNNs' slopes run from {} (radius {}) to {} (radius {}) and the orthogonal ones' from {} (gain {}) to {} (gain {}); in the Gaussian grid sigma_max first reaches 1 at radius {}. After training the far-to-near ratio is {} for the default-init RNN, {} for the LSTM (bias 1) and {} for the GRU.",
            num(monotone[0].first().copied().unwrap_or(f64::NAN)),
            num(r[0]),
            num(monotone[0].last().copied().unwrap_or(f64::NAN)),
            num(*r.last().unwrap()),
            num(monotone[1].first().copied().unwrap_or(f64::NAN)),
            num(gains(p)[0]),
            num(monotone[1].last().copied().unwrap_or(f64::NAN)),
            num(*gains(p).last().unwrap()),
            crossing.map_or("beyond the grid".to_string(), num),
            num(rnn.ratio_trained()),
            num(gated[2].ratio_trained()),
            num(gated[3].ratio_trained()),
        );
        Ok(Findings { tables: vec![t_grid, t_gated], figures: figs, measured, note, notes })
    }
}
