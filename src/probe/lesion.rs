//! Lesion studies (Veit et al. 2016; Srivastava et al. 2015, Fig. 4): the held-out loss and
//! accuracy with one stack block deleted (each in turn), and with k random blocks deleted
//! (k = 1..n, several seeded draws). A deleted block is the identity in the forward: a residual
//! block drops its branch, a highway layer's transform gate is forced shut (T = 0), a plain
//! layer passes its input through (`Block::switches().lesioned`). The model is left as it was.

use rand::{rngs::StdRng, seq::index::sample, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Targets};
use crate::nn::loss::{mse, softmax_cross_entropy};
use crate::nn::{Carry, Ctx, Model};
use crate::tensor::{Mat, Real};

/// How many draws and examples.
#[derive(Clone, Debug)]
pub struct LesionOptions {
    /// Random draws per k.
    pub draws: usize,
    pub seed: u64,
    /// At most this many held-out examples (the first ones).
    pub max_examples: usize,
}

impl Default for LesionOptions {
    fn default() -> Self {
        LesionOptions { draws: 3, seed: 0, max_examples: 500 }
    }
}

/// Loss (and accuracy, for classes) of one lesioned model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Score {
    pub loss: f64,
    pub accuracy: Option<f64>,
}

/// Deleting one block.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Single {
    /// Index of the block in the stack (`layers.{layer}`).
    pub layer: usize,
    pub name: String,
    pub loss: f64,
    pub accuracy: Option<f64>,
    /// loss - baseline loss.
    pub loss_increase: f64,
}

/// Deleting k random blocks, over draws.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RandomK {
    pub k: usize,
    pub loss_mean: f64,
    pub loss_min: f64,
    pub loss_max: f64,
    pub accuracy_mean: Option<f64>,
    pub accuracy_min: Option<f64>,
    pub accuracy_max: Option<f64>,
    /// Each draw: the deleted layers and the score.
    pub draws: Vec<(Vec<usize>, Score)>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lesion {
    pub probe: String,
    pub arch: String,
    pub examples: usize,
    /// Accuracy of always predicting the most frequent class of the examples (chance level).
    pub chance_accuracy: Option<f64>,
    pub baseline: Score,
    pub single: Vec<Single>,
    pub random: Vec<RandomK>,
    pub elapsed_s: f64,
}

fn score<F: Real>(out: &Mat<F>, y: &Targets) -> Score {
    match y {
        Targets::Classes { labels, .. } => {
            let l = softmax_cross_entropy(out, labels);
            Score { loss: l.loss, accuracy: Some(l.correct as f64 / l.count.max(1) as f64) }
        }
        Targets::Values(v) => Score { loss: mse(out, &v.cast()).loss, accuracy: None },
    }
}

/// The stack blocks that can be deleted: (block index in `model.blocks`, layer number).
pub fn lesionable<F: Real>(model: &mut Model<F>) -> Vec<(usize, usize)> {
    model
        .blocks
        .iter_mut()
        .enumerate()
        .filter_map(|(i, (name, b))| {
            let layer: usize = name.strip_prefix("layers.")?.parse().ok()?;
            b.switches().is_some().then_some((i, layer))
        })
        .collect()
}

/// Per block of `model`: whether, deleted, it is the identity in the forward, so that a lesion
/// run may skip it with the same result. Plain, residual and weighted-skip blocks return their
/// input (a copy); a highway layer with the coupled carry C = 1 - T gives 0 * H + 1 * x = x
/// (H is finite for a finite input). A highway layer with an independent carry (C x) is not
/// the identity, nor any other kind of block. Each candidate is also run deleted once on its
/// own input, which must come back unchanged, bit for bit.
fn identity_when_lesioned<F: Real>(model: &mut Model<F>, cand: &[(usize, usize)], inputs: &[Mat<F>]) -> Vec<bool> {
    let coupled = model.config.carry == Carry::Coupled;
    let mut out = vec![false; model.blocks.len()];
    for &(i, _) in cand {
        let b = &mut model.blocks[i].1;
        // A block's kind is its arch's name; a coupled highway layer carries x through.
        let by_kind = match crate::nn::Arch::from_name(b.kind()) {
            Some(crate::nn::Arch::Highway) => coupled,
            Some(a) => a.can().deletable,
            None => false,
        };
        if !by_kind {
            continue;
        }
        b.switches().expect("lesionable").lesioned = true;
        let y = b.forward(&inputs[i], &Ctx::EVAL);
        b.switches().expect("lesionable").lesioned = false;
        out[i] = y.shape() == inputs[i].shape() && y.data.iter().zip(&inputs[i].data).all(|(a, b)| a == b);
    }
    out
}

/// Lesion scores of `model` on (the first `opts.max_examples` of) `data`. Errors when the model
/// has no deletable blocks (dense stacks are one block).
pub fn lesion<F: Real>(model: &mut Model<F>, data: &Dataset, opts: &LesionOptions) -> Result<Lesion, String> {
    let started = std::time::Instant::now();
    let cand = lesionable(model);
    if cand.is_empty() {
        return Err(format!(
            "the lesion probe needs a stack of deletable layers ({}), not {}",
            crate::nn::Arch::listed(|c| c.deletable),
            model.config.arch.name()
        ));
    }
    let data = data.take(opts.max_examples);
    let x: Mat<F> = data.x.cast();
    // The input of every block on the unlesioned model: a lesion at block i reuses the input
    // of block i and runs only the blocks from i on.
    let n = model.blocks.len();
    let mut inputs = Vec::with_capacity(n);
    let mut h = x;
    for (_, b) in model.blocks.iter_mut() {
        let y = b.forward(&h, &Ctx::EVAL);
        inputs.push(std::mem::replace(&mut h, y));
    }
    let baseline = score(&h, &data.y);
    let identity = identity_when_lesioned(model, &cand, &inputs);
    let mut lesioned = vec![false; n];
    let mut run = |model: &mut Model<F>, set: &[usize]| -> Score {
        let start = *set.iter().min().expect("a lesion set is not empty");
        for &i in set {
            model.blocks[i].1.switches().expect("lesionable").lesioned = true;
            lesioned[i] = true;
        }
        let mut h = inputs[start].clone();
        for (i, (_, b)) in model.blocks.iter_mut().enumerate().skip(start) {
            // A deleted block that is the identity leaves h as it is: no need to run it.
            if !(lesioned[i] && identity[i]) {
                h = b.forward(&h, &Ctx::EVAL);
            }
        }
        for &i in set {
            model.blocks[i].1.switches().expect("lesionable").lesioned = false;
            lesioned[i] = false;
        }
        score(&h, &data.y)
    };
    let single = cand
        .iter()
        .map(|&(i, layer)| {
            let s = run(model, &[i]);
            Single {
                layer,
                name: model.blocks[i].0.clone(),
                loss: s.loss,
                accuracy: s.accuracy,
                loss_increase: s.loss - baseline.loss,
            }
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x1e5_10e);
    let mut random = Vec::new();
    for k in 1..=cand.len() {
        // Deleting all n blocks has one outcome: one draw.
        let draws = if k == cand.len() { 1 } else { opts.draws.max(1) };
        let mut ds = Vec::with_capacity(draws);
        for _ in 0..draws {
            let mut pick: Vec<usize> = sample(&mut rng, cand.len(), k).into_iter().collect();
            pick.sort_unstable();
            let blocks: Vec<usize> = pick.iter().map(|&j| cand[j].0).collect();
            let layers: Vec<usize> = pick.iter().map(|&j| cand[j].1).collect();
            ds.push((layers, run(model, &blocks)));
        }
        let losses: Vec<f64> = ds.iter().map(|d| d.1.loss).collect();
        let accs: Vec<f64> = ds.iter().filter_map(|d| d.1.accuracy).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let has_acc = !accs.is_empty();
        random.push(RandomK {
            k,
            loss_mean: mean(&losses),
            loss_min: min(&losses),
            loss_max: max(&losses),
            accuracy_mean: has_acc.then(|| mean(&accs)),
            accuracy_min: has_acc.then(|| min(&accs)),
            accuracy_max: has_acc.then(|| max(&accs)),
            draws: ds,
        });
    }
    let chance_accuracy = match &data.y {
        Targets::Classes { labels, n_classes } => {
            let mut counts = vec![0usize; *n_classes];
            labels.iter().for_each(|&l| counts[l as usize] += 1);
            Some(*counts.iter().max().unwrap_or(&0) as f64 / labels.len().max(1) as f64)
        }
        Targets::Values(_) => None,
    };
    Ok(Lesion {
        probe: "lesion".into(),
        arch: model.config.arch.name().to_string(),
        examples: data.len(),
        chance_accuracy,
        baseline,
        single,
        random,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}
