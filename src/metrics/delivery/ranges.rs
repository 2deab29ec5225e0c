//! The commits a deployment shipped first: reachable from its commit and not from an
//! earlier deployment. Tag deployments are read in one walk of the graph: a commit
//! belongs to the earliest deployment that reaches it, so each deployment's walk stops
//! where an earlier one has been and the whole history is read once (hiding every
//! earlier tag in each range's own walk read it once per tag). A deployment branch's
//! ranges hide only the commit's first parent. Summaries are kept (in a compact binary
//! form: a warm measurement reads every one) in `.git/okr/audit.sqlite`, keyed by
//! everything that decides them, so a warm measurement reads only the commits after
//! the newest deployment. Each range's commit ids are kept apart from its summary and
//! read only when a revert must be matched against them.

use super::deployments::{sig_seconds, Deployment};
use anyhow::{anyhow, Context, Result};
use gix::bstr::ByteSlice;
use gix::ObjectId;
use rusqlite::{Connection, OptionalExtension};
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

const SCHEMA_KEY: &str = "delivery_schema";
const SCHEMA_VERSION: &str = "6";

/// What delivery metrics need to know about one range of commits. With paths, only
/// the commits that change something under them are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Range {
    /// How many commits were kept.
    pub commits: u32,
    /// Author dates (seconds) of the kept commits that are not merges.
    pub author_times: Vec<i64>,
    /// Commit ids or prefixes named by `This reverts commit <sha>` in kept commits.
    pub reverts: Vec<String>,
    /// Whether a kept commit's subject matches the hotfix pattern.
    pub hotfix: bool,
}

/// A range as a walk finds it: the summary, and the kept commits' ids (hex, separated
/// by spaces), which only matching a revert needs.
#[derive(Debug, Default)]
struct Walked {
    range: Range,
    ids: String,
}

/// Whether `ids` (as [`Walked::ids`]) holds the commit `sha` (a full id or a prefix).
pub fn holds(ids: &str, sha: &str) -> bool {
    ids.split(' ')
        .any(|id| !id.is_empty() && id.starts_with(sha))
}

impl Range {
    /// The cache's form, which a warm measurement reads for every deployment: the
    /// hotfix flag, the commit count, the author times (count, then little-endian
    /// i64s), then the reverted ids (count, then length-prefixed).
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + self.author_times.len() * 8);
        out.push(u8::from(self.hotfix));
        out.extend(self.commits.to_le_bytes());
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
        let commits = u32::from_le_bytes(take(4)?.try_into().ok()?);
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
        if !rest.is_empty() {
            return None;
        }
        Some(Range {
            commits,
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

/// Every deployment's range from `first` on.
pub struct Shipped {
    pub first: usize,
    kind: Kind,
    paths: Vec<String>,
    ranges: Vec<Range>,
    /// Each range's cache key, under which its ids are kept.
    keys: Vec<String>,
    /// Each range's ids once known: a walk knows them all, the cache is asked for
    /// one range's only when a revert must be matched against it.
    ids: Vec<OnceCell<String>>,
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

    /// Each deployment's range's cache key: everything that decides the range.
    pub fn keys(&self, kind: Kind, deployments: &[Deployment], paths: &[String]) -> Vec<String> {
        match kind {
            Kind::Tags => self.tag_keys(deployments, paths),
            Kind::Branch => deployments
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let hidden = hidden_of(kind, deployments, i);
                    self.key(&d.commit.to_string(), &hidden, paths)
                })
                .collect(),
        }
    }

    /// The ranges of `deployments[first..]` (oldest first); `keys` as [`Ranges::keys`].
    pub fn shipped(
        &self,
        kind: Kind,
        deployments: &[Deployment],
        keys: &[String],
        first: usize,
        paths: &[String],
    ) -> Result<Shipped> {
        let (ranges, ids) = match kind {
            Kind::Tags => self.tag_ranges(deployments, keys, first, paths)?,
            Kind::Branch => {
                let mut ranges = Vec::new();
                let mut ids = Vec::new();
                for (i, d) in deployments.iter().enumerate().skip(first) {
                    let hidden = hidden_of(kind, deployments, i);
                    let (range, walked_ids) =
                        self.summary_or_walk(&keys[i], d.commit, &hidden, paths)?;
                    ranges.push(range);
                    ids.push(walked_ids);
                }
                (ranges, ids)
            }
        };
        Ok(Shipped {
            first,
            kind,
            paths: paths.to_vec(),
            ranges,
            keys: keys[first..].to_vec(),
            ids: ids
                .into_iter()
                .map(|ids| ids.map_or_else(OnceCell::new, OnceCell::from))
                .collect(),
        })
    }

    /// The ids (as [`holds`] reads them) of the commits deployment `i` shipped.
    pub fn ids<'s>(
        &self,
        shipped: &'s Shipped,
        deployments: &[Deployment],
        i: usize,
    ) -> Result<&'s str> {
        let cell = &shipped.ids[i - shipped.first];
        if let Some(ids) = cell.get() {
            return Ok(ids);
        }
        let key = &shipped.keys[i - shipped.first];
        let ids = self.ids_at(shipped.kind, deployments, key, i, &shipped.paths)?;
        Ok(cell.get_or_init(|| ids))
    }

    /// The ids of deployment `i`'s range, cached under `key`.
    pub fn ids_at(
        &self,
        kind: Kind,
        deployments: &[Deployment],
        key: &str,
        i: usize,
        paths: &[String],
    ) -> Result<String> {
        if let Some(ids) = self.cached_ids(key)? {
            return Ok(ids);
        }
        // Kept apart from the summaries, the ids can be missing when these are not (a
        // cache cut short): the range is walked again, as on any miss.
        let hidden = hidden_of(kind, deployments, i);
        let walked = self.walk(deployments[i].commit, &hidden, paths)?;
        self.store(key, &walked.range, Some(&walked.ids))?;
        Ok(walked.ids)
    }

    /// The deployments no other deployment reaches, which hide as much as all of them
    /// do; `keys` as [`Ranges::keys`].
    pub fn frontier(
        &self,
        kind: Kind,
        deployments: &[Deployment],
        keys: &[String],
        paths: &[String],
    ) -> Result<Vec<ObjectId>> {
        if kind == Kind::Branch {
            // Every deployment is a first-parent ancestor of the newest one.
            return Ok(deployments.last().map(|d| d.commit).into_iter().collect());
        }
        if let Some(frontier) = self.cached_frontier(deployments)? {
            return Ok(frontier);
        }
        Ok(self.walk_and_store_tags(deployments, keys, paths)?.1)
    }

    /// The tail: the commits of `tip` that no deployment shipped (`frontier` as
    /// [`Ranges::frontier`]).
    pub fn tail(
        &self,
        frontier: &[ObjectId],
        deployments: &[Deployment],
        tip: ObjectId,
        paths: &[String],
    ) -> Result<Range> {
        let all: Vec<ObjectId> = deployments.iter().map(|d| d.commit).collect();
        let key = self.key(&format!("tail:{tip}"), &all, paths);
        if let Some(range) = self.cached_summary(&key)? {
            return Ok(range);
        }
        // No deployment has the tail's commits, so no revert is ever matched against
        // them: their ids are not kept.
        let walked = self.walk(tip, frontier, paths)?;
        self.store(&key, &walked.range, None)?;
        Ok(walked.range)
    }

    /// The cached summary under `key`, else a walk of `tip` hiding `hidden` (cached
    /// for the next time, and its ids returned).
    fn summary_or_walk(
        &self,
        key: &str,
        tip: ObjectId,
        hidden: &[ObjectId],
        paths: &[String],
    ) -> Result<(Range, Option<String>)> {
        if let Some(range) = self.cached_summary(key)? {
            return Ok((range, None));
        }
        let walked = self.walk(tip, hidden, paths)?;
        self.store(key, &walked.range, Some(&walked.ids))?;
        Ok((walked.range, Some(walked.ids)))
    }

    /// Tag deployments' ranges from `first` on, with their ids when they had to be
    /// walked.
    fn tag_ranges(
        &self,
        deployments: &[Deployment],
        keys: &[String],
        first: usize,
        paths: &[String],
    ) -> Result<(Vec<Range>, Vec<Option<String>>)> {
        let cached = keys[first..]
            .iter()
            .map(|k| self.cached_summary(k))
            .collect::<Result<Option<Vec<_>>>>()?;
        if let Some(ranges) = cached {
            let ids = vec![None; ranges.len()];
            return Ok((ranges, ids));
        }
        let (walked, _) = self.walk_and_store_tags(deployments, keys, paths)?;
        Ok(walked
            .into_iter()
            .skip(first)
            .map(|w| (w.range, Some(w.ids)))
            .unzip())
    }

    /// [`Ranges::walk_tags`], caching every range and the frontier.
    fn walk_and_store_tags(
        &self,
        deployments: &[Deployment],
        keys: &[String],
        paths: &[String],
    ) -> Result<(Vec<Walked>, Vec<ObjectId>)> {
        let (walked, frontier) = self.walk_tags(deployments, paths)?;
        for (key, w) in keys.iter().zip(&walked) {
            self.store(key, &w.range, Some(&w.ids))?;
        }
        let ids: Vec<u8> = frontier
            .iter()
            .flat_map(|id| id.as_bytes().to_vec())
            .collect();
        self.store_bytes(&self.frontier_key(deployments), &ids)?;
        Ok((walked, frontier))
    }

    fn frontier_key(&self, deployments: &[Deployment]) -> String {
        let all: Vec<ObjectId> = deployments.iter().map(|d| d.commit).collect();
        self.key("frontier", &all, &[])
    }

    fn cached_frontier(&self, deployments: &[Deployment]) -> Result<Option<Vec<ObjectId>>> {
        let len = self.repo.object_hash().len_in_bytes();
        Ok(self
            .cached_bytes(&self.frontier_key(deployments))?
            .and_then(|bytes| {
                bytes
                    .chunks(len)
                    .map(|id| ObjectId::try_from(id).ok())
                    .collect::<Option<Vec<_>>>()
            }))
    }

    /// One walk for every tag deployment, oldest first: each takes the commits it
    /// reaches that no earlier one took. A deployment whose commit another's walk meets
    /// is reachable from that one, so it is not on the frontier.
    fn walk_tags(
        &self,
        deployments: &[Deployment],
        paths: &[String],
    ) -> Result<(Vec<Walked>, Vec<ObjectId>)> {
        let at: HashMap<ObjectId, usize> = deployments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.commit, i))
            .collect();
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut reached = vec![false; deployments.len()];
        let mut ranges = Vec::with_capacity(deployments.len());
        for (i, d) in deployments.iter().enumerate() {
            let mut walked = Walked::default();
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
                self.add(&mut walked, &commit, &parents, paths)?;
                stack.extend(parents);
            }
            ranges.push(walked);
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

    /// The summary cached under `key`; what does not decode is recomputed, like any
    /// miss.
    fn cached_summary(&self, key: &str) -> Result<Option<Range>> {
        Ok(self.cached_bytes(key)?.and_then(|b| Range::decode(&b)))
    }

    fn cached_bytes(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT summary FROM delivery_ranges WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    /// The ids of the range cached under `key`, kept in a table of their own: a warm
    /// measurement reads every summary and hardly ever an id.
    fn cached_ids(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT ids FROM delivery_ids WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    /// Caches a range's summary, and its ids when a revert may have to be matched
    /// against them.
    fn store(&self, key: &str, range: &Range, ids: Option<&str>) -> Result<()> {
        if let Some(ids) = ids {
            self.conn
                .prepare_cached("INSERT OR REPLACE INTO delivery_ids (key, ids) VALUES (?1, ?2)")?
                .execute((key, ids))
                .context("caching a deployment's commits")?;
        }
        self.store_bytes(key, &range.encode())
    }

    fn store_bytes(&self, key: &str, summary: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO delivery_ranges (key, summary) VALUES (?1, ?2)",
            )?
            .execute((key, summary))
            .context("caching a deployment's commits")?;
        Ok(())
    }

    /// The commits reachable from `tip` and not from `hidden`, summarised.
    fn walk(&self, tip: ObjectId, hidden: &[ObjectId], paths: &[String]) -> Result<Walked> {
        let mut walked = Walked::default();
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
            self.add(&mut walked, &commit, &parents, paths)?;
        }
        Ok(walked)
    }

    /// Adds `commit` to `walked` when it changes something under `paths` (or there are
    /// none): its id, its author date unless it is a merge, what it reverts, and
    /// whether its subject names a hotfix.
    fn add(
        &self,
        walked: &mut Walked,
        commit: &gix::Commit<'_>,
        parents: &[ObjectId],
        paths: &[String],
    ) -> Result<()> {
        if !paths.is_empty() && !touches(self.repo, commit, parents.first().copied(), paths)? {
            return Ok(());
        }
        let range = &mut walked.range;
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
        range.commits += 1;
        if !walked.ids.is_empty() {
            walked.ids.push(' ');
        }
        walked.ids.push_str(&commit.id.to_string());
        Ok(())
    }
}

/// What deployment `i`'s range hides: every earlier tag deployment, or a branch
/// deployment's first parent.
fn hidden_of(kind: Kind, deployments: &[Deployment], i: usize) -> Vec<ObjectId> {
    match kind {
        Kind::Tags => deployments[..i].iter().map(|d| d.commit).collect(),
        Kind::Branch => deployments[i].first_parent.into_iter().collect(),
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

/// The delivery tables, as this version writes them (older ones are dropped).
pub fn prepare(conn: &Connection) -> Result<()> {
    if crate::db::meta_get(conn, SCHEMA_KEY)?.as_deref() == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    // Rowid tables: in a WITHOUT ROWID one, every key comparison on the way to a row
    // whose cell overflows reads that whole row.
    conn.execute_batch(
        "DROP TABLE IF EXISTS delivery_ranges;
         DROP TABLE IF EXISTS delivery_ids;
         DROP TABLE IF EXISTS delivery_tags;
         DROP TABLE IF EXISTS delivery_windows;
         CREATE TABLE delivery_ranges (key TEXT PRIMARY KEY, summary BLOB NOT NULL);
         CREATE TABLE delivery_ids (key TEXT PRIMARY KEY, ids TEXT NOT NULL);
         CREATE TABLE delivery_tags (pattern TEXT PRIMARY KEY, digest TEXT NOT NULL, deployments BLOB NOT NULL);
         CREATE TABLE delivery_windows (key TEXT PRIMARY KEY, settled BLOB NOT NULL);",
    )?;
    crate::db::meta_set(conn, SCHEMA_KEY, SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    use super::{holds, Range};

    #[test]
    fn the_cache_form_round_trips_and_refuses_anything_else() {
        let range = Range {
            commits: 4,
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
        for cut in [0, 1, 5, 12, 33, bytes.len() - 1] {
            assert_eq!(Range::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Range::decode(&longer), None, "trailing bytes");
        let mut bad = bytes.clone();
        bad[0] = 7;
        assert_eq!(Range::decode(&bad), None);
        let mut huge = bytes;
        huge[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Range::decode(&huge), None);
    }

    #[test]
    fn ids_hold_full_ids_and_prefixes_only() {
        let ids = "a1b2c3d4e5 f6a7b8c9d0";
        assert!(holds(ids, "a1b2c3d4e5"));
        assert!(holds(ids, "f6a7b8c"));
        assert!(!holds(ids, "b2c3d4e"), "not a prefix");
        assert!(!holds(ids, "a1b2c3d4e5f"), "longer than the id");
        assert!(!holds("", "a1b2c3d"));
    }
}
