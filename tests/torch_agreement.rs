//! Same weights, same numbers: depthlab against PyTorch, and weights that move both ways.
//!
//! * tests/fixtures/torch/<case>/ (made by tools/torch_fixtures.py): a PyTorch state dict,
//!   a batch and PyTorch's loss, outputs, parameter gradients and block-output gradients.
//!   depthlab must reproduce every tensor: relative error ||a - b||_2 / max(||b||_2, 1e-6)
//!   <= 1e-4 per tensor (the L2 norm over all its elements; a = depthlab in f32, b = PyTorch
//!   in f64 from the same f32 weights and inputs).
//! * tests/fixtures/torch/depthlab_made/<case>/: checkpoints written by depthlab, which the
//!   script loads into its PyTorch models (`python tools/torch_fixtures.py --check`). The test
//!   here keeps them current: it rebuilds each one and requires the same bytes
//!   (`DEPTHLAB_REGEN_FIXTURES=1` rewrites them).
//! * Bad weight files and arrays through the binary: a clear error, nothing written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use depthlab::config::{Config, ModelSpec};
use depthlab::grads::{setup, GradsArgs, Loaded, Problem};
use depthlab::nn::{Arch, Carry};
use depthlab::npy::{self, Array};
use depthlab::train::checkpoint::{load_tensors, save_tensors, NamedTensor};
use safetensors::tensor::{Dtype, TensorView};

const TOL: f64 = 1e-4;

/// Tensors by name: shape, values.
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;
/// A tensor as stored: name, dtype, shape, little-endian bytes.
type Raw = (String, Dtype, Vec<usize>, Vec<u8>);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch")
}

/// The PyTorch-made cases, sorted.
fn torch_cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.safetensors").is_file() && p.join("weights.safetensors").is_file())
        .collect();
    v.sort();
    v
}

fn args(dir: &Path, out: &Path) -> GradsArgs {
    let target = dir.join("target.npy");
    GradsArgs {
        config: dir.join("config.toml"),
        sets: Vec::new(),
        weights: dir.join("weights.safetensors"),
        input: dir.join("input.npy"),
        target: target.is_file().then_some(target),
        head_targets: head_targets(dir),
        out: out.to_owned(),
    }
}

/// The targets of layer heads: `target_<name>.npy`, by name.
fn head_targets(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.strip_prefix("target_")?.strip_suffix(".npy")?.to_string();
            Some((name, p))
        })
        .collect();
    v.sort();
    v
}

fn config(dir: &Path) -> ModelSpec {
    ModelSpec::load(&dir.join("config.toml"), &[]).unwrap()
}

fn problem(dir: &Path) -> Problem {
    let loaded = Loaded::read(&args(dir, Path::new("unused"))).unwrap();
    setup(&config(dir), &loaded).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn tensors(path: &Path) -> Tensors {
    load_tensors(path).unwrap().into_iter().map(|(n, s, v)| (n, (s, v))).collect()
}

fn by_name(t: Vec<NamedTensor>) -> Tensors {
    let n = t.len();
    let m: BTreeMap<_, _> = t.into_iter().map(|(n, s, v)| (n, (s, v))).collect();
    assert_eq!(m.len(), n, "a tensor name appears twice");
    m
}

/// ||a - b||_2 / max(||b||_2, 1e-6), in f64.
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let d: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum::<f64>().sqrt();
    let n: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt();
    d / n.max(1e-6)
}

/// Every tensor of `want` in `got` (and nothing else), same shape, within `tol`; returns the
/// worst error and its tensor.
fn compare(case: &str, got: &Tensors, want: &Tensors, tol: f64) -> (f64, String) {
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{case}: depthlab lacks {missing:?}, has beyond the reference {extra:?}"
    );
    let mut worst = (0.0, String::new());
    let mut bad = Vec::new();
    for (name, (shape, b)) in want {
        let (gshape, a) = &got[name];
        assert_eq!(gshape, shape, "{case}: `{name}` has shape {gshape:?}, the reference {shape:?}");
        let e = rel_err(a, b);
        if e > tol || !e.is_finite() {
            bad.push(format!("{name}: {e:.2e}"));
        }
        if e > worst.0 {
            worst = (e, name.clone());
        }
    }
    assert!(bad.is_empty(), "{case}: relative error above {tol:e}: {bad:?}");
    worst
}

#[test]
fn every_fixture_agrees_with_pytorch() {
    let cases = torch_cases();
    assert!(cases.len() >= 35, "only {} fixtures under {}", cases.len(), fixtures().display());
    let mut worst = (0.0, String::new());
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let got = by_name(problem(dir).gradients());
        let (e, t) = compare(&name, &got, &tensors(&dir.join("expected.safetensors")), TOL);
        println!("{name:36} {:3} tensors, worst {e:.1e} ({t})", got.len());
        if e > worst.0 {
            worst = (e, format!("{name}: {t}"));
        }
    }
    println!("worst relative error over all fixtures: {:.2e} ({})", worst.0, worst.1);
}

#[test]
fn the_fixtures_cover_every_architecture() {
    let cfgs: Vec<ModelSpec> = torch_cases().iter().map(|d| config(d)).collect();
    let archs: BTreeSet<String> = cfgs.iter().map(|c| format!("{:?}", c.model.arch)).collect();
    for a in Arch::ALL {
        assert!(archs.contains(&format!("{a:?}")), "no fixture for {a:?}");
    }
    let any = |f: &dyn Fn(&ModelSpec) -> bool| cfgs.iter().any(f);
    let m = |c: &ModelSpec| c.model.clone();
    assert!(any(&|c| m(c).arch == Arch::Highway && m(c).carry == Carry::Coupled));
    assert!(any(&|c| m(c).arch == Arch::Highway && m(c).carry == Carry::Independent));
    for preact in [false, true] {
        for layers in [1, 2] {
            assert!(any(&|c| m(c).arch == Arch::Residual && m(c).preact == preact && m(c).residual_layers == layers));
        }
    }
    assert!(any(&|c| m(c).arch == Arch::WeightedSkip && m(c).per_unit_alpha));
    assert!(any(&|c| m(c).arch == Arch::WeightedSkip && !m(c).per_unit_alpha));
    assert!(any(&|c| !m(c).aux.is_empty()));
    for a in [Arch::RnnTanh, Arch::Lstm, Arch::Gru] {
        assert!(any(&|c| m(c).arch == a && m(c).bidirectional == Some(true)), "{a:?} bidirectional");
    }
    for a in [Arch::RnnRelu, Arch::Lstm, Arch::Gru, Arch::Tcn, Arch::Attention] {
        assert!(any(&|c| m(c).arch == a && m(c).depth >= 2), "{a:?} stacked");
    }
    // Per-layer heads: stacked LSTM and GRU, bidirectional, token inputs, two heads, heads on
    // their own targets and on the main ones, below the top and at it.
    let heads = |c: &ModelSpec| m(c).layer_heads;
    for a in [Arch::Lstm, Arch::Gru, Arch::RnnTanh] {
        assert!(any(&|c| m(c).arch == a && heads(c).len() >= 2 && m(c).depth >= 2), "{a:?} with two layer heads");
    }
    assert!(any(&|c| !heads(c).is_empty() && m(c).bidirectional == Some(true) && m(c).embed_dim.is_some()));
    assert!(any(&|c| heads(c).iter().any(|h| h.target.is_some() && h.layer == 0)));
    assert!(any(&|c| heads(c).iter().any(|h| h.target.is_none() && h.layer + 1 == m(c).depth)));
}

#[test]
fn the_command_writes_what_the_reference_holds() {
    let tmp = tempfile::tempdir().unwrap();
    for case in [
        "aux_highway",
        "lstm_stacked_bidirectional_tokens",
        "attention_learned_tokens_each",
        "layer_heads_lstm_stacked_tokens",
    ] {
        let dir = fixtures().join(case);
        let out = tmp.path().join(format!("{case}.safetensors"));
        let a = args(&dir, &out);
        let mut cmd = vec!["grads".to_string()];
        for (flag, p) in [("--config", &a.config), ("--weights", &a.weights), ("--input", &a.input), ("--out", &a.out)]
        {
            cmd.extend([flag.to_string(), p.display().to_string()]);
        }
        if let Some(t) = &a.target {
            cmd.extend(["--target".to_string(), t.display().to_string()]);
        }
        for (n, p) in &a.head_targets {
            cmd.extend(["--head-target".to_string(), format!("{n}={}", p.display())]);
        }
        let r = depthlab(&cmd);
        assert_eq!(r.0, Some(0), "{case}: {}", r.2);
        assert!(r.1.contains("loss"), "{}", r.1);
        compare(case, &tensors(&out), &tensors(&dir.join("expected.safetensors")), TOL);
    }
}

#[test]
fn float64_weights_and_inputs_are_converted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixtures().join("gru_stacked_mse");
    let w: Vec<Raw> = load_tensors(&dir.join("weights.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(n, s, v)| (n, Dtype::F64, s, v.iter().flat_map(|x| (*x as f64).to_le_bytes()).collect()))
        .collect();
    write_raw(&tmp.path().join("weights.safetensors"), &w);
    for f in ["input.npy", "target.npy"] {
        let a = npy::read(&dir.join(f)).unwrap();
        let wide = Array {
            shape: a.shape.clone(),
            data: npy::Data::F64(a.to_f32().unwrap().iter().map(|&x| x as f64).collect()),
        };
        npy::write(&tmp.path().join(f), &wide).unwrap();
    }
    std::fs::copy(dir.join("config.toml"), tmp.path().join("config.toml")).unwrap();
    let out = tmp.path().join("g.safetensors");
    let a = args(tmp.path(), &out);
    depthlab::grads::run(&a).unwrap();
    compare("gru_stacked_mse (f64 files)", &tensors(&out), &tensors(&dir.join("expected.safetensors")), TOL);
}

/// Plain SGD on the fixture's batch: the loss must fall.
fn sgd(p: &mut Problem, steps: usize, lr: f32) -> (f64, f64) {
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..steps {
        p.zero_grad();
        last = p.step();
        first.get_or_insert(last);
        for (_, q) in p.params() {
            q.value.data.iter_mut().zip(&q.grad.data).for_each(|(w, g)| *w -= lr * g);
        }
    }
    (first.unwrap(), last)
}

#[test]
fn pytorch_made_weights_train_on_in_depthlab() {
    for (case, lr) in [
        ("highway_independent_relu", 0.5),
        ("dense_relu", 0.3),
        ("lstm_stacked_bidirectional_tokens", 2.0),
        ("tcn_k2_dilated", 0.1),
        ("attention_sinusoidal", 0.1),
        ("gru_stacked_mse", 0.1),
        ("layer_heads_lstm_stacked_tokens", 2.0),
    ] {
        let dir = fixtures().join(case);
        let mut p = problem(&dir);
        let (first, last) = sgd(&mut p, 30, lr);
        let torch_loss = tensors(&dir.join("expected.safetensors"))["loss"].1[0] as f64;
        assert!((first - torch_loss).abs() <= 1e-4 * torch_loss.abs().max(1.0), "{case}: {first} vs {torch_loss}");
        println!("{case}: loss {first:.4} -> {last:.4} after 30 SGD steps");
        assert!(last.is_finite() && last < 0.8 * first, "{case}: loss {first} -> {last} after 30 SGD steps");
    }
}

// ---- depthlab-made checkpoints ----

/// A deterministic stream of numbers for the depthlab-made inputs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn uniform(&mut self) -> f32 {
        (self.next() % 2_000_001) as f32 / 1_000_000.0 - 1.0
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

struct Made {
    name: &'static str,
    config: &'static str,
    input: fn(&mut Lcg) -> Array,
    target: fn(&mut Lcg) -> Array,
    out_dim: usize,
}

const MADE_TAIL: &str = "\n[optim]\nlr = 0.01\noptimizer = { kind = \"sgd\" }\n\n[train]\nepochs = 1\n";

fn made_cases() -> Vec<Made> {
    vec![
        Made {
            name: "highway_independent_aux",
            config: "seed = 11\n\n[data]\nname = \"mnist1d\"\n\n[model]\narch = \"highway\"\ndepth = 3\nwidth = 8\nactivation = \"tanh\"\ncarry = \"independent\"\ngate_bias = -1.0\naux = [{ layer = 1, weight = 0.4 }]\n",
            input: |r| Array::f32(vec![4, 6], (0..24).map(|_| r.uniform()).collect()),
            target: |r| Array::i64(vec![4], (0..4).map(|_| r.below(5)).collect()),
            out_dim: 5,
        },
        Made {
            name: "dense_gelu_mse",
            config: "seed = 12\n\n[data]\nname = \"mnist1d\"\n\n[model]\narch = \"dense\"\ndepth = 3\nwidth = 6\ngrowth = 4\nactivation = \"gelu\"\n",
            input: |r| Array::f32(vec![4, 5], (0..20).map(|_| r.uniform()).collect()),
            target: |r| Array::f32(vec![4, 2], (0..8).map(|_| r.uniform()).collect()),
            out_dim: 2,
        },
        Made {
            name: "gru_bidirectional_tokens_each",
            config: "seed = 13\n\n[data]\nname = \"copy\"\nt = 5\n\n[model]\narch = \"gru\"\ndepth = 2\nwidth = 5\nbidirectional = true\n",
            input: |r| Array::i64(vec![3, 5], (0..15).map(|_| r.below(7)).collect()),
            target: |r| Array::i64(vec![3, 5], (0..15).map(|_| r.below(4)).collect()),
            out_dim: 4,
        },
        Made {
            name: "lstm_layer_heads_tokens_each",
            config: "seed = 17\n\n[data]\nname = \"copy\"\nt = 5\n\n[model]\narch = \"lstm\"\ndepth = 3\nwidth = 4\nbidirectional = true\n\n[[model.layer_heads]]\nlayer = 0\nweight = 0.4\n\n[[model.layer_heads]]\nlayer = 1\nweight = 0.2\n",
            input: |r| Array::i64(vec![3, 5], (0..15).map(|_| r.below(7)).collect()),
            target: |r| Array::i64(vec![3, 5], (0..15).map(|_| r.below(4)).collect()),
            out_dim: 4,
        },
        Made {
            name: "lstm_last",
            config: "seed = 14\n\n[data]\nname = \"adding\"\nt = 6\n\n[model]\narch = \"lstm\"\ndepth = 1\nwidth = 6\n",
            input: |r| Array::f32(vec![3, 6, 2], (0..36).map(|_| r.uniform()).collect()),
            target: |r| Array::f32(vec![3, 1], (0..3).map(|_| r.uniform()).collect()),
            out_dim: 1,
        },
        Made {
            name: "tcn_k3",
            config: "seed = 15\n\n[data]\nname = \"adding\"\nt = 5\n\n[model]\narch = \"tcn\"\ndepth = 2\nwidth = 5\nkernel_size = 3\n",
            input: |r| Array::f32(vec![3, 5, 3], (0..45).map(|_| r.uniform()).collect()),
            target: |r| Array::i64(vec![3], (0..3).map(|_| r.below(4)).collect()),
            out_dim: 4,
        },
        Made {
            name: "attention_learned",
            config: "seed = 16\n\n[data]\nname = \"adding\"\nt = 5\n\n[model]\narch = \"attention\"\ndepth = 2\nwidth = 8\nheads = 2\npositional = \"learned\"\n",
            input: |r| Array::f32(vec![3, 5, 3], (0..45).map(|_| r.uniform()).collect()),
            target: |r| Array::i64(vec![3], (0..3).map(|_| r.below(4)).collect()),
            out_dim: 4,
        },
    ]
}

/// The files of one depthlab-made case, as bytes: config, input, target, weights, and the
/// gradients depthlab computes with those weights.
fn make(m: &Made, tmp: &Path) -> (BTreeMap<&'static str, Vec<u8>>, Vec<NamedTensor>) {
    let text = format!("# Made by tests/torch_agreement.rs (DEPTHLAB_REGEN_FIXTURES=1).\n{}{MADE_TAIL}", m.config);
    let cfg = Config::parse(&text, m.name, &[]).unwrap();
    let mut r = Lcg(m.name.bytes().fold(0x5eed, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)));
    let (input, target) = ((m.input)(&mut r), (m.target)(&mut r));
    let loaded = Loaded {
        weights: None,
        weights_origin: String::new(),
        input: input.clone(),
        input_origin: "input.npy".into(),
        target: Some(target.clone()),
        target_origin: "target.npy".into(),
        head_targets: Vec::new(),
        out_dim: Some(m.out_dim),
    };
    let mut p = setup(&ModelSpec::from(&cfg), &loaded).unwrap();
    // The checkpoint as training writes it.
    let path = tmp.join(format!("{}.safetensors", m.name));
    save_tensors(&path, &p.weights(), None).unwrap();
    let files = BTreeMap::from([
        ("config.toml", text.into_bytes()),
        ("input.npy", input.to_bytes()),
        ("target.npy", target.to_bytes()),
        ("model.safetensors", std::fs::read(&path).unwrap()),
    ]);
    (files, p.gradients())
}

#[test]
fn depthlab_made_checkpoints_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixtures().join("depthlab_made");
    let regen = std::env::var_os("DEPTHLAB_REGEN_FIXTURES").is_some_and(|v| v == "1");
    for m in made_cases() {
        let dir = base.join(m.name);
        let (files, grads) = make(&m, tmp.path());
        if regen {
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in &files {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
            save_tensors(&dir.join("expected.safetensors"), &grads, None).unwrap();
            continue;
        }
        for (name, bytes) in &files {
            let old = std::fs::read(dir.join(name)).unwrap_or_else(|e| {
                panic!("{}/{name}: {e} (DEPTHLAB_REGEN_FIXTURES=1 cargo test --test torch_agreement makes it)", m.name)
            });
            assert!(
                &old == bytes,
                "depthlab_made/{}/{name} is stale: depthlab now writes other bytes; regenerate with \
                 DEPTHLAB_REGEN_FIXTURES=1 cargo test --test torch_agreement, then check it in PyTorch with \
                 python tools/torch_fixtures.py --check",
                m.name
            );
        }
        // Gradients may differ in the last bits between CPUs (vector widths), not more.
        compare(m.name, &by_name(grads), &tensors(&dir.join("expected.safetensors")), 1e-5);
        // And the committed checkpoint through the command's own loading path.
        let a = GradsArgs {
            config: dir.join("config.toml"),
            sets: Vec::new(),
            weights: dir.join("model.safetensors"),
            input: dir.join("input.npy"),
            target: Some(dir.join("target.npy")),
            head_targets: Vec::new(),
            out: tmp.path().join("unused"),
        };
        let mut p = setup(&config(&dir), &Loaded::read(&a).unwrap()).unwrap();
        compare(m.name, &by_name(p.gradients()), &tensors(&dir.join("expected.safetensors")), 1e-5);
    }
}

// ---- bad input: a clear error, nothing written ----

fn depthlab(args: &[String]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_depthlab")).args(args).output().expect("run depthlab");
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Write `tensors` (name, dtype, shape, raw little-endian bytes) as a safetensors file.
fn write_raw(path: &Path, tensors: &[Raw]) {
    let views: Vec<(String, TensorView)> =
        tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Run `depthlab grads` on case `case` with `edit` applied to a copy of its files; it must
/// fail, print every one of `needles`, and leave no output file (nor a temporary one).
fn rejects(case: &str, edit: impl FnOnce(&Path), needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join(case);
    for f in ["config.toml", "weights.safetensors", "input.npy", "target.npy"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    edit(tmp.path());
    let out = tmp.path().join("out").join("g.safetensors");
    std::fs::create_dir(tmp.path().join("out")).unwrap();
    let a = args(tmp.path(), &out);
    let mut cmd: Vec<String> = vec!["grads".into()];
    for (flag, p) in [("--config", &a.config), ("--weights", &a.weights), ("--input", &a.input), ("--out", &a.out)] {
        cmd.extend([flag.to_string(), p.display().to_string()]);
    }
    cmd.extend(["--target".to_string(), tmp.path().join("target.npy").display().to_string()]);
    let (code, _, stderr) = depthlab(&cmd);
    assert!(code.is_some_and(|c| c != 0), "{case}: expected failure, got {code:?}");
    for n in needles {
        assert!(stderr.contains(n), "`{n}` not in the error:\n{stderr}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("out")).unwrap().collect();
    assert!(left.is_empty(), "a failed run left files behind: {left:?}");
}

/// The case's weights with `f` applied to the list (name, dtype, shape, bytes).
fn edit_weights(f: impl FnOnce(&mut Vec<Raw>)) -> impl FnOnce(&Path) {
    move |dir: &Path| {
        let p = dir.join("weights.safetensors");
        let mut t: Vec<_> =
            load_tensors(&p).unwrap().into_iter().map(|(n, s, v)| (n, Dtype::F32, s, f32_bytes(&v))).collect();
        f(&mut t);
        write_raw(&p, &t);
    }
}

const CASE: &str = "highway_independent_relu";

#[test]
fn a_missing_tensor_is_named_with_its_shape() {
    rejects(
        CASE,
        edit_weights(|t| t.retain(|x| x.0 != "layers.1.carry.weight")),
        &["`layers.1.carry.weight`", "missing", "[8, 8]"],
    );
}

#[test]
fn an_extra_tensor_is_named_with_its_shape() {
    rejects(
        CASE,
        edit_weights(|t| t.push(("layers.3.gate.weight".into(), Dtype::F32, vec![8, 2], f32_bytes(&[0.5; 16])))),
        &["`layers.3.gate.weight`", "[8, 2]", "no such parameter"],
    );
}

#[test]
fn a_tensor_of_the_wrong_shape_is_named_with_both_shapes() {
    rejects(
        CASE,
        edit_weights(|t| {
            let x = t.iter_mut().find(|x| x.0 == "layers.0.transform.weight").unwrap();
            (x.2, x.3) = (vec![8, 7], f32_bytes(&[0.1; 56]));
        }),
        &["`layers.0.transform.weight`", "[8, 7]", "[8, 8]"],
    );
}

#[test]
fn a_tensor_of_the_wrong_dtype_is_named_with_its_shape() {
    for (dtype, bytes, shown) in [(Dtype::F16, 2, "F16"), (Dtype::I32, 4, "I32")] {
        rejects(
            CASE,
            edit_weights(move |t| {
                let x = t.iter_mut().find(|x| x.0 == "head.bias").unwrap();
                (x.1, x.3) = (dtype, vec![0; 5 * bytes]);
            }),
            &["`head.bias`", shown, "[5]", "F32"],
        );
    }
}

#[test]
fn an_input_of_the_wrong_shape_or_type_is_refused() {
    let write_input = |a: Array| move |dir: &Path| npy::write(&dir.join("input.npy"), &a).unwrap();
    // Feed-forward: 7 features where the stem takes 6.
    rejects(
        CASE,
        write_input(Array::f32(vec![4, 7], vec![0.5; 28])),
        &["input.npy", "[4, 7]", "[batch, 6]", "stem.linear.weight"],
    );
    // A sequence where a flat batch belongs.
    rejects(CASE, write_input(Array::f32(vec![4, 2, 6], vec![0.5; 48])), &["input.npy", "[4, 2, 6]", "[batch, 6]"]);
    // Integers where features belong.
    rejects(CASE, write_input(Array::i64(vec![4, 6], vec![1; 24])), &["input.npy", "int64", "[4, 6]", "float32"]);
    // A dtype .npy files may hold but depthlab does not read.
    rejects(
        CASE,
        |dir: &Path| {
            let mut b = Array::f32(vec![4, 6], vec![0.5; 24]).to_bytes();
            let i = b.windows(3).position(|w| w == b"<f4").unwrap();
            b[i..i + 3].copy_from_slice(b"<f2");
            b.truncate(b.len() - 48);
            std::fs::write(dir.join("input.npy"), b).unwrap();
        },
        &["input.npy", "float16", "float32"],
    );
    // A recurrent net: 3 features where weight_ih_l0 takes 4.
    rejects(
        "lstm",
        write_input(Array::f32(vec![3, 6, 3], vec![0.5; 54])),
        &["input.npy", "[3, 6, 3]", "4]", "rnn.weight_ih_l0"],
    );
    // Tokens beyond the embedding.
    rejects(
        "lstm_stacked_bidirectional_tokens",
        write_input(Array::i64(vec![3, 5], vec![9; 15])),
        &["input.npy", "token 9", "7 tokens"],
    );
}

#[test]
fn a_target_of_the_wrong_shape_or_type_is_refused() {
    let write_target = |a: Array| move |dir: &Path| npy::write(&dir.join("target.npy"), &a).unwrap();
    rejects(CASE, write_target(Array::i64(vec![3], vec![0; 3])), &["target.npy", "[3]", "expected [4]"]);
    rejects(CASE, write_target(Array::i64(vec![4], vec![0, 1, 5, 2])), &["target.npy", "label 5", "5 classes"]);
    // Floats for a classifier mean MSE, which must then fit the outputs.
    rejects(CASE, write_target(Array::f32(vec![4], vec![0.0; 4])), &["target.npy", "[4]", "[4, 5]", "head.weight"]);
    rejects("rnn_tanh", write_target(Array::i64(vec![3, 4], vec![0; 12])), &["target.npy", "[3, 4]", "[3, 5]"]);
    // train.loss = "mse" with class labels.
    rejects("plain_relu_mse", write_target(Array::i64(vec![4], vec![0; 4])), &["target.npy", "int64", "Mse"]);
}
