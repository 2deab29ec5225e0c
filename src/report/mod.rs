//! `git okr report`: everything the HTML page shows, gathered from the state ref.
//!
//! Status changes come from two places: the history's status events (the `Okr-Status`
//! trailers, as the audit mirror holds them; the caller passes them in), which include
//! the change the very first measurement made, and consecutive snapshots' `key_results`
//! statuses, which also show changes people made by editing a file (`blocked`,
//! `at_risk`) and survive a squashed ref. The table lists the events; the charts mark both.

pub mod chart;
pub mod forecast;
pub mod html;

use crate::model::checkin::Checkin;
use crate::model::cycles::Cycle;
use crate::model::grades::Grades;
use crate::model::okrs::OkrSet;
use crate::model::snapshot::{KrPoint, MetricSnapshot, SNAPSHOT_DIR};
use crate::score::{by_scope, ScopeScore};
use crate::store::Snapshot;
use anyhow::{anyhow, Result};
use chrono::NaiveDate;
use forecast::{forecast, Forecast};
use std::collections::{BTreeMap, HashMap};

/// One measurement of a KR.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub date: NaiveDate,
    pub value: f64,
    /// The KR's status in that snapshot (absent in OKRchestra's own snapshots).
    pub status: Option<String>,
    /// Set when the status differs from the previous snapshot's.
    pub changed_from: Option<String>,
}

/// A KR's history and forecast.
#[derive(Debug, Clone, Default)]
pub struct KrHistory {
    pub points: Vec<SeriesPoint>,
    pub forecast: Option<Forecast>,
}

/// A proposal or plan run, read generically so any version of those files lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub id: String,
    pub status: String,
    pub reason: String,
    pub time: String,
    pub path: String,
    /// Who proposed it.
    pub who: String,
    /// What it changes, one line per change (`set KR-1.1.target = 120`).
    pub changes: Vec<String>,
}

/// What a team lead reads beside a KR's score.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KrFacts {
    /// The KR's `owner_id`, else its objective's.
    pub owner: Option<String>,
    pub confidence: Option<f64>,
    /// Every check-in's confidence, oldest first (the trend beside the value).
    pub confidences: Vec<f64>,
    /// The KR's `unit`, else the unit its metric was measured in.
    pub unit: Option<String>,
    /// The date of the latest measurement with a value.
    pub last_updated: Option<NaiveDate>,
    /// Latest value minus the value 7 days before it (the latest measurement on or
    /// before that day); `None` without a measurement that old.
    pub change_7d: Option<f64>,
    /// The KR improves by growing (target above baseline).
    pub increasing: bool,
}

/// A status change as the history recorded it (an `Okr-Status` trailer).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// Seconds since the Unix epoch (the commit's time).
    pub time: i64,
    pub kr: String,
    pub from: String,
    pub to: String,
    pub value: Option<f64>,
    pub actor: String,
}

/// A plan run as the report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run_id: String,
    pub plan_id: String,
    pub key_results: Vec<String>,
    pub status: String,
    pub started_at: String,
    pub passed: usize,
    pub failed: usize,
    pub failure: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub tip: Option<String>,
    pub generated_at: String,
    /// Dates of the first and last snapshot, and how many there are.
    pub snapshot_range: Option<(NaiveDate, NaiveDate)>,
    pub snapshot_count: usize,
    pub scopes: Vec<ScopeScore>,
    /// By KR id.
    pub krs: BTreeMap<String, KrHistory>,
    /// By KR id.
    pub facts: BTreeMap<String, KrFacts>,
    /// Newest first.
    pub status_changes: Vec<StatusChange>,
    pub proposals: Vec<Listed>,
    pub runs: Vec<RunRow>,
    /// The cycle shown (`None`: every cycle).
    pub cycle: Option<Cycle>,
    /// Check-ins on the KRs shown, newest first.
    pub checkins: Vec<Checkin>,
    /// Grades of the closed cycles shown.
    pub grades: Vec<Grades>,
}

/// The rhythm the report shows besides the measurements: the cycle in view, its
/// check-ins and grades.
#[derive(Debug, Clone, Default)]
pub struct Rhythm {
    pub cycle: Option<Cycle>,
    /// Every check-in, oldest first.
    pub checkins: Vec<Checkin>,
    pub grades: Vec<Grades>,
}

/// Everything the report shows, from one view of the state and the history's status
/// events (any order).
pub fn gather(
    snap: &Snapshot<'_>,
    set: &OkrSet,
    mut status_changes: Vec<StatusChange>,
    rhythm: Rhythm,
) -> Result<Report> {
    let files: Vec<(String, Vec<u8>)> = snap
        .read_dir_files(SNAPSHOT_DIR)?
        .into_iter()
        .filter(|(p, _)| p.ends_with(".json"))
        .collect();
    let snapshots = files
        .iter()
        .map(|(path, bytes)| parse_snapshot(path, bytes))
        .collect::<Result<Vec<_>>>()?;
    let values: BTreeMap<String, f64> = snapshots
        .last()
        .map(|(_, s)| s.points.iter().map(|p| (p.key.clone(), p.value)).collect())
        .unwrap_or_default();
    let mut krs = histories(set, &snapshots);
    mark_status_events(&mut krs, &status_changes);
    status_changes.sort_by(|a, b| b.time.cmp(&a.time).then(a.kr.cmp(&b.kr)));
    let mut facts = facts(set, &krs, snapshots.last().map(|(_, s)| s));
    for c in &rhythm.checkins {
        if let Some(f) = facts.get_mut(&c.kr_id) {
            f.confidence = Some(c.confidence);
            f.confidences.push(c.confidence);
        }
    }
    let mut scopes = by_scope(set, &values);
    crate::rhythm::annotate(&mut scopes, &crate::rhythm::by_kr(&rhythm.checkins));
    let mut checkins: Vec<Checkin> = rhythm
        .checkins
        .into_iter()
        .filter(|c| facts.contains_key(&c.kr_id))
        .collect();
    checkins.reverse();
    Ok(Report {
        tip: snap.tip().map(|t| t.to_string()),
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        snapshot_range: snapshots
            .first()
            .zip(snapshots.last())
            .map(|(a, b)| (a.0, b.0)),
        snapshot_count: snapshots.len(),
        scopes,
        krs,
        facts,
        status_changes,
        proposals: list_proposals(snap)?,
        runs: list_runs(snap)?,
        cycle: rhythm.cycle,
        checkins,
        grades: rhythm.grades,
    })
}

/// Mark the history's status events on the measured point of the same day, so the
/// first measurement's change shows on the chart too.
fn mark_status_events(krs: &mut BTreeMap<String, KrHistory>, events: &[StatusChange]) {
    for e in events {
        let Some(date) = chrono::DateTime::from_timestamp(e.time, 0).map(|t| t.date_naive()) else {
            continue;
        };
        let Some(h) = krs.get_mut(&e.kr) else {
            continue;
        };
        if let Some(p) = h.points.iter_mut().find(|p| p.date == date) {
            if p.changed_from.is_none() {
                p.changed_from = Some(e.from.clone());
                p.status = Some(e.to.clone());
            }
        }
    }
}

/// Owner, confidence, unit, last update and 7-day change of every KR.
fn facts(
    set: &OkrSet,
    krs: &BTreeMap<String, KrHistory>,
    latest: Option<&MetricSnapshot>,
) -> BTreeMap<String, KrFacts> {
    // Each point's unit by its value key, the first point of a key winning (as a search
    // from the top would find it): one pass, not one search of the snapshot per KR.
    let mut units: HashMap<String, Option<&str>> = HashMap::new();
    for p in latest.map(|s| s.points.as_slice()).unwrap_or_default() {
        units
            .entry(p.value_key())
            .or_insert_with(|| p.unit.as_deref());
    }
    let mut out = BTreeMap::new();
    for (_, objective) in set.objectives() {
        for kr in &objective.key_results {
            let points = krs
                .get(&kr.kr_id)
                .map(|h| h.points.as_slice())
                .unwrap_or_default();
            let last = points.last();
            let change_7d = last.and_then(|l| {
                let week_ago = l.date - chrono::Days::new(7);
                points
                    .iter()
                    .rev()
                    .find(|p| p.date <= week_ago)
                    .map(|p| l.value - p.value)
            });
            let measured_unit = units
                .get(&kr.value_key())
                .copied()
                .flatten()
                .map(String::from);
            out.insert(
                kr.kr_id.clone(),
                KrFacts {
                    owner: kr.owner_id.clone().or_else(|| objective.owner_id.clone()),
                    confidence: kr.confidence,
                    confidences: Vec::new(),
                    unit: kr
                        .unit
                        .clone()
                        .or(measured_unit)
                        .filter(|u| !u.trim().is_empty() && u != "count"),
                    last_updated: last.map(|p| p.date),
                    change_7d,
                    increasing: kr.is_increasing(),
                },
            );
        }
    }
    out
}

/// Forecasts for every KR with a due date, from only the snapshots a forecast needs
/// (cheap enough for `git okr status`).
pub fn recent_forecasts(snap: &Snapshot<'_>, set: &OkrSet) -> Result<Vec<(String, Forecast)>> {
    let paths = snapshot_paths(snap)?;
    let recent = &paths[paths.len().saturating_sub(forecast::RECENT_POINTS)..];
    let snapshots = read_snapshots(snap, recent)?;
    Ok(histories(set, &snapshots)
        .into_iter()
        .filter_map(|(kr, h)| h.forecast.map(|f| (kr, f)))
        .collect())
}

fn snapshot_paths(snap: &Snapshot<'_>) -> Result<Vec<String>> {
    // `list` is sorted and the names are dates, so this is oldest first.
    Ok(snap
        .list(SNAPSHOT_DIR)?
        .into_iter()
        .filter(|p| p.ends_with(".json"))
        .collect())
}

fn read_snapshots(
    snap: &Snapshot<'_>,
    paths: &[String],
) -> Result<Vec<(NaiveDate, MetricSnapshot)>> {
    paths
        .iter()
        .map(|path| parse_snapshot(path, &snap.read(path)?.unwrap_or_default()))
        .collect()
}

/// A snapshot and its date (`as_of`, else the file name).
fn parse_snapshot(path: &str, bytes: &[u8]) -> Result<(NaiveDate, MetricSnapshot)> {
    let parsed: MetricSnapshot =
        serde_json::from_slice(bytes).map_err(|e| anyhow!("{path}:{}: {e}", e.line()))?;
    let stem = file_stem(path);
    let date = NaiveDate::parse_from_str(&parsed.as_of, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(stem, "%Y-%m-%d"))
        .map_err(|_| {
            anyhow!(
                "{path}: as_of {:?} is not a date (YYYY-MM-DD)",
                parsed.as_of
            )
        })?;
    Ok((date, parsed))
}

/// Each KR's values over the snapshots, its status changes, and its forecast.
/// One snapshot's key results and values by id and key, so each KR's history is a lookup
/// per snapshot rather than a search through it.
struct Indexed<'s> {
    date: NaiveDate,
    krs: HashMap<&'s str, &'s KrPoint>,
    /// Every point's value by its value key, computed once per snapshot.
    values: BTreeMap<String, f64>,
}

impl<'s> Indexed<'s> {
    fn new(date: NaiveDate, s: &'s MetricSnapshot) -> Indexed<'s> {
        let mut krs = HashMap::with_capacity(s.key_results.len());
        for k in &s.key_results {
            // The first entry of an id wins, as a search from the top would find it.
            krs.entry(k.kr_id.as_str()).or_insert(k);
        }
        Indexed {
            date,
            krs,
            values: s.values(),
        }
    }
}

fn histories(
    set: &OkrSet,
    snapshots: &[(NaiveDate, MetricSnapshot)],
) -> BTreeMap<String, KrHistory> {
    let snapshots: Vec<Indexed<'_>> = snapshots
        .iter()
        .map(|(date, s)| Indexed::new(*date, s))
        .collect();
    let mut out = BTreeMap::new();
    for (_, objective) in set.objectives() {
        let due = objective
            .due
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        for kr in &objective.key_results {
            let mut points: Vec<SeriesPoint> = Vec::new();
            let mut last_status: Option<String> = None;
            for s in &snapshots {
                let date = &s.date;
                let entry = s.krs.get(kr.kr_id.as_str()).copied();
                // OKRchestra's snapshots have no key_results: fall back to the metric.
                let value = entry
                    .and_then(|k| k.value)
                    .or_else(|| s.values.get(&kr.value_key()).copied());
                let status = entry.map(|k| k.status.clone());
                let changed_from = match (&last_status, &status) {
                    (Some(before), Some(now)) if before != now => Some(before.clone()),
                    _ => None,
                };
                if status.is_some() {
                    last_status = status.clone();
                }
                if let Some(value) = value.filter(|v| v.is_finite()) {
                    points.push(SeriesPoint {
                        date: *date,
                        value,
                        status,
                        changed_from,
                    });
                }
            }
            let trend: Vec<(NaiveDate, f64)> = points.iter().map(|p| (p.date, p.value)).collect();
            let forecast = due.and_then(|due| forecast(&trend, due, kr.baseline, kr.target));
            out.insert(kr.kr_id.clone(), KrHistory { points, forecast });
        }
    }
    out
}

/// `proposals/*.yml`, newest last: id, status (a `status` field or the last step of a
/// `lifecycle` list), reason and time, whatever else the file holds.
fn list_proposals(snap: &Snapshot<'_>) -> Result<Vec<Listed>> {
    // A proposal's status is what its history says, never what its file claims.
    let history = crate::proposal::history::derive(snap.store(), snap.tip())?;
    let mut out = Vec::new();
    for path in snap.list("proposals")? {
        if !(path.ends_with(".yml") || path.ends_with(".yaml")) {
            continue;
        }
        let text = snap.read_text(&path)?.unwrap_or_default();
        let v: serde_json::Value = match crate::model::parse_yaml(&path, &text) {
            Ok(v) => v,
            // A report lists what it can; a broken proposal shows as such.
            Err(e) => {
                out.push(broken(&path, &format!("{e:#}")));
                continue;
            }
        };
        let mut item = listed(&path, &v, file_stem(&path));
        item.status = match history.lifecycles.get(file_stem(&path)) {
            Some(life) => life.status().as_str().to_string(),
            None => "not proposed".to_string(),
        };
        out.push(item);
    }
    Ok(out)
}

/// Every plan run, oldest first, with its plan, KRs, counts and first failure.
fn list_runs(snap: &Snapshot<'_>) -> Result<Vec<RunRow>> {
    Ok(crate::plan::catalog::all_runs(snap)?
        .into_iter()
        .map(|(plan_id, r)| RunRow {
            run_id: r.run_id,
            plan_id,
            key_results: r.key_results,
            status: r.status,
            started_at: r.started_at,
            passed: r.passed,
            failed: r.failed,
            failure: r.failure,
        })
        .collect())
}

fn file_stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name)
}

fn broken(path: &str, error: &str) -> Listed {
    Listed {
        id: file_stem(path).to_string(),
        status: "unreadable".into(),
        reason: error.to_string(),
        time: String::new(),
        path: path.to_string(),
        who: String::new(),
        changes: Vec::new(),
    }
}

fn listed(path: &str, v: &serde_json::Value, fallback_id: &str) -> Listed {
    let text = |v: &serde_json::Value, keys: &[&str]| -> Option<String> {
        keys.iter().find_map(|k| match v.get(k)? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
    };
    let last_step = v
        .get("lifecycle")
        .and_then(|l| l.as_array())
        .and_then(|l| l.last());
    let status = text(v, &["status", "state", "outcome"])
        .or_else(|| last_step.and_then(|s| text(s, &["status", "state"])))
        .or_else(|| {
            v.get("lifecycle")
                .and_then(|l| l.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| "-".into());
    let reason = text(v, &["reason", "summary", "title", "error", "message"])
        .or_else(|| last_step.and_then(|s| text(s, &["reason"])))
        .unwrap_or_default();
    let time = last_step
        .and_then(|s| text(s, &["at", "time"]))
        .or_else(|| {
            text(
                v,
                &[
                    "finished_at",
                    "ended_at",
                    "updated_at",
                    "updated",
                    "started_at",
                    "created_at",
                    "created",
                    "at",
                ],
            )
        })
        .unwrap_or_default();
    Listed {
        id: text(v, &["id", "run_id", "proposal_id"]).unwrap_or_else(|| fallback_id.to_string()),
        status,
        reason,
        time,
        path: path.to_string(),
        who: text(v, &["proposer", "created_by", "by"]).unwrap_or_default(),
        changes: v
            .get("changes")
            .and_then(|c| c.as_array())
            .map(|changes| changes.iter().map(describe_change).collect())
            .unwrap_or_default(),
    }
}

/// A proposal's change as a line: the model's words when it parses, else its JSON.
fn describe_change(v: &serde_json::Value) -> String {
    match serde_json::from_value::<crate::model::proposal::Change>(v.clone()) {
        Ok(change) => change.to_string(),
        Err(_) => v.to_string(),
    }
}

/// Text for HTML and SVG, in text and in attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML; drop them rather than break the page.
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}
