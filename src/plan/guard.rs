//! Guardrail enforcement during agent runs: agents may only *propose* OKR changes.
//!
//! While agents run, the only commits accepted on `refs/okr/state` are proposals: one
//! parent, `Okr-Action: propose`, and a tree that differs from its parent only by ONE new
//! file `proposals/<id>.yml` holding a valid proposal with that id, in status `proposed`
//! (a lifecycle of one step), whose proposer — and the commit's `Okr-Actor` — is
//! `agent:<name>` for an agent of the run (so a forged trailer cannot smuggle an edit, an
//! existing proposal cannot be "approved" by rewriting it, and an agent cannot commit a
//! proposal already marked approved, nor one in a person's or another agent's name). Anything else — another action, a
//! commit git-okr did not make, a merge, a rewind or deletion of the ref — is a violation:
//! the ref is put back (compare-and-swap) to the last accepted tip with the proposals made
//! since replayed on top of it, byte for byte and with their own authors and messages.
//! The discarded commits are listed in the run result. A person's own state commits made
//! during a run are treated the same way (git-okr cannot tell them from an agent's):
//! don't edit the state while a plan runs.

use crate::model::plan::Violation;
use crate::model::proposal::{is_proposal_id, Proposal, ProposalStatus, PROPOSALS_DIR};
use crate::store::{gix_error, parse_trailers, Store};
use anyhow::{anyhow, Result};
use gix::object::tree::EntryKind;
use gix::ObjectId;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const PROPOSALS: &str = "proposals";

/// Check the state ref against `accepted` (the last tip known to be clean); restore it if
/// something other than proposals moved it. `accepted` advances to the new clean tip.
pub fn check_state_ref(
    store: &Store,
    accepted: &mut ObjectId,
    agents: &BTreeSet<String>,
) -> Result<Option<Violation>> {
    let repo = store.repo();
    for _ in 0..20 {
        let current = store.tip()?;
        let Some(cur) = current else {
            store.move_ref(
                None,
                *accepted,
                "restore refs/okr/state after a guardrail violation",
            )?;
            return Ok(Some(Violation {
                kind: "state-ref".into(),
                detail: "refs/okr/state was deleted".into(),
                items: Vec::new(),
                action: format!("refs/okr/state restored to {}", short(accepted)),
            }));
        };
        if cur == *accepted {
            return Ok(None);
        }
        let rewound = repo
            .merge_base(*accepted, cur)
            .ok()
            .flatten()
            .map(|b| b.detach())
            != Some(*accepted);
        let mut new: Vec<ObjectId> = repo
            .rev_walk([cur])
            .with_hidden([*accepted])
            .all()
            .map_err(gix_error)?
            .map(|info| {
                info.map(|i| i.id)
                    .map_err(|e| anyhow!("walking refs/okr/state: {e}"))
            })
            .collect::<Result<_>>()?;
        new.reverse();
        let mut proposals = Vec::new();
        let mut bad = Vec::new();
        for id in &new {
            if is_proposal(store, *id, agents)? {
                proposals.push(*id);
            } else {
                bad.push(*id);
            }
        }
        if bad.is_empty() && !rewound {
            *accepted = cur;
            return Ok(None);
        }
        let mut tip = *accepted;
        for p in &proposals {
            tip = replay(store, tip, *p)?;
        }
        match store.move_ref(
            Some(cur),
            tip,
            "restore refs/okr/state after a guardrail violation",
        ) {
            Ok(()) => {
                let items = bad.iter().map(|id| describe(store, *id)).collect();
                let detail = if rewound {
                    format!(
                        "refs/okr/state was rewritten to {} (not a descendant of {})",
                        short(&cur),
                        short(accepted)
                    )
                } else {
                    format!("{} state commit(s) that are not proposals", bad.len())
                };
                *accepted = tip;
                return Ok(Some(Violation {
                    kind: "state-ref".into(),
                    detail,
                    items,
                    action: format!(
                        "refs/okr/state restored to {}{}",
                        short(&tip),
                        match proposals.len() {
                            0 => String::new(),
                            n => format!(" keeping {n} proposal commit(s) made meanwhile"),
                        }
                    ),
                }));
            }
            // The ref moved again while we rebuilt: look again.
            Err(_) if store.tip()? != Some(cur) => continue,
            Err(e) => return Err(e.context("restoring refs/okr/state")),
        }
    }
    Err(anyhow!(
        "refs/okr/state keeps changing during the run; could not restore it"
    ))
}

fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

fn describe(store: &Store, id: ObjectId) -> String {
    let Ok(commit) = store.repo().find_commit(id) else {
        return short(&id);
    };
    let message = commit.message_raw_sloppy().to_string();
    let subject = message.lines().next().unwrap_or("").to_string();
    let action = parse_trailers(&message)
        .into_iter()
        .find(|(k, _)| k == "Okr-Action")
        .map(|(_, v)| v)
        .unwrap_or_else(|| "not a git-okr commit".into());
    format!("{} {subject} (Okr-Action: {action})", short(&id))
}

/// A proposal commit: one parent, `Okr-Action: propose` by `agent:<one of agents>`, and
/// only one new file, `proposals/<id>.yml`, a valid proposal by that agent, still `proposed`.
fn is_proposal(store: &Store, id: ObjectId, agents: &BTreeSet<String>) -> Result<bool> {
    let repo = store.repo();
    let commit = repo.find_commit(id).map_err(gix_error)?;
    let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
    let [parent] = parents.as_slice() else {
        return Ok(false);
    };
    let message = commit.message_raw_sloppy().to_string();
    let trailer = |key: &str| {
        parse_trailers(&message)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    };
    if trailer("Okr-Action").as_deref() != Some("propose") {
        return Ok(false);
    }
    let Some(actor) = trailer("Okr-Actor") else {
        return Ok(false);
    };
    if !actor
        .strip_prefix("agent:")
        .is_some_and(|a| agents.contains(a))
    {
        return Ok(false);
    }
    let tree = commit.tree_id().map_err(gix_error)?.detach();
    let parent_tree = repo
        .find_commit(*parent)
        .map_err(gix_error)?
        .tree_id()
        .map_err(gix_error)?
        .detach();
    let (top, top_parent) = (level(store, tree)?, level(store, parent_tree)?);
    let others_same = top
        .keys()
        .chain(top_parent.keys())
        .filter(|k| k.as_str() != PROPOSALS)
        .all(|k| top.get(k) == top_parent.get(k));
    if !others_same {
        return Ok(false);
    }
    let after = proposal_files(store, tree)?;
    let before = proposal_files(store, parent_tree)?;
    // Every earlier proposal is unchanged; exactly one file is new.
    if !before.iter().all(|(p, id)| after.get(p) == Some(id)) || after.len() != before.len() + 1 {
        return Ok(false);
    }
    let Some((path, blob)) = after.iter().find(|(p, _)| !before.contains_key(*p)) else {
        return Ok(false);
    };
    Ok(is_new_proposal_by(store, path, *blob, &actor))
}

/// Whether `path` (`proposals/<id>.yml`) holds a valid proposal with that id, in status
/// `proposed` only, proposed by `actor`.
fn is_new_proposal_by(store: &Store, path: &str, blob: ObjectId, actor: &str) -> bool {
    let Some(id) = path
        .strip_prefix(PROPOSALS_DIR)
        .and_then(|f| f.strip_suffix(".yml"))
    else {
        return false;
    };
    if !is_proposal_id(id) {
        return false;
    }
    let Ok(object) = store.repo().find_object(blob) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&object.data) else {
        return false;
    };
    let Ok(p) = Proposal::parse(path, text) else {
        return false;
    };
    p.id == id
        && p.proposer == actor
        && p.lifecycle.len() == 1
        && p.status() == ProposalStatus::Proposed
        && p.lifecycle[0].by == actor
}

/// Entries of one tree level: name → (object id, is tree).
fn level(store: &Store, tree: ObjectId) -> Result<BTreeMap<String, (ObjectId, bool)>> {
    let tree = store.repo().find_tree(tree).map_err(gix_error)?;
    let mut out = BTreeMap::new();
    for entry in tree.iter() {
        let entry = entry.map_err(gix_error)?;
        out.insert(
            entry.filename().to_string(),
            (entry.object_id(), entry.mode().is_tree()),
        );
    }
    Ok(out)
}

/// Every blob below proposals/ (path → id).
fn proposal_files(store: &Store, tree: ObjectId) -> Result<BTreeMap<String, ObjectId>> {
    let mut out = BTreeMap::new();
    let mut stack = match level(store, tree)?.get(PROPOSALS) {
        Some((id, true)) => vec![(PROPOSALS.to_string(), *id)],
        _ => return Ok(out),
    };
    while let Some((prefix, id)) = stack.pop() {
        for (name, (oid, is_tree)) in level(store, id)? {
            let path = format!("{prefix}/{name}");
            if is_tree {
                stack.push((path, oid));
            } else {
                out.insert(path, oid);
            }
        }
    }
    Ok(out)
}

/// Re-create proposal commit `p` on top of `onto`: its new proposal files, its message,
/// author and committer.
fn replay(store: &Store, onto: ObjectId, p: ObjectId) -> Result<ObjectId> {
    let repo = store.repo();
    let commit = repo.find_commit(p).map_err(gix_error)?;
    let parent = commit
        .parent_ids()
        .next()
        .ok_or_else(|| anyhow!("a proposal commit without parent"))?
        .detach();
    let parent_tree = repo
        .find_commit(parent)
        .map_err(gix_error)?
        .tree_id()
        .map_err(gix_error)?
        .detach();
    let tree = commit.tree_id().map_err(gix_error)?.detach();
    let before = proposal_files(store, parent_tree)?;
    let onto_tree = repo
        .find_commit(onto)
        .map_err(gix_error)?
        .tree_id()
        .map_err(gix_error)?
        .detach();
    let mut editor = repo.edit_tree(onto_tree).map_err(gix_error)?;
    for (path, id) in proposal_files(store, tree)? {
        if !before.contains_key(&path) {
            editor
                .upsert(path.as_str(), EntryKind::Blob, id)
                .map_err(gix_error)?;
        }
    }
    let new_tree = editor.write().map_err(gix_error)?.detach();
    let mut object = commit
        .decode()
        .map_err(gix_error)?
        .to_owned()
        .map_err(gix_error)?;
    object.tree = new_tree;
    object.parents = vec![onto].into();
    Ok(repo.write_object(&object).map_err(gix_error)?.detach())
}

/// Files under `okrs/` in the work tree, with size and mtime, to spot agents writing
/// OKR files there instead of proposing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkTreeOkrs {
    root: PathBuf,
    files: BTreeMap<String, (u64, Option<SystemTime>)>,
}

impl WorkTreeOkrs {
    pub fn scan(workdir: &Path) -> WorkTreeOkrs {
        let mut files = BTreeMap::new();
        let mut stack = vec![workdir.join("okrs")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path
                        .strip_prefix(workdir)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    files.insert(rel, (meta.len(), meta.modified().ok()));
                }
            }
        }
        WorkTreeOkrs {
            root: workdir.to_path_buf(),
            files,
        }
    }

    /// What changed since `self` (and `self` becomes the new picture).
    pub fn check(&mut self) -> Option<Violation> {
        let now = WorkTreeOkrs::scan(&self.root);
        let mut items = Vec::new();
        for (path, meta) in &now.files {
            match self.files.get(path) {
                None => items.push(format!("created {path}")),
                Some(old) if old != meta => items.push(format!("modified {path}")),
                _ => {}
            }
        }
        for path in self.files.keys().filter(|p| !now.files.contains_key(*p)) {
            items.push(format!("deleted {path}"));
        }
        *self = now;
        (!items.is_empty()).then(|| Violation {
            kind: "work-tree".into(),
            detail: "OKR files written in the work tree instead of proposing".into(),
            items,
            action: "recorded; the work tree is left as the agent left it for review".into(),
        })
    }
}
