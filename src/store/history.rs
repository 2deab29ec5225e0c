//! The history of one folder of the state ref: which commits changed which of its files.
//!
//! Some facts must come from history, not from file content a teammate or an agent may
//! have written (a proposal's approval is a commit made by a person, not a line saying
//! `approved`). This walks every commit reachable from a tip once, in an order where
//! parents come before children, and reports the files of one folder each single-parent
//! commit added, changed or removed, with that commit's message and committer.

use super::{gix_error, Store};
use anyhow::Result;
use gix::ObjectId;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// One commit that changed files directly inside the folder.
#[derive(Debug, Clone)]
pub struct FolderChange {
    pub commit: ObjectId,
    /// The commit's single parent (`None` for a root commit).
    pub parent: Option<ObjectId>,
    /// Committer time, seconds since the epoch.
    pub time: i64,
    pub message: String,
    pub committer_name: String,
    pub committer_email: String,
    /// File names in the folder that the commit changed: (name, before, after).
    pub files: Vec<(String, Option<ObjectId>, Option<ObjectId>)>,
}

struct Node {
    parents: Vec<ObjectId>,
    time: i64,
    folder: Option<ObjectId>,
}

impl Store {
    /// Every single-parent commit reachable from `tip` that changed a file directly in
    /// `folder` (a top-level folder such as `proposals`), parents before children
    /// (ties by committer time, then id). Merge commits only combine their parents'
    /// changes and are not reported.
    pub fn folder_history(&self, tip: ObjectId, folder: &str) -> Result<Vec<FolderChange>> {
        let nodes = self.collect_nodes(tip, folder)?;
        let mut listings: HashMap<ObjectId, BTreeMap<String, ObjectId>> = HashMap::new();
        let mut out = Vec::new();
        for id in topological(&nodes) {
            let node = &nodes[&id];
            if node.parents.len() > 1 {
                continue;
            }
            let parent = node.parents.first().copied();
            let before = parent.and_then(|p| nodes.get(&p)).and_then(|n| n.folder);
            if before == node.folder {
                continue;
            }
            let old = self.folder_listing(before, &mut listings)?;
            let new = self.folder_listing(node.folder, &mut listings)?;
            let mut files = Vec::new();
            for (name, id) in &new {
                if old.get(name) != Some(id) {
                    files.push((name.clone(), old.get(name).copied(), Some(*id)));
                }
            }
            for (name, id) in &old {
                if !new.contains_key(name) {
                    files.push((name.clone(), Some(*id), None));
                }
            }
            if files.is_empty() {
                continue;
            }
            let commit = self.repo.find_commit(id).map_err(gix_error)?;
            let message = commit.message_raw_sloppy().to_string();
            let (committer_name, committer_email) = match commit.committer() {
                Ok(sig) => (sig.name.to_string(), sig.email.to_string()),
                Err(_) => (String::new(), String::new()),
            };
            out.push(FolderChange {
                commit: id,
                parent,
                time: node.time,
                message,
                committer_name,
                committer_email,
                files,
            });
        }
        Ok(out)
    }

    /// The commits reachable from `tip` through commits that have `folder` (and the
    /// first one on each line that does not), with parents, time and `folder` tree id.
    fn collect_nodes(&self, tip: ObjectId, folder: &str) -> Result<HashMap<ObjectId, Node>> {
        let mut nodes = HashMap::new();
        let mut todo = vec![tip];
        while let Some(id) = todo.pop() {
            if nodes.contains_key(&id) {
                continue;
            }
            let commit = self.repo.find_commit(id).map_err(gix_error)?;
            let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            let time = commit.time().map(|t| t.seconds).unwrap_or(0);
            let tree = commit.tree().map_err(gix_error)?;
            let folder_id = tree
                .find_entry(folder)
                .filter(|e| e.mode().is_tree())
                .map(|e| e.oid().to_owned());
            // A commit without the folder ends the walk along its line: every change
            // to a file now in the folder was made in a commit that has the folder,
            // after the last commit on that line that did not.
            if folder_id.is_some() {
                todo.extend(parents.iter().copied());
            }
            nodes.insert(
                id,
                Node {
                    parents,
                    time,
                    folder: folder_id,
                },
            );
        }
        Ok(nodes)
    }

    /// File name → blob id of the files directly in a folder tree (memoized).
    fn folder_listing(
        &self,
        tree: Option<ObjectId>,
        cache: &mut HashMap<ObjectId, BTreeMap<String, ObjectId>>,
    ) -> Result<BTreeMap<String, ObjectId>> {
        let Some(tree) = tree else {
            return Ok(BTreeMap::new());
        };
        if let Some(listing) = cache.get(&tree) {
            return Ok(listing.clone());
        }
        let mut listing = BTreeMap::new();
        for entry in self.repo.find_tree(tree).map_err(gix_error)?.iter() {
            let entry = entry.map_err(gix_error)?;
            if entry.mode().is_blob() {
                listing.insert(entry.filename().to_string(), entry.oid().to_owned());
            }
        }
        cache.insert(tree, listing.clone());
        Ok(listing)
    }

    /// `commit` as a change of the file `folder/name`, when it is a single-parent (or
    /// root) commit that changed that file; `None` otherwise.
    pub fn change_of(
        &self,
        commit: ObjectId,
        folder: &str,
        name: &str,
    ) -> Result<Option<FolderChange>> {
        let found = self.repo.find_commit(commit).map_err(gix_error)?;
        let parents: Vec<ObjectId> = found.parent_ids().map(|p| p.detach()).collect();
        if parents.len() > 1 {
            return Ok(None);
        }
        let parent = parents.first().copied();
        let path = format!("{folder}/{name}");
        let after = self.blob_id_at(commit, &path)?;
        let before = match parent {
            Some(p) => self.blob_id_at(p, &path)?,
            None => None,
        };
        if before == after {
            return Ok(None);
        }
        let (committer_name, committer_email) = match found.committer() {
            Ok(sig) => (sig.name.to_string(), sig.email.to_string()),
            Err(_) => (String::new(), String::new()),
        };
        Ok(Some(FolderChange {
            commit,
            parent,
            time: found.time().map(|t| t.seconds).unwrap_or(0),
            message: found.message_raw_sloppy().to_string(),
            committer_name,
            committer_email,
            files: vec![(name.to_string(), before, after)],
        }))
    }

    /// The message of `commit`.
    pub fn message_of(&self, commit: ObjectId) -> Result<String> {
        let found = self.repo.find_commit(commit).map_err(gix_error)?;
        Ok(found.message_raw_sloppy().to_string())
    }

    /// The blob id at `path` in `commit`'s tree, if a file is there.
    fn blob_id_at(&self, commit: ObjectId, path: &str) -> Result<Option<ObjectId>> {
        let tree = self
            .repo
            .find_commit(commit)
            .map_err(gix_error)?
            .tree()
            .map_err(gix_error)?;
        Ok(match tree.lookup_entry_by_path(path).map_err(gix_error)? {
            Some(entry) if entry.mode().is_blob() => Some(entry.oid().to_owned()),
            _ => None,
        })
    }

    /// The bytes of the file at `path` in `commit`'s tree, without verifying the rest of
    /// that tree (history may hold trees the ref never pointed at; one known path is read).
    pub fn file_at(&self, commit: ObjectId, path: &str) -> Result<Option<Vec<u8>>> {
        let tree = self
            .repo
            .find_commit(commit)
            .map_err(gix_error)?
            .tree()
            .map_err(gix_error)?;
        match tree.lookup_entry_by_path(path).map_err(gix_error)? {
            Some(entry) if entry.mode().is_blob() => {
                Ok(Some(entry.object().map_err(gix_error)?.data.clone()))
            }
            _ => Ok(None),
        }
    }
}

/// Parents before children; among commits ready at the same time, the older first
/// (then by id), so concurrent steps of two clones are ordered the same everywhere.
fn topological(nodes: &HashMap<ObjectId, Node>) -> Vec<ObjectId> {
    let mut waiting: HashMap<ObjectId, usize> = HashMap::new();
    let mut children: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    for (id, node) in nodes {
        let known = node
            .parents
            .iter()
            .filter(|p| nodes.contains_key(*p))
            .count();
        waiting.insert(*id, known);
        for p in &node.parents {
            children.entry(*p).or_default().push(*id);
        }
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<(i64, ObjectId)>> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| std::cmp::Reverse((nodes[id].time, *id)))
        .collect();
    let mut out = Vec::with_capacity(nodes.len());
    while let Some(std::cmp::Reverse((_, id))) = ready.pop() {
        out.push(id);
        for child in children.get(&id).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(child) {
                *n -= 1;
                if *n == 0 {
                    ready.push(std::cmp::Reverse((nodes[child].time, *child)));
                }
            }
        }
    }
    out
}
