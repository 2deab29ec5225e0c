//! `metrics/manual.yml`: metrics people (or CI scripts) record by hand.
//!
//! Read in both forms OKRchestra reads: `metrics: [...]` and a top-level list. A
//! metric may carry `dimensions` (a map); the same key may appear once per
//! dimension set.

use super::edit_proof::{lines_prove, ItemList};
use super::proposal::Change;
use super::snapshot::{value_key, Dimensions};
use super::{at, yaml_error, LineIndex};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::{BTreeMap, HashMap};

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
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "super::snapshot::deserialize_dimensions"
    )]
    pub dimensions: Dimensions,
}

impl ManualMetric {
    /// The key its value is looked up by (see [`value_key`]).
    pub fn value_key(&self) -> String {
        value_key(&self.key, &self.dimensions)
    }

    /// Unit, evidence and source are one line each: they reach commit messages and reports.
    pub fn check_lines(&self) -> std::result::Result<(), String> {
        use super::ids::check_line;
        for (name, value) in [("unit", &self.unit), ("source", &self.source)] {
            if let Some(v) = value {
                check_line(v).map_err(|e| format!("{name} {e}"))?;
            }
        }
        for (i, e) in self.evidence.iter().enumerate() {
            check_line(e).map_err(|err| format!("evidence[{i}] {err}"))?;
        }
        Ok(())
    }
}

/// The two layouts OKRchestra accepts.
#[derive(Deserialize)]
#[serde(untagged)]
enum Layout {
    Wrapped(ManualMetrics),
    List(Vec<ManualMetric>),
}

impl ManualMetrics {
    pub fn parse(path: &str, text: &str) -> Result<ManualMetrics> {
        Ok(ManualMetrics::parse_with_tree(path, text)?.0)
    }

    /// `parse`, with the YAML tree the metrics were read from (to edit the text by its lines).
    pub fn parse_with_tree(path: &str, text: &str) -> Result<(ManualMetrics, Value)> {
        if text.trim().is_empty() {
            return Ok((ManualMetrics::default(), Value::Null));
        }
        let (m, tree) = parse_layout(path, text)?;
        // Lines are looked up only for an error: a valid file of thousands of metrics is
        // checked without indexing its text.
        let line_of = |index: usize| {
            let key = m.metrics[index].key.as_str();
            let nth = m.metrics[..index].iter().filter(|o| o.key == key).count();
            LineIndex::new(text, &["key"]).line("key", key, nth)
        };
        let mut value_keys: HashMap<String, usize> = HashMap::new();
        for (index, metric) in m.metrics.iter().enumerate() {
            let here = || at(path, line_of(index));
            validate_key(&metric.key).map_err(|e| anyhow::anyhow!("{}: {e}", here()))?;
            if let Some(first) = value_keys.insert(metric.value_key(), index) {
                let dims = if metric.dimensions.is_empty() {
                    String::new()
                } else {
                    format!(" with the same dimensions {:?}", metric.dimensions)
                };
                bail!(
                    "{}: duplicate metric key {:?}{dims} (first at {})",
                    here(),
                    metric.key,
                    at(path, line_of(first))
                );
            }
            if !metric.value.is_finite() {
                bail!("{}: {}: value must be a finite number", here(), metric.key);
            }
            metric
                .check_lines()
                .map_err(|e| anyhow::anyhow!("{}: {}: {e}", here(), metric.key))?;
        }
        Ok((m, tree))
    }

    pub fn render(&self) -> Result<String> {
        Ok(serde_yaml::to_string(self)?)
    }

    /// `upsert(metric)`, and the file's new text: `text` (whose tree is `tree`) with the
    /// lines of the fields the metric changes edited in place (comments and layout kept)
    /// when those lines prove the result, else every metric rendered again.
    pub fn upsert_in_text(
        &mut self,
        text: &str,
        mut tree: Value,
        metric: ManualMetric,
    ) -> Result<String> {
        let edited = self.edit_lines(text, &mut tree, &metric);
        self.upsert(metric);
        match edited {
            Some(edited) => {
                super::tree_cache::remember_behind(edited.clone(), std::sync::Arc::new(tree));
                Ok(edited)
            }
            None => self.render(),
        }
    }

    /// `text` with the fields `metric` changes in its entry set by their lines, and `tree`
    /// made the tree of that text; `None` (and `tree` of no use) when the lines cannot
    /// prove the edit: a new metric, a field it drops, a layout outside plain block YAML.
    fn edit_lines(&self, text: &str, tree: &mut Value, metric: &ManualMetric) -> Option<String> {
        let index = self
            .metrics
            .iter()
            .position(|m| m.key == metric.key && m.dimensions.is_empty())?;
        if !metric.dimensions.is_empty() {
            return None;
        }
        let item = tree.get_mut("metrics")?.get_mut(index)?.as_mapping_mut()?;
        if item.get("key")?.as_str()? != metric.key {
            return None;
        }
        let new = serde_yaml::to_value(metric).ok()?;
        let new = new.as_mapping()?;
        if item.keys().any(|k| !new.contains_key(k)) {
            return None;
        }
        let mut sets = Vec::new();
        for (field, value) in new {
            if item.get(field) != Some(value) {
                sets.push(Change::Set {
                    id: metric.key.clone(),
                    field: field.as_str()?.to_string(),
                    value: value.clone(),
                });
                item.insert(field.clone(), value.clone());
            }
        }
        let edited = super::text_edit::set_item_fields(text, "key", &sets)?;
        let fields: Vec<(&str, &str)> = sets.iter().filter_map(Change::set_field).collect();
        lines_prove(text, &edited, &fields, tree, MANUAL_ITEMS).then_some(edited)
    }

    /// Replace the metric with the same key and dimensions, or add it.
    pub fn upsert(&mut self, metric: ManualMetric) {
        match self
            .metrics
            .iter_mut()
            .find(|m| m.key == metric.key && m.dimensions == metric.dimensions)
        {
            Some(slot) => *slot = metric,
            None => self.metrics.push(metric),
        }
    }

    /// The undimensioned metric `key`.
    pub fn get(&self, key: &str) -> Option<&ManualMetric> {
        self.metrics
            .iter()
            .find(|m| m.key == key && m.dimensions.is_empty())
    }
}

/// The entries of `metrics/manual.yml` whose fields `metric set` edits by their lines.
pub const MANUAL_ITEMS: &[ItemList] = &[ItemList {
    path: &["metrics", "*"],
    id_key: "key",
}];

/// `metrics: [...]` or a top-level list, with the tree it was read from; an error names
/// the line either layout stopped at.
fn parse_layout(path: &str, text: &str) -> Result<(ManualMetrics, Value)> {
    // Size, depth and NUL are checked (and a BOM skipped) before any parse.
    let value = super::tree_cache::parse(path, text)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if value.is_null() {
        return Ok((ManualMetrics::default(), value));
    }
    // The typed view is read from the tree already parsed (a second parse of a file of
    // thousands of metrics costs as much as the first); only a tree it refuses is parsed
    // again from the text, for serde_yaml's error with its line.
    if value.is_sequence() {
        if let Ok(list) = Vec::<ManualMetric>::deserialize(&value) {
            return Ok((ManualMetrics { metrics: list }, value));
        }
        let list: Vec<ManualMetric> =
            serde_yaml::from_str(text).map_err(|e| yaml_error(path, e))?;
        return Ok((ManualMetrics { metrics: list }, value));
    }
    if let Ok(m) = ManualMetrics::deserialize(&value) {
        return Ok((m, value));
    }
    let m = match serde_yaml::from_str::<Layout>(text) {
        Ok(Layout::Wrapped(m)) => m,
        Ok(Layout::List(list)) => ManualMetrics { metrics: list },
        // Untagged errors say nothing useful: parse again as the wrapped form for a located error.
        Err(_) => serde_yaml::from_str::<ManualMetrics>(text).map_err(|e| yaml_error(path, e))?,
    };
    Ok((m, value))
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
        assert_eq!(
            err,
            "metrics/manual.yml:4: duplicate metric key \"a.b\" (first at metrics/manual.yml:2)"
        );
        let err = ManualMetrics::parse(MANUAL_FILE, "metrics:\n  - key: a.b\n    value: many\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("metrics/manual.yml:3:"), "{err}");
        assert!(validate_key("bad key").is_err());
        assert!(validate_key("a..b").is_err());
    }

    #[test]
    fn reads_a_top_level_list_with_dimension_sets() {
        let text = "- key: ci.pass_rate\n  value: 0.9\n  unit: ratio\n  dimensions: {suite: unit}\n- key: ci.pass_rate\n  value: 0.8\n  unit: ratio\n  dimensions: {suite: e2e}\n- key: ci.pass_rate\n  value: 0.85\n  unit: ratio\n";
        let m = ManualMetrics::parse(MANUAL_FILE, text).unwrap();
        assert_eq!(m.metrics.len(), 3);
        assert_eq!(m.get("ci.pass_rate").unwrap().value, 0.85);
        assert_eq!(m.metrics[0].value_key(), "ci.pass_rate{suite=unit}");
        let dup = format!("{text}- key: ci.pass_rate\n  value: 1\n  dimensions: {{suite: e2e}}\n");
        let err = ManualMetrics::parse(MANUAL_FILE, &dup)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("metrics/manual.yml:12: duplicate metric key"),
            "{err}"
        );
        let err = ManualMetrics::parse(MANUAL_FILE, "- key: a.b\n  value: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("metrics/manual.yml:2:"), "{err}");
    }
}
