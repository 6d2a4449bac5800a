//! Blocks: each with a hand-written forward that keeps what its backward needs, and a backward
//! that returns the input gradient and accumulates parameter gradients.

mod param;

pub use param::{Param, ParamList};
