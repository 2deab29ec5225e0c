//! `git okr report`: everything the HTML page shows, gathered from the state ref.
//!
//! Status changes come from consecutive snapshots' `key_results` statuses rather than
//! from the `Okr-Status` trailers of the ref's history: the snapshots are read anyway
//! for the values, so the mark lands exactly on the measured point it belongs to; it
//! costs no history walk (thousands of commits for thousands of snapshots); it survives
//! a shallow or squashed ref; and it also shows changes people made by editing a file
//! (`blocked`, `at_risk`), which carry no trailer.

pub mod chart;
pub mod forecast;
pub mod html;

use crate::model::okrs::OkrSet;
use crate::model::snapshot::{KrPoint, Snapshot, SNAPSHOT_DIR};
use crate::score::{score, ScopeScore};
use crate::store::Snapshot as StateView;
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
    pub proposals: Vec<Listed>,
    pub runs: Vec<Listed>,
}

/// Everything the report shows, from one view of the state.
pub fn gather(snap: &StateView<'_>, set: &OkrSet) -> Result<Report> {
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
    Ok(Report {
        tip: snap.tip().map(|t| t.to_string()),
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        snapshot_range: snapshots
            .first()
            .zip(snapshots.last())
            .map(|(a, b)| (a.0, b.0)),
        snapshot_count: snapshots.len(),
        scopes: score(set, &values),
        krs: histories(set, &snapshots),
        proposals: list_proposals(snap)?,
        runs: list_runs(snap)?,
    })
}

/// Forecasts for every KR with a due date, from only the snapshots a forecast needs
/// (cheap enough for `git okr status`).
pub fn recent_forecasts(snap: &StateView<'_>, set: &OkrSet) -> Result<Vec<(String, Forecast)>> {
    let paths = snapshot_paths(snap)?;
    let recent = &paths[paths.len().saturating_sub(forecast::RECENT_POINTS)..];
    let snapshots = read_snapshots(snap, recent)?;
    Ok(histories(set, &snapshots)
        .into_iter()
        .filter_map(|(kr, h)| h.forecast.map(|f| (kr, f)))
        .collect())
}

fn snapshot_paths(snap: &StateView<'_>) -> Result<Vec<String>> {
    // `list` is sorted and the names are dates, so this is oldest first.
    Ok(snap
        .list(SNAPSHOT_DIR)?
        .into_iter()
        .filter(|p| p.ends_with(".json"))
        .collect())
}

fn read_snapshots(snap: &StateView<'_>, paths: &[String]) -> Result<Vec<(NaiveDate, Snapshot)>> {
    paths
        .iter()
        .map(|path| parse_snapshot(path, &snap.read(path)?.unwrap_or_default()))
        .collect()
}

/// A snapshot and its date (`as_of`, else the file name).
fn parse_snapshot(path: &str, bytes: &[u8]) -> Result<(NaiveDate, Snapshot)> {
    let parsed: Snapshot =
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
    fn new(date: NaiveDate, s: &'s Snapshot) -> Indexed<'s> {
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

fn histories(set: &OkrSet, snapshots: &[(NaiveDate, Snapshot)]) -> BTreeMap<String, KrHistory> {
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
fn list_proposals(snap: &StateView<'_>) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    for path in snap.list("proposals")? {
        if !(path.ends_with(".yml") || path.ends_with(".yaml")) {
            continue;
        }
        let text = snap.read_text(&path)?.unwrap_or_default();
        let v: serde_json::Value = match serde_yaml::from_str(&text) {
            Ok(v) => v,
            // A report lists what it can; a broken proposal shows as such.
            Err(e) => {
                out.push(broken(&path, &e.to_string()));
                continue;
            }
        };
        out.push(listed(&path, &v, file_stem(&path)));
    }
    Ok(out)
}

/// `runs/<run-id>/result.json`.
fn list_runs(snap: &StateView<'_>) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    for path in snap.list("runs")? {
        if !path.ends_with("/result.json") {
            continue;
        }
        let run_id = path
            .trim_start_matches("runs/")
            .trim_end_matches("/result.json");
        let text = snap.read_text(&path)?.unwrap_or_default();
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => out.push(listed(&path, &v, run_id)),
            Err(e) => out.push(broken(&path, &e.to_string())),
        }
    }
    Ok(out)
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
