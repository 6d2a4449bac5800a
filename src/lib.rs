//! depthlab: build, train and look inside deep networks whose depth is made trainable by skip
//! connections and gates.
//!
//! ```
//! use depthlab::nn::{LossKind, Model, ModelConfig, Target};
//! use depthlab::tensor::Mat;
//!
//! // A 10-layer highway net on 8 inputs and 3 classes; record dL/dh at every block output.
//! let cfg: ModelConfig = toml::from_str("arch = \"highway\"\ndepth = 10\nwidth = 16").unwrap();
//! let mut model = Model::<f32>::build(&cfg, 8, 3, LossKind::CrossEntropy, 0).unwrap();
//! model.set_taps(true);
//! let x = Mat::from_fn(4, 8, |r, c| ((r + c) % 5) as f32 / 5.0);
//! let step = model.forward_backward(&x, &Target::Classes(&[0, 1, 2, 1]));
//! assert!(step.loss.is_finite());
//! let names: Vec<&str> = model.taps().iter().map(|(n, _)| n.as_str()).collect();
//! assert_eq!(names.first(), Some(&"act.stem"));
//! assert_eq!(names.len(), 12); // stem, layers.0..9, head
//! ```

pub mod bench;
pub mod config;
pub mod data;
pub mod files;
pub mod grads;
pub mod lab;
pub mod nn;
pub mod npy;
pub mod optim;
pub mod plot;
pub mod probe;
pub mod read;
pub mod report;
pub mod seq;
pub mod stats;
pub mod sweep;
pub mod tensor;
pub mod train;
