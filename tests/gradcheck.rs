//! Finite-difference gradient checks of every block, every loss and whole models, in f64.

use depthlab::nn::gradcheck::{check_block, random_input};
use depthlab::nn::loss::softmax_cross_entropy;
use depthlab::nn::Ctx;
use depthlab::nn::{
    Act, Activation, Arch, AuxConfig, Block, Carry, DenseMode, DenseStack, Highway, Init, Linear, LinearAct, LossKind,
    Model, ModelConfig, Residual, Target, WeightedSkip,
};
use depthlab::tensor::Mat;
use rand::{rngs::StdRng, SeedableRng};

const TOL: f64 = 1e-6;
const ALL: [Activation; 6] = Activation::ALL;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

fn init() -> Init {
    Init::Gaussian { sigma_w2: 1.5, sigma_b2: 0.1 }
}

fn check(block: &mut dyn Block<f64>, what: &str) {
    let x = random_input(3, block.in_dim(), 1.0, 11);
    let report = check_block(block, &x, 40, 3);
    let (name, err) = report.worst();
    assert!(err < TOL, "{what}: {name} relative error {err:.2e}; all {:?}", report.tensors);
}

#[test]
fn linear_and_activations() {
    check(&mut Linear::new(5, 4, &init(), &mut rng()), "linear");
    for phi in ALL {
        check(&mut Act::<f64>::new(phi, 6), phi.name());
        check(&mut LinearAct::new(5, 4, phi, &init(), &mut rng()), &format!("linear+{}", phi.name()));
    }
}

#[test]
fn highway_coupled_and_independent() {
    for phi in ALL {
        check(&mut Highway::new(5, phi, &init(), -1.0, None, &mut rng()), &format!("highway coupled {}", phi.name()));
        check(
            &mut Highway::new(5, phi, &init(), -1.0, Some(0.5), &mut rng()),
            &format!("highway independent {}", phi.name()),
        );
    }
    // Lesioned (T forced shut) with an independent carry still has the carry gate's gradient.
    let mut h = Highway::new(5, Activation::Tanh, &init(), -1.0, Some(0.5), &mut rng());
    h.switches.lesioned = true;
    check(&mut h, "highway lesioned, independent carry");
}

/// A batch large enough that the layer's elementwise passes and products are shared among three
/// threads: the gradients still agree with finite differences, and the output, dL/dx and every
/// parameter's gradient are bit for bit those of one thread.
#[test]
fn highway_passes_shared_among_threads() {
    use depthlab::tensor::par::with_threads;
    let run = |h: &mut Highway<f64>, x: &Mat<f64>, threads: usize| {
        with_threads(threads, || {
            let y = h.forward(x, &Ctx::TRAIN);
            let dy = Mat::from_fn(y.rows, y.cols, |r, c| ((r * 7 + c * 3) % 11) as f64 / 11.0 - 0.5);
            let dx = h.backward(&dy);
            let mut params = Vec::new();
            h.params("", &mut params);
            let mut grads: Vec<f64> = params.iter().flat_map(|(_, p)| p.grad.data.clone()).collect();
            params.iter_mut().for_each(|(_, p)| p.grad.fill(0.0));
            grads.extend(y.data.iter().chain(&dx.data));
            grads.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        })
    };
    for phi in [Activation::Tanh, Activation::Gelu] {
        for carry in [None, Some(0.5)] {
            for lesioned in [false, true] {
                let what = format!("{} carry={carry:?} lesioned={lesioned}", phi.name());
                let mut h = Highway::new(32, phi, &init(), -1.0, carry, &mut rng());
                h.switches.lesioned = lesioned;
                let x = random_input(256, 32, 1.0, 11);
                let one = run(&mut h, &x, 1);
                assert!(run(&mut h, &x, 3) == one, "{what}: three threads differ from one");
                let report = with_threads(3, || check_block(&mut h, &x, 20, 3));
                let (name, err) = report.worst();
                assert!(err < TOL, "{what}: {name} relative error {err:.2e}");
            }
        }
    }
}

#[test]
fn residual_orderings() {
    for phi in ALL {
        for layers in [1, 2] {
            for preact in [false, true] {
                check(
                    &mut Residual::new(5, layers, phi, preact, &init(), &mut rng()),
                    &format!("residual {layers} layers preact={preact} {}", phi.name()),
                );
            }
        }
    }
}

#[test]
fn weighted_skip_scalar_and_vector() {
    for per_unit in [false, true] {
        for phi in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
            check(
                &mut WeightedSkip::new(5, per_unit, phi, &init(), &mut rng()),
                &format!("weighted skip per_unit={per_unit}"),
            );
        }
    }
}

#[test]
fn dense_stacks() {
    for phi in [Activation::Tanh, Activation::Relu, Activation::Gelu] {
        check(&mut DenseStack::new(4, 4, 4, DenseMode::Concat { growth: 3 }, phi, &init(), &mut rng()), "dense concat");
        check(&mut DenseStack::new(4, 5, 4, DenseMode::ToOutput, phi, &init(), &mut rng()), "dense to output");
    }
}

fn model_config(arch: Arch) -> ModelConfig {
    toml::from_str(&format!(
        "arch = \"{}\"\ndepth = 4\nwidth = 5",
        serde_json::to_value(arch).unwrap().as_str().unwrap()
    ))
    .unwrap()
}

/// The whole model's loss (cross-entropy or MSE, auxiliary heads included) against central
/// differences, for every parameter element.
fn check_model(cfg: &ModelConfig, loss: LossKind) {
    let mut m = Model::<f64>::build(cfg, 6, 3, loss, 5).unwrap();
    let x = random_input(4, 6, 1.0, 2);
    let labels = [0u32, 2, 1, 2];
    let values = random_input(4, 3, 1.0, 9);
    let target = match loss {
        LossKind::CrossEntropy => Target::Classes(&labels),
        LossKind::Mse => Target::Values(&values),
    };
    m.zero_grad();
    m.forward_backward(&x, &target);
    let analytic: Vec<(String, Vec<f64>)> = m.params().into_iter().map(|(n, p)| (n, p.grad.data.clone())).collect();
    let h = 1e-6;
    for (pi, (name, grad)) in analytic.iter().enumerate() {
        let (mut a, mut num) = (Vec::new(), Vec::new());
        for i in (0..grad.len()).step_by(1 + grad.len() / 25) {
            let mut l = [0.0; 2];
            for (s, sign) in [1.0, -1.0].iter().enumerate() {
                m.params()[pi].1.value.data[i] += sign * h;
                l[s] = m.forward_backward(&x, &target).loss;
                m.params()[pi].1.value.data[i] -= sign * h;
            }
            a.push(grad[i]);
            num.push((l[0] - l[1]) / (2.0 * h));
        }
        let diff: f64 = a.iter().zip(&num).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        let scale = a.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        assert!(diff / scale < TOL, "{:?} {loss:?}: {name} relative error {:.2e}", cfg.arch, diff / scale);
    }
}

#[test]
fn whole_models_with_losses_and_aux_heads() {
    // Every feed-forward arch; the sequence archs are checked whole in tests/seq_model.rs.
    for arch in Arch::ALL.into_iter().filter(|a| !a.is_sequence()) {
        let mut cfg = model_config(arch);
        cfg.init = init();
        if arch.can().deletable {
            cfg.aux = vec![AuxConfig { layer: 1, weight: 0.3 }, AuxConfig { layer: 2, weight: 0.7 }];
        }
        if arch == Arch::Highway {
            cfg.carry = Carry::Independent;
        }
        check_model(&cfg, LossKind::CrossEntropy);
        check_model(&cfg, LossKind::Mse);
    }
}

#[test]
fn a_plain_net_of_depth_zero_is_the_stem_and_the_head() {
    let mut cfg = model_config(Arch::Plain);
    cfg.depth = 0;
    cfg.init = init();
    check_model(&cfg, LossKind::CrossEntropy);
    check_model(&cfg, LossKind::Mse);
    let mut m = Model::<f64>::build(&cfg, 6, 3, LossKind::CrossEntropy, 1).unwrap();
    let names: Vec<String> = m.params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["stem.linear.weight", "stem.linear.bias", "head.weight", "head.bias"]);
    assert_eq!(m.num_params(), 6 * 5 + 5 + 5 * 3 + 3);
    m.set_taps(true);
    m.forward_backward(&random_input(2, 6, 1.0, 3), &Target::Classes(&[1, 2]));
    let taps: Vec<&str> = m.taps().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(taps, ["act.stem", "act.head"]);
}

#[test]
fn taps_are_the_gradients_of_block_outputs() {
    let mut cfg = model_config(Arch::Highway);
    cfg.depth = 3;
    let mut m = Model::<f64>::build(&cfg, 6, 3, LossKind::CrossEntropy, 1).unwrap();
    m.set_taps(true);
    let x = random_input(2, 6, 1.0, 3);
    let labels = [1u32, 2];
    m.forward_backward(&x, &Target::Classes(&labels));
    let names: Vec<&str> = m.taps().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["act.stem", "act.layers.0", "act.layers.1", "act.layers.2", "act.head"]);
    let tap = m.taps()[1].1.clone();
    // The loss as a function of the output of layers.0: run the blocks after it by hand.
    let mut h0 = x.clone();
    for b in 0..2 {
        h0 = m.blocks[b].1.forward(&h0, &Ctx::EVAL);
    }
    let mut loss_from = |h: &Mat<f64>| {
        let mut h = h.clone();
        for b in 2..m.blocks.len() {
            h = m.blocks[b].1.forward(&h, &Ctx::EVAL);
        }
        softmax_cross_entropy(&h, &labels).loss
    };
    for i in 0..h0.len() {
        let (mut p, mut q) = (h0.clone(), h0.clone());
        p.data[i] += 1e-6;
        q.data[i] -= 1e-6;
        let fd = (loss_from(&p) - loss_from(&q)) / 2e-6;
        assert!((fd - tap.data[i]).abs() < 1e-8, "act.layers.0[{i}]: tap {} vs fd {fd}", tap.data[i]);
    }
    // With taps off, nothing is recorded.
    m.set_taps(false);
    m.forward_backward(&x, &Target::Classes(&labels));
    assert!(m.taps().is_empty());
}

/// Recording only the taps' norms gives the norms of the gradients `set_taps` records, bit for
/// bit and under the same names: with auxiliary heads adding into the flow, and for the layers
/// inside a dense stack.
#[test]
fn tap_norms_alone_are_those_of_the_taps() {
    for arch in [Arch::Highway, Arch::Dense] {
        let mut cfg = model_config(arch);
        if arch == Arch::Highway {
            cfg.aux = vec![AuxConfig { layer: 1, weight: 0.3 }];
        }
        let mut m = Model::<f64>::build(&cfg, 6, 3, LossKind::CrossEntropy, 1).unwrap();
        let x = random_input(4, 6, 1.0, 3);
        let labels = [1u32, 2, 0, 2];
        m.set_taps(true);
        m.forward_backward(&x, &Target::Classes(&labels));
        let full = m.tap_norms();
        assert_eq!(full.len(), m.taps().len());
        m.set_tap_norms(true);
        m.forward_backward(&x, &Target::Classes(&labels));
        assert!(m.taps().is_empty(), "{arch:?}: norms alone keep no gradients");
        let norms = m.tap_norms();
        let bits = |v: &[(String, f64)]| v.iter().map(|(n, x)| (n.clone(), x.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&norms), bits(&full), "{arch:?}");
        assert!(norms.iter().any(|(n, _)| n.starts_with("act.layers")), "{arch:?}: {norms:?}");
        m.set_tap_norms(false);
        m.forward_backward(&x, &Target::Classes(&labels));
        assert!(m.tap_norms().is_empty());
    }
}

/// Blocks reuse buffers from call to call (a block's kept input becomes its next output, dL/dy's
/// buffer becomes dL/dx): a batch of another size in between must leave no trace, and the same
/// batch again gives the same loss and gradients, bit for bit.
#[test]
fn buffers_reused_across_batches_carry_nothing_over() {
    let mut cfgs = Vec::new();
    for arch in [Arch::Plain, Arch::Residual, Arch::Highway, Arch::Dense, Arch::WeightedSkip] {
        cfgs.push(model_config(arch));
    }
    for (layers, preact) in [(1, false), (1, true), (2, true)] {
        let mut cfg = model_config(Arch::Residual);
        cfg.residual_layers = layers;
        cfg.preact = preact;
        cfgs.push(cfg);
    }
    let mut cfg = model_config(Arch::Highway);
    cfg.carry = Carry::Independent;
    cfgs.push(cfg);
    for cfg in cfgs {
        let mut m = Model::<f64>::build(&cfg, 6, 3, LossKind::CrossEntropy, 5).unwrap();
        let (x, other) = (random_input(4, 6, 1.0, 2), random_input(7, 6, 1.0, 3));
        let labels = [0u32, 2, 1, 2];
        let run = |m: &mut Model<f64>, x: &Mat<f64>, labels: &[u32]| {
            m.zero_grad();
            let loss = m.forward_backward(x, &Target::Classes(labels)).loss;
            let grads: Vec<Vec<u64>> =
                m.params().into_iter().map(|(_, p)| p.grad.data.iter().map(|v| v.to_bits()).collect()).collect();
            (loss.to_bits(), grads)
        };
        let first = run(&mut m, &x, &labels);
        run(&mut m, &other, &[1, 0, 2, 2, 1, 0, 1]);
        let again = run(&mut m, &x, &labels);
        assert!(first == again, "{:?} residual_layers={} preact={}", cfg.arch, cfg.residual_layers, cfg.preact);
    }
}
