//! C13 intermediate-losses: losses below the top anchor what lower layers learn. (a) A deep
//! plain MNIST net with and without two auxiliary heads (GoogLeNet's weight 0.3), and the share
//! of each layer's gradient the heads supply (probe aux_share). (b) A 3-layer bidirectional
//! LSTM tagger on the Brown corpus: base tags supervised at the lowest layer and full tags at
//! the top (Søgaard & Goldberg's low supervision), against both at the top and full tags alone.

use super::figure::over_seeds;
use super::fmt::{mean_pm, num, pct};
use super::recipes::mnist;
use super::{
    Claim, Configs, Experiment, Figure, Findings, Measure, Outcome, Params, Protocol, Run, RunSet, Scale, Table,
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

/// C4's stacks (the recipe), whose plain nets the CPU reference (npow/schmidhuber-problems)
/// saw fail from depth 20 on (test accuracy .098 at depth 20, .124 at 30): depth 30, width 50;
/// at paper scale all of MNIST, SGD with momentum as Lee et al. and GoogLeNet trained, longer.
fn a_depth(p: &Params) -> usize {
    match p.scale {
        Scale::Tiny => 6,
        _ => 30,
    }
}

/// The heads: at the top of the first and of the second third of the stack (layers 9 and 19
/// of 30), so that the lowest third has a head right above it.
fn a_head_layers(p: &Params) -> [usize; 2] {
    let d = a_depth(p);
    [d / 3 - 1, 2 * d / 3 - 1]
}

fn a_config(p: &Params, heads: bool, seed: u64) -> crate::config::Config {
    let mut sets = vec![format!("seed={seed}"), "model.arch=\"plain\"".into(), format!("model.depth={}", a_depth(p))];
    if heads {
        let [l1, l2] = a_head_layers(p);
        sets.push(format!(
            "model.aux=[{{ layer = {l1}, weight = {AUX_WEIGHT} }}, {{ layer = {l2}, weight = {AUX_WEIGHT} }}]"
        ));
    }
    mnist::SRIVASTAVA.at(p.scale, &sets)
}

fn a_run(p: &Params, heads: bool, seed: u64) -> RunRequest {
    let what = if heads { "with heads" } else { "without heads" };
    let r = RunRequest::train(a_config(p, heads, seed), format!("C13a plain depth {} {what} seed {seed}", a_depth(p)));
    if heads {
        r.with_probes(&[ProbeKind::AuxShare])
    } else {
        r
    }
}

fn a_init(p: &Params, seed: u64) -> RunRequest {
    RunRequest::at_init(
        a_config(p, true, seed),
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

fn seeds_a(p: &Params) -> Vec<u64> {
    p.seeds(match p.scale {
        Scale::Paper => 3,
        _ => 2,
    })
}

fn seeds_b(p: &Params) -> Vec<u64> {
    p.seeds(match p.scale {
        Scale::Tiny => 2,
        _ => 3,
    })
}

/// One seed's plain nets of part (a), [without heads, with heads].
struct PlainNets {
    /// The main head's training loss after the last epoch (NaN if the run diverged).
    loss: [f64; 2],
    test_accuracy: [f64; 2],
    /// The main head's training loss after each epoch.
    curve: [Vec<f64>; 2],
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
    heads: [usize; 2],
    a: Vec<PlainNets>,
    /// Per arm (ARMS), per seed.
    b: Vec<Vec<Tagger>>,
}

/// The values of `key` in the epoch records, in order.
fn per_epoch(r: &Run, key: &str) -> Result<Vec<f64>, String> {
    Ok(r.series("epoch", key)?.into_iter().map(|(_, v)| v).collect())
}

fn read_plain(p: &Params, runs: &RunSet, seed: u64) -> Result<PlainNets, String> {
    let rs = [runs.get(&a_run(p, false, seed))?, runs.get(&a_run(p, true, seed))?];
    let trained = if rs[1].diverged() { None } else { Some(rs[1].probe::<AuxShare>()?) };
    Ok(PlainNets {
        loss: [mnist::final_loss(&rs[0])?, mnist::final_loss(&rs[1])?],
        test_accuracy: rs.each_ref().map(|r| r.summary().test_accuracy.unwrap_or(f64::NAN)),
        curve: [per_epoch(&rs[0], "train_eval_loss")?, per_epoch(&rs[1], "train_eval_loss")?],
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
    let a = seeds_a(p).into_iter().map(|s| read_plain(p, runs, s)).collect::<Result<_, _>>()?;
    let b = ARMS
        .iter()
        .map(|&arm| seeds_b(p).into_iter().map(|s| read_tagger(p, runs, arm, s)).collect())
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
    ratio: f64,
    /// The layers of the lowest third, and the heads' share of their gradient averaged over
    /// them, at initialisation and after training.
    third: usize,
    share_init: f64,
    share_trained: f64,
}

fn reading_a(d: &Data, seeds: &[usize]) -> ReadingA {
    let nets: Vec<&PlainNets> = seeds.iter().map(|&i| &d.a[i]).collect();
    let (without, with): (Vec<f64>, Vec<f64>) = nets.iter().map(|n| (n.loss[0], n.loss[1])).unzip();
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
        third,
        share_init: lowest(nets.iter().map(|n| main_shares(&n.init)).collect()),
        share_trained: lowest(nets.iter().filter_map(|n| n.trained.as_ref()).map(main_shares).collect()),
    }
}

/// low beats `other` by more than twice the spread: Some(true); falls short of it by more
/// than twice: Some(false); within: None. The spread is the larger sample standard deviation
/// over seeds of the two arms.
fn beats(low: &[f64], other: &[f64]) -> (f64, f64, Option<bool>) {
    let d = mean(low) - mean(other);
    let s = std(low).max(std(other));
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
/// against both at the top and against full alone.
struct ReadingB {
    full: Vec<Vec<f64>>,
    top: (f64, f64, Option<bool>),
    alone: (f64, f64, Option<bool>),
}

fn reading_b(d: &Data, seeds: &[usize]) -> ReadingB {
    let full: Vec<Vec<f64>> = d.b.iter().map(|arm| seeds.iter().map(|&i| arm[i].full).collect()).collect();
    ReadingB { top: beats(&full[0], &full[1]), alone: beats(&full[0], &full[2]), full }
}

/// A difference of accuracies in points, signed.
fn points(v: f64) -> String {
    format!("{:+.2} points", 100.0 * v)
}

fn judge_a(r: &ReadingA) -> Vec<Measure> {
    let judged = |v: f64, ok: bool| v.is_finite().then_some(ok);
    let (ratio, share) = (r.ratio, r.share_init);
    vec![
        Measure::new("(a) final training loss with / without heads", ratio, num(ratio))
            .must("<= 0.5", judged(ratio, ratio <= 0.5)),
        Measure::new(
            format!("(a) heads' share of the gradient at init, lowest third (layers 0..{})", r.third - 1),
            share,
            pct(share),
        )
        .must("> 50%", judged(share, share > 0.5)),
        Measure::new("(a) heads' share, lowest third, after training", r.share_trained, pct(r.share_trained)),
        Measure::new("(a) final training loss without heads", mean(&r.without), num(mean(&r.without))),
        Measure::new("(a) final training loss with heads", mean(&r.with), num(mean(&r.with))),
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

/// The rule over the seeds `a` of part (a) and `b` of part (b).
fn judge(d: &Data, a: &[usize], b: &[usize]) -> Vec<Measure> {
    let mut m = judge_a(&reading_a(d, a));
    m.extend(judge_b(&reading_b(d, b)));
    m
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
        "Training loss: the main head's cross-entropy on the whole training subset after the last epoch; mean ± standard deviation over {} seeds. Heads on layers {} and {}, weight {AUX_WEIGHT}.",
        d.a.len(),
        d.heads[0],
        d.heads[1]
    ));
    let acc = |h: usize| d.a.iter().map(|n| n.test_accuracy[h]).collect::<Vec<_>>();
    t_a.row(vec!["without heads".into(), mean_pm(&ra.without, num), mean_pm(&acc(0), pct), "-".into()]);
    t_a.row(vec![
        "with heads".into(),
        mean_pm(&ra.with, num),
        mean_pm(&acc(1), pct),
        format!("{} / {}", pct(ra.share_init), pct(ra.share_trained)),
    ]);
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
    let [l1, l2] = d.heads;
    let mut loss =
        LinePlot::new(format!("(a) Plain depth {}: training loss per epoch", d.depth), "epoch", "training loss (nats)");
    for (h, name) in ["without heads", "with heads"].into_iter().enumerate() {
        loss = loss.series(over_seeds(name, epochs(d.a.iter().map(|n| &n.curve[h]))).markers());
    }
    let init: Vec<Vec<f64>> = d.a.iter().map(|n| main_shares(&n.init)).collect();
    let trained: Vec<Vec<f64>> = d.a.iter().filter_map(|n| n.trained.as_ref()).map(main_shares).collect();
    // The heads' share: 1 - the main loss's.
    let heads = |all: &[Vec<f64>]| {
        let layers = by_layer(all, d.depth).into_iter().enumerate();
        layers.map(|(l, v)| (l as f64, v.iter().map(|s| 1.0 - s).collect()))
    };
    let share = LinePlot::new(
        format!("(a) The heads' share of each layer's gradient (heads on layers {l1}, {l2})"),
        "layer (0 = lowest)",
        "heads' share of ||dL/dh||",
    )
    .y_range(0.0, 1.0)
    .series(over_seeds("at initialisation", heads(&init)).markers())
    .series(over_seeds("after training", heads(&trained)).markers().dashed());
    vec![
        Figure::new(
            "(a) Training curves",
            "The main head's loss on the whole training subset after each epoch; mean over seeds, the band spans them.",
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
        "(a) {}, (b) {}. (a) Without heads the plain depth-{} net ends at training loss {} (test accuracy {}), with heads at {} ({}): ratio {}. At initialisation the heads supply {} of the gradient in layers 0..{} (mean over those layers), {} after training. (b) Full-tag test accuracy: low supervision {}, both at the top {}, full alone {}; low minus top {} against twice the spread {}, low minus alone {} against {}.",
        state(&judge_a(ra)),
        state(&judge_b(rb)),
        d.depth,
        num(mean(&ra.without)),
        pct(acc(0)),
        num(mean(&ra.with)),
        pct(acc(1)),
        num(ra.ratio),
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
        "Interpretations of the rule, fixed in code and in the rule text: (a) \"the final training loss\" is the main head's loss evaluated on the whole training subset after the last epoch (auxiliary losses not counted); \"most of the gradient in the lowest third\" is the heads' combined aux_share (each source's ||dL/dh_l|| over the sum of the sources' norms, from one backward per source) averaged over layers 0..depth/3 - 1, measured at initialisation, where the question is whether training can start; the share after training is shown beside it. (b) \"the seed spread\" is the larger sample standard deviation over seeds of the two arms compared.".to_string(),
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
    rule: "(a) holds if with heads the final training loss (the main head's, on the whole training subset, mean over seeds) is at most half of that without, and the heads supply most of the gradient in the lowest third of the layers: at initialisation their combined aux_share, averaged over the layers of the lowest third, exceeds 1/2. (b) holds if low supervision beats both alternatives on full-tag test accuracy by more than twice the seed spread (the larger sample standard deviation over seeds of the two arms compared); within it, inconclusive; short of it by more than twice, did not hold. The claim holds when (a) and (b) both do.",
    data: &["MNIST (IDX files; a subset at quick scale)", "Brown corpus (data/brown; a subset at quick scale)"],
    anchor_headline: "Sogaard & Goldberg: low supervision (POS at layer 1) beats both at the top",
    protocol: Protocol::V1,
};

impl Experiment for C13 {
    fn claim(&self) -> &'static Claim {
        &CLAIM
    }
    fn setup(&self, p: &Params) -> String {
        let (sa, sb) = (seeds_a(p).len(), seeds_b(p).len());
        let [l1, l2] = a_head_layers(p);
        match p.scale {
            Scale::Quick => format!(
                "(a) C4's quick setting at depth 30, where its plain nets fail (the CPU reference: .098 / .124 test accuracy at depth 20 / 30): a plain tanh stack of width 50, Gaussian init (sigma_w^2 = 1), the first 6,000 MNIST training images, 12 epochs of Adam (lr 5e-3, clip 5, batch 128), without heads and with two auxiliary heads on layers {l1} and {l2} (0-based: the tops of the first and second thirds) of loss weight {AUX_WEIGHT} (GoogLeNet's); {sa} seeds; aux_share at initialisation and after training (4 training batches). (b) A 3-layer bidirectional LSTM tagger (32 units per direction, 32-dimensional embeddings; words seen once in training read as <unk>) on the first 3,000 training sentences of the Brown corpus (about 62k tokens, the news files), scored on the first 1,000 test sentences; 6 epochs of Adam (lr 0.01, clip 5, batch 32); full tags at the top layer in every arm, and base tags from a head on layer 1 (low supervision), on layer 3 (both at the top), or nowhere (full alone), loss weight 1; {sb} seeds. Sizes and epochs were set for the CPU budget (about 1.3 CPU s an epoch, 0.5 s to read the corpus) before any arm was compared."
            ),
            Scale::Paper => format!(
                "(a) As quick on all 60,000 MNIST images and the whole test set, 40 epochs of SGD with momentum 0.9 (lr 0.01 decaying by 0.9999 a step, clip 5), heads on layers {l1} and {l2}, {sa} seeds. (b) Søgaard & Goldberg's 3 BiLSTM layers (100 units per direction, 64-dimensional embeddings) on the whole Brown training split, scored on the whole test split, 10 epochs of Adam (lr 2e-3, clip 5, batch 32), {sb} seeds. The losses are summed each step; S&G alternated tasks by sentence."
            ),
            Scale::Tiny => format!(
                "(a) Depth 6, width 8, heads on layers {l1} and {l2}, one epoch on 300 MNIST-1D examples; (b) a 3-layer LSTM on copy memory with heads on its main targets; {sa} / {sb} seeds: a test of the pipeline."
            ),
        }
    }
    fn runs(&self, p: &Params) -> Vec<RunRequest> {
        let mut v = Vec::new();
        for s in seeds_a(p) {
            v.push(a_run(p, false, s));
            v.push(a_run(p, true, s));
            v.push(a_init(p, s));
        }
        for arm in ARMS {
            for s in seeds_b(p) {
                v.push(b_run(p, arm, s));
            }
        }
        v
    }

    fn analyze(&self, p: &Params, runs: &RunSet) -> Result<Findings, String> {
        let d = read(p, runs)?;
        let (all_a, all_b): (Vec<usize>, Vec<usize>) = ((0..d.a.len()).collect(), (0..d.b[0].len()).collect());
        let (ra, rb) = (reading_a(&d, &all_a), reading_b(&d, &all_b));
        let mut figures = figures_a(&d);
        figures.extend(figures_b(&d));
        Ok(Findings {
            tables: tables(&d, &ra),
            figures,
            measured: judge(&d, &all_a, &all_b),
            note: note(&d, &ra, &rb),
            notes: notes(&d, &ra),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_beats_by_twice_the_spread_or_not() {
        assert_eq!(beats(&[0.80, 0.81, 0.82], &[0.70, 0.71, 0.72]).2, Some(true));
        assert_eq!(beats(&[0.80, 0.81, 0.82], &[0.80, 0.80, 0.81]).2, None);
        assert_eq!(beats(&[0.70, 0.71, 0.72], &[0.80, 0.81, 0.82]).2, Some(false));
        let (d, s, _) = beats(&[1.0, 3.0], &[0.0, 0.0]);
        assert_eq!((d, s), (2.0, std(&[1.0, 3.0])));
    }

    #[test]
    fn heads_sit_at_the_thirds() {
        for (scale, want) in [(Scale::Quick, [9, 19]), (Scale::Paper, [9, 19]), (Scale::Tiny, [1, 3])] {
            assert_eq!(a_head_layers(&Params { scale, seeds: None }), want);
        }
    }
}
