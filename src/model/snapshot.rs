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

/// Every point's value by its [`value_key`]. A metric measured under exactly one
/// dimension set and never without one (e.g. `ci.build_success_rate{builds=…,window=…}`)
/// also answers to its bare key, so a KR without dimensions reads it; a metric with
/// several dimension sets and no undimensioned point has no bare value (which set would
/// it be?).
pub fn values_of(points: &[MetricPoint]) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = points.iter().map(|p| (p.value_key(), p.value)).collect();
    let mut sets: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for p in points.iter().filter(|p| !p.dimensions.is_empty()) {
        sets.entry(p.key.as_str()).or_default().push(p.value);
    }
    for (key, values) in sets {
        if let ([only], false) = (values.as_slice(), out.contains_key(key)) {
            out.insert(key.to_string(), *only);
        }
    }
    out
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
    /// The file OKRchestra writes and its loader reads: only `schema_version`, `as_of`
    /// and `points` (its decoder refuses unknown fields, so `measured_at`, `commit` and
    /// `key_results` are left out), points in its order (key, dimensions, source, unit,
    /// timestamp, value).
    pub fn to_okrchestra_json(&self) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct Okrchestra<'a> {
            schema_version: u32,
            as_of: &'a str,
            points: Vec<&'a MetricPoint>,
        }
        let mut points: Vec<&MetricPoint> = self.points.iter().collect();
        let dims = |p: &MetricPoint| -> Vec<String> {
            p.dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        };
        points.sort_by(|a, b| {
            (&a.key, dims(a), &a.source, &a.unit, &a.timestamp)
                .cmp(&(&b.key, dims(b), &b.source, &b.unit, &b.timestamp))
                .then(a.value.total_cmp(&b.value))
        });
        let file = Okrchestra {
            schema_version: 1,
            as_of: &self.as_of,
            points,
        };
        Ok(serde_json::to_string_pretty(&file)? + "\n")
    }

    /// The value for a [`value_key`] (see [`values_of`]).
    pub fn value(&self, key: &str) -> Option<f64> {
        self.values().get(key).copied()
    }

    /// Every point's value by its [`value_key`] (see [`values_of`]).
    pub fn values(&self) -> BTreeMap<String, f64> {
        values_of(&self.points)
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
    fn a_lone_dimension_set_answers_to_the_bare_key() {
        let p = |k: &str, v: f64, dims: &[(&str, &str)]| MetricPoint {
            key: k.into(),
            value: v,
            unit: None,
            timestamp: String::new(),
            source: String::new(),
            evidence: vec![],
            dimensions: dims
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        let v = values_of(&[
            p("rate", 95.0, &[("builds", "20")]),
            p("suite", 1.0, &[("s", "a")]),
            p("suite", 0.5, &[("s", "b")]),
            p("both", 3.0, &[]),
            p("both", 4.0, &[("s", "a")]),
        ]);
        assert_eq!(v.get("rate"), Some(&95.0));
        assert_eq!(v.get("suite"), None);
        assert_eq!(v.get("suite{s=b}"), Some(&0.5));
        assert_eq!(v.get("both"), Some(&3.0));
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
