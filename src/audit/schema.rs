//! The audit's tables in the shared SQLite file. Bump `SCHEMA_VERSION` whenever
//! they change: a file written by another version is rebuilt from the ref.

use crate::db::{meta_get, meta_set};
use anyhow::Result;
use rusqlite::{Connection, TransactionBehavior};

pub const SCHEMA_VERSION: &str = "3";
/// meta key: the schema version of the audit tables.
pub const SCHEMA_KEY: &str = "audit.schema";
/// meta key: the commit of refs/okr/state the tables mirror ("" for no ref).
pub const TIP_KEY: &str = "audit.tip";

const TABLES: &[&str] = &[
    "audit_events",
    "audit_event_refs",
    "audit_messages",
    "audit_snapshot_values",
];

const CREATE: &str = r#"
CREATE TABLE IF NOT EXISTS audit_events (
    id          INTEGER PRIMARY KEY,  -- insertion order: commits parents-first, then events of a commit
    seq         INTEGER NOT NULL,     -- the commit's position in the mirror, parents before children
    commit_id   TEXT NOT NULL,
    parent      TEXT,                 -- first parent
    time        INTEGER NOT NULL,     -- committer time, Unix seconds
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    objective   TEXT,
    kr          TEXT,
    proposal    TEXT,
    plan        TEXT,
    run         TEXT,
    from_status TEXT,
    to_status   TEXT,
    value       REAL,
    metric      TEXT,
    -- The first line of the message (a derived event's trailer text); the whole
    -- message of an action event lives in audit_messages, keeping these rows small.
    summary     TEXT NOT NULL,
    derived     INTEGER NOT NULL      -- 1 for status-change / regression events
);
CREATE TABLE IF NOT EXISTS audit_messages (
    seq     INTEGER PRIMARY KEY,
    message TEXT NOT NULL
);
-- Every index ends in the rowid (ascending), so `seq DESC` indexes give the display
-- order (newest commit first, a commit's events in order) without sorting.
CREATE INDEX IF NOT EXISTS audit_events_by_seq ON audit_events(seq DESC);
CREATE INDEX IF NOT EXISTS audit_events_by_action ON audit_events(action, seq DESC);
CREATE INDEX IF NOT EXISTS audit_events_by_actor ON audit_events(actor, seq DESC);
CREATE INDEX IF NOT EXISTS audit_events_by_time ON audit_events(time);
-- Every KR / objective an event is about, one row each (`--kr`, `--objective`).
CREATE TABLE IF NOT EXISTS audit_event_refs (
    event INTEGER NOT NULL,
    seq   INTEGER NOT NULL,           -- the event's seq, so the index yields display order
    kind  TEXT NOT NULL,              -- 'kr' | 'objective'
    ref   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_event_refs_by_ref ON audit_event_refs(kind, ref, seq DESC, event);
-- The values of every snapshot file a commit wrote (metrics/snapshots/*.json).
CREATE TABLE IF NOT EXISTS audit_snapshot_values (
    seq       INTEGER NOT NULL,
    commit_id TEXT NOT NULL,
    time      INTEGER NOT NULL,
    path      TEXT NOT NULL,
    as_of     TEXT NOT NULL,
    kind      TEXT NOT NULL,          -- 'metric' (a point) | 'kr' (a key_results entry)
    metric    TEXT,
    kr        TEXT,
    value     REAL,
    status    TEXT,
    score     REAL
);
CREATE INDEX IF NOT EXISTS audit_snapshot_values_by_kr ON audit_snapshot_values(kr, seq) WHERE kr IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_snapshot_values_by_metric ON audit_snapshot_values(metric, seq);
"#;

/// Make sure the audit tables exist in this version; tables of another version are dropped
/// (and the mirrored tip forgotten, so the next follow rebuilds).
pub fn ensure(conn: &mut Connection) -> Result<()> {
    if meta_get(conn, SCHEMA_KEY)?.as_deref() == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if meta_get(&tx, SCHEMA_KEY)?.as_deref() != Some(SCHEMA_VERSION) {
        for table in TABLES {
            tx.execute_batch(&format!("DROP TABLE IF EXISTS {table};"))?;
        }
        tx.execute_batch(CREATE)?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [TIP_KEY])?;
        meta_set(&tx, SCHEMA_KEY, SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

/// Empty every audit table (inside the caller's transaction).
pub fn clear(conn: &Connection) -> Result<()> {
    for table in TABLES {
        conn.execute_batch(&format!("DELETE FROM {table};"))?;
    }
    Ok(())
}
