//! The local journal: attempts that changed nothing on `refs/okr/state` — a refused
//! proposal, a failed apply — which therefore have no commit to be audited by. Kept
//! per clone in `.git/okr/audit.sqlite` (table `audit_journal`, outside the mirror's
//! tables, so rebuilding the mirror keeps it). Best effort by nature: a clone that
//! loses the file loses its journal, never the state.

use crate::db;
use crate::store::Store;
use anyhow::Result;
use rusqlite::{params, Connection};
use serde::Serialize;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS audit_journal (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    INTEGER NOT NULL,            -- seconds since the Unix epoch
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,               -- what was attempted: propose, apply, …
    outcome TEXT NOT NULL,               -- refused | failed
    subject TEXT,                        -- the proposal (or other id) it was about
    message TEXT NOT NULL
);";

/// Whether `e` (or a cause of it) is a permission or guardrail refusal
/// ([`crate::model::Refused`], exit code 4).
pub fn is_refusal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<crate::model::Refused>())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub time: i64,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub subject: Option<String>,
    pub message: String,
}

impl Entry {
    /// An attempt at `action` by `actor` that ended in `error`: refused or failed.
    pub fn of(action: &str, actor: &str, subject: Option<&str>, error: &anyhow::Error) -> Entry {
        Entry {
            time: chrono::Utc::now().timestamp(),
            actor: actor.to_string(),
            action: action.to_string(),
            outcome: if is_refusal(error) {
                "refused"
            } else {
                "failed"
            }
            .to_string(),
            subject: subject.map(str::to_string),
            message: format!("{error:#}"),
        }
    }
}

impl Entry {
    /// An entry stamped now, for what happened without an error to classify (the daemon's
    /// `job-started`, `job-finished`, `job-skipped`, `daemon-started`, …).
    pub fn now(
        actor: &str,
        action: &str,
        outcome: &str,
        subject: Option<&str>,
        message: impl Into<String>,
    ) -> Entry {
        Entry {
            time: chrono::Utc::now().timestamp(),
            actor: actor.to_string(),
            action: action.to_string(),
            outcome: outcome.to_string(),
            subject: subject.map(str::to_string),
            message: message.into().replace(['\n', '\r'], " "),
        }
    }
}

fn with_journal<T>(store: &Store, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<T> {
    db::with_db(&store.okr_dir()?, |conn| {
        conn.execute_batch(CREATE)?;
        f(conn)
    })
}

/// Add `entry` to this clone's journal.
pub fn record(store: &Store, entry: &Entry) -> Result<()> {
    with_journal(store, |conn| {
        conn.execute(
            "INSERT INTO audit_journal (time, actor, action, outcome, subject, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![entry.time, entry.actor, entry.action, entry.outcome, entry.subject, entry.message],
        )?;
        Ok(())
    })
}

/// The journal, newest first, at most `limit` entries.
pub fn entries(store: &Store, limit: Option<usize>) -> Result<Vec<Entry>> {
    with_journal(store, |conn| {
        let mut stmt = conn.prepare(
            "SELECT time, actor, action, outcome, subject, message FROM audit_journal ORDER BY id DESC LIMIT ?1",
        )?;
        let limit = limit.map(|n| n as i64).unwrap_or(-1);
        let rows = stmt.query_map([limit], |r| {
            Ok(Entry {
                time: r.get(0)?,
                actor: r.get(1)?,
                action: r.get(2)?,
                outcome: r.get(3)?,
                subject: r.get(4)?,
                message: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    })
}
