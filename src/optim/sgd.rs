//! Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay, in
//! PyTorch's `torch.optim.SGD` formulation (no dampening):
//!
//! ```text
//! g   = grad + weight_decay * p
//! buf = g                        (first step)
//! buf = momentum * buf + g       (later steps)
//! d   = g + momentum * buf       (nesterov)   |   buf (momentum)   |   g (momentum = 0)
//! p  -= lr * d
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{assert_unique_names, check_param, check_tensor, decode_step, encode_step, insert_unique, UPDATE_PIECE};
use super::{Optimizer, StateTensor};
use crate::nn::ParamList;
use crate::tensor::kernels::simd;
use crate::tensor::par::{current_threads, elementwise_threads, par_for};
use crate::tensor::Real;

const STEP: &str = "sgd.step";
const MOMENTUM: &str = "momentum.";

/// SGD hyperparameters (the learning rate is passed to each step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgdConfig {
    /// Momentum factor; 0 is plain SGD.
    pub momentum: f64,
    /// Nesterov momentum (needs `momentum > 0`).
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { momentum: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

impl SgdConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.momentum.is_finite() && self.momentum >= 0.0) {
            return Err(format!("sgd: momentum must be a finite number >= 0, got {}", self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!("sgd: weight_decay must be a finite number >= 0, got {}", self.weight_decay));
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err("sgd: nesterov = true needs momentum > 0".to_string());
        }
        Ok(())
    }
}

struct Buffer<F> {
    shape: Vec<usize>,
    data: Vec<F>,
}

pub struct Sgd<F> {
    config: SgdConfig,
    steps: u64,
    /// Momentum buffers by parameter name (empty when momentum = 0).
    buffers: BTreeMap<String, Buffer<F>>,
}

impl<F: Real> Sgd<F> {
    pub fn new(config: SgdConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Sgd { config, steps: 0, buffers: BTreeMap::new() })
    }

    /// Plain SGD: no momentum, no weight decay.
    pub fn plain() -> Self {
        Self::new(SgdConfig::default()).expect("default SGD config is valid")
    }

    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// Steps taken (including those of a loaded state).
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

impl<F: Real> Optimizer<F> for Sgd<F> {
    fn step(&mut self, params: &mut ParamList<F>, lr: F) {
        assert_unique_names(params);
        let mu = F::c(self.config.momentum);
        let wd = F::c(self.config.weight_decay);
        let use_momentum = self.config.momentum != 0.0;
        let nesterov = self.config.nesterov;
        let decay = self.config.weight_decay != 0.0;
        // The update loops run compiled for the CPU's vector width (`simd`).
        let buffers = &mut self.buffers;
        // First steps (no buffer yet) here; the steady state below, shared among the threads.
        let mut steady = Vec::with_capacity(params.len());
        for (name, p) in params.iter_mut() {
            let p = &mut **p;
            let buf = if use_momentum { buffers.get(name.as_str()) } else { None };
            check_param("momentum", name, p, buf.map(|b| b.shape.as_slice()));
            if use_momentum && buf.is_none() {
                // First step for this name: buf = g (PyTorch clones the gradient).
                let mut data = Vec::with_capacity(p.value.len());
                simd(
                    #[inline(always)]
                    || {
                        for (x, &g) in p.value.data.iter_mut().zip(&p.grad.data) {
                            let d = if decay { g + wd * *x } else { g };
                            data.push(d);
                            let u = if nesterov { d + mu * d } else { d };
                            *x -= lr * u;
                        }
                    },
                );
                buffers.insert(name.clone(), Buffer { shape: p.shape.clone(), data });
            } else {
                steady.push((name.as_str(), p));
            }
        }
        let update = |x: &mut [F], g: &[F], buf: &mut [F]| {
            simd(
                #[inline(always)]
                || {
                    if buf.is_empty() {
                        for (x, &g) in x.iter_mut().zip(g) {
                            let d = if decay { g + wd * *x } else { g };
                            *x -= lr * d;
                        }
                    } else {
                        for ((x, &g), b) in x.iter_mut().zip(g).zip(buf.iter_mut()) {
                            let d = if decay { g + wd * *x } else { g };
                            *b = mu * *b + d;
                            let u = if nesterov { d + mu * *b } else { *b };
                            *x -= lr * u;
                        }
                    }
                },
            )
        };
        let values = steady.iter().map(|(_, p)| p.value.len()).sum();
        let threads = elementwise_threads(current_threads(), values);
        if threads == 1 {
            for (name, p) in steady {
                let buf = buffers.get_mut(name).map_or(&mut [][..], |b| &mut b.data[..]);
                update(&mut p.value.data, &p.grad.data, buf);
            }
        } else {
            // Every element's update is its own: pieces of all the tensors are shared among the
            // threads.
            let mut bufs: BTreeMap<&str, &mut Buffer<F>> = buffers.iter_mut().map(|(k, b)| (k.as_str(), b)).collect();
            let mut pieces = Vec::new();
            for (name, p) in steady {
                let xs = p.value.data.chunks_mut(UPDATE_PIECE).zip(p.grad.data.chunks(UPDATE_PIECE));
                match bufs.remove(name) {
                    Some(b) => pieces.extend(xs.zip(b.data.chunks_mut(UPDATE_PIECE)).map(|((x, g), b)| (x, g, b))),
                    None => pieces.extend(xs.map(|(x, g)| (x, g, <&mut [F]>::default()))),
                }
            }
            par_for(threads, pieces, |(x, g, buf)| update(x, g, buf));
        }
        self.steps += 1;
    }

    fn state(&self) -> Vec<StateTensor<F>> {
        let mut out = vec![encode_step::<F>(STEP, self.steps)];
        for (name, b) in &self.buffers {
            out.push((format!("{MOMENTUM}{name}"), b.shape.clone(), b.data.clone()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn load_state(&mut self, tensors: &[StateTensor<F>]) -> Result<(), String> {
        let mut steps = None;
        let mut bufs = BTreeMap::new();
        for t in tensors {
            let name = t.0.as_str();
            if name == STEP {
                if steps.is_some() {
                    return Err(format!("state tensor `{STEP}` is given twice"));
                }
                steps = Some(decode_step(t)?);
            } else if let Some(param) = name.strip_prefix(MOMENTUM) {
                check_tensor(t)?;
                if self.config.momentum == 0.0 {
                    return Err(format!("state tensor `{name}` is a momentum buffer but this SGD has momentum = 0"));
                }
                insert_unique(&mut bufs, param, t)?;
            } else if name.starts_with("sgd.") {
                return Err(format!(
                    "unexpected state tensor `{name}` for SGD (expected `{STEP}` and `{MOMENTUM}<param>`)"
                ));
            }
        }
        let steps = steps.ok_or_else(|| format!("SGD state is missing tensor `{STEP}`"))?;
        self.steps = steps;
        self.buffers = bufs.into_iter().map(|(k, t)| (k, Buffer { shape: t.1.clone(), data: t.2.clone() })).collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Param;

    fn scalar(v: f64) -> Param<f64> {
        Param::vector(vec![v])
    }

    /// Run `steps` updates of a 1-element parameter with gradient `grad(x)` and return the path.
    fn run(cfg: SgdConfig, x0: f64, lr: f64, steps: usize, grad: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut opt = Sgd::<f64>::new(cfg).unwrap();
        let mut p = scalar(x0);
        let mut path = vec![];
        for _ in 0..steps {
            p.grad.data[0] = grad(p.value.data[0]);
            let mut list: ParamList<f64> = vec![("w".to_string(), &mut p)];
            opt.step(&mut list, lr);
            path.push(p.value.data[0]);
        }
        path
    }

    #[test]
    fn plain_sgd_hand_computed() {
        // g = 2x (f = x^2), x0 = 1, lr = 0.1: x <- 0.8 x.
        let path = run(SgdConfig::default(), 1.0, 0.1, 3, |x| 2.0 * x);
        for (got, want) in path.iter().zip([0.8, 0.64, 0.512]) {
            assert!((got - want).abs() < 1e-15, "{path:?}");
        }
        // Weight decay 0.5 with zero gradient: x <- x - 0.1 * 0.5 x = 0.95 x.
        let cfg = SgdConfig { weight_decay: 0.5, ..Default::default() };
        let path = run(cfg, 2.0, 0.1, 2, |_| 0.0);
        assert!((path[0] - 1.9).abs() < 1e-15 && (path[1] - 1.805).abs() < 1e-15, "{path:?}");
    }

    #[test]
    fn momentum_and_nesterov_match_scalar_recurrence() {
        let grad = |x: f64| 2.0 * x + 0.3 * x.sin() - 0.7;
        for nesterov in [false, true] {
            for wd in [0.0, 0.01] {
                let (mu, lr, x0) = (0.9, 0.05, 1.5);
                let cfg = SgdConfig { momentum: mu, nesterov, weight_decay: wd };
                let path = run(cfg, x0, lr, 12, grad);
                // The recurrence written out.
                let mut x = x0;
                let mut buf: Option<f64> = None;
                for (i, &got) in path.iter().enumerate() {
                    let g = grad(x) + wd * x;
                    let b = match buf {
                        None => g,
                        Some(b) => mu * b + g,
                    };
                    buf = Some(b);
                    let d = if nesterov { g + mu * b } else { b };
                    x -= lr * d;
                    assert_eq!(got, x, "nesterov={nesterov} wd={wd} step {i}");
                }
            }
        }
    }

    #[test]
    fn momentum_first_steps_by_hand() {
        // Constant gradient 1, mu = 0.5, lr = 1: buf = 1, 1.5, 1.75 -> x = -1, -2.5, -4.25.
        let cfg = SgdConfig { momentum: 0.5, ..Default::default() };
        assert_eq!(run(cfg, 0.0, 1.0, 3, |_| 1.0), vec![-1.0, -2.5, -4.25]);
        // Nesterov: d = 1 + 0.5 buf = 1.5, 1.75, 1.875 -> x = -1.5, -3.25, -5.125.
        let cfg = SgdConfig { momentum: 0.5, nesterov: true, ..Default::default() };
        assert_eq!(run(cfg, 0.0, 1.0, 3, |_| 1.0), vec![-1.5, -3.25, -5.125]);
    }

    #[test]
    fn config_validation_and_toml() {
        assert!(SgdConfig { nesterov: true, ..Default::default() }.validate().unwrap_err().contains("momentum > 0"));
        assert!(SgdConfig { momentum: -0.1, ..Default::default() }.validate().is_err());
        let c: SgdConfig = toml::from_str("momentum = 0.9\nnesterov = true").unwrap();
        assert_eq!(c, SgdConfig { momentum: 0.9, nesterov: true, weight_decay: 0.0 });
        let e = toml::from_str::<SgdConfig>("momentun = 0.9").unwrap_err().to_string();
        assert!(e.contains("momentun") && e.contains("momentum"), "{e}");
    }

    #[test]
    fn load_state_errors() {
        let mut opt = Sgd::<f32>::new(SgdConfig { momentum: 0.9, ..Default::default() }).unwrap();
        let e = opt.load_state(&[]).unwrap_err();
        assert!(e.contains("sgd.step"), "{e}");
        let bad = vec![
            ("sgd.step".to_string(), vec![1], vec![3.0f32]),
            ("momentum.w".to_string(), vec![2, 2], vec![0.0f32; 3]),
        ];
        let e = opt.load_state(&bad).unwrap_err();
        assert!(e.contains("momentum.w") && e.contains("[2, 2]"), "{e}");
        let frac = vec![("sgd.step".to_string(), vec![1], vec![2.5f32])];
        assert!(opt.load_state(&frac).unwrap_err().contains("whole"));
        let unknown = vec![("sgd.step".to_string(), vec![1], vec![1.0f32]), ("sgd.lr".to_string(), vec![1], vec![1.0])];
        assert!(opt.load_state(&unknown).unwrap_err().contains("sgd.lr"));
        let mut plain = Sgd::<f32>::plain();
        let with_buf =
            vec![("sgd.step".to_string(), vec![1], vec![1.0f32]), ("momentum.w".to_string(), vec![1], vec![1.0])];
        assert!(plain.load_state(&with_buf).unwrap_err().contains("momentum = 0"));
        // Foreign tensors (model weights, another optimizer's) are ignored.
        let mixed = vec![
            ("layers.0.weight".to_string(), vec![1], vec![1.0f32]),
            ("sgd.step".to_string(), vec![1], vec![4.0f32]),
        ];
        opt.load_state(&mixed).unwrap();
        assert_eq!(opt.steps(), 4);
    }

    #[test]
    #[should_panic(expected = "has shape [2] but the parameter has shape [3]")]
    fn mismatched_state_panics_on_step() {
        let mut opt = Sgd::<f64>::new(SgdConfig { momentum: 0.9, ..Default::default() }).unwrap();
        let st = vec![("sgd.step".to_string(), vec![1], vec![1.0]), ("momentum.w".to_string(), vec![2], vec![0.0; 2])];
        opt.load_state(&st).unwrap();
        let mut p = Param::vector(vec![0.0; 3]);
        let mut list: ParamList<f64> = vec![("w".to_string(), &mut p)];
        opt.step(&mut list, 0.1);
    }

    #[test]
    #[should_panic(expected = "appears twice")]
    fn duplicate_names_panic() {
        let mut opt = Sgd::<f64>::plain();
        let (mut a, mut b) = (scalar(1.0), scalar(2.0));
        let mut list: ParamList<f64> = vec![("w".to_string(), &mut a), ("w".to_string(), &mut b)];
        opt.step(&mut list, 0.1);
    }
}
