//! `metrics/snapshots/YYYY-MM-DD.json`: the day's latest measurement, in
//! OKRchestra's shape (`schema_version`, `as_of`, `points[]`) so its tools can
//! read it, plus the KRs' values, statuses and scores at that moment.
//!
//! A point's `dimensions` are written as OKRchestra writes them — a list of
//! `{"key", "value"}` objects, sorted, left out when empty — and read in that form
//! or as a plain `{name: value}` map (as in its `manual.yml`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

pub const SNAPSHOT_DIR: &str = "metrics/snapshots";

pub fn snapshot_path(as_of: &str) -> String {
    format!("{SNAPSHOT_DIR}/{as_of}.json")
}

/// A point's dimensions: name → value, sorted by name.
pub type Dimensions = BTreeMap<String, String>;

/// The key a value is looked up by: the metric key alone for an undimensioned point,
/// else `key{name=value,…}` (names sorted). The same metric with several dimension
/// sets gives several values, one per set.
pub fn value_key(key: &str, dimensions: &Dimensions) -> String {
    if dimensions.is_empty() {
        return key.to_string();
    }
    let dims: Vec<String> = dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{key}{{{}}}", dims.join(","))
}

#[derive(Serialize, Deserialize)]
struct Dimension {
    key: String,
    value: String,
}

/// OKRchestra's form: `[{"key": "env", "value": "prod"}, …]`.
pub fn serialize_dimensions<S: Serializer>(dims: &Dimensions, s: S) -> Result<S::Ok, S::Error> {
    let list: Vec<Dimension> = dims
        .iter()
        .map(|(k, v)| Dimension {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    list.serialize(s)
}

/// Either form: a list of `{key, value}` objects or a `{name: value}` map (or null).
pub fn deserialize_dimensions<'de, D: Deserializer<'de>>(d: D) -> Result<Dimensions, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<Dimension>),
        Map(BTreeMap<String, String>),
        Null(()),
    }
    let pairs: Vec<(String, String)> = match Form::deserialize(d).map_err(|_| {
        serde::de::Error::custom(
            "dimensions must be a list of {key, value} objects or a map of names to strings",
        )
    })? {
        Form::List(list) => list.into_iter().map(|d| (d.key, d.value)).collect(),
        Form::Map(map) => map.into_iter().collect(),
        Form::Null(()) => Vec::new(),
    };
    let mut out = Dimensions::new();
    for (k, v) in pairs {
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        // OKRchestra drops empty names and values when it canonicalizes.
        if k.is_empty() || v.is_empty() {
            continue;
        }
        if let Some(old) = out.insert(k.clone(), v.clone()) {
            if old != v {
                return Err(serde::de::Error::custom(format!(
                    "dimension {k:?} is given twice ({old:?} and {v:?})"
                )));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MetricPoint {
    pub key: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// When the value was observed (RFC 3339).
    #[serde(default)]
    pub timestamp: String,
    /// Where it came from: `git`, `ci`, `manual`.
    #[serde(default)]
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "serialize_dimensions",
        deserialize_with = "deserialize_dimensions"
    )]
    pub dimensions: Dimensions,
}

impl MetricPoint {
    /// See [`value_key`].
    pub fn value_key(&self) -> String {
        value_key(&self.key, &self.dimensions)
    }
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
pub struct Snapshot {
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

impl Snapshot {
    /// The value of an undimensioned point of `key`, or of the point whose
    /// [`value_key`] is `key`.
    pub fn value(&self, key: &str) -> Option<f64> {
        self.points
            .iter()
            .find(|p| p.value_key() == key)
            .map(|p| p.value)
    }

    /// Every point's value by its [`value_key`].
    pub fn values(&self) -> BTreeMap<String, f64> {
        self.points
            .iter()
            .map(|p| (p.value_key(), p.value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_read_both_forms_and_write_okrchestras() {
        let list = r#"{"key":"k","value":1,"dimensions":[{"key":"env","value":"prod"},{"key":"az","value":"a"}]}"#;
        let map = r#"{"key":"k","value":1,"dimensions":{"az":"a","env":"prod"}}"#;
        let a: MetricPoint = serde_json::from_str(list).unwrap();
        let b: MetricPoint = serde_json::from_str(map).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.value_key(), "k{az=a,env=prod}");
        let out = serde_json::to_value(&a).unwrap();
        assert_eq!(
            out["dimensions"],
            serde_json::json!([{"key":"az","value":"a"},{"key":"env","value":"prod"}])
        );
        let plain: MetricPoint = serde_json::from_str(r#"{"key":"k","value":1}"#).unwrap();
        let out = serde_json::to_value(&plain).unwrap();
        assert!(
            out.get("dimensions").is_none() && out.get("unit").is_none(),
            "{out}"
        );
        assert_eq!(plain.value_key(), "k");
    }

    #[test]
    fn conflicting_or_malformed_dimensions_are_refused() {
        let twice = r#"{"key":"k","value":1,"dimensions":[{"key":"env","value":"a"},{"key":"env","value":"b"}]}"#;
        let err = serde_json::from_str::<MetricPoint>(twice)
            .unwrap_err()
            .to_string();
        assert!(err.contains("given twice"), "{err}");
        let bad = r#"{"key":"k","value":1,"dimensions":[1,2]}"#;
        assert!(serde_json::from_str::<MetricPoint>(bad).is_err());
    }
}
