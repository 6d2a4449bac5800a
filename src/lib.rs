//! depthlab: build, train and look inside deep networks whose depth is made trainable by skip
//! connections and gates.

pub mod bench;
pub mod config;
pub mod data;
pub mod grads;
pub mod nn;
pub mod npy;
pub mod optim;
pub mod probe;
pub mod seq;
pub mod tensor;
pub mod train;
