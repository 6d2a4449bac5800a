//! NaN propagates as in PyTorch: a NaN anywhere in the input gives a NaN loss in every
//! architecture and activation, so the divergence check sees it (a relu that maps NaN to 0
//! would hide it).

use depthlab::data::seq::SeqInputs;
use depthlab::data::seqtasks::adding_split;
use depthlab::nn::{Activation, Arch, LossKind, Model, ModelConfig, Target};
use depthlab::seq::batch::make_batch;
use depthlab::seq::build::build_seq_model;
use depthlab::tensor::{Mat, Real};

#[test]
fn every_activation_keeps_nan() {
    for phi in Activation::ALL {
        assert!(phi.f(f64::NAN).is_nan(), "{}: f(NaN)", phi.name());
        let mut v32 = vec![f32::NAN; 19];
        phi.apply(&mut v32);
        assert!(v32.iter().all(|v| v.is_nan()), "{}: apply(NaN) on f32 gives {v32:?}", phi.name());
        let mut v64 = vec![f64::NAN; 3];
        phi.apply(&mut v64);
        assert!(v64.iter().all(|v| v.is_nan()), "{}: apply(NaN) on f64", phi.name());
    }
    assert!(f32::NAN.relu().is_nan() && (-1.0f32).relu() == 0.0 && 2.0f32.relu() == 2.0);
}

#[test]
fn a_nan_input_gives_a_nan_loss_in_every_feed_forward_model() {
    for arch in Arch::ALL.into_iter().filter(|a| !a.is_sequence()) {
        for phi in Activation::ALL {
            let cfg = ModelConfig {
                activation: phi,
                ..toml::from_str(&format!("arch = \"{}\"\ndepth = 3\nwidth = 8", arch.name())).unwrap()
            };
            let mut m = Model::<f32>::build(&cfg, 5, 3, LossKind::CrossEntropy, 1).unwrap();
            let mut x = Mat::from_fn(4, 5, |r, c| (r + c) as f32 / 7.0);
            x.data[6] = f32::NAN;
            let out = m.forward_backward(&x, &Target::Classes(&[0, 1, 2, 0]));
            assert!(out.loss.is_nan(), "{} {}: loss {} from a NaN input", arch.name(), phi.name(), out.loss);
        }
    }
}

#[test]
fn a_nan_input_gives_a_nan_loss_in_every_sequence_model() {
    let mut split = adding_split(6, 8, 4, 1);
    let SeqInputs::Real { values, .. } = &mut split.train.inputs else { panic!("adding has real inputs") };
    values[3] = f32::NAN;
    for arch in Arch::ALL.into_iter().filter(|a| a.is_sequence()) {
        let cfg: ModelConfig = toml::from_str(&format!("arch = \"{}\"\ndepth = 2\nwidth = 8", arch.name())).unwrap();
        let mut m = build_seq_model::<f32>(&cfg, &split, None, 1).unwrap();
        let out = m.forward_backward(&make_batch(&split.train, &[0, 1]));
        assert!(out.loss.is_nan(), "{}: loss {} from a NaN input", arch.name(), out.loss);
    }
}
