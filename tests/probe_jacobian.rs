//! The Jacobian probe: the one-sided Jacobi SVD, exact Jacobians against finite differences,
//! dynamical isometry (CLAIMS.md C3), the timing bar and the `probe` command's files.

use depthlab::nn::{random_orthogonal, Ctx, LossKind, Model, ModelConfig};
use depthlab::probe::jacobian::{self, JacobianOptions, HIST_BINS};
use depthlab::probe::svd::{singular_values, svd};
use depthlab::probe::{ProbeKind, ProbeOptions};
use depthlab::tensor::Mat;
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};

fn gaussian(m: usize, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let d = Normal::new(0.0, 1.0).unwrap();
    (0..m * n).map(|_| d.sample(&mut rng)).collect()
}

fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for p in 0..k {
            for j in 0..n {
                c[i * n + j] += a[i * k + p] * b[p * n + j];
            }
        }
    }
    c
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// `Q^T Q = I` for the `rows x k` row-major `q`, on the columns whose singular value is not 0.
fn check_orthonormal_cols(q: &[f64], rows: usize, k: usize, keep: usize, tol: f64) {
    for a in 0..keep {
        for b in 0..keep {
            let d: f64 = (0..rows).map(|r| q[r * k + a] * q[r * k + b]).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            assert!((d - want).abs() < tol, "column {a} . column {b} = {d}");
        }
    }
}

#[test]
fn svd_of_diagonal_matrices() {
    let d = [3.0, 1e-6, 2.0, 0.5, 0.0];
    let n = d.len();
    let a: Vec<f64> = (0..n * n).map(|i| if i / n == i % n { d[i / n] } else { 0.0 }).collect();
    assert_eq!(singular_values(&a, n, n), vec![3.0, 2.0, 0.5, 1e-6, 0.0]);
    // Signs do not matter; a 1 x 1 and an empty-ish case.
    let neg = [-2.0, 0.0, 0.0, 7.0];
    assert_eq!(singular_values(&neg, 2, 2), vec![7.0, 2.0]);
    assert_eq!(singular_values(&[-4.0], 1, 1), vec![4.0]);
}

#[test]
fn svd_of_orthogonal_times_diagonal_recovers_the_diagonal() {
    let mut rng = StdRng::seed_from_u64(3);
    for (m, n) in [(12, 12), (9, 5), (5, 9), (64, 64)] {
        let k = m.min(n);
        let u = random_orthogonal(m, k, &mut rng);
        let v = random_orthogonal(n, k, &mut rng);
        // Singular values spread over ten decades.
        let d: Vec<f64> = (0..k).map(|i| 10f64.powf(2.0 - 10.0 * i as f64 / (k - 1) as f64)).collect();
        let mut ud = u.data.clone();
        for r in 0..m {
            for c in 0..k {
                ud[r * k + c] *= d[c];
            }
        }
        let vt = v.transpose();
        let a = matmul(&ud, &vt.data, m, k, n);
        let s = singular_values(&a, m, n);
        assert_eq!(s.len(), k);
        for (i, (got, want)) in s.iter().zip(&d).enumerate() {
            // Rounding in forming A costs about eps * ||A|| absolutely.
            let tol = 1e-9 * want + 1e-13 * d[0];
            assert!((got - want).abs() < tol, "{m}x{n}: s[{i}] = {got:e}, want {want:e}");
        }
        let full = svd(&a, m, n);
        assert!(max_abs_diff(&full.reconstruct(), &a) < 1e-12 * d[0], "{m}x{n}: reconstruction");
        check_orthonormal_cols(&full.u, m, k, k, 1e-9);
        check_orthonormal_cols(&full.v, n, k, k, 1e-9);
    }
}

#[test]
fn svd_of_rank_deficient_matrices() {
    // A = B C with B 8 x 3, C 3 x 6: rank 3, so three of six singular values are 0.
    let (b, c) = (gaussian(8, 3, 5), gaussian(3, 6, 6));
    let a = matmul(&b, &c, 8, 3, 6);
    let s = singular_values(&a, 8, 6);
    assert_eq!(s.len(), 6);
    assert!(s[2] > 1e-3 * s[0], "{s:?}");
    assert!(s[3..].iter().all(|v| *v < 1e-13 * s[0]), "{s:?}");
    let f = svd(&a, 8, 6);
    assert!(max_abs_diff(&f.reconstruct(), &a) < 1e-12 * s[0]);
    check_orthonormal_cols(&f.u, 8, 6, 3, 1e-10);
    check_orthonormal_cols(&f.v, 6, 6, 3, 1e-10);
    // A zero row, a zero matrix.
    let mut z = gaussian(4, 4, 7);
    z[4..8].fill(0.0);
    let s = singular_values(&z, 4, 4);
    assert!(s[3] < 1e-14 * s[0], "{s:?}");
    assert_eq!(singular_values(&[0.0; 6], 2, 3), vec![0.0, 0.0]);
}

#[test]
fn svd_of_random_matrices_matches_the_eigen_decomposition_of_a_t_a() {
    for (m, n, seed) in [(7, 5, 1), (5, 7, 2), (30, 30, 3), (64, 40, 4)] {
        let a = gaussian(m, n, seed);
        let f = svd(&a, m, n);
        let k = m.min(n);
        let scale = f.s[0];
        assert!(max_abs_diff(&f.reconstruct(), &a) < 1e-12 * scale * (m.max(n) as f64), "{m}x{n}");
        check_orthonormal_cols(&f.u, m, k, k, 1e-10);
        check_orthonormal_cols(&f.v, n, k, k, 1e-10);
        // A^T A v_i = s_i^2 v_i.
        let mut ata = vec![0.0; n * n];
        for r in 0..m {
            for i in 0..n {
                for j in 0..n {
                    ata[i * n + j] += a[r * n + i] * a[r * n + j];
                }
            }
        }
        for i in 0..k {
            for r in 0..n {
                let av: f64 = (0..n).map(|c| ata[r * n + c] * f.v[c * k + i]).sum();
                let want = f.s[i] * f.s[i] * f.v[r * k + i];
                assert!((av - want).abs() < 1e-10 * scale * scale, "{m}x{n}: eigenpair {i}");
            }
        }
        // sum s^2 = ||A||_F^2, sum s^4 = trace((A^T A)^2).
        let fro: f64 = a.iter().map(|v| v * v).sum();
        assert!((f.s.iter().map(|v| v * v).sum::<f64>() - fro).abs() < 1e-10 * fro);
        let tr2: f64 = (0..n * n).map(|i| ata[i] * ata[i]).sum();
        assert!((f.s.iter().map(|v| v.powi(4)).sum::<f64>() - tr2).abs() < 1e-10 * tr2);
        // The values-only path agrees.
        let s = singular_values(&a, m, n);
        assert!(max_abs_diff(&s, &f.s) < 1e-12 * scale);
        assert!(s.windows(2).all(|w| w[0] >= w[1]));
    }
}

fn model64(toml: &str, in_dim: usize, seed: u64) -> Model<f64> {
    let cfg: ModelConfig = toml::from_str(toml).unwrap();
    Model::build(&cfg, in_dim, 3, LossKind::CrossEntropy, seed).unwrap()
}

/// h_l from h_0 through the stack blocks 1..=l, in evaluation.
fn stack_out(m: &mut Model<f64>, h0: &[f64], l: usize) -> Vec<f64> {
    let mut h = Mat::from_vec(1, h0.len(), h0.to_vec());
    for (_, b) in m.blocks[1..=l].iter_mut() {
        h = b.forward(&h, &Ctx::EVAL);
    }
    h.data
}

#[test]
fn jacobians_match_finite_differences() {
    for arch in [
        "arch = \"plain\"",
        "arch = \"plain\"\nactivation = \"relu\"\ninit = { kind = \"he\" }",
        "arch = \"residual\"",
        "arch = \"highway\"\ngate_bias = 0.0",
        "arch = \"highway\"\ncarry = \"independent\"",
        "arch = \"weighted_skip\"\nper_unit_alpha = true",
    ] {
        let mut m = model64(&format!("{arch}\ndepth = 4\nwidth = 6"), 5, 11);
        let x = gaussian(1, 5, 12);
        let (h0, layers) = jacobian::stack_jacobians(&mut m, &x).unwrap();
        assert_eq!(layers.len(), 4);
        let io = jacobian::input_output(&layers);
        let eps = 1e-6;
        for l in 1..=4 {
            // Layer to layer: perturb h_{l-1}.
            let hl1 = if l == 1 { h0.clone() } else { stack_out(&mut m, &h0, l - 1) };
            for j in 0..6 {
                let (mut p, mut q) = (hl1.clone(), hl1.clone());
                p[j] += eps;
                q[j] -= eps;
                let (fp, fq) = {
                    let mut one = |v: &[f64]| {
                        let mut h = Mat::from_vec(1, 6, v.to_vec());
                        h = m.blocks[l].1.forward(&h, &Ctx::EVAL);
                        h.data
                    };
                    (one(&p), one(&q))
                };
                let (mut p0, mut q0) = (h0.clone(), h0.clone());
                p0[j] += eps;
                q0[j] -= eps;
                let (gp, gq) = (stack_out(&mut m, &p0, l), stack_out(&mut m, &q0, l));
                for r in 0..6 {
                    let fd = (fp[r] - fq[r]) / (2.0 * eps);
                    let got = layers[l - 1].at(r, j);
                    assert!((fd - got).abs() < 1e-7, "{arch}: J_{l}[{r},{j}] = {got}, finite differences {fd}");
                    let fd = (gp[r] - gq[r]) / (2.0 * eps);
                    let got = io[l - 1].at(r, j);
                    assert!((fd - got).abs() < 1e-7, "{arch}: dh_{l}/dh_0[{r},{j}] = {got}, finite differences {fd}");
                }
            }
        }
        // The probe leaves no gradients behind.
        assert!(m.params().iter().all(|(_, p)| p.grad.sum_sq() == 0.0), "{arch}");
    }
}

/// The input-output spectrum at `depth`, at two Gaussian inputs of standard deviation `scale`
/// (width 64 in, so the stem's pre-activations have variance about `scale^2` x the gain^2).
fn spectrum_at(toml: &str, depth: usize, seed: u64, scale: f64) -> jacobian::Spectrum {
    let cfg: ModelConfig = toml::from_str(toml).unwrap();
    let mut m = Model::<f64>::build(&cfg, 64, 10, LossKind::CrossEntropy, seed).unwrap();
    let x = Mat::from_vec(2, 64, gaussian(2, 64, seed + 100).iter().map(|v| v * scale).collect());
    let opts = JacobianOptions { inputs: 2, depths: vec![depth] };
    let j = jacobian::compute(&mut m, &x, &opts).unwrap();
    assert_eq!(j.input_output.len(), 1);
    assert_eq!(j.layer_to_layer.len(), depth);
    j.input_output[0].clone()
}

/// CLAIMS.md C3 (Pennington et al. 2017): at depth 32, width 64, tanh at sigma_w^2 = 1,
/// sigma_b^2 = 0, orthogonal weights keep the input-output singular values in a narrow band;
/// Gaussian weights spread them over decades; ReLU (He, or orthogonal with gain sqrt 2)
/// spreads them too, and its Jacobian is rank deficient (units that are off).
///
/// With sigma_b^2 = 0 the fixed point of the pre-activation variance is q* = 0, so isometry
/// needs inputs near it: at q_0 = 0.01 (inputs of std 0.1) max/min is about 2 (std of log10 s
/// about 0.04);
/// at q_0 = 1 (std 1) the first layers saturate and even orthogonal nets spread by about 1e2 —
/// still sixteen decades narrower than Gaussian ones.
#[test]
fn orthogonal_tanh_at_criticality_is_dynamically_isometric() {
    let base = "arch = \"plain\"\ndepth = 32\nwidth = 64\n";
    let orth_t = format!("{base}init = {{ kind = \"orthogonal\", gain = 1.0, sigma_b2 = 0.0 }}");
    let gauss_t = format!("{base}init = {{ kind = \"gaussian\", sigma_w2 = 1.0, sigma_b2 = 0.0 }}");
    let relu_t = format!("{base}activation = \"relu\"\ninit = {{ kind = \"he\" }}");
    let relu_orth_t = format!(
        "{base}activation = \"relu\"\ninit = {{ kind = \"orthogonal\", gain = 1.4142135623730951, sigma_b2 = 0.0 }}"
    );
    let mut got = Vec::new();
    for scale in [0.1, 1.0] {
        let orth = spectrum_at(&orth_t, 32, 1, scale);
        let gauss = spectrum_at(&gauss_t, 32, 1, scale);
        let relu = spectrum_at(&relu_t, 32, 1, scale);
        let relu_orth = spectrum_at(&relu_orth_t, 32, 1, scale);
        for (name, s) in
            [("orthogonal tanh", &orth), ("gaussian tanh", &gauss), ("he relu", &relu), ("orthogonal relu", &relu_orth)]
        {
            eprintln!(
                "input std {scale}: {name}: max {:.4e} min {:.4e} ratio {:.4e} mean s^2 {:.4e} zeros {} std log10 s {:.3}",
                s.max, s.min, s.ratio, s.mean_sq, s.zeros, s.std_log10
            );
        }
        assert!(
            gauss.ratio > 1e6 * orth.ratio,
            "input std {scale}: gaussian {} vs orthogonal {}",
            gauss.ratio,
            orth.ratio
        );
        assert!(gauss.std_log10 > 3.0 * orth.std_log10, "input std {scale}");
        for (name, s) in [("he relu", &relu), ("orthogonal relu", &relu_orth)] {
            assert!(
                s.ratio > 1e6 * orth.ratio,
                "input std {scale}: {name} {} vs orthogonal tanh {}",
                s.ratio,
                orth.ratio
            );
            assert!(s.zeros > 0, "input std {scale}: {name} is rank deficient");
            assert!(s.std_log10 > 3.0 * orth.std_log10, "input std {scale}: {name}");
        }
        got.push(orth);
    }
    // Near q* = 0: isometric.
    assert!(got[0].ratio < 3.0, "orthogonal tanh at q_0 = 0.01: max/min = {}", got[0].ratio);
    assert!(got[0].std_log10 < 0.05, "{}", got[0].std_log10);
    // At q_0 = 1: narrower than Gaussian, but not isometric.
    assert!(got[1].ratio < 1e3, "orthogonal tanh at q_0 = 1: max/min = {}", got[1].ratio);
}

#[test]
fn fifty_layers_of_width_64_give_every_spectrum() {
    let cfg: ModelConfig = toml::from_str("arch = \"plain\"\ndepth = 50\nwidth = 64").unwrap();
    let mut m = Model::<f32>::build(&cfg, 40, 10, LossKind::CrossEntropy, 1).unwrap();
    let x = Mat::from_vec(8, 40, gaussian(8, 40, 9).iter().map(|v| *v as f32).collect());
    let j = jacobian::feed_forward(&mut m, &x, &JacobianOptions::default()).unwrap();
    eprintln!(
        "jacobian probe, 50 layers x 64, {} inputs, {} depths: {:.3} s",
        j.inputs,
        j.input_output.len(),
        j.elapsed_s
    );
    assert_eq!(j.inputs, 4);
    assert_eq!(j.layer_to_layer.len(), 50);
    assert_eq!(j.input_output.iter().map(|s| s.layer).collect::<Vec<_>>(), [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 50]);
    for s in j.input_output.iter().chain(&j.layer_to_layer) {
        assert_eq!(s.count, 4 * 64);
        assert_eq!(s.hist.len(), HIST_BINS);
        assert_eq!(s.hist.iter().sum::<usize>() + s.below + s.above, s.count);
    }
}

#[test]
fn probe_command_writes_jacobian_files() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = "seed = 1\n[data]\nname = \"mnist1d\"\nnum_samples = 400\n[model]\narch = \"residual\"\ndepth = 4\nwidth = 16\n[optim]\nlr = 0.01\noptimizer = { kind = \"sgd\" }\n[train]\nepochs = 1\nbatch_size = 16\n";
    let p = tmp.path().join("c.toml");
    std::fs::write(&p, cfg).unwrap();
    let out = tmp.path().join("out");
    let po = ProbeOptions { what: vec![ProbeKind::Jacobian], out: Some(out.clone()), ..Default::default() };
    let r = depthlab::probe::run(&p, &po).unwrap();
    // Figures first, the report last: a report on disk means its figures are too.
    assert_eq!(r.files, [out.join("jacobian.svg"), out.join("jacobian_hist.svg"), out.join("jacobian.json")]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("jacobian.json")).unwrap()).unwrap();
    assert_eq!(v["probe"], "jacobian");
    assert_eq!(v["input_output"].as_array().unwrap().len(), 4);
    assert_eq!(v["layer_to_layer"].as_array().unwrap().len(), 4);
    assert!(v["input_output"][3]["max"].as_f64().unwrap() > 0.0);
    assert!(std::fs::read_to_string(out.join("jacobian.svg")).unwrap().contains("<svg"));
    // Sequence and dense models are refused, naming the archs it applies to.
    let dense: ModelConfig = toml::from_str("arch = \"dense\"\ndepth = 3\nwidth = 8").unwrap();
    let e = ProbeKind::Jacobian.applies(&dense).unwrap_err();
    assert!(e.contains("plain, residual, highway, weighted_skip"), "{e}");
    assert_eq!(ProbeKind::parse("jacobian"), Ok(ProbeKind::Jacobian));
}
