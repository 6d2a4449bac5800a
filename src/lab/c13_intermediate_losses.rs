//! C13 intermediate-losses: losses below the top anchor what lower layers learn. (a) A deep
//! plain MNIST net with and without two auxiliary heads (GoogLeNet's weight 0.3), and the share
//! of each layer's gradient the heads supply (probe aux_share). (b) A 3-layer bidirectional
//! LSTM tagger on the Brown corpus: base tags supervised at the lowest layer and full tags at
//! the top (Søgaard & Goldberg's low supervision), against both at the top and full tags alone.

use super::figure::over_seeds;
use super::fmt::{list, mean_pm, num, pct};
use super::recipes::mnist;
use super::{
    by_seed, Claim, Configs, Experiment, Figure, Findings, Measure, Outcome, Params, PerScale, Protocol, Run, RunSet,
    Scale, Table,
};
use crate::plot::{BarGroup, BarPlot, LinePlot, Series};
use crate::probe::aux_share::{AuxShare, ShareLayer};
use crate::probe::ProbeKind;
use crate::stats::{mean, min_max, std};
use crate::sweep::RunRequest;

pub struct C13;

// ---- (a) a deep plain net with auxiliary heads ----

/// GoogLeNet's auxiliary-loss weight.
const AUX_WEIGHT: f64 = 0.3;

/// C4's stacks (the recipe): a plain tanh stack of width 50 at depth 50 (protocol v2; v1 took
/// depth 30), where the CPU reference's plain nets fail from depth 20 on; at paper scale all of
/// MNIST, SGD with momentum as Lee et al. and GoogLeNet trained, longer.
fn a_depth(p: &Params) -> usize {
    match p.scale {
        Scale::Tiny => 6,
        _ => 50,
    }
}

/// The heads: on every third layer below the top (0-based 2, 5, ..., 47 of 50: the top of each
/// group of three), so that every layer has a head at most two layers above it.
fn a_head_layers(p: &Params) -> Vec<usize> {
    let d = a_depth(p);
    (0..d.saturating_sub(1)).filter(|l| (l + 1) % 3 == 0).collect()
}

/// Part (a)'s three nets per seed: with heads and without at the rate v2 fixed, and without
/// heads at v1's rate (the control).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Net {
    Without,
    With,
    /// Without heads at v1's rate: the failure v1 measured, that heads do not address.
    Control,
}

const NETS: [Net; 3] = [Net::Without, Net::With, Net::Control];

impl Net {
    fn name(self) -> &'static str {
        match self {
            Net::Without => "without heads",
            Net::With => "with heads",
            Net::Control => "without heads, v1's rate (control)",
        }
    }
}

/// The learning rates: v2's (Adam 1e-3 at quick scale: at v1's 5e-3 the net without heads
/// fails for a reason heads do not address), and the control's, v1's 5e-3. At paper scale the
/// recipe's SGD rate of 0.01, and 5 times it for the control, as at quick scale.
fn a_lr(p: &Params, net: Net) -> f64 {
    let (rate, control) = match p.scale {
        Scale::Paper => (0.01, 0.05),
        _ => (0.001, 0.005),
    };
    if net == Net::Control {
        control
    } else {
        rate
    }
}

fn a_config(p: &Params, net: Net, seed: u64) -> crate::config::Config {
    let mut sets = vec![
        format!("seed={seed}"),
        "model.arch=\"plain\"".into(),
        format!("model.depth={}", a_depth(p)),
        format!("optim.lr={}", a_lr(p, net)),
    ];
    if net == Net::With {
        let heads: Vec<String> =
            a_head_layers(p).iter().map(|l| format!("{{ layer = {l}, weight = {AUX_WEIGHT} }}")).collect();
        sets.push(format!("model.aux=[{}]", heads.join(", ")));
    }
    mnist::SRIVASTAVA.at(p.scale, &sets)
}

fn a_run(p: &Params, net: Net, seed: u64) -> RunRequest {
    let label = format!("C13a plain depth {} {} (lr {}) seed {seed}", a_depth(p), net.name(), a_lr(p, net));
    let r = RunRequest::train(a_config(p, net, seed), label);
    if net == Net::With {
        r.with_probes(&[ProbeKind::AuxShare])
    } else {
        r
    }
}

fn a_init(p: &Params, seed: u64) -> RunRequest {
    RunRequest::at_init(
        a_config(p, Net::With, seed),
        &[ProbeKind::AuxShare],
        format!("C13a plain depth {} with heads seed {seed}, at initialisation", a_depth(p)),
    )
}

// ---- (b) a tagger supervised low and high ----

/// Sizes chosen for the CPU budget before any comparison was run: the first 3,000 training
/// sentences (about 62k tokens, the news files), the first 1,000 test sentences, words seen
/// once in training as `<unk>`, 32 units per direction, 6 epochs (about 1.3 CPU seconds an
/// epoch). At paper scale Søgaard & Goldberg's 3 BiLSTM layers on the whole corpus (sizes and
/// optimiser are ours: the engine sums the two losses each step rather than alternating tasks
/// by sentence). The pipeline test has no corpus: copy memory, the heads learning its main
/// targets.
const B: Configs = Configs {
    base: r#"
[data]
name = "brown"
tags = "full"
train_subset = 3000
test_subset = 1000
min_count = 2
[model]
arch = "lstm"
depth = 3
width = 32
embed_dim = 32
bidirectional = true
[optim]
lr = 0.01
optimizer = { kind = "adam" }
clip_grad_norm = 5.0
[train]
epochs = 6
batch_size = 32
"#,
    quick: &[],
    paper: &[
        r#"data = { name = "brown", tags = "full" }"#,
        "model.width = 100",
        "model.embed_dim = 64",
        "optim.lr = 0.002",
        "train.epochs = 10",
    ],
    tiny: &[
        r#"data = { name = "copy", t = 3, train = 32, test = 16 }"#,
        r#"model = { arch = "lstm", depth = 3, width = 4, bidirectional = true }"#,
        r#"optim = { lr = 0.01, optimizer = { kind = "adam" } }"#,
        "train = { epochs = 1, batch_size = 16 }",
    ],
};

/// The top of the tagger's 3 layers (0-based).
const B_TOP: usize = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arm {
    /// Base tags at layer 1 (index 0), full tags at layer 3.
    Low,
    /// Both at layer 3.
    Top,
    /// Full tags alone.
    Alone,
}

const ARMS: [Arm; 3] = [Arm::Low, Arm::Top, Arm::Alone];

impl Arm {
    fn name(self) -> &'static str {
        match self {
            Arm::Low => "base at layer 1, full at layer 3",
            Arm::Top => "both at layer 3",
            Arm::Alone => "full tags alone",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Arm::Low => "low supervision",
            Arm::Top => "both at the top",
            Arm::Alone => "full alone",
        }
    }
}

fn b_run(p: &Params, arm: Arm, seed: u64) -> RunRequest {
    // The base tags; the copy task of the tiny test has only its main targets.
    let target = if p.scale == Scale::Tiny { "" } else { ", target = \"base\"" };
    let mut sets = vec![format!("seed={seed}")];
    match arm {
        Arm::Low => sets.push(format!("model.layer_heads=[{{ layer = 0{target}, weight = 1.0 }}]")),
        Arm::Top => sets.push(format!("model.layer_heads=[{{ layer = {B_TOP}{target}, weight = 1.0 }}]")),
        Arm::Alone => {}
    }
    RunRequest::train(B.at(p.scale, &sets), format!("C13b tagger, {}, seed {seed}", arm.short()))
}

/// One seed's plain nets of part (a), by NETS.
struct PlainNets {
    /// The main head's training loss after the last epoch (NaN if the run diverged).
    loss: [f64; 3],
    test_accuracy: [f64; 3],
    /// The main head's training loss after each epoch.
    curve: [Vec<f64>; 3],
    /// The net with heads at initialisation, and trained (None if it diverged).
    init: AuxShare,
    trained: Option<AuxShare>,
}

/// One seed's tagger of one arm of part (b).
struct Tagger {
    /// Full-tag test accuracy of the main head, and of the base-tag head's where there is one
    /// (NaN: no head, or the run diverged).
    full: f64,
    base: f64,
    /// The main head's training loss over the last epoch's batches.
    loss: f64,
    /// Full-tag accuracy after each epoch, on the test sentences and over the training batches.
    test_curve: Vec<f64>,
    train_curve: Vec<f64>,
}

struct Data {
    depth: usize,
    /// The layers of part (a)'s heads.
    heads: Vec<usize>,
    a: Vec<PlainNets>,
    /// Per arm (ARMS), per seed.
    b: Vec<Vec<Tagger>>,
}

/// The values of `key` in the epoch records, in order.
fn per_epoch(r: &Run, key: &str) -> Result<Vec<f64>, String> {
    Ok(r.series("epoch", key)?.into_iter().map(|(_, v)| v).collect())
}

fn read_plain(p: &Params, runs: &RunSet, seed: u64) -> Result<PlainNets, String> {
    let [without, with, control] = NETS.map(|net| runs.get(&a_run(p, net, seed)));
    let rs = [without?, with?, control?];
    let trained = if rs[1].diverged() { None } else { Some(rs[1].probe::<AuxShare>()?) };
    let [l0, l1, l2] = rs.each_ref().map(mnist::final_loss);
    let [a0, a1, a2] = rs.each_ref().map(mnist::test_accuracy);
    let [c0, c1, c2] = rs.each_ref().map(|r| per_epoch(r, "train_eval_loss"));
    Ok(PlainNets {
        loss: [l0?, l1?, l2?],
        test_accuracy: [a0?, a1?, a2?],
        curve: [c0?, c1?, c2?],
        init: runs.get(&a_init(p, seed))?.probe::<AuxShare>()?,
        trained,
    })
}

fn read_tagger(p: &Params, runs: &RunSet, arm: Arm, seed: u64) -> Result<Tagger, String> {
    let r = runs.get(&b_run(p, arm, seed))?;
    // With a head, `loss` is the sum of both; `main_loss` the full tags' alone.
    let (base, loss) = match arm {
        Arm::Alone => (None, "loss"),
        _ => (Some("layer_heads.0.test_accuracy"), "main_loss"),
    };
    let last = |key: &str| if r.diverged() { Ok(f64::NAN) } else { r.last(key) };
    Ok(Tagger {
        full: last("test_accuracy")?,
        base: base.map_or(Ok(f64::NAN), last)?,
        loss: last(loss)?,
        test_curve: per_epoch(&r, "test_accuracy")?,
        train_curve: per_epoch(&r, "accuracy")?,
    })
}

fn read(p: &Params, runs: &RunSet) -> Result<Data, String> {
    let a = CLAIM.seeds(p).into_iter().map(|s| read_plain(p, runs, s)).collect::<Result<_, _>>()?;
    let b = ARMS
        .iter()
        .map(|&arm| CLAIM.seeds(p).into_iter().map(|s| read_tagger(p, runs, arm, s)).collect())
        .collect::<Result<_, _>>()?;
    Ok(Data { depth: a_depth(p), heads: a_head_layers(p), a, b })
}

/// Per stack layer, the main loss's share of the gradient (aux_share's first source).
fn main_shares(a: &AuxShare) -> Vec<f64> {
    a.layers.iter().map(|l| l.shares.first().copied().unwrap_or(f64::NAN)).collect()
}

/// The main loss's gradient norm at the top stack layer over that at the lowest.
fn main_fall(a: &AuxShare) -> f64 {
    let norm = |l: Option<&ShareLayer>| l.and_then(|l| l.norms.first().copied()).unwrap_or(f64::NAN);
    norm(a.layers.last()) / norm(a.layers.first())
}

/// Per layer, its value in each run of `all` (one list per run); NaN where a run lacks the
/// layer.
fn by_layer(all: &[Vec<f64>], depth: usize) -> Vec<Vec<f64>> {
    (0..depth).map(|l| all.iter().map(|v| v.get(l).copied().unwrap_or(f64::NAN)).collect()).collect()
}

/// Part (a) over some seeds: what its rule and its note read.
struct ReadingA {
    without: Vec<f64>,
    with: Vec<f64>,
    /// Without heads at v1's rate.
    control: Vec<f64>,
    ratio: f64,
    /// The layers of the lowest third, and the heads' share of their gradient averaged over
    /// them, at initialisation and after training.
    third: usize,
    share_init: f64,
    share_trained: f64,
}

fn reading_a(d: &Data, seeds: &[usize]) -> ReadingA {
    let nets: Vec<&PlainNets> = seeds.iter().map(|&i| &d.a[i]).collect();
    let loss = |net: usize| nets.iter().map(|n| n.loss[net]).collect::<Vec<f64>>();
    let (without, with, control) = (loss(0), loss(1), loss(2));
    let third = (d.depth / 3).max(1);
    // The main loss's share averaged over runs, then over the layers of the lowest third.
    let lowest = |all: Vec<Vec<f64>>| {
        let per_layer: Vec<f64> = by_layer(&all, d.depth).iter().map(|v| mean(v)).collect();
        1.0 - mean(&per_layer[..third])
    };
    ReadingA {
        ratio: mean(&with) / mean(&without),
        without,
        with,
        control,
        third,
        share_init: lowest(nets.iter().map(|n| main_shares(&n.init)).collect()),
        share_trained: lowest(nets.iter().filter_map(|n| n.trained.as_ref()).map(main_shares).collect()),
    }
}

/// low beats `other` by more than twice the spread: Some(true); falls short of it by more
/// than twice: Some(false); within: None. The difference is of the means over `low` and
/// `other`; the spread is the larger sample standard deviation over seeds of the two arms,
/// taken over `spread_low` and `spread_other` (every seed's: one seed alone has no spread).
fn beats(low: &[f64], other: &[f64], spread_low: &[f64], spread_other: &[f64]) -> (f64, f64, Option<bool>) {
    let d = mean(low) - mean(other);
    let s = std(spread_low).max(std(spread_other));
    let met = if !d.is_finite() || !s.is_finite() {
        None
    } else if d > 2.0 * s {
        Some(true)
    } else if d < -2.0 * s {
        Some(false)
    } else {
        None
    };
    (d, s, met)
}

/// Part (b) over some seeds: full-tag test accuracy per arm (ARMS), and low supervision set
/// against both at the top and against full alone, against the spread over every seed.
struct ReadingB {
    full: Vec<Vec<f64>>,
    top: (f64, f64, Option<bool>),
    alone: (f64, f64, Option<bool>),
}

fn reading_b(d: &Data, seeds: &[usize]) -> ReadingB {
    let of = |seeds: &[usize]| -> Vec<Vec<f64>> {
        d.b.iter().map(|arm| seeds.iter().map(|&i| arm[i].full).collect()).collect()
    };
    let (full, every) = (of(seeds), of(&(0..d.b[0].len()).collect::<Vec<_>>()));
    ReadingB {
        top: beats(&full[0], &full[1], &every[0], &every[1]),
        alone: beats(&full[0], &full[2], &every[0], &every[2]),
        full,
    }
}

/// A difference of accuracies in points, signed.
fn points(v: f64) -> String {
    format!("{:+.2} points", 100.0 * v)
}

fn judge_a(r: &ReadingA) -> Vec<Measure> {
    let (ratio, share) = (r.ratio, r.share_init);
    vec![
        Measure::new("(a) final training loss with / without heads", ratio, num(ratio)).at_most(0.5).headline(),
        Measure::new(
            format!("(a) heads' share of the gradient at init, lowest third (layers 0..{})", r.third - 1),
            share,
            pct(share),
        )
        .against("> 50%", 0.5, share.is_finite().then_some(share > 0.5)),
        Measure::new("(a) heads' share, lowest third, after training", r.share_trained, pct(r.share_trained)),
        Measure::new("(a) final training loss without heads", mean(&r.without), num(mean(&r.without))),
        Measure::new("(a) final training loss with heads", mean(&r.with), num(mean(&r.with))),
        Measure::new(
            "(a) final training loss without heads at v1's rate (control)",
            mean(&r.control),
            num(mean(&r.control)),
        ),
    ]
}

fn judge_b(r: &ReadingB) -> Vec<Measure> {
    let ((d_top, s_top, m_top), (d_alone, s_alone, m_alone)) = (r.top, r.alone);
    vec![
        Measure::new("(b) full-tag accuracy, low supervision - both at the top", d_top, points(d_top))
            .must(format!("> 2 x seed spread ({})", points(2.0 * s_top)), m_top),
        Measure::new("(b) full-tag accuracy, low supervision - full alone", d_alone, points(d_alone))
            .must(format!("> 2 x seed spread ({})", points(2.0 * s_alone)), m_alone),
        Measure::new("(b) full-tag accuracy, low supervision", mean(&r.full[0]), pct(mean(&r.full[0]))),
    ]
}

/// The rule over `seeds` (indices into both parts' seeds, which are one list). The headline is
/// (a)'s loss ratio, unless a condition failed or could not be judged (`Verdict::headline`).
fn judge(d: &Data, seeds: &[usize]) -> Vec<Measure> {
    let mut m = judge_a(&reading_a(d, seeds));
    m.extend(judge_b(&reading_b(d, seeds)));
    m
}

/// The control of a failure, from the runs, for each part that failed: (a) the same net
/// without heads at v1's rate, against it at v2's; (b) the base-tag head's own accuracy, which
/// shows the low head learned its task.
fn control(d: &Data, ra: &ReadingA, rb: &ReadingB) -> String {
    let mut out = Vec::new();
    if state(&judge_a(ra)) == Outcome::DidNotHold.text() {
        out.push(format!(
            "(a) without heads the depth-{} net ends at training loss {} at v1's rate and {} at v2's, and with heads at {}: whether it fails without heads is what the rate decides.",
            d.depth,
            mean_pm(&ra.control, num),
            mean_pm(&ra.without, num),
            mean_pm(&ra.with, num)
        ));
    }
    if state(&judge_b(rb)) == Outcome::DidNotHold.text() {
        let base = |arm: usize| mean(&d.b[arm].iter().map(|t| t.base).collect::<Vec<_>>());
        out.push(format!(
            "(b) the base-tag head reaches {} on layer 1 and {} on layer 3, so the low head learns its task.",
            pct(base(0)),
            pct(base(1))
        ));
    }
    out.join(" ")
}

/// What would decide an inconclusive verdict: the seeds' split, and for (b) within the noise,
/// how far its differences are from twice the spread.
fn decide(rb: &ReadingB, per_seed: &[(u64, Vec<Measure>)]) -> String {
    let mut out = Vec::new();
    let split = mnist::seeds_split(per_seed);
    if !split.is_empty() {
        out.push(format!("the seeds split on {split}."));
    }
    for (what, (d, s, met)) in [("both at the top", rb.top), ("full alone", rb.alone)] {
        if met.is_none() && d.is_finite() {
            out.push(format!(
                "(b) low supervision's lead over {what}, {}, lies within twice the seed spread ({}): the rule compares it with the spread of single seeds, which more seeds estimate better but do not shrink; a less noisy tagger (more sentences or epochs) would decide it.",
                points(d),
                points(2.0 * s)
            ));
        }
    }
    out.join(" ")
}

/// What the judged measures of a part make of it.
fn state(measured: &[Measure]) -> &'static str {
    let met: Vec<Option<bool>> = measured.iter().filter(|m| !m.condition.is_empty()).map(|m| m.met).collect();
    Outcome::all(&met).text()
}

fn tables(d: &Data, ra: &ReadingA) -> Vec<Table> {
    let mut t_a = Table::new(
        format!("(a) Plain depth {}: without and with auxiliary heads", d.depth),
        &["", "final training loss", "test accuracy", "heads' share, lowest third (init / trained)"],
    )
    .caption(format!(
        "Training loss: the main head's cross-entropy on the whole training subset after the last epoch; mean ± standard deviation over {} seeds. Heads on layers {}, weight {AUX_WEIGHT} each.",
        d.a.len(),
        list(&d.heads)
    ));
    let acc = |h: usize| d.a.iter().map(|n| n.test_accuracy[h]).collect::<Vec<_>>();
    t_a.row(vec!["without heads".into(), mean_pm(&ra.without, num), mean_pm(&acc(0), pct), "-".into()]);
    t_a.row(vec![
        "with heads".into(),
        mean_pm(&ra.with, num),
        mean_pm(&acc(1), pct),
        format!("{} / {}", pct(ra.share_init), pct(ra.share_trained)),
    ]);
    t_a.row(vec![Net::Control.name().into(), mean_pm(&ra.control, num), mean_pm(&acc(2), pct), "-".into()]);
    let mut t_b = Table::new(
        "(b) Brown tagger: where the base tags are supervised",
        &["arm", "full-tag test accuracy", "per seed", "base-tag head test accuracy", "full-tag training loss"],
    )
    .caption(format!(
        "Full tags from the main head at layer 3 in every arm; base tags from a head on layer 1 or layer 3. Training loss: the main head's cross-entropy over the last epoch's batches. Mean ± sample standard deviation over {} seeds.",
        d.b[0].len()
    ));
    for (arm, ts) in ARMS.iter().zip(&d.b) {
        let of = |f: fn(&Tagger) -> f64| ts.iter().map(f).collect::<Vec<_>>();
        t_b.row(vec![
            arm.name().into(),
            mean_pm(&of(|t| t.full), pct),
            of(|t| t.full).iter().map(|v| pct(*v)).collect::<Vec<_>>().join(", "),
            if *arm == Arm::Alone { "-".into() } else { mean_pm(&of(|t| t.base), pct) },
            mean_pm(&of(|t| t.loss), num),
        ]);
    }
    vec![t_a, t_b]
}

/// Per epoch (1, 2, ...), the values of `curves` (one per seed) up to the shortest.
fn epochs<'a>(curves: impl Iterator<Item = &'a Vec<f64>>) -> Vec<(f64, Vec<f64>)> {
    let curves: Vec<&Vec<f64>> = curves.collect();
    let n = curves.iter().map(|v| v.len()).min().unwrap_or(0);
    (0..n).map(|e| (e as f64 + 1.0, curves.iter().map(|c| c[e]).collect())).collect()
}

fn figures_a(d: &Data) -> Vec<Figure> {
    let mut loss =
        LinePlot::new(format!("(a) Plain depth {}: training loss per epoch", d.depth), "epoch", "training loss (nats)")
            .log_y(true);
    for (h, net) in NETS.into_iter().enumerate() {
        let s = over_seeds(net.name(), epochs(d.a.iter().map(|n| &n.curve[h]))).markers();
        loss = loss.series(if net == Net::Control { s.dashed() } else { s });
    }
    let init: Vec<Vec<f64>> = d.a.iter().map(|n| main_shares(&n.init)).collect();
    let trained: Vec<Vec<f64>> = d.a.iter().filter_map(|n| n.trained.as_ref()).map(main_shares).collect();
    // The heads' share: 1 - the main loss's.
    let heads = |all: &[Vec<f64>]| {
        let layers = by_layer(all, d.depth).into_iter().enumerate();
        layers.map(|(l, v)| (l as f64, v.iter().map(|s| 1.0 - s).collect()))
    };
    let share = LinePlot::new(
        format!("(a) The heads' share of each layer's gradient ({} heads, every third layer)", d.heads.len()),
        "layer (0 = lowest)",
        "heads' share of ||dL/dh||",
    )
    .y_range(0.0, 1.0)
    .series(over_seeds("at initialisation", heads(&init)).markers())
    .series(over_seeds("after training", heads(&trained)).markers().dashed());
    vec![
        Figure::new(
            "(a) Training curves",
            "The main head's loss on the whole training subset after each epoch (log scale); mean over seeds, the band spans them. Dashed: the control, without heads at v1's rate.",
            loss.to_svg(),
        ),
        Figure::new(
            "(a) Where the heads' gradient goes",
            "aux_share: the heads' share of the gradient norm at each stack layer's output (1 - the main loss's share), mean over seeds (the band spans them), at initialisation and after training. Above the top head's layer the share is 0.",
            share.to_svg(),
        ),
    ]
}

fn figures_b(d: &Data) -> Vec<Figure> {
    // Error rather than accuracy, so that the bars can rise from 0 and their heights
    // compare honestly (accuracy bars would need a cut axis to show a few points).
    let errors = |ts: &[Tagger], acc: fn(&Tagger) -> f64| -> (f64, (f64, f64)) {
        let e: Vec<f64> = ts.iter().map(|t| 100.0 * (1.0 - acc(t))).collect();
        (mean(&e), min_max(&e))
    };
    let (full_err, full_whisk): (Vec<f64>, Vec<(f64, f64)>) = d.b.iter().map(|ts| errors(ts, |t| t.full)).unzip();
    let (base_err, base_whisk): (Vec<f64>, Vec<(f64, f64)>) = ARMS
        .iter()
        .zip(&d.b)
        .map(|(arm, ts)| if *arm == Arm::Alone { (f64::NAN, (f64::NAN, f64::NAN)) } else { errors(ts, |t| t.base) })
        .unzip();
    let bars = BarPlot::new("(b) Brown tagger: test error by arm", "arm", "test error (% of tokens)")
        .categories(ARMS.iter().map(|a| a.short()))
        .group(BarGroup::new("full tags (main head, layer 3)", full_err).errors(full_whisk))
        .group(BarGroup::new("base tags (their head)", base_err).errors(base_whisk));
    let mut curves = LinePlot::new("(b) Brown tagger: full-tag accuracy per epoch", "epoch", "full-tag accuracy");
    for (i, (arm, ts)) in ARMS.iter().zip(&d.b).enumerate() {
        let test = over_seeds(format!("{}, test", arm.short()), epochs(ts.iter().map(|t| &t.test_curve)));
        curves = curves.series(test.markers().color(i));
    }
    for (i, (arm, ts)) in ARMS.iter().zip(&d.b).enumerate() {
        let train = epochs(ts.iter().map(|t| &t.train_curve)).into_iter().map(|(x, v)| (x, mean(&v))).collect();
        curves = curves.series(Series::new(format!("{}, training batches", arm.short()), train).dashed().color(i));
    }
    vec![
        Figure::new(
            "(b) Test error by arm",
            "Test error (100% - accuracy) of the main head on the full tags and of the head on the base tags (layer 1 for low supervision, layer 3 for both at the top; none for full alone); bars are the mean over seeds, whiskers span the seeds.",
            bars.to_svg(),
        ),
        Figure::new(
            "(b) Accuracy per epoch",
            "Full-tag accuracy of the main head on the test sentences after each epoch (solid, mean over seeds, the band spans them) and over that epoch's training batches (dashed, mean).",
            curves.to_svg(),
        ),
    ]
}

fn note(d: &Data, ra: &ReadingA, rb: &ReadingB) -> String {
    let acc = |h: usize| mean(&d.a.iter().map(|n| n.test_accuracy[h]).collect::<Vec<_>>());
    format!(
        "(a) {}, (b) {}. (a) Without heads the plain depth-{} net ends at training loss {} (test accuracy {}), with heads at {} ({}): ratio {}; without heads at v1's rate (the control) at {} ({}). At initialisation the heads supply {} of the gradient in layers 0..{} (mean over those layers), {} after training. (b) Full-tag test accuracy: low supervision {}, both at the top {}, full alone {}; low minus top {} against twice the spread {}, low minus alone {} against {}.",
        state(&judge_a(ra)),
        state(&judge_b(rb)),
        d.depth,
        num(mean(&ra.without)),
        pct(acc(0)),
        num(mean(&ra.with)),
        pct(acc(1)),
        num(ra.ratio),
        num(mean(&ra.control)),
        pct(acc(2)),
        pct(ra.share_init),
        ra.third - 1,
        pct(ra.share_trained),
        mean_pm(&rb.full[0], pct),
        mean_pm(&rb.full[1], pct),
        mean_pm(&rb.full[2], pct),
        points(rb.top.0),
        points(2.0 * rb.top.1),
        points(rb.alone.0),
        points(2.0 * rb.alone.1),
    )
}

fn notes(d: &Data, ra: &ReadingA) -> Vec<String> {
    let mut notes = vec![
        "Interpretations of the rule, fixed in code and in the rule text: (a) \"the final training loss\" is the main head's loss evaluated on the whole training subset after the last epoch (auxiliary losses not counted); \"most of the gradient in the lowest third\" is the heads' combined aux_share (each source's ||dL/dh_l|| over the sum of the sources' norms, from one backward per source) averaged over layers 0..depth/3 - 1, measured at initialisation, where the question is whether training can start; the share after training is shown beside it. (b) \"the seed spread\" is the larger sample standard deviation over seeds of the two arms compared; judging one seed alone (protocol v2), its difference is set against the spread over every seed, since one seed has no spread of its own.".to_string(),
        "(b) Base tags are the full tags with -tl, -hl, -nc, fw- and compounds stripped (104 of them, src/data/brown.rs), so they are a coarser view of the same decision, not a different task as S&G's POS vs chunking; the quick subsets are the corpus's first training and test sentences (news, then editorial), not a random sample, and the taggers are still improving at the last epoch (the training curves), so the comparison is of what the arms learn in 6 epochs.".to_string(),
    ];
    if ra.share_init <= 0.5 && ra.share_trained > 0.5 {
        let fall_init = mean(&d.a.iter().map(|n| main_fall(&n.init)).collect::<Vec<_>>());
        let fall_trained = mean(&d.a.iter().filter_map(|n| n.trained.as_ref()).map(main_fall).collect::<Vec<_>>());
        notes.push(format!(
            "(a) On when to measure the share: at initialisation the heads supply {} of the lowest third's gradient, after training {}. At sigma_w^2 = 1 (tanh's critical initialisation) the main loss's gradient reaches the lowest layers at first (its norm at the top layer is {}x that at layer 0), after training it has all but vanished on the way down ({}x). The rule as fixed measures at initialisation and is applied so; a better rule would take the share averaged over training (the probe every few steps), since the net fails while it trains.{}",
            pct(ra.share_init),
            pct(ra.share_trained),
            num(fall_init),
            num(fall_trained),
            if ra.ratio > 0.5 {
                format!(" Here (a) fails on the loss ratio alone ({} > 0.5), so the moment the share is taken at does not decide it.", num(ra.ratio))
            } else {
                String::new()
            }
        ));
    }
    notes
}

pub const CLAIM: Claim = Claim {
    id: "C13",
    slug: "intermediate-losses",
    title: "Intermediate losses anchor representations below the top",
    quote: "the effectiveness of intermediate losses, particularly in NLP applications ... (e.g., part-of-speech, named entities).",
    anchor: "Lee et al., AISTATS 2015 (deeply-supervised nets: a companion loss at hidden layers speeds and improves training); GoogLeNet (Szegedy et al. 2015: two auxiliary heads, loss weight 0.3); Søgaard & Goldberg, ACL 2016: 3 BiLSTM layers, POS supervised at layer 1 and chunking at layer 3 beats both at the top and chunking alone.",
    rule: "(a) holds if with heads the final training loss (the main head's, on the whole training subset, mean over seeds) is at most half of that without, and the heads supply most of the gradient in the lowest third of the layers: at initialisation their combined aux_share, averaged over the layers of the lowest third, exceeds 1/2. (b) holds if low supervision beats both alternatives on full-tag test accuracy by more than twice the seed spread (the larger sample standard deviation over seeds of the two arms compared); within it, inconclusive; short of it by more than twice, did not hold. The claim holds when (a) and (b) both do. Protocol v2: each seed's runs are judged alone too (for (b), its differences against twice the spread over every seed), and at least two thirds of the seeds must agree.",
    data: &["MNIST (IDX files; a subset at quick scale)", "Brown corpus (data/brown; a subset at quick scale)"],
    anchor_headline: "Lee et al., GoogLeNet: heads (weight 0.3) help deep nets train; S&G: low supervision wins",
    seeds: PerScale { quick: 3, paper: 3, tiny: 2 },
    protocol: Protocol {
        version: 2,
        changed: "Setup of (a): the plain tanh net at depth 50 trained with Adam at 1e-3 (v1: depth 30 at 5e-3, where the net without heads fails for a reason heads do not address, and without heads the same net trains at 1e-3), with heads on every third layer (weight 0.3; v1: two heads) against none, 3 seeds (v1: 2); also a no-head control at v1's 5e-3. Rules (a) and (b) unchanged; (b) keeps its runs and 3 seeds.",
    },
};

impl Experiment for C13 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let n = CLAIM.seeds(p).len();
        let heads = a_head_layers(p);
        let (rate, control) = (a_lr(p, Net::With), a_lr(p, Net::Control));
        let h = format!(
            "{} auxiliary heads on every third layer ({}, 0-based: the top of each group of three below the top layer) of loss weight {AUX_WEIGHT} each (GoogLeNet's)",
            heads.len(),
            list(&heads)
        );
        match p.scale {
            Scale::Quick => format!(
                "(a) C4's quick setting at depth {depth}, where its plain nets fail (the CPU reference: .098 / .124 test accuracy at depth 20 / 30 at lr 5e-3): a plain tanh stack of width 50, Gaussian init (sigma_w^2 = 1), the first 6,000 MNIST training images, 12 epochs of Adam at lr {rate} (clip 5, batch 128), without heads and with {h}; a control without heads at v1's lr {control}; {n} seeds; aux_share at initialisation and after training (4 training batches). (b) A 3-layer bidirectional LSTM tagger (32 units per direction, 32-dimensional embeddings; words seen once in training read as <unk>) on the first 3,000 training sentences of the Brown corpus (about 62k tokens, the news files), scored on the first 1,000 test sentences; 6 epochs of Adam (lr 0.01, clip 5, batch 32); full tags at the top layer in every arm, and base tags from a head on layer 1 (low supervision), on layer 3 (both at the top), or nowhere (full alone), loss weight 1; {n} seeds. Sizes and epochs were set for the CPU budget (about 1.3 CPU s an epoch, 0.5 s to read the corpus) before any arm was compared.",
                depth = a_depth(p)
            ),
            Scale::Paper => format!(
                "(a) As quick on all 60,000 MNIST images and the whole test set, 40 epochs of SGD with momentum 0.9 (lr {rate} decaying by 0.9999 a step, clip 5: the recipe's rate, which v2's change of the Adam rate leaves as it is), {h}; the control without heads at 5 times the rate ({control}), as v1's Adam rate was 5 times v2's; {n} seeds. (b) Søgaard & Goldberg's 3 BiLSTM layers (100 units per direction, 64-dimensional embeddings) on the whole Brown training split, scored on the whole test split, 10 epochs of Adam (lr 2e-3, clip 5, batch 32), {n} seeds. The losses are summed each step; S&G alternated tasks by sentence."
            ),
            Scale::Tiny => format!(
                "(a) Depth 6, width 8, {h}, Adam at {rate} and the control at {control}, one epoch on 300 MNIST-1D examples; (b) a 3-layer LSTM on copy memory with heads on its main targets; {n} seeds: a test of the pipeline."
            ),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for s in CLAIM.seeds(p) {
            v.extend(NETS.map(|net| a_run(p, net, s)));
            v.push(a_init(p, s));
        }
        for arm in ARMS {
            for s in CLAIM.seeds(p) {
                v.push(b_run(p, arm, s));
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let d = read(p, runs)?;
        let all: Vec<usize> = (0..d.a.len()).collect();
        let (ra, rb) = (reading_a(&d, &all), reading_b(&d, &all));
        let mut figures = figures_a(&d);
        figures.extend(figures_b(&d));
        let (measured, per_seed) = by_seed(&CLAIM.seeds(p), |s| judge(&d, s));
        Ok(Findings {
            tables: tables(&d, &ra),
            figures,
            control: control(&d, &ra, &rb),
            decide: decide(&rb, &per_seed),
            measured,
            per_seed,
            note: note(&d, &ra, &rb),
            notes: notes(&d, &ra),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_beats_by_twice_the_spread_or_not() {
        let b = |low: &[f64], other: &[f64]| beats(low, other, low, other);
        assert_eq!(b(&[0.80, 0.81, 0.82], &[0.70, 0.71, 0.72]).2, Some(true));
        assert_eq!(b(&[0.80, 0.81, 0.82], &[0.80, 0.80, 0.81]).2, None);
        assert_eq!(b(&[0.70, 0.71, 0.72], &[0.80, 0.81, 0.82]).2, Some(false));
        let (d, s, _) = b(&[1.0, 3.0], &[0.0, 0.0]);
        assert_eq!((d, s), (2.0, std(&[1.0, 3.0])));
        // One seed alone is set against the spread of every seed.
        assert_eq!(beats(&[0.80], &[0.79], &[0.80, 0.81, 0.82], &[0.70, 0.71, 0.79]).2, None);
    }

    #[test]
    fn heads_sit_on_every_third_layer_below_the_top() {
        let quick = a_head_layers(&Params { scale: Scale::Quick, seeds: None });
        assert_eq!((quick.len(), quick[0], quick[1], *quick.last().unwrap()), (16, 2, 5, 47));
        assert_eq!(a_head_layers(&Params { scale: Scale::Tiny, seeds: None }), [2]);
    }

    #[test]
    fn part_a_runs_at_v2s_rate_with_a_control_at_v1s() {
        let p = Params { scale: Scale::Quick, seeds: None };
        assert_eq!(a_config(&p, Net::With, 1).optim.lr, 0.001);
        assert_eq!(a_config(&p, Net::Without, 1).optim.lr, 0.001);
        assert_eq!(a_config(&p, Net::Control, 1).optim.lr, 0.005);
        assert_eq!(a_config(&p, Net::With, 1).model.aux.len(), 16);
        assert!(a_config(&p, Net::Control, 1).model.aux.is_empty());
        assert_eq!(a_config(&p, Net::Control, 1).model.depth, 50);
        assert!(CLAIM.seeds(&p).len() >= 3);
    }

    fn shares(heads: f64) -> AuxShare {
        let layer = |l: usize| ShareLayer {
            layer: l,
            name: format!("layers.{l}"),
            norms: vec![1.0, 1.0],
            shares: vec![1.0 - heads, heads],
            cos_main: vec![None],
            total_norm: 1.0,
        };
        AuxShare {
            probe: "aux_share".into(),
            batches: 1,
            sources: vec![],
            layers: (0..6).map(layer).collect(),
            elapsed_s: 0.0,
        }
    }

    fn tagger(full: f64) -> Tagger {
        Tagger { full, base: 0.9, loss: 0.5, test_curve: vec![], train_curve: vec![] }
    }

    /// Plain nets with final losses [without, with, control] and taggers per arm, per seed.
    fn data(a: &[[f64; 3]], b: &[[f64; 3]]) -> Data {
        let a = a
            .iter()
            .map(|&loss| PlainNets {
                loss,
                test_accuracy: [0.9; 3],
                curve: [vec![], vec![], vec![]],
                init: shares(0.8),
                trained: Some(shares(0.6)),
            })
            .collect();
        let b = (0..3).map(|arm| b.iter().map(|s| tagger(s[arm])).collect()).collect();
        Data { depth: 6, heads: vec![2], a, b }
    }

    #[test]
    fn the_rule_judges_both_parts_on_the_seeds_it_is_given() {
        // (a) holds on seeds 0 and 1, not on 2; (b) low beats both clearly on every seed.
        let d = data(
            &[[1.0, 0.1, 2.3], [1.0, 0.2, 2.3], [0.3, 0.25, 2.3]],
            &[[0.90, 0.85, 0.84], [0.91, 0.86, 0.85], [0.92, 0.86, 0.85]],
        );
        let met =
            |s: &[usize]| judge(&d, s).iter().filter(|m| !m.condition.is_empty()).map(|m| m.met).collect::<Vec<_>>();
        assert_eq!(met(&[0]), [Some(true), Some(true), Some(true), Some(true)]);
        assert_eq!(met(&[2]), [Some(false), Some(true), Some(true), Some(true)]);
        let all = judge(&d, &[0, 1, 2]);
        assert!((all[0].value - 0.55 / 2.3).abs() < 1e-12 && all[0].headline);
        let within = data(&[[1.0, 0.1, 2.3]; 3], &[[0.90, 0.85, 0.88], [0.91, 0.86, 0.93], [0.92, 0.86, 0.86]]);
        let v = crate::lab::Verdict::new(&crate::lab::Claim::TEMPLATE, judge(&within, &[0, 1, 2]), String::new());
        let head = v.headline().map(|m| m.name.as_str());
        assert_eq!(head, Some("(b) full-tag accuracy, low supervision - full alone"), "inconclusive: the open one");
        let (ra, rb) = (reading_a(&d, &[2]), reading_b(&d, &[2]));
        assert!(control(&d, &ra, &rb).starts_with("(a) without heads the depth-6 net ends at training loss 2.3"));
        let (_, per_seed) = by_seed(&[1, 2, 3], |s| judge(&d, s));
        assert!(decide(&rb, &per_seed).contains("failed by seeds 3"), "{}", decide(&rb, &per_seed));
    }

    #[test]
    fn a_lead_within_the_spread_says_so() {
        let d = data(&[[1.0, 0.1, 2.3]; 3], &[[0.90, 0.85, 0.88], [0.91, 0.86, 0.93], [0.92, 0.86, 0.86]]);
        let rb = reading_b(&d, &[0, 1, 2]);
        assert_eq!((rb.top.2, rb.alone.2), (Some(true), None));
        assert!(decide(&rb, &[]).contains("lead over full alone, +2.00 points, lies within twice the seed spread"));
    }
}
