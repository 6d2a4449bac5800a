//! The training loop through the library API: reproducibility, stop and resume, divergence,
//! checkpoint loading, and the example configs.

use std::path::{Path, PathBuf};

use depthlab::config::{Config, DataConfig};
use depthlab::nn::{LossKind, Model};
use depthlab::train::{self, load_params, load_tensors, params_to_tensors, save_tensors, RunOptions, TrainError};
use serde_json::Value;

/// A tiny residual net on MNIST-1D: 400 training examples in batches of 32, so 13 steps per
/// epoch (the last batch holds 16).
const BASE: &str = r#"
seed = 3

[data]
name = "mnist1d"
num_samples = 500

[model]
arch = "residual"
depth = 3
width = 12
activation = "relu"
init = { kind = "he" }

[optim]
lr = 0.05
optimizer = { kind = "sgd", momentum = 0.9 }

[train]
epochs = 2
batch_size = 32
"#;

const STEPS_PER_EPOCH: usize = 13;

/// The MNIST-1D input and output sizes.
const IN_DIM: usize = 40;
const OUT_DIM: usize = 10;

/// Adam with a cosine schedule and linear warm-up (overrides of `BASE`).
const ADAM_COSINE: [&str; 4] = [
    "optim.lr=0.01",
    "optim.optimizer={ kind = \"adam\" }",
    "optim.schedule={ kind = \"cosine\", total = 30, min_lr = 0.001 }",
    "optim.warmup=5",
];

fn config(sets: &[&str]) -> Config {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Config::parse(BASE, "base.toml", &sets).unwrap_or_else(|e| panic!("config: {e}"))
}

fn quiet() -> RunOptions {
    RunOptions { quiet: true, ..Default::default() }
}

fn stop_after(n: usize) -> RunOptions {
    RunOptions { quiet: true, stop_after: Some(n), ..Default::default() }
}

fn run(cfg: &Config, dir: &Path) -> train::Summary {
    let s = train::train(cfg, dir, &quiet()).unwrap_or_else(|e| panic!("train {}: {e}", dir.display()));
    assert_eq!(s.status, "finished");
    s
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The records of metrics.jsonl without their `elapsed_s` (the one field that is not
/// reproducible).
fn metrics(dir: &Path) -> Vec<Value> {
    let text = String::from_utf8(read(&dir.join("metrics.jsonl"))).unwrap();
    text.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"));
            v.as_object_mut().expect("a JSON object").remove("elapsed_s");
            v
        })
        .collect()
}

fn summary_json(dir: &Path) -> Value {
    let mut v: Value = serde_json::from_slice(&read(&dir.join("summary.json"))).unwrap();
    v.as_object_mut().unwrap().remove("elapsed_s");
    v
}

fn assert_same_run(a: &Path, b: &Path) {
    assert!(
        read(&a.join("model.safetensors")) == read(&b.join("model.safetensors")),
        "model.safetensors of {} and {} differ",
        a.display(),
        b.display()
    );
    let (ma, mb) = (metrics(a), metrics(b));
    assert_eq!(ma.len(), mb.len(), "metrics.jsonl lengths differ:\n{ma:#?}\nvs\n{mb:#?}");
    for (i, (ra, rb)) in ma.iter().zip(&mb).enumerate() {
        assert_eq!(ra, rb, "metrics.jsonl record {i} differs");
    }
    assert_eq!(summary_json(a), summary_json(b), "summary.json differs");
}

fn fresh_model(cfg: &Config) -> Model<f32> {
    Model::build(&cfg.model, IN_DIM, OUT_DIM, LossKind::CrossEntropy, cfg.seed).unwrap()
}

fn no_tmp_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "temporary file {name} left in {}", dir.display());
    }
}

// ---- reproducibility ----

#[test]
fn same_seed_same_run_different_seed_different_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    let cfg = config(&["train.log_every=4"]);
    run(&cfg, &a);
    run(&cfg, &b);
    assert_same_run(&a, &b);
    assert!(read(&a.join("optim.safetensors")) == read(&b.join("optim.safetensors")));
    // The log holds step records, epoch records with evaluations, and nothing non-finite.
    let m = metrics(&a);
    let kinds: Vec<&str> = m.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "epoch").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "step").count(), 2 * STEPS_PER_EPOCH / 4, "{kinds:?}");
    assert!(m.iter().filter(|r| r["kind"] == "epoch").all(|r| r["test_loss"].as_f64().unwrap().is_finite()));

    run(&config(&["train.log_every=4", "seed=4"]), &c);
    assert!(read(&a.join("model.safetensors")) != read(&c.join("model.safetensors")), "seed 4 gave seed 3's weights");
    let (ta, tc) =
        (load_tensors(&a.join("model.safetensors")).unwrap(), load_tensors(&c.join("model.safetensors")).unwrap());
    let names = |t: &[(String, Vec<usize>, Vec<f32>)]| t.iter().map(|t| (t.0.clone(), t.1.clone())).collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tc), "same architecture, same tensors");
    assert!(ta.iter().zip(&tc).all(|(x, y)| x.2 != y.2), "every tensor should depend on the seed");
}

#[test]
fn the_run_folder_holds_the_resolved_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let cfg = config(&["model.depth=2"]);
    run(&cfg, &dir);
    for f in ["config.toml", "metrics.jsonl", "model.safetensors", "optim.safetensors", "state.json", "summary.json"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    no_tmp_files(&dir);
    let saved = Config::load(&dir.join("config.toml"), &[]).unwrap();
    assert_eq!(saved, cfg);
    let s = summary_json(&dir);
    assert_eq!(s["status"], "finished");
    assert_eq!(s["epochs"], 2);
    assert_eq!(s["steps"], 2 * STEPS_PER_EPOCH);
}

#[test]
fn a_folder_holding_a_run_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let cfg = config(&["train.epochs=1"]);
    run(&cfg, &dir);
    let before = read(&dir.join("model.safetensors"));
    let err = train::train(&cfg, &dir, &quiet()).unwrap_err().to_string();
    assert!(err.contains("--resume") && err.contains("already holds a run"), "{err}");
    assert!(read(&dir.join("model.safetensors")) == before, "the existing run was touched");
}

// ---- stop and resume ----

/// An uninterrupted run against runs stopped after each of `stops` and resumed.
fn check_resume(sets: &[&str], stops: &[usize]) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(sets);
    let full = tmp.path().join("full");
    run(&cfg, &full);
    for &n in stops {
        let dir = tmp.path().join(format!("stop{n}"));
        let s = train::train(&cfg, &dir, &stop_after(n)).unwrap();
        assert_eq!((s.status.as_str(), s.steps), ("stopped", n));
        assert!(!dir.join("summary.json").exists(), "a stopped run has no summary");
        no_tmp_files(&dir);
        let s = train::resume(&dir, &quiet()).unwrap();
        assert_eq!(s.status, "finished");
        assert_eq!(s.steps, cfg.train.epochs * STEPS_PER_EPOCH);
        assert_same_run(&full, &dir);
    }
}

#[test]
fn resume_sgd_momentum_mid_epoch_and_at_epoch_boundaries() {
    check_resume(&["train.epochs=3"], &[7, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH + 5]);
}

#[test]
fn resume_adam_cosine_warmup_mid_epoch_and_at_epoch_boundaries() {
    let mut sets = ADAM_COSINE.to_vec();
    sets.push("train.epochs=3");
    // Step 3 is inside the warm-up.
    check_resume(&sets, &[3, 7, STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH + 1]);
}

#[test]
fn resume_with_clipping_and_evaluations_every_other_epoch() {
    check_resume(
        &[
            "train.epochs=3",
            "optim.clip_grad_norm=1.0",
            "train.clip_grad_value=0.5",
            "train.eval_every=2",
            "train.eval_train=true",
        ],
        &[STEPS_PER_EPOCH + 2],
    );
}

#[test]
fn resume_every_architecture_and_optimizer_variant() {
    let cases: [&[&str]; 8] = [
        &["model.aux=[{ layer = 1, weight = 0.3 }]"],
        &["model.arch=\"highway\""],
        &["model.arch=\"highway\"", "model.carry=\"independent\""],
        &["model.arch=\"dense\"", "model.growth=4"],
        &["model.arch=\"dense_to_output\""],
        &["model.arch=\"weighted_skip\"", "model.per_unit_alpha=true"],
        &["optim.optimizer={ kind = \"adam\", weight_decay = 0.01, decoupled = true }"],
        &["optim.optimizer={ kind = \"sgd\", momentum = 0.9, nesterov = true, weight_decay = 0.001 }"],
    ];
    for case in cases {
        let mut sets = vec!["optim.lr=0.01"];
        sets.extend(case);
        check_resume(&sets, &[8]);
    }
}

#[test]
fn resume_with_log_every_gives_the_same_step_records() {
    // Logs at steps 3, 6, 9, ...: stopping after step 7 (mid-epoch) or 13 (an epoch boundary, where
    // the window carries on into the next epoch) splits a window.
    check_resume(&["train.log_every=3"], &[7, STEPS_PER_EPOCH]);
}

#[test]
fn resume_twice_and_truncate_records_written_after_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sets = ADAM_COSINE.to_vec();
    sets.push("train.epochs=3");
    let cfg = config(&sets);
    let full = tmp.path().join("full");
    run(&cfg, &full);

    let dir = tmp.path().join("run");
    train::train(&cfg, &dir, &stop_after(STEPS_PER_EPOCH)).unwrap();
    // Keep the checkpoint at the end of epoch 0 (before its epoch record is written) ...
    let snapshot = tmp.path().join("snapshot");
    std::fs::create_dir(&snapshot).unwrap();
    let ckpt = ["model.safetensors", "optim.safetensors", "state.json"];
    for f in ckpt {
        std::fs::copy(dir.join(f), snapshot.join(f)).unwrap();
    }
    let logged = metrics(&dir).len();
    // ... run on past it, into epoch 1 ...
    let s = train::resume(&dir, &stop_after(STEPS_PER_EPOCH + 6)).unwrap();
    assert_eq!((s.status.as_str(), s.steps), ("stopped", STEPS_PER_EPOCH + 6));
    assert!(metrics(&dir).len() > logged, "epoch 0's record was written");
    // ... and go back to it, as if the process had died before the next checkpoint: the records
    // written after the checkpoint must be cut, not duplicated.
    for f in ckpt {
        std::fs::copy(snapshot.join(f), dir.join(f)).unwrap();
    }
    train::resume(&dir, &quiet()).unwrap();
    assert_same_run(&full, &dir);

    // Resuming a finished run changes nothing.
    let s = train::resume(&dir, &quiet()).unwrap();
    assert_eq!((s.status.as_str(), s.steps), ("finished", 3 * STEPS_PER_EPOCH));
    assert_same_run(&full, &dir);
}

#[test]
fn resume_without_a_checkpoint_starts_the_run_over() {
    let tmp = tempfile::tempdir().unwrap();
    let err = train::resume(tmp.path(), &quiet()).unwrap_err().to_string();
    assert!(err.contains("config.toml") && err.contains("not a run folder"), "{err}");
    let full = tmp.path().join("full");
    train::train(&config(&[]), &full, &quiet()).unwrap();
    // A start that got as far as its config and a few log lines, as a kill in the first epoch
    // leaves it.
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), config(&[]).to_toml()).unwrap();
    std::fs::write(dir.join("metrics.jsonl"), "{\"kind\": \"step\"}\n").unwrap();
    let err = train::train(&config(&[]), &dir, &quiet()).unwrap_err().to_string();
    assert!(err.contains("stopped before its first checkpoint") && err.contains("--resume"), "{err}");
    let s = train::resume(&dir, &quiet()).unwrap();
    assert_eq!(s.status, "finished");
    assert_same_run(&full, &dir);
}

#[test]
fn resume_from_a_damaged_checkpoint_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    train::train(&config(&[]), &dir, &stop_after(5)).unwrap();
    // Replace the checkpoint's weights by those of a wider model.
    let mut wide = fresh_model(&config(&["model.width=16"]));
    let path = std::fs::canonicalize(dir.join("model.safetensors")).unwrap();
    save_tensors(&path, &params_to_tensors(&wide.params()), None).unwrap();
    let err = train::resume(&dir, &quiet()).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("damaged"), "{err}");
}

// ---- divergence ----

/// A plain relu net with huge weights and a huge learning rate: the loss is NaN within steps.
const DIVERGING: [&str; 6] = [
    "model.arch=\"plain\"",
    "model.width=16",
    "model.init={ kind = \"gaussian\", sigma_w2 = 50.0, sigma_b2 = 0.0 }",
    "optim.lr=1e6",
    "optim.optimizer={ kind = \"sgd\" }",
    "train.epochs=2",
];

#[test]
fn divergence_stops_with_an_error_naming_step_and_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let err = train::train(&config(&DIVERGING), &dir, &quiet()).unwrap_err();
    let TrainError::Diverged { step, epoch, ref layer, .. } = err else { panic!("expected Diverged, got {err}") };
    assert!(step < STEPS_PER_EPOCH && epoch == 0, "step {step}, epoch {epoch}");
    let first = layer.split_whitespace().next().unwrap();
    let known = first == "stem" || first == "head" || first == "input" || first.starts_with("layers.");
    assert!(known, "not a layer: {layer}");
    let msg = err.to_string();
    assert!(msg.contains("diverged") && msg.contains(&format!("step {step}")), "{msg}");

    let s: Value = serde_json::from_slice(&read(&dir.join("summary.json"))).unwrap();
    assert_eq!(s["status"], "diverged");
    assert_eq!(s["steps"], step);
    assert!(s["message"].as_str().unwrap().contains("diverged"));
    let m = metrics(&dir);
    assert_eq!(m.last().unwrap()["kind"], "diverged", "{m:?}");
    no_tmp_files(&dir);
}

// ---- checkpoint loading ----

#[test]
fn load_params_round_trips_and_rejects_mismatches_without_changing_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let cfg = config(&["train.epochs=1"]);
    run(&cfg, &dir);
    let saved = load_tensors(&dir.join("model.safetensors")).unwrap();
    assert_eq!(saved.first().unwrap().0, "head.bias", "load_tensors sorts by name");

    let mut model = fresh_model(&cfg);
    let initial = params_to_tensors(&model.params());
    let sorted = |mut t: Vec<(String, Vec<usize>, Vec<f32>)>| {
        t.sort_by(|a, b| a.0.cmp(&b.0));
        t
    };
    assert_ne!(sorted(initial.clone()), saved, "training changed the weights");

    let check = |model: &mut Model<f32>, tensors: Vec<(String, Vec<usize>, Vec<f32>)>, needles: &[&str]| {
        let before = params_to_tensors(&model.params());
        let err = load_params(&mut model.params(), &tensors, "ckpt.safetensors").unwrap_err();
        assert!(err.contains("ckpt.safetensors"), "{err}");
        for n in needles {
            assert!(err.contains(n), "`{n}` not in: {err}");
        }
        assert!(params_to_tensors(&model.params()) == before, "a failed load changed the params ({err})");
    };

    // The head's tensors come last in parameter order: a loader that copied as it checked would
    // already have overwritten the stem and the layers.
    let missing: Vec<_> = saved.iter().filter(|t| t.0 != "head.weight").cloned().collect();
    check(&mut model, missing, &["head.weight", "missing", "[10, 12]"]);

    let mut extra = saved.clone();
    extra.push(("layers.3.fc1.weight".into(), vec![12, 12], vec![0.0; 144]));
    check(&mut model, extra, &["layers.3.fc1.weight", "[12, 12]"]);

    let mut reshaped = saved.clone();
    let w = reshaped.iter_mut().find(|t| t.0 == "head.weight").unwrap();
    w.1 = vec![12, 10]; // the same number of values, transposed
    check(&mut model, reshaped, &["head.weight", "[12, 10]", "[10, 12]"]);

    let mut wrong_size = saved.clone();
    let w = wrong_size.iter_mut().find(|t| t.0 == "head.bias").unwrap();
    (w.1, w.2) = (vec![11], vec![0.0; 11]);
    check(&mut model, wrong_size, &["head.bias", "[11]", "[10]"]);

    assert!(params_to_tensors(&model.params()) == initial);
    load_params(&mut model.params(), &saved, "ckpt.safetensors").unwrap();
    assert_eq!(sorted(params_to_tensors(&model.params())), saved);
}

#[test]
fn load_params_rejects_values_that_do_not_fit_their_shape() {
    let cfg = config(&[]);
    let mut model = fresh_model(&cfg);
    let mut tensors = params_to_tensors(&model.params());
    for t in tensors.iter_mut() {
        t.2.iter_mut().for_each(|v| *v += 1.0);
    }
    let before = params_to_tensors(&model.params());
    let w = tensors.iter_mut().find(|t| t.0 == "head.bias").unwrap();
    w.2.truncate(3);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        load_params(&mut model.params(), &tensors, "ckpt.safetensors")
    }));
    let err = r.expect("load_params panicked").unwrap_err();
    assert!(err.contains("head.bias"), "{err}");
    assert!(params_to_tensors(&model.params()) == before);
}

#[test]
fn load_tensors_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.safetensors");
    let err = load_tensors(&missing).unwrap_err();
    assert!(err.contains("nope.safetensors"), "{err}");
    let junk = tmp.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file at all").unwrap();
    let err = load_tensors(&junk).unwrap_err();
    assert!(err.contains("junk.safetensors") && err.contains("not a safetensors file"), "{err}");
}

// ---- the example configs ----

fn examples(prefix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(prefix) && name.ends_with(".toml")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn mnist1d_examples_train_for_an_epoch() {
    let found = examples("mnist1d-");
    assert!(found.len() >= 4, "{found:?}");
    let tmp = tempfile::tempdir().unwrap();
    let sets = ["train.epochs=1".to_string(), "data.num_samples=500".to_string()];
    for path in found {
        let cfg = Config::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"));
        let unchanged = Config::load(&path, &[]).unwrap();
        assert!(matches!(unchanged.data, DataConfig::Mnist1d { .. }), "{}", path.display());
        assert!(unchanged.train.epochs > 1);
        let dir = tmp.path().join(path.file_stem().unwrap());
        let s = train::train(&cfg, &dir, &quiet()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(s.status, "finished", "{}", path.display());
        assert_eq!(s.epochs, 1);
        assert!(s.final_train_loss.is_finite(), "{}: {s:?}", path.display());
        assert!(s.test_loss.is_some_and(f64::is_finite), "{}: {s:?}", path.display());
    }
}

#[test]
fn mnist_examples_parse_and_validate() {
    let found = examples("mnist-");
    assert!(found.len() >= 4, "{found:?}");
    for path in found {
        let cfg = Config::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        cfg.validate().unwrap();
        assert!(matches!(cfg.data, DataConfig::Mnist { .. }), "{}", path.display());
        // The resolved config round-trips.
        assert_eq!(Config::parse(&cfg.to_toml(), "resolved", &[]).unwrap(), cfg);
    }
}

/// `[probe] gradflow_every` records the training step's own block-output gradient norms, and
/// a resumed run's record is the uninterrupted one's.
#[test]
fn gradflow_during_training_is_recorded_and_survives_resume() {
    let cfg = config(&["probe.gradflow_every=4"]);
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run(&cfg, &a);
    let text = String::from_utf8(read(&a.join("gradflow.jsonl"))).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), (2 * STEPS_PER_EPOCH).div_ceil(4), "one record every 4 steps");
    for (i, rec) in lines.iter().enumerate() {
        assert_eq!(rec["step"].as_u64(), Some(4 * i as u64));
        let norms = rec["norms"].as_object().unwrap();
        for name in ["act.stem", "act.layers.0", "act.layers.1", "act.layers.2", "act.head"] {
            let v = norms[name].as_f64().unwrap();
            assert!(v.is_finite() && v > 0.0, "{name} at step {}: {v}", 4 * i);
        }
    }
    let svg = String::from_utf8(read(&a.join("gradflow_heatmap.svg"))).unwrap();
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>") && svg.contains("layers.1"));
    // Stopped mid-epoch (after a record was written past the checkpoint's own), then resumed.
    train::train(&cfg, &b, &stop_after(17)).unwrap();
    train::resume(&b, &quiet()).unwrap();
    assert_eq!(text, String::from_utf8(read(&b.join("gradflow.jsonl"))).unwrap());
}

/// A plain net of depth 0 (stem and head: one hidden layer) trains and resumes like any other;
/// the probes that need stack layers refuse it by name, the others run; other archs and
/// auxiliary heads still need a stack.
#[test]
fn a_plain_net_of_depth_zero_trains_and_the_probes_that_need_layers_refuse_it() {
    let cfg = config(&["model.arch=\"plain\"", "model.depth=0", "probe.gradflow_every=5"]);
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let s = run(&cfg, &a);
    assert_eq!(s.params, IN_DIM * 12 + 12 + 12 * OUT_DIM + OUT_DIM);
    assert!(s.final_train_loss.is_finite());
    train::train(&cfg, &b, &stop_after(17)).unwrap();
    train::resume(&b, &quiet()).unwrap();
    assert_same_run(&a, &b);
    let po = depthlab::probe::ProbeOptions { out: Some(tmp.path().join("p")), ..Default::default() };
    let r = depthlab::probe::run(&a, &po).unwrap();
    let ran: Vec<&str> = r.ran.iter().map(|(k, _)| k.name()).collect();
    assert_eq!(ran, ["gradflow", "diagnosis"]);
    let gf: Value = serde_json::from_slice(&read(&tmp.path().join("p").join("gradflow.json"))).unwrap();
    assert_eq!(gf["layers"].as_array().unwrap().len(), 0);
    assert_eq!(gf["blocks"][0]["name"], "act.stem");
    for k in [
        depthlab::probe::ProbeKind::Meanfield,
        depthlab::probe::ProbeKind::Lesion,
        depthlab::probe::ProbeKind::Jacobian,
    ] {
        let po = depthlab::probe::ProbeOptions { what: vec![k], out: Some(tmp.path().join("q")), ..Default::default() };
        let e = depthlab::probe::run(&a, &po).unwrap_err().to_string();
        assert!(e.contains(k.name()) && e.contains("model.depth = 0"), "{e}");
    }
    let e = Config::parse(BASE, "base.toml", &["model.depth=0".into()]).unwrap_err().to_string();
    assert!(e.contains("model.depth must be at least 1 for arch residual"), "{e}");
    let aux = Config::parse(
        BASE,
        "base.toml",
        &["model.arch=\"plain\"".into(), "model.depth=0".into(), "model.aux=[{ layer = 0, weight = 0.3 }]".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(aux.contains("model.aux[0]") && aux.contains("depth 0"), "{aux}");
}
