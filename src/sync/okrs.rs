//! OKR definition files and `daemon/jobs.yml`, merged field by field against the base.
//!
//! Objectives, key results and jobs are matched by their ids, never by their position.
//! A field changed on one side takes that change; a field changed both ways to different
//! values is a conflict, except the fields measurement writes:
//! - `status` follows a precedence: blocked > at_risk > achieved > in_progress > not_started.
//!   `blocked` and `at_risk` are set by people and never changed automatically, so a
//!   person's flag must survive a measurement made on another clone; `achieved` is never
//!   taken back automatically; between the automatic states, further progress wins.
//! - `current` and `last_updated` travel together: the later `last_updated` wins.
//! - `evidence` lists are united.
//!
//! A KR or objective removed on one side and only measured on the other is removed.

use super::merger::{cmp_time, show_yaml, MergeConflict, Merger, Pick, Side};
use crate::model::okrs::Status;
use anyhow::{anyhow, Result};
use serde_yaml::{Mapping, Value};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    OkrFile,
    Objective,
    Kr,
    JobsFile,
    Job,
    Plain,
}

/// The lists whose items are matched by id, and the level of their items.
fn keyed_list(level: Level, key: &str) -> Option<(&'static str, Level)> {
    match (level, key) {
        (Level::OkrFile, "objectives") => Some(("objective_id", Level::Objective)),
        (Level::Objective, "key_results") => Some(("kr_id", Level::Kr)),
        (Level::JobsFile, "jobs") => Some(("id", Level::Job)),
        _ => None,
    }
}

/// Fields measurement writes on a KR.
const MEASURED: [&str; 4] = ["status", "current", "last_updated", "evidence"];

pub fn merge_okr_file(
    path: &str,
    base: Option<&[u8]>,
    o: &[u8],
    t: &[u8],
    m: &mut Merger,
) -> Result<Pick> {
    merge_yaml_file(path, base, o, t, Level::OkrFile, m)
}

pub fn merge_jobs_file(
    path: &str,
    base: Option<&[u8]>,
    o: &[u8],
    t: &[u8],
    m: &mut Merger,
) -> Result<Pick> {
    merge_yaml_file(path, base, o, t, Level::JobsFile, m)
}

fn merge_yaml_file(
    path: &str,
    base: Option<&[u8]>,
    o: &[u8],
    t: &[u8],
    level: Level,
    m: &mut Merger,
) -> Result<Pick> {
    let parse = |b: &[u8], side: &str| -> Result<Mapping> {
        let text = String::from_utf8_lossy(b);
        if text.trim().is_empty() {
            return Ok(Mapping::new());
        }
        // A teammate's file: the same size, depth and NUL checks as every state read.
        match crate::model::parse_yaml::<Value>(&format!("{path} ({side})"), &text)? {
            Value::Mapping(map) => Ok(map),
            _ => Err(anyhow!("{path} ({side}): not a mapping")),
        }
    };
    let b = base.map(|b| parse(b, "base")).transpose()?;
    let (o, t) = (parse(o, "ours")?, parse(t, "theirs")?);
    let cx = Cx {
        file: path,
        id: String::new(),
        prefix: String::new(),
    };
    let merged = merge_map(&cx, level, b.as_ref(), &o, &t, m);
    Ok(Pick::New(
        serde_yaml::to_string(&Value::Mapping(merged))?.into_bytes(),
    ))
}

/// Where in a file we are, for conflict reports.
struct Cx<'a> {
    file: &'a str,
    id: String,
    prefix: String,
}

impl Cx<'_> {
    fn conflict(
        &self,
        m: &mut Merger,
        field: &str,
        b: Option<&Value>,
        o: Option<&Value>,
        t: Option<&Value>,
    ) -> Side {
        m.conflict(MergeConflict {
            file: self.file.to_string(),
            id: self.id.clone(),
            field: format!("{}{field}", self.prefix),
            base: show_yaml(b),
            ours: show_yaml(o),
            theirs: show_yaml(t),
        })
    }
}

fn key_str(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => show_yaml(Some(other)),
    }
}

fn merge_map(
    cx: &Cx<'_>,
    level: Level,
    b: Option<&Mapping>,
    o: &Mapping,
    t: &Mapping,
    m: &mut Merger,
) -> Mapping {
    let mut keys: Vec<&Value> = o.keys().collect();
    keys.extend(t.keys().filter(|k| !o.contains_key(*k)));
    // `current` and `last_updated` come from the same side.
    let reading = (level == Level::Kr).then(|| reading_side(cx, b, o, t, m));
    let mut out = Mapping::new();
    for k in keys {
        let ks = key_str(k);
        let value = match reading {
            Some(side) if ks == "current" || ks == "last_updated" => if side == Side::Ours {
                o.get(k)
            } else {
                t.get(k)
            }
            .cloned(),
            _ => merge_field(
                cx,
                level,
                &ks,
                b.and_then(|b| b.get(k)),
                o.get(k),
                t.get(k),
                m,
            ),
        };
        if let Some(v) = value {
            out.insert(k.clone(), v);
        }
    }
    out
}

/// Which side's `current`/`last_updated` a KR keeps.
fn reading_side(
    cx: &Cx<'_>,
    b: Option<&Mapping>,
    o: &Mapping,
    t: &Mapping,
    m: &mut Merger,
) -> Side {
    let pair = |x: Option<&Mapping>| {
        x.map(|x| (x.get("current").cloned(), x.get("last_updated").cloned()))
    };
    let (bp, op, tp) = (pair(b), pair(Some(o)), pair(Some(t)));
    if op == tp || tp == bp {
        return Side::Ours;
    }
    if op == bp {
        return Side::Theirs;
    }
    let when = |x: &Mapping| {
        x.get("last_updated")
            .map(|v| show_yaml(Some(v)).trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let ord = cmp_time(&when(o), &when(t))
        .then_with(|| show_yaml(o.get("current")).cmp(&show_yaml(t.get("current"))));
    let side = if ord == Ordering::Less {
        Side::Theirs
    } else {
        Side::Ours
    };
    m.note(format!("{}: {}: later last_updated wins", cx.file, cx.id));
    side
}

fn merge_field(
    cx: &Cx<'_>,
    level: Level,
    key: &str,
    b: Option<&Value>,
    o: Option<&Value>,
    t: Option<&Value>,
    m: &mut Merger,
) -> Option<Value> {
    if o == t || t == b {
        return o.cloned();
    }
    if o == b {
        return t.cloned();
    }
    if let (Some((id_field, item_level)), Some(Value::Sequence(os)), Some(Value::Sequence(ts))) =
        (keyed_list(level, key), o, t)
    {
        let bs = match b {
            Some(Value::Sequence(bs)) => Some(bs),
            _ => None,
        };
        if let Some(list) = merge_list(cx, bs, os, ts, id_field, item_level, m) {
            return Some(Value::Sequence(list));
        }
    }
    if level == Level::Kr {
        if let Some(merged) = measured_field(key, o, t) {
            return Some(merged);
        }
    }
    if let (Some(Value::Mapping(om)), Some(Value::Mapping(tm))) = (o, t) {
        let bm = match b {
            Some(Value::Mapping(bm)) => Some(bm),
            _ => None,
        };
        let inner = Cx {
            file: cx.file,
            id: cx.id.clone(),
            prefix: format!("{}{key}.", cx.prefix),
        };
        return Some(Value::Mapping(merge_map(
            &inner,
            Level::Plain,
            bm,
            om,
            tm,
            m,
        )));
    }
    match cx.conflict(m, key, b, o, t) {
        Side::Ours => o.cloned(),
        Side::Theirs => t.cloned(),
    }
}

/// `status` by precedence, `evidence` as a union; `None` for other fields.
fn measured_field(key: &str, o: Option<&Value>, t: Option<&Value>) -> Option<Value> {
    match key {
        "status" => {
            let parse = |v: Option<&Value>| v.and_then(Value::as_str).and_then(Status::parse);
            let (so, st) = (parse(o)?, parse(t)?);
            let winner = if precedence(so) >= precedence(st) {
                so
            } else {
                st
            };
            Some(Value::String(winner.as_str().to_string()))
        }
        "evidence" => {
            let (Some(Value::Sequence(os)), Some(Value::Sequence(ts))) = (o, t) else {
                return None;
            };
            let mut out = os.clone();
            for item in ts {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Some(Value::Sequence(out))
        }
        _ => None,
    }
}

/// blocked > at_risk > achieved > in_progress > not_started (see the module comment).
pub fn precedence(s: Status) -> u8 {
    match s {
        Status::NotStarted => 0,
        Status::InProgress => 1,
        Status::Achieved => 2,
        Status::AtRisk => 3,
        Status::Blocked => 4,
    }
}

/// Merge a list of mappings matched by `id_field`. `None` when an item has no id (the
/// caller then treats the list as one value).
fn merge_list(
    cx: &Cx<'_>,
    b: Option<&Vec<Value>>,
    o: &[Value],
    t: &[Value],
    id_field: &str,
    level: Level,
    m: &mut Merger,
) -> Option<Vec<Value>> {
    let index = |list| index_by_id(list, id_field);
    let bi = match b {
        Some(b) => index(b)?.1,
        None => HashMap::new(),
    };
    let ((o_order, oi), (t_order, ti)) = (index(o)?, index(t)?);
    // Ours in its order, then what only theirs has.
    let mut seen: HashSet<&str> = o_order.iter().copied().collect();
    let mut ids: Vec<&str> = o_order.clone();
    for id in t_order {
        if seen.insert(id) {
            ids.push(id);
        }
    }
    let mut out = Vec::new();
    for &id in &ids {
        let (bm, om, tm) = (
            bi.get(id).copied(),
            oi.get(id).copied(),
            ti.get(id).copied(),
        );
        let inner = Cx {
            file: cx.file,
            id: id.to_string(),
            prefix: String::new(),
        };
        let item = match (om, tm) {
            (Some(om), Some(tm)) if om == tm => Some(om.clone()),
            // Two clones scheduled different jobs under the same id (older files numbered
            // jobs 1, 2, 3…): both are kept, one under a new id.
            (Some(om), Some(tm)) if level == Level::Job && bm.is_none() => {
                let (kept, renamed) = both_jobs(id, om.clone(), tm.clone(), &ids, id_field);
                m.note(format!(
                    "{}: two different jobs were added as {id}; kept both, one as {}",
                    cx.file,
                    renamed.get(id_field).map(key_str).unwrap_or_default()
                ));
                out.push(Value::Mapping(kept));
                Some(renamed)
            }
            (Some(om), Some(tm)) => Some(merge_map(&inner, level, bm, om, tm, m)),
            (Some(kept), None) | (None, Some(kept)) => {
                let ours_kept = oi.contains_key(id);
                match bm {
                    // Added on one side.
                    None => Some(kept.clone()),
                    // Removed on the other side: fine if the kept side only measured it.
                    Some(bm) if unmeasured(bm) == unmeasured(kept) => None,
                    Some(bm) => {
                        let shown = |present: bool| {
                            Some(Value::String(
                                if present { "changed" } else { "removed" }.into(),
                            ))
                        };
                        let side = inner.conflict(
                            m,
                            "(removed on one side, changed on the other)",
                            Some(&Value::Mapping(bm.clone())),
                            shown(ours_kept).as_ref(),
                            shown(!ours_kept).as_ref(),
                        );
                        let keep = (side == Side::Ours) == ours_kept;
                        keep.then(|| kept.clone())
                    }
                }
            }
            (None, None) => None,
        };
        if let Some(item) = item {
            out.push(Value::Mapping(item));
        }
    }
    Some(out)
}

/// A list's items in order by id, and by id (the first of an id wins, as a search from the
/// top would find it); `None` when an item is not a mapping with a text id.
#[allow(clippy::type_complexity)]
fn index_by_id<'v>(
    list: &'v [Value],
    id_field: &str,
) -> Option<(Vec<&'v str>, HashMap<&'v str, &'v Mapping>)> {
    let mut order = Vec::with_capacity(list.len());
    let mut by_id = HashMap::with_capacity(list.len());
    for v in list {
        let map = v.as_mapping()?;
        let id = map.get(id_field)?.as_str()?;
        order.push(id);
        by_id.entry(id).or_insert(map);
    }
    Some((order, by_id))
}

/// Two different jobs added under the same `id` on each side: the one that sorts first
/// keeps the id, the other gets `<id>-<hash of its content>`, the same in every clone
/// that makes this merge.
fn both_jobs(
    id: &str,
    o: Mapping,
    t: Mapping,
    taken: &[&str],
    id_field: &str,
) -> (Mapping, Mapping) {
    let text = |m: &Mapping| serde_yaml::to_string(m).unwrap_or_default();
    let (keep, mut other) = if text(&o) <= text(&t) { (o, t) } else { (t, o) };
    // FNV-1a, stable across builds.
    let mut hash: u32 = 0x811c9dc5;
    for b in text(&other).bytes() {
        hash ^= b as u32;
        hash = hash.wrapping_mul(0x01000193);
    }
    let mut new_id = format!("{id}-{:08x}", hash);
    while taken.contains(&new_id.as_str()) {
        new_id.push('x');
    }
    other.insert(Value::String(id_field.into()), Value::String(new_id));
    (keep, other)
}

/// A mapping without what measurement writes (on it and on its key results).
fn unmeasured(map: &Mapping) -> Value {
    let mut out = Mapping::new();
    for (k, v) in map {
        let ks = key_str(k);
        if map.contains_key("kr_id") && MEASURED.contains(&ks.as_str()) {
            continue;
        }
        let v = match v {
            Value::Sequence(items) if ks == "key_results" => Value::Sequence(
                items
                    .iter()
                    .map(|i| i.as_mapping().map(unmeasured).unwrap_or_else(|| i.clone()))
                    .collect(),
            ),
            other => other.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Mapping(out)
}
