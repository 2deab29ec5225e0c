//! The audit: a SQLite mirror of `refs/okr/state` for fast questions (see ARCHITECTURE.md).
//!
//! One row per event parsed from each state commit (see [`event`] for the
//! mapping) plus the values of every snapshot a commit wrote, in the `audit_*`
//! tables of the shared `.git/okr/audit.sqlite`. The ref stays the only truth:
//! the mirror follows it before every read ([`with_mirror`]) and is rebuilt
//! when it is missing, damaged, of another schema, or the ref was rewritten.

pub mod event;
pub mod follow;
pub mod journal;
pub mod okrchestra;
pub mod query;
pub mod schema;

pub use event::Event;
pub use follow::MirrorUpdate;

use crate::db;
use crate::store::Store;
use anyhow::Result;
use rusqlite::Connection;

/// Bring the mirror up to date with refs/okr/state, then run `f` on it. A damaged
/// file is deleted and everything runs once more on a fresh one.
pub fn with_mirror<T>(store: &Store, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<T> {
    let okr_dir = store.okr_dir()?;
    let tip = store.tip()?;
    db::with_db(&okr_dir, |conn| {
        // Memory-mapped reads: a short-lived process reads its rows without a syscall per page.
        conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
        follow::follow(store.repo(), conn, tip, false)?;
        f(conn)
    })
}

/// Empty the mirror and build it again from every commit of refs/okr/state.
pub fn rebuild(store: &Store) -> Result<MirrorUpdate> {
    let okr_dir = store.okr_dir()?;
    let tip = store.tip()?;
    db::with_db(&okr_dir, |conn| {
        follow::follow(store.repo(), conn, tip, true)
    })
}
