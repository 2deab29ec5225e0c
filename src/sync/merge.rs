//! The three-way merge of two state trees against their merge base, by meaning.
//!
//! Files are first merged as git would at file level (same on both sides, or changed on
//! one side only: take it). Only a file changed differently on both sides is opened and
//! merged by what it holds (see `merge_file`); text lines are never merged.

use super::merger::{MergeConflict, Merger, Pick, Side};
use super::okrs::{merge_jobs_file, merge_okr_file};
use super::records;
use crate::model::okrs::{is_okr_file, OkrSet};
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

/// A file of the merged tree: an input kept as it was, or new content.
#[derive(Debug, Clone, PartialEq)]
pub enum Merged<K> {
    Kept(K),
    New(Vec<u8>),
}

/// The merged state: path → file. Conflicts are in the `Merger`.
pub type MergedFiles<K> = BTreeMap<String, Merged<K>>;

/// Merge three file maps (path → a handle `K` that `load` turns into bytes; equal handles
/// mean equal content, as blob ids do).
pub fn merge_states<K: Clone + Eq>(
    base: &BTreeMap<String, K>,
    ours: &BTreeMap<String, K>,
    theirs: &BTreeMap<String, K>,
    load: &dyn Fn(&K) -> Result<Vec<u8>>,
    m: &mut Merger,
) -> Result<MergedFiles<K>> {
    let paths: BTreeSet<&String> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .collect();
    let mut out = MergedFiles::new();
    for path in paths {
        let (b, o, t) = (base.get(path), ours.get(path), theirs.get(path));
        let trivial = if o == t {
            Some(o)
        } else if o == b {
            Some(t)
        } else if t == b {
            Some(o)
        } else {
            None
        };
        if let Some(kept) = trivial {
            if let Some(k) = kept {
                out.insert(path.clone(), Merged::Kept(k.clone()));
            }
            continue;
        }
        let read = |k: Option<&K>| -> Result<Option<Vec<u8>>> { k.map(load).transpose() };
        let (bb, ob, tb) = (read(b)?, read(o)?, read(t)?);
        match merge_file(path, bb.as_deref(), ob.as_deref(), tb.as_deref(), m) {
            Pick::Ours => insert(&mut out, path, o),
            Pick::Theirs => insert(&mut out, path, t),
            Pick::New(bytes) => {
                out.insert(path.clone(), Merged::New(bytes));
            }
        }
    }
    check_okrs(ours, theirs, &mut out, load, m)?;
    Ok(out)
}

fn insert<K: Clone>(out: &mut MergedFiles<K>, path: &str, k: Option<&K>) {
    if let Some(k) = k {
        out.insert(path.to_string(), Merged::Kept(k.clone()));
    }
}

/// What kind of state a path holds, which decides how it merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Snapshot,
    Manual,
    CiReport,
    CiHistory,
    Proposal,
    PlanOrRun,
    Checkin,
    Jobs,
    Okr,
    Other,
}

fn kind(path: &str) -> Kind {
    use crate::model::{manual::MANUAL_FILE, proposal::PROPOSALS_DIR, snapshot::SNAPSHOT_DIR};
    if path.starts_with(SNAPSHOT_DIR) && path.ends_with(".json") {
        Kind::Snapshot
    } else if path == MANUAL_FILE {
        Kind::Manual
    } else if path == "metrics/ci_report.json" {
        Kind::CiReport
    } else if path == "metrics/ci_history.jsonl" {
        Kind::CiHistory
    } else if path.starts_with(PROPOSALS_DIR) && path.ends_with(".yml") {
        Kind::Proposal
    } else if path.starts_with("plans/") || path.starts_with("runs/") {
        Kind::PlanOrRun
    } else if path.starts_with(crate::model::checkin::CHECKINS_DIR) {
        // Each check-in is its own file, so two clones' check-ins never meet; the same
        // name written twice (never by git-okr) keeps the later one.
        Kind::Checkin
    } else if path == "daemon/jobs.yml" {
        Kind::Jobs
    } else if is_okr_file(path) {
        Kind::Okr
    } else {
        Kind::Other
    }
}

/// Merge one file that both sides changed differently (`None`: deleted on that side).
pub fn merge_file(
    path: &str,
    base: Option<&[u8]>,
    ours: Option<&[u8]>,
    theirs: Option<&[u8]>,
    m: &mut Merger,
) -> Pick {
    let kind = kind(path);
    let (o, t) = match (ours, theirs) {
        (Some(o), Some(t)) => (o, t),
        // Deleted on one side, changed on the other. Records (snapshots, proposals, runs,
        // metrics) are kept: nothing is lost. Definitions and other files are a conflict.
        (present, _) => {
            let keep = if present.is_some() {
                Side::Ours
            } else {
                Side::Theirs
            };
            if matches!(kind, Kind::Okr | Kind::Jobs | Kind::Other) {
                let shown = |b: Option<&[u8]>| if b.is_some() { "changed" } else { "deleted" };
                return m
                    .conflict(MergeConflict {
                        file: path.into(),
                        id: String::new(),
                        field: "(whole file)".into(),
                        base: if base.is_some() { "present" } else { "absent" }.into(),
                        ours: shown(ours).into(),
                        theirs: shown(theirs).into(),
                    })
                    .into();
            }
            m.note(format!(
                "{path}: kept (changed on one side, deleted on the other)"
            ));
            return keep.into();
        }
    };
    let merged = match kind {
        Kind::Snapshot => records::later_of(path, o, t, "measured_at", m),
        Kind::CiReport => records::later_of(path, o, t, "generated_at", m),
        Kind::CiHistory => records::union_lines(path, o, t),
        Kind::Manual => records::merge_manual(path, base, o, t, m),
        Kind::Proposal => records::merge_proposal(path, o, t, m),
        Kind::PlanOrRun => records::merge_run_or_plan(path, o, t, m),
        Kind::Checkin => records::later_of(path, o, t, "at", m),
        Kind::Jobs => merge_jobs_file(path, base, o, t, m),
        Kind::Okr => merge_okr_file(path, base, o, t, m),
        Kind::Other => Ok(whole_file_conflict(path, m)),
    };
    match merged {
        Ok(pick) => pick,
        // A side that cannot be read cannot be merged by meaning: the file conflicts.
        Err(e) => m
            .conflict(MergeConflict {
                file: path.into(),
                id: String::new(),
                field: "(whole file)".into(),
                base: "-".into(),
                ours: "changed".into(),
                theirs: format!("changed; cannot merge: {e:#}"),
            })
            .into(),
    }
}

/// Culture, permissions, schema, definitions and unknown files: changed both ways means a conflict.
fn whole_file_conflict(path: &str, m: &mut Merger) -> Pick {
    m.conflict(MergeConflict {
        file: path.into(),
        id: String::new(),
        field: "(whole file)".into(),
        base: "-".into(),
        ours: "changed".into(),
        theirs: "changed differently".into(),
    })
    .into()
}

/// The merged OKR files must still validate together (an id added on both sides in
/// different files, a KR whose merged baseline equals its merged target, …). If not,
/// that is a conflict; `--ours/--theirs` then take that side's OKR files as they were.
fn check_okrs<K: Clone + Eq>(
    ours: &BTreeMap<String, K>,
    theirs: &BTreeMap<String, K>,
    out: &mut MergedFiles<K>,
    load: &dyn Fn(&K) -> Result<Vec<u8>>,
    m: &mut Merger,
) -> Result<()> {
    let mut texts = Vec::new();
    for (path, f) in out.iter().filter(|(p, _)| is_okr_file(p)) {
        let bytes = match f {
            Merged::Kept(k) => load(k)?,
            Merged::New(b) => b.clone(),
        };
        texts.push((path.clone(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    let Err(e) = OkrSet::parse(texts.iter().map(|(p, t)| (p.as_str(), t.as_str()))) else {
        return Ok(());
    };
    let side = m.conflict(MergeConflict {
        file: "okrs/".into(),
        id: String::new(),
        field: "(validation)".into(),
        base: "-".into(),
        ours: "valid".into(),
        theirs: format!("valid, but merged they are not: {e:#}"),
    });
    let take = if side == Side::Ours { ours } else { theirs };
    out.retain(|p, _| !is_okr_file(p));
    for (p, k) in take.iter().filter(|(p, _)| is_okr_file(p)) {
        out.insert(p.clone(), Merged::Kept(k.clone()));
    }
    Ok(())
}
