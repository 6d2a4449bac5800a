//! The paths probe (Veit et al. 2016: residual nets as ensembles of paths) and the aux_share
//! probe (each loss's share of each layer's gradient).

use std::path::Path;

use depthlab::data::Targets;
use depthlab::nn::{Model, ModelConfig, Target};
use depthlab::probe::aux_share::aux_share;
use depthlab::probe::paths::{self, ln_choose, shortest_interval, PathOptions};
use depthlab::probe::{parse_what, ProbeKind, ProbeOptions};
use serde_json::Value;

mod common;
use common::{batches, model};

fn param_values(m: &mut Model<f32>) -> Vec<Vec<f32>> {
    m.params().iter().map(|(_, p)| p.value.data.clone()).collect()
}

fn grads_zero(m: &mut Model<f32>) -> bool {
    m.params().iter().all(|(_, p)| p.grad.data.iter().all(|&g| g == 0.0))
}

#[test]
fn binomial_and_shortest_interval() {
    assert!((ln_choose(54, 27).exp() - 1.946_939_425_648_112e15).abs() / 1.9e15 < 1e-9);
    assert_eq!(ln_choose(10, 0), 0.0);
    assert!((ln_choose(10, 10)).abs() < 1e-12);
    assert!((ln_choose(10, 3).exp() - 120.0).abs() < 1e-9);
    let v = [0.0, 1.0, 5.0, 3.0, 1.0, 0.0];
    let (r, m) = shortest_interval(&v, 0.8);
    assert_eq!(r, [2, 3]);
    assert!((m - 0.8).abs() < 1e-12);
    let (r, _) = shortest_interval(&v, 0.9);
    assert_eq!(r, [1, 3]);
}

/// Prints a paths report's numbers.
fn show(label: &str, p: &paths::Paths) {
    let m: Vec<String> = p.lengths.iter().step_by(6).map(|l| format!("k={} {:.3e}", l.k, l.per_path)).collect();
    println!(
        "{label}: n = {}, paths 95% in {:?}, gradient mass {:.0}% in {:?} (holds {:.3} of the mass, {:.4} of the paths), peak at k = {}, ln m(k) slope {:.3}/block, {:.2}s\n  per path: {}",
        p.blocks,
        p.path_range_95,
        100.0 * p.mass,
        p.effective_range,
        p.effective_mass,
        p.effective_path_fraction,
        p.peak,
        p.per_path_log_slope,
        p.elapsed_s,
        m.join(", ")
    );
}

fn residual(depth: usize, width: usize, init: &str) -> String {
    format!("arch = \"residual\"\ndepth = {depth}\nwidth = {width}\nactivation = \"relu\"\ninit = {init}\n")
}

#[test]
fn paths_at_initialisation_54_blocks() {
    let mut m = model(&residual(54, 64, "{ kind = \"glorot\" }"), 40, 1);
    let bs = batches(2, 32, 40, 2);
    let before = param_values(&mut m);
    let p = paths::paths(&mut m, &bs, &PathOptions { draws: 2, ..Default::default() }).unwrap();
    show("residual 54 x 64, relu, glorot, at init", &p);
    // The model is as it was: switches back on, weights unchanged, gradients zero.
    assert_eq!(param_values(&mut m), before);
    assert!(grads_zero(&mut m));
    for (name, b) in m.blocks.iter_mut().filter(|(n, _)| n.starts_with("layers.")) {
        assert!(b.switches().unwrap().pass_branch_grad, "{name}");
    }
    assert_eq!(p.blocks, 54);
    assert_eq!(p.lengths.len(), 55);
    assert_eq!(p.median_length, 27.0);
    // The shortest interval holding 95% of the paths of a 54-block net (Veit et al. quote
    // 19..35, a slightly wider one).
    assert_eq!(p.path_range_95, [20, 34]);
    let paths_sum: f64 = p.lengths.iter().map(|l| l.path_fraction).sum();
    assert!((paths_sum - 1.0).abs() < 1e-9);
    let mass_sum: f64 = p.lengths.iter().map(|l| l.total_fraction).sum();
    assert!((mass_sum - 1.0).abs() < 1e-9);
    assert!(p.effective_mass >= 0.9);
    // k = 0: the identity path only, ||dL/dh_L||, taken once per batch.
    assert_eq!(p.lengths[0].samples, 2);
    assert_eq!(p.lengths[1].samples, 4);
    // The per-path gradient decays exponentially with the length, and the gradient mass peaks
    // below the median length.
    assert!(p.per_path_log_slope < 0.0, "{}", p.per_path_log_slope);
    assert!(p.lengths[20].per_path < p.lengths[0].per_path);
    assert!(p.peak < 27, "peak {}", p.peak);
    assert!(p.effective_range[0] <= p.peak && p.peak <= p.effective_range[1]);
}

#[test]
fn paths_on_highway_and_errors() {
    let mut m = model("arch = \"highway\"\ndepth = 12\nwidth = 16\nactivation = \"tanh\"\ngate_bias = 0.0\n", 10, 3);
    let p = paths::paths(&mut m, &batches(1, 16, 10, 4), &PathOptions::default()).unwrap();
    assert_eq!(p.blocks, 12);
    assert!(p.lengths.iter().all(|l| l.per_path.is_finite() && l.per_path > 0.0));
    assert!(grads_zero(&mut m));
    let mut plain = model("arch = \"plain\"\ndepth = 4\nwidth = 8\n", 10, 3);
    let e = paths::paths(&mut plain, &batches(1, 8, 10, 4), &PathOptions::default()).unwrap_err();
    assert!(e.contains("(residual, highway)"), "{e}");
    // With one block on (k = 1) the per-path gradient is exactly the branch part: check it on a
    // two-block net against the k = 0 path (identity: dL/dh_2) and the full backward.
    let mut r = model(&residual(2, 8, "{ kind = \"he\" }"), 6, 5);
    let bs = batches(1, 4, 6, 6);
    let p = paths::paths(&mut r, &bs, &PathOptions::default()).unwrap();
    assert_eq!(p.lengths.len(), 3);
    assert_eq!(p.lengths[0].samples, 1);
    assert_eq!(p.lengths[2].samples, 1);
    // k = 0 is ||dL/dh_top|| = the gradient at the last stack block's output.
    r.set_taps(true);
    let x = bs[0].x.clone();
    let Targets::Classes { labels, .. } = &bs[0].y else { unreachable!() };
    r.forward_backward(&x, &Target::Classes(labels));
    let top = r.taps().iter().find(|(n, _)| n == "act.layers.1").unwrap().1.norm();
    assert!((p.lengths[0].per_path - top).abs() < 1e-5 * top, "{} vs {top}", p.lengths[0].per_path);
}

#[test]
fn aux_share_below_and_above_the_head() {
    let toml = "arch = \"plain\"\ndepth = 8\nwidth = 16\nactivation = \"tanh\"\naux = [{ layer = 3, weight = 0.3 }]\n";
    let mut m = model(toml, 10, 7);
    let bs = batches(2, 16, 10, 8);
    let before = param_values(&mut m);
    let a = aux_share(&mut m, &bs).unwrap();
    assert_eq!(param_values(&mut m), before);
    assert!(grads_zero(&mut m));
    assert_eq!(a.sources.len(), 2);
    assert_eq!(a.sources[1].name, "aux.0");
    assert_eq!(a.sources[1].layer, 3);
    assert_eq!(a.layers.len(), 8);
    for l in &a.layers {
        println!("layer {}: shares {:?}, cos {:?}", l.layer, l.shares, l.cos_main);
        assert!((l.shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        if l.layer <= 3 {
            assert!(l.shares[1] > 0.0 && l.shares[0] > 0.0, "layer {}", l.layer);
            assert!(l.cos_main[0].is_some());
        } else {
            assert_eq!(l.shares[1], 0.0, "layer {}", l.layer);
            assert_eq!(l.norms[1], 0.0);
            assert_eq!(l.shares[0], 1.0);
            assert_eq!(l.cos_main[0], None);
        }
    }
    // The sources add up to the gradient of the full loss (main + 0.3 aux).
    m.set_taps(true);
    let Targets::Classes { labels, .. } = &bs[0].y else { unreachable!() };
    let mut full = 0.0;
    for b in &bs {
        let Targets::Classes { labels: lb, .. } = &b.y else { unreachable!() };
        m.forward_backward(&b.x, &Target::Classes(lb));
        full += m.taps().iter().find(|(n, _)| n == "act.layers.2").unwrap().1.norm();
    }
    let _ = labels;
    let full = full / bs.len() as f64;
    assert!((a.layers[2].total_norm - full).abs() < 1e-4 * full, "{} vs {full}", a.layers[2].total_norm);
    let mut res = model("arch = \"residual\"\ndepth = 4\nwidth = 8\n", 10, 3);
    assert!(aux_share(&mut res, &bs).unwrap_err().contains("auxiliary heads"));
}

#[test]
fn probes_are_registered() {
    let what = parse_what(&["paths,aux_share".to_string()]).unwrap();
    assert_eq!(what, [ProbeKind::Paths, ProbeKind::AuxShare]);
    let res: ModelConfig = toml::from_str("arch = \"residual\"\ndepth = 4\nwidth = 8\n").unwrap();
    assert!(ProbeKind::Paths.applies(&res).is_ok());
    assert!(ProbeKind::AuxShare.applies(&res).unwrap_err().contains("auxiliary heads"));
    let plain: ModelConfig =
        toml::from_str("arch = \"plain\"\ndepth = 4\nwidth = 8\naux = [{ layer = 1, weight = 0.3 }]\n").unwrap();
    assert!(ProbeKind::Paths.applies(&plain).unwrap_err().contains("(residual, highway)"));
    assert!(ProbeKind::AuxShare.applies(&plain).is_ok());
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// The bar: a 54-block residual MLP trained briefly on MNIST-1D, probed from its run folder
/// (`depthlab::probe::run`, which writes paths.json, paths.svg, paths_mass.svg).
#[test]
fn paths_after_short_training_on_mnist1d() {
    let text = r#"seed = 2

[data]
name = "mnist1d"
num_samples = 4000

[model]
arch = "residual"
depth = 54
width = 64
activation = "relu"
init = { kind = "glorot" }

[optim]
lr = 0.001
optimizer = { kind = "adam" }

[train]
epochs = 1
batch_size = 32
"#;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = depthlab::config::Config::parse(text, "res54", &[]).unwrap();
    let dir = tmp.path().join("res54");
    let t = std::time::Instant::now();
    depthlab::train::train(&cfg, &dir, &depthlab::train::RunOptions { quiet: true, ..Default::default() }).unwrap();
    println!("trained in {:.2}s", t.elapsed().as_secs_f64());
    let po = ProbeOptions { what: vec![ProbeKind::Paths], batches: 2, ..Default::default() };
    let r = depthlab::probe::run(&dir, &po).unwrap();
    assert_eq!(
        r.files,
        [dir.join("probes/paths.svg"), dir.join("probes/paths_mass.svg"), dir.join("probes/paths.json")]
    );
    let p: Value = json(&dir.join("probes/paths.json"));
    println!(
        "trained residual 54 x 64 (1 epoch MNIST-1D): paths 95% in {}, gradient mass 90% in {} (paths there: {}), peak {}, slope {}",
        p["path_range_95"], p["effective_range"], p["effective_path_fraction"], p["peak"], p["per_path_log_slope"]
    );
    assert_eq!(p["probe"], "paths");
    let peak = p["peak"].as_u64().unwrap();
    assert!(peak < 27, "peak {peak}");
}

/// The paths probe as first written: every block's skip part by its own backward, and no
/// rescaling (`paths::paths` computes the skip part as a per-element factor where that is the
/// block's backward bit for bit, and scales tiny gradients by powers of two). Returns m(k).
fn reference_per_path(m: &mut Model<f32>, bs: &[depthlab::data::Dataset], opts: &PathOptions) -> Vec<f64> {
    use depthlab::nn::Ctx;
    use rand::{rngs::StdRng, seq::index::sample, SeedableRng};
    let stack: Vec<usize> = (0..m.blocks.len()).filter(|&i| m.blocks[i].0.starts_with("layers.")).collect();
    let (n, head) = (stack.len(), m.blocks.len() - 1);
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x0009_a745);
    let mut sums = vec![(0.0f64, 0usize); n + 1];
    for b in bs {
        let out = m.forward(&b.x, &Ctx::TRAIN);
        let Targets::Classes { labels, .. } = &b.y else { unreachable!() };
        let dtop = m.blocks[head].1.backward(&depthlab::nn::loss::softmax_cross_entropy(&out, labels).grad);
        for (k, acc) in sums.iter_mut().enumerate() {
            let draws = if k == 0 || k == n { 1 } else { opts.draws };
            for _ in 0..draws {
                let mut on = vec![false; n];
                sample(&mut rng, n, k).into_iter().for_each(|j| on[j] = true);
                let mut d = dtop.clone();
                for j in (0..n).rev() {
                    let blk = &mut m.blocks[stack[j]].1;
                    blk.switches().unwrap().pass_branch_grad = false;
                    let skip = blk.backward(&d);
                    blk.switches().unwrap().pass_branch_grad = true;
                    if on[j] {
                        let mut full = blk.backward(&d);
                        full.data.iter_mut().zip(&skip.data).for_each(|(f, &s)| *f -= s);
                        d = full;
                    } else {
                        d = skip;
                    }
                }
                acc.0 += d.norm();
                acc.1 += 1;
            }
        }
    }
    m.zero_grad();
    sums.iter().map(|&(s, c)| s / c as f64).collect()
}

/// The faster computation gives the first one's numbers: bit for bit while the path gradients
/// stay clear of the subnormal floats, and within 1e-5 (relative) where the first one's lost
/// precision there; and it is finite and positive where the first one underflowed.
#[test]
fn paths_agree_with_the_reference_computation() {
    let opts = PathOptions { draws: 2, seed: 5, ..Default::default() };
    let cases = [
        // Residual and highway nets whose per-path gradients stay in the normal range.
        (residual(20, 16, "{ kind = \"he\" }"), 1.0),
        ("arch = \"highway\"\ndepth = 16\nwidth = 16\nactivation = \"tanh\"\ngate_bias = 0.0\n".to_string(), 1.0),
        ("arch = \"highway\"\ndepth = 12\nwidth = 16\nactivation = \"tanh\"\ncarry = \"independent\"\ncarry_bias = 1.0\n".to_string(), 1.0),
        // A deep highway net with small weights: the long paths' gradients fall below 1e-38.
        ("arch = \"highway\"\ndepth = 40\nwidth = 16\nactivation = \"tanh\"\ngate_bias = 0.0\n".to_string(), 0.05),
    ];
    for (toml, scale) in cases {
        let mut m = model(&toml, 10, 7);
        for (name, p) in m.params().iter_mut() {
            if name.starts_with("layers.") && name.ends_with("weight") {
                p.value.scale(scale);
            }
        }
        let bs = batches(2, 8, 10, 8);
        let want = reference_per_path(&mut m, &bs, &opts);
        let got = paths::paths(&mut m, &bs, &opts).unwrap();
        assert!(grads_zero(&mut m));
        let mut tiny = 0;
        for (l, &w) in got.lengths.iter().zip(&want) {
            let g = l.per_path;
            if w > 1e-30 {
                assert!((g - w).abs() <= 1e-5 * w, "{toml}: k = {}: {g} vs {w}", l.k);
                if w > 1e-20 && scale == 1.0 {
                    assert_eq!(g, w, "{toml}: k = {}", l.k);
                }
            } else {
                tiny += 1;
                assert!(g.is_finite() && g > 0.0 && g < 1e-28, "{toml}: k = {}: {g} (reference {w})", l.k);
            }
        }
        if scale < 1.0 {
            assert!(tiny > 0, "the deep net's long paths should reach the subnormal range: {want:?}");
        }
    }
}

/// Timing (run with `cargo test --release --test probe_paths -- --ignored --nocapture`): both
/// probes on a 50-layer width-64 net, 4 batches of 128.
#[test]
#[ignore]
fn timing_50_layers_width_64() {
    let bs = batches(4, 128, 40, 9);
    let mut r = model(&residual(50, 64, "{ kind = \"glorot\" }"), 40, 1);
    let p = paths::paths(&mut r, &bs, &PathOptions::default()).unwrap();
    show("timing: residual 50 x 64, 4 batches of 128, 2 draws", &p);
    let toml = "arch = \"plain\"\ndepth = 50\nwidth = 64\naux = [{ layer = 15, weight = 0.3 }, { layer = 32, weight = 0.3 }]\n";
    let mut m = model(toml, 40, 1);
    let a = aux_share(&mut m, &bs).unwrap();
    println!("timing: aux_share, plain 50 x 64, 2 heads, 4 batches of 128: {:.3}s", a.elapsed_s);
}
