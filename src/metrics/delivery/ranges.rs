//! The commits a deployment shipped first: reachable from its commit and not from
//! what it hides (earlier deployments). Each range is summarised once and kept in
//! `.git/okr/audit.sqlite`, keyed by everything that decides it, so a warm
//! measurement reads only the commits after the last deployment.

use super::deployments::sig_seconds;
use anyhow::{anyhow, Context, Result};
use gix::bstr::ByteSlice;
use gix::ObjectId;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

const SCHEMA_KEY: &str = "delivery_schema";
const SCHEMA_VERSION: &str = "1";

/// What delivery metrics need to know about one range of commits. With paths, only
/// the commits that change something under them are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Range {
    /// Ids (hex) of the kept commits.
    pub ids: Vec<String>,
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
        self.ids.iter().any(|id| id.starts_with(sha))
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

    /// The commits reachable from `tip` and not from `hidden`, summarised.
    pub fn get(&self, tip: ObjectId, hidden: &[ObjectId], paths: &[String]) -> Result<Range> {
        let key = self.key(tip, hidden, paths);
        if let Some(range) = self.cached(&key)? {
            return Ok(range);
        }
        let range = self.walk(tip, hidden, paths)?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO delivery_ranges (key, summary) VALUES (?1, ?2)",
                (&key, serde_json::to_string(&range)?),
            )
            .context("caching a deployment's commits")?;
        Ok(range)
    }

    /// Everything a range depends on. A hash of the hidden tips keeps the key short; a
    /// collision is as unlikely as in git's own object ids' birthday bound and would
    /// only misreport a metric, never write state.
    fn key(&self, tip: ObjectId, hidden: &[ObjectId], paths: &[String]) -> String {
        let mut sorted: Vec<&ObjectId> = hidden.iter().collect();
        sorted.sort();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        sorted.hash(&mut h);
        format!(
            "{tip}|{}:{:016x}|{paths:?}|{}",
            sorted.len(),
            h.finish(),
            self.hotfix_source
        )
    }

    fn cached(&self, key: &str) -> Result<Option<Range>> {
        let summary: Option<String> = self
            .conn
            .query_row(
                "SELECT summary FROM delivery_ranges WHERE key = ?1",
                [key],
                |row| row.get(0),
            )
            .optional()?;
        // A summary that does not parse is recomputed, like any other cache miss.
        Ok(summary.and_then(|s| serde_json::from_str(&s).ok()))
    }

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
            if !paths.is_empty() && !touches(self.repo, &commit, parents.first().copied(), paths)? {
                continue;
            }
            let message = commit
                .message_raw()
                .map_err(|e| anyhow!("reading commit {}: {e}", info.id))?;
            let subject = message.lines().next().unwrap_or_default().to_str_lossy();
            range.hotfix |= self.hotfix.is_match(&subject);
            let text = message.to_str_lossy();
            for found in self.reverts.captures_iter(&text) {
                range.reverts.push(found[1].to_ascii_lowercase());
            }
            if parents.len() < 2 {
                let author = commit
                    .author()
                    .map_err(|e| anyhow!("reading commit {}: {e}", info.id))?;
                range.author_times.push(sig_seconds(&author)?);
            }
            range.ids.push(info.id.to_string());
        }
        Ok(range)
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
         CREATE TABLE delivery_ranges (key TEXT PRIMARY KEY, summary TEXT NOT NULL) WITHOUT ROWID;",
    )?;
    crate::db::meta_set(conn, SCHEMA_KEY, SCHEMA_VERSION)
}
