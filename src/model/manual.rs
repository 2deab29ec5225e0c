//! `metrics/manual.yml`: metrics people (or CI scripts) record by hand.

use super::{at, yaml_error, LineIndex};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const MANUAL_FILE: &str = "metrics/manual.yml";

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ManualMetrics {
    #[serde(default)]
    pub metrics: Vec<ManualMetric>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManualMetric {
    pub key: String,
    #[serde(serialize_with = "super::serialize_num")]
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// When the value was recorded (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl ManualMetrics {
    pub fn parse(path: &str, text: &str) -> Result<ManualMetrics> {
        if text.trim().is_empty() {
            return Ok(ManualMetrics::default());
        }
        let m: ManualMetrics = serde_yaml::from_str(text).map_err(|e| yaml_error(path, e))?;
        let lines = LineIndex::new(text, &["key"]);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for metric in &m.metrics {
            let n = seen.entry(metric.key.as_str()).or_insert(0);
            let line = lines.line("key", &metric.key, *n);
            *n += 1;
            validate_key(&metric.key).map_err(|e| anyhow::anyhow!("{}: {e}", at(path, line)))?;
            if *n > 1 {
                bail!("{}: duplicate metric key {:?}", at(path, line), metric.key);
            }
            if !metric.value.is_finite() {
                bail!(
                    "{}: {}: value must be a finite number",
                    at(path, line),
                    metric.key
                );
            }
        }
        Ok(m)
    }

    pub fn render(&self) -> Result<String> {
        Ok(serde_yaml::to_string(self)?)
    }

    /// Replace the metric with the same key, or add it.
    pub fn upsert(&mut self, metric: ManualMetric) {
        match self.metrics.iter_mut().find(|m| m.key == metric.key) {
            Some(slot) => *slot = metric,
            None => self.metrics.push(metric),
        }
    }

    pub fn get(&self, key: &str) -> Option<&ManualMetric> {
        self.metrics.iter().find(|m| m.key == key)
    }
}

/// Metric keys are dotted words: `ci.test_count`, `manual.feature_count`.
pub fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        });
    if !ok {
        bail!("invalid metric key {key:?}: use dotted words like manual.feature_count");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_okrchestra_example() {
        let m = ManualMetrics::parse(
            MANUAL_FILE,
            "metrics:\n  - key: manual.feature_count\n    value: 5\n    unit: count\n    evidence:\n      - features:auth,dashboard,reports\n",
        )
        .unwrap();
        assert_eq!(m.get("manual.feature_count").unwrap().value, 5.0);
    }

    #[test]
    fn rejects_duplicates_and_bad_values() {
        let err = ManualMetrics::parse(
            MANUAL_FILE,
            "metrics:\n  - key: a.b\n    value: 1\n  - key: a.b\n    value: 2\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "metrics/manual.yml:4: duplicate metric key \"a.b\"");
        let err = ManualMetrics::parse(MANUAL_FILE, "metrics:\n  - key: a.b\n    value: many\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("metrics/manual.yml:3:"), "{err}");
        assert!(validate_key("bad key").is_err());
        assert!(validate_key("a..b").is_err());
    }
}
