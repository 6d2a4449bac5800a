//! Deep supervision (Lee et al. 2015; GoogLeNet's auxiliary heads): how much of each layer's
//! gradient each loss supplies. The gradient at a block output is a sum over sources, the main
//! loss and each auxiliary head's weighted loss: g(l) = g_main(l) + sum_j g_aux.j(l). Each
//! source's part is measured by its own backward pass (`Model::backward` with the other
//! sources' gradients zero), and
//!
//!   share_s(l) = ||g_s(l)|| / sum_t ||g_t(l)||
//!
//! (Frobenius norms of the batch's gradient, each averaged over batches before the ratio), so
//! the shares of a layer sum to 1 (all 0 when no gradient reaches it). An auxiliary head on
//! `layers.k` supplies nothing to the layers above it: its share there is exactly 0. The cosine
//! between the main gradient and a head's, cos_j(l) = <g_main(l), g_aux.j(l)> /
//! (||g_main(l)|| ||g_aux.j(l)||), is averaged over the batches where both are non-zero (null
//! when none): positive when the head pushes the layer the same way as the main loss.

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Targets};
use crate::nn::loss::{mse, softmax_cross_entropy};
use crate::nn::{Ctx, Model};
use crate::seq::batch::SeqBatch;
use crate::seq::model::SeqModel;
use crate::tensor::{matmul, Mat, Real, View};

/// A gradient source: the main loss or an auxiliary head.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Source {
    /// `main`, `aux.{j}` or `layer_heads.{j}`.
    pub name: String,
    /// The stack layer the head reads (`layers.{layer}`, or recurrent layer `layer`); the main
    /// head: the last.
    pub layer: usize,
    /// The loss weight (1 for the main loss).
    pub weight: f64,
}

/// One stack layer's gradient, by source (in the order of `sources`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareLayer {
    pub layer: usize,
    pub name: String,
    /// Mean over batches of ||g_s(l)||, per source.
    pub norms: Vec<f64>,
    /// norms[s] / sum(norms): each source's share.
    pub shares: Vec<f64>,
    /// Per auxiliary head (sources[1..]): the mean cosine between its gradient and the main
    /// loss's (null when they are never both non-zero).
    pub cos_main: Vec<Option<f64>>,
    /// ||sum_s g_s(l)|| averaged over batches (the total gradient, as gradflow reports it).
    pub total_norm: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuxShare {
    pub probe: String,
    pub batches: usize,
    pub sources: Vec<Source>,
    pub layers: Vec<ShareLayer>,
    pub elapsed_s: f64,
}

fn loss_grad<F: Real>(out: &Mat<F>, y: &Targets) -> Mat<F> {
    match y {
        Targets::Classes { labels, .. } => softmax_cross_entropy(out, labels).grad,
        Targets::Values(v) => mse(out, &v.cast()).grad,
    }
}

fn dot<F: Real>(a: &Mat<F>, b: &Mat<F>) -> f64 {
    a.data.iter().zip(&b.data).map(|(&x, &y)| x.f64() * y.f64()).sum()
}

/// The gradient each loss sends to every stack layer's output, over `batches`. Errors when the
/// model has no auxiliary heads. Weights are not changed; parameter gradients are zeroed.
pub fn aux_share<F: Real>(model: &mut Model<F>, batches: &[Dataset]) -> Result<AuxShare, String> {
    let started = std::time::Instant::now();
    let heads = model.config.aux.clone();
    if heads.is_empty() {
        return Err("the aux_share probe needs a model with auxiliary heads (model.aux)".into());
    }
    let depth = model.config.depth;
    let mut sources = vec![Source { name: "main".into(), layer: depth - 1, weight: 1.0 }];
    sources.extend(heads.iter().enumerate().map(|(j, a)| Source {
        name: format!("aux.{j}"),
        layer: a.layer,
        weight: a.weight,
    }));
    let ns = sources.len();
    // Per layer: sum over batches of each source's norm, of the total's norm, and per head
    // (sum of cosines, count).
    let mut norm_sum = vec![vec![0.0; ns]; depth];
    let mut total_sum = vec![0.0; depth];
    let mut cos_sum = vec![vec![(0.0, 0usize); ns - 1]; depth];
    model.set_taps(true);
    for b in batches {
        let x: Mat<F> = b.x.cast();
        // The stack outputs, to compute the heads' logits (block i + 1 is layers.{i}).
        let mut hs = Vec::with_capacity(model.blocks.len());
        let mut h = x.clone();
        for (_, blk) in model.blocks.iter_mut() {
            h = blk.forward(&h, &Ctx::EVAL);
            hs.push(h.clone());
        }
        let mut aux_grads = Vec::with_capacity(heads.len());
        {
            let params = model.params();
            for (j, a) in heads.iter().enumerate() {
                let find =
                    |s: &str| params.iter().find(|(n, _)| n == &format!("aux.{j}.{s}")).map(|(_, p)| p.value.clone());
                let (w, bias) = (find("weight").expect("aux weight"), find("bias").expect("aux bias"));
                let mut logits = matmul(View::of(&hs[a.layer + 1]), View::of(&w).t());
                for r in 0..logits.rows {
                    logits.row_mut(r).iter_mut().zip(&bias.data).for_each(|(l, &bb)| *l += bb);
                }
                let mut g = loss_grad(&logits, &b.y);
                g.scale(F::c(a.weight));
                aux_grads.push(g);
            }
        }
        let out = model.forward(&x, &Ctx::TRAIN);
        let dmain = loss_grad(&out, &b.y);
        let zero_out = Mat::zeros(dmain.rows, dmain.cols);
        let zero_aux: Vec<Mat<F>> = aux_grads.iter().map(|g| Mat::zeros(g.rows, g.cols)).collect();
        // Per source: the taps act.layers.{i}, by i.
        let mut per_source: Vec<Vec<Mat<F>>> = Vec::with_capacity(ns);
        for s in 0..ns {
            if s == 0 {
                model.backward(&dmain, &zero_aux);
            } else {
                let mut g = zero_aux.clone();
                g[s - 1] = aux_grads[s - 1].clone();
                model.backward(&zero_out, &g);
            }
            let mut layers = vec![Mat::zeros(0, 0); depth];
            for (name, g) in model.taps() {
                if let Some(i) = super::gradflow::stack_index(name) {
                    if i < depth {
                        layers[i] = g.clone();
                    }
                }
            }
            per_source.push(layers);
        }
        for l in 0..depth {
            let mut total = per_source[0][l].clone();
            for (s, src) in per_source.iter().enumerate() {
                norm_sum[l][s] += src[l].norm();
                if s > 0 {
                    total.add_assign(&src[l]);
                    let (a, bn) = (per_source[0][l].norm(), src[l].norm());
                    if a > 0.0 && bn > 0.0 {
                        cos_sum[l][s - 1].0 += dot(&per_source[0][l], &src[l]) / (a * bn);
                        cos_sum[l][s - 1].1 += 1;
                    }
                }
            }
            total_sum[l] += total.norm();
        }
    }
    model.set_taps(false);
    model.zero_grad();
    Ok(finish(batches.len(), sources, norm_sum, total_sum, cos_sum, |l| format!("layers.{l}"), started))
}

/// The same for a sequence model's per-layer heads (`model.layer_heads`): the sources are the
/// main loss (on the top layer) and `layer_heads.{j}`; a layer's gradient is dL/dh_t of that
/// recurrent layer at every step and in both directions (the `act.rnn.l{k}.h.{t}` taps: the
/// total gradient at the hidden states, through the recurrence too), its norm taken over all
/// of them. Each source's part comes from its own forward and backward with the other
/// sources' output gradients zero. Layers are named `rnn.l{k}`.
pub fn sequence<F: Real>(model: &mut SeqModel<F>, batches: &[SeqBatch<F>]) -> Result<AuxShare, String> {
    let started = std::time::Instant::now();
    if model.heads.is_empty() {
        return Err("the aux_share probe needs a model with auxiliary heads (model.aux or model.layer_heads)".into());
    }
    let (block, depth) = model
        .body
        .iter()
        .rev()
        .find(|(_, b)| b.layers() > 0)
        .map(|(n, b)| (n.clone(), b.layers()))
        .ok_or("the aux_share probe needs a recurrent body for layer heads")?;
    let mut sources = vec![Source { name: "main".into(), layer: depth - 1, weight: 1.0 }];
    sources.extend(model.heads.iter().enumerate().map(|(j, h)| Source {
        name: format!("layer_heads.{j}"),
        layer: h.layer,
        weight: h.weight,
    }));
    let ns = sources.len();
    let mut norm_sum = vec![vec![0.0; ns]; depth];
    let mut total_sum = vec![0.0; depth];
    let mut cos_sum = vec![vec![(0.0, 0usize); ns - 1]; depth];
    let prefix = format!("act.{block}.l");
    model.set_taps(true);
    for b in batches {
        // Per source, per layer: every tap of the layer's hidden states, flattened.
        let mut per_source: Vec<Vec<Vec<f64>>> = Vec::with_capacity(ns);
        for s in 0..ns {
            let out = model.forward(b, &Ctx::TRAIN);
            let l = model.losses(&out, b);
            let zero = |g: &Mat<F>| Mat::zeros(g.rows, g.cols);
            let main = if s == 0 { l.grad.clone() } else { zero(&l.grad) };
            let heads: Vec<Mat<F>> =
                l.head_grads.iter().enumerate().map(|(j, g)| if s == j + 1 { g.clone() } else { zero(g) }).collect();
            model.backward(&main, &heads);
            let mut layers = vec![Vec::new(); depth];
            for (name, g) in model.taps() {
                let Some(rest) = name.strip_prefix(&prefix) else { continue };
                let (k, what) = rest.split_once('.').unwrap_or((rest, ""));
                let k = k.trim_end_matches("_reverse").parse::<usize>();
                if let (Ok(k), true) = (k, what.starts_with("h.")) {
                    if k < depth {
                        layers[k].extend(g.data.iter().map(|v| v.f64()));
                    }
                }
            }
            per_source.push(layers);
        }
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for l in 0..depth {
            let mut total = per_source[0][l].clone();
            for (s, src) in per_source.iter().enumerate() {
                norm_sum[l][s] += norm(&src[l]);
                if s > 0 {
                    total.iter_mut().zip(&src[l]).for_each(|(t, v)| *t += v);
                    let (a, bn) = (norm(&per_source[0][l]), norm(&src[l]));
                    if a > 0.0 && bn > 0.0 {
                        let dot: f64 = per_source[0][l].iter().zip(&src[l]).map(|(x, y)| x * y).sum();
                        cos_sum[l][s - 1].0 += dot / (a * bn);
                        cos_sum[l][s - 1].1 += 1;
                    }
                }
            }
            total_sum[l] += norm(&total);
        }
    }
    model.set_taps(false);
    model.zero_grad();
    Ok(finish(batches.len(), sources, norm_sum, total_sum, cos_sum, |l| format!("{block}.l{l}"), started))
}

/// Means over batches, shares, cosines.
fn finish(
    batches: usize,
    sources: Vec<Source>,
    norm_sum: Vec<Vec<f64>>,
    total_sum: Vec<f64>,
    cos_sum: Vec<Vec<(f64, usize)>>,
    name: impl Fn(usize) -> String,
    started: std::time::Instant,
) -> AuxShare {
    let nb = batches.max(1) as f64;
    let layers = (0..norm_sum.len())
        .map(|l| {
            let norms: Vec<f64> = norm_sum[l].iter().map(|s| s / nb).collect();
            let sum: f64 = norms.iter().sum();
            ShareLayer {
                layer: l,
                name: name(l),
                shares: norms.iter().map(|v| if sum > 0.0 { v / sum } else { 0.0 }).collect(),
                norms,
                cos_main: cos_sum[l].iter().map(|&(s, c)| (c > 0).then(|| s / c as f64)).collect(),
                total_norm: total_sum[l] / nb,
            }
        })
        .collect();
    AuxShare { probe: "aux_share".into(), batches, sources, layers, elapsed_s: started.elapsed().as_secs_f64() }
}

/// aux_share.svg: the shares stacked by layer (each line is the running sum of the sources up
/// to it, so the last is 1 wherever gradient arrives).
pub fn plot(a: &AuxShare) -> String {
    use crate::plot::{LinePlot, Series};
    let mut p = LinePlot::new("share of each layer's gradient by loss (stacked)", "layer", "cumulative share");
    for (s, src) in a.sources.iter().enumerate() {
        let pts = a.layers.iter().map(|l| (l.layer as f64, l.shares[..=s].iter().sum::<f64>())).collect();
        let name = if s == 0 { "main".to_string() } else { format!("+ {} (layer {})", src.name, src.layer) };
        p = p.series(Series::new(name, pts).markers());
    }
    p.to_svg()
}
