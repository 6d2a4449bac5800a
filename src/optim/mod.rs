//! Optimizers (SGD with momentum / Nesterov, Adam / AdamW), learning-rate schedules with linear
//! warm-up, and gradient clipping.
//!
//! An optimizer applies one update per [`Optimizer::step`] from the gradients accumulated in each
//! [`Param`]; it never zeroes them. Its state (momentum buffers, Adam moments, step count) is kept
//! per parameter *name*, created on the first step that sees the name, so a `ParamList` built in
//! a different order still meets its own state. [`Optimizer::state`] exports the complete state as
//! named tensors for a checkpoint and [`Optimizer::load_state`] restores it exactly: a resumed run
//! continues bit-identically to an uninterrupted one.
//!
//! The learning rate is not part of an optimizer: it is passed to every step, normally as
//! [`LrSchedule::lr_at`] of the step count, so a schedule and an optimizer combine freely.
//! [`OptimConfig`] ties the pieces together as one TOML table:
//!
//! ```toml
//! [optim]
//! lr = 1e-3
//! optimizer = { kind = "adam", weight_decay = 0.01, decoupled = true }
//! schedule = { kind = "cosine", total = 1000, min_lr = 0.0 }
//! warmup = 100
//! clip_grad_norm = 1.0
//! ```

mod adam;
mod clip;
mod schedule;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use clip::{clip_grad_norm, clip_grad_value, grad_norm};
pub use schedule::{LrSchedule, Schedule};
pub use sgd::{Sgd, SgdConfig};

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::nn::{Param, ParamList};
use crate::tensor::Real;

/// One named tensor of optimizer state: `(name, shape, values)`, values row-major.
pub type StateTensor<F> = (String, Vec<usize>, Vec<F>);

pub trait Optimizer<F: Real> {
    /// Apply one update to every parameter from its accumulated `grad`, with learning rate `lr`.
    /// Gradients are left as they are (the caller zeroes them).
    ///
    /// Panics if two parameters share a name, or if the state kept for a name does not match the
    /// parameter's shape (state loaded from another model).
    fn step(&mut self, params: &mut ParamList<F>, lr: F);

    /// The complete state as named tensors, sorted by name (for a checkpoint).
    fn state(&self) -> Vec<StateTensor<F>>;

    /// Replace the state by one exported by [`Optimizer::state`] of the same kind of optimizer.
    ///
    /// Tensors outside this optimizer's namespace (`adam.*` for Adam, `sgd.*` and `momentum.*`
    /// for SGD) are ignored, so a checkpoint's model and optimizer tensors may be passed together.
    /// Inside it, every tensor must be understood and consistent; otherwise the error names the
    /// missing, unexpected or misshaped tensor and the current state is left untouched.
    fn load_state(&mut self, tensors: &[StateTensor<F>]) -> Result<(), String>;
}

/// Which optimizer, with its hyperparameters: `{ kind = "sgd", momentum = 0.9 }` or
/// `{ kind = "adam", weight_decay = 0.01, decoupled = true }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "OptimizerTable")]
pub enum OptimizerConfig {
    Sgd(SgdConfig),
    Adam(AdamConfig),
}

/// An optimizer table as parsed, before its `kind` is looked at: serde's own message for a
/// missing tag would not say which kinds exist.
#[derive(Deserialize)]
#[serde(transparent)]
struct OptimizerTable(serde_json::Map<String, serde_json::Value>);

/// The same shape as [`OptimizerConfig`], parsed from an [`OptimizerTable`].
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum OptimizerSpec {
    Sgd(SgdConfig),
    Adam(AdamConfig),
}

impl TryFrom<OptimizerTable> for OptimizerConfig {
    type Error = String;
    fn try_from(OptimizerTable(table): OptimizerTable) -> Result<Self, String> {
        if !table.contains_key("kind") {
            return Err("optimizer: missing `kind`; expected `sgd` (momentum, nesterov, weight_decay) or \
                        `adam` (beta1, beta2, eps, weight_decay, decoupled)"
                .to_string());
        }
        let spec = serde_json::from_value(serde_json::Value::Object(table)).map_err(|e| format!("optimizer: {e}"))?;
        Ok(match spec {
            OptimizerSpec::Sgd(c) => OptimizerConfig::Sgd(c),
            OptimizerSpec::Adam(c) => OptimizerConfig::Adam(c),
        })
    }
}

impl OptimizerConfig {
    pub fn validate(&self) -> Result<(), String> {
        match self {
            OptimizerConfig::Sgd(c) => c.validate(),
            OptimizerConfig::Adam(c) => c.validate(),
        }
    }

    pub fn build<F: Real>(&self) -> Result<Box<dyn Optimizer<F>>, String> {
        Ok(match self {
            OptimizerConfig::Sgd(c) => Box::new(Sgd::new(c.clone())?),
            OptimizerConfig::Adam(c) => Box::new(Adam::new(c.clone())?),
        })
    }
}

/// A complete optimisation setup: base learning rate, optimizer, schedule with warm-up, and an
/// optional global gradient-norm clip (see the module docs for the TOML form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// The base learning rate, which the schedule scales.
    pub lr: f64,
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: Schedule,
    /// Linear warm-up steps (0 = none); see [`LrSchedule`].
    #[serde(default)]
    pub warmup: usize,
    /// Clip the global gradient L2 norm to this before each step (see [`clip_grad_norm`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
}

impl OptimConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(format!("optim.lr must be a finite number >= 0, got {}", self.lr));
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c.is_finite() && c > 0.0) {
                return Err(format!("optim.clip_grad_norm must be a finite number > 0, got {c}"));
            }
        }
        self.optimizer.validate().map_err(|e| format!("optim.optimizer: {e}"))?;
        self.schedule.validate().map_err(|e| format!("optim.schedule: {e}"))
    }

    pub fn lr_schedule(&self) -> LrSchedule {
        LrSchedule { schedule: self.schedule.clone(), warmup: self.warmup }
    }

    /// The learning rate of optimizer step `step` (counted from 0).
    pub fn lr_at(&self, step: usize) -> f64 {
        self.lr_schedule().lr_at(self.lr, step)
    }

    /// Validate the whole config and build its optimizer.
    pub fn build<F: Real>(&self) -> Result<Box<dyn Optimizer<F>>, String> {
        self.validate()?;
        self.optimizer.build()
    }
}

// ---- helpers shared by the optimizers ----

/// Panic unless every parameter name occurs once (state is keyed by name).
fn assert_unique_names<F>(params: &[(String, &mut Param<F>)]) {
    let mut seen = HashSet::with_capacity(params.len());
    for (name, _) in params {
        assert!(
            seen.insert(name.as_str()),
            "parameter `{name}` appears twice in the ParamList; optimizer state is keyed by name"
        );
    }
}

/// Panic unless a parameter's value, grad and shape agree, and (if state exists) its state was
/// made for that shape.
/// Values per piece of an optimizer's update when it is shared among threads (`par_for` hands
/// each thread a run of consecutive pieces, so tensors of every size spread evenly).
const UPDATE_PIECE: usize = 1 << 12;

fn check_param<F: Real>(what: &str, name: &str, p: &Param<F>, state_shape: Option<&[usize]>) {
    assert!(
        p.grad.len() == p.value.len() && p.shape.iter().product::<usize>() == p.value.len(),
        "parameter `{name}`: value has {} values, grad {}, shape {:?}",
        p.value.len(),
        p.grad.len(),
        p.shape
    );
    if let Some(s) = state_shape {
        assert!(
            s == p.shape.as_slice(),
            "{what} state for `{name}` has shape {s:?} but the parameter has shape {:?}",
            p.shape
        );
    }
}

/// A state tensor's shape must describe its values.
fn check_tensor<F>((name, shape, data): &StateTensor<F>) -> Result<(), String> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(format!("state tensor `{name}`: shape {shape:?} holds {n} values but {} are given", data.len()));
    }
    Ok(())
}

/// A step counter as a 1-element tensor. Exact for counts up to 2^24 in f32, 2^53 in f64.
fn encode_step<F: Real>(name: &str, step: u64) -> StateTensor<F> {
    (name.to_string(), vec![1], vec![F::c(step as f64)])
}

fn decode_step<F: Real>(t: &StateTensor<F>) -> Result<u64, String> {
    check_tensor(t)?;
    let (name, shape, data) = t;
    if data.len() != 1 || shape.len() > 1 {
        return Err(format!("state tensor `{name}` must have shape [1], got {shape:?}"));
    }
    let v = data[0].f64();
    if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9.007_199_254_740_992e15) {
        return Err(format!("state tensor `{name}` must hold a whole step count >= 0, got {v}"));
    }
    Ok(v as u64)
}

/// Insert into a by-name map of loaded tensors, rejecting duplicates.
fn insert_unique<'t, F>(
    map: &mut std::collections::BTreeMap<String, &'t StateTensor<F>>,
    key: &str,
    t: &'t StateTensor<F>,
) -> Result<(), String> {
    if map.insert(key.to_string(), t).is_some() {
        return Err(format!("state tensor `{}` is given twice", t.0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Mat;

    /// Two parameters of different shapes, with a gradient that depends nonlinearly on them.
    fn model<F: Real>() -> (Param<F>, Param<F>) {
        let w = Mat::from_fn(2, 3, |r, c| F::c(0.3 * r as f64 - 0.2 * c as f64 + 0.1));
        (Param::matrix(w), Param::vector(vec![F::c(0.5), F::c(-1.25)]))
    }

    fn fill_grads<F: Real>(p: &mut Param<F>, salt: f64) {
        for (g, &x) in p.grad.data.iter_mut().zip(&p.value.data) {
            let x = x.f64();
            *g = F::c((3.0 * x + salt).sin() + 0.5 * x);
        }
    }

    /// `steps` training steps from `start`, taking the params in `reversed` order if asked.
    fn train<F: Real>(
        opt: &mut dyn Optimizer<F>,
        w: &mut Param<F>,
        b: &mut Param<F>,
        cfg: &OptimConfig,
        start: usize,
        steps: usize,
        reversed: bool,
    ) {
        for t in start..start + steps {
            fill_grads(w, 0.1 * t as f64);
            fill_grads(b, -0.2 * t as f64);
            let mut list: ParamList<F> =
                vec![("layers.0.weight".to_string(), &mut *w), ("layers.0.bias".to_string(), &mut *b)];
            if reversed {
                list.reverse();
            }
            if let Some(c) = cfg.clip_grad_norm {
                clip_grad_norm(&mut list, c);
            }
            opt.step(&mut list, F::c(cfg.lr_at(t)));
        }
    }

    fn configs() -> Vec<OptimConfig> {
        let base = |optimizer| OptimConfig {
            lr: 0.05,
            optimizer,
            schedule: Schedule::Cosine { total: 30, min_lr: 0.001 },
            warmup: 4,
            clip_grad_norm: Some(1.0),
        };
        vec![
            base(OptimizerConfig::Sgd(SgdConfig::default())),
            base(OptimizerConfig::Sgd(SgdConfig { momentum: 0.9, nesterov: false, weight_decay: 0.01 })),
            base(OptimizerConfig::Sgd(SgdConfig { momentum: 0.9, nesterov: true, weight_decay: 0.0 })),
            base(OptimizerConfig::Adam(AdamConfig { weight_decay: 0.01, ..Default::default() })),
            base(OptimizerConfig::Adam(AdamConfig::adamw(0.1))),
        ]
    }

    fn bits<F: Real>(p: &Param<F>) -> Vec<u64> {
        p.value.data.iter().map(|v| v.f64().to_bits()).collect()
    }

    fn resume_is_bit_identical<F: Real>() {
        let (n, k) = (25, 9);
        for cfg in configs() {
            let (mut w1, mut b1) = model::<F>();
            let mut straight = cfg.build::<F>().unwrap();
            train(&mut *straight, &mut w1, &mut b1, &cfg, 0, n, false);

            let (mut w2, mut b2) = model::<F>();
            let mut first = cfg.build::<F>().unwrap();
            train(&mut *first, &mut w2, &mut b2, &cfg, 0, k, false);
            let saved = first.state();
            drop(first);
            // The checkpoint might interleave model tensors; they are ignored.
            let mut file = saved.clone();
            file.push(("layers.0.bias".to_string(), vec![2], b2.value.data.clone()));
            let mut resumed = cfg.build::<F>().unwrap();
            resumed.load_state(&file).unwrap();
            assert_eq!(resumed.state(), saved, "{cfg:?}: state does not round-trip");
            // The resumed run presents its parameters in the other order.
            train(&mut *resumed, &mut w2, &mut b2, &cfg, k, n - k, true);

            assert_eq!(bits(&w1), bits(&w2), "{cfg:?}: weights differ after resume");
            assert_eq!(bits(&b1), bits(&b2), "{cfg:?}: biases differ after resume");
            assert_eq!(straight.state(), resumed.state(), "{cfg:?}: states differ after resume");
        }
    }

    #[test]
    fn resume_is_bit_identical_f32() {
        resume_is_bit_identical::<f32>();
    }

    #[test]
    fn resume_is_bit_identical_f64() {
        resume_is_bit_identical::<f64>();
    }

    #[test]
    fn state_names() {
        let cfg = &configs()[1];
        let (mut w, mut b) = model::<f32>();
        let mut opt = cfg.build::<f32>().unwrap();
        assert_eq!(opt.state().iter().map(|t| t.0.as_str()).collect::<Vec<_>>(), vec!["sgd.step"]);
        train(&mut *opt, &mut w, &mut b, cfg, 0, 2, false);
        let names: Vec<_> = opt.state().into_iter().map(|t| (t.0, t.1)).collect();
        assert_eq!(
            names,
            vec![
                ("momentum.layers.0.bias".to_string(), vec![2]),
                ("momentum.layers.0.weight".to_string(), vec![2, 3]),
                ("sgd.step".to_string(), vec![1]),
            ]
        );
        let cfg = &configs()[3];
        let mut opt = cfg.build::<f32>().unwrap();
        train(&mut *opt, &mut w, &mut b, cfg, 0, 3, false);
        let st = opt.state();
        let names: Vec<_> = st.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "adam.m.layers.0.bias",
                "adam.m.layers.0.weight",
                "adam.step",
                "adam.v.layers.0.bias",
                "adam.v.layers.0.weight"
            ]
        );
        assert_eq!(st[2].2, vec![3.0]);
    }

    /// f(x) = sum_i a_i (x_i - c_i)^2 / 2, an ill-conditioned bowl.
    fn bowl(opt: &mut dyn Optimizer<f64>, lr: f64, steps: usize) -> f64 {
        let a = [1.0, 4.0, 10.0, 0.5];
        let c = [1.0, -2.0, 0.5, 3.0];
        let mut p = Param::vector(vec![0.0; 4]);
        let loss = |p: &Param<f64>| (0..4).map(|i| 0.5 * a[i] * (p.value.data[i] - c[i]).powi(2)).sum::<f64>();
        let l0 = loss(&p);
        for _ in 0..steps {
            for i in 0..4 {
                p.grad.data[i] = a[i] * (p.value.data[i] - c[i]);
            }
            let mut list: ParamList<f64> = vec![("x".to_string(), &mut p)];
            opt.step(&mut list, lr);
        }
        loss(&p) / l0
    }

    #[test]
    fn quadratic_bowl_is_minimised() {
        let cases: Vec<(OptimizerConfig, f64)> = vec![
            (OptimizerConfig::Sgd(SgdConfig::default()), 0.1),
            (OptimizerConfig::Sgd(SgdConfig { momentum: 0.9, ..Default::default() }), 0.02),
            (OptimizerConfig::Sgd(SgdConfig { momentum: 0.9, nesterov: true, ..Default::default() }), 0.02),
            (OptimizerConfig::Adam(AdamConfig::default()), 0.05),
        ];
        for (c, lr) in cases {
            let mut opt = c.build::<f64>().unwrap();
            let ratio = bowl(&mut *opt, lr, 500);
            assert!(ratio < 1e-8, "{c:?}: loss ratio {ratio}");
        }
        // AdamW's decay pulls towards 0, so the minimum moves; it still gets well down.
        let mut opt = OptimizerConfig::Adam(AdamConfig::adamw(1e-3)).build::<f64>().unwrap();
        let ratio = bowl(&mut *opt, 0.05, 500);
        assert!(ratio < 1e-3, "adamw: loss ratio {ratio}");
    }

    #[test]
    fn optim_config_toml() {
        let src = r#"
            lr = 1e-3
            optimizer = { kind = "adam", weight_decay = 0.01, decoupled = true }
            schedule = { kind = "cosine", total = 1000, min_lr = 0.0 }
            warmup = 100
            clip_grad_norm = 1.0
        "#;
        let c: OptimConfig = toml::from_str(src).unwrap();
        assert_eq!(c.optimizer, OptimizerConfig::Adam(AdamConfig::adamw(0.01)));
        assert_eq!(c.schedule, Schedule::Cosine { total: 1000, min_lr: 0.0 });
        assert_eq!((c.warmup, c.clip_grad_norm), (100, Some(1.0)));
        assert!((c.lr_at(0) - 1e-5).abs() < 1e-18);
        assert_eq!(c.lr_at(1000), 0.0);
        c.build::<f32>().unwrap();
        assert_eq!(toml::from_str::<OptimConfig>(&toml::to_string(&c).unwrap()).unwrap(), c);

        let c: OptimConfig = toml::from_str("lr = 0.1\noptimizer = { kind = \"sgd\", momentum = 0.9 }").unwrap();
        assert_eq!(c.schedule, Schedule::Constant);
        assert_eq!(c.clip_grad_norm, None);
        assert_eq!(toml::from_str::<OptimConfig>(&toml::to_string(&c).unwrap()).unwrap(), c);

        let err = |s: &str| toml::from_str::<OptimConfig>(s).unwrap_err().to_string();
        let e = err("lr = 0.1\noptimizer = { kind = \"adamw\" }");
        assert!(e.contains("adamw") && e.contains("sgd") && e.contains("adam"), "{e}");
        let e = err("lr = 0.1\noptimizer = { kind = \"sgd\", beta1 = 0.9 }");
        assert!(e.contains("beta1") && e.contains("momentum"), "{e}");
        let e = err("lr = 0.1\noptimizer = { kind = \"sgd\" }\nwarm_up = 3");
        assert!(e.contains("warm_up") && e.contains("warmup"), "{e}");
        let e = err("lr = 0.1\noptimizer = { momentum = 0.9 }");
        assert!(e.contains("kind") && e.contains("sgd") && e.contains("adam"), "{e}");
        let e = err("optimizer = { kind = \"sgd\" }");
        assert!(e.contains("lr"), "{e}");

        let bad: OptimConfig = toml::from_str("lr = 0.1\noptimizer = { kind = \"sgd\", nesterov = true }").unwrap();
        assert!(bad.build::<f32>().err().unwrap().contains("nesterov"));
        let bad: OptimConfig = toml::from_str("lr = -1\noptimizer = { kind = \"adam\" }").unwrap();
        assert!(bad.validate().unwrap_err().contains("lr"));
    }
}
