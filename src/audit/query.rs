//! The questions the audit answers, as SQL over the mirror.

use super::event::Event;
use anyhow::Result;
use rusqlite::types::Value;
use rusqlite::{params, Connection, Row};
use serde::Serialize;

/// `git okr audit` filters; all optional, combined with AND.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub kr: Option<String>,
    pub objective: Option<String>,
    /// An actor as recorded (`alice@example.com`, `agent:NAME`) or an agent's bare name.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    pub limit: Option<usize>,
    /// Fill `Event::message` with the whole commit message instead of its first line.
    pub full_messages: bool,
}

const EVENT_COLUMNS: &str =
    "e.commit_id, e.parent, e.time, e.actor, e.action, e.objective, e.kr, e.proposal, e.plan, e.run, e.from_status, e.to_status, e.value, e.metric";

/// The message column: the whole commit message, or only its first line (cheaper: the
/// whole messages live in their own table).
fn message_column(full: bool) -> &'static str {
    if full {
        "CASE WHEN e.derived THEN e.summary ELSE (SELECT m.message FROM audit_messages m WHERE m.seq = e.seq) END"
    } else {
        "e.summary"
    }
}

fn event_of(r: &Row<'_>) -> rusqlite::Result<Event> {
    let split = |s: Option<String>| -> Vec<String> {
        s.map(|s| s.split(", ").map(str::to_string).collect())
            .unwrap_or_default()
    };
    let objective: Option<String> = r.get(5)?;
    let kr: Option<String> = r.get(6)?;
    Ok(Event {
        commit: r.get(0)?,
        parent: r.get(1)?,
        time: r.get(2)?,
        actor: r.get(3)?,
        action: r.get(4)?,
        objectives: split(objective.clone()),
        krs: split(kr.clone()),
        objective,
        kr,
        proposal: r.get(7)?,
        plan: r.get(8)?,
        run: r.get(9)?,
        from: r.get(10)?,
        to: r.get(11)?,
        value: r.get(12)?,
        metric: r.get(13)?,
        message: r.get(14)?,
    })
}

/// Matching events, newest commit first; a commit's own action event before its status changes.
pub fn events(conn: &Connection, f: &Filter) -> Result<Vec<Event>> {
    // With --kr/--objective the refs index drives the query (already in display order);
    // otherwise the events' own indexes do.
    let driver = match (&f.kr, &f.objective) {
        (Some(id), _) => Some(("kr", id)),
        (None, Some(id)) => Some(("objective", id)),
        (None, None) => None,
    };
    let mut args: Vec<Value> = Vec::new();
    let (mut sql, order) = match driver {
        Some((kind, id)) => {
            args.push(kind.to_string().into());
            args.push(id.clone().into());
            (
                format!("SELECT {EVENT_COLUMNS}, {} FROM audit_event_refs r JOIN audit_events e ON e.id = r.event WHERE r.kind = ?1 AND r.ref = ?2", message_column(f.full_messages)),
                " ORDER BY r.seq DESC, r.event ASC",
            )
        }
        None => (
            format!(
                "SELECT {EVENT_COLUMNS}, {} FROM audit_events e WHERE 1 = 1",
                message_column(f.full_messages)
            ),
            " ORDER BY e.seq DESC, e.id ASC",
        ),
    };
    let mut arg = |sql: &mut String, clause: &str, v: Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let (Some(_), Some(o)) = (&f.kr, &f.objective) {
        arg(&mut sql, " AND e.id IN (SELECT event FROM audit_event_refs WHERE kind = 'objective' AND ref = ?)", o.clone().into());
    }
    if let Some(a) = &f.actor {
        let agent = if a.contains(':') || a.contains('@') {
            a.clone()
        } else {
            format!("agent:{a}")
        };
        arg(&mut sql, " AND e.actor IN (?", a.clone().into());
        arg(&mut sql, ", ?)", agent.into());
    }
    if let Some(a) = &f.action {
        arg(&mut sql, " AND e.action = ?", a.clone().into());
    }
    if let Some(t) = f.since {
        arg(&mut sql, " AND e.time >= ?", t.into());
    }
    if let Some(t) = f.until {
        arg(&mut sql, " AND e.time < ?", t.into());
    }
    sql.push_str(order);
    if let Some(n) = f.limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), event_of)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every action recorded in the mirror, sorted.
pub fn recorded_actions(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT action FROM audit_events ORDER BY action")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Where a point of a KR's history comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HistorySource {
    /// A snapshot that measured the KR.
    Snapshot,
    /// A status change recorded without a snapshot.
    StatusChange,
    /// A regression recorded without a snapshot.
    Regression,
    /// An owner's check-in (`git okr kr checkin`): confidence, note, maybe a value.
    Checkin,
}

impl HistorySource {
    pub fn as_str(self) -> &'static str {
        match self {
            HistorySource::Snapshot => "snapshot",
            HistorySource::StatusChange => "status-change",
            HistorySource::Regression => "regression",
            HistorySource::Checkin => "checkin",
        }
    }
}

/// One point of a KR's history: a snapshot that measured it, or a status change
/// or regression recorded without a snapshot. A status change made by the same
/// commit as a snapshot is folded into that snapshot's point (`from`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    pub commit: String,
    pub time: i64,
    pub source: HistorySource,
    pub path: Option<String>,
    pub as_of: Option<String>,
    pub value: Option<f64>,
    pub status: Option<String>,
    /// The status before, when it changed at this point.
    pub from: Option<String>,
    pub score: Option<f64>,
    pub regression: bool,
    /// A check-in's confidence (0-1) and note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    seq: i64,
}

/// seq, commit, time, action, value, from status, to status of one status event.
type StatusEventRow = (
    i64,
    String,
    i64,
    String,
    Option<f64>,
    Option<String>,
    Option<String>,
);

/// The history of one KR, oldest first.
pub fn kr_history(conn: &Connection, kr: &str) -> Result<Vec<HistoryPoint>> {
    let mut points: Vec<HistoryPoint> = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT seq, commit_id, time, path, as_of, value, status, score FROM audit_snapshot_values
         WHERE kr = ?1 AND kind = 'kr' ORDER BY seq, rowid",
    )?;
    for row in stmt.query_map(params![kr], |r| {
        Ok(HistoryPoint {
            seq: r.get(0)?,
            commit: r.get(1)?,
            time: r.get(2)?,
            source: HistorySource::Snapshot,
            path: r.get(3)?,
            as_of: r.get(4)?,
            value: r.get(5)?,
            status: r.get(6)?,
            from: None,
            score: r.get(7)?,
            regression: false,
            confidence: None,
            note: None,
        })
    })? {
        points.push(row?);
    }
    points.extend(checkin_points(conn, kr)?);
    points.sort_by_key(|p| p.seq);
    let mut stmt = conn.prepare(
        "SELECT e.seq, e.commit_id, e.time, e.action, e.value, e.from_status, e.to_status FROM audit_events e
         WHERE e.id IN (SELECT event FROM audit_event_refs WHERE kind = 'kr' AND ref = ?1)
           AND e.action IN ('status-change', 'regression')
         ORDER BY e.seq, e.id",
    )?;
    let events: Vec<StatusEventRow> = stmt
        .query_map(params![kr], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (seq, commit, time, action, value, from, to) in events {
        let regression = action == "regression";
        if let Some(p) = points
            .iter_mut()
            .rev()
            .take_while(|p| p.seq >= seq)
            .find(|p| {
                p.seq == seq && matches!(p.source, HistorySource::Snapshot | HistorySource::Checkin)
            })
        {
            if regression {
                p.regression = true;
            } else {
                p.from = from;
                if p.status.is_none() {
                    p.status = to;
                }
            }
            continue;
        }
        points.push(HistoryPoint {
            seq,
            commit,
            time,
            source: if regression {
                HistorySource::Regression
            } else {
                HistorySource::StatusChange
            },
            path: None,
            as_of: None,
            value,
            status: to,
            from,
            score: None,
            regression,
            confidence: None,
            note: None,
        });
    }
    points.sort_by_key(|p| p.seq);
    Ok(points)
}

/// The check-ins of `kr`: `checkin` commits naming it, their confidence and note read
/// from the `Okr-Checkin` and `Okr-Note` trailers (`Okr-Checkin: KR-1.1 confidence 0.6`).
fn checkin_points(conn: &Connection, kr: &str) -> Result<Vec<HistoryPoint>> {
    let mut stmt = conn.prepare(
        "SELECT e.seq, e.commit_id, e.time, e.value, m.message FROM audit_events e
         JOIN audit_messages m ON m.seq = e.seq
         WHERE e.id IN (SELECT event FROM audit_event_refs WHERE kind = 'kr' AND ref = ?1)
           AND e.action = 'checkin' AND e.derived = 0
         ORDER BY e.seq, e.id",
    )?;
    let rows: Vec<(i64, String, i64, Option<f64>, String)> = stmt
        .query_map(params![kr], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut points = Vec::new();
    for (seq, commit, time, value, message) in rows {
        let trailers = crate::store::parse_trailers(&message);
        let confidence = trailers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Okr-Checkin"))
            .find_map(|(_, v)| {
                let mut words = v.split_whitespace();
                (words.next() == Some(kr) && words.next() == Some("confidence"))
                    .then(|| words.next().and_then(|c| c.parse::<f64>().ok()))
                    .flatten()
            });
        let note = trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Okr-Note"))
            .map(|(_, v)| v.clone());
        points.push(HistoryPoint {
            seq,
            commit,
            time,
            source: HistorySource::Checkin,
            path: None,
            as_of: None,
            value,
            status: None,
            from: None,
            score: None,
            regression: false,
            confidence,
            note,
        });
    }
    Ok(points)
}

/// Whether the mirror knows anything about `id` as a KR (events or snapshot values).
pub fn kr_is_recorded(conn: &Connection, kr: &str) -> Result<bool> {
    let found: i64 = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM audit_event_refs WHERE kind = 'kr' AND ref = ?1)
             OR EXISTS (SELECT 1 FROM audit_snapshot_values WHERE kr = ?1)",
        params![kr],
        |r| r.get(0),
    )?;
    Ok(found != 0)
}

/// Whether the mirror has events about objective `id`.
pub fn objective_is_recorded(conn: &Connection, id: &str) -> Result<bool> {
    let found: i64 = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM audit_event_refs WHERE kind = 'objective' AND ref = ?1)",
        params![id],
        |r| r.get(0),
    )?;
    Ok(found != 0)
}
