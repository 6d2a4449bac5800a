//! The thread count changes how fast a run goes, never what it gives: the same config and seed
//! train to bit-identical weights (and metrics) with 1, 2 and 8 threads, for every architecture.

use std::path::Path;

use depthlab::config::Config;
use depthlab::nn::Arch;
use depthlab::train::{self, RunOptions};

/// Feed-forward: MNIST-1D, 3 steps of 64. Wide enough that the layers' products are cut among
/// the threads (64 x 128 x 128 and larger: two pieces at 2 threads, eight at 8), and so are the
/// highway layers' elementwise passes (64 x 256 values).
const FLAT: &str = r#"
seed = 5
[data]
name = "mnist1d"
num_samples = 240
[model]
arch = "plain"
depth = 3
width = 128
[optim]
lr = 0.05
optimizer = { kind = "sgd", momentum = 0.9 }
[train]
epochs = 1
batch_size = 64
"#;

/// Sequences: the adding problem, 2 steps of 64 sequences of 40. Wide and long enough that the
/// recurrent layers cut their batch into lanes and their products into blocks (at the default
/// thresholds), so that the threads really share the work.
const SEQ: &str = r#"
seed = 5
[data]
name = "adding"
t = 40
train = 128
test = 16
[model]
arch = "lstm"
depth = 1
width = 64
[optim]
lr = 0.01
optimizer = { kind = "adam" }
[train]
epochs = 1
batch_size = 64
"#;

fn config(arch: Arch) -> Config {
    let (base, mut sets) = if arch.is_sequence() { (SEQ, vec![]) } else { (FLAT, vec![]) };
    sets.push(format!("model.arch=\"{}\"", arch.name()));
    match arch {
        // Two layers, both directions: every phase of the recurrent backward.
        Arch::Lstm | Arch::RnnTanh => sets.extend(["model.depth=2".into(), "model.bidirectional=true".into()]),
        // 40 x 64 rows x 16 x 16 x 3: the wider convolutions are cut into two time blocks.
        Arch::Tcn => sets.extend(["model.width=16".into(), "model.kernel_size=3".into()]),
        Arch::Attention => sets.extend(["model.width=16".into(), "model.heads=2".into()]),
        _ => {}
    }
    Config::parse(base, "base.toml", &sets).unwrap_or_else(|e| panic!("{}: {e}", arch.name()))
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// metrics.jsonl without the wall-clock field.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    String::from_utf8(read(&dir.join("metrics.jsonl")))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("elapsed_s");
            v
        })
        .collect()
}

#[test]
fn every_architecture_trains_to_the_same_bits_with_1_2_and_8_threads() {
    let tmp = tempfile::tempdir().unwrap();
    for arch in Arch::ALL {
        let cfg = config(arch);
        let runs: Vec<_> = [1, 2, 8]
            .into_iter()
            .map(|threads| {
                let dir = tmp.path().join(format!("{}-{threads}", arch.name()));
                let opts = RunOptions { quiet: true, threads: Some(threads), ..Default::default() };
                let s = train::train(&cfg, &dir, &opts).unwrap_or_else(|e| panic!("{} x{threads}: {e}", arch.name()));
                assert_eq!(s.status, "finished", "{} x{threads}", arch.name());
                assert!(s.steps >= 2, "{}: {} steps", arch.name(), s.steps);
                (threads, read(&dir.join("model.safetensors")), metrics(&dir))
            })
            .collect();
        let (_, w1, m1) = &runs[0];
        for (threads, w, m) in &runs[1..] {
            assert!(
                w == w1,
                "{}: the weights after training with {threads} threads differ from 1 thread's",
                arch.name()
            );
            assert_eq!(m, m1, "{}: metrics with {threads} threads", arch.name());
        }
    }
}

#[test]
fn train_threads_in_the_config_is_checked_and_not_part_of_the_run_id() {
    let base = config(Arch::Plain);
    let mut with = base.clone();
    with.train.threads = Some(3);
    assert_eq!(depthlab::sweep::run_id(&base, true), depthlab::sweep::run_id(&with, true));
    assert!(with.to_toml().contains("threads = 3"));
    assert!(!base.to_toml().contains("threads"), "an unset train.threads is not written");
    let e = Config::parse(FLAT, "base.toml", &["train.threads=0".into()]).unwrap_err().to_string();
    assert!(e.contains("train.threads") && e.contains("at least 1"), "{e}");
    // --threads wins over the config, which wins over every core.
    let opts = |t: Option<usize>| RunOptions { threads: t, ..Default::default() };
    assert_eq!(train::threads(&with, &opts(Some(1))), 1);
    assert_eq!(train::threads(&with, &opts(None)), 3);
    assert_eq!(train::threads(&base, &opts(None)), depthlab::tensor::par::all_cores());
}

#[test]
fn a_head_below_the_top_trains_to_the_same_bits_with_1_and_2_threads() {
    // The head's gradient enters the recurrent backward at layer 0, between the lanes' phases.
    let text = format!(
        "{}\n[[model.layer_heads]]\nlayer = 0\nweight = 0.5\n",
        SEQ.replace("depth = 1", "depth = 2\nbidirectional = true")
    );
    let cfg = Config::parse(&text, "heads.toml", &[]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let runs: Vec<_> = [1, 2]
        .into_iter()
        .map(|threads| {
            let dir = tmp.path().join(format!("heads-{threads}"));
            let opts = RunOptions { quiet: true, threads: Some(threads), ..Default::default() };
            let s = train::train(&cfg, &dir, &opts).unwrap();
            assert_eq!(s.status, "finished");
            (read(&dir.join("model.safetensors")), metrics(&dir))
        })
        .collect();
    assert!(runs[0].0 == runs[1].0, "the weights with 2 threads differ from 1 thread's");
    assert_eq!(runs[0].1, runs[1].1);
    assert!(runs[0].1.iter().any(|r| r.get("layer_heads.0.loss").is_some()), "the head's loss is logged");
}
