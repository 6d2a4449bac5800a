//! The MNIST stacks of the feed-forward claims.
