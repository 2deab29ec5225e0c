//! Status rules (ARCHITECTURE.md, "Invariants") and the snapshot a measurement writes.
//! Pure functions of the OKRs and the measured values; the command commits them.

use crate::model::fmt_num;
use crate::model::okrs::{KeyResult, OkrSet, Status};
use crate::model::snapshot::SNAPSHOT_DIR;
use crate::model::snapshot::{KrPoint, MetricPoint, MetricSnapshot};
use crate::store::Snapshot;
use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Local, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};

/// Whether `current` meets the KR's target, in the KR's direction.
pub fn reached(kr: &KeyResult, current: f64) -> bool {
    kr.reached(current)
}

/// Whether `current` has moved past the baseline, in the KR's direction (a flat KR
/// has nowhere to move: it is reached or not).
pub fn moved(kr: &KeyResult, current: f64) -> bool {
    if kr.is_flat() {
        false
    } else if kr.is_increasing() {
        current > kr.baseline
    } else {
        current < kr.baseline
    }
}

/// The status a measurement moves the KR to, if it changes.
/// People's `blocked`/`at_risk` are kept; `achieved` is never taken back;
/// no status moves backwards.
pub fn next_status(kr: &KeyResult, current: f64) -> Option<Status> {
    let next = match kr.status {
        Status::Blocked | Status::AtRisk | Status::Achieved => kr.status,
        Status::NotStarted | Status::InProgress if reached(kr, current) => Status::Achieved,
        Status::NotStarted if moved(kr, current) => Status::InProgress,
        other => other,
    };
    (next != kr.status).then_some(next)
}

/// An achieved KR whose value fell short of its target again.
pub fn is_regression(kr: &KeyResult, current: f64) -> bool {
    kr.status == Status::Achieved && !reached(kr, current)
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub kr_id: String,
    pub from: Status,
    pub to: Status,
    pub current: f64,
    pub target: f64,
}

impl StatusChange {
    /// `KR-1.1 not_started -> achieved (102/100)`, as OKRchestra prints it.
    pub fn describe(&self) -> String {
        format!(
            "{} {} -> {} ({}/{})",
            self.kr_id,
            self.from,
            self.to,
            fmt_num(self.current),
            fmt_num(self.target)
        )
    }
}

/// What a measurement found for every KR.
#[derive(Debug, Clone, Default)]
pub struct Assessment {
    pub changes: Vec<StatusChange>,
    /// Achieved KRs now short of target: (kr_id, current, target).
    pub regressions: Vec<(String, f64, f64)>,
    /// KRs whose metric has no value: (kr_id, metric_key).
    pub missing: Vec<(String, String)>,
    /// Every KR as measured, for the snapshot.
    pub key_results: Vec<KrPoint>,
}

/// Apply the status rules to every KR of every scope.
pub fn assess(set: &OkrSet, values: &BTreeMap<String, f64>) -> Assessment {
    let mut out = Assessment::default();
    for k in set.krs() {
        let kr = k.kr;
        let value = values.get(&kr.value_key()).copied();
        let mut status = kr.status;
        match value {
            None => out.missing.push((kr.kr_id.clone(), kr.metric_key.clone())),
            Some(current) => {
                if let Some(to) = next_status(kr, current) {
                    out.changes.push(StatusChange {
                        kr_id: kr.kr_id.clone(),
                        from: kr.status,
                        to,
                        current,
                        target: kr.target,
                    });
                    status = to;
                }
                if is_regression(kr, current) {
                    out.regressions.push((kr.kr_id.clone(), current, kr.target));
                }
            }
        }
        out.key_results.push(KrPoint {
            kr_id: kr.kr_id.clone(),
            metric_key: kr.metric_key.clone(),
            value,
            status: status.to_string(),
            score: value.map(|v| kr.score(v)),
        });
    }
    out
}

/// Whether two snapshots say the same thing (ignoring when they were taken).
pub fn same_measurement(a: &MetricSnapshot, b: &MetricSnapshot) -> bool {
    let essence = |s: &MetricSnapshot| -> Vec<(String, String, Option<String>)> {
        s.points
            .iter()
            .map(|p| (p.key.clone(), fmt_num(p.value), p.unit.clone()))
            .collect()
    };
    essence(a) == essence(b) && a.key_results == b.key_results
}

/// Merge points from all sources: for one key and dimension set, the most recent
/// observation wins.
pub fn merge_points(sources: impl IntoIterator<Item = MetricPoint>) -> Vec<MetricPoint> {
    let mut by_key: BTreeMap<String, MetricPoint> = BTreeMap::new();
    for p in sources {
        let key = p.value_key();
        match by_key.get(&key) {
            Some(existing) if existing.timestamp > p.timestamp => {}
            _ => {
                by_key.insert(key, p);
            }
        }
    }
    by_key.into_values().collect()
}

pub use crate::model::snapshot::values_of;

/// The newest snapshot on the ref, with its path.
pub fn latest_snapshot(snap: &Snapshot<'_>) -> Result<Option<(String, MetricSnapshot)>> {
    let Some(path) = snap
        .list(SNAPSHOT_DIR)?
        .into_iter()
        .filter(|p| p.ends_with(".json"))
        .max()
    else {
        return Ok(None);
    };
    let text = snap.read_text(&path)?.unwrap_or_default();
    let parsed = serde_json::from_str(&text).map_err(|e| anyhow!("{path}:{}: {e}", e.line()))?;
    Ok(Some((path, parsed)))
}

/// Values to score with: the latest snapshot's, falling back to each KR's `current`.
pub fn latest_values(snap: &Snapshot<'_>) -> Result<BTreeMap<String, f64>> {
    Ok(latest_snapshot(snap)?
        .map(|(_, s)| s.values())
        .unwrap_or_default())
}

/// The day a measurement is for. A backdated one (`--as-of` before today) takes git
/// metrics at the measured branch's last commit by the end of that day and CI and manual
/// values from the state as it was then.
#[derive(Debug, Clone, PartialEq)]
pub struct AsOf {
    pub date: NaiveDate,
    /// The moment the values are taken at: now, or the end of a past day (local time).
    pub at: DateTime<Utc>,
    pub backdated: bool,
}

impl AsOf {
    /// `YYYY-MM-DD`, as snapshot names and `as_of` fields write it.
    pub fn day(&self) -> String {
        self.date.format("%Y-%m-%d").to_string()
    }
}

/// Read `--as-of DATE` (`YYYY-MM-DD`); none means today. A future day is refused:
/// nothing can be measured there yet.
pub fn as_of(given: Option<&str>, now: DateTime<Local>) -> Result<AsOf> {
    let today = now.date_naive();
    let Some(text) = given else {
        return Ok(AsOf {
            date: today,
            at: now.to_utc(),
            backdated: false,
        });
    };
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| anyhow!("--as-of {text:?}: not a date (YYYY-MM-DD)"))?;
    if date > today {
        bail!("--as-of {date}: that day has not come yet (today is {today})");
    }
    if date == today {
        return as_of(None, now);
    }
    Ok(AsOf {
        date,
        at: end_of_day(date),
        backdated: true,
    })
}

/// The last second of `date` in local time (the earlier one when clocks go back).
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let last = date.and_hms_opt(23, 59, 59).unwrap_or_default();
    match last.and_local_timezone(Local) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.to_utc(),
        chrono::LocalResult::None => last.and_utc(),
    }
}

/// The date a snapshot path is for (`metrics/snapshots/2026-01-18.json`).
pub fn snapshot_date(path: &str) -> Option<NaiveDate> {
    let name = path.rsplit('/').next()?.strip_suffix(".json")?;
    NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()
}

/// Whether a measurement as of `date` moves the KRs' statuses: only one for today, or
/// one later than every snapshot so far. Backfilling earlier days never rewrites today's
/// statuses.
pub fn moves_statuses(as_of: &AsOf, latest: Option<&str>) -> bool {
    !as_of.backdated
        || match latest.and_then(snapshot_date) {
            Some(last) => as_of.date > last,
            None => true,
        }
}

/// The newest snapshot for a day on or before `date`, with its path.
pub fn snapshot_on_or_before(
    snap: &Snapshot<'_>,
    date: NaiveDate,
) -> Result<Option<(String, MetricSnapshot)>> {
    let Some(path) = snap
        .list(SNAPSHOT_DIR)?
        .into_iter()
        .filter(|p| snapshot_date(p).is_some_and(|d| d <= date))
        .max()
    else {
        return Ok(None);
    };
    let text = snap.read_text(&path)?.unwrap_or_default();
    let parsed = serde_json::from_str(&text).map_err(|e| anyhow!("{path}:{}: {e}", e.line()))?;
    Ok(Some((path, parsed)))
}

/// Put back the statuses the KRs had before a backdated day: the last earlier
/// snapshot's, else those of the state as it was then, else `not_started` (nothing was
/// known about the KR yet).
pub fn statuses_then(
    set: &mut OkrSet,
    earlier: Option<&MetricSnapshot>,
    state_then: Option<&OkrSet>,
) {
    // Looked up by id: one pass over each source, not one search per KR.
    let snapshot_statuses: HashMap<&str, &str> = earlier
        .map(|s| {
            s.key_results
                .iter()
                .rev()
                .map(|k| (k.kr_id.as_str(), k.status.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let state_statuses: HashMap<&str, Status> = state_then
        .map(|s| {
            let all: Vec<_> = s.krs().collect();
            all.into_iter()
                .rev()
                .map(|k| (k.kr.kr_id.as_str(), k.kr.status))
                .collect()
        })
        .unwrap_or_default();
    for doc in &mut set.docs {
        for objective in &mut doc.file.objectives {
            for kr in &mut objective.key_results {
                let from_snapshot = snapshot_statuses
                    .get(kr.kr_id.as_str())
                    .and_then(|s| Status::parse(s));
                let from_state = state_statuses.get(kr.kr_id.as_str()).copied();
                kr.status = from_snapshot.or(from_state).unwrap_or(Status::NotStarted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(baseline: f64, target: f64, status: Status) -> KeyResult {
        let yaml = format!(
            "kr_id: K\nmetric_key: m\nbaseline: {baseline}\ntarget: {target}\nstatus: {status}\n"
        );
        serde_yaml::from_str(&yaml).unwrap()
    }

    #[test]
    fn increasing_krs() {
        let k = kr(0.0, 100.0, Status::NotStarted);
        assert_eq!(next_status(&k, 0.0), None);
        assert_eq!(next_status(&k, 85.0), Some(Status::InProgress));
        assert_eq!(next_status(&k, 102.0), Some(Status::Achieved));
        assert_eq!(
            next_status(&kr(0.0, 100.0, Status::InProgress), 100.0),
            Some(Status::Achieved)
        );
        // Never backwards.
        assert_eq!(next_status(&kr(0.0, 100.0, Status::InProgress), 0.0), None);
    }

    #[test]
    fn decreasing_krs_mirror() {
        let k = kr(300.0, 200.0, Status::NotStarted);
        assert_eq!(next_status(&k, 300.0), None);
        assert_eq!(next_status(&k, 350.0), None);
        assert_eq!(next_status(&k, 250.0), Some(Status::InProgress));
        assert_eq!(next_status(&k, 200.0), Some(Status::Achieved));
        assert_eq!(next_status(&k, 150.0), Some(Status::Achieved));
    }

    #[test]
    fn people_decide_blocked_and_at_risk_and_achieved_stays() {
        for s in [Status::Blocked, Status::AtRisk] {
            assert_eq!(next_status(&kr(0.0, 10.0, s), 50.0), None);
        }
        let done = kr(0.0, 10.0, Status::Achieved);
        assert_eq!(next_status(&done, 3.0), None);
        assert!(is_regression(&done, 3.0));
        assert!(!is_regression(&done, 10.0));
    }

    #[test]
    fn a_flat_kr_is_achieved_when_reached_and_never_in_progress() {
        let k = kr(100.0, 100.0, Status::NotStarted);
        assert_eq!(next_status(&k, 99.0), None);
        assert_eq!(next_status(&k, 100.0), Some(Status::Achieved));
        assert_eq!(
            next_status(&kr(100.0, 100.0, Status::InProgress), 101.0),
            Some(Status::Achieved)
        );
        assert!(is_regression(&kr(100.0, 100.0, Status::Achieved), 99.0));
    }

    #[test]
    fn describes_changes_like_okrchestra() {
        let c = StatusChange {
            kr_id: "KR-1.1".into(),
            from: Status::NotStarted,
            to: Status::Achieved,
            current: 102.0,
            target: 100.0,
        };
        assert_eq!(c.describe(), "KR-1.1 not_started -> achieved (102/100)");
    }

    #[test]
    fn latest_observation_wins() {
        let p = |v: f64, t: &str| MetricPoint {
            key: "k".into(),
            value: v,
            unit: None,
            timestamp: t.into(),
            source: String::new(),
            evidence: vec![],
            dimensions: Default::default(),
        };
        let merged = merge_points([
            p(1.0, "2026-01-02T00:00:00Z"),
            p(2.0, "2026-01-01T00:00:00Z"),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].value, 1.0);
    }

    #[test]
    fn as_of_days() {
        let now = chrono::Local::now();
        let today = as_of(None, now).unwrap();
        assert!(!today.backdated);
        assert_eq!(as_of(Some(&today.day()), now).unwrap(), today);
        let past = as_of(Some("2026-01-18"), now).unwrap();
        assert!(past.backdated && past.at < now.to_utc());
        assert!(as_of(Some("2026-13-01"), now).is_err());
        let tomorrow = (now.date_naive() + chrono::Days::new(1))
            .format("%Y-%m-%d")
            .to_string();
        assert!(as_of(Some(&tomorrow), now)
            .unwrap_err()
            .to_string()
            .contains("has not come yet"));
        assert!(moves_statuses(&past, None));
        assert!(moves_statuses(
            &past,
            Some("metrics/snapshots/2026-01-17.json")
        ));
        assert!(!moves_statuses(
            &past,
            Some("metrics/snapshots/2026-01-18.json")
        ));
        assert!(moves_statuses(
            &today,
            Some("metrics/snapshots/2999-01-18.json")
        ));
    }
}
