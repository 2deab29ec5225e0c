//! Commit graphs to walk queries over, in memory: either all of the history
//! reachable from the measured revisions (read once, through git's commit-graph
//! file when there is one), or a small part of it — the commits a tip has beyond
//! an earlier tip, or the commits of a `--since` window.

use anyhow::Result;
use gix::hashtable::HashMap;
use gix::ObjectId;

pub struct Node {
    pub id: ObjectId,
    /// Indexes into [`Graph::nodes`], in the commit's parent order.
    pub parents: Vec<usize>,
    /// Committer time, seconds since the epoch (what `--since`/`--until` compare).
    pub time: i64,
    /// A commit outside the part that was loaded: a query that reaches it stops
    /// there and reports it (its history is known from elsewhere, or not needed).
    pub external: bool,
}

#[derive(Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub index: HashMap<ObjectId, usize>,
}

/// Commits kept decoded during a walk of the whole history.
const WALK_CACHE_BYTES: usize = 4 * 1024 * 1024;

fn walk_error(e: impl Into<gix::Error>) -> anyhow::Error {
    crate::store::gix_error(e.into()).context("walking the history")
}

impl Graph {
    /// Every commit reachable from `tips`.
    pub fn load(repo: &gix::Repository, tips: &[ObjectId]) -> Result<Graph> {
        let infos = walk(repo, tips, None, usize::MAX)?.expect("no limit");
        let mut graph = Graph::default();
        graph.index.reserve(infos.len());
        for (i, (id, _, _)) in infos.iter().enumerate() {
            graph.index.insert(*id, i);
        }
        graph.nodes = infos
            .into_iter()
            .map(|(id, parents, time)| Node {
                id,
                // A parent outside the walk only happens in shallow clones: git ignores it too.
                parents: parents
                    .iter()
                    .filter_map(|p| graph.index.get(p).copied())
                    .collect(),
                time,
                external: false,
            })
            .collect();
        Ok(graph)
    }

    /// The commits reachable from `tip` but not from `known`, with their parents
    /// outside that set as external nodes; `None` when there are more than `limit`.
    pub fn beyond(
        repo: &gix::Repository,
        tip: ObjectId,
        known: ObjectId,
        limit: usize,
    ) -> Result<Option<Graph>> {
        let Some(infos) = walk(repo, &[tip], Some(known), limit)? else {
            return Ok(None);
        };
        let mut graph = Graph::default();
        for (id, _, time) in &infos {
            graph.push(*id, *time, false);
        }
        for (i, (_, parents, _)) in infos.iter().enumerate() {
            for p in parents {
                let at = match graph.get(p) {
                    Some(at) => at,
                    None => {
                        let time = commit_time(repo, *p)?;
                        graph.push(*p, time, true)
                    }
                };
                graph.nodes[i].parents.push(at);
            }
        }
        Ok(Some(graph))
    }

    /// The commits `git rev-list --since` walks from `tip`: commits older than
    /// `since` are loaded but their parents are not, as git stops there.
    pub fn window(repo: &gix::Repository, tip: ObjectId, since: i64) -> Result<Graph> {
        let mut graph = Graph::default();
        graph.push(tip, commit_time(repo, tip)?, false);
        let mut next = 0;
        while next < graph.nodes.len() {
            let i = next;
            next += 1;
            if graph.nodes[i].time < since {
                continue;
            }
            let commit = find(repo, graph.nodes[i].id)?;
            let parents: Vec<ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            for p in parents {
                let at = match graph.get(&p) {
                    Some(at) => at,
                    None => {
                        let time = commit_time(repo, p)?;
                        graph.push(p, time, false)
                    }
                };
                graph.nodes[i].parents.push(at);
            }
        }
        Ok(graph)
    }

    fn push(&mut self, id: ObjectId, time: i64, external: bool) -> usize {
        self.index.insert(id, self.nodes.len());
        self.nodes.push(Node {
            id,
            parents: Vec::new(),
            time,
            external,
        });
        self.nodes.len() - 1
    }

    pub fn get(&self, id: &ObjectId) -> Option<usize> {
        self.index.get(id).copied()
    }
}

type Info = (ObjectId, Vec<ObjectId>, i64);

/// Commits reachable from `tips` (and not from `hidden`), newest first; `None` past `limit`.
fn walk(
    repo: &gix::Repository,
    tips: &[ObjectId],
    hidden: Option<ObjectId>,
    limit: usize,
) -> Result<Option<Vec<Info>>> {
    use gix::revision::walk::Sorting;
    use gix::traverse::commit::simple::CommitTimeOrder;
    // Without a commit-graph file the walk reads each commit twice: as a parent
    // (for its date, to queue it) and when it is its turn, usually soon after.
    let mut repo = repo.clone();
    repo.object_cache_size_if_unset(WALK_CACHE_BYTES);
    let walk = repo
        .rev_walk(tips.iter().copied())
        .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
        .with_hidden(hidden)
        .all()
        .map_err(walk_error)?;
    let mut infos = Vec::new();
    for info in walk {
        let info = info.map_err(walk_error)?;
        if infos.len() >= limit {
            return Ok(None);
        }
        let time = match info.commit_time {
            Some(t) => t,
            None => commit_time(&repo, info.id)?,
        };
        infos.push((info.id, info.parent_ids.to_vec(), time));
    }
    Ok(Some(infos))
}

fn find(repo: &gix::Repository, id: ObjectId) -> Result<gix::Commit<'_>> {
    repo.find_commit(id)
        .map_err(|e| crate::store::gix_error(e).context(format!("reading commit {id}")))
}

fn commit_time(repo: &gix::Repository, id: ObjectId) -> Result<i64> {
    Ok(find(repo, id)?.time().map_err(walk_error)?.seconds)
}
