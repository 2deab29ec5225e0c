//! OKR files: `okrs/*.yml` (every one but `permissions.yml`), scopes org/team/person.
//!
//! Files are parsed twice: into typed structs (for validation and reading, with
//! serde_yaml's line numbers in errors) and into a `serde_yaml::Value` that edits
//! work on, so fields git-okr does not know survive a rewrite in their order.

use super::ids::{check_id, check_line, check_text};
use super::{at, line_of, line_of_key};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::HashMap;
use std::fmt;

/// The OKR files live here; `permissions.yml` beside them is not one.
pub const OKR_DIR: &str = "okrs/";
pub const PERMISSIONS_FILE: &str = "okrs/permissions.yml";
/// The organization's OKR file, which every state has.
pub const ORG_FILE: &str = "okrs/org.yml";

/// Whether a state path is an OKR definition file.
pub fn is_okr_file(path: &str) -> bool {
    path.strip_prefix(OKR_DIR).is_some_and(|name| {
        !name.contains('/') && (name.ends_with(".yml") || name.ends_with(".yaml"))
    }) && path != PERMISSIONS_FILE
        && path != super::cycles::CYCLES_FILE
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Org,
    Team,
    Person,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Org => "org",
            Scope::Team => "team",
            Scope::Person => "person",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    NotStarted,
    InProgress,
    Achieved,
    AtRisk,
    Blocked,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::NotStarted,
        Status::InProgress,
        Status::Achieved,
        Status::AtRisk,
        Status::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::InProgress => "in_progress",
            Status::Achieved => "achieved",
            Status::AtRisk => "at_risk",
            Status::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Google's two kinds of objective: a `committed` one is expected to reach 1.0, an
/// `aspirational` one is on target at 0.7 (the default: most OKRs stretch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Commitment {
    Committed,
    #[default]
    Aspirational,
}

impl Commitment {
    pub fn as_str(self) -> &'static str {
        match self {
            Commitment::Committed => "committed",
            Commitment::Aspirational => "aspirational",
        }
    }

    /// The grade an objective of this kind should reach.
    pub fn expected(self) -> f64 {
        match self {
            Commitment::Committed => 1.0,
            Commitment::Aspirational => 0.7,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OkrFile {
    #[serde(default)]
    pub scope: Option<Scope>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub objectives: Vec<Objective>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Objective {
    pub objective_id: String,
    #[serde(default)]
    pub objective: String,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub weight: Option<f64>,
    /// When the objective should be met (`YYYY-MM-DD`); forecasts project to it.
    #[serde(default)]
    pub due: Option<String>,
    /// The cycle it belongs to (`2026-Q4`; see `okrs/cycles.yml`); none: every cycle.
    #[serde(default)]
    pub cycle: Option<String>,
    /// `committed` or `aspirational` (default), for grading.
    #[serde(default, rename = "type")]
    pub commitment: Option<Commitment>,
    #[serde(default)]
    pub key_results: Vec<KeyResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyResult {
    pub kr_id: String,
    #[serde(default)]
    pub description: String,
    pub metric_key: String,
    pub baseline: f64,
    pub target: f64,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub evidence: Vec<Value>,
    #[serde(default)]
    pub current: Option<f64>,
    #[serde(default)]
    pub last_updated: Option<Value>,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub unit: Option<String>,
    /// Which dimensioned point of the metric this KR reads (`{suite: e2e}`); without
    /// it, the metric's undimensioned point.
    #[serde(default, deserialize_with = "super::snapshot::deserialize_dimensions")]
    pub dimensions: super::snapshot::Dimensions,
}

impl KeyResult {
    /// A KR is increasing when its target lies above its baseline.
    pub fn is_increasing(&self) -> bool {
        self.target > self.baseline
    }

    /// A KR whose baseline equals its target: a level to hold, reached when the value
    /// is at least the target (as OKRchestra scores it), never "in progress".
    pub fn is_flat(&self) -> bool {
        self.target == self.baseline
    }

    /// Whether `current` meets the target, in the KR's direction (a flat KR: at least it).
    pub fn reached(&self, current: f64) -> bool {
        if self.is_increasing() || self.is_flat() {
            current >= self.target
        } else {
            current <= self.target
        }
    }

    /// clamp((current − baseline) / (target − baseline), 0, 1); a flat KR scores 1 when
    /// reached, else 0.
    pub fn score(&self, current: f64) -> f64 {
        if self.is_flat() {
            return if self.reached(current) { 1.0 } else { 0.0 };
        }
        ((current - self.baseline) / (self.target - self.baseline)).clamp(0.0, 1.0)
    }

    /// The key its value is looked up by among measured values (see `snapshot::value_key`).
    pub fn value_key(&self) -> String {
        super::snapshot::value_key(&self.metric_key, &self.dimensions)
    }

    pub fn weight(&self) -> f64 {
        self.weight.unwrap_or(1.0)
    }
}

/// One parsed OKR file.
#[derive(Debug, Clone)]
pub struct OkrDoc {
    pub path: String,
    pub text: String,
    pub file: OkrFile,
    /// The editable tree, and the tree as parsed (to tell whether edits changed anything).
    value: Value,
    parsed: Value,
}

impl OkrDoc {
    pub fn parse(path: &str, text: &str) -> Result<OkrDoc> {
        let file: OkrFile = if text.trim().is_empty() {
            OkrFile {
                scope: None,
                owner_id: None,
                objectives: Vec::new(),
            }
        } else {
            super::parse_yaml(path, text)?
        };
        let value: Value = if text.trim().is_empty() {
            Value::Mapping(Default::default())
        } else {
            super::parse_yaml(path, text)?
        };
        Ok(OkrDoc {
            path: path.to_string(),
            text: text.to_string(),
            file,
            parsed: value.clone(),
            value,
        })
    }

    pub fn scope(&self) -> Scope {
        self.file.scope.unwrap_or(Scope::Org)
    }

    pub fn is_edited(&self) -> bool {
        self.value != self.parsed
    }

    /// The YAML text of this document after edits.
    pub fn render(&self) -> Result<String> {
        Ok(serde_yaml::to_string(&self.value)?)
    }

    /// Mutable access to the mapping of KR `kr_id` in the editable tree.
    pub fn kr_value_mut(&mut self, kr_id: &str) -> Option<&mut serde_yaml::Mapping> {
        let objectives = self.value.get_mut("objectives")?.as_sequence_mut()?;
        objectives.iter_mut().find_map(|o| {
            o.get_mut("key_results")?
                .as_sequence_mut()?
                .iter_mut()
                .find(|kr| kr.get("kr_id").and_then(Value::as_str) == Some(kr_id))?
                .as_mapping_mut()
        })
    }

    /// Mutable access to the mapping of objective `objective_id` in the editable tree.
    pub fn objective_value_mut(&mut self, objective_id: &str) -> Option<&mut serde_yaml::Mapping> {
        let objectives = self.value.get_mut("objectives")?.as_sequence_mut()?;
        objectives
            .iter_mut()
            .find(|o| o.get("objective_id").and_then(Value::as_str) == Some(objective_id))?
            .as_mapping_mut()
    }

    /// The editable tree as it is now.
    pub fn value(&self) -> &Value {
        &self.value
    }

    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.value
    }
}

/// All OKR files of the state, validated together (ids are unique across files).
#[derive(Debug, Clone, Default)]
pub struct OkrSet {
    pub docs: Vec<OkrDoc>,
}

/// A KR with the objective and file it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct KrRef<'a> {
    pub doc: &'a OkrDoc,
    pub objective: &'a Objective,
    pub kr: &'a KeyResult,
}

impl OkrSet {
    /// Parse and validate `(path, text)` pairs of OKR files.
    pub fn parse<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<OkrSet> {
        let mut docs = Vec::new();
        for (path, text) in files {
            docs.push(OkrDoc::parse(path, text)?);
        }
        let set = OkrSet { docs };
        set.validate()?;
        Ok(set)
    }

    pub fn objectives(&self) -> impl Iterator<Item = (&OkrDoc, &Objective)> {
        self.docs
            .iter()
            .flat_map(|d| d.file.objectives.iter().map(move |o| (d, o)))
    }

    pub fn krs(&self) -> impl Iterator<Item = KrRef<'_>> {
        self.objectives().flat_map(|(doc, objective)| {
            objective
                .key_results
                .iter()
                .map(move |kr| KrRef { doc, objective, kr })
        })
    }

    pub fn find_kr(&self, kr_id: &str) -> Option<KrRef<'_>> {
        self.krs().find(|k| k.kr.kr_id == kr_id)
    }

    pub fn find_objective(&self, objective_id: &str) -> Option<(&OkrDoc, &Objective)> {
        self.objectives()
            .find(|(_, o)| o.objective_id == objective_id)
    }

    pub fn doc_mut(&mut self, path: &str) -> Option<&mut OkrDoc> {
        self.docs.iter_mut().find(|d| d.path == path)
    }

    /// Re-parse every edited document from its rendered text and validate the whole set,
    /// returning the new texts of the documents that changed.
    pub fn rendered_changes(&self) -> Result<Vec<(String, String)>> {
        let mut texts = Vec::new();
        for doc in &self.docs {
            let text = if doc.is_edited() {
                doc.render()?
            } else {
                doc.text.clone()
            };
            texts.push((doc.path.clone(), text));
        }
        OkrSet::parse(texts.iter().map(|(p, t)| (p.as_str(), t.as_str())))?;
        Ok(texts
            .into_iter()
            .zip(&self.docs)
            .filter(|(_, doc)| doc.is_edited())
            .map(|(t, _)| t)
            .collect())
    }

    /// The rules every OKR set must keep; the first broken one is reported with file and line.
    pub fn validate(&self) -> Result<()> {
        let mut objective_ids: HashMap<&str, (&str, Option<usize>)> = HashMap::new();
        let mut kr_ids: HashMap<&str, (&str, Option<usize>)> = HashMap::new();
        // How often each id was seen in each file, to point at the right occurrence.
        let mut seen_in_file: HashMap<(&str, &str, &str), usize> = HashMap::new();
        for doc in &self.docs {
            let path = doc.path.as_str();
            if let Some(owner) = &doc.file.owner_id {
                check_id(owner).map_err(|e| {
                    anyhow!(
                        "{}: owner_id {e}",
                        at(path, line_of_key(&doc.text, "owner_id", 0))
                    )
                })?;
            }
            let mut kr_index = 0;
            for (objective_index, objective) in doc.file.objectives.iter().enumerate() {
                let id = objective.objective_id.as_str();
                let n = seen_in_file.entry((path, "objective_id", id)).or_insert(0);
                let line = line_of(&doc.text, "objective_id", id, *n)
                    .or_else(|| line_of_key(&doc.text, "objective_id", objective_index));
                *n += 1;
                if id.trim().is_empty() {
                    bail!("{}: objective_id is empty", at(path, line));
                }
                check_id(id).map_err(|e| anyhow!("{}: objective_id {e}", at(path, line)))?;
                check_one_lines(
                    &at(path, line),
                    id,
                    &[("objective", Some(&objective.objective))],
                )?;
                if let Some(owner) = &objective.owner_id {
                    check_id(owner)
                        .map_err(|e| anyhow!("{}: objective {id}: owner_id {e}", at(path, line)))?;
                }
                if let Some((first, first_line)) = objective_ids.insert(id, (path, line)) {
                    bail!(
                        "{}: duplicate objective_id {id:?} (first defined at {})",
                        at(path, line),
                        at(first, first_line)
                    );
                }
                check_weight(
                    objective.weight,
                    &format!("{}: objective {id}", at(path, line)),
                )?;
                if let Some(cycle) = &objective.cycle {
                    super::cycles::check_cycle_id(cycle)
                        .map_err(|e| anyhow!("{}: objective {id}: cycle {e}", at(path, line)))?;
                }
                if let Some(due) = &objective.due {
                    chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d").map_err(|_| {
                        anyhow!(
                            "{}: objective {id}: due {due:?} is not a date (YYYY-MM-DD)",
                            at(path, line)
                        )
                    })?;
                }
                for kr in &objective.key_results {
                    let id = kr.kr_id.as_str();
                    let n = seen_in_file.entry((path, "kr_id", id)).or_insert(0);
                    let line = line_of(&doc.text, "kr_id", id, *n)
                        .or_else(|| line_of_key(&doc.text, "kr_id", kr_index));
                    *n += 1;
                    kr_index += 1;
                    let here = at(path, line);
                    if id.trim().is_empty() {
                        bail!("{here}: kr_id is empty");
                    }
                    check_id(id).map_err(|e| anyhow!("{here}: kr_id {e}"))?;
                    if let Some((first, first_line)) = kr_ids.insert(id, (path, line)) {
                        bail!(
                            "{here}: duplicate kr_id {id:?} (first defined at {})",
                            at(first, first_line)
                        );
                    }
                    validate_kr(kr, &here)?;
                }
            }
        }
        Ok(())
    }
}

/// Refuse control characters in one-line fields of objective or KR `id`.
fn check_one_lines(here: &str, id: &str, fields: &[(&str, Option<&String>)]) -> Result<()> {
    for (name, value) in fields {
        if let Some(value) = value {
            check_line(value).map_err(|e| anyhow!("{here}: {id}: {name} {e}"))?;
        }
    }
    Ok(())
}

fn validate_kr(kr: &KeyResult, here: &str) -> Result<()> {
    let id = &kr.kr_id;
    check_one_lines(
        here,
        id,
        &[
            ("metric_key", Some(&kr.metric_key)),
            ("unit", kr.unit.as_ref()),
        ],
    )?;
    check_text(&kr.description).map_err(|e| anyhow!("{here}: {id}: description {e}"))?;
    if let Some(owner) = &kr.owner_id {
        check_id(owner).map_err(|e| anyhow!("{here}: {id}: owner_id {e}"))?;
    }
    for item in &kr.evidence {
        if let Value::String(text) = item {
            check_line(text).map_err(|e| anyhow!("{here}: {id}: evidence {e}"))?;
        }
    }
    if kr.metric_key.trim().is_empty() {
        bail!("{here}: {id}: metric_key is empty");
    }
    if !kr.baseline.is_finite() || !kr.target.is_finite() {
        bail!("{here}: {id}: baseline and target must be finite numbers");
    }
    if let Some(c) = kr.confidence {
        if !(0.0..=1.0).contains(&c) {
            bail!("{here}: {id}: confidence {c} is outside 0..1");
        }
    }
    check_weight(kr.weight, &format!("{here}: {id}"))
}

fn check_weight(weight: Option<f64>, what: &str) -> Result<()> {
    match weight {
        Some(w) if !w.is_finite() || w < 0.0 => bail!("{what}: weight {w} must be a number >= 0"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "scope: org\nobjectives:\n  - objective_id: OBJ-1\n    objective: Ship\n    key_results:\n      - kr_id: KR-1.1\n        description: tests\n        metric_key: ci.test_count\n        baseline: 0\n        target: 100\n        status: not_started\n        custom_field: kept\n";

    fn parse(text: &str) -> Result<OkrSet> {
        OkrSet::parse([("okrs/org.yml", text)])
    }

    #[test]
    fn parses_the_example() {
        let set = parse(ORG).unwrap();
        let kr = set.find_kr("KR-1.1").unwrap();
        assert_eq!(kr.kr.target, 100.0);
        assert_eq!(kr.doc.scope(), Scope::Org);
        assert!(kr.kr.is_increasing());
    }

    #[test]
    fn duplicate_kr_ids_name_both_lines() {
        let text = format!("{ORG}      - kr_id: KR-1.1\n        metric_key: x\n        baseline: 0\n        target: 1\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("okrs/org.yml:13: duplicate kr_id \"KR-1.1\""),
            "{err}"
        );
        assert!(err.contains("okrs/org.yml:6"), "{err}");
    }

    #[test]
    fn duplicate_ids_across_files() {
        let err = OkrSet::parse([("okrs/org.yml", ORG), ("okrs/team.yml", ORG)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("okrs/team.yml:3: duplicate objective_id"),
            "{err}"
        );
    }

    #[test]
    fn unknown_status_is_located() {
        let err = parse(&ORG.replace("not_started", "done"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("okrs/org.yml:11:"), "{err}");
        assert!(err.contains("unknown variant `done`"), "{err}");
    }

    #[test]
    fn wrong_types_and_missing_fields() {
        let err = parse(&ORG.replace("target: 100", "target: lots"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("target") && err.starts_with("okrs/org.yml:10"),
            "{err}"
        );
        let err = parse(&ORG.replace("        metric_key: ci.test_count\n", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `metric_key`"), "{err}");
        // A KR whose target equals its baseline is a level to hold (OKRchestra has them).
        let set = parse(&ORG.replace("target: 100", "target: 0")).unwrap();
        let kr = set.find_kr("KR-1.1").unwrap().kr;
        assert!(kr.is_flat() && kr.reached(0.0) && !kr.reached(-1.0));
        assert_eq!((kr.score(5.0), kr.score(-1.0)), (1.0, 0.0));
    }

    #[test]
    fn edits_keep_unknown_fields() {
        let mut set = parse(ORG).unwrap();
        let doc = set.doc_mut("okrs/org.yml").unwrap();
        doc.kr_value_mut("KR-1.1")
            .unwrap()
            .insert("status".into(), "achieved".into());
        let changes = set.rendered_changes().unwrap();
        assert_eq!(changes.len(), 1);
        assert!(changes[0].1.contains("status: achieved"));
        assert!(changes[0].1.contains("custom_field: kept"));
    }

    #[test]
    fn which_files_are_okr_files() {
        assert!(is_okr_file("okrs/org.yml"));
        assert!(is_okr_file("okrs/team-platform.yaml"));
        assert!(!is_okr_file("okrs/permissions.yml"));
        assert!(!is_okr_file("okrs/cycles.yml"));
        assert!(!is_okr_file("okrs/schema.md"));
        assert!(!is_okr_file("okrs/sub/x.yml"));
    }
}
