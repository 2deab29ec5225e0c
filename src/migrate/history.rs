//! OKRchestra's `audit/audit.sqlite` (table `events`: id, ts, actor, type,
//! payload_json) as commits for the state ref's history: one per event that finished
//! something (a `<command>_started` whose `_finished` follows is folded into it),
//! with the event's time and actor, its action mapped to ours, and its payload in
//! the message body. The database is someone else's file: opened read-only, every
//! field checked, and any error names the event's id.

use crate::audit::okrchestra::{
    action_for_event, split_event, ACTION_FAILED, ACTION_STATUS_UPDATE,
};
use crate::model::fmt_num;
use crate::store::{CommitMessage, Stamp};
use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, NaiveDateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const AUDIT_DB: &str = "audit/audit.sqlite";

/// Longest payload kept in a commit body; the rest is cut with a note.
const MAX_BODY: usize = 8 * 1024;
/// Longest id, actor or trailer value taken from an event.
const MAX_FIELD: usize = 200;
/// An audit log bigger than this is refused rather than turned into that many commits.
const MAX_EVENTS: usize = 200_000;

/// One OKRchestra event, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub id: i64,
    pub time: i64,
    pub actor: String,
    pub kind: String,
    pub payload: serde_json::Map<String, Value>,
}

/// A commit to write for one event.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryCommit {
    pub event_id: i64,
    pub kind: String,
    pub message: CommitMessage,
    pub stamp: Stamp,
    /// A snapshot file of the workspace the event wrote (`metrics/snapshots/DATE.json`),
    /// committed with it so `kr history` sees the values from before the switch.
    pub snapshot: Option<String>,
}

/// Read every event of the database at `path`, oldest first.
pub fn read_events(path: &Path) -> Result<Vec<RawEvent>> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("{AUDIT_DB}: cannot open"))?;
    conn.pragma_update(None, "query_only", true)?;
    let mut stmt = conn
        .prepare("SELECT id, ts, actor, type, payload_json FROM events ORDER BY id")
        .map_err(|e| anyhow!("{AUDIT_DB}: not an OKRchestra audit log (table events: {e})"))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| anyhow!("{AUDIT_DB}: {e}"))? {
        if out.len() >= MAX_EVENTS {
            bail!("{AUDIT_DB}: more than {MAX_EVENTS} events; refusing to import them all");
        }
        let id: i64 = row
            .get(0)
            .map_err(|e| anyhow!("{AUDIT_DB}: an event id is not a number: {e}"))?;
        let at = |what: &str| format!("{AUDIT_DB}: event {id}: {what}");
        let ts: SqlValue = row.get(1)?;
        let time = parse_ts(&ts).map_err(|e| anyhow!("{}", at(&format!("ts: {e}"))))?;
        let actor = text(row.get(2)?).ok_or_else(|| anyhow!("{}", at("actor is not text")))?;
        let kind = text(row.get(3)?).ok_or_else(|| anyhow!("{}", at("type is not text")))?;
        let payload = text(row.get(4)?).unwrap_or_default();
        let actor = clean_field(&actor).ok_or_else(|| anyhow!("{}", at("actor is empty")))?;
        if kind.is_empty()
            || kind.len() > 64
            || !kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
        {
            bail!("{}", at(&format!("type {kind:?} is not an event name")));
        }
        let payload = match payload.trim() {
            "" | "null" => serde_json::Map::new(),
            text => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => bail!("{}", at("payload_json is not a JSON object")),
                Err(e) => bail!("{}", at(&format!("payload_json: {e}"))),
            },
        };
        out.push(RawEvent {
            id,
            time,
            actor,
            kind,
            payload,
        });
    }
    Ok(out)
}

fn text(v: SqlValue) -> Option<String> {
    match v {
        SqlValue::Text(s) => Some(s),
        _ => None,
    }
}

/// A value fit for a trailer: one line, no control characters, bounded.
fn clean_field(s: &str) -> Option<String> {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let cleaned: String = cleaned.chars().take(MAX_FIELD).collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Times as OKRchestra's SQLite driver stores them (`2026-01-17 22:40:52.689887 +0000 UTC`),
/// RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` (UTC), or Unix seconds.
pub fn parse_ts(v: &SqlValue) -> Result<i64> {
    match v {
        SqlValue::Integer(n) => Ok(*n),
        SqlValue::Real(f) if f.is_finite() => Ok(*f as i64),
        SqlValue::Text(s) => parse_time_text(s),
        _ => bail!("not a time"),
    }
}

fn parse_time_text(s: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    // Go's time.Time.String(): a zone abbreviation may follow the numeric offset.
    let mut words: Vec<&str> = s.split_whitespace().collect();
    if words.len() == 4 && words[3].chars().all(|c| c.is_ascii_alphabetic()) {
        words.pop();
    }
    let joined = words.join(" ");
    for format in [
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(&joined, format) {
            return Ok(t.timestamp());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&joined, format) {
            return Ok(t.and_utc().timestamp());
        }
    }
    bail!("{s:?} is not a time")
}

/// What the import knows besides the events: how OKRchestra's proposal folders map to
/// our proposal ids, and which snapshot files exist.
pub struct Known<'a> {
    pub proposal_ids: &'a BTreeMap<String, String>,
    pub snapshots: &'a dyn Fn(&str) -> bool,
}

/// The commits for `events`, oldest first.
pub fn commits(events: &[RawEvent], cx: &Known<'_>) -> Vec<HistoryCommit> {
    let folded = folded_starts(events);
    events
        .iter()
        .filter(|e| !folded.contains_key(&e.id))
        .flat_map(|e| {
            let commit = commit_of(e, cx);
            // OKRchestra's `okr apply --i-understand` was a person approving and applying
            // at once: recorded as both, an approve commit before the apply.
            let approve = is_successful_apply(&commit).then(|| approval_of(&commit));
            approve.into_iter().chain(std::iter::once(commit))
        })
        .collect()
}

fn is_successful_apply(c: &HistoryCommit) -> bool {
    c.kind == "okr_apply_finished"
        && c.message
            .trailers
            .iter()
            .any(|(k, v)| k == "Okr-Action" && v == "apply")
}

fn approval_of(apply: &HistoryCommit) -> HistoryCommit {
    let mut message = apply.message.clone();
    message.subject = format!(
        "okrchestra: {} (imported; the approval it implied)",
        apply.kind
    );
    for (k, v) in message.trailers.iter_mut() {
        if k == "Okr-Action" {
            *v = "approve".into();
        }
    }
    HistoryCommit {
        message,
        ..apply.clone()
    }
}

/// The ids of `<command>_started` events answered by a later `_finished` of the same
/// command and actor: the finish tells everything the start did, and more.
fn folded_starts(events: &[RawEvent]) -> HashMap<i64, ()> {
    let mut open: HashMap<(String, String), Vec<i64>> = HashMap::new();
    let mut folded = HashMap::new();
    for e in events {
        let Some((base, phase)) = split_event(&e.kind) else {
            continue;
        };
        let key = (base.to_string(), e.actor.clone());
        match phase {
            "started" => open.entry(key).or_default().push(e.id),
            _ => {
                if let Some(id) = open.get_mut(&key).and_then(|ids| ids.pop()) {
                    folded.insert(id, ());
                }
            }
        }
    }
    folded
}

fn field(e: &RawEvent, name: &str) -> Option<String> {
    match e.payload.get(name)? {
        Value::String(s) => clean_field(s),
        Value::Number(n) => clean_field(&n.to_string()),
        _ => None,
    }
}

/// The last path component of a payload path (OKRchestra logs absolute paths).
fn base_name(path: &str) -> Option<&str> {
    path.trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty())
}

fn commit_of(e: &RawEvent, cx: &Known<'_>) -> HistoryCommit {
    let mapped = action_for_event(&e.kind).unwrap_or("okrchestra-event");
    let error = field(e, "error").or_else(|| field(e, "result_error"));
    let action = match (&error, e.kind.as_str()) {
        (Some(_), _) | (None, "job_failed") => ACTION_FAILED,
        (None, "kr_status_auto_updated") => ACTION_STATUS_UPDATE,
        (None, _) => mapped,
    };
    // A proposal is made by an agent; OKRchestra logs the agent id as the actor.
    let actor = if e.kind.starts_with("okr_propose") && !e.actor.contains(':') {
        format!("agent:{}", e.actor)
    } else {
        e.actor.clone()
    };
    let mut message = CommitMessage::new(format!("okrchestra: {} (imported)", e.kind))
        .body(body_of(e))
        .trailer("Okr-Action", action)
        .trailer("Okr-Actor", &actor)
        .trailer(
            "Okr-Imported",
            format!("okrchestra audit event {} {}", e.id, e.kind),
        );
    if action == ACTION_FAILED {
        message = message.trailer("Okr-Failed", mapped);
        if let Some(err) = &error {
            message = message.trailer("Okr-Error", err);
        }
    }
    for (key, trailer) in [
        ("kr_id", "Okr-KR"),
        ("objective_id", "Okr-Objective"),
        ("plan_id", "Okr-Plan"),
        ("run_id", "Okr-Run"),
        ("metric_key", "Okr-Metric"),
    ] {
        if let Some(v) = field(e, key) {
            message = message.trailer(trailer, v);
        }
    }
    let proposal_dir = field(e, "proposal_dir").or_else(|| field(e, "proposal"));
    if let Some(id) = proposal_dir
        .as_deref()
        .and_then(base_name)
        .and_then(|name| cx.proposal_ids.get(name))
    {
        message = message.trailer("Okr-Proposal", id);
    }
    if e.kind == "kr_status_auto_updated" {
        if let (Some(kr), Some(to)) = (field(e, "kr_id"), field(e, "new_status")) {
            let from = field(e, "old_status").unwrap_or_else(|| "unknown".into());
            let num = |k: &str| e.payload.get(k).and_then(Value::as_f64).map(fmt_num);
            let values = match (num("current"), num("target")) {
                (Some(c), Some(t)) => format!(" ({c}/{t})"),
                _ => String::new(),
            };
            message = message.trailer("Okr-Status", format!("{kr} {from} -> {to}{values}"));
        }
    }
    let snapshot = (e.kind == "kr_measure_finished" && error.is_none())
        .then(|| field(e, "snapshot_path"))
        .flatten()
        .and_then(|p| base_name(&p).map(str::to_string))
        .map(|name| format!("{}/{name}", crate::model::snapshot::SNAPSHOT_DIR))
        .filter(|path| (cx.snapshots)(path));
    if let Some(path) = &snapshot {
        message = message.trailer("Okr-Snapshot", path);
    }
    let name: String = actor.chars().filter(|c| !matches!(c, '<' | '>')).collect();
    HistoryCommit {
        event_id: e.id,
        kind: e.kind.clone(),
        message,
        stamp: Stamp {
            name,
            email: "okrchestra".into(),
            time: e.time,
        },
        snapshot,
    }
}

/// The payload, pretty, cut to `MAX_BODY`, with a line saying when it happened.
fn body_of(e: &RawEvent) -> String {
    let when = DateTime::<Utc>::from_timestamp(e.time, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let mut payload =
        serde_json::to_string_pretty(&Value::Object(e.payload.clone())).unwrap_or_default();
    if payload.len() > MAX_BODY {
        let mut cut = MAX_BODY;
        while !payload.is_char_boundary(cut) {
            cut -= 1;
        }
        payload.truncate(cut);
        payload.push_str("\n… (payload cut)");
    }
    // A blank line inside the body would let a payload line pass for a trailer block.
    let payload = payload.replace("\n\n", "\n");
    format!(
        "OKRchestra event {} by {} at {when}\n{payload}",
        e.kind, e.actor
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, kind: &str, actor: &str, payload: Value) -> RawEvent {
        RawEvent {
            id,
            time: 1_768_689_652 + id,
            actor: actor.into(),
            kind: kind.into(),
            payload: payload.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn parses_okrchestras_times() {
        let t = |s: &str| parse_ts(&SqlValue::Text(s.into())).unwrap();
        assert_eq!(t("2026-01-17 22:40:52.689887 +0000 UTC"), 1_768_689_652);
        assert_eq!(t("2026-01-17T22:40:52Z"), 1_768_689_652);
        assert_eq!(t("2026-01-17 23:40:52+01:00"), 1_768_689_652);
        assert_eq!(t("2026-01-17 22:40:52"), 1_768_689_652);
        assert_eq!(parse_ts(&SqlValue::Integer(5)).unwrap(), 5);
        assert!(parse_ts(&SqlValue::Text("yesterday".into())).is_err());
        assert!(parse_ts(&SqlValue::Null).is_err());
    }

    #[test]
    fn folds_starts_maps_actions_and_keeps_failures_apart() {
        let ids = BTreeMap::from([(
            "20260117-224052-codex".to_string(),
            "P-20260117-abc123".to_string(),
        )]);
        let cx = Known {
            proposal_ids: &ids,
            snapshots: &|p| p == "metrics/snapshots/2026-01-17.json",
        };
        let events = vec![
            event(1, "kr_measure_started", "cli", serde_json::json!({})),
            event(
                2,
                "kr_measure_finished",
                "cli",
                serde_json::json!({"snapshot_path": "/w/metrics/snapshots/2026-01-17.json"}),
            ),
            event(
                3,
                "okr_propose_finished",
                "codex",
                serde_json::json!({"proposal_dir": "/w/artifacts/proposals/20260117-224052-codex"}),
            ),
            event(
                4,
                "okr_apply_finished",
                "cli",
                serde_json::json!({"proposal": "/w/x", "error": "boom\nline"}),
            ),
            event(
                7,
                "okr_apply_finished",
                "alice",
                serde_json::json!({"proposal": "/w/artifacts/proposals/20260117-224052-codex"}),
            ),
            event(
                5,
                "kr_status_auto_updated",
                "okr",
                serde_json::json!({"kr_id": "KR-1.1", "old_status": "not_started", "new_status": "achieved", "current": 102, "target": 100}),
            ),
            event(6, "plan_run_started", "cli", serde_json::json!({})),
        ];
        let c = commits(&events, &cx);
        let kinds: Vec<&str> = c.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "kr_measure_finished",
                "okr_propose_finished",
                "okr_apply_finished",
                "okr_apply_finished",
                "okr_apply_finished",
                "kr_status_auto_updated",
                "plan_run_started"
            ]
        );
        let text = |i: usize| c[i].message.render();
        assert!(text(0).contains("Okr-Action: measure\n"), "{}", text(0));
        assert_eq!(
            c[0].snapshot.as_deref(),
            Some("metrics/snapshots/2026-01-17.json")
        );
        assert_eq!(c[0].stamp.time, 1_768_689_654);
        assert!(text(1).contains("Okr-Actor: agent:codex\n"));
        assert!(text(1).contains("Okr-Proposal: P-20260117-abc123\n"));
        assert!(
            text(2).contains("Okr-Action: failed\nOkr-Actor: cli\n"),
            "{}",
            text(2)
        );
        assert!(text(2).contains("Okr-Error: boom line\n"));
        assert!(
            text(3).contains("Okr-Action: approve\nOkr-Actor: alice\n"),
            "{}",
            text(3)
        );
        assert!(text(4).contains("Okr-Action: apply\nOkr-Actor: alice\n"));
        assert!(text(4).contains("Okr-Proposal: P-20260117-abc123\n"));
        assert!(text(5).contains("Okr-Status: KR-1.1 not_started -> achieved (102/100)\n"));
        assert!(
            text(6).contains("Okr-Action: plan-run\n"),
            "an unanswered start is kept"
        );
    }
}
