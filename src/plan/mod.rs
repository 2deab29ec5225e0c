//! Plans and agent runs: `git okr plan generate`, `plan run`, `plan schema`.
//!
//! `generate` writes `plans/YYYY-MM-DD/<plan-id>.json` (one commit); `run` starts each
//! task as a child process of an adapter (codex, claude, command) and records
//! `runs/<run-id>/result.json` with capped logs (one commit). See README "Plans and runs".

pub mod adapters;
pub mod catalog;
pub mod exec;
pub mod generate;
pub mod guard;
pub mod invocation;
pub mod mock;
pub mod procs;
pub mod prompt;
pub mod run;
pub mod supervise;
pub mod worktree;

/// `plan-20260118-142501-3fa9`: sortable by time, unique enough for one repository.
pub fn new_id<Tz: chrono::TimeZone>(prefix: &str, at: chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let suffix: u16 = rand::random();
    format!("{prefix}-{}-{suffix:04x}", at.format("%Y%m%d-%H%M%S"))
}
