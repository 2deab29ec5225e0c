//! Metric collectors: each turns one kind of evidence into snapshot points.

pub mod ci;
pub mod delivery;
pub mod git;
