//! git-okr: OKRs, metrics, proposals, plans and audit kept as commits on `refs/okr/state`.
//! ARCHITECTURE.md at the repository root has the map; imports only go down:
//! `commands` → domain (`measure`, `score`, `proposal`, `plan`, `sync`, `daemon`, `report`,
//! `audit`, `hooks`, `metrics`, `rhythm`) → `ctx` → `model`, `store`, `db`.
//!
//! The binary is [`main`]. The public modules are what the integration tests and benches
//! drive directly; everything else is private to the crate.

mod audit;
mod cli;
mod commands;
pub mod ctx;
mod daemon;
mod db;
mod env_vars;
mod hooks;
mod measure;
pub mod metrics;
pub mod migrate;
pub mod model;
mod plan;
mod proposal;
mod report;
mod rhythm;
mod score;
pub mod store;
mod sync;

pub use commands::{main, ExitStatus};
