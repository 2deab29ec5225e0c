//! Which commits were deployed, and when: tags matching a glob, or every
//! first-parent commit of a deployment branch.

use anyhow::{anyhow, Result};
use gix::bstr::ByteSlice;
use gix::ObjectId;
use std::collections::BTreeMap;

/// One deployment: the commit it shipped and when (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub commit: ObjectId,
    pub time: i64,
    /// The tag (or the branch commit's short id) that names it.
    pub name: String,
    /// A deployment branch's commit's first parent, whose history it did not ship.
    pub first_parent: Option<ObjectId>,
}

/// The tags matching `pattern` (as `git tag --list PATTERN` matches), oldest first.
///
/// Several tags on one commit are one deployment, at the earliest of their times: a
/// release tagged twice (`v1.2`, `v1.2.0`) shipped once. A tag's time is its tagger
/// date, else (a lightweight tag, or an annotated one without tagger) the tagged
/// commit's committer date. Tags of trees or blobs are not deployments.
pub fn from_tags(repo: &gix::Repository, pattern: &str) -> Result<Vec<Deployment>> {
    let mut by_commit: BTreeMap<ObjectId, (i64, String)> = BTreeMap::new();
    let refs = repo.references().map_err(crate::store::gix_error)?;
    let tags = refs.tags().map_err(|e| anyhow!("listing tags: {e}"))?;
    for reference in tags {
        let reference = reference.map_err(|e| anyhow!("listing tags: {e}"))?;
        let name = reference.name().shorten().to_str_lossy().into_owned();
        if !gix::glob::wildmatch(
            pattern.as_bytes().as_bstr(),
            name.as_bytes().as_bstr(),
            gix::glob::wildmatch::Mode::empty(),
        ) {
            continue;
        }
        let Some((commit, time)) = tagged_commit(repo, reference.id().detach())? else {
            continue;
        };
        let entry = by_commit.entry(commit).or_insert((time, name.clone()));
        if (time, &name) < (entry.0, &entry.1) {
            *entry = (time, name);
        }
    }
    let mut out: Vec<Deployment> = by_commit
        .into_iter()
        .map(|(commit, (time, name))| Deployment {
            commit,
            time,
            name,
            first_parent: None,
        })
        .collect();
    out.sort_by(|a, b| (a.time, &a.name).cmp(&(b.time, &b.name)));
    Ok(out)
}

/// The commit a tag ref points at, through any chain of annotated tags, and the
/// deployment time: the outermost tagger date, else the commit's committer date.
fn tagged_commit(repo: &gix::Repository, id: ObjectId) -> Result<Option<(ObjectId, i64)>> {
    let mut object = repo.find_object(id).map_err(crate::store::gix_error)?;
    let mut tagger_time = None;
    loop {
        match object.kind {
            gix::object::Kind::Tag => {
                let tag = object.into_tag();
                if tagger_time.is_none() {
                    if let Some(sig) = tag.tagger().map_err(crate::store::gix_error)? {
                        tagger_time = Some(sig_seconds(&sig)?);
                    }
                }
                let target = tag.target_id().map_err(crate::store::gix_error)?.detach();
                object = repo.find_object(target).map_err(crate::store::gix_error)?;
            }
            gix::object::Kind::Commit => {
                let commit = object.into_commit();
                let time = match tagger_time {
                    Some(t) => t,
                    None => commit.time().map_err(crate::store::gix_error)?.seconds,
                };
                return Ok(Some((commit.id, time)));
            }
            _ => return Ok(None),
        }
    }
}

/// Every first-parent commit of `branch` committed at or after `since` is a
/// deployment at its committer date, oldest first. The walk stops at the first
/// commit older than `since`, so history before the window is never read.
pub fn from_branch(repo: &gix::Repository, tip: ObjectId, since: i64) -> Result<Vec<Deployment>> {
    let mut out = Vec::new();
    let mut next = Some(tip);
    while let Some(id) = next {
        let commit = repo.find_commit(id).map_err(crate::store::gix_error)?;
        let time = commit.time().map_err(crate::store::gix_error)?.seconds;
        if time < since {
            break;
        }
        let first_parent = commit.parent_ids().next().map(|p| p.detach());
        out.push(Deployment {
            commit: id,
            time,
            name: id.to_hex_with_len(12).to_string(),
            first_parent,
        });
        next = first_parent;
    }
    out.reverse();
    Ok(out)
}

pub fn sig_seconds(sig: &gix::actor::SignatureRef<'_>) -> Result<i64> {
    sig.time()
        .map(|t| t.seconds)
        .map_err(|e| anyhow!("unreadable date {:?}: {e}", sig.time))
}
