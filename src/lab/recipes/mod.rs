//! Recipes that several claims share: the same data, model and training, so that the claims
//! that compare them differ only in what they vary, and equal configs are one run.

pub mod mnist;
pub mod recurrent;
