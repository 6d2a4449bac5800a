//! Blocks: each with a hand-written forward that keeps what its backward needs, and a backward
//! that returns the input gradient and accumulates parameter gradients.

mod activation;
mod block;
mod dense;
pub mod gradcheck;
mod highway;
mod init;
mod linear;
pub mod loss;
mod model;
mod param;
mod residual;
mod weighted;

pub use activation::{Act, Activation};
pub use block::{join, Block, Ctx, Switches};
pub use dense::{DenseMode, DenseStack};
pub use highway::Highway;
pub use init::{random_orthogonal, HhInit, Init};
pub use linear::{Linear, LinearAct};
pub use loss::LossKind;
pub use model::{
    Arch, AuxConfig, Can, Carry, HeadOut, LayerHeadConfig, Model, ModelConfig, Positional, StepOut, Target,
};
pub use param::{Param, ParamList};
pub use residual::Residual;
pub use weighted::WeightedSkip;
