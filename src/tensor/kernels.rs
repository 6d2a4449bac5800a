//! Vectorised f32 transcendental kernels with run-time CPU dispatch, and the vectorised norm of
//! the gradient taps.
//!
//! libm's `tanhf` costs ~20 ns a call; a 50-layer highway step evaluates ~800k of them, which
//! alone would take longer than the whole step should. These kernels are branch-free so the
//! compiler vectorises them; the same source is compiled for AVX-512, AVX2+FMA and the baseline,
//! and the best one is chosen at run time (no `target-cpu=native` needed). Their error against
//! libm is bounded by tests in this file (|err| < 4e-7 absolute for tanh and sigmoid on [-20, 20]).

/// exp(x) by Cody–Waite range reduction x = n ln2 + r, |r| <= ln2/2, and a degree-7 Taylor
/// polynomial for e^r (truncation error < 2e-8 relative), scaled by 2^n through the exponent bits.
#[inline(always)]
pub fn exp_one(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Round-to-nearest through the 1.5 * 2^23 shifter: cheaper than round() and vectorises.
    const SHIFTER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + SHIFTER;
    let n = shifted - SHIFTER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // `shifted`'s low mantissa bits hold n (|n| <= 127 after the clamp): 2^n from integer ops
    // alone, since `n as i32` would be a saturating, scalarised conversion.
    let scale = f32::from_bits(shifted.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23);
    p * scale
}

#[inline(always)]
pub fn sigmoid_one(x: f32) -> f32 {
    1.0 / (1.0 + exp_one(-x))
}

#[inline(always)]
pub fn tanh_one(x: f32) -> f32 {
    // tanh(x) = 1 - 2 / (e^{2x} + 1); for |x| > 10 this is +-1 to f32 precision.
    let x = x.clamp(-10.0, 10.0);
    1.0 - 2.0 / (exp_one(2.0 * x) + 1.0)
}

/// Run `f` compiled for the best vector extension this CPU has. Everything `f` calls that is
/// `#[inline(always)]` (the `*_one` kernels, `Real`'s fast methods, slice iterators) is inlined
/// into the feature-enabled frame and vectorised there, so a block can fuse a whole elementwise
/// pass (gates, nonlinearity, carry) into one loop without a call per row.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
            // SAFETY: the CPU supports the enabled features (checked just above).
            return unsafe { avx512(f) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { avx2(f) };
        }
    }
    f()
}

macro_rules! dispatch {
    ($name:ident, $one:ident) => {
        pub fn $name(x: &mut [f32]) {
            #[inline(always)]
            fn body(x: &mut [f32]) {
                for v in x.iter_mut() {
                    *v = $one(*v);
                }
            }
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512(x: &mut [f32]) {
                    body(x)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2(x: &mut [f32]) {
                    body(x)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports the enabled features (checked just above).
                    return unsafe { avx512(x) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2(x) };
                }
            }
            body(x)
        }
    };
}

dispatch!(exp_f32, exp_one);
dispatch!(tanh_f32, tanh_one);
dispatch!(sigmoid_f32, sigmoid_one);

/// ||g|| in f64, as `Mat::norm` but summed in 8 interleaved lanes (element i into lane i mod 8,
/// the lanes added in order at the end) and vectorised: gradient taps are read once per
/// training step when `[probe] gradflow_every = 1`, and one sequential f64 sum was most of that cost.
/// The same on every CPU (no fused multiply-adds); it may differ from `Mat::norm` in the last
/// bits.
pub fn l2_norm<F: super::Real>(g: &[F]) -> f64 {
    sum_sq(g).sqrt()
}

/// The sum of squares under `l2_norm`: the training loop's global gradient norm adds these
/// over the parameters (as one sequential f64 sum, it ran scalar at one add per 4 cycles: 4% of
/// a 100-layer width-71 net's step).
pub fn sum_sq<F: super::Real>(g: &[F]) -> f64 {
    simd(
        #[inline(always)]
        || {
            let mut acc = [0.0f64; 8];
            let chunks = g.chunks_exact(8);
            let rest = chunks.remainder();
            for c in chunks {
                for (a, v) in acc.iter_mut().zip(c) {
                    let v = v.f64();
                    *a += v * v;
                }
            }
            let mut s = 0.0;
            for a in acc {
                s += a;
            }
            for v in rest {
                s += v.f64() * v.f64();
            }
            s
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Vec<f32> {
        (0..=400_000).map(|i| -20.0 + i as f32 * 1e-4).collect()
    }

    #[test]
    fn tanh_matches_libm() {
        let xs = grid();
        let mut y = xs.clone();
        tanh_f32(&mut y);
        let worst = xs.iter().zip(&y).map(|(x, y)| ((x.tanh() - y).abs(), x)).fold((0.0f32, &0.0f32), |a, b| {
            if b.0 > a.0 {
                b
            } else {
                a
            }
        });
        assert!(worst.0 < 4e-7, "tanh error {} at x = {}", worst.0, worst.1);
    }

    #[test]
    fn sigmoid_matches_libm() {
        let xs = grid();
        let mut y = xs.clone();
        sigmoid_f32(&mut y);
        for (x, y) in xs.iter().zip(&y) {
            let want = 1.0 / (1.0 + (-(*x as f64)).exp());
            assert!((want - *y as f64).abs() < 4e-7, "sigmoid({x}) = {y}, want {want}");
        }
    }

    #[test]
    fn exp_relative_error_is_small() {
        let xs: Vec<f32> = (0..=100_000).map(|i| -80.0 + i as f32 * 1.6e-3).collect();
        let mut y = xs.clone();
        exp_f32(&mut y);
        for (x, y) in xs.iter().zip(&y) {
            let want = (*x as f64).exp();
            let rel = ((*y as f64 - want) / want).abs();
            assert!(rel < 5e-7, "exp({x}) = {y}, want {want} (rel {rel})");
        }
    }

    /// The derivatives the backward passes use are computed from the outputs (tanh' = 1 - y^2,
    /// sigmoid' = s (1 - s)): their error is that of the outputs, at most twice over.
    #[test]
    fn derivatives_from_the_outputs_match_libm() {
        for x in grid() {
            let (t, s) = (tanh_one(x), sigmoid_one(x));
            let xd = x as f64;
            let dt = 1.0 - xd.tanh().powi(2);
            let sd = 1.0 / (1.0 + (-xd).exp());
            let ds = sd * (1.0 - sd);
            assert!((((1.0 - t * t) as f64) - dt).abs() < 1e-6, "tanh'({x}): {} want {dt}", 1.0 - t * t);
            assert!((((s * (1.0 - s)) as f64) - ds).abs() < 5e-7, "sigmoid'({x}): {} want {ds}", s * (1.0 - s));
        }
    }

    /// Near 0 the error is absolute, not relative (1 - 2/(e^2x + 1) cancels): tanh(1e-6) is
    /// right to about 1e-7, i.e. 10%. No block feeds tanh's output on to anything where that
    /// matters more than the rounding of the pre-activation itself.
    #[test]
    fn tanh_near_zero_has_a_small_absolute_error() {
        for i in -10_000..=10_000 {
            let x = i as f32 * 1e-7;
            let y = tanh_one(x);
            assert!(((y as f64) - (x as f64).tanh()).abs() < 1.2e-7, "tanh({x}) = {y}");
        }
        assert_eq!(tanh_one(0.0), 0.0);
        assert_eq!(sigmoid_one(0.0), 0.5);
        assert_eq!(exp_one(0.0), 1.0);
    }

    /// The sigmoid's tail (what an LSTM's closed gates and highway's carry depend on) keeps a
    /// small relative error down to e^-80, where exp_one's relative bound carries over.
    #[test]
    fn sigmoid_tail_relative_error_is_small() {
        for i in 0..=100_000 {
            let x = -80.0 + i as f32 * 1e-3;
            let y = sigmoid_one(x) as f64;
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!(((y - want) / want).abs() < 1e-6, "sigmoid({x}) = {y}, want {want}");
        }
    }

    /// Outputs stay in range and in order: |tanh| <= 1, sigmoid in [0, 1], exp > 0, all three
    /// non-decreasing over [-100, 100] (a gradient through them never changes sign by rounding).
    #[test]
    fn outputs_are_bounded_and_monotone() {
        let xs: Vec<f32> = (0..=2_000_000).map(|i| -100.0 + i as f32 * 1e-4).collect();
        let (mut pt, mut ps, mut pe) = (f32::NEG_INFINITY, f32::NEG_INFINITY, 0.0f32);
        for &x in &xs {
            let (t, s, e) = (tanh_one(x), sigmoid_one(x), exp_one(x));
            assert!((-1.0..=1.0).contains(&t) && (0.0..=1.0).contains(&s) && e > 0.0, "x = {x}: {t} {s} {e}");
            assert!(t >= pt && s >= ps && e >= pe, "not monotone at x = {x}");
            (pt, ps, pe) = (t, s, e);
        }
    }

    /// The ends: tanh and sigmoid saturate exactly; exp saturates at e^-87 and e^88 (finite:
    /// its callers, the softmaxes, subtract the row's maximum first, so their arguments are
    /// <= 0 and e^-87 ~ 1.6e-38 beside a sum >= 1 is nothing); NaN stays NaN in all three, as
    /// in PyTorch, so a diverged run is seen.
    #[test]
    fn saturates_at_the_ends_and_keeps_nan() {
        let mut v = vec![-1e30, -100.0, -10.0, 10.0, 100.0, 1e30, f32::MAX, f32::MIN, f32::INFINITY, f32::NEG_INFINITY];
        tanh_f32(&mut v);
        assert_eq!(v, vec![-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0, 1.0, -1.0]);
        let mut s = vec![-1e30, f32::NEG_INFINITY, 1e30, 20.0, f32::INFINITY];
        sigmoid_f32(&mut s);
        assert!(s[0] >= 0.0 && s[0] < 1e-30 && s[1] >= 0.0 && s[1] < 1e-30, "{s:?}");
        assert_eq!(&s[2..], &[1.0, 1.0, 1.0]);
        let mut e = vec![f32::NEG_INFINITY, -1000.0, -87.0, 88.0, 1000.0, f32::INFINITY];
        exp_f32(&mut e);
        let lo = (-87.0f64).exp();
        let hi = 88.0f64.exp();
        for &v in &e[..3] {
            assert!(((v as f64 - lo) / lo).abs() < 1e-6, "{e:?}");
        }
        for &v in &e[3..] {
            assert!(v.is_finite() && ((v as f64 - hi) / hi).abs() < 1e-6, "{e:?}");
        }
        for f in [exp_f32, tanh_f32, sigmoid_f32] {
            let mut n = vec![f32::NAN; 19];
            f(&mut n);
            assert!(n.iter().all(|v| v.is_nan()), "{n:?}");
        }
        assert!(exp_one(f32::NAN).is_nan() && tanh_one(f32::NAN).is_nan() && sigmoid_one(f32::NAN).is_nan());
    }

    /// The vectorised slices (AVX-512 or AVX2 where the CPU has them) and the scalar kernels
    /// give the same bits: a run's numbers do not depend on which vector unit computed them.
    #[test]
    fn vector_and_scalar_kernels_agree_bit_for_bit() {
        let xs: Vec<f32> = (0..=200_001).map(|i| -100.0 + i as f32 * 1e-3).collect();
        for (f, one) in
            [(exp_f32 as fn(&mut [f32]), exp_one as fn(f32) -> f32), (tanh_f32, tanh_one), (sigmoid_f32, sigmoid_one)]
        {
            let mut v = xs.clone();
            f(&mut v);
            for (x, y) in xs.iter().zip(&v) {
                assert_eq!(y.to_bits(), std::hint::black_box(one)(*x).to_bits(), "at x = {x}");
            }
        }
    }

    /// The lane-wise norm agrees with `Mat::norm` to f64 rounding (the order of the sum
    /// differs), for lengths that do and do not fill the last group of 8, and is 0 for nothing.
    #[test]
    fn l2_norm_agrees_with_mat_norm() {
        use crate::tensor::Mat;
        assert_eq!(l2_norm::<f32>(&[]), 0.0);
        for n in [1usize, 7, 8, 9, 63, 8192, 8197] {
            let m = Mat::from_fn(1, n, |_, c| ((c * 37 % 101) as f32 - 50.0) * 1e-3);
            let (a, b) = (l2_norm(&m.data), m.norm());
            assert!((a - b).abs() <= 1e-12 * b, "{n}: {a} vs {b}");
            let m64: Mat<f64> = m.cast();
            assert!((l2_norm(&m64.data) - m64.norm()).abs() <= 1e-12 * b);
        }
    }
}
