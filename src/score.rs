//! Scoring and roll-up: a KR scores clamp((current − baseline)/(target − baseline), 0, 1);
//! an objective the weighted mean of its KRs (`weight`, default 1); a scope the weighted
//! mean of its objectives. A KR without a value scores 0: no evidence, no progress.

use crate::model::okrs::{OkrSet, Scope, Status};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct KrScore {
    pub kr_id: String,
    pub description: String,
    pub metric_key: String,
    pub current: Option<f64>,
    pub baseline: f64,
    pub target: f64,
    pub score: f64,
    pub status: Status,
    pub weight: f64,
    /// The last check-in's confidence, else the KR's own `confidence` field.
    pub confidence: Option<f64>,
    /// When the last check-in was made (RFC 3339), if there was one.
    pub last_checkin: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectiveScore {
    pub objective_id: String,
    pub objective: String,
    pub file: String,
    pub score: f64,
    pub weight: f64,
    pub due: Option<String>,
    /// The cycle it belongs to (`None`: every cycle).
    pub cycle: Option<String>,
    pub key_results: Vec<KrScore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScopeScore {
    pub scope: Scope,
    pub score: f64,
    pub objectives: Vec<ObjectiveScore>,
}

/// Score every KR with `values` (metric key → value), rolled up by objective and scope.
pub fn by_scope(set: &OkrSet, values: &BTreeMap<String, f64>) -> Vec<ScopeScore> {
    let mut scopes: BTreeMap<Scope, Vec<ObjectiveScore>> = BTreeMap::new();
    for (doc, objective) in set.objectives() {
        let key_results: Vec<KrScore> = objective
            .key_results
            .iter()
            .map(|kr| {
                let current = values.get(&kr.value_key()).copied().or(kr.current);
                KrScore {
                    kr_id: kr.kr_id.clone(),
                    description: kr.description.clone(),
                    metric_key: kr.metric_key.clone(),
                    current,
                    baseline: kr.baseline,
                    target: kr.target,
                    score: current.map(|c| kr.score(c)).unwrap_or(0.0),
                    status: kr.status,
                    weight: kr.weight(),
                    confidence: kr.confidence,
                    last_checkin: None,
                }
            })
            .collect();
        let score = weighted_mean(key_results.iter().map(|k| (k.score, k.weight)));
        scopes.entry(doc.scope()).or_default().push(ObjectiveScore {
            objective_id: objective.objective_id.clone(),
            objective: objective.objective.clone(),
            file: doc.path.clone(),
            score,
            weight: objective.weight.unwrap_or(1.0),
            due: objective.due.clone(),
            cycle: objective.cycle.clone(),
            key_results,
        });
    }
    scopes
        .into_iter()
        .map(|(scope, objectives)| ScopeScore {
            scope,
            score: weighted_mean(objectives.iter().map(|o| (o.score, o.weight))),
            objectives,
        })
        .collect()
}

/// One KR in OKRchestra's score report, with our score beside its percentage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportRow {
    pub scope: Scope,
    pub objective_id: String,
    pub objective: String,
    pub kr_id: String,
    pub description: String,
    pub metric_key: String,
    pub baseline: f64,
    pub target: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// OKRchestra's measure: progress from baseline to target in percent (0-100) from the
    /// snapshot's value, 0 when the snapshot has none.
    pub percent_to_target: f64,
    /// git-okr's 0-1 score (falling back to the KR's recorded `current`).
    pub score: f64,
    pub status: Status,
}

/// OKRchestra's `kr score` report (`schema_version`, `as_of`, `snapshot_path`, `results`,
/// `missing_metric_keys`), from one snapshot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScoreReport {
    pub schema_version: u32,
    pub as_of: String,
    pub snapshot_path: String,
    pub results: Vec<ReportRow>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_metric_keys: Vec<String>,
}

/// The report for `snapshot` (found at `snapshot_path`), sorted as OKRchestra sorts it:
/// by scope, objective, KR.
pub fn okrchestra_report(
    set: &OkrSet,
    snapshot: &crate::model::snapshot::MetricSnapshot,
    snapshot_path: &str,
) -> ScoreReport {
    let values = snapshot.values();
    let units: BTreeMap<String, String> = snapshot
        .points
        .iter()
        .filter_map(|p| p.unit.clone().map(|u| (p.value_key(), u)))
        .collect();
    let ours = by_scope(set, &values);
    // Each KR's score by id, the first of an id winning (as a search would find it).
    let mut our_scores: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for k in ours
        .iter()
        .flat_map(|s| &s.objectives)
        .flat_map(|o| &o.key_results)
    {
        our_scores.entry(k.kr_id.as_str()).or_insert(k.score);
    }
    let mut results = Vec::new();
    let mut missing = std::collections::BTreeSet::new();
    for (doc, objective) in set.objectives() {
        for kr in &objective.key_results {
            let key = kr.value_key();
            let current = values.get(&key).copied();
            if current.is_none() {
                missing.insert(key.clone());
            }
            let our_score = our_scores.get(kr.kr_id.as_str()).copied().unwrap_or(0.0);
            results.push(ReportRow {
                scope: doc.scope(),
                objective_id: objective.objective_id.clone(),
                objective: objective.objective.clone(),
                kr_id: kr.kr_id.clone(),
                description: kr.description.clone(),
                metric_key: kr.metric_key.clone(),
                baseline: kr.baseline,
                target: kr.target,
                current,
                unit: units.get(&key).cloned().or_else(|| kr.unit.clone()),
                percent_to_target: current.map(|c| kr.score(c) * 100.0).unwrap_or(0.0),
                score: our_score,
                status: kr.status,
            });
        }
    }
    results.sort_by(|a, b| {
        (a.scope.to_string(), &a.objective_id, &a.kr_id).cmp(&(
            b.scope.to_string(),
            &b.objective_id,
            &b.kr_id,
        ))
    });
    ScoreReport {
        schema_version: 1,
        as_of: snapshot.as_of.clone(),
        snapshot_path: snapshot_path.to_string(),
        results,
        missing_metric_keys: missing.into_iter().collect(),
    }
}

/// Σ score·weight / Σ weight; 0 when there is nothing (or no weight) to average.
pub fn weighted_mean(items: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (sum, weights) = items.fold((0.0, 0.0), |(s, w), (score, weight)| {
        (s + score * weight, w + weight)
    });
    if weights > 0.0 {
        sum / weights
    } else {
        0.0
    }
}

/// The usual OKR grades: green from 0.7, yellow from 0.4, red below.
pub fn grade(score: f64) -> Grade {
    if score >= 0.7 {
        Grade::Green
    } else if score >= 0.4 {
        Grade::Yellow
    } else {
        Grade::Red
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    Green,
    Yellow,
    Red,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_up_with_weights() {
        let set = OkrSet::parse([(
            "okrs/org.yml",
            "objectives:\n  - objective_id: O\n    key_results:\n      - {kr_id: A, metric_key: a, baseline: 0, target: 100, weight: 3}\n      - {kr_id: B, metric_key: b, baseline: 300, target: 200}\n",
        )])
        .unwrap();
        let values = BTreeMap::from([("a".to_string(), 50.0), ("b".to_string(), 100.0)]);
        let scopes = by_scope(&set, &values);
        let o = &scopes[0].objectives[0];
        assert_eq!(o.key_results[0].score, 0.5);
        assert_eq!(o.key_results[1].score, 1.0);
        assert!((o.score - (0.5 * 3.0 + 1.0) / 4.0).abs() < 1e-9);
        assert_eq!(scopes[0].score, o.score);
    }

    #[test]
    fn the_okrchestra_report_gives_percentages_and_missing_keys() {
        let set = OkrSet::parse([(
            "okrs/org.yml",
            "objectives:\n  - objective_id: O\n    key_results:\n      - {kr_id: B, metric_key: b, baseline: 300, target: 200}\n      - {kr_id: A, metric_key: a, baseline: 0, target: 10, current: 5}\n      - {kr_id: F, metric_key: f, baseline: 1, target: 1}\n",
        )])
        .unwrap();
        let snapshot: crate::model::snapshot::MetricSnapshot = serde_json::from_str(
            r#"{"schema_version":1,"as_of":"2026-01-18","points":[{"key":"b","value":250,"unit":"ms"},{"key":"f","value":1}]}"#,
        )
        .unwrap();
        let r = okrchestra_report(&set, &snapshot, "metrics/snapshots/2026-01-18.json");
        assert_eq!(r.as_of, "2026-01-18");
        let ids: Vec<&str> = r.results.iter().map(|k| k.kr_id.as_str()).collect();
        assert_eq!(ids, ["A", "B", "F"]);
        assert_eq!(
            (r.results[0].percent_to_target, r.results[0].score),
            (0.0, 0.5)
        );
        assert_eq!(r.results[1].percent_to_target, 50.0);
        assert_eq!(r.results[1].unit.as_deref(), Some("ms"));
        assert_eq!(r.results[2].percent_to_target, 100.0);
        assert_eq!(r.missing_metric_keys, ["a"]);
    }

    #[test]
    fn missing_values_score_zero_and_scores_clamp() {
        let set = OkrSet::parse([(
            "okrs/org.yml",
            "objectives:\n  - objective_id: O\n    key_results:\n      - {kr_id: A, metric_key: a, baseline: 0, target: 10}\n      - {kr_id: B, metric_key: b, baseline: 0, target: 10}\n",
        )])
        .unwrap();
        let scopes = by_scope(&set, &BTreeMap::from([("a".to_string(), 50.0)]));
        let o = &scopes[0].objectives[0];
        assert_eq!(o.key_results[0].score, 1.0);
        assert_eq!(o.key_results[1].current, None);
        assert_eq!(o.score, 0.5);
        assert_eq!(grade(0.7), Grade::Green);
        assert_eq!(grade(0.5), Grade::Yellow);
        assert_eq!(grade(0.1), Grade::Red);
    }
}
