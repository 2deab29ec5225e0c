//! Every metric key with its latest value: the latest snapshot's points, and manual
//! values recorded since (they count from the next measurement on).

use crate::model::manual::ManualMetrics;
use crate::model::snapshot::MetricSnapshot;
use serde::Serialize;

/// One row of `git okr metric list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurrentMetric {
    /// The key a KR's `metric_key` names: `ci.coverage`, or with dimensions
    /// `ci.build_success_rate{branch=main}`.
    pub key: String,
    pub value: f64,
    pub unit: Option<String>,
    /// `git`, `ci`, `manual`, … as the snapshot says; for a manual value recorded
    /// after the snapshot, `manual` and who recorded it (`manual:alice@example.com`).
    pub source: String,
    /// When the value was observed or recorded (RFC 3339), if known.
    pub when: Option<String>,
    /// The state file the value is read from.
    pub file: String,
}

/// The latest value of every key, sorted by key. `snapshot` is the latest snapshot and
/// its path; a manual value newer than the snapshot's (or missing from it) wins.
pub fn current_metrics(
    snapshot: Option<&(String, MetricSnapshot)>,
    manual: &ManualMetrics,
    manual_file: &str,
) -> Vec<CurrentMetric> {
    let mut rows: Vec<CurrentMetric> = snapshot
        .map(|(path, s)| {
            s.points
                .iter()
                .map(|p| CurrentMetric {
                    key: p.value_key(),
                    value: p.value,
                    unit: p.unit.clone(),
                    source: p.source.clone(),
                    when: (!p.timestamp.is_empty()).then(|| p.timestamp.clone()),
                    file: path.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    // Where each key's row is (the first, as a search from the top would find it).
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        at.entry(r.key.clone()).or_insert(i);
    }
    for m in &manual.metrics {
        let recorded = m.timestamp.as_deref().and_then(parse_time);
        let key = m.value_key();
        let row = CurrentMetric {
            key: key.clone(),
            value: m.value,
            unit: m.unit.clone(),
            source: match &m.source {
                Some(who) => format!("manual:{who}"),
                None => "manual".to_string(),
            },
            when: m.timestamp.clone(),
            file: manual_file.to_string(),
        };
        match at.get(&key).map(|&i| &mut rows[i]) {
            Some(existing) => {
                let measured = existing.when.as_deref().and_then(parse_time);
                if matches!((recorded, measured), (Some(r), Some(s)) if r > s) {
                    *existing = row;
                }
            }
            None => {
                at.insert(key, rows.len());
                rows.push(row);
            }
        }
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manual::ManualMetric;
    use crate::model::snapshot::MetricPoint;

    fn point(key: &str, value: f64, at: &str) -> MetricPoint {
        MetricPoint {
            key: key.into(),
            value,
            unit: Some("count".into()),
            timestamp: at.into(),
            source: "ci".into(),
            evidence: vec![],
            dimensions: Default::default(),
        }
    }

    fn manual(key: &str, value: f64, at: &str) -> ManualMetric {
        ManualMetric {
            key: key.into(),
            value,
            unit: Some("ms".into()),
            evidence: vec![],
            timestamp: Some(at.into()),
            source: Some("bob@example.com".into()),
            dimensions: Default::default(),
        }
    }

    #[test]
    fn newer_manual_values_win_and_keys_are_sorted() {
        let snap = MetricSnapshot {
            schema_version: 1,
            as_of: "2026-01-18".into(),
            measured_at: "2026-01-18T10:00:00Z".into(),
            commit: None,
            points: vec![
                point("manual.latency", 300.0, "2026-01-18T10:00:00Z"),
                point("ci.test_count", 85.0, "2026-01-18T10:00:00Z"),
                point("manual.old", 1.0, "2026-01-18T10:00:00Z"),
            ],
            key_results: vec![],
        };
        let manual = ManualMetrics {
            metrics: vec![
                manual("manual.latency", 290.0, "2026-01-19T08:00:00Z"),
                manual("manual.old", 2.0, "2026-01-17T08:00:00Z"),
                manual("manual.new", 7.0, "2026-01-19T08:00:00Z"),
            ],
        };
        let path = ("metrics/snapshots/2026-01-18.json".to_string(), snap);
        let rows = current_metrics(Some(&path), &manual, "metrics/manual.yml");
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ci.test_count",
                "manual.latency",
                "manual.new",
                "manual.old"
            ]
        );
        assert_eq!(rows[1].value, 290.0);
        assert_eq!(rows[1].source, "manual:bob@example.com");
        assert_eq!(rows[1].file, "metrics/manual.yml");
        assert_eq!(
            rows[3].value, 1.0,
            "an older manual value does not replace a measurement"
        );
        assert_eq!(rows[0].file, "metrics/snapshots/2026-01-18.json");
        assert!(current_metrics(None, &ManualMetrics::default(), "m").is_empty());
    }
}
