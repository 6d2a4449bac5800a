//! The Block contract (DESIGN.md): `forward` keeps what `backward` needs; `backward` returns
//! dL/dx and *accumulates* parameter gradients (so several backward passes can be summed).

use super::ParamList;
use crate::tensor::{Mat, Real};

/// What a forward pass is for. In evaluation a block may skip keeping its backward cache.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ctx {
    pub train: bool,
}

impl Ctx {
    pub const TRAIN: Ctx = Ctx { train: true };
    pub const EVAL: Ctx = Ctx { train: false };
}

/// The probe hooks of a block that has a skip path (residual, highway, weighted skip) or can be
/// removed (plain layers of equal width).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Switches {
    /// Lesioned: the block is the identity in the forward (a highway layer's transform gate is
    /// forced shut, T = 0; a residual block drops its branch; a plain layer passes x through).
    pub lesioned: bool,
    /// When false, backward sends dL/dy to the input only through the skip path, not through
    /// the branch (Veit et al.'s path decomposition). Parameter gradients of the branch are then
    /// not accumulated. For a block without a skip path, dL/dx is zero.
    pub pass_branch_grad: bool,
}

impl Default for Switches {
    fn default() -> Self {
        Switches { lesioned: false, pass_branch_grad: true }
    }
}

pub trait Block<F: Real>: Send {
    /// The field's name for the block ("highway", "residual", "linear", ...).
    fn kind(&self) -> &'static str;
    fn in_dim(&self) -> usize;
    fn out_dim(&self) -> usize;
    /// y = block(x) for a batch of rows.
    fn forward(&mut self, x: &Mat<F>, ctx: &Ctx) -> Mat<F>;
    /// As `forward`, taking the input by value, as a model's chain of blocks hands it on: a block
    /// that keeps its input for the backward takes it without a copy, and may give the buffer of
    /// the input it kept last time back as its output.
    fn forward_owned(&mut self, x: Mat<F>, ctx: &Ctx) -> Mat<F> {
        self.forward(&x, ctx)
    }
    /// dL/dx from dL/dy, for the x of the last training forward; adds into parameter grads.
    fn backward(&mut self, dy: &Mat<F>) -> Mat<F>;
    /// As `backward`, taking dL/dy by value: a block may compute dL/dx in its buffer.
    fn backward_owned(&mut self, dy: Mat<F>) -> Mat<F> {
        self.backward(&dy)
    }
    /// As `backward`, for a caller that does not need dL/dx (the first block of a model).
    fn backward_params(&mut self, dy: &Mat<F>) {
        self.backward(dy);
    }
    /// The parameters, named as a PyTorch state dict under `prefix` (e.g. `layers.3.`).
    fn params<'a>(&'a mut self, prefix: &str, out: &mut ParamList<'a, F>);
    /// Lesion / path switches, for blocks that have them.
    fn switches(&mut self) -> Option<&mut Switches> {
        None
    }
    /// Record, in the next backward, dL/d(output) of the layers *inside* this block (dense
    /// stacks are one block of many layers). Blocks that are single layers ignore it.
    fn set_inner_taps(&mut self, _on: bool) {}
    /// The recorded inner gradients, named under `prefix` (e.g. `layers.7`).
    fn inner_taps(&self, _prefix: &str, _out: &mut Vec<(String, Mat<F>)>) {}
}

/// `prefix` joined with `name`, state-dict style.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
