//! Per-layer heads of recurrent models (`[[model.layer_heads]]`): configs that cannot work are
//! refused naming the key; the Brown corpus gives both tag sets of the same tokens; training
//! records each head, checkpoints name it as PyTorch would, a resumed run logs what an
//! unbroken one does; the aux_share probe splits each layer's gradient by head; and
//! `depthlab grads` takes a head's targets by name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use depthlab::config::Config;
use depthlab::data::brown::{load_brown, BrownOptions, BrownSplit, TagSet};
use depthlab::data::seq::SeqTargets;
use depthlab::train::{self, load_tensors, RunOptions};
use serde_json::Value;

const TAIL: &str = "\n[optim]\nlr = 0.01\noptimizer = { kind = \"adam\" }\n\n[train]\nepochs = 3\nbatch_size = 2\n";

fn brown_config(model: &str) -> String {
    format!("seed = 5\n\n[data]\nname = \"brown\"\ntags = \"full\"\n\n[model]\n{model}{TAIL}")
}

const LSTM: &str = "arch = \"lstm\"\ndepth = 3\nwidth = 4\nembed_dim = 3\nbidirectional = true\n";

/// `text` must be refused, naming every one of `needles`.
fn refused(text: &str, sets: &[&str], needles: &[&str]) {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let e = Config::parse(text, "bad.toml", &sets).expect_err("the config should be refused").to_string();
    for n in needles {
        assert!(e.contains(n), "`{n}` not in the error: {e}");
    }
}

#[test]
fn configs_that_cannot_work_are_refused_naming_the_key() {
    let head = |h: &str| brown_config(&format!("{LSTM}\n[[model.layer_heads]]\n{h}\n"));
    // A layer the stack does not have (layers count from 0).
    refused(
        &head("layer = 3\ntarget = \"base\""),
        &[],
        &["bad.toml:15", "model.layer_heads[0].layer = 3", "layers 0..2"],
    );
    // A target the data set cannot give.
    refused(
        &head("layer = 0\ntarget = \"chunks\""),
        &[],
        &["model.layer_heads[0].target = \"chunks\"", "brown", "\"base\", \"full\""],
    );
    let copy = format!(
        "seed = 1\n[data]\nname = \"copy\"\nt = 4\n[model]\n{LSTM}\n[[model.layer_heads]]\nlayer = 0\ntarget = \"base\"\n{TAIL}"
    );
    refused(&copy, &[], &["model.layer_heads[0].target = \"base\"", "copy", "only its main targets"]);
    refused(&head("layer = 0\nweight = -1.0"), &[], &["model.layer_heads[0].weight", ">= 0"]);
    refused(&head("layer = 0\nweigth = 1.0"), &[], &["weigth", "layer", "target", "weight"]);
    // Models without recurrent layers.
    for (arch, extra) in [("tcn", ""), ("attention", "heads = 1\n"), ("plain", ""), ("highway", "")] {
        let model = format!("arch = \"{arch}\"\ndepth = 3\nwidth = 4\n{extra}\n[[model.layer_heads]]\nlayer = 0\n");
        let needles = ["model.layer_heads", arch, "recurrent stacks"];
        refused(&brown_config(&model), &[], &needles);
    }
    refused(
        &brown_config("arch = \"plain\"\ndepth = 3\nwidth = 4\n\n[[model.layer_heads]]\nlayer = 0\n"),
        &[],
        &["feed-forward stacks take model.aux"],
    );
    // Through --set, the --set is blamed.
    refused(
        &brown_config(LSTM),
        &["model.layer_heads=[{ layer = 5 }]"],
        &["--set model.layer_heads=[{ layer = 5 }]", "model.layer_heads[0].layer = 5"],
    );
    // And a sequence model still takes no feed-forward aux heads, pointing to layer heads.
    refused(
        &brown_config(&format!("{LSTM}aux = [{{ layer = 0, weight = 0.3 }}]\n")),
        &[],
        &["model.aux", "model.layer_heads"],
    );
}

// ---- a small Brown archive ----

const CATS: &str = "ca01 news\nca02 news\nca03 news\ncb01 editorial\n";
const CA01: &str =
    "\tThe/at Dog/nn-tl ran/vbd ./.\n\n\tA/at dog/nn ran/vbd ./.\n\n\tThe/at cat/nn ran/vbd fast/rb ./.\n";
const CA02: &str = "\tthe/at cat/nn sat/vbd ./.\n";
const CA03: &str = "\tthe/at cow/nn won't/md*+vb ./.\n\n\tA/at Dog/nn-tl sat/vbd ./.\n";
const CB01: &str = "\tdogs/nns ran/vbd 1/2/cd ./.\n\n\tthe/at dogs/nns sat/vbd ./.\n";

/// A data folder holding brown/brown.tar.gz made of the files above.
fn data_dir(root: &Path) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    for (path, text) in [
        ("brown/cats.txt", CATS),
        ("brown/ca01", CA01),
        ("brown/ca02", CA02),
        ("brown/ca03", CA03),
        ("brown/cb01", CB01),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, text.as_bytes()).unwrap();
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&b.into_inner().unwrap()).unwrap();
    let dir = root.join("data");
    std::fs::create_dir_all(dir.join("brown")).unwrap();
    std::fs::write(dir.join("brown/brown.tar.gz"), e.finish().unwrap()).unwrap();
    dir
}

fn each(t: &SeqTargets) -> (&Vec<Vec<u32>>, usize) {
    match t {
        SeqTargets::EachClass { labels, n_classes } => (labels, *n_classes),
        _ => panic!("per-step targets expected"),
    }
}

#[test]
fn brown_gives_both_tag_sets_of_the_same_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let c = load_brown(&data_dir(tmp.path()).join("brown/brown.tar.gz"), &BrownOptions::default()).unwrap();
    let s = c.seq_split_with(TagSet::Full, BrownSplit::Test, &[TagSet::Base, TagSet::Base]);
    for part in [&s.train, &s.test] {
        assert_eq!(part.named.len(), 1, "a tag set asked for twice is given once");
        let (full, nf) = each(&part.targets);
        let (base, nb) = each(part.targets_named(Some("base")).unwrap());
        assert_eq!((nf, nb), (c.full_tags.len(), c.base_tags.len()));
        assert_eq!(full.len(), base.len());
        for (f, b) in full.iter().zip(base) {
            assert_eq!(f.len(), b.len());
            for (&f, &b) in f.iter().zip(b) {
                assert_eq!(
                    c.full_to_base[f as usize], b,
                    "{} is not base {}",
                    c.full_tags[f as usize], c.base_tags[b as usize]
                );
            }
        }
        // Subsets keep inputs and both target sets aligned.
        let t = part.take(1);
        assert_eq!(each(&t.targets).0.len(), 1);
        assert_eq!(each(t.targets_named(Some("base")).unwrap()).0, &base[..1]);
    }
    assert!(s.train.targets_named(Some("full")).is_none());
    assert_eq!(TagSet::parse("base"), Some(TagSet::Base));
}

fn epochs(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == "epoch")
        .collect()
}

const HEADS: &str =
    "\n[[model.layer_heads]]\nlayer = 0\ntarget = \"base\"\nweight = 0.5\n\n[[model.layer_heads]]\nlayer = 2\n";

#[test]
fn training_records_every_head_and_checkpoints_name_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let cfg = Config::parse(&brown_config(&format!("{LSTM}{HEADS}")), "heads.toml", &[]).unwrap();
    let opts = |stop| RunOptions { quiet: true, data_dir: Some(data.clone()), stop_after: stop, ..Default::default() };
    let whole = tmp.path().join("whole");
    train::train(&cfg, &whole, &opts(None)).unwrap();
    let recs = epochs(&whole);
    assert_eq!(recs.len(), 3);
    let last = &recs[2];
    for k in [
        "main_loss",
        "layer_heads.0.loss",
        "layer_heads.0.accuracy",
        "layer_heads.0.test_loss",
        "layer_heads.0.test_accuracy",
        "layer_heads.1.loss",
        "layer_heads.1.test_accuracy",
    ] {
        assert!(last[k].as_f64().is_some_and(f64::is_finite), "{k} missing in {last}");
    }
    // The optimised loss is the main one plus the weighted heads'.
    let (l, m, h0, h1) = (
        last["loss"].as_f64().unwrap(),
        last["main_loss"].as_f64().unwrap(),
        last["layer_heads.0.loss"].as_f64().unwrap(),
        last["layer_heads.1.loss"].as_f64().unwrap(),
    );
    assert!((l - (m + 0.5 * h0 + h1)).abs() < 1e-4 * l, "{l} vs {m} + 0.5 {h0} + {h1}");
    // A head on the top layer learning the main targets scores the same examples as the main head.
    let w: std::collections::BTreeMap<String, Vec<usize>> =
        load_tensors(&whole.join("model.safetensors")).unwrap().into_iter().map(|(n, s, _)| (n, s)).collect();
    let c = load_brown(&data.join("brown/brown.tar.gz"), &BrownOptions::default()).unwrap();
    assert_eq!(w["layer_heads.0.weight"], [c.base_tags.len(), 8]);
    assert_eq!(w["layer_heads.0.bias"], [c.base_tags.len()]);
    assert_eq!(w["layer_heads.1.weight"], [c.full_tags.len(), 8]);
    assert_eq!(w["head.weight"], [c.full_tags.len(), 8]);
    // Stopped and resumed: the same log, the same weights.
    let broken = tmp.path().join("broken");
    train::train(&cfg, &broken, &opts(Some(4))).unwrap();
    train::resume(&broken, &opts(None)).unwrap();
    let strip = |mut r: Value| {
        r.as_object_mut().unwrap().remove("elapsed_s");
        r
    };
    let a: Vec<Value> = epochs(&whole).into_iter().map(strip).collect();
    let b: Vec<Value> = epochs(&broken).into_iter().map(strip).collect();
    assert_eq!(a, b);
    assert_eq!(
        std::fs::read(whole.join("model.safetensors")).unwrap(),
        std::fs::read(broken.join("model.safetensors")).unwrap()
    );
}

#[test]
fn aux_share_splits_each_recurrent_layer_by_head() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let cfg_path = tmp.path().join("heads.toml");
    std::fs::write(&cfg_path, brown_config(&format!("{LSTM}{HEADS}"))).unwrap();
    let opts = depthlab::probe::ProbeOptions {
        what: vec![depthlab::probe::ProbeKind::AuxShare],
        out: Some(tmp.path().join("probes")),
        data_dir: Some(data),
        ..Default::default()
    };
    depthlab::probe::run(&cfg_path, &opts).unwrap();
    let a: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("probes/aux_share.json")).unwrap()).unwrap();
    let names: Vec<&str> = a["sources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["main", "layer_heads.0", "layer_heads.1"]);
    let layers = a["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for (k, l) in layers.iter().enumerate() {
        assert_eq!(l["name"], format!("rnn.l{k}"));
        let shares: Vec<f64> = l["shares"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{shares:?}");
        // The head on layer 0 sends nothing above it.
        assert_eq!(shares[1] == 0.0, k > 0, "layer {k}: {shares:?}");
        assert!(shares[0] > 0.0 && shares[2] > 0.0);
    }
    assert!(tmp.path().join("probes/aux_share.svg").is_file());
}

fn depthlab(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_depthlab")).args(args).output().expect("run depthlab");
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn grads_takes_head_targets_by_name() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch/layer_heads_lstm_stacked_tokens");
    if !fixture.join("expected.safetensors").is_file() {
        panic!("{} is missing (python tools/torch_fixtures.py makes it)", fixture.display());
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("g.safetensors");
    let f = |n: &str| fixture.join(n).display().to_string();
    let base = [
        "grads".to_string(),
        "--config".into(),
        f("config.toml"),
        "--weights".into(),
        f("weights.safetensors"),
        "--input".into(),
        f("input.npy"),
        "--target".into(),
        f("target.npy"),
        "--out".into(),
        out.display().to_string(),
    ];
    let run = |extra: &[String]| {
        let args: Vec<&str> = base.iter().chain(extra).map(|s| s.as_str()).collect();
        depthlab(&args)
    };
    let (code, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("model.layer_heads[0].target = \"base\"") && err.contains("--head-target base=FILE"), "{err}");
    let (code, err) = run(&["--head-target".into(), format!("chunks={}", f("target_base.npy"))]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--head-target chunks=") && err.contains("no head"), "{err}");
    let (code, err) = run(&["--head-target".into(), "base".into()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("NAME=FILE"), "{err}");
    assert!(!out.exists(), "a refused run wrote its output");
    let (code, err) = run(&["--head-target".into(), format!("base={}", f("target_base.npy"))]);
    assert_eq!(code, Some(0), "{err}");
    let names: Vec<String> = load_tensors(&out).unwrap().into_iter().map(|(n, _, _)| n).collect();
    for n in ["output.layer_heads.0", "act.layer_heads.0", "grad.layer_heads.0.weight", "grad.layer_heads.1.bias"] {
        assert!(names.iter().any(|m| m == n), "{n} not in {names:?}");
    }
}

#[test]
fn brown_subsets_and_min_count_come_from_the_config() {
    use depthlab::config::{load_data, Data};
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let load = |extra: &str| {
        let text = brown_config(LSTM).replace("tags = \"full\"\n", &format!("tags = \"full\"\n{extra}"));
        let cfg = Config::parse(&text, "b.toml", &[]).unwrap();
        let Data::Seq(s) = load_data(&cfg, Some(&data)).unwrap() else { panic!("sequences expected") };
        s
    };
    let all = load("");
    let some = load("train_subset = 2\ntest_subset = 1\nmin_count = 2\n");
    assert_eq!((all.train.len(), all.test.len()), (5, 2));
    assert_eq!((some.train.len(), some.test.len()), (2, 1));
    // Training forms seen once read as <unk> (id 0): "fast", "1/2" and others.
    let vocab = |s: &depthlab::data::seq::SeqSplit| s.train.in_dim();
    assert!(vocab(&some) < vocab(&all), "{} vs {}", vocab(&some), vocab(&all));
    refused(
        &brown_config(LSTM).replace("tags = \"full\"\n", "tags = \"full\"\nmin_count = 0\n"),
        &[],
        &["data.min_count"],
    );
}
