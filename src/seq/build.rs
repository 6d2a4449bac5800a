//! A `SeqModel` from the `[model]` section of a config.

use rand::{rngs::StdRng, SeedableRng};

use super::model::{LayerHead, Readout, SeqModel};
use super::per_step::PerStep;
use super::{AttentionConfig, CausalSelfAttention, PosEncoding, Tcn, TcnConfig};
use super::{CellKind, Embedding, HhInit, Rnn, RnnConfig, SeqBlock};
use crate::data::seq::{SeqInputs, SeqSplit, SeqTargets};
use crate::nn::{Arch, Init, Linear, ModelConfig, Positional};
use crate::tensor::Real;

/// Build for data shaped like `split`: token inputs get an embedding, per-step targets a
/// per-step readout. `bptt_truncate` applies to recurrent bodies.
pub fn build_seq_model<F: Real>(
    cfg: &ModelConfig,
    split: &SeqSplit,
    bptt_truncate: Option<usize>,
    seed: u64,
) -> Result<SeqModel<F>, String> {
    cfg.validate()?;
    let data = &split.train;
    let mut rng = StdRng::seed_from_u64(seed);
    let embed = match &data.inputs {
        SeqInputs::Tokens { vocab, .. } => Some(Embedding::new(*vocab, cfg.embed_dim.unwrap_or(cfg.width), &mut rng)),
        SeqInputs::Real { .. } => None,
    };
    let in_dim = embed.as_ref().map(|e| e.dim()).unwrap_or_else(|| data.in_dim());
    let mut body: Vec<(String, Box<dyn SeqBlock<F>>)> = Vec::new();
    let cell = match cfg.arch {
        Arch::RnnTanh => Some(CellKind::RnnTanh),
        Arch::RnnRelu => Some(CellKind::RnnRelu),
        Arch::Lstm => Some(CellKind::Lstm),
        Arch::Gru => Some(CellKind::Gru),
        _ => None,
    };
    if let Some(cell) = cell {
        let rc = RnnConfig::new(cell, in_dim, cfg.width)
            .layers(cfg.depth)
            .bidirectional(cfg.bidirectional.unwrap_or(false))
            .hh_init(cfg.hh_init.unwrap_or(HhInit::Default))
            .forget_bias(if cell == CellKind::Lstm { Some(cfg.forget_bias.unwrap_or(1.0)) } else { None })
            .bptt_truncate(bptt_truncate);
        let mut rnn = Rnn::new(&rc, &mut rng);
        // One thread until the caller says otherwise (`SeqModel::set_threads`): a library user
        // building many models at once should not get every core for each.
        rnn.threads = 1;
        body.push(("rnn".into(), Box::new(rnn)));
    } else if cfg.arch == Arch::Tcn {
        let tc = TcnConfig::uniform(in_dim, cfg.width, cfg.depth, cfg.kernel_size.unwrap_or(2))
            .dilated(cfg.dilation.unwrap_or(true));
        body.push(("tcn".into(), Box::new(Tcn::new(&tc, &mut rng))));
    } else if cfg.arch == Arch::Attention {
        if in_dim != cfg.width {
            body.push(("input".into(), Box::new(PerStep(Linear::new(in_dim, cfg.width, &Init::Glorot, &mut rng)))));
        }
        let longest = (0..split.train.len())
            .map(|i| split.train.seq_len(i))
            .chain((0..split.test.len()).map(|i| split.test.seq_len(i)))
            .max()
            .unwrap_or(1);
        let pos = match cfg.positional.unwrap_or_default() {
            Positional::None => PosEncoding::None,
            Positional::Sinusoidal => PosEncoding::Sinusoidal,
            Positional::Learned => PosEncoding::Learned { max_len: longest },
        };
        for i in 0..cfg.depth {
            // The encoding is added once, at the first layer.
            let ac = AttentionConfig::new(cfg.width, cfg.heads.unwrap_or(1)).residual(true).pos(if i == 0 {
                pos
            } else {
                PosEncoding::None
            });
            body.push((format!("attn.{i}"), Box::new(CausalSelfAttention::new(&ac, &mut rng))));
        }
    } else {
        return Err(format!("model.arch = {:?} is not a sequence model", cfg.arch));
    }
    let top = body.last().map(|(_, b)| b.out_dim()).unwrap_or(in_dim);
    let readout = match data.targets {
        SeqTargets::EachClass { .. } => Readout::Each,
        _ => Readout::Last,
    };
    let head = Linear::new(top, data.out_dim(), &Init::Glorot, &mut rng);
    let mut heads = Vec::with_capacity(cfg.layer_heads.len());
    for (j, h) in cfg.layer_heads.iter().enumerate() {
        let Some(targets) = data.targets_named(h.target.as_deref()) else {
            let names: Vec<String> = data.named.iter().map(|(n, _)| format!("{n:?}")).collect();
            return Err(format!(
                "model.layer_heads[{j}].target = {:?}: data set {} has no targets of that name{}",
                h.target.as_deref().unwrap_or(""),
                split.name,
                if names.is_empty() { String::new() } else { format!(" (it has {})", names.join(", ")) }
            ));
        };
        let readout = match targets {
            SeqTargets::EachClass { .. } => Readout::Each,
            _ => Readout::Last,
        };
        // The head reads layer h.layer of the recurrent stack: its width is the stack's output.
        let lin = Linear::new(top, targets.out_dim(), &Init::Glorot, &mut rng);
        heads.push(LayerHead::new(h.layer, h.weight, h.target.clone(), readout, lin));
    }
    Ok(SeqModel::new(embed, body, head, readout).with_heads(heads))
}
