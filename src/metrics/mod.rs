//! Metric collectors.

pub mod git;
