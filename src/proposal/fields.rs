//! The OKR files flattened to one value per field (`KR-1.1.target`, `OBJ-1.owner_id`,
//! `okrs/org.yml:owner_id`), so a proposal's effect, the owners it touches and its
//! conflicts with later changes are all found by comparing maps.

use super::Texts;
use crate::model::okrs::parse_tree;
use crate::model::proposal::show_value;
use anyhow::{anyhow, Result};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One field of the OKR files and where it sits.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub value: Value,
    pub path: String,
    pub objective: Option<String>,
    pub kr: Option<String>,
    /// The entry says that the KR/objective exists (its value: where it sits).
    pub existence: bool,
}

pub type Fields = BTreeMap<String, Entry>;

/// Flatten every OKR file. Keys: `PATH:field` for file-level fields, `OBJ` (value: its
/// file) and `OBJ.field`, `KR` (value: its objective) and `KR.field`.
pub fn flatten(texts: &Texts) -> Result<Fields> {
    let mut trees = Trees::default();
    flatten_with(&mut trees, texts)
}

/// `flatten`, with each text parsed at most once through `trees`.
pub fn flatten_with(trees: &mut Trees, texts: &Texts) -> Result<Fields> {
    let mut out = Fields::new();
    for (path, text) in texts {
        let root = trees.get(path, text)?;
        flatten_tree(&mut out, path, &root, &|_| true, &|_| true)?;
    }
    Ok(out)
}

/// The fields of the files that differ between `before` and `after`, on each side, leaving
/// out the objectives and KRs that are the same on both sides (same file, same objective,
/// same content), so a change of one KR in a file of thousands compares a few fields.
///
/// What `touched`, `owners` and `touched_ids` find from these equals what they find from
/// the whole flattening: a left-out item has the same fields on both sides, so none of them
/// is touched; the owners of a touched field are looked up on its KR, its objective (which
/// holds the KR, so differs too) and its file, which are all kept. Ids that occur more than
/// once on a side are never left out.
pub fn flatten_changes(
    trees: &mut Trees,
    before: &Texts,
    after: &Texts,
) -> Result<(Fields, Fields)> {
    let paths: BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    let side = |trees: &mut Trees, texts: &Texts| -> Result<Vec<(String, Arc<Value>)>> {
        paths
            .iter()
            .filter_map(|p| texts.get(*p).map(|t| (p, t)))
            .map(|(p, t)| Ok(((*p).clone(), trees.get(p, t)?)))
            .collect()
    };
    let (b, a) = (side(trees, before)?, side(trees, after)?);
    let (b_items, a_items) = (Items::of(&b), Items::of(&a));
    let same_objective = |oid: &str| b_items.same_objective(&a_items, oid);
    let same_kr = |kid: &str| b_items.same_kr(&a_items, kid);
    let mut out = (Fields::new(), Fields::new());
    for (fields, trees) in [(&mut out.0, &b), (&mut out.1, &a)] {
        for (path, root) in trees {
            flatten_tree(fields, path, root, &|o| !same_objective(o), &|k| {
                !same_kr(k)
            })?;
        }
    }
    Ok(out)
}

/// Where each objective and KR of one side sits, and what it holds.
#[derive(Default)]
struct Items<'v> {
    /// Objective id → (file, objective) for each occurrence.
    objectives: HashMap<&'v str, Vec<(&'v str, &'v Value)>>,
    /// KR id → (file, objective id, KR) for each occurrence.
    krs: HashMap<&'v str, Vec<(&'v str, &'v str, &'v Value)>>,
}

impl<'v> Items<'v> {
    fn of(trees: &'v [(String, Arc<Value>)]) -> Items<'v> {
        let mut items = Items::default();
        for (path, root) in trees {
            for objective in sequence(root, "objectives") {
                let Some(oid) = objective.get("objective_id").and_then(Value::as_str) else {
                    continue;
                };
                items
                    .objectives
                    .entry(oid)
                    .or_default()
                    .push((path, objective));
                for kr in sequence(objective, "key_results") {
                    if let Some(kid) = kr.get("kr_id").and_then(Value::as_str) {
                        items.krs.entry(kid).or_default().push((path, oid, kr));
                    }
                }
            }
        }
        items
    }

    fn same_objective(&self, other: &Items<'_>, oid: &str) -> bool {
        match (self.objectives.get(oid), other.objectives.get(oid)) {
            (Some(a), Some(b)) => a.len() == 1 && b.len() == 1 && a[0] == b[0],
            _ => false,
        }
    }

    fn same_kr(&self, other: &Items<'_>, kid: &str) -> bool {
        match (self.krs.get(kid), other.krs.get(kid)) {
            (Some(a), Some(b)) => a.len() == 1 && b.len() == 1 && a[0] == b[0],
            _ => false,
        }
    }
}

fn sequence<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.get(key)
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
}

/// Add one file's fields to `out`, the fields of objectives and KRs `keep_*` accepts.
pub(super) fn flatten_tree(
    out: &mut Fields,
    path: &str,
    root: &Value,
    keep_objective: &dyn Fn(&str) -> bool,
    keep_kr: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let root = root
        .as_mapping()
        .ok_or_else(|| anyhow!("{path}: expected a mapping"))?;
    let entry = |value: &Value, objective: Option<&str>, kr: Option<&str>, existence: bool| Entry {
        value: value.clone(),
        path: path.to_string(),
        objective: objective.map(String::from),
        kr: kr.map(String::from),
        existence,
    };
    for (key, value) in root {
        let key = key_name(key);
        if key != "objectives" {
            out.insert(format!("{path}:{key}"), entry(value, None, None, false));
        }
    }
    for objective in root
        .get("objectives")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let Some(oid) = objective.get("objective_id").and_then(Value::as_str) else {
            continue;
        };
        if !keep_objective(oid) {
            continue;
        }
        out.insert(
            oid.to_string(),
            entry(&Value::String(path.to_string()), Some(oid), None, true),
        );
        for (key, value) in objective.as_mapping().into_iter().flatten() {
            let key = key_name(key);
            if key != "key_results" && key != "objective_id" {
                out.insert(format!("{oid}.{key}"), entry(value, Some(oid), None, false));
            }
        }
        for kr in objective
            .get("key_results")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let Some(kid) = kr.get("kr_id").and_then(Value::as_str) else {
                continue;
            };
            if !keep_kr(kid) {
                continue;
            }
            out.insert(
                kid.to_string(),
                entry(&Value::String(oid.into()), Some(oid), Some(kid), true),
            );
            for (key, value) in kr.as_mapping().into_iter().flatten() {
                let key = key_name(key);
                if key != "kr_id" {
                    out.insert(
                        format!("{kid}.{key}"),
                        entry(value, Some(oid), Some(kid), false),
                    );
                }
            }
        }
    }
    Ok(())
}

/// YAML trees of OKR file texts, each distinct text parsed once however often a
/// proposal's effect needs it (applying, checking an edit, validating, flattening).
#[derive(Default)]
pub struct Trees {
    by_text: HashMap<String, Arc<Value>>,
    /// With `checking_aside`: the checks of edited texts running on other threads.
    aside: Option<Vec<JoinHandle<bool>>>,
    /// An expectation already found wrong without a thread.
    mismatch: bool,
}

impl Trees {
    /// Trees that take an edited text's tree to be the one its edit expects, and check that
    /// on another thread (see `confirm`): parsing a large edited file then overlaps the
    /// rest of the work instead of coming before it.
    pub fn checking_aside() -> Trees {
        Trees {
            aside: Some(Vec::new()),
            ..Trees::default()
        }
    }

    pub fn checks_aside(&self) -> bool {
        self.aside.is_some()
    }

    /// The tree of `text` (the file at `path`, named in a parse error).
    pub fn get(&mut self, path: &str, text: &str) -> Result<Arc<Value>> {
        if let Some(tree) = self.by_text.get(text) {
            return Ok(tree.clone());
        }
        let tree = Arc::new(parse_tree(path, text)?);
        self.by_text.insert(text.to_string(), tree.clone());
        Ok(tree)
    }

    /// The tree of `text` to keep and edit: taken out of these trees (a tree still shared
    /// elsewhere is copied).
    pub fn take(&mut self, path: &str, text: &str) -> Result<Value> {
        match self.by_text.remove(text) {
            Some(tree) => Ok(Arc::unwrap_or_clone(tree)),
            None => parse_tree(path, text),
        }
    }

    /// Remember that `text` parses to `tree` (the caller parsed it).
    pub fn insert(&mut self, text: &str, tree: Value) {
        self.insert_shared(text, Arc::new(tree));
    }

    /// `insert` of a tree shared with others.
    pub fn insert_shared(&mut self, text: &str, tree: Arc<Value>) {
        if !self.by_text.contains_key(text) {
            self.by_text.insert(text.to_string(), tree);
        }
    }

    /// Take `tree` as the parse of the edited `text` now, and check it on another thread.
    pub fn expect(&mut self, text: &str, tree: Value) {
        if let Some(known) = self.by_text.get(text) {
            self.mismatch |= **known != tree;
            return;
        }
        let tree = Arc::new(tree);
        let (owned, expected) = (text.to_string(), tree.clone());
        let check = std::thread::spawn(move || {
            parse_tree("", &owned).is_ok_and(|parsed| parsed == *expected)
        });
        self.aside.get_or_insert_with(Vec::new).push(check);
        self.by_text.insert(text.to_string(), tree);
    }

    /// Whether every edited text parsed to the tree its edit expected (waits for the
    /// checks; a check that panicked did not hold).
    pub fn confirm(&mut self) -> bool {
        let checks = self.aside.take().unwrap_or_default();
        let held: Vec<bool> = checks
            .into_iter()
            .map(|c| c.join().unwrap_or(false))
            .collect();
        !self.mismatch && held.into_iter().all(|h| h)
    }
}

fn key_name(key: &Value) -> String {
    key.as_str()
        .map(String::from)
        .unwrap_or_else(|| show_value(key))
}

/// The keys whose value differs between `a` and `b` (present in one only counts).
pub fn touched(a: &Fields, b: &Fields) -> BTreeSet<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k).map(|e| &e.value) != b.get(*k).map(|e| &e.value))
        .cloned()
        .collect()
}

/// Someone whose permission a change needs: the objective (and KR) it touches and its owner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owned {
    /// `OBJ-1`, `OBJ-1 (KR-1.1)` or `file okrs/team.yml`.
    pub what: String,
    pub owner: Option<String>,
}

fn text(fields: &Fields, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(|e| e.value.as_str())
        .map(String::from)
        .filter(|s| !s.trim().is_empty())
}

/// The owners a change of `key` needs, as they are in `fields`: a KR's `owner_id`, else its
/// objective's, else its file's. Adding or removing a KR also touches its objective, and
/// adding or removing an objective also touches its file's owner when the file has one.
pub fn owners(fields: &Fields, key: &str) -> Vec<Owned> {
    let Some(entry) = fields.get(key) else {
        return Vec::new();
    };
    let file_owner = text(fields, &format!("{}:owner_id", entry.path));
    let objective_owner =
        |oid: &str| text(fields, &format!("{oid}.owner_id")).or_else(|| file_owner.clone());
    let mut out = Vec::new();
    match (&entry.objective, &entry.kr) {
        (Some(oid), Some(kid)) => {
            let owner = text(fields, &format!("{kid}.owner_id")).or_else(|| objective_owner(oid));
            out.push(Owned {
                what: format!("{oid} ({kid})"),
                owner,
            });
            if entry.existence {
                out.push(Owned {
                    what: oid.clone(),
                    owner: objective_owner(oid),
                });
            }
        }
        (Some(oid), None) => {
            out.push(Owned {
                what: oid.clone(),
                owner: objective_owner(oid),
            });
            if entry.existence && file_owner.is_some() {
                out.push(Owned {
                    what: format!("file {}", entry.path),
                    owner: file_owner,
                });
            }
        }
        _ => out.push(Owned {
            what: format!("file {}", entry.path),
            owner: file_owner,
        }),
    }
    out
}

/// Every owner a change from `before` to `after` needs, looked up on both sides (so a
/// change of `owner_id` needs the old owner and the new one). The commands use
/// `owners_of_keys` on the touched keys they already have; tests compare it with this.
#[cfg(test)]
pub fn owners_of_change(before: &Fields, after: &Fields) -> BTreeSet<Owned> {
    owners_of_keys(&touched(before, after), before, after)
}

/// `owners_of_change` for the touched keys `keys`, found once by the caller.
pub fn owners_of_keys(keys: &BTreeSet<String>, before: &Fields, after: &Fields) -> BTreeSet<Owned> {
    keys.iter()
        .flat_map(|k| owners(before, k).into_iter().chain(owners(after, k)))
        .collect()
}

/// The KRs and objectives a change touches, for `Okr-KR` / `Okr-Objective` trailers.
pub fn touched_ids(before: &Fields, after: &Fields) -> (BTreeSet<String>, BTreeSet<String>) {
    touched_ids_of(&touched(before, after), before, after)
}

/// `touched_ids` for the touched keys `keys`, found once by the caller.
pub fn touched_ids_of(
    keys: &BTreeSet<String>,
    before: &Fields,
    after: &Fields,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut krs, mut objectives) = (BTreeSet::new(), BTreeSet::new());
    for key in keys {
        let Some(e) = after.get(key).or_else(|| before.get(key)) else {
            continue;
        };
        match (&e.objective, &e.kr) {
            (_, Some(kid)) => {
                krs.insert(kid.clone());
                if e.existence {
                    objectives.extend(e.objective.clone());
                }
            }
            (Some(oid), None) => {
                objectives.insert(oid.clone());
            }
            _ => {}
        }
    }
    (krs, objectives)
}

/// One line per changed field, for `Okr-Change` trailers: `KR-1.1 target 100 -> 120`,
/// `KR-1.3 added`, `OBJ-2 removed`, `okrs/org.yml owner_id alice -> bob`. Values are
/// shortened to one line of at most 60 characters.
pub fn field_changes(before: &Fields, after: &Fields) -> Vec<String> {
    let show = |e: Option<&Entry>| {
        let text = e
            .map(|e| show_value(&e.value))
            .unwrap_or_else(|| "(absent)".into());
        let text = text.replace(['\n', '\r'], " ");
        if text.chars().count() > 60 {
            format!("{}…", text.chars().take(59).collect::<String>())
        } else {
            text
        }
    };
    touched(before, after)
        .into_iter()
        .filter_map(|key| {
            let (old, new) = (before.get(&key), after.get(&key));
            let e = new.or(old)?;
            if e.existence {
                return Some(format!(
                    "{key} {}",
                    if new.is_some() { "added" } else { "removed" }
                ));
            }
            // `KR-1.1.target` → `KR-1.1 target`; `okrs/org.yml:owner_id` → `okrs/org.yml owner_id`.
            let owner = e.kr.as_deref().or(e.objective.as_deref());
            // The fields of an added or removed KR/objective are said by "added"/"removed".
            if owner.is_some_and(|id| before.contains_key(id) != after.contains_key(id)) {
                return None;
            }
            let (id, field) = match owner.and_then(|id| {
                key.strip_prefix(id)
                    .and_then(|r| r.strip_prefix('.'))
                    .map(|f| (id, f))
            }) {
                Some(split) => split,
                None => key.split_once(':').unwrap_or((key.as_str(), "")),
            };
            Some(format!("{id} {field} {} -> {}", show(old), show(new)))
        })
        .collect()
}

/// A field the proposal changes that someone else changed since its base.
#[derive(Debug, Clone, PartialEq)]
pub struct MovedField {
    pub key: String,
    pub base: Option<Value>,
    pub now: Option<Value>,
    pub proposed: Option<Value>,
}

impl std::fmt::Display for MovedField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| {
            v.as_ref()
                .map(show_value)
                .unwrap_or_else(|| "(absent)".into())
        };
        write!(
            f,
            "{} changed since the proposal's base: was {}, is now {}, the proposal sets {}",
            self.key,
            show(&self.base),
            show(&self.now),
            show(&self.proposed)
        )
    }
}

/// The fields the proposal changes (base → proposed) that changed since (base → now) to
/// something other than what the proposal sets. For files the proposal writes whole,
/// every field of the file counts: writing it would undo any later change.
pub fn conflicts(
    base: &Fields,
    proposed: &Fields,
    now: &Fields,
    whole_files: &[String],
) -> Vec<MovedField> {
    let mut keys = touched(base, proposed);
    for fields in [base, proposed, now] {
        keys.extend(
            fields
                .iter()
                .filter(|(_, e)| whole_files.contains(&e.path))
                .map(|(k, _)| k.clone()),
        );
    }
    let value = |f: &Fields, k: &str| f.get(k).map(|e| e.value.clone());
    keys.into_iter()
        .filter_map(|key| {
            let (b, n, p) = (value(base, &key), value(now, &key), value(proposed, &key));
            (n != b && n != p).then_some(MovedField {
                key,
                base: b,
                now: n,
                proposed: p,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_changes_name_id_field_and_values() {
        let texts =
            |yaml: &str| -> Texts { [("okrs/org.yml".to_string(), yaml.to_string())].into() };
        let before = flatten(&texts("owner_id: alice\nobjectives:\n- objective_id: OBJ-1\n  key_results:\n  - kr_id: KR-1.1\n    target: 100\n  - kr_id: KR-1.2\n    target: 5\n")).unwrap();
        let after = flatten(&texts("owner_id: bob\nobjectives:\n- objective_id: OBJ-1\n  key_results:\n  - kr_id: KR-1.1\n    target: 120\n  - kr_id: KR-1.3\n    target: 7\n")).unwrap();
        let changes = field_changes(&before, &after);
        assert_eq!(
            changes,
            [
                "KR-1.1 target 100 -> 120",
                "KR-1.2 removed",
                "KR-1.3 added",
                "okrs/org.yml owner_id \"alice\" -> \"bob\"",
            ]
        );
    }

    const ORG: &str = "scope: org\nowner_id: ceo\nobjectives:\n  - objective_id: OBJ-1\n    objective: Ship\n    owner_id: team-backend\n    key_results:\n      - kr_id: KR-1.1\n        metric_key: ci.test_count\n        baseline: 0\n        target: 100\n      - kr_id: KR-1.2\n        metric_key: x\n        owner_id: alice\n        baseline: 0\n        target: 1\n  - objective_id: OBJ-2\n    objective: Other\n    key_results: []\n";

    fn fields(text: &str) -> Fields {
        flatten(
            &[("okrs/org.yml".to_string(), text.to_string())]
                .into_iter()
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn flattens_and_finds_owners() {
        let f = fields(ORG);
        assert_eq!(f["KR-1.1.target"].value, Value::from(100));
        assert_eq!(f["okrs/org.yml:owner_id"].value, Value::from("ceo"));
        assert_eq!(
            owners(&f, "KR-1.1.target"),
            vec![Owned {
                what: "OBJ-1 (KR-1.1)".into(),
                owner: Some("team-backend".into())
            }]
        );
        assert_eq!(
            owners(&f, "KR-1.2.target")[0].owner.as_deref(),
            Some("alice")
        );
        assert_eq!(
            owners(&f, "OBJ-2.objective")[0].owner.as_deref(),
            Some("ceo")
        );
    }

    #[test]
    fn changing_an_owner_needs_both_owners() {
        let before = fields(ORG);
        let after = fields(&ORG.replace("owner_id: alice", "owner_id: bob"));
        let owners: Vec<Option<String>> = owners_of_change(&before, &after)
            .into_iter()
            .map(|o| o.owner)
            .collect();
        assert_eq!(
            owners,
            vec![Some("alice".to_string()), Some("bob".to_string())]
        );
    }

    #[test]
    fn conflicts_only_where_both_sides_moved() {
        let base = fields(ORG);
        let proposed = fields(&ORG.replace("target: 100", "target: 120"));
        let elsewhere = fields(&ORG.replace("objective: Other", "objective: Renamed"));
        assert!(conflicts(&base, &proposed, &elsewhere, &[]).is_empty());
        let same = fields(&ORG.replace("target: 100", "target: 120"));
        assert!(conflicts(&base, &proposed, &same, &[]).is_empty());
        let moved = fields(&ORG.replace("target: 100", "target: 110"));
        let c = conflicts(&base, &proposed, &moved, &[]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].to_string(), "KR-1.1.target changed since the proposal's base: was 100, is now 110, the proposal sets 120");
        // A whole-file write conflicts with any later change in that file.
        let c = conflicts(&base, &base, &elsewhere, &["okrs/org.yml".to_string()]);
        assert_eq!(c[0].key, "OBJ-2.objective");
    }

    #[test]
    fn trailer_ids() {
        let before = fields(ORG);
        let after = fields(&ORG.replace("target: 100", "target: 120"));
        let (krs, objectives) = touched_ids(&before, &after);
        assert_eq!(krs.into_iter().collect::<Vec<_>>(), vec!["KR-1.1"]);
        assert!(objectives.is_empty());
    }
}
