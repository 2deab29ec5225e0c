//! git-okr: OKRchestra rebuilt as a git-native tool. See DESIGN.md for the picture.
//!
//! Data flows one way: `cli` → `commands` → (`model`, `store`, …).

pub mod audit;
pub mod cli;
pub mod commands;
pub mod ctx;
pub mod daemon;
pub mod db;
pub mod env_vars;
pub mod hooks;
pub mod measure;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod plan;
pub mod proposal;
pub mod report;
pub mod score;
pub mod store;
pub mod sync;
