//! Applying structured changes to the OKR files' texts, with type checks per field.

use super::fields::Trees;
use super::Texts;
use crate::model::edit_proof::lines_prove;
use crate::model::okrs::{
    is_okr_file, parse_tree, KeyResult, OkrDoc, OkrSet, Status, OKR_ITEMS, PERMISSIONS_FILE,
};
use crate::model::proposal::{show_value, Change};
use crate::model::text_edit::edit_text_all;
use crate::model::tree_cache;
use anyhow::{anyhow, bail, Result};
use serde_yaml::{Mapping, Value};

/// What a field holds, so `--set` stores a number as a number and a status as a known status.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Number,
    Text,
    Status,
    Date,
}

const KR_FIELDS: &[(&str, Kind)] = &[
    ("description", Kind::Text),
    ("metric_key", Kind::Text),
    ("baseline", Kind::Number),
    ("target", Kind::Number),
    ("current", Kind::Number),
    ("confidence", Kind::Number),
    ("weight", Kind::Number),
    ("status", Kind::Status),
    ("owner_id", Kind::Text),
    ("unit", Kind::Text),
];

const OBJECTIVE_FIELDS: &[(&str, Kind)] = &[
    ("objective", Kind::Text),
    ("cycle", Kind::Text),
    ("type", Kind::Text),
    ("owner_id", Kind::Text),
    ("weight", Kind::Number),
    ("due", Kind::Date),
];

/// Apply `changes` in order to the OKR files `texts`, then validate the whole result as
/// `init` would (unique ids, target ≠ baseline, …). Returns every OKR file's new text and
/// the changes with their values typed (`"120"` becomes the number 120).
/// (The commands go through `apply_changes_with`; this is the tests' shorthand.)
#[cfg(test)]
pub fn apply_changes(texts: &Texts, changes: &[Change]) -> Result<(Texts, Vec<Change>)> {
    apply_changes_with(&mut Trees::default(), texts, changes)
}

/// `apply_changes`, with each text parsed at most once through `trees` (which then also
/// holds the trees of the new texts, for the caller's comparisons).
pub fn apply_changes_with(
    trees: &mut Trees,
    texts: &Texts,
    changes: &[Change],
) -> Result<(Texts, Vec<Change>)> {
    let mut out = texts.clone();
    let mut typed = Vec::with_capacity(changes.len());
    for change in changes {
        typed.push(apply_one(trees, &mut out, change)?);
    }
    let mut docs = Vec::with_capacity(out.len());
    for (path, text) in &out {
        docs.push(OkrDoc::from_tree(path, text, &*trees.get(path, text)?)?);
    }
    OkrSet::from_docs(docs)?;
    Ok((out, typed))
}

/// The set of `field` of KR (or objective) `id` to `value`, its value typed for the field;
/// errors name the field (and the fields that can be set) or the value.
pub(super) fn typed_set(id: &str, field: &str, value: &Value, is_kr: bool) -> Result<Change> {
    let (fields, what) = if is_kr {
        (KR_FIELDS, "KR")
    } else {
        (OBJECTIVE_FIELDS, "objective")
    };
    let Some((_, kind)) = fields.iter().find(|(name, _)| *name == field) else {
        let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
        bail!(
            "{what} {id} has no field {field:?} a proposal can set (fields: {})",
            names.join(", ")
        );
    };
    Ok(Change::Set {
        id: id.to_string(),
        field: field.to_string(),
        value: typed(id, field, *kind, value)?,
    })
}

/// A `--set ID.FIELD=VALUE` argument as a change (the value is typed when applied).
pub fn parse_set(arg: &str) -> Result<Change> {
    let (target, value) = arg
        .split_once('=')
        .ok_or_else(|| anyhow!("--set {arg:?}: expected ID.FIELD=VALUE, e.g. KR-1.1.target=120"))?;
    // Ids contain dots (KR-1.1), field names do not: the field is after the last dot.
    let (id, field) = target
        .trim()
        .rsplit_once('.')
        .filter(|(id, field)| {
            !id.is_empty()
                && field.starts_with(|c: char| c.is_ascii_alphabetic())
                && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .ok_or_else(|| anyhow!("--set {arg:?}: expected ID.FIELD=VALUE, e.g. KR-1.1.target=120"))?;
    Ok(Change::Set {
        id: id.to_string(),
        field: field.to_string(),
        value: Value::String(value.to_string()),
    })
}

fn apply_one(trees: &mut Trees, texts: &mut Texts, change: &Change) -> Result<Change> {
    match change {
        Change::PutFile { path, content } => {
            check_put_path(path)?;
            texts.insert(path.clone(), content.clone());
            Ok(change.clone())
        }
        Change::Set { id, field, value } => {
            let (path, mut doc, is_kr) = find(trees, texts, id)?;
            let typed = typed_set(id, field, value, is_kr)?;
            let Change::Set { value, .. } = &typed else {
                unreachable!("typed_set gives a set");
            };
            let map = entry_mut(&mut doc, id, is_kr)?;
            map.insert(Value::String(field.clone()), value.clone());
            let text = new_text(trees, &texts[&path], doc, &typed, is_kr)?;
            texts.insert(path, text);
            Ok(typed)
        }
        Change::Remove { id } => {
            let (path, mut doc, is_kr) = find(trees, texts, id)?;
            let objectives = doc
                .value_mut()
                .get_mut("objectives")
                .and_then(Value::as_sequence_mut);
            let objectives =
                objectives.ok_or_else(|| anyhow!("{path}: objectives is not a list"))?;
            if is_kr {
                for o in objectives.iter_mut() {
                    if let Some(krs) = o.get_mut("key_results").and_then(Value::as_sequence_mut) {
                        krs.retain(|kr| kr.get("kr_id").and_then(Value::as_str) != Some(id));
                    }
                }
            } else {
                objectives.retain(|o| o.get("objective_id").and_then(Value::as_str) != Some(id));
            }
            let text = new_text(trees, &texts[&path], doc, change, is_kr)?;
            texts.insert(path, text);
            Ok(change.clone())
        }
        Change::AddObjective { path, objective } => {
            check_put_path(path)?;
            check_new_objective(objective)?;
            let text = texts
                .get(path)
                .ok_or_else(|| anyhow!("{path}: no such OKR file to add an objective to"))?;
            let mut doc = OkrDoc::parse(path, text)?;
            let root = doc
                .value_mut()
                .as_mapping_mut()
                .ok_or_else(|| anyhow!("{path}: not a mapping"))?;
            let list = root
                .entry(Value::String("objectives".into()))
                .or_insert_with(|| Value::Sequence(Vec::new()));
            list.as_sequence_mut()
                .ok_or_else(|| anyhow!("{path}: objectives is not a list"))?
                .push(objective.clone());
            let text = text.clone();
            let text = new_text(trees, &text, doc, change, false)?;
            texts.insert(path.clone(), text);
            Ok(change.clone())
        }
        Change::AddKr { objective, kr } => {
            check_new_kr(kr)?;
            let (path, mut doc, is_kr) = find(trees, texts, objective)?;
            if is_kr {
                bail!("--add-kr {objective}: {objective} is a key result; name its objective");
            }
            let map = entry_mut(&mut doc, objective, false)?;
            let krs = map
                .entry(Value::String("key_results".into()))
                .or_insert_with(|| Value::Sequence(Vec::new()));
            let krs = krs
                .as_sequence_mut()
                .ok_or_else(|| anyhow!("{path}: {objective}.key_results is not a list"))?;
            krs.push(kr.clone());
            let text = new_text(trees, &texts[&path], doc, change, false)?;
            texts.insert(path, text);
            Ok(change.clone())
        }
    }
}

/// The edited document's text: a small edit of `old` when it yields exactly the edited
/// tree (comments and layout survive, the diff stays small), else the tree re-serialized.
///
/// An edit the lines themselves prove (see `model::edit_proof`) is taken as it is. Otherwise,
/// with trees that check aside, the edit is taken to mean the edited tree at once and is
/// checked on another thread (see `Trees::confirm`); else it is parsed and compared here.
fn new_text(
    trees: &mut Trees,
    old: &str,
    doc: OkrDoc,
    change: &Change,
    is_kr: bool,
) -> Result<String> {
    let changes = std::slice::from_ref(change);
    match edit_text_all(old, changes, is_kr) {
        Some(text) => settle_edit(trees, old, text, doc.into_value(), changes),
        None => doc.render(),
    }
}

/// `new_text` for field sets of one file's KRs and objectives, with the file's edited
/// tree: the KRs' lines are edited first, then the objectives'.
pub(super) fn new_tree_text(
    trees: &mut Trees,
    old: &str,
    tree: Value,
    krs: &[Change],
    objectives: &[Change],
) -> Result<String> {
    let edited =
        edit_text_all(old, krs, true).and_then(|text| edit_text_all(&text, objectives, false));
    match edited {
        Some(text) => settle_edit(trees, old, text, tree, &[krs, objectives].concat()),
        None => Ok(serde_yaml::to_string(&tree)?),
    }
}

/// Take `text`, the edit of `old` by `changes`, as meaning `tree` when its lines prove it;
/// else check it aside (with trees that do) or here, re-serializing `tree` when it fails.
fn settle_edit(
    trees: &mut Trees,
    old: &str,
    text: String,
    tree: Value,
    changes: &[Change],
) -> Result<String> {
    if edit_proven(old, &text, changes, &tree) {
        // Kept for the commands after this one, which would otherwise parse the text.
        let tree = std::sync::Arc::new(tree);
        tree_cache::remember_behind(text.clone(), tree.clone());
        trees.insert_shared(&text, tree);
    } else if trees.checks_aside() {
        trees.expect(&text, tree);
    } else {
        match parse_tree("", &text) {
            Ok(parsed) if parsed == tree => trees.insert(&text, parsed),
            _ => return Ok(serde_yaml::to_string(&tree)?),
        }
    }
    Ok(text)
}

/// `changes` made as small edits of `old`, if the result is exactly the edited tree
/// `expected`; `None` when the layout does not allow it (then re-serialize).
pub fn edited_text(old: &str, changes: &[Change], is_kr: bool, expected: &Value) -> Option<String> {
    let text = edit_text_all(old, changes, is_kr)?;
    if edit_proven(old, &text, changes, expected) {
        tree_cache::remember_behind(text.clone(), std::sync::Arc::new(expected.clone()));
        return Some(text);
    }
    let tree = parse_tree("", &text).ok()?;
    (tree == *expected).then_some(text)
}

/// Whether the lines of `new`, an edit of `old` by the field sets `changes`, prove it
/// means `expected` (see `model::edit_proof`).
fn edit_proven(old: &str, new: &str, changes: &[Change], expected: &Value) -> bool {
    let sets: Option<Vec<(&str, &str)>> = changes.iter().map(Change::set_field).collect();
    sets.is_some_and(|sets| lines_prove(old, new, &sets, expected, OKR_ITEMS))
}

/// Proposals change OKR files only, and never the permissions that judge them.
fn check_put_path(path: &str) -> Result<()> {
    if path == PERMISSIONS_FILE {
        return Err(crate::model::Refused(format!(
            "a proposal may not change {PERMISSIONS_FILE}: permissions are read from the current state, never from a proposal (edit it with `git okr edit {PERMISSIONS_FILE}`)"
        ))
        .into());
    }
    if !is_okr_file(path) {
        bail!("{path}: a proposal can only write OKR files (okrs/<name>.yml)");
    }
    Ok(())
}

/// A KR given to `--add-kr` must be a complete key result.
fn check_new_kr(kr: &Value) -> Result<()> {
    if !kr.is_mapping() {
        bail!(
            "the key result to add must be a mapping with kr_id, metric_key, baseline and target"
        );
    }
    serde_yaml::from_value::<KeyResult>(kr.clone())
        .map_err(|e| anyhow!("the key result to add is not valid: {e}"))?;
    Ok(())
}

/// An objective to add must be a complete objective (its KRs complete key results).
fn check_new_objective(objective: &Value) -> Result<()> {
    if !objective.is_mapping() {
        bail!("the objective to add must be a mapping with objective_id and key_results");
    }
    serde_yaml::from_value::<crate::model::okrs::Objective>(objective.clone())
        .map_err(|e| anyhow!("the objective to add is not valid: {e}"))?;
    Ok(())
}

/// The OKR file holding KR or objective `id`, parsed, and whether `id` is a KR.
fn find(trees: &mut Trees, texts: &Texts, id: &str) -> Result<(String, OkrDoc, bool)> {
    for (path, text) in texts {
        let tree = trees.get(path, text)?;
        let doc = OkrDoc::from_tree(path, text, &tree)?;
        let is_kr = doc.file.objectives.iter().find_map(|objective| {
            if objective.objective_id == id {
                Some(false)
            } else {
                objective
                    .key_results
                    .iter()
                    .any(|kr| kr.kr_id == id)
                    .then_some(true)
            }
        });
        if let Some(is_kr) = is_kr {
            // Only the file to edit keeps its tree (copied on its first edit).
            return Ok((path.clone(), doc.keeping_tree(tree), is_kr));
        }
    }
    bail!("no key result or objective {id:?} in the OKR files (okrs/*.yml)")
}

fn entry_mut<'d>(doc: &'d mut OkrDoc, id: &str, is_kr: bool) -> Result<&'d mut Mapping> {
    let path = doc.path.clone();
    let found = if is_kr {
        doc.kr_value_mut(id)
    } else {
        doc.objective_value_mut(id)
    };
    found.ok_or_else(|| anyhow!("{path}: {id} is not a mapping"))
}

/// The value a field gets, with its type checked; errors name the field and the value.
fn typed(id: &str, field: &str, kind: Kind, value: &Value) -> Result<Value> {
    let wrong = |expected: &str| anyhow!("{id}.{field}: {} is not {expected}", show_value(value));
    match kind {
        Kind::Number => {
            let n = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let n = n
                .filter(|n| n.is_finite())
                .ok_or_else(|| wrong("a number"))?;
            Ok(number(n))
        }
        Kind::Status => {
            let s = value
                .as_str()
                .and_then(|s| Status::parse(s.trim()))
                .ok_or_else(|| {
                    let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                    wrong(&format!("a status ({})", all.join(", ")))
                })?;
            Ok(Value::String(s.as_str().into()))
        }
        Kind::Text => match value {
            Value::String(s) => Ok(Value::String(s.clone())),
            _ => Err(wrong("text")),
        },
        Kind::Date => {
            let s = value.as_str().map(str::trim).unwrap_or_default();
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| wrong("a date (YYYY-MM-DD)"))?;
            Ok(Value::String(s.to_string()))
        }
    }
}

/// Whole numbers as integers (`120`, not `120.0`), as people write them.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        Value::from(n as i64)
    } else {
        Value::from(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "scope: org\nowner_id: ceo\nobjectives:\n  - objective_id: OBJ-1\n    objective: Ship\n    owner_id: team-backend\n    key_results:\n      - kr_id: KR-1.1\n        metric_key: ci.test_count\n        baseline: 0\n        target: 100\n        status: not_started\n";

    fn texts() -> Texts {
        [("okrs/org.yml".to_string(), ORG.to_string())]
            .into_iter()
            .collect()
    }

    fn set(arg: &str) -> Result<(Texts, Vec<Change>)> {
        apply_changes(&texts(), &[parse_set(arg).unwrap()])
    }

    #[test]
    fn sets_typed_values() {
        let (out, typed) = set("KR-1.1.target=120").unwrap();
        assert_eq!(
            out["okrs/org.yml"],
            ORG.replace("target: 100", "target: 120")
        );
        assert_eq!(
            typed[0],
            Change::Set {
                id: "KR-1.1".into(),
                field: "target".into(),
                value: Value::from(120)
            }
        );
        let (out, _) = set("OBJ-1.objective=Ship it, well").unwrap();
        assert!(out["okrs/org.yml"].contains("objective: Ship it, well"));
        let (out, _) = set("KR-1.1.status=at_risk").unwrap();
        assert!(out["okrs/org.yml"].contains("status: at_risk"));
        let (out, _) = set("KR-1.1.confidence=0.5").unwrap();
        assert!(out["okrs/org.yml"].contains("confidence: 0.5"));
    }

    #[test]
    fn bad_sets_name_what_is_wrong() {
        let err = set("KR-9.9.target=1").unwrap_err().to_string();
        assert!(err.contains("\"KR-9.9\""), "{err}");
        let err = set("KR-1.1.targt=1").unwrap_err().to_string();
        assert!(err.contains("KR KR-1.1 has no field \"targt\""), "{err}");
        let err = set("KR-1.1.target=lots").unwrap_err().to_string();
        assert_eq!(err, "KR-1.1.target: \"lots\" is not a number");
        let err = set("KR-1.1.status=done").unwrap_err().to_string();
        assert!(
            err.starts_with("KR-1.1.status: \"done\" is not a status"),
            "{err}"
        );
        let err = set("KR-1.1.confidence=2").unwrap_err().to_string();
        assert!(err.contains("confidence 2 is outside 0..1"), "{err}");
        let err = set("OBJ-1.due=soon").unwrap_err().to_string();
        assert!(err.contains("OBJ-1.due: \"soon\" is not a date"), "{err}");
        assert!(parse_set("KR-1.1=3").is_err());
        assert!(parse_set("target").is_err());
    }

    #[test]
    fn several_changes_are_validated_together() {
        // Moving baseline to the old target first is fine once target moves too.
        let changes = [
            parse_set("KR-1.1.baseline=100").unwrap(),
            parse_set("KR-1.1.target=200").unwrap(),
        ];
        let (out, _) = apply_changes(&texts(), &changes).unwrap();
        assert!(out["okrs/org.yml"].contains("baseline: 100"));
    }

    #[test]
    fn adds_and_removes() {
        let kr: Value =
            serde_yaml::from_str("kr_id: KR-1.2\nmetric_key: m\nbaseline: 1\ntarget: 2\n").unwrap();
        let add = Change::AddKr {
            objective: "OBJ-1".into(),
            kr: kr.clone(),
        };
        let (out, _) = apply_changes(&texts(), &[add]).unwrap();
        assert!(out["okrs/org.yml"].contains("kr_id: KR-1.2"));
        let (out, _) = apply_changes(
            &out,
            &[Change::Remove {
                id: "KR-1.1".into(),
            }],
        )
        .unwrap();
        assert!(!out["okrs/org.yml"].contains("KR-1.1"));
        let dup = Change::AddKr {
            objective: "OBJ-1".into(),
            kr: serde_yaml::from_str("kr_id: KR-1.1\nmetric_key: m\nbaseline: 1\ntarget: 2\n")
                .unwrap(),
        };
        let err = apply_changes(&texts(), &[dup]).unwrap_err().to_string();
        assert!(err.contains("duplicate kr_id \"KR-1.1\""), "{err}");
    }

    #[test]
    fn permissions_and_other_files_are_off_limits() {
        let put = |path: &str| Change::PutFile {
            path: path.into(),
            content: "default_policy: allow\n".into(),
        };
        let err = apply_changes(&texts(), &[put(PERMISSIONS_FILE)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("may not change okrs/permissions.yml"), "{err}");
        assert!(apply_changes(&texts(), &[put("metrics/manual.yml")]).is_err());
    }
}
