//! OKR files: `okrs/*.yml` (every one but `permissions.yml`), scopes org/team/person.
//!
//! A file is parsed into a `serde_yaml::Value` tree that edits work on, so fields
//! git-okr does not know survive a rewrite in their order, and the typed structs (for
//! validation and reading) are read from that tree. Only a tree the typed structs refuse
//! sends the text to serde_yaml again, for its error with the line. Trees come from the
//! tree cache (`tree_cache`) when the same text was parsed before.

use super::ids::{check_id, check_line, check_text};
use super::{at, LineIndex};
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

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
    /// The YAML tree as parsed, built from the text when first needed: commands that only
    /// read the typed view never build it.
    tree: OnceCell<Arc<Value>>,
    /// The tree being edited, a copy of `tree` made on the first mutable access.
    edited: Option<Value>,
    /// Where each KR sits in the tree as parsed: (objective, key result) positions, so
    /// an edit of one KR does not search the whole file. Made on the first edit.
    kr_positions: OnceCell<HashMap<String, (usize, usize)>>,
}

impl OkrDoc {
    /// Parse the tree (from the tree cache when this text was parsed before: YAML is
    /// the cost of a large OKR file) and read the typed view from it. A text parsed
    /// before gets its typed view straight from the kept tree's JSON, and its YAML tree
    /// only if an edit asks for it.
    pub fn parse(path: &str, text: &str) -> Result<OkrDoc> {
        if let Some(file) = super::tree_cache::typed::<OkrFile>(text) {
            return Ok(OkrDoc::new(path, text, file, OnceCell::new()));
        }
        let tree = parse_tree(path, text)?;
        let file = typed_from_tree(path, text, &tree)?;
        Ok(OkrDoc::new(
            path,
            text,
            file,
            OnceCell::from(Arc::new(tree)),
        ))
    }

    /// This document keeping `tree`, the parse of its text, to edit (a caller that has the
    /// tree already saves a parse).
    pub fn keeping_tree(mut self, tree: Arc<Value>) -> OkrDoc {
        self.tree = OnceCell::from(tree);
        self
    }

    /// The document whose text `text` parses to `tree` (parsed by a caller that needed the
    /// tree anyway, e.g. to check an edit).
    pub fn from_tree(path: &str, text: &str, tree: &Value) -> Result<OkrDoc> {
        let file = typed_from_tree(path, text, tree)?;
        Ok(OkrDoc::new(path, text, file, OnceCell::new()))
    }

    fn new(path: &str, text: &str, file: OkrFile, tree: OnceCell<Arc<Value>>) -> OkrDoc {
        OkrDoc {
            path: path.to_string(),
            text: text.to_string(),
            file,
            tree,
            edited: None,
            kr_positions: OnceCell::new(),
        }
    }

    /// Where each KR sits in the tree as parsed (the typed view was read from that tree
    /// and is never edited).
    fn kr_positions(&self) -> &HashMap<String, (usize, usize)> {
        self.kr_positions.get_or_init(|| {
            let mut positions = HashMap::new();
            for (o, objective) in self.file.objectives.iter().enumerate() {
                for (k, kr) in objective.key_results.iter().enumerate() {
                    positions.entry(kr.kr_id.clone()).or_insert((o, k));
                }
            }
            positions
        })
    }

    /// A copy to read with only the objectives `keep` accepts (views are never edited, so
    /// the tree is not copied).
    pub fn filtered(&self, keep: impl Fn(&Objective) -> bool) -> OkrDoc {
        let mut file = self.file.clone();
        file.objectives.retain(keep);
        OkrDoc::new(&self.path, &self.text, file, OnceCell::new())
    }

    pub fn scope(&self) -> Scope {
        self.file.scope.unwrap_or(Scope::Org)
    }

    pub fn is_edited(&self) -> bool {
        self.edited
            .as_ref()
            .is_some_and(|edited| Some(edited) != self.tree.get().map(|t| &**t))
    }

    /// The YAML text of this document after edits.
    pub fn render(&self) -> Result<String> {
        Ok(serde_yaml::to_string(self.value())?)
    }

    /// The tree to edit: a copy of the tree as parsed, made on the first call.
    fn tree_mut(&mut self) -> &mut Value {
        if let Some(edited) = self.edited.take() {
            return self.edited.insert(edited);
        }
        let copy = self.value().clone();
        self.edited.insert(copy)
    }

    /// Mutable access to the mapping of KR `kr_id` in the editable tree.
    pub fn kr_value_mut(&mut self, kr_id: &str) -> Option<&mut serde_yaml::Mapping> {
        let is_it = |kr: &Value| kr.get("kr_id").and_then(Value::as_str) == Some(kr_id);
        let at = self.kr_positions().get(kr_id).copied();
        let objectives = self.tree_mut().get_mut("objectives")?.as_sequence_mut()?;
        // The position as parsed, unless structural edits moved the KR since.
        let at = at.filter(|&(o, k)| {
            objectives
                .get(o)
                .and_then(|o| o.get("key_results")?.as_sequence()?.get(k))
                .is_some_and(is_it)
        });
        if let Some((o, k)) = at {
            return objectives[o]
                .get_mut("key_results")?
                .as_sequence_mut()?
                .get_mut(k)?
                .as_mapping_mut();
        }
        objectives.iter_mut().find_map(|o| {
            o.get_mut("key_results")?
                .as_sequence_mut()?
                .iter_mut()
                .find(|kr| is_it(kr))?
                .as_mapping_mut()
        })
    }

    /// Mutable access to the mapping of objective `objective_id` in the editable tree.
    pub fn objective_value_mut(&mut self, objective_id: &str) -> Option<&mut serde_yaml::Mapping> {
        let objectives = self.tree_mut().get_mut("objectives")?.as_sequence_mut()?;
        objectives
            .iter_mut()
            .find(|o| o.get("objective_id").and_then(Value::as_str) == Some(objective_id))?
            .as_mapping_mut()
    }

    /// The edited tree (or the tree as parsed), taken out of the document.
    pub fn into_value(mut self) -> Value {
        match self.edited.take() {
            Some(edited) => edited,
            None => self.value().clone(),
        }
    }

    /// The editable tree as it is now.
    pub fn value(&self) -> &Value {
        match &self.edited {
            Some(edited) => edited,
            // The typed view was parsed from this text, so its tree parses too.
            None => self.tree.get_or_init(|| {
                Arc::new(parse_tree(&self.path, &self.text).unwrap_or(Value::Null))
            }),
        }
    }

    pub fn value_mut(&mut self) -> &mut Value {
        self.tree_mut()
    }
}

fn empty_file() -> OkrFile {
    OkrFile {
        scope: None,
        owner_id: None,
        objectives: Vec::new(),
    }
}

/// The items of an OKR file whose fields are set by editing their lines (see `edit_proof`).
pub const OKR_ITEMS: &[super::edit_proof::ItemList] = &[
    super::edit_proof::ItemList {
        path: &["objectives", "*"],
        id_key: "objective_id",
    },
    super::edit_proof::ItemList {
        path: &["objectives", "*", "key_results", "*"],
        id_key: "kr_id",
    },
];

/// The YAML tree of an OKR file's text (an empty mapping for a blank file), from the
/// tree cache when this text was parsed before.
pub fn parse_tree(path: &str, text: &str) -> Result<Value> {
    if text.trim().is_empty() {
        return Ok(Value::Mapping(Default::default()));
    }
    super::tree_cache::parse(path, text)
}

/// The typed view of `tree`, the parse of `text`. Only a tree the typed view refuses is
/// parsed again from the text, for serde_yaml's error with its line.
fn typed_from_tree(path: &str, text: &str, tree: &Value) -> Result<OkrFile> {
    if text.trim().is_empty() {
        return Ok(empty_file());
    }
    match OkrFile::deserialize(tree) {
        Ok(file) => Ok(file),
        Err(_) => super::parse_yaml(path, text),
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
        OkrSet::from_docs(docs)
    }

    /// Validate documents parsed elsewhere (e.g. from trees a caller already has).
    pub fn from_docs(docs: Vec<OkrDoc>) -> Result<OkrSet> {
        validate_docs(docs.iter())?;
        Ok(OkrSet { docs })
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
        self.changed_texts(|_| None)
    }

    /// The new texts of the edited documents, validated together with the others: the
    /// text `edited` gives for a document (an edit of its lines that parses to the edited
    /// tree), else its tree rendered. The edited documents are validated from their trees,
    /// so nothing is parsed again.
    pub fn changed_texts(
        &self,
        edited: impl Fn(&OkrDoc) -> Option<String>,
    ) -> Result<Vec<(String, String)>> {
        let mut changed = Vec::new();
        // Each document as it will be, in file order (errors name the first occurrence first).
        let mut new_docs: Vec<Option<OkrDoc>> = Vec::with_capacity(self.docs.len());
        for doc in &self.docs {
            if !doc.is_edited() {
                new_docs.push(None);
                continue;
            }
            let text = match edited(doc) {
                Some(text) => text,
                None => doc.render()?,
            };
            new_docs.push(Some(OkrDoc::from_tree(&doc.path, &text, doc.value())?));
            changed.push((doc.path.clone(), text));
        }
        validate_docs(
            self.docs
                .iter()
                .zip(&new_docs)
                .map(|(old, new)| new.as_ref().unwrap_or(old)),
        )?;
        Ok(changed)
    }

    /// The rules every OKR set must keep; the first broken one is reported with file and line.
    /// Ids are checked with hash maps and lines found through one index per file, so
    /// this is linear in the size of the set.
    pub fn validate(&self) -> Result<()> {
        validate_docs(self.docs.iter())
    }
}

/// The rules every OKR set must keep, for documents in file order.
///
/// Lines are only looked up for an error: a valid set of 10,000 key results is checked
/// without indexing its text.
fn validate_docs<'d>(docs: impl Iterator<Item = &'d OkrDoc>) -> Result<()> {
    let mut objective_ids: HashMap<&str, Place<'d>> = HashMap::new();
    let mut kr_ids: HashMap<&str, Place<'d>> = HashMap::new();
    for doc in docs {
        let path = doc.path.as_str();
        if let Some(owner) = &doc.file.owner_id {
            check_id(owner).map_err(|e| {
                let lines = LineIndex::new(&doc.text, &["owner_id"]);
                anyhow!(
                    "{}: owner_id {e}",
                    at(path, lines.line_of_key("owner_id", 0))
                )
            })?;
        }
        // How often each id was seen in this file, to point at the right occurrence.
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        let mut kr_index = 0;
        for (objective_index, objective) in doc.file.objectives.iter().enumerate() {
            let id = objective.objective_id.as_str();
            let place = Place::next(doc, &mut seen, "objective_id", id, objective_index);
            if id.trim().is_empty() {
                bail!("{}: objective_id is empty", place.here());
            }
            check_id(id).map_err(|e| anyhow!("{}: objective_id {e}", place.here()))?;
            check_one_lines(&place, id, &[("objective", Some(&objective.objective))])?;
            if let Some(owner) = &objective.owner_id {
                check_id(owner)
                    .map_err(|e| anyhow!("{}: objective {id}: owner_id {e}", place.here()))?;
            }
            if let Some(first) = objective_ids.insert(id, place) {
                bail!(
                    "{}: duplicate objective_id {id:?} (first defined at {})",
                    place.here(),
                    first.here()
                );
            }
            check_weight(objective.weight)
                .map_err(|e| anyhow!("{}: objective {id}: {e}", place.here()))?;
            if let Some(cycle) = &objective.cycle {
                super::cycles::check_cycle_id(cycle)
                    .map_err(|e| anyhow!("{}: objective {id}: cycle {e}", place.here()))?;
            }
            if let Some(due) = &objective.due {
                chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d").map_err(|_| {
                    anyhow!(
                        "{}: objective {id}: due {due:?} is not a date (YYYY-MM-DD)",
                        place.here()
                    )
                })?;
            }
            for kr in &objective.key_results {
                let id = kr.kr_id.as_str();
                let place = Place::next(doc, &mut seen, "kr_id", id, kr_index);
                kr_index += 1;
                if id.trim().is_empty() {
                    bail!("{}: kr_id is empty", place.here());
                }
                check_id(id).map_err(|e| anyhow!("{}: kr_id {e}", place.here()))?;
                if let Some(first) = kr_ids.insert(id, place) {
                    bail!(
                        "{}: duplicate kr_id {id:?} (first defined at {})",
                        place.here(),
                        first.here()
                    );
                }
                validate_kr(kr, &place)?;
            }
        }
    }
    Ok(())
}

/// Where an objective or KR is defined: the `nth` `key: id` line of its file, else the
/// `index`th `key:` line. The line is found only when an error names it.
#[derive(Clone, Copy)]
struct Place<'d> {
    doc: &'d OkrDoc,
    key: &'static str,
    id: &'d str,
    nth: usize,
    index: usize,
}

impl<'d> Place<'d> {
    /// The place of the next occurrence of `key: id` in `doc`, counting those seen so far.
    fn next(
        doc: &'d OkrDoc,
        seen: &mut HashMap<(&'static str, &'d str), usize>,
        key: &'static str,
        id: &'d str,
        index: usize,
    ) -> Place<'d> {
        let n = seen.entry((key, id)).or_insert(0);
        let nth = *n;
        *n += 1;
        Place {
            doc,
            key,
            id,
            nth,
            index,
        }
    }

    /// `file:line` for an error message.
    fn here(&self) -> String {
        let lines = LineIndex::new(&self.doc.text, &[self.key]);
        let line = lines
            .line(self.key, self.id, self.nth)
            .or_else(|| lines.line_of_key(self.key, self.index));
        at(&self.doc.path, line)
    }
}

/// Refuse control characters in one-line fields of objective or KR `id`.
fn check_one_lines(place: &Place<'_>, id: &str, fields: &[(&str, Option<&String>)]) -> Result<()> {
    for (name, value) in fields {
        if let Some(value) = value {
            check_line(value).map_err(|e| anyhow!("{}: {id}: {name} {e}", place.here()))?;
        }
    }
    Ok(())
}

fn validate_kr(kr: &KeyResult, place: &Place<'_>) -> Result<()> {
    let id = &kr.kr_id;
    check_one_lines(
        place,
        id,
        &[
            ("metric_key", Some(&kr.metric_key)),
            ("unit", kr.unit.as_ref()),
        ],
    )?;
    let here = || place.here();
    check_text(&kr.description).map_err(|e| anyhow!("{}: {id}: description {e}", here()))?;
    if let Some(owner) = &kr.owner_id {
        check_id(owner).map_err(|e| anyhow!("{}: {id}: owner_id {e}", here()))?;
    }
    for item in &kr.evidence {
        if let Value::String(text) = item {
            check_line(text).map_err(|e| anyhow!("{}: {id}: evidence {e}", here()))?;
        }
    }
    if kr.metric_key.trim().is_empty() {
        bail!("{}: {id}: metric_key is empty", here());
    }
    if !kr.baseline.is_finite() || !kr.target.is_finite() {
        bail!(
            "{}: {id}: baseline and target must be finite numbers",
            here()
        );
    }
    if let Some(c) = kr.confidence {
        if !(0.0..=1.0).contains(&c) {
            bail!("{}: {id}: confidence {c} is outside 0..1", here());
        }
    }
    check_weight(kr.weight).map_err(|e| anyhow!("{}: {id}: {e}", here()))
}

fn check_weight(weight: Option<f64>) -> Result<()> {
    match weight {
        Some(w) if !w.is_finite() || w < 0.0 => bail!("weight {w} must be a number >= 0"),
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

    /// A kept tree's JSON gives the typed view the YAML tree gives (status reads it so).
    #[test]
    fn the_typed_view_from_a_kept_tree_is_the_one_from_yaml() {
        let varied = "scope: team\nowner_id: team-web\nobjectives:\n  - objective_id: OBJ-2\n    objective: 'Two: \"quoted\"'\n    weight: 2.5\n    due: 2026-12-31\n    cycle: 2026-Q4\n    type: committed\n    key_results:\n      - kr_id: KR-2.1\n        metric_key: git.commits\n        baseline: -1.5\n        target: 1e3\n        status: at_risk\n        confidence: 0.7\n        evidence: [a, 2, {x: y}]\n        current: 12\n        last_updated: 2026-11-30T17:00:00Z\n        unit: count\n        dimensions: {suite: e2e, shard: \"2\"}\n      - kr_id: KR-2.2\n        metric_key: m\n        baseline: 0\n        target: 18446744073709551615\n        dimensions: [{key: suite, value: e2e}]\n";
        for text in [ORG, varied] {
            let tree: Value = serde_yaml::from_str(text).unwrap();
            let from_yaml = typed_from_tree("okrs/x.yml", text, &tree).unwrap();
            let json = serde_json::to_vec(&tree).unwrap();
            let from_json: OkrFile = serde_json::from_slice(&json).unwrap();
            assert_eq!(format!("{from_json:?}"), format!("{from_yaml:?}"));
        }
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

    /// `objectives` objectives of 20 KRs each, with a comment before every objective.
    fn generated(objectives: usize) -> String {
        let mut text = String::from("scope: org\nobjectives:\n");
        for o in 0..objectives {
            text.push_str(&format!(
                "  # objective {o}\n  - objective_id: O-{o}\n    key_results:\n"
            ));
            for k in 0..20 {
                text.push_str(&format!("      - kr_id: K-{o}.{k}\n        metric_key: m.{o}.{k}\n        baseline: 0\n        target: 10\n"));
            }
        }
        text
    }

    #[test]
    fn a_large_file_names_both_lines_of_a_duplicate() {
        // 10,000 KRs; the last one repeats an id from the middle.
        let mut text = generated(500);
        text.push_str("      - kr_id: K-250.7\n        metric_key: x\n        baseline: 0\n        target: 1\n");
        let first = text
            .lines()
            .position(|l| l.ends_with("kr_id: K-250.7"))
            .unwrap()
            + 1;
        let last = text.lines().count() - 3;
        let err = parse(&text).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("okrs/org.yml:{last}: duplicate kr_id \"K-250.7\" (first defined at okrs/org.yml:{first})")
        );
        // The same id as an objective's in another file, and a bad KR deep in the file.
        let err = OkrSet::parse([
            ("okrs/a.yml", generated(300).as_str()),
            ("okrs/b.yml", "objectives:\n  - objective_id: O-299\n"),
        ])
        .unwrap_err()
        .to_string();
        let first = generated(300)
            .lines()
            .position(|l| l.ends_with("objective_id: O-299"))
            .unwrap()
            + 1;
        assert_eq!(err, format!("okrs/b.yml:2: duplicate objective_id \"O-299\" (first defined at okrs/a.yml:{first})"));
        let bad = generated(300).replacen(
            "kr_id: K-299.19\n        metric_key: m.299.19\n",
            "kr_id: K-299.19\n        metric_key: m.299.19\n        confidence: 2\n",
            1,
        );
        let line = bad
            .lines()
            .position(|l| l.ends_with("kr_id: K-299.19"))
            .unwrap()
            + 1;
        let err = parse(&bad).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "okrs/org.yml:{line}: K-299.19: confidence 2 is outside 0..1"
            )),
            "{err}"
        );
    }

    #[test]
    fn typed_errors_still_come_from_the_text_with_their_line() {
        // The tree parses; the typed view refuses it, and says where.
        let err = parse(&generated(50).replace(
            "target: 10\n      - kr_id: K-40.3",
            "target: [10]\n      - kr_id: K-40.3",
        ))
        .unwrap_err()
        .to_string();
        let line = generated(50)
            .lines()
            .position(|l| l.ends_with("kr_id: K-40.3"))
            .unwrap();
        assert!(err.starts_with(&format!("okrs/org.yml:{line}:")), "{err}");
    }

    #[test]
    fn kr_edits_find_their_kr_after_structural_edits() {
        let mut doc = OkrDoc::parse("okrs/org.yml", &generated(3)).unwrap();
        assert!(!doc.is_edited());
        doc.kr_value_mut("K-1.5")
            .unwrap()
            .insert("current".into(), 4.into());
        assert!(doc.is_edited());
        // Remove the first KR of objective 1: positions as parsed are stale now.
        doc.value_mut()["objectives"][1]["key_results"]
            .as_sequence_mut()
            .unwrap()
            .remove(0);
        let kr = doc.kr_value_mut("K-1.5").unwrap();
        assert_eq!(kr.get("kr_id").and_then(Value::as_str), Some("K-1.5"));
        assert_eq!(kr.get("current"), Some(&Value::from(4)));
        assert!(doc.kr_value_mut("K-1.0").is_none());
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
