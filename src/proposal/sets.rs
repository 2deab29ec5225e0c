//! The effect of changes that only set fields of objectives and key results (what
//! `--set` proposes): each changed file's tree is edited in place, its text by its lines,
//! and only the changed items are compared. A change of one key result in a file of
//! 10,000 then costs one read of that file's tree, one text edit and one validation,
//! where the general path copies, compares and flattens every item.

use super::diff::file_diffs;
use super::edit::{new_tree_text, typed_set};
use super::fields::{flatten_tree, owners_of_keys, touched, touched_ids_of, Fields, Trees};
use super::{Effect, Texts};
use crate::model::okrs::{OkrDoc, OkrSet};
use crate::model::proposal::Change;
use anyhow::{anyhow, bail, Result};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

/// `effect` of `changes` when they are all field sets; `None` for any other change.
pub fn effect_of_sets(
    trees: &mut Trees,
    before: &Texts,
    changes: &[Change],
) -> Result<Option<Effect>> {
    if !changes.iter().all(|c| matches!(c, Change::Set { .. })) {
        return Ok(None);
    }
    // Where each id is, and the changes typed, in their order.
    let mut typed = Vec::with_capacity(changes.len());
    // By file: the indexes of its changes, and whether each sets a KR.
    let mut by_file: BTreeMap<String, Vec<(usize, bool)>> = BTreeMap::new();
    let (mut objectives, mut krs) = (BTreeSet::new(), BTreeSet::new());
    for (i, change) in changes.iter().enumerate() {
        let Change::Set { id, field, value } = change else {
            unreachable!("only sets come here");
        };
        let place = locate(trees, before, id)?;
        let is_kr = place.objective.is_some();
        typed.push(typed_set(id, field, value, is_kr)?);
        match &place.objective {
            Some(objective) => {
                objectives.insert(objective.clone());
                krs.insert(id.clone());
            }
            None => {
                objectives.insert(id.clone());
            }
        }
        by_file.entry(place.path).or_default().push((i, is_kr));
    }
    let keep_objective = |o: &str| objectives.contains(o);
    let keep_kr = |k: &str| krs.contains(k);
    let (mut fields_before, mut fields_after) = (Fields::new(), Fields::new());
    let mut after = before.clone();
    for (path, indexes) in &by_file {
        let text = &before[path];
        let mut tree = trees.take(path, text)?;
        flatten_tree(&mut fields_before, path, &tree, &keep_objective, &keep_kr)?;
        let (mut kr_sets, mut objective_sets) = (Vec::new(), Vec::new());
        for &(i, is_kr) in indexes {
            set_in_tree(&mut tree, path, &typed[i], is_kr)?;
            let sets = if is_kr {
                &mut kr_sets
            } else {
                &mut objective_sets
            };
            sets.push(typed[i].clone());
        }
        flatten_tree(&mut fields_after, path, &tree, &keep_objective, &keep_kr)?;
        let new_text = new_tree_text(trees, text, tree, &kr_sets, &objective_sets)?;
        after.insert(path.clone(), new_text);
    }
    let mut docs = Vec::with_capacity(after.len());
    for (path, text) in &after {
        docs.push(OkrDoc::from_tree(path, text, &*trees.get(path, text)?)?);
    }
    OkrSet::from_docs(docs)?;
    let keys = touched(&fields_before, &fields_after);
    let (krs, objectives) = touched_ids_of(&keys, &fields_before, &fields_after);
    Ok(Some(Effect {
        files: file_diffs(before, &after),
        owners: owners_of_keys(&keys, &fields_before, &fields_after),
        after,
        changes: typed,
        krs,
        objectives,
    }))
}

/// Where an objective or KR is: its file, and for a KR its objective.
struct Place {
    path: String,
    objective: Option<String>,
}

/// The first file (in path order) holding objective or KR `id`, as the general path finds it.
fn locate(trees: &mut Trees, texts: &Texts, id: &str) -> Result<Place> {
    for (path, text) in texts {
        let tree = trees.get(path, text)?;
        for objective in items(&tree, "objectives") {
            let Some(oid) = objective.get("objective_id").and_then(Value::as_str) else {
                continue;
            };
            if oid == id {
                return Ok(Place {
                    path: path.clone(),
                    objective: None,
                });
            }
            if items(objective, "key_results")
                .any(|kr| kr.get("kr_id").and_then(Value::as_str) == Some(id))
            {
                return Ok(Place {
                    path: path.clone(),
                    objective: Some(oid.to_string()),
                });
            }
        }
    }
    bail!("no key result or objective {id:?} in the OKR files (okrs/*.yml)")
}

fn items<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.get(key)
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
}

/// Make the typed set `change` in `tree`, on the first KR (or objective) with its id.
fn set_in_tree(tree: &mut Value, path: &str, change: &Change, is_kr: bool) -> Result<()> {
    let Change::Set { id, field, value } = change else {
        unreachable!("only sets come here");
    };
    let is = |v: &Value, key: &str| v.get(key).and_then(Value::as_str) == Some(id.as_str());
    let objectives = tree
        .get_mut("objectives")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| anyhow!("{path}: objectives is not a list"))?;
    let item = if is_kr {
        objectives
            .iter_mut()
            .filter_map(|o| o.get_mut("key_results")?.as_sequence_mut())
            .flatten()
            .find(|kr| is(kr, "kr_id"))
    } else {
        objectives.iter_mut().find(|o| is(o, "objective_id"))
    };
    let map = item
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| anyhow!("{path}: {id} is not a mapping"))?;
    map.insert(Value::String(field.clone()), value.clone());
    Ok(())
}
