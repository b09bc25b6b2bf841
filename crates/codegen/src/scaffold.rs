//! Test code for one unit, built from the parse alone. Two flavours:
//! - [`Flavor::Scaffold`], the offline provider's answer: arrange/act/assert with typed placeholder
//!   arguments, each test skipped with a reason so it never pretends to check behaviour;
//! - [`Flavor::Simulated`], the model simulator's answer: the same shape, not skipped, with plausible
//!   assertions — what a model would send back, for tests and demos of the pipeline.

use crate::{Target, Unit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Scaffold,
    Simulated,
}

/// A complete test file for `unit` alone (package line, imports, the test), in `target.framework`.
/// [`crate::assemble`] merges several of them into one file.
pub fn unit_tests(target: &Target<'_>, unit: &Unit, flavor: Flavor) -> String {
    let _ = (target, unit, flavor);
    String::new()
}
