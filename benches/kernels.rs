//! Micro-benchmarks of the engine's pieces: GEMM shapes of the W1 workload, the f32
//! transcendental kernels, and one W1 training step.

use criterion::{criterion_group, criterion_main, Criterion};
use depthlab::nn::Target;
use depthlab::optim::{Optimizer, Sgd, SgdConfig};
use depthlab::tensor::{kernels, matmul_into, Mat, View};
use std::hint::black_box;

fn gemm_shapes(c: &mut Criterion) {
    let a = Mat::from_fn(128, 64, |r, c| ((r * 7 + c) % 13) as f32 * 0.1);
    let w = Mat::from_fn(128, 64, |r, c| ((r * 3 + c) % 11) as f32 * 0.1);
    let w64 = Mat::from_fn(64, 64, |r, c| ((r * 3 + c) % 11) as f32 * 0.1);
    let mut out = Mat::zeros(128, 128);
    let mut out64 = Mat::zeros(128, 64);
    c.bench_function("gemm x[128x64] W^T[64x64] (one gate)", |b| {
        b.iter(|| matmul_into(&mut out64, 0, View::of(&a), View::of(&w64).t(), false))
    });
    c.bench_function("gemm x[128x64] W^T[64x128] (transform+gate fused)", |b| {
        b.iter(|| matmul_into(&mut out, 0, View::of(&a), View::of(&w).t(), false))
    });
    let mut dw = Mat::zeros(64, 64);
    c.bench_function("gemm dz^T[64x128] x[128x64] (weight grad)", |b| {
        b.iter(|| matmul_into(&mut dw, 0, View::of(&a).t(), View::of(&a), true))
    });
}

fn transcendental(c: &mut Criterion) {
    let x: Vec<f32> = (0..8192).map(|i| (i as f32 - 4096.0) / 512.0).collect();
    c.bench_function("tanh_f32 x8192", |b| {
        b.iter(|| {
            let mut v = x.clone();
            kernels::tanh_f32(&mut v);
            black_box(v)
        })
    });
    c.bench_function("sigmoid_f32 x8192", |b| {
        b.iter(|| {
            let mut v = x.clone();
            kernels::sigmoid_f32(&mut v);
            black_box(v)
        })
    });
}

fn w1_step(c: &mut Criterion) {
    let mut model = depthlab::bench::w1_model();
    let x = Mat::from_fn(128, 784, |r, c| ((r * 31 + c * 7) % 256) as f32 / 255.0);
    let labels: Vec<u32> = (0..128).map(|i| i % 10).collect();
    let mut sgd = Sgd::<f32>::new(SgdConfig { momentum: 0.9, ..Default::default() }).unwrap();
    c.bench_function("w1 training step", |b| {
        b.iter(|| {
            model.zero_grad();
            model.forward_backward(&x, &Target::Classes(&labels));
            sgd.step(&mut model.params(), 0.01);
        })
    });
}

criterion_group!(benches, gemm_shapes, transcendental, w1_step);
criterion_main!(benches);
