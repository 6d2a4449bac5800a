//! Probes: mean-field theory (quadrature, Monte Carlo, the gradient-slope bar), gradflow,
//! lesion, gates, diagnosis, and the `depthlab probe` command.

use std::path::{Path, PathBuf};

use depthlab::data::Targets;
use depthlab::nn::Activation;
use depthlab::probe::diagnosis::{self, diagnose};
use depthlab::probe::gradflow::{self, Gradflow, LayerNorm};
use depthlab::probe::meanfield::{measure_slope, GaussHermite, MeanField};
use depthlab::probe::{gates, lesion, ProbeError, ProbeKind, ProbeOptions};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde_json::Value;

mod common;
use common::{batches, model, run_depthlab, Run};

// ---- mean field ----

#[test]
fn gauss_hermite_integrates_known_moments() {
    for n in [20, 60, 80, 100] {
        let gh = GaussHermite::new(n);
        assert!((gh.w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "n = {n}: weights sum to {}", gh.w.iter().sum::<f64>());
        assert!((gh.expect(|z| z * z) - 1.0).abs() < 1e-11, "n = {n}: E[z^2]");
        assert!((gh.expect(|z| z.powi(4)) - 3.0).abs() < 1e-10, "n = {n}: E[z^4]");
        assert!((gh.expect(|z| z.powi(6)) - 15.0).abs() < 1e-9, "n = {n}: E[z^6]");
        assert!(gh.expect(|z| z.powi(3)).abs() < 1e-12);
        // E[cos z] = e^{-1/2}; E[e^z] = e^{1/2}.
        assert!((gh.expect(f64::cos) - (-0.5f64).exp()).abs() < 1e-12, "n = {n}: E[cos z]");
        assert!((gh.expect(f64::exp) - 0.5f64.exp()).abs() < 1e-12, "n = {n}: E[e^z]");
    }
}

/// The length map at q and chi_1 at q by Monte Carlo, from 2 million draws.
fn monte_carlo(phi: Activation, sw: f64, sb: f64, q: f64) -> (f64, f64) {
    let mut rng = StdRng::seed_from_u64(7);
    let normal = Normal::new(0.0, 1.0).unwrap();
    let n = 2_000_000;
    let (mut a, mut c) = (0.0, 0.0);
    for _ in 0..n {
        let u = q.sqrt() * normal.sample(&mut rng);
        a += phi.f(u).powi(2);
        c += phi.df(u).powi(2);
    }
    (sw * a / n as f64 + sb, sw * c / n as f64)
}

#[test]
fn meanfield_matches_monte_carlo() {
    for (phi, sw, sb) in [(Activation::Tanh, 1.5, 0.05), (Activation::Tanh, 4.0, 0.05), (Activation::Gelu, 2.0, 0.1)] {
        let m = MeanField::compute(phi, sw, sb);
        // q* is a fixed point of the Monte Carlo length map.
        let (q, chi) = monte_carlo(phi, sw, sb, m.q_star);
        assert!(m.q_converged);
        assert!((m.q_star - q).abs() < 2e-3 * q, "{phi:?} {sw}: q* {} maps to {q} by Monte Carlo", m.q_star);
        assert!((m.chi_1 - chi).abs() < 2e-3 * chi, "{phi:?} {sw}: chi_1 {} vs Monte Carlo {chi}", m.chi_1);
    }
    // Known values for tanh, sigma_b^2 = 0.05 (the quadrature agrees with the Monte Carlo
    // above to 4 digits): q* = 0.4180 at sigma_w^2 = 1.5.
    let m = MeanField::compute(Activation::Tanh, 1.5, 0.05);
    assert!((m.q_star - 0.4180).abs() < 1e-3, "{}", m.q_star);
    assert!((m.chi_1 - 0.9386).abs() < 1e-3, "{}", m.chi_1);
    assert_eq!(m.phase, "ordered");
}

#[test]
fn meanfield_order_to_chaos() {
    // Schoenholz et al. 2017: for tanh with sigma_b^2 = 0.05 the transition lies at
    // sigma_w^2 ~ 1.76, where chi_1 = 1 and xi_c diverges.
    let m = MeanField::compute(Activation::Tanh, 1.76, 0.05);
    assert!((m.chi_1 - 1.0).abs() < 2e-3, "chi_1 = {}", m.chi_1);
    assert!(m.xi_c > 1000.0, "xi_c = {}", m.xi_c);
    let ordered = MeanField::compute(Activation::Tanh, 1.0, 0.05);
    let chaotic = MeanField::compute(Activation::Tanh, 3.0, 0.05);
    assert!(ordered.chi_1 < 1.0 && ordered.c_star == 1.0 && ordered.chi_c == ordered.chi_1);
    assert!(chaotic.chi_1 > 1.0 && chaotic.c_star < 1.0 && chaotic.chi_c < 1.0, "{chaotic:?}");
    assert_eq!(chaotic.phase, "chaotic");
    // xi_c is finite on both sides and grows towards the transition.
    let near = MeanField::compute(Activation::Tanh, 1.6, 0.05);
    assert!(near.xi_c > ordered.xi_c && ordered.xi_c > 0.0);
    // chi_q by finite differences of the length map.
    let gh = GaussHermite::new(80);
    for m in [&ordered, &chaotic] {
        let h = 1e-5;
        let fd = (MeanField::length_map(Activation::Tanh, m.sigma_w2, 0.05, m.q_star + h, &gh)
            - MeanField::length_map(Activation::Tanh, m.sigma_w2, 0.05, m.q_star - h, &gh))
            / (2.0 * h);
        assert!((fd - m.chi_q).abs() < 1e-7, "chi_q {} vs finite differences {fd}", m.chi_q);
        assert!((m.xi_q + 1.0 / m.chi_q.ln()).abs() < 1e-12);
    }
    // ReLU in closed form: chi_1 = sigma_w^2 / 2.
    let r = MeanField::compute(Activation::Relu, 2.0, 0.0);
    assert!((r.chi_1 - 1.0).abs() < 1e-12 && r.predicted_slope.abs() < 1e-12);
}

/// The bar: 50-layer plain tanh nets of width 300, sigma_b^2 = 0.05: the measured slope of
/// ln ||dL/dh_l|| per layer agrees with (1/2) ln chi_1 within 10%, or within 0.01 nats per
/// layer where chi_1 is close to 1.
#[test]
fn gradient_slope_matches_mean_field() {
    let mut report = String::new();
    for sw in [1.0, 1.5, 2.0, 3.0, 4.0] {
        let r = measure_slope(Activation::Tanh, sw, 0.05, 50, 300, 64, 4, &[1, 2], [10, 45]).unwrap();
        report += &format!(
            "sigma_w^2 = {sw}: chi_1 = {:.4}, measured {:+.4}, predicted {:+.4} nats/layer (tolerance {:.4})\n",
            r.theory.chi_1, r.measured_slope, r.predicted_slope, r.tolerance
        );
        assert!(r.agrees, "{report}");
    }
    println!("{report}");
}

// ---- gradflow ----

const PLAIN: &str = "arch = \"plain\"\ndepth = 50\nwidth = 64\nactivation = \"tanh\"\ninit = { kind = \"gaussian\", sigma_w2 = 1.0, sigma_b2 = 0.05 }";
const HIGHWAY: &str = "arch = \"highway\"\ndepth = 50\nwidth = 64\nactivation = \"tanh\"\ngate_bias = -3.0\ninit = { kind = \"gaussian\", sigma_w2 = 1.0, sigma_b2 = 0.05 }";

#[test]
fn gradflow_vanishes_in_plain_tanh_not_in_highway() {
    let data = batches(3, 32, 20, 1);
    let mut plain = model(PLAIN, 20, 1);
    let mut highway = model(HIGHWAY, 20, 1);
    let p = gradflow::feed_forward(&mut plain, &data);
    let h = gradflow::feed_forward(&mut highway, &data);
    assert_eq!(p.layers.len(), 50);
    assert_eq!(p.blocks.first().unwrap().name, "act.stem");
    assert_eq!(p.blocks.last().unwrap().name, "act.head");
    assert_eq!(p.params.len(), 2 * 52);
    assert!(p.params.iter().all(|q| q.grad_norm > 0.0));
    assert!(p.params.iter().all(|q| q.value_norm > 0.0 || q.name == "head.bias"));
    let (pr, hr) = (p.first_to_last.unwrap(), h.first_to_last.unwrap());
    // Plain: about chi_1^(49/2) = 0.759^24.5 ~ 1e-3 (measured 2e-3). Highway with gate bias
    // -3 (T ~ 0.05): the carry path passes (1 - T) per layer, ~0.95^49 ~ 0.1 (measured 0.09).
    assert!(pr < 0.01, "plain first/last = {pr}");
    assert!(hr > 0.03, "highway first/last = {hr}");
    assert!(hr > 20.0 * pr, "highway {hr} vs plain {pr}");
    // Gradients are accumulated per batch and averaged: the model's grads are zeroed after.
    assert!(plain.params().iter().all(|(_, q)| q.grad.sum_sq() == 0.0));
}

// ---- lesion ----

fn tiny_config(arch: &str, extra: &str) -> String {
    format!(
        r#"seed = 2

[data]
name = "mnist1d"
num_samples = 4000

[model]
arch = "{arch}"
depth = 8
width = 32
activation = "relu"
init = {{ kind = "he" }}
{extra}

[optim]
lr = 0.003
optimizer = {{ kind = "adam" }}

[train]
epochs = 6
batch_size = 32
"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// Train `arch` briefly and lesion it from its run folder: the mean accuracy drop over single
/// deletions, and the report.
fn trained_lesion(tmp: &Path, arch: &str, init: &str) -> (f64, Value) {
    let text = tiny_config(arch, "").replace("{ kind = \"he\" }", init).replace("epochs = 6", "epochs = 20");
    let cfg = depthlab::config::Config::parse(&text, arch, &[]).unwrap();
    let dir = tmp.join(arch);
    let opts = depthlab::train::RunOptions { quiet: true, ..Default::default() };
    depthlab::train::train(&cfg, &dir, &opts).unwrap();
    let po = ProbeOptions { what: vec![ProbeKind::Lesion], ..Default::default() };
    let r = depthlab::probe::run(&dir, &po).unwrap();
    assert_eq!(
        r.files,
        // Figures first, the report last: a report on disk means its figures are too.
        [dir.join("probes/lesion.svg"), dir.join("probes/lesion_random.svg"), dir.join("probes/lesion.json")]
    );
    assert!(r.trained);
    assert_eq!(r.out, dir.join("probes"));
    let l = json(&dir.join("probes/lesion.json"));
    let base = l["baseline"]["accuracy"].as_f64().unwrap();
    let single = l["single"].as_array().unwrap();
    assert_eq!(single.len(), 8);
    let drop = single.iter().map(|s| base - s["accuracy"].as_f64().unwrap()).sum::<f64>() / single.len() as f64;
    (drop, l)
}

#[test]
fn lesion_hurts_plain_more_than_residual() {
    let tmp = tempfile::tempdir().unwrap();
    // MNIST-1D, 8 layers of width 32, 20 epochs: about 0.6 (residual) and 0.5 (plain) test
    // accuracy; deleting one residual block costs about 0.04, one plain layer about 0.4.
    let (res, rl) = trained_lesion(tmp.path(), "residual", "{ kind = \"gaussian\", sigma_w2 = 0.5, sigma_b2 = 0.0 }");
    let (plain, pl) = trained_lesion(tmp.path(), "plain", "{ kind = \"he\" }");
    let (rb, pb) = (rl["baseline"]["accuracy"].as_f64().unwrap(), pl["baseline"]["accuracy"].as_f64().unwrap());
    assert!(rb > 0.45 && pb > 0.4, "the nets learned: residual {rb}, plain {pb}");
    assert!(plain > 0.2 && plain > 3.0 * res.max(0.0), "mean accuracy drop: plain {plain}, residual {res}");
    // k random deletions for k = 1..8, three draws each (one for k = n).
    let random = rl["random"].as_array().unwrap();
    assert_eq!(random.len(), 8);
    assert_eq!(random[0]["draws"].as_array().unwrap().len(), 3);
    assert_eq!(random[7]["draws"].as_array().unwrap().len(), 1);
}

#[test]
fn lesion_restores_the_model() {
    let mut m = model(HIGHWAY, 20, 3);
    let data = batches(1, 64, 20, 3).remove(0);
    let before = m.evaluate(
        &data.x,
        &depthlab::nn::Target::Classes(match &data.y {
            Targets::Classes { labels, .. } => labels,
            _ => unreachable!(),
        }),
    );
    let l = lesion::lesion(&mut m, &data, &lesion::LesionOptions { draws: 2, seed: 1, max_examples: 64 }).unwrap();
    assert!((l.baseline.loss - before.loss).abs() < 1e-9);
    assert_eq!(l.single.len(), 50);
    assert!(m.blocks.iter_mut().all(|(_, b)| b.switches().is_none_or(|s| !s.lesioned)));
    // Deleting every layer of a highway net leaves stem -> head.
    assert_eq!(l.random.last().unwrap().k, 50);
}

// ---- gates ----

#[test]
fn highway_gates_at_init() {
    let cfg = "arch = \"highway\"\ndepth = 10\nwidth = 32\ngate_bias = -2.0\ninit = { kind = \"gaussian\", sigma_w2 = 0.01, sigma_b2 = 0.0 }";
    let mut m = model(cfg, 16, 4);
    let g = gates::highway(&mut m, &batches(2, 64, 16, 4)).unwrap();
    assert_eq!(g.layers.len(), 10);
    assert_eq!(g.examples, 128);
    let s = 1.0 / (1.0 + 2f64.exp());
    for l in &g.layers {
        assert!((l.gate_bias + 2.0).abs() < 1e-6);
        assert!(
            (l.transform.mean - s).abs() < 0.01,
            "layer {}: mean T {} vs sigmoid(-2) = {s}",
            l.layer,
            l.transform.mean
        );
        assert_eq!(l.transform.count, 128 * 32);
        assert!(l.carry.is_none());
    }
    assert_eq!(g.frac_layers_open, 0.0);
    // Bias -4: T ~ 0.018 < 0.1 everywhere: the diagnosis says the layers only carry.
    let mut m = model(&cfg.replace("-2.0", "-4.0"), 16, 4);
    let g = gates::highway(&mut m, &batches(1, 64, 16, 4)).unwrap();
    assert!(g.transform.frac_below > 0.99 && g.frac_layers_closed == 1.0);
    let v = diagnosis::from_highway(&g);
    assert_eq!(v.verdict, "carrying");
    assert!(v.text.starts_with("100% of transform gates are closed (< 0.1): most layers only carry"), "{}", v.text);
    assert!(gates::highway(&mut model(PLAIN, 20, 1), &batches(1, 8, 20, 1)).unwrap_err().contains("highway"));
}

// ---- diagnosis ----

fn synthetic_gradflow(norms: &[f64]) -> Gradflow {
    Gradflow {
        probe: "gradflow".into(),
        kind: "feed_forward".into(),
        batches: 1,
        batch_size: 1,
        loss: 0.0,
        blocks: Vec::new(),
        layers: norms
            .iter()
            .enumerate()
            .map(|(i, &n)| LayerNorm { layer: i, name: format!("layers.{i}"), norm: n, rms: n })
            .collect(),
        params: Vec::new(),
        first_to_last: None,
        slope_per_layer: None,
        elapsed_s: 0.0,
    }
}

#[test]
fn diagnosis_verdicts() {
    let mut norms = vec![1.0; 50];
    norms[0] = 3e-9;
    let v = diagnosis::from_gradflow(&synthetic_gradflow(&norms)).unwrap();
    assert_eq!(v.verdict, "vanishing");
    assert!(
        v.text.starts_with("gradient at layer 1 (layers.0) is 3.0e-9 of layer 50 (layers.49): vanishing"),
        "{}",
        v.text
    );
    assert_eq!(v.numbers["ratio"].as_f64().unwrap(), 3e-9);
    norms[0] = 2e5;
    assert_eq!(diagnosis::from_gradflow(&synthetic_gradflow(&norms)).unwrap().verdict, "exploding");
    norms[0] = 0.5;
    assert_eq!(diagnosis::from_gradflow(&synthetic_gradflow(&norms)).unwrap().verdict, "healthy");
    norms[0] = f64::NAN;
    assert_eq!(diagnosis::from_gradflow(&synthetic_gradflow(&norms)).unwrap().verdict, "non_finite");
    // Measured: plain tanh at sigma_w^2 = 0.5 vanishes; plain relu at sigma_w^2 = 3 explodes
    // (chi_1 = 1.5: 1.5^(49/2) ~ 2e4).
    let data = batches(2, 32, 20, 5);
    let vanish = PLAIN.replace("depth = 30", "depth = 50").replace("sigma_w2 = 1.0", "sigma_w2 = 0.5");
    let g = gradflow::feed_forward(&mut model(&vanish, 20, 5), &data);
    let d = diagnose(Some(&g), None, None, None);
    assert_eq!(d.verdicts[0].verdict, "vanishing", "{}", d.text());
    let explode = vanish.replace("tanh", "relu").replace("sigma_w2 = 0.5", "sigma_w2 = 3.0");
    let g = gradflow::feed_forward(&mut model(&explode, 20, 5), &data);
    let d = diagnose(Some(&g), None, None, None);
    assert_eq!(d.verdicts[0].verdict, "exploding", "{}", d.text());
    assert!(d.text().starts_with("gradflow: gradient at layer 1"));
}

// ---- the command ----

/// Every element closed in order, attributes quoted, entities known: enough of XML to catch
/// a broken writer.
fn assert_well_formed_xml(text: &str, what: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let b = text.as_bytes();
    let mut i = 0;
    let check_text = |s: &str| {
        let mut rest = s;
        while let Some(p) = rest.find('&') {
            let end = rest[p..].find(';').unwrap_or_else(|| panic!("{what}: bare & in {s:?}"));
            let ent = &rest[p + 1..p + end];
            assert!(
                ["amp", "lt", "gt", "quot", "apos"].contains(&ent) || ent.starts_with('#'),
                "{what}: unknown entity &{ent};"
            );
            rest = &rest[p + end..];
        }
    };
    while i < b.len() {
        if b[i] != b'<' {
            let next = text[i..].find('<').map(|p| i + p).unwrap_or(b.len());
            let t = &text[i..next];
            assert!(!t.contains('>') || !stack.is_empty(), "{what}: stray text {t:?}");
            if stack.is_empty() {
                assert!(t.trim().is_empty(), "{what}: text outside the root: {t:?}");
            }
            check_text(t);
            i = next;
            continue;
        }
        let close = text[i..].find('>').map(|p| i + p).unwrap_or_else(|| panic!("{what}: unclosed tag"));
        let tag = &text[i + 1..close];
        if tag.starts_with('?') {
            assert!(tag.ends_with('?') && i == 0, "{what}: processing instruction {tag}");
        } else if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "{what}: mismatched </{name}>");
        } else {
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == ':'),
                "{what}: tag {tag}"
            );
            // Attributes: name="value" pairs.
            let mut rest = body[name.len()..].trim();
            while !rest.is_empty() {
                let eq = rest.find("=\"").unwrap_or_else(|| panic!("{what}: attribute in <{tag}>"));
                let an = rest[..eq].trim();
                assert!(
                    !an.is_empty() && an.chars().all(|c| c.is_alphanumeric() || c == '-' || c == ':'),
                    "{what}: {an}"
                );
                let vend = rest[eq + 2..].find('"').unwrap_or_else(|| panic!("{what}: unquoted attribute")) + eq + 2;
                let v = &rest[eq + 2..vend];
                assert!(!v.contains('<'), "{what}: < in attribute");
                check_text(v);
                rest = rest[vend + 1..].trim_start();
            }
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name);
            }
        }
        i = close + 1;
    }
    assert!(stack.is_empty(), "{what}: unclosed {stack:?}");
    assert_eq!(roots, 1, "{what}: one root element");
}

fn depthlab(cwd: &Path, args: &[&str]) -> Run {
    run_depthlab(args, |c| {
        c.current_dir(cwd).env_remove("DEPTHLAB_DATA").env("CI", "1");
    })
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn check_svgs(dir: &Path) {
    for f in files(dir).iter().filter(|f| f.ends_with(".svg")) {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(text.contains("<svg") && text.contains("<text"), "{f}");
        assert!(!text.contains("NaN") && !text.contains("inf"), "{f}: non-finite coordinates");
        assert_well_formed_xml(&text, f);
    }
}

#[test]
fn command_on_a_highway_config() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "hw.toml", &tiny_config("highway", "gate_bias = -2.0"));
    let r = depthlab(tmp.path(), &["probe", "hw.toml"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let dir = tmp.path().join("probes/hw");
    assert_eq!(
        files(&dir),
        [
            ".lock",
            "diagnosis.json",
            "diagnosis.sha256",
            "gates.json",
            "gates.sha256",
            "gates.svg",
            "gates_bias.svg",
            "gradflow.json",
            "gradflow.sha256",
            "gradflow.svg",
            "gradflow_params.svg",
            "jacobian.json",
            "jacobian.sha256",
            "jacobian.svg",
            "jacobian_hist.svg",
            "lesion.json",
            "lesion.sha256",
            "lesion.svg",
            "lesion_random.svg",
            "paths.json",
            "paths.sha256",
            "paths.svg",
            "paths_mass.svg"
        ]
    );
    check_svgs(&dir);
    for probe in ["gradflow:", "lesion:", "gates:", "diagnosis:"] {
        assert!(r.stdout.contains(probe), "{probe} in\n{}", r.stdout);
    }
    assert!(r.stdout.contains("gradflow: gradient at layer 1 (layers.0) is"), "{}", r.stdout);
    let g = json(&dir.join("gradflow.json"));
    assert_eq!(g["kind"], "feed_forward");
    assert_eq!(g["batches"], 4);
    assert_eq!(g["layers"].as_array().unwrap().len(), 8);
    let d = json(&dir.join("diagnosis.json"));
    let topics: Vec<&str> = d["verdicts"].as_array().unwrap().iter().map(|v| v["topic"].as_str().unwrap()).collect();
    assert_eq!(topics, ["gradflow", "gates"]);
    assert_eq!(json(&dir.join("gates.json"))["layers"][0]["gate_bias"].as_f64().unwrap(), -2.0);
}

#[test]
fn command_on_a_plain_config_with_what_and_out() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config("plain", "")
        .replace("activation = \"relu\"", "activation = \"tanh\"")
        .replace("init = { kind = \"he\" }", "init = { kind = \"gaussian\", sigma_w2 = 1.5, sigma_b2 = 0.05 }");
    write(tmp.path(), "plain.toml", &cfg);
    let r =
        depthlab(tmp.path(), &["probe", "plain.toml", "--what", "meanfield,gradflow", "--out", "o", "--batches", "2"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let dir = tmp.path().join("o");
    assert_eq!(
        files(&dir),
        [
            ".lock",
            "gradflow.json",
            "gradflow.sha256",
            "gradflow.svg",
            "gradflow_params.svg",
            "meanfield.json",
            "meanfield.sha256",
            "meanfield.svg"
        ]
    );
    check_svgs(&dir);
    let m = json(&dir.join("meanfield.json"));
    assert!((m["q_star"].as_f64().unwrap() - 0.418).abs() < 1e-3);
    assert_eq!(m["layers"].as_array().unwrap().len(), 8);
    assert_eq!(json(&dir.join("gradflow.json"))["batches"], 2);
}

#[test]
fn command_on_sequence_models() {
    let tmp = tempfile::tempdir().unwrap();
    for arch in ["lstm", "gru", "rnn_tanh"] {
        let cfg = format!(
            "seed = 1\n[data]\nname = \"adding\"\nt = 12\ntrain = 64\ntest = 32\n[model]\narch = \"{arch}\"\ndepth = 1\nwidth = 8\n[optim]\nlr = 0.01\noptimizer = {{ kind = \"sgd\" }}\n[train]\nepochs = 1\nbatch_size = 16\n"
        );
        write(tmp.path(), &format!("{arch}.toml"), &cfg);
        let r = depthlab(tmp.path(), &["probe", &format!("{arch}.toml")]);
        assert_eq!(r.code, Some(0), "{arch}: {}", r.stderr);
        let dir = tmp.path().join("probes").join(arch);
        check_svgs(&dir);
        let g = json(&dir.join("gradflow.json"));
        assert_eq!(g["kind"], "sequence");
        assert_eq!(g["readout"], "last");
        let s = &g["series"][0];
        assert_eq!(s["name"], "act.rnn.l0.h");
        assert_eq!(s["by_distance"].as_array().unwrap().len(), 12);
        let d = json(&dir.join("diagnosis.json"));
        assert_eq!(d["verdicts"][0]["topic"], "gradflow");
        if arch == "rnn_tanh" {
            assert!(!dir.join("gates.json").exists());
            continue;
        }
        let gates = json(&dir.join("gates.json"));
        assert_eq!(gates["kind"], arch);
        let names: Vec<&str> =
            gates["layers"][0]["gates"].as_array().unwrap().iter().map(|g| g["gate"].as_str().unwrap()).collect();
        assert_eq!(names, if arch == "lstm" { vec!["i", "f", "g", "o"] } else { vec!["r", "z", "n"] });
        let f = &gates["layers"][0]["gates"][1];
        assert_eq!(f["mean_per_step"].as_array().unwrap().len(), 12);
        if arch == "lstm" {
            // Forget bias 1 at init: f ~ sigmoid(1) ~ 0.73.
            assert!((f["overall"]["mean"].as_f64().unwrap() - 0.73).abs() < 0.1, "{f}");
        }
        assert!(r.stdout.contains("gates: layer 0"), "{}", r.stdout);
    }
}

#[test]
fn tcn_gradient_is_bounded_by_the_receptive_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = "seed = 1\n[data]\nname = \"adding\"\nt = 12\ntrain = 64\ntest = 32\n[model]\narch = \"tcn\"\ndepth = 2\nwidth = 8\n[optim]\nlr = 0.01\noptimizer = { kind = \"sgd\" }\n[train]\nepochs = 1\nbatch_size = 16\n";
    write(tmp.path(), "tcn.toml", cfg);
    let r = depthlab(tmp.path(), &["probe", "tcn.toml", "--out", "o"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let g = json(&tmp.path().join("o/gradflow.json"));
    // Level 1 (two convolutions, kernel 2, dilation 2) sees level 0's output 0, 2 and 4 steps
    // back.
    let l0 = g["series"].as_array().unwrap().iter().find(|s| s["name"] == "act.tcn.l0.h").unwrap();
    let d: Vec<f64> = l0["by_distance"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let reached: Vec<usize> = (0..d.len()).filter(|&i| d[i] > 0.0).collect();
    assert_eq!(reached, [0, 2, 4], "{d:?}");
    let v = &json(&tmp.path().join("o/diagnosis.json"))["verdicts"][0];
    assert_eq!(v["verdict"], "bounded");
    assert_eq!(v["numbers"]["reach"], 4);
    assert!(!tmp.path().join("o/gates.json").exists());
}

#[test]
fn command_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let r = depthlab(tmp.path(), &["probe", "runs/nothing"]);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("runs/nothing: no such config file or run folder"), "{}", r.stderr);
    std::fs::create_dir_all(tmp.path().join("empty")).unwrap();
    let r = depthlab(tmp.path(), &["probe", "empty"]);
    assert!(r.stderr.contains("is not a run folder: it has no config.toml"), "{}", r.stderr);
    write(tmp.path(), "hw.toml", &tiny_config("highway", ""));
    let r = depthlab(tmp.path(), &["probe", "hw.toml", "--what", "gradflow,jacobean"]);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("unknown probe `jacobean`: the probes are gradflow, meanfield"), "{}", r.stderr);
    let r = depthlab(tmp.path(), &["probe", "hw.toml", "--what", "meanfield"]);
    assert!(r.stderr.contains("probe `meanfield` applies to plain stacks"), "{}", r.stderr);
    assert!(!tmp.path().join("probes").exists(), "nothing written on a bad request");
    // Library errors are typed.
    let e = depthlab::probe::run(&tmp.path().join("nope"), &ProbeOptions::default()).unwrap_err();
    assert!(matches!(e, ProbeError::Input(_)));
}

/// Every report a probe writes reads back as its type (`probe::Report`, which `lab` reads
/// verdicts from), with NaN where a number was not finite: feed-forward stacks with and without
/// skips and heads, and a recurrent net.
#[test]
fn every_probe_file_reads_back_typed() {
    use depthlab::probe::{aux_share::AuxShare, diagnosis::Diagnosis, gates::*, gradflow::SeqGradflow};
    use depthlab::probe::{jacobian::Jacobian, lesion::Lesion, meanfield::MeanfieldReport, paths::Paths};
    use depthlab::probe::{temporal::Temporal, Report};
    fn read<R: Report>(dir: &Path) {
        let file = dir.join(format!("{}.json", R::KIND.name()));
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(e) = depthlab::read::from_slice::<R>(&bytes) {
            panic!("{} does not read back as {}: {e}", file.display(), std::any::type_name::<R>());
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let lstm = "seed = 1\n[data]\nname = \"adding\"\nt = 12\ntrain = 64\ntest = 32\n[model]\narch = \"lstm\"\ndepth = 1\nwidth = 8\n[optim]\nlr = 0.01\noptimizer = { kind = \"sgd\" }\n[train]\nepochs = 1\nbatch_size = 16\n";
    let plain =
        tiny_config("plain", "aux = [{ layer = 3, weight = 0.3 }]").replace("num_samples = 4000", "num_samples = 400");
    for (name, text) in
        [("hw", tiny_config("highway", "").replace("4000", "400")), ("plain", plain), ("lstm", lstm.into())]
    {
        write(tmp.path(), &format!("{name}.toml"), &text);
        let r = depthlab(tmp.path(), &["probe", &format!("{name}.toml"), "--batches", "1"]);
        assert_eq!(r.code, Some(0), "{name}: {}", r.stderr);
    }
    let dir = |n: &str| tmp.path().join("probes").join(n);
    read::<Gradflow>(&dir("hw"));
    read::<HighwayGates>(&dir("hw"));
    read::<Lesion>(&dir("hw"));
    read::<Paths>(&dir("hw"));
    read::<Jacobian>(&dir("hw"));
    read::<Diagnosis>(&dir("hw"));
    read::<MeanfieldReport>(&dir("plain"));
    read::<AuxShare>(&dir("plain"));
    read::<SeqGradflow>(&dir("lstm"));
    read::<RecurrentGates>(&dir("lstm"));
    read::<Temporal>(&dir("lstm"));
    // A report of the wrong kind of model is refused, not half read.
    let bytes = std::fs::read(dir("lstm").join("gradflow.json")).unwrap();
    assert!(depthlab::read::from_slice::<Gradflow>(&bytes).is_err());
}
