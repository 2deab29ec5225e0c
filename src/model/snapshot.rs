//! `metrics/snapshots/YYYY-MM-DD.json`: the day's latest measurement, in
//! OKRchestra's shape (`schema_version`, `as_of`, `points[]`) so its tools can
//! read it, plus the KRs' values, statuses and scores at that moment.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SNAPSHOT_DIR: &str = "metrics/snapshots";

pub fn snapshot_path(as_of: &str) -> String {
    format!("{SNAPSHOT_DIR}/{as_of}.json")
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricPoint {
    pub key: String,
    pub value: f64,
    #[serde(default)]
    pub unit: Option<String>,
    /// When the value was observed (RFC 3339).
    #[serde(default)]
    pub timestamp: String,
    /// Where it came from: `git`, `ci`, `manual`.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

/// A KR as measured in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KrPoint {
    pub kr_id: String,
    pub metric_key: String,
    pub value: Option<f64>,
    pub status: String,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricSnapshot {
    pub schema_version: u32,
    pub as_of: String,
    /// When the measurement ran (RFC 3339); several runs a day keep the latest.
    #[serde(default)]
    pub measured_at: String,
    /// The measured commit of the repository, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub points: Vec<MetricPoint>,
    #[serde(default)]
    pub key_results: Vec<KrPoint>,
}

impl MetricSnapshot {
    pub fn value(&self, key: &str) -> Option<f64> {
        self.points.iter().find(|p| p.key == key).map(|p| p.value)
    }
}
