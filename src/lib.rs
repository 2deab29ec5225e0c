//! git-okr: OKRchestra rebuilt as a git-native tool. See DESIGN.md for the picture.
//!
//! Data flows one way: `cli` → `commands` → (`model`, `store`, …).

pub mod audit;
pub mod cli;
pub mod commands;
pub mod db;
pub mod model;
pub mod store;
