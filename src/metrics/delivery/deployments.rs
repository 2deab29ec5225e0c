//! Which commits were deployed, and when: tags matching a glob, or every
//! first-parent commit of a deployment branch.

use anyhow::{anyhow, Result};
use gix::bstr::ByteSlice;
use gix::ObjectId;
use rusqlite::OptionalExtension;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

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
///
/// What the tags' objects say is cached in `conn` under a digest of every matching
/// tag's name and target: objects never change under their id, so while no such tag
/// is added, moved or deleted, none of them is read again.
pub fn from_tags(
    repo: &gix::Repository,
    pattern: &str,
    conn: &rusqlite::Connection,
) -> Result<Vec<Deployment>> {
    let listed = matching_tags(repo, pattern)?;
    let digest = digest_of(pattern, &listed);
    if let Some(found) = cached_tags(conn, pattern, &digest)? {
        return Ok(found);
    }
    let found = resolve_tags(repo, listed)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO delivery_tags (pattern, digest, deployments) VALUES (?1, ?2, ?3)",
    )?
    .execute((pattern, &digest, encode(&found)))?;
    Ok(found)
}

/// Every tag whose name matches `pattern`, with the object it names.
fn matching_tags(repo: &gix::Repository, pattern: &str) -> Result<Vec<(String, ObjectId)>> {
    let refs = repo.references().map_err(crate::store::gix_error)?;
    let tags = refs.tags().map_err(|e| anyhow!("listing tags: {e}"))?;
    let mut out = Vec::new();
    for reference in tags {
        let reference = reference.map_err(|e| anyhow!("listing tags: {e}"))?;
        let name = reference.name().shorten().to_str_lossy().into_owned();
        if gix::glob::wildmatch(
            pattern.as_bytes().as_bstr(),
            name.as_bytes().as_bstr(),
            gix::glob::wildmatch::Mode::empty(),
        ) {
            out.push((name, reference.id().detach()));
        }
    }
    Ok(out)
}

fn digest_of(pattern: &str, listed: &[(String, ObjectId)]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (pattern, listed).hash(&mut h);
    format!("{}:{:016x}", listed.len(), h.finish())
}

fn cached_tags(
    conn: &rusqlite::Connection,
    pattern: &str,
    digest: &str,
) -> Result<Option<Vec<Deployment>>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT deployments FROM delivery_tags WHERE pattern = ?1 AND digest = ?2")?
        .query_row((pattern, digest), |row| row.get(0))
        .optional()?;
    // What does not decode is read again from the tags, like any miss.
    Ok(bytes.and_then(|b| decode(&b)))
}

/// Reads each tag's objects: one deployment per tagged commit.
fn resolve_tags(
    repo: &gix::Repository,
    listed: Vec<(String, ObjectId)>,
) -> Result<Vec<Deployment>> {
    let mut by_commit: BTreeMap<ObjectId, (i64, String)> = BTreeMap::new();
    for (name, target) in listed {
        let Some((commit, time)) = tagged_commit(repo, target)? else {
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

/// The cache's form of tag deployments: for each, the commit id (length-prefixed),
/// the time (little-endian i64) and the name (u16 length, then the bytes).
fn encode(deployments: &[Deployment]) -> Vec<u8> {
    let mut out = Vec::new();
    for d in deployments {
        let name = d.name.as_bytes();
        let name = &name[..name.len().min(u16::MAX as usize)];
        out.push(d.commit.as_bytes().len() as u8);
        out.extend(d.commit.as_bytes());
        out.extend(d.time.to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(name);
    }
    out
}

/// `None` for anything [`encode`] did not write.
fn decode(mut bytes: &[u8]) -> Option<Vec<Deployment>> {
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = bytes.split_at_checked(n)?;
        bytes = tail;
        Some(head)
    };
    let mut out = Vec::new();
    while let Some(len) = take(1) {
        let commit = ObjectId::try_from(take(len[0] as usize)?).ok()?;
        let time = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
        let name = std::str::from_utf8(take(len)?).ok()?.to_string();
        out.push(Deployment {
            commit,
            time,
            name,
            first_parent: None,
        });
    }
    Some(out)
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

#[cfg(test)]
mod tests {
    use super::{decode, encode, Deployment};
    use gix::ObjectId;

    #[test]
    fn the_cache_form_round_trips_and_refuses_anything_else() {
        let list = vec![
            Deployment {
                commit: ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap(),
                time: -3,
                name: "v1.0".into(),
                first_parent: None,
            },
            Deployment {
                commit: ObjectId::from_hex(b"89abcdef0123456789abcdef0123456789abcdef").unwrap(),
                time: 1_700_000_000,
                name: "v1.0.1-é".into(),
                first_parent: None,
            },
        ];
        let bytes = encode(&list);
        assert_eq!(decode(&bytes), Some(list));
        assert_eq!(decode(&[]), Some(Vec::new()));
        for cut in [1, 20, 21, 29, 31, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = 7;
        assert_eq!(decode(&bad), None, "not an id's length");
    }
}
