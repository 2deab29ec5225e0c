//! The commits a deployment shipped first: reachable from its commit and not from an
//! earlier deployment. Tag deployments are read in one walk of the graph: a commit
//! belongs to the earliest deployment that reaches it, so each deployment's walk stops
//! where an earlier one has been and the whole history is read once (hiding every
//! earlier tag in each range's own walk read it once per tag). A deployment branch's
//! ranges hide only the commit's first parent. Summaries are kept (in a compact binary
//! form: a warm measurement reads every one) in
//! `.git/okr/audit.sqlite`, keyed by everything that decides them, so a warm
//! measurement reads only the commits after the newest deployment.

use super::deployments::{sig_seconds, Deployment};
use anyhow::{anyhow, Context, Result};
use gix::bstr::ByteSlice;
use gix::ObjectId;
use rusqlite::{Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

const SCHEMA_KEY: &str = "delivery_schema";
const SCHEMA_VERSION: &str = "4";

/// What delivery metrics need to know about one range of commits. With paths, only
/// the commits that change something under them are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Range {
    /// Ids (hex) of the kept commits, separated by spaces: one string, because a warm
    /// measurement reads every range and needs the ids only to look up reverted commits.
    pub ids: String,
    /// Author dates (seconds) of the kept commits that are not merges.
    pub author_times: Vec<i64>,
    /// Commit ids or prefixes named by `This reverts commit <sha>` in kept commits.
    pub reverts: Vec<String>,
    /// Whether a kept commit's subject matches the hotfix pattern.
    pub hotfix: bool,
}

impl Range {
    /// Whether this range holds the commit `sha` (a full id or a prefix of one).
    pub fn contains(&self, sha: &str) -> bool {
        self.ids.split(' ').any(|id| id.starts_with(sha))
    }

    /// The cache's form, which a warm measurement reads for every deployment: the
    /// hotfix flag, the author times (count, then little-endian i64s), the reverted
    /// ids (count, then length-prefixed), then the ids.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.author_times.len() * 8 + self.ids.len());
        out.push(u8::from(self.hotfix));
        out.extend((self.author_times.len() as u32).to_le_bytes());
        for t in &self.author_times {
            out.extend(t.to_le_bytes());
        }
        out.extend((self.reverts.len() as u32).to_le_bytes());
        for r in &self.reverts {
            // Reverted ids are 7 to 64 hex digits (the pattern that finds them).
            out.push(r.len() as u8);
            out.extend(r.as_bytes());
        }
        out.extend(self.ids.as_bytes());
        out
    }

    /// `None` for anything [`Range::encode`] did not write (read as a cache miss).
    fn decode(bytes: &[u8]) -> Option<Range> {
        let mut rest = bytes;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = rest.split_at_checked(n)?;
            rest = tail;
            Some(head)
        };
        let hotfix = match take(1)? {
            [0] => false,
            [1] => true,
            _ => return None,
        };
        let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let times = take(count.checked_mul(8)?)?;
        let author_times = times
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let mut reverts = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let len = *take(1)?.first()? as usize;
            reverts.push(std::str::from_utf8(take(len)?).ok()?.to_string());
        }
        let ids = std::str::from_utf8(rest).ok()?.to_string();
        Some(Range {
            ids,
            author_times,
            reverts,
            hotfix,
        })
    }
}

/// How deployments follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Tags: a deployment ships what no earlier deployment reached.
    Tags,
    /// First-parent commits of a branch: each ships what its first parent lacks.
    Branch,
}

/// Every deployment's range from `first` on, and the deployments that hide as much as
/// all of them do.
pub struct Shipped {
    pub first: usize,
    ranges: Vec<Range>,
    frontier: Vec<ObjectId>,
}

impl Shipped {
    /// The range of deployment `i` (at least `first`).
    pub fn range(&self, i: usize) -> &Range {
        &self.ranges[i - self.first]
    }
}

/// Reads ranges, from the cache when it knows them.
pub struct Ranges<'a> {
    repo: &'a gix::Repository,
    conn: &'a Connection,
    hotfix: regex::Regex,
    hotfix_source: String,
    reverts: regex::Regex,
}

impl<'a> Ranges<'a> {
    pub fn new(repo: &'a gix::Repository, conn: &'a Connection, hotfix: &str) -> Result<Self> {
        prepare(conn)?;
        Ok(Ranges {
            repo,
            conn,
            hotfix: regex::Regex::new(hotfix)
                .map_err(|e| anyhow!("deployments: hotfix_pattern: {e}"))?,
            hotfix_source: hotfix.to_string(),
            reverts: regex::Regex::new(r"This reverts commit ([0-9a-fA-F]{7,64})")
                .expect("a valid pattern"),
        })
    }

    /// The ranges of `deployments[first..]` (oldest first).
    pub fn shipped(
        &self,
        kind: Kind,
        deployments: &[Deployment],
        first: usize,
        paths: &[String],
    ) -> Result<Shipped> {
        let (ranges, frontier) = match kind {
            Kind::Tags => self.tag_ranges(deployments, first, paths)?,
            Kind::Branch => {
                let ranges = deployments[first..]
                    .iter()
                    .map(|d| {
                        let parent: Vec<ObjectId> = d.first_parent.into_iter().collect();
                        let key = self.key(&d.commit.to_string(), &parent, paths);
                        self.cached_or(&key, || self.walk(d.commit, &parent, paths))
                    })
                    .collect::<Result<_>>()?;
                // Every deployment is a first-parent ancestor of the newest one.
                (
                    ranges,
                    deployments.last().map(|d| d.commit).into_iter().collect(),
                )
            }
        };
        Ok(Shipped {
            first,
            ranges,
            frontier,
        })
    }

    /// The tail: the commits of `tip` that no deployment shipped.
    pub fn tail(
        &self,
        shipped: &Shipped,
        deployments: &[Deployment],
        tip: ObjectId,
        paths: &[String],
    ) -> Result<Range> {
        let all: Vec<ObjectId> = deployments.iter().map(|d| d.commit).collect();
        let key = self.key(&format!("tail:{tip}"), &all, paths);
        self.cached_or(&key, || self.walk(tip, &shipped.frontier, paths))
    }

    /// Tag deployments' ranges from `first` on, and the frontier: the deployments no
    /// other deployment reaches, which hide as much as all of them do.
    fn tag_ranges(
        &self,
        deployments: &[Deployment],
        first: usize,
        paths: &[String],
    ) -> Result<(Vec<Range>, Vec<ObjectId>)> {
        let keys = self.tag_keys(deployments, paths);
        let frontier_key = self.key(
            "frontier",
            &deployments.iter().map(|d| d.commit).collect::<Vec<_>>(),
            &[],
        );
        let cached = keys[first..]
            .iter()
            .map(|k| Ok(self.cached(k)?.and_then(|b| Range::decode(&b))))
            .collect::<Result<Option<Vec<_>>>>()?;
        let frontier = self.cached(&frontier_key)?.and_then(|bytes| {
            bytes
                .chunks(20)
                .map(|id| ObjectId::try_from(id).ok())
                .collect::<Option<Vec<_>>>()
        });
        if let (Some(ranges), Some(frontier)) = (cached, frontier) {
            return Ok((ranges, frontier));
        }
        let (ranges, frontier) = self.walk_tags(deployments, paths)?;
        for (key, range) in keys.iter().zip(&ranges) {
            self.store(key, &range.encode())?;
        }
        let ids: Vec<u8> = frontier
            .iter()
            .flat_map(|id| id.as_bytes().to_vec())
            .collect();
        self.store(&frontier_key, &ids)?;
        Ok((ranges.into_iter().skip(first).collect(), frontier))
    }

    /// One walk for every tag deployment, oldest first: each takes the commits it
    /// reaches that no earlier one took. A deployment whose commit another's walk meets
    /// is reachable from that one, so it is not on the frontier.
    fn walk_tags(
        &self,
        deployments: &[Deployment],
        paths: &[String],
    ) -> Result<(Vec<Range>, Vec<ObjectId>)> {
        let at: HashMap<ObjectId, usize> = deployments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.commit, i))
            .collect();
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut reached = vec![false; deployments.len()];
        let mut ranges = Vec::with_capacity(deployments.len());
        for (i, d) in deployments.iter().enumerate() {
            let mut range = Range::default();
            if seen.contains(&d.commit) {
                reached[i] = true;
            }
            let mut stack = vec![d.commit];
            while let Some(id) = stack.pop() {
                if !seen.insert(id) {
                    if let Some(&j) = at.get(&id) {
                        reached[j] |= j != i;
                    }
                    continue;
                }
                let commit = self.repo.find_commit(id).map_err(crate::store::gix_error)?;
                let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
                self.add(&mut range, &commit, &parents, paths)?;
                stack.extend(parents);
            }
            ranges.push(range);
        }
        let frontier = deployments
            .iter()
            .zip(&reached)
            .filter(|(_, r)| !**r)
            .map(|(d, _)| d.commit)
            .collect();
        Ok((ranges, frontier))
    }

    /// Each tag deployment's key: its commit and every earlier deployment.
    fn tag_keys(&self, deployments: &[Deployment], paths: &[String]) -> Vec<String> {
        let mut earlier = std::collections::hash_map::DefaultHasher::new();
        deployments
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let key = format!(
                    "{}|{i}:{:016x}|{paths:?}|{}",
                    d.commit,
                    earlier.finish(),
                    self.hotfix_source
                );
                d.commit.hash(&mut earlier);
                key
            })
            .collect()
    }

    /// Everything a range depends on. A hash of the hidden tips keeps the key short; a
    /// collision is as unlikely as in git's own object ids' birthday bound and would
    /// only misreport a metric, never write state.
    fn key(&self, what: &str, hidden: &[ObjectId], paths: &[String]) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        hidden.hash(&mut h);
        format!(
            "{what}|{}:{:016x}|{paths:?}|{}",
            hidden.len(),
            h.finish(),
            self.hotfix_source
        )
    }

    fn cached_or(&self, key: &str, compute: impl FnOnce() -> Result<Range>) -> Result<Range> {
        if let Some(range) = self.cached(key)?.and_then(|b| Range::decode(&b)) {
            return Ok(range);
        }
        let range = compute()?;
        self.store(key, &range.encode())?;
        Ok(range)
    }

    /// The cached bytes for `key`; what does not decode is recomputed, like any miss.
    fn cached(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT summary FROM delivery_ranges WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    fn store(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO delivery_ranges (key, summary) VALUES (?1, ?2)",
            )?
            .execute((key, bytes))
            .context("caching a deployment's commits")?;
        Ok(())
    }

    /// The commits reachable from `tip` and not from `hidden`, summarised.
    fn walk(&self, tip: ObjectId, hidden: &[ObjectId], paths: &[String]) -> Result<Range> {
        let mut range = Range::default();
        let walk = self
            .repo
            .rev_walk([tip])
            .with_hidden(hidden.iter().copied())
            .all()
            .map_err(crate::store::gix_error)?;
        for info in walk {
            let info = info.map_err(|e| anyhow!("walking the history of {tip}: {e}"))?;
            let commit = info
                .object()
                .map_err(|e| anyhow!("reading commit {}: {e}", info.id))?;
            let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            self.add(&mut range, &commit, &parents, paths)?;
        }
        Ok(range)
    }

    /// Adds `commit` to `range` when it changes something under `paths` (or there are
    /// none): its id, its author date unless it is a merge, what it reverts, and
    /// whether its subject names a hotfix.
    fn add(
        &self,
        range: &mut Range,
        commit: &gix::Commit<'_>,
        parents: &[ObjectId],
        paths: &[String],
    ) -> Result<()> {
        if !paths.is_empty() && !touches(self.repo, commit, parents.first().copied(), paths)? {
            return Ok(());
        }
        let message = commit
            .message_raw()
            .map_err(|e| anyhow!("reading commit {}: {e}", commit.id))?;
        let subject = message.lines().next().unwrap_or_default().to_str_lossy();
        range.hotfix |= self.hotfix.is_match(&subject);
        let text = message.to_str_lossy();
        for found in self.reverts.captures_iter(&text) {
            range.reverts.push(found[1].to_ascii_lowercase());
        }
        if parents.len() < 2 {
            let author = commit
                .author()
                .map_err(|e| anyhow!("reading commit {}: {e}", commit.id))?;
            range.author_times.push(sig_seconds(&author)?);
        }
        if !range.ids.is_empty() {
            range.ids.push(' ');
        }
        range.ids.push_str(&commit.id.to_string());
        Ok(())
    }
}

/// Whether `commit` changes anything under `spec` compared with its first parent (a
/// root commit: whether it has anything there), comparing the tree entries at each
/// path as `git log -- PATH` does for a commit with one parent.
fn touches(
    repo: &gix::Repository,
    commit: &gix::Commit<'_>,
    parent: Option<ObjectId>,
    paths: &[String],
) -> Result<bool> {
    let tree = commit.tree().map_err(crate::store::gix_error)?;
    let parent_tree = match parent {
        Some(p) => Some(
            repo.find_commit(p)
                .and_then(|c| c.tree())
                .map_err(crate::store::gix_error)?,
        ),
        None => None,
    };
    for prefix in paths {
        let here = entry_at(&tree, prefix)?;
        let before = match &parent_tree {
            Some(t) => entry_at(t, prefix)?,
            None => None,
        };
        if here != before {
            return Ok(true);
        }
    }
    Ok(false)
}

fn entry_at(tree: &gix::Tree<'_>, path: &str) -> Result<Option<(ObjectId, u16)>> {
    // `src/` names a folder only; `src` a folder or a file.
    let dir_only = path.ends_with('/');
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(Some((tree.id, 0)));
    }
    let entry = tree
        .lookup_entry_by_path(path)
        .map_err(|e| anyhow!("reading tree {}: {e}", tree.id))?;
    Ok(entry
        .filter(|e| !dir_only || e.mode().is_tree())
        .map(|e| (e.object_id(), e.mode().value())))
}

fn prepare(conn: &Connection) -> Result<()> {
    if crate::db::meta_get(conn, SCHEMA_KEY)?.as_deref() == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    conn.execute_batch(
        "DROP TABLE IF EXISTS delivery_ranges;
         CREATE TABLE delivery_ranges (key TEXT PRIMARY KEY, summary BLOB NOT NULL) WITHOUT ROWID;",
    )?;
    crate::db::meta_set(conn, SCHEMA_KEY, SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    use super::Range;

    #[test]
    fn the_cache_form_round_trips_and_refuses_anything_else() {
        let range = Range {
            ids: "a1b2 c3d4".into(),
            author_times: vec![-5, 0, 1_700_000_000],
            reverts: vec!["abcdef1".into(), "0123456789".into()],
            hotfix: true,
        };
        let bytes = range.encode();
        assert_eq!(Range::decode(&bytes), Some(range.clone()));
        assert_eq!(
            Range::decode(&Range::default().encode()),
            Some(Range::default())
        );
        for cut in [0, 1, 4, 12, 29] {
            assert_eq!(Range::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = 7;
        assert_eq!(Range::decode(&bad), None);
        let mut huge = bytes;
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Range::decode(&huge), None);
    }
}
