//! Status rules (DESIGN §4) and the snapshot a measurement writes.
//! Pure functions of the OKRs and the measured values; the command commits them.

use crate::model::fmt_num;
use crate::model::okrs::{KeyResult, OkrSet, Status};
use crate::model::snapshot::SNAPSHOT_DIR;
use crate::model::snapshot::{KrPoint, MetricPoint, Snapshot};
use crate::store::Snapshot as StateView;
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

/// Whether `current` meets the KR's target, in the KR's direction.
pub fn reached(kr: &KeyResult, current: f64) -> bool {
    if kr.is_increasing() {
        current >= kr.target
    } else {
        current <= kr.target
    }
}

/// Whether `current` has moved past the baseline, in the KR's direction.
pub fn moved(kr: &KeyResult, current: f64) -> bool {
    if kr.is_increasing() {
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
        let value = values.get(&kr.metric_key).copied();
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
pub fn same_measurement(a: &Snapshot, b: &Snapshot) -> bool {
    let essence = |s: &Snapshot| -> Vec<(String, String, Option<String>)> {
        s.points
            .iter()
            .map(|p| (p.key.clone(), fmt_num(p.value), p.unit.clone()))
            .collect()
    };
    essence(a) == essence(b) && a.key_results == b.key_results
}

/// Merge points from all sources: for one key, the most recent observation wins.
pub fn merge_points(sources: impl IntoIterator<Item = MetricPoint>) -> Vec<MetricPoint> {
    let mut by_key: BTreeMap<String, MetricPoint> = BTreeMap::new();
    for p in sources {
        match by_key.get(&p.key) {
            Some(existing) if existing.timestamp > p.timestamp => {}
            _ => {
                by_key.insert(p.key.clone(), p);
            }
        }
    }
    by_key.into_values().collect()
}

/// The newest snapshot on the ref, with its path.
pub fn latest_snapshot(snap: &StateView<'_>) -> Result<Option<(String, Snapshot)>> {
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
pub fn latest_values(snap: &StateView<'_>) -> Result<BTreeMap<String, f64>> {
    Ok(latest_snapshot(snap)?
        .map(|(_, s)| values_of(&s))
        .unwrap_or_default())
}

/// A snapshot's values by metric key.
pub fn values_of(s: &Snapshot) -> BTreeMap<String, f64> {
    s.points.iter().map(|p| (p.key.clone(), p.value)).collect()
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
}
