//! Which commits a query counts, exactly as git's revision walk picks them for
//! `git rev-list REV [--since] [--until] [-- paths]` (and `git log`, `git shortlog`):
//!
//! - The walk starts at the query's tip and follows parents. `--since` stops the
//!   walk: a commit whose committer date is older than `since` is neither counted
//!   nor walked through, so older-dated commits are cut off even when something
//!   newer lies behind them (clock skew), as in git.
//! - `--until` only filters: a commit newer than `until` is not counted, but its
//!   parents are walked.
//! - With paths (literal path prefixes, see [`Pathspec`]), git's default history
//!   simplification applies: a root commit counts only when it adds something under
//!   the paths; a non-merge commit only when it changes something under them; a
//!   merge whose tree equals (under the paths) that of one of its parents — the
//!   first such parent in parent order — is not counted and the walk follows only
//!   that parent; any other merge is counted and all its parents are followed.
//! - `merge_commits` counts the counted commits with two or more parents (after
//!   the simplification above, as `--merges` does).
//! - Line counts add up the counted non-merge commits' `--numstat` lines under the
//!   paths; a rename with only one side under the paths counts as git shows it
//!   then: the destination's lines added, or the source's lines removed.

use super::cache::Cached;
use super::graph::Graph;
use super::tally::Tally;
use anyhow::{anyhow, Result};
use gix::bstr::{BStr, ByteSlice};

/// Literal path prefixes as git pathspecs without magic treat them: `src` matches
/// `src` itself and everything below it, `src/` only what is below it; `.` and an
/// empty string match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pathspec {
    prefixes: Vec<Prefix>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefix {
    /// Without a trailing slash; empty = everything.
    path: Vec<u8>,
    dir_only: bool,
}

impl Pathspec {
    pub fn new(paths: &[String]) -> Result<Option<Pathspec>> {
        if paths.is_empty() {
            return Ok(None);
        }
        let mut prefixes = Vec::new();
        for p in paths {
            let trimmed = p.strip_prefix("./").unwrap_or(p);
            let trimmed = if trimmed == "." { "" } else { trimmed };
            if trimmed.starts_with('/') || trimmed.split('/').any(|c| c == "..") {
                return Err(anyhow!(
                    "path {p:?} must be relative to the repository root"
                ));
            }
            let dir_only = trimmed.ends_with('/');
            let path = trimmed.trim_end_matches('/').as_bytes().to_vec();
            prefixes.push(Prefix {
                dir_only: dir_only && !path.is_empty(),
                path,
            });
        }
        Ok(Some(Pathspec { prefixes }))
    }

    pub fn matches(&self, path: &BStr) -> bool {
        self.prefixes.iter().any(|p| {
            p.path.is_empty()
                || (path.starts_with(&p.path) && path.get(p.path.len()) == Some(&b'/'))
                || (!p.dir_only && path.as_bytes() == p.path.as_slice())
        })
    }

    /// Whether the trees of two commits hold the same entries under these paths.
    pub fn same_trees(
        &self,
        repo: &gix::Repository,
        a: gix::ObjectId,
        b: gix::ObjectId,
    ) -> Result<bool> {
        let tree = |id| -> Result<gix::Tree<'_>> {
            repo.find_commit(id)
                .map_err(crate::store::gix_error)?
                .tree()
                .map_err(crate::store::gix_error)
        };
        let (ta, tb) = (tree(a)?, tree(b)?);
        if ta.id == tb.id {
            return Ok(true);
        }
        for p in &self.prefixes {
            if p.path.is_empty() {
                return Ok(false);
            }
            let entry = |t: &gix::Tree<'_>| -> Result<Option<(gix::ObjectId, gix::object::tree::EntryMode)>> {
                let components = p.path.split(|b| *b == b'/').map(gix::bstr::BString::from);
                let found = t.lookup_entry(components).map_err(crate::store::gix_error)?;
                Ok(found.map(|e| (e.object_id(), e.mode())).filter(|(_, mode)| !p.dir_only || mode.is_tree()))
            };
            if entry(&ta)? != entry(&tb)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

pub struct Query<'a> {
    pub tip: usize,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub paths: Option<&'a Pathspec>,
}

/// Count what git counts for `q` within `graph`.
pub fn evaluate(
    repo: &gix::Repository,
    graph: &Graph,
    cached: &Cached,
    q: &Query<'_>,
) -> Result<Tally> {
    let mut stats = Tally::default();
    let mut seen = vec![false; graph.nodes.len()];
    let mut stack = vec![q.tip];
    seen[q.tip] = true;
    while let Some(i) = stack.pop() {
        let node = &graph.nodes[i];
        if q.since.is_some_and(|since| node.time < since) {
            continue;
        }
        if node.external {
            stats.exits.push(node.id);
            continue;
        }
        let commit = cached.commits.get(&node.id).ok_or_else(|| {
            anyhow!(
                "internal error: commit {} missing from the stats cache",
                node.id
            )
        })?;
        let mut follow: &[usize] = &node.parents;
        let mut treesame = false;
        if let Some(paths) = q.paths {
            if node.parents.len() <= 1 {
                treesame = !touches(cached, &node.id, paths)?;
            } else {
                for (n, &p) in node.parents.iter().enumerate() {
                    if paths.same_trees(repo, node.id, graph.nodes[p].id)? {
                        follow = &node.parents[n..=n];
                        treesame = true;
                        break;
                    }
                }
            }
        }
        for &p in follow {
            if !seen[p] {
                seen[p] = true;
                stack.push(p);
            }
        }
        if treesame || q.until.is_some_and(|until| node.time > until) {
            continue;
        }
        stats.commits += 1;
        if follow.len() >= 2 {
            stats.merge_commits += 1;
        }
        stats.authors.insert(commit.author);
        if node.parents.len() <= 1 {
            match q.paths {
                None => {
                    stats.lines_added += commit.added;
                    stats.lines_removed += commit.removed;
                }
                Some(paths) => {
                    let (added, removed) = filtered_lines(cached, &node.id, paths)?;
                    stats.lines_added += added;
                    stats.lines_removed += removed;
                }
            }
        }
    }
    Ok(stats)
}

fn files<'c>(cached: &'c Cached, id: &gix::ObjectId) -> Result<&'c [super::stats::FileStat]> {
    if !cached.has_files {
        return Err(anyhow!("internal error: per-file stats not loaded"));
    }
    Ok(cached.files.get(id).map(Vec::as_slice).unwrap_or(&[]))
}

/// Whether a non-merge commit changes anything under `paths` (git's TREESAME test).
fn touches(cached: &Cached, id: &gix::ObjectId, paths: &Pathspec) -> Result<bool> {
    Ok(files(cached, id)?.iter().any(|f| {
        paths.matches(f.path.as_bstr())
            || (!f.copy
                && f.source
                    .as_ref()
                    .is_some_and(|s| paths.matches(s.as_bstr())))
    }))
}

fn filtered_lines(cached: &Cached, id: &gix::ObjectId, paths: &Pathspec) -> Result<(u64, u64)> {
    let (mut added, mut removed) = (0u64, 0u64);
    for f in files(cached, id)? {
        let dest = paths.matches(f.path.as_bstr());
        let (a, r) = match &f.source {
            None => {
                if dest {
                    (f.added, f.removed)
                } else {
                    (0, 0)
                }
            }
            Some(source) => match (paths.matches(source.as_bstr()), dest) {
                (true, true) => (f.added, f.removed),
                (_, true) => (f.dest_lines, 0),
                (true, false) if !f.copy => (0, f.source_lines),
                _ => (0, 0),
            },
        };
        added += u64::from(a);
        removed += u64::from(r);
    }
    Ok((added, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: &[&str]) -> Pathspec {
        Pathspec::new(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn prefixes_match_like_git_pathspecs() {
        let s = spec(&["src"]);
        assert!(s.matches("src".into()));
        assert!(s.matches("src/a.rs".into()));
        assert!(!s.matches("srcfoo/a.rs".into()));
        assert!(!s.matches("lib/src/a.rs".into()));
        let s = spec(&["src/"]);
        assert!(!s.matches("src".into()));
        assert!(s.matches("src/deep/a.rs".into()));
        let s = spec(&["docs/ü ber/", "README.md"]);
        assert!(s.matches("docs/ü ber/x".into()));
        assert!(s.matches("README.md".into()));
        assert!(!s.matches("README.md.bak".into()));
        assert!(spec(&["."]).matches("anything/at/all".into()));
        assert!(spec(&["./src"]).matches("src/x".into()));
    }

    #[test]
    fn rejects_paths_outside_the_repository() {
        assert!(Pathspec::new(&["/etc".into()]).is_err());
        assert!(Pathspec::new(&["../x".into()]).is_err());
        assert_eq!(Pathspec::new(&[]).unwrap(), None);
    }

    #[test]
    fn renames_across_the_boundary_count_as_git_shows_them() {
        use super::super::stats::FileStat;
        let id = gix::ObjectId::null(gix::hash::Kind::Sha1);
        let rename = |from: &str, to: &str, copy| FileStat {
            path: to.into(),
            source: Some(from.into()),
            copy,
            added: 1,
            removed: 2,
            source_lines: 10,
            dest_lines: 9,
        };
        let mut cached = Cached {
            has_files: true,
            ..Cached::default()
        };
        cached
            .files
            .insert(id, vec![rename("src/a", "src/b", false)]);
        assert_eq!(
            filtered_lines(&cached, &id, &spec(&["src/"])).unwrap(),
            (1, 2)
        );
        cached
            .files
            .insert(id, vec![rename("old/a", "src/b", false)]);
        assert_eq!(
            filtered_lines(&cached, &id, &spec(&["src/"])).unwrap(),
            (9, 0)
        );
        cached
            .files
            .insert(id, vec![rename("src/a", "old/b", false)]);
        assert_eq!(
            filtered_lines(&cached, &id, &spec(&["src/"])).unwrap(),
            (0, 10)
        );
        assert!(touches(&cached, &id, &spec(&["src/"])).unwrap());
        cached
            .files
            .insert(id, vec![rename("src/a", "old/b", true)]);
        assert_eq!(
            filtered_lines(&cached, &id, &spec(&["src/"])).unwrap(),
            (0, 0)
        );
        assert!(!touches(&cached, &id, &spec(&["src/"])).unwrap());
    }
}
