//! The local journal: what happened in this clone without leaving a commit on the state
//! ref: jobs the daemon started, finished, failed or skipped (and why), the daemon starting
//! and stopping, commands and proposals refused. It lives in the clone's SQLite file beside
//! the audit mirror, in its own table: the mirror can be rebuilt from the ref, the journal
//! cannot, so a new audit schema never drops it. It is never shared.
//!
//! Any module may write to it: `journal::record(okr_dir, &Entry::now("daemon",
//! Kind::JobSkipped, Some("3fa94c2e"), "it starts coding agents"))`.

use crate::db::{self, meta_get, meta_set};
use anyhow::Result;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, TransactionBehavior};
use serde::Serialize;
use std::path::Path;

/// meta key: the schema version of the journal table.
const SCHEMA_KEY: &str = "journal.schema";
const SCHEMA_VERSION: &str = "1";
/// The newest entries kept; older ones are dropped now and then.
const KEEP: i64 = 20_000;

const CREATE: &str = r#"
CREATE TABLE IF NOT EXISTS journal (
    id      INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,   -- Unix milliseconds
    source  TEXT NOT NULL,      -- who wrote it: daemon, proposal, apply, ...
    kind    TEXT NOT NULL,      -- see Kind
    subject TEXT,               -- what it is about: a job id, a proposal id
    detail  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_by_source ON journal(source, id);
"#;

/// What happened. Stored by name, so readers of an older build still show new kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    JobStarted,
    JobFinished,
    JobFailed,
    /// Not run, with the reason (agents not allowed here, arguments refused, …).
    JobSkipped,
    DaemonStarted,
    DaemonStopped,
    /// A command, job or proposal refused by a guardrail or permission.
    Refused,
    /// Something that failed without a commit to show for it (an apply, a hook).
    Failed,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::JobStarted => "job-started",
            Kind::JobFinished => "job-finished",
            Kind::JobFailed => "job-failed",
            Kind::JobSkipped => "job-skipped",
            Kind::DaemonStarted => "daemon-started",
            Kind::DaemonStopped => "daemon-stopped",
            Kind::Refused => "refused",
            Kind::Failed => "failed",
        }
    }
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub time: DateTime<Utc>,
    pub source: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub detail: String,
}

impl Entry {
    /// An entry stamped now.
    pub fn now(
        source: &str,
        kind: Kind,
        subject: Option<&str>,
        detail: impl Into<String>,
    ) -> Entry {
        Entry {
            time: Utc::now(),
            source: source.to_string(),
            kind: kind.as_str().to_string(),
            subject: subject.map(str::to_string),
            detail: detail.into(),
        }
    }
}

/// Which entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub source: Option<String>,
    pub subject: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<usize>,
}

/// An open journal, for a writer that records often (the daemon).
pub struct Journal {
    conn: Connection,
}

impl Journal {
    pub fn open(okr_dir: &Path) -> Result<Journal> {
        let mut conn = db::open(okr_dir)?;
        ensure(&mut conn)?;
        Ok(Journal { conn })
    }

    pub fn record(&self, entry: &Entry) -> Result<()> {
        insert(&self.conn, entry)
    }

    pub fn read(&self, query: &Query) -> Result<Vec<Entry>> {
        select(&self.conn, query)
    }
}

/// Append `entry` to the journal of the clone whose `.git/okr` is `okr_dir`.
pub fn record(okr_dir: &Path, entry: &Entry) -> Result<()> {
    db::with_db(okr_dir, |conn| {
        ensure(conn)?;
        insert(conn, entry)
    })
}

/// The entries `query` asks for, newest first.
pub fn read(okr_dir: &Path, query: &Query) -> Result<Vec<Entry>> {
    db::with_db(okr_dir, |conn| {
        ensure(conn)?;
        select(conn, query)
    })
}

fn ensure(conn: &mut Connection) -> Result<()> {
    if meta_get(conn, SCHEMA_KEY)?.as_deref() == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if meta_get(&tx, SCHEMA_KEY)?.as_deref() != Some(SCHEMA_VERSION) {
        tx.execute_batch(CREATE)?;
        meta_set(&tx, SCHEMA_KEY, SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

fn insert(conn: &Connection, e: &Entry) -> Result<()> {
    // One line each: the journal is read as lines.
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    conn.execute(
        "INSERT INTO journal(time_ms, source, kind, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            e.time.timestamp_millis(),
            one_line(&e.source),
            one_line(&e.kind),
            e.subject.as_deref().map(one_line),
            one_line(&e.detail)
        ],
    )?;
    let id = conn.last_insert_rowid();
    if id % 1024 == 0 {
        conn.execute("DELETE FROM journal WHERE id <= ?1", [id - KEEP])?;
    }
    Ok(())
}

fn select(conn: &Connection, q: &Query) -> Result<Vec<Entry>> {
    let mut sql =
        String::from("SELECT time_ms, source, kind, subject, detail FROM journal WHERE 1=1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(s) = &q.source {
        arg(&mut sql, " AND source = ?", s.clone().into());
    }
    if let Some(s) = &q.subject {
        arg(&mut sql, " AND subject = ?", s.clone().into());
    }
    if let Some(t) = q.since {
        arg(&mut sql, " AND time_ms >= ?", t.timestamp_millis().into());
    }
    if let Some(t) = q.until {
        arg(&mut sql, " AND time_ms <= ?", t.timestamp_millis().into());
    }
    sql.push_str(" ORDER BY id DESC");
    if let Some(n) = q.limit {
        arg(&mut sql, " LIMIT ?", (n as i64).into());
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok(Entry {
            time: Utc
                .timestamp_millis_opt(r.get(0)?)
                .single()
                .unwrap_or_default(),
            source: r.get(1)?,
            kind: r.get(2)?,
            subject: r.get(3)?,
            detail: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_newest_first_filtered_and_survive_an_audit_schema_change() {
        let dir = tempfile::tempdir().unwrap();
        record(
            dir.path(),
            &Entry::now("daemon", Kind::DaemonStarted, None, "pid 1"),
        )
        .unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.record(&Entry::now(
            "daemon",
            Kind::JobSkipped,
            Some("3fa94c2e"),
            "it starts coding agents\nsecond line",
        ))
        .unwrap();
        record(
            dir.path(),
            &Entry::now("proposal", Kind::Refused, Some("p-1"), "not an approver"),
        )
        .unwrap();
        let all = read(dir.path(), &Query::default()).unwrap();
        let kinds: Vec<&str> = all.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["refused", "job-skipped", "daemon-started"]);
        assert_eq!(all[1].detail, "it starts coding agents second line");
        let daemon = read(
            dir.path(),
            &Query {
                source: Some("daemon".into()),
                limit: Some(1),
                ..Query::default()
            },
        )
        .unwrap();
        assert_eq!(daemon.len(), 1);
        assert_eq!(daemon[0].subject.as_deref(), Some("3fa94c2e"));
        // The audit mirror's tables are dropped when their schema changes; the journal stays.
        db::with_db(dir.path(), |conn| {
            crate::audit::schema::ensure(conn)?;
            meta_set(conn, crate::audit::schema::SCHEMA_KEY, "0")?;
            crate::audit::schema::ensure(conn)
        })
        .unwrap();
        assert_eq!(read(dir.path(), &Query::default()).unwrap().len(), 3);
    }
}
