//! Adam and AdamW, in PyTorch's formulation (`torch.optim.Adam` / `AdamW`, non-amsgrad):
//!
//! ```text
//! t  += 1
//! g   = grad + weight_decay * p            (Adam: L2 in the gradient)
//! p  *= 1 - lr * weight_decay              (AdamW: decoupled decay, instead of the line above)
//! m   = beta1 * m + (1 - beta1) * g
//! v   = beta2 * v + (1 - beta2) * g * g
//! p  -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```
//!
//! The bias corrections are computed in f64, the elementwise update in `F`. The step count `t` is
//! one for the whole optimizer (every parameter is stepped together).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{assert_unique_names, check_param, check_tensor, decode_step, encode_step, insert_unique, UPDATE_PIECE};
use super::{Optimizer, StateTensor};
use crate::nn::ParamList;
use crate::tensor::kernels::simd;
use crate::tensor::par::{current_threads, elementwise_threads, par_for};
use crate::tensor::Real;

const STEP: &str = "adam.step";
const M: &str = "adam.m.";
const V: &str = "adam.v.";

/// Adam hyperparameters (the learning rate is passed to each step). Defaults are PyTorch's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// `false`: weight decay as an L2 term in the gradient (Adam); `true`: decoupled, the
    /// parameter shrinks by `lr * weight_decay` each step (AdamW).
    pub decoupled: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false }
    }
}

impl AdamConfig {
    /// AdamW with the given decoupled weight decay.
    pub fn adamw(weight_decay: f64) -> Self {
        AdamConfig { weight_decay, decoupled: true, ..Default::default() }
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(format!("adam: {name} must be in [0, 1), got {b}"));
            }
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(format!("adam: eps must be a finite number >= 0, got {}", self.eps));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!("adam: weight_decay must be a finite number >= 0, got {}", self.weight_decay));
        }
        Ok(())
    }
}

/// The constants of one Adam step.
struct Consts<F> {
    step_size: F,
    bc2_sqrt: F,
    b1: F,
    b2: F,
    eps: F,
    one_b1: F,
    one_b2: F,
    decay: bool,
    decoupled: bool,
    wd: F,
    shrink: F,
}

struct Moments<F> {
    shape: Vec<usize>,
    m: Vec<F>,
    v: Vec<F>,
}

pub struct Adam<F> {
    config: AdamConfig,
    steps: u64,
    moments: BTreeMap<String, Moments<F>>,
}

impl<F: Real> Adam<F> {
    pub fn new(config: AdamConfig) -> Result<Self, String> {
        config.validate()?;
        Ok(Adam { config, steps: 0, moments: BTreeMap::new() })
    }

    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Steps taken (including those of a loaded state).
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

impl<F: Real> Optimizer<F> for Adam<F> {
    fn step(&mut self, params: &mut ParamList<F>, lr: F) {
        assert_unique_names(params);
        let c = &self.config;
        let t = self.steps + 1;
        let bc1 = 1.0 - c.beta1.powf(t as f64);
        let bc2_sqrt = (1.0 - c.beta2.powf(t as f64)).sqrt();
        let step_size = F::c(lr.f64() / bc1);
        let bc2_sqrt = F::c(bc2_sqrt);
        let (b1, b2, eps) = (F::c(c.beta1), F::c(c.beta2), F::c(c.eps));
        let (one_b1, one_b2) = (F::c(1.0 - c.beta1), F::c(1.0 - c.beta2));
        let decay = c.weight_decay != 0.0;
        let wd = F::c(c.weight_decay);
        let shrink = F::c(1.0 - lr.f64() * c.weight_decay);
        let decoupled = c.decoupled;
        for (name, p) in params.iter() {
            let st = self.moments.get(name.as_str()).map(|s| s.shape.as_slice());
            check_param("adam", name, p, st);
            let n = p.value.len();
            self.moments.entry(name.clone()).or_insert_with(|| Moments {
                shape: p.shape.clone(),
                m: vec![F::zero(); n],
                v: vec![F::zero(); n],
            });
        }
        // One tensor's (or piece's) update. Its slices are separate parameters of an
        // `#[inline(always)]` function, so LLVM knows they do not overlap and vectorises the loop
        // (written over the zipped iterators inside the closure, it stayed scalar: a quarter of
        // a 100-layer width-71 net's training step). IEEE sqrt and division either way, so no
        // result changes.
        #[inline(always)]
        fn row<F: Real>(x: &mut [F], g: &[F], m: &mut [F], v: &mut [F], k: &Consts<F>) {
            let n = x.len();
            let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
            for j in 0..n {
                let gj = if k.decay && !k.decoupled { g[j] + k.wd * x[j] } else { g[j] };
                if k.decay && k.decoupled {
                    x[j] *= k.shrink;
                }
                m[j] = k.b1 * m[j] + k.one_b1 * gj;
                v[j] = k.b2 * v[j] + k.one_b2 * gj * gj;
                let denom = v[j].sqrt() / k.bc2_sqrt + k.eps;
                x[j] -= k.step_size * (m[j] / denom);
            }
        }
        let k = Consts { step_size, bc2_sqrt, b1, b2, eps, one_b1, one_b2, decay, decoupled, wd, shrink };
        let update = |x: &mut [F], g: &[F], m: &mut [F], v: &mut [F]| {
            simd(
                #[inline(always)]
                || row(x, g, m, v, &k),
            )
        };
        let values = params.iter().map(|(_, p)| p.value.len()).sum();
        let threads = elementwise_threads(current_threads(), values);
        if threads == 1 {
            for (name, p) in params.iter_mut() {
                let mo = self.moments.get_mut(name.as_str()).expect("moments made above");
                update(&mut p.value.data, &p.grad.data, &mut mo.m, &mut mo.v);
            }
        } else {
            // Every element's update is its own: pieces of all the tensors are shared among the
            // threads.
            let mut moments: BTreeMap<&str, &mut Moments<F>> =
                self.moments.iter_mut().map(|(k, m)| (k.as_str(), m)).collect();
            let mut pieces = Vec::new();
            for (name, p) in params.iter_mut() {
                let mo = moments.remove(name.as_str()).expect("moments made above");
                let xs = p.value.data.chunks_mut(UPDATE_PIECE).zip(p.grad.data.chunks(UPDATE_PIECE));
                let ms = mo.m.chunks_mut(UPDATE_PIECE).zip(mo.v.chunks_mut(UPDATE_PIECE));
                pieces.extend(xs.zip(ms));
            }
            par_for(threads, pieces, |((x, g), (m, v))| update(x, g, m, v));
        }
        self.steps = t;
    }

    fn state(&self) -> Vec<StateTensor<F>> {
        let mut out = vec![encode_step::<F>(STEP, self.steps)];
        for (name, mo) in &self.moments {
            out.push((format!("{M}{name}"), mo.shape.clone(), mo.m.clone()));
            out.push((format!("{V}{name}"), mo.shape.clone(), mo.v.clone()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn load_state(&mut self, tensors: &[StateTensor<F>]) -> Result<(), String> {
        let mut steps = None;
        let (mut ms, mut vs) = (BTreeMap::new(), BTreeMap::new());
        for t in tensors {
            let name = t.0.as_str();
            if name == STEP {
                if steps.is_some() {
                    return Err(format!("state tensor `{STEP}` is given twice"));
                }
                steps = Some(decode_step(t)?);
            } else if let Some(param) = name.strip_prefix(M) {
                check_tensor(t)?;
                insert_unique(&mut ms, param, t)?;
            } else if let Some(param) = name.strip_prefix(V) {
                check_tensor(t)?;
                insert_unique(&mut vs, param, t)?;
            } else if name.starts_with("adam.") {
                return Err(format!(
                    "unexpected state tensor `{name}` for Adam (expected `{STEP}`, `{M}<param>`, `{V}<param>`)"
                ));
            }
        }
        let steps = steps.ok_or_else(|| format!("Adam state is missing tensor `{STEP}`"))?;
        for (param, m) in &ms {
            let v = vs.get(param).ok_or_else(|| format!("Adam state has `{M}{param}` but is missing `{V}{param}`"))?;
            if v.1 != m.1 {
                return Err(format!(
                    "Adam state tensors `{M}{param}` {:?} and `{V}{param}` {:?} differ in shape",
                    m.1, v.1
                ));
            }
        }
        if let Some(param) = vs.keys().find(|k| !ms.contains_key(*k)) {
            return Err(format!("Adam state has `{V}{param}` but is missing `{M}{param}`"));
        }
        if steps == 0 && !ms.is_empty() {
            return Err(format!("Adam state has moments but `{STEP}` is 0"));
        }
        self.steps = steps;
        self.moments = ms
            .into_iter()
            .map(|(k, m)| {
                let v = vs[&k];
                (k, Moments { shape: m.1.clone(), m: m.2.clone(), v: v.2.clone() })
            })
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Param;

    fn step_once(opt: &mut Adam<f64>, p: &mut Param<f64>, lr: f64) {
        let mut list: ParamList<f64> = vec![("w".to_string(), p)];
        opt.step(&mut list, lr);
    }

    #[test]
    fn first_step_moves_by_lr_sign() {
        let mut opt = Adam::new(AdamConfig::default()).unwrap();
        let mut p = Param::vector(vec![1.0, -2.0, 0.5, 3.0]);
        p.grad.data = vec![0.3, -5.0, 1e-3, 0.0];
        step_once(&mut opt, &mut p, 0.01);
        // m_hat = g, v_hat = g^2: update = lr * g / (|g| + eps).
        let want = [1.0 - 0.01, -2.0 + 0.01, 0.5 - 0.01, 3.0];
        for (i, (&got, &w)) in p.value.data.iter().zip(&want).enumerate() {
            assert!((got - w).abs() < 1e-7, "element {i}: {got} vs {w}");
        }
    }

    #[test]
    fn hand_computed_steps() {
        // Three steps with gradients 1, -2, 0.5 on one weight, L2 decay 0.1, written out.
        let (b1, b2, eps, lr, wd) = (0.9f64, 0.999f64, 1e-8, 0.1, 0.1);
        for decoupled in [false, true] {
            let cfg = AdamConfig { weight_decay: wd, decoupled, ..Default::default() };
            let mut opt = Adam::new(cfg).unwrap();
            let mut p = Param::vector(vec![2.0]);
            let (mut x, mut m, mut v) = (2.0f64, 0.0f64, 0.0f64);
            for (t, g0) in [1.0, -2.0, 0.5].into_iter().enumerate() {
                let t = (t + 1) as i32;
                p.grad.data[0] = g0;
                step_once(&mut opt, &mut p, lr);
                let g = if decoupled {
                    x *= 1.0 - lr * wd;
                    g0
                } else {
                    g0 + wd * x
                };
                m = b1 * m + (1.0 - b1) * g;
                v = b2 * v + (1.0 - b2) * g * g;
                let m_hat = m / (1.0 - b1.powi(t));
                let v_hat = v / (1.0 - b2.powi(t));
                x -= lr * m_hat / (v_hat.sqrt() + eps);
                assert!((p.value.data[0] - x).abs() < 1e-12, "decoupled={decoupled} t={t}: {} vs {x}", p.value.data[0]);
            }
            assert_eq!(opt.steps(), 3);
        }
    }

    #[test]
    fn decoupled_decay_alone_shrinks_geometrically() {
        let mut opt = Adam::new(AdamConfig::adamw(0.5)).unwrap();
        let mut p = Param::vector(vec![4.0]);
        for _ in 0..3 {
            step_once(&mut opt, &mut p, 0.1);
        }
        // Zero gradient: m = v = 0, so only p *= 1 - 0.05 acts.
        assert!((p.value.data[0] - 4.0 * 0.95f64.powi(3)).abs() < 1e-14);
    }

    #[test]
    fn config_validation_and_toml() {
        assert!(AdamConfig { beta2: 1.0, ..Default::default() }.validate().unwrap_err().contains("beta2"));
        let c: AdamConfig = toml::from_str("weight_decay = 0.01\ndecoupled = true").unwrap();
        assert_eq!(c, AdamConfig::adamw(0.01));
        let e = toml::from_str::<AdamConfig>("beta3 = 0.1").unwrap_err().to_string();
        assert!(e.contains("beta3") && e.contains("beta1"), "{e}");
    }

    #[test]
    fn load_state_errors() {
        let mut opt = Adam::<f32>::new(AdamConfig::default()).unwrap();
        let step = ("adam.step".to_string(), vec![1], vec![2.0f32]);
        let m = ("adam.m.w".to_string(), vec![2], vec![0.1f32, 0.2]);
        let v = ("adam.v.w".to_string(), vec![2], vec![0.1f32, 0.2]);
        let e = opt.load_state(std::slice::from_ref(&m)).unwrap_err();
        assert!(e.contains("adam.step"), "{e}");
        let e = opt.load_state(&[step.clone(), m.clone()]).unwrap_err();
        assert!(e.contains("adam.v.w"), "{e}");
        let e = opt.load_state(&[step.clone(), v.clone()]).unwrap_err();
        assert!(e.contains("adam.m.w"), "{e}");
        let v3 = ("adam.v.w".to_string(), vec![1, 2], vec![0.1f32, 0.2]);
        let e = opt.load_state(&[step.clone(), m.clone(), v3]).unwrap_err();
        assert!(e.contains("differ in shape"), "{e}");
        let bad = ("adam.m.w".to_string(), vec![3], vec![0.1f32, 0.2]);
        let e = opt.load_state(&[step.clone(), bad, v.clone()]).unwrap_err();
        assert!(e.contains("adam.m.w") && e.contains("[3]"), "{e}");
        let e = opt.load_state(&[step.clone(), m.clone(), m.clone(), v.clone()]).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = opt.load_state(&[("sgd.step".to_string(), vec![1], vec![1.0f32])]).unwrap_err();
        assert!(e.contains("adam.step"), "{e}");
        // A failed load leaves the state untouched; a good one replaces it.
        assert_eq!(opt.steps(), 0);
        opt.load_state(&[step, m, v]).unwrap();
        assert_eq!(opt.steps(), 2);
        assert_eq!(opt.state().len(), 3);
    }
}
