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
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectiveScore {
    pub objective_id: String,
    pub objective: String,
    pub file: String,
    pub score: f64,
    pub weight: f64,
    pub due: Option<String>,
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
                let current = values.get(&kr.metric_key).copied().or(kr.current);
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
