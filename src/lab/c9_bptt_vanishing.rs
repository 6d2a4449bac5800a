//! C9 bptt-vanishing: gradients vanish in time. ||dL/dh_t|| against the distance from the loss
//! (probe gradflow) for tanh RNNs whose W_hh is a Gaussian matrix rescaled to a grid of
//! spectral radii or an orthogonal matrix times a grid of gains (= its largest singular value),
//! and for an LSTM and a GRU, at initialisation and after training on the adding problem at
//! T = 100; beside it, Pascanu et al.'s sufficient condition for vanishing (largest singular
//! value of W_hh below 1/gamma, gamma = 1 for tanh), with each net's largest singular value
//! computed from its weights.

use super::fmt::num;
use super::recipes::recurrent::{adding_lag, probed, Cell, Recipe, Task, V1};
use super::recurrent::{initial_weight, trained_weight};
use super::{Claim, Experiment, Figure, Findings, Measure, Params, PerScale, Protocol, Run, RunSet, Scale, Table};
use crate::plot::{HeatMap, LinePlot, Series};
use crate::probe::gradflow::{SeqGradflow, TimeSeries};
use crate::probe::ProbeKind;
use crate::stats::{gmean, mean};
use crate::sweep::RunRequest;

pub struct C9;

/// Protocol v1's recurrent nets, C10's first setup: C9 keeps these runs whatever C10 moves on to.
const RECIPE: &Recipe = &V1;

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

/// A net of the claim: a tanh RNN of a grid, or one of C10's nets.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Grid(Init),
    Cell(Cell),
}

impl Kind {
    /// Its runs with `seed`: probed at initialisation, and after training on the adding problem.
    fn runs(self, p: &Params, seed: u64) -> [RunRequest; 2] {
        let run = match self {
            Kind::Grid(init) => {
                let cfg = RECIPE.config(p, Cell::Rnn, Task::Adding, adding_lag(p), seed, &[init.toml()]);
                RunRequest::train(cfg, format!("C9 tanh RNN, {}, seed {seed}", init.name()))
            }
            Kind::Cell(cell) => RECIPE.run(p, cell, Task::Adding, adding_lag(p), seed),
        };
        probed(run, ProbeKind::Gradflow)
    }

    fn name(self) -> String {
        match self {
            Kind::Grid(init) => format!("tanh RNN, {}", init.name()),
            Kind::Cell(Cell::Rnn) => "tanh RNN, PyTorch's default W_hh".into(),
            Kind::Cell(c) => c.name().into(),
        }
    }

    /// A short name for the heat maps' rows.
    fn short(self) -> String {
        match self {
            Kind::Grid(Init::Spectral(r)) => format!("Gaussian, radius {}", num(r)),
            Kind::Grid(Init::Orthogonal(g)) => format!("orthogonal, gain {}", num(g)),
            Kind::Cell(Cell::Rnn) => "tanh RNN, default".into(),
            Kind::Cell(c) => c.name().into(),
        }
    }

    /// A vanilla tanh RNN (Pascanu's condition applies to it as stated).
    fn rnn(self) -> bool {
        matches!(self, Kind::Grid(_) | Kind::Cell(Cell::Rnn))
    }
}

/// What one seed of a net gave: the first layer's hidden state's gradient along time (at
/// initialisation and after training) and the largest singular value of its weight_hh.
struct Seed {
    at_init: TimeSeries,
    sigma_init: f64,
    /// None when training diverged.
    trained: Option<Trained>,
}

struct Trained {
    flow: TimeSeries,
    sigma: f64,
    mse: f64,
}

/// The hidden state's gradient along time, as the gradflow probe measured it.
fn flow(r: &Run) -> Result<TimeSeries, String> {
    let series = r.probe::<SeqGradflow>()?.series.into_iter().find(|s| s.name == "act.rnn.l0.h");
    series.ok_or_else(|| r.error("probes/gradflow.json", "no series `act.rnn.l0.h`"))
}

fn seed(init: &RunRequest, trained: &RunRequest, runs: &RunSet) -> Result<Seed, String> {
    let at_init = flow(&runs.get(init)?)?;
    let sigma_init = initial_weight(&init.config, "rnn.weight_hh_l0")?.sigma_max();
    let r = runs.get(trained)?;
    let trained = if r.diverged() {
        None
    } else {
        let sigma = trained_weight(&r, "rnn.weight_hh_l0")?.sigma_max();
        Some(Trained { flow: flow(&r)?, sigma, mse: r.summary().test_loss.unwrap_or(f64::NAN) })
    };
    Ok(Seed { at_init, sigma_init, trained })
}

/// One net over its seeds.
struct Net {
    kind: Kind,
    seeds: Vec<Seed>,
}

/// A net's numbers over a set of seeds: means (far-to-near ratios: geometric means), the
/// trained ones over the seeds whose training did not diverge.
struct Means {
    sigma_init: f64,
    slope_init: f64,
    ratio_init: f64,
    /// Whether any of the seeds finished training.
    trained: bool,
    sigma_trained: f64,
    slope_trained: f64,
    ratio_trained: f64,
    mse: f64,
}

impl Net {
    fn over(&self, seeds: &[usize]) -> Means {
        let init = |f: &dyn Fn(&Seed) -> f64| seeds.iter().map(|&s| f(&self.seeds[s])).collect::<Vec<f64>>();
        let trained: Vec<&Trained> = seeds.iter().filter_map(|&s| self.seeds[s].trained.as_ref()).collect();
        let after = |f: &dyn Fn(&Trained) -> f64| trained.iter().map(|t| f(t)).collect::<Vec<f64>>();
        Means {
            sigma_init: mean(&init(&|s| s.sigma_init)),
            slope_init: mean(&init(&|s| s.at_init.slope_per_step)),
            ratio_init: gmean(&init(&|s| s.at_init.far_to_near)),
            trained: !trained.is_empty(),
            sigma_trained: mean(&after(&|t| t.sigma)),
            slope_trained: mean(&after(&|t| t.flow.slope_per_step)),
            ratio_trained: gmean(&after(&|t| t.flow.far_to_near)),
            mse: mean(&after(&|t| t.mse)),
        }
    }

    fn all(&self) -> Means {
        self.over(&(0..self.seeds.len()).collect::<Vec<_>>())
    }

    /// The first seed's gradient along time (after training: the first seed that finished).
    fn first(&self, trained: bool) -> Option<&TimeSeries> {
        if trained {
            self.seeds.iter().find_map(|s| s.trained.as_ref().map(|t| &t.flow))
        } else {
            self.seeds.first().map(|s| &s.at_init)
        }
    }
}

/// The two grids of tanh RNNs (Gaussian W_hh by spectral radius, orthogonal by gain) and the
/// nets of `CELLS`.
struct Data {
    grids: [Vec<Net>; 2],
    cells: Vec<Net>,
}

impl Data {
    fn cell(&self, c: Cell) -> &Net {
        self.cells.iter().find(|n| n.kind == Kind::Cell(c)).expect("every cell of CELLS is read")
    }

    /// The grid nets, then the cells.
    fn every(&self) -> impl Iterator<Item = &Net> {
        self.grids.iter().flatten().chain(&self.cells)
    }
}

fn read(p: &Params, runs: &RunSet) -> Result<Data, String> {
    let net = |kind: Kind| -> Result<Net, String> {
        let seeds = CLAIM.seeds(p).into_iter().map(|s| {
            let [init, trained] = kind.runs(p, s);
            seed(&init, &trained, runs)
        });
        Ok(Net { kind, seeds: seeds.collect::<Result<_, _>>()? })
    };
    let grid = |g: Vec<Init>| g.into_iter().map(|i| net(Kind::Grid(i))).collect::<Result<Vec<_>, _>>();
    let [gaussian, orthogonal] = grids(p);
    Ok(Data {
        grids: [grid(gaussian)?, grid(orthogonal)?],
        cells: CELLS.into_iter().map(|c| net(Kind::Cell(c))).collect::<Result<_, _>>()?,
    })
}

/// The rule over the runs of `seeds` (indices into each net's seeds).
fn judge(d: &Data, seeds: &[usize]) -> Vec<Measure> {
    let mut measured = Vec::new();
    // (1) Every tanh RNN with sigma_max < 1 decays, at initialisation and after training.
    for n in d.every().filter(|n| n.kind.rnn()) {
        let m = n.over(seeds);
        for (when, s, slope, present) in [
            ("at init", m.sigma_init, m.slope_init, !seeds.is_empty()),
            ("trained", m.sigma_trained, m.slope_trained, m.trained),
        ] {
            if !present || s.is_nan() || s >= 1.0 {
                continue;
            }
            measured.push(
                Measure::new(
                    format!("slope, {}, {when} (sigma_max {})", n.kind.short(), num(s)),
                    slope,
                    format!("{} per step", num(slope)),
                )
                .must("< 0", slope.is_finite().then_some(slope < 0.0)),
            );
        }
    }
    // (2) At initialisation the slope rises strictly along each grid.
    for (grid, what) in d.grids.iter().zip(["spectral radius (Gaussian W_hh)", "gain (orthogonal W_hh)"]) {
        let slopes: Vec<f64> = grid.iter().map(|n| n.over(seeds).slope_init).collect();
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
    }
    // (3) After training, gated nets keep far more of the gradient over T steps.
    let rnn = d.cell(Cell::Rnn).over(seeds).ratio_trained;
    for g in [d.cell(Cell::LstmBias1), d.cell(Cell::Gru)] {
        let gated = g.over(seeds).ratio_trained;
        let ratio = gated / rnn;
        measured.push(
            Measure::new(
                format!("far/near ratio trained, {} / tanh RNN (default)", g.kind.name()),
                ratio,
                format!("{} ({} / {})", num(ratio), num(gated), num(rnn)),
            )
            .must(">= 100", (!ratio.is_nan()).then_some(ratio >= 100.0)),
        );
    }
    measured
}

/// The columns both tables end with: the far-to-near ratio at initialisation and the numbers
/// after training.
fn trained_cells(m: &Means) -> [String; 5] {
    [num(m.ratio_init), num(m.sigma_trained), num(m.slope_trained), num(m.ratio_trained), num(m.mse)]
}

fn tables(d: &Data, n_seeds: usize) -> Vec<Table> {
    let implied = |s: f64| if s < 1.0 { "yes" } else { "not determined" }.to_string();
    let mut grid = Table::new(
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
    .caption(format!("Slopes: least-squares fits of ln ||dL/dh_t|| per step back in time (nats per step; negative: decaying). Since ||dh_t/dh_(t-1)|| <= sigma_max * max tanh' <= sigma_max, the slope can be no larger than ln sigma_max. far/near = ||dL/dh_0|| / ||dL/dh_(T-1)|| (0: underflowed in f32). Means over {n_seeds} seed(s) (ratios: geometric means). The test MSE of predicting the mean is about 0.167."));
    for n in d.grids.iter().flatten() {
        let m = n.all();
        let init =
            [n.kind.short(), num(m.sigma_init), implied(m.sigma_init), num(m.slope_init), num(m.sigma_init.ln())];
        grid.row([init.as_slice(), &trained_cells(&m)].concat());
    }
    let mut cells = Table::new(
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
    for n in &d.cells {
        let m = n.all();
        cells.row([[n.kind.name(), num(m.sigma_init), num(m.slope_init)].as_slice(), &trained_cells(&m)].concat());
    }
    vec![grid, cells]
}

/// ||dL/dh_t|| against the distance, over the distances where it did not underflow to 0.
fn curve(f: &TimeSeries) -> Vec<(f64, f64)> {
    f.by_distance.iter().enumerate().map(|(d, v)| (d as f64, *v)).filter(|(_, v)| *v > 0.0 && v.is_finite()).collect()
}

/// The first seed's ||dL/dh_t|| / ||dL/dh_(T-1)|| of every net, a heat map row each.
fn heat(d: &Data, trained: bool, when: &str, t: usize) -> String {
    let rows: Vec<Vec<f64>> = d
        .every()
        .map(|n| match n.first(trained) {
            Some(f) => {
                let d0 = f.by_distance.first().copied().unwrap_or(f64::NAN);
                f.by_distance.iter().map(|v| v / d0).collect()
            }
            None => vec![f64::NAN; t],
        })
        .collect();
    HeatMap {
        title: format!("||dL/dh_t|| relative to the loss's step, {when}"),
        x_label: "steps before the last (the loss's step)".into(),
        y_label: String::new(),
        row_labels: d.every().map(|n| n.kind.short()).collect(),
        x_start: 0.0,
        x_step: 1.0,
        values: rows,
        log: true,
        value_label: "||dL/dh_t|| / ||dL/dh_(T-1)|| (first seed)".into(),
        ..Default::default()
    }
    .to_svg()
}

/// Each grid net's slope against its largest singular value, with Pascanu's bound.
fn decay_plot(d: &Data) -> LinePlot {
    let pts = |grid: &[Net], trained: bool| -> Vec<(f64, f64)> {
        grid.iter()
            .map(|n| n.all())
            .map(|m| if trained { (m.sigma_trained, m.slope_trained) } else { (m.sigma_init, m.slope_init) })
            .filter(|q| q.0.is_finite() && q.1.is_finite())
            .collect()
    };
    let xs: Vec<f64> = d
        .grids
        .iter()
        .flatten()
        .map(|n| n.all())
        .flat_map(|m| [m.sigma_init, m.sigma_trained])
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    let (xlo, xhi) = (xs.iter().copied().fold(f64::INFINITY, f64::min), xs.iter().copied().fold(0.0, f64::max));
    let bound: Vec<(f64, f64)> =
        (0..=40).map(|k| xlo * (xhi / xlo).powf(k as f64 / 40.0)).map(|x| (x, x.ln())).collect();
    let ys: Vec<f64> =
        d.grids.iter().flat_map(|g| pts(g, false).into_iter().chain(pts(g, true))).map(|q| q.1).collect();
    let ylo = ys.iter().copied().fold(0.0, f64::min);
    let mut sp = LinePlot::new(
        "Measured decay rate against Pascanu's condition",
        "largest singular value of W_hh (log scale)",
        "slope of ln ||dL/dh_t|| (nats per step)",
    )
    .log_x(true);
    if xlo.is_finite() && xhi > xlo {
        sp = sp.series(Series::new("bound: slope <= ln sigma_max", bound).dashed().color(7)).series(
            Series::new("sigma_max = 1 (left of it: vanishing implied)", vec![(1.0, ylo), (1.0, 0.0f64.max(xhi.ln()))])
                .dashed()
                .color(5),
        );
    }
    for (k, (grid, what)) in d.grids.iter().zip(["Gaussian", "orthogonal"]).enumerate() {
        sp = sp
            .series(Series::new(format!("{what} W_hh, at init"), pts(grid, false)).markers().color(2 * k))
            .series(Series::new(format!("{what} W_hh, trained"), pts(grid, true)).points_only().color(2 * k + 1));
    }
    sp
}

fn figures(p: &Params, d: &Data, n_seeds: usize) -> Vec<Figure> {
    let mut figs = Vec::new();
    for (when, trained) in [("at initialisation", false), ("after training", true)] {
        figs.push(Figure::new(
            format!("Gradient against distance, every net, {when}"),
            format!("One row per net (first seed): ||dL/dh_t|| of the first layer's hidden state over the gradflow probe's 4 batches, divided by its value at the loss's step (log colour scale). Vanishing shows as the colour fading from the loss's step (left) towards the first step (right); grey: underflowed to 0 in f32. {}", if trained { "Trained as C10's nets on adding T = 100." } else { "" }),
            heat(d, trained, when, adding_lag(p)),
        ));
    }
    let mut gp = LinePlot::new(
        "||dL/dh_t|| of the default-init RNN and the gated nets",
        "steps before the last (the loss's step)",
        "||dL/dh_t|| (first seed)",
    )
    .log_y(true);
    for (k, n) in d.cells.iter().enumerate() {
        if let Some(f) = n.first(false) {
            gp = gp.series(Series::new(format!("{}, at init", n.kind.short()), curve(f)).dashed().color(k));
        }
        if let Some(f) = n.first(true) {
            gp = gp.series(Series::new(format!("{}, trained", n.kind.short()), curve(f)).color(k));
        }
    }
    figs.push(Figure::new(
        "Gradient against distance, gated nets",
        "The gradflow probe's ||dL/dh_t|| for the first layer's hidden state (first seed), dashed at initialisation and solid after training; distances where it underflowed to 0 are left out.",
        gp.to_svg(),
    ));
    figs.push(Figure::new(
        "Decay rate against the largest singular value",
        format!("Each tanh RNN's fitted slope of ln ||dL/dh_t|| per step back in time (mean over {n_seeds} seed(s)) against its W_hh's largest singular value, at initialisation (lines through the grid) and after training (points). Pascanu et al.: left of sigma_max = 1 the gradient must vanish; the measured slope must lie below ln sigma_max everywhere."),
        decay_plot(d).to_svg(),
    ));
    figs
}

/// Where each grid's slopes run, where sigma_max crosses 1, and the trained ratios.
fn note(p: &Params, d: &Data) -> String {
    let ends = |g: &[Net]| {
        let slope = |n: Option<&Net>| n.map_or(f64::NAN, |n| n.all().slope_init);
        (num(slope(g.first())), num(slope(g.last())))
    };
    let ((g0, g1), (o0, o1)) = (ends(&d.grids[0]), ends(&d.grids[1]));
    let crossing = d.grids[0].iter().find(|n| n.all().sigma_init >= 1.0).map(|n| n.kind);
    let crossing = match crossing {
        Some(Kind::Grid(init)) => num(init.value()),
        _ => "beyond the grid".to_string(),
    };
    let (r, g) = (radii(p), gains(p));
    let ratio = |c: Cell| num(d.cell(c).all().ratio_trained);
    format!(
        "At initialisation the Gaussian-W_hh RNNs' slopes run from {g0} (radius {}) to {g1} (radius {}) and the orthogonal ones' from {o0} (gain {}) to {o1} (gain {}); in the Gaussian grid sigma_max first reaches 1 at radius {crossing}. After training the far-to-near ratio is {} for the default-init RNN, {} for the LSTM (bias 1) and {} for the GRU.",
        num(r[0]),
        num(*r.last().unwrap()),
        num(g[0]),
        num(*g.last().unwrap()),
        ratio(Cell::Rnn),
        ratio(Cell::LstmBias1),
        ratio(Cell::Gru),
    )
}

fn notes(d: &Data) -> Vec<String> {
    let mut notes = vec![
        "The decay-rate condition is fixed in code as: at initialisation, the fitted slope (mean over seeds) rises strictly from each point of the grid to the next, in each of the two grids (Gaussian W_hh by spectral radius; orthogonal W_hh by gain, where the gain is both the spectral radius and sigma_max); it is judged on the whole grid, including points where Pascanu's condition says nothing.".to_string(),
        "'The RNN' of the after-training comparison is fixed as the tanh RNN with PyTorch's default W_hh (U(-1/sqrt(H), 1/sqrt(H))), the RNN that C10 compares with the gated nets; the trained grid nets are in the table beside it. Far-to-near ratios are geometric means over seeds, 0 when a seed's gradient underflowed to 0 in f32 at the far end (then a gated net's ratio over it is infinite).".to_string(),
    ];
    let diverged: Vec<String> =
        d.every().filter(|n| n.seeds.iter().any(|s| s.trained.is_none())).map(|n| n.kind.name()).collect();
    if !diverged.is_empty() {
        notes.push(format!("Diverged in training (no trained numbers): {}.", diverged.join(", ")));
    }
    notes
}

pub const CLAIM: Claim = Claim {
    id: "C9",
    slug: "bptt-vanishing",
    title: "Gradients vanish in time",
    quote: "our gradients can and do vanish by the time they get back to the beginning.",
    anchor: "Pascanu, Mikolov, Bengio, ICML 2013: for a tanh RNN (gamma = 1 bounds tanh'), a largest singular value of W_hh below 1/gamma suffices for the gradient to vanish exponentially in the distance; above it, gradients can explode (a necessary condition only).",
    rule: "Holds if every tanh RNN whose W_hh has largest singular value below 1 (computed from the weights, at initialisation and after training) has an exponentially decaying gradient (a negative least-squares slope of ln ||dL/dh_t|| against the distance from the loss), the decay rate grows as the radius falls (at initialisation, within each grid (Gaussian W_hh by spectral radius, orthogonal W_hh by gain), the fitted slope rises strictly from each grid point to the next), and after training the far-to-near gradient ratio (||dL/dh_0|| / ||dL/dh_{T-1}||) of the LSTM (forget bias 1) and of the GRU each exceeds that of the tanh RNN with PyTorch's default W_hh (C10's RNN) by a factor of 100.",
    data: &["the adding problem (generated from the seed)"],
    anchor_headline: "Pascanu et al.: largest singular value of W_hh < 1 suffices for vanishing",
    seeds: PerScale { quick: 3, paper: 3, tiny: 1 },
    protocol: Protocol::UNCHANGED,
};

impl Experiment for C9 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let r: Vec<String> = radii(p).iter().map(|r| num(*r)).collect();
        let g: Vec<String> = gains(p).iter().map(|r| num(*r)).collect();
        let s = CLAIM.seeds(p).len();
        format!(
            "The adding problem at T = {}. Tanh RNNs whose W_hh is a standard Gaussian matrix rescaled to spectral radius {} (model.hh_init = spectral; its largest singular value is about twice the radius), or an orthogonal matrix times a gain {} (every singular value equals the gain, so this grid sets sigma_max itself), the tanh RNN with PyTorch's default W_hh, LSTMs with forget bias 0 and 1 and a GRU, all trained exactly as C10's nets at this lag ({}; the recurrent recipe of protocol v1, which v2 keeps for C9; C10's v2 nets are trained longer). The gradflow probe averages ||dL/dh_t|| of the layer's hidden state over 4 training batches of 64, at initialisation and after training; slope and far-to-near ratio are its fits over the {} distances (a least-squares line through ln ||dL/dh_t|| where it has not underflowed to 0 in f32). Largest singular values by Jacobi SVD of each net's weight_hh (the whole G*H x H matrix for gated cells), at initialisation (built from the config) and from the final checkpoint. {s} seed(s).",
            adding_lag(p),
            r.join(", "),
            g.join(", "),
            RECIPE.training(p),
            adding_lag(p)
        )
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let kinds: Vec<Kind> = grids(p).concat().into_iter().map(Kind::Grid).chain(CELLS.map(Kind::Cell)).collect();
        CLAIM.seeds(p).into_iter().flat_map(|s| kinds.iter().flat_map(move |k| k.runs(p, s))).collect()
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let seeds = CLAIM.seeds(p);
        let n_seeds = seeds.len();
        let data = read(p, runs)?;
        let (measured, per_seed) = super::by_seed(&seeds, |s| judge(&data, s));
        Ok(Findings {
            tables: tables(&data, n_seeds),
            figures: figures(p, &data, n_seeds),
            measured,
            per_seed,
            note: note(p, &data),
            notes: notes(&data),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(slope_per_step: f64, far_to_near: f64) -> TimeSeries {
        TimeSeries {
            name: "act.rnn.l0.h".into(),
            by_distance: vec![1.0, 0.5],
            count: vec![4, 4],
            far_to_near,
            slope_per_step,
        }
    }

    /// A seed that starts with (sigma_max, slope) and ends with (sigma_max, far/near), or
    /// diverged (None).
    type Given = ((f64, f64), Option<(f64, f64)>);

    fn net(kind: Kind, seeds: &[Given]) -> Net {
        let seed = |&((sigma_init, slope), trained): &Given| Seed {
            at_init: flow(slope, 1e-3),
            sigma_init,
            trained: trained.map(|(sigma, ratio)| Trained { flow: flow(-0.5, ratio), sigma, mse: 0.1 }),
        };
        Net { kind, seeds: seeds.iter().map(seed).collect() }
    }

    fn data() -> Data {
        let grid = |i: Init, a, b| net(Kind::Grid(i), &[(a, Some((0.5, 1e-9))), (b, None)]);
        let cell = |c: Cell, ratio: f64| net(Kind::Cell(c), &[((0.5, -0.5), Some((0.9, ratio))); 2]);
        Data {
            grids: [
                vec![
                    grid(Init::Spectral(0.1), (0.2, -2.0), (0.2, -2.2)),
                    grid(Init::Spectral(1.0), (2.0, -0.1), (2.0, -3.0)),
                ],
                vec![
                    grid(Init::Orthogonal(0.5), (0.5, -0.7), (0.5, -0.7)),
                    grid(Init::Orthogonal(1.2), (1.2, 0.1), (1.2, 0.2)),
                ],
            ],
            cells: vec![
                cell(Cell::Rnn, 0.0),
                cell(Cell::LstmBias0, 1e-6),
                cell(Cell::LstmBias1, 1e-3),
                cell(Cell::Gru, 1e-2),
            ],
        }
    }

    fn met(d: &Data, seeds: &[usize], name: &str) -> Vec<Option<bool>> {
        judge(d, seeds).into_iter().filter(|m| m.name.contains(name)).map(|m| m.met).collect()
    }

    #[test]
    fn the_rule_reads_any_subset_of_the_seeds() {
        let d = data();
        // At init: the two grid nets with sigma_max < 1 and the default RNN; trained (sigma_max
        // 0.5 and 0.9): the four grid nets of the first seed (the second diverged) and the RNN.
        assert_eq!(met(&d, &[0, 1], "slope, ").len(), 3 + 5);
        assert_eq!(met(&d, &[1], "slope, ").len(), 3 + 1, "seed 2's grid nets diverged");
        assert_eq!(met(&d, &[0], "grid steps"), [Some(true), Some(true)]);
        assert_eq!(met(&d, &[1], "grid steps"), [Some(false), Some(true)], "-2.2 to -3.0 falls");
        assert_eq!(met(&d, &[0, 1], "grid steps"), [Some(true), Some(true)], "means: -2.1 to -1.55");
    }

    #[test]
    fn gated_nets_must_keep_a_hundred_times_the_rnns_far_to_near_ratio() {
        let mut d = data();
        // The RNN's gradient underflowed to 0 at the far end: any gated ratio is infinitely more.
        assert_eq!(met(&d, &[0], "far/near"), [Some(true), Some(true)]);
        d.cells[0] = net(Kind::Cell(Cell::Rnn), &[((0.5, -0.5), Some((0.9, 2e-5))); 2]);
        assert_eq!(met(&d, &[0], "far/near"), [Some(false), Some(true)], "1e-3 / 2e-5 = 50; 1e-2 / 2e-5 = 500");
    }
}
