//! What the sequence claims read off recurrent nets besides their probes: the recurrent weights
//! (as built from a config, or as a run's checkpoint holds them) and their largest singular
//! value, and the adding problem's mean-prediction baseline.

use super::Run;
use crate::config::{load_data, Config, Data};
use crate::probe::svd::singular_values;

/// A recurrent weight matrix, row-major.
pub struct Weight {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f64>,
}

impl Weight {
    /// The largest singular value (one-sided Jacobi SVD, `probe::svd`).
    pub fn sigma_max(&self) -> f64 {
        singular_values(&self.values, self.rows, self.cols).first().copied().unwrap_or(f64::NAN)
    }

    /// The largest |eigenvalue| of the first square block (W_hh of a vanilla RNN), by power
    /// iteration as the initialisation measures it.
    pub fn spectral_radius(&self) -> f64 {
        use rand::SeedableRng;
        let n = self.cols;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        crate::seq::rnn::spectral_radius(&self.values[..n * n], n, &mut rng)
    }
}

/// `name` (e.g. `rnn.weight_hh_l0`) of the model `cfg` builds: its weights at initialisation,
/// exactly as the run of that config starts (same builder, same seed).
pub fn initial_weight(cfg: &Config, name: &str) -> Result<Weight, String> {
    let Data::Seq(split) = load_data(cfg, None).map_err(|e| e.to_string())? else {
        return Err(format!("{name}: the config's data are not sequences"));
    };
    let mut model = crate::seq::build::build_seq_model::<f32>(&cfg.model, &split, cfg.train.bptt_truncate, cfg.seed)?;
    let params = model.params();
    let (_, p) =
        params.iter().find(|(n, _)| n == name).ok_or_else(|| format!("the model has no parameter `{name}`"))?;
    Ok(Weight { rows: p.value.rows, cols: p.value.cols, values: p.value.data.iter().map(|&v| v as f64).collect() })
}

/// `name` as the run's checkpoint (its final weights) holds it.
pub fn trained_weight(run: &Run, name: &str) -> Result<Weight, String> {
    let file = crate::train::folder::checkpoint_file(&run.dir, crate::train::folder::MODEL);
    let tensors = crate::train::load_tensors(&file)?;
    let (_, shape, values) =
        tensors.into_iter().find(|t| t.0 == name).ok_or_else(|| format!("{}: no tensor `{name}`", file.display()))?;
    let (rows, cols) = match shape[..] {
        [r, c] => (r, c),
        _ => return Err(format!("{}: `{name}` has shape {shape:?}, not a matrix", file.display())),
    };
    Ok(Weight { rows, cols, values: values.into_iter().map(|v| v as f64).collect() })
}

/// The test MSE of predicting the training targets' mean (the adding problem's 1/6) as the run's
/// last evaluation logged it; NaN for a run never evaluated (one that diverged first).
pub fn mean_baseline(run: &Run) -> Result<f64, String> {
    let evaluated = run.evaluated("test_mean_baseline_mse")?;
    Ok(evaluated.iter().rev().map(|e| e.1).find(|v| v.is_finite()).unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_weight_is_the_one_the_config_asks_for() {
        let cfg = super::super::config(
            "seed = 3\n[data]\nname = \"adding\"\nt = 10\ntrain = 8\ntest = 4\n[model]\narch = \"rnn_tanh\"\ndepth = 1\nwidth = 32\nhh_init = { kind = \"spectral\", radius = 0.5 }\n[optim]\nlr = 0.01\noptimizer = { kind = \"sgd\" }\n[train]\nepochs = 1\n",
            &[],
        );
        let w = initial_weight(&cfg, "rnn.weight_hh_l0").unwrap();
        assert_eq!((w.rows, w.cols), (32, 32));
        assert!((w.spectral_radius() - 0.5).abs() < 0.01, "{}", w.spectral_radius());
        // A Gaussian matrix's largest singular value is about twice its spectral radius.
        assert!(w.sigma_max() > 0.8 && w.sigma_max() < 1.2, "{}", w.sigma_max());
        assert!(initial_weight(&cfg, "rnn.nope").is_err());
    }
}
