//! The commit graph reachable from the measured revisions: ids, parents and
//! committer times, read once (through git's commit-graph file when there is one)
//! and then walked in memory by every query.

use anyhow::Result;
use gix::hashtable::HashMap;
use gix::ObjectId;

pub struct Node {
    pub id: ObjectId,
    /// Indexes into [`Graph::nodes`], in the commit's parent order.
    pub parents: Vec<usize>,
    /// Committer time, seconds since the epoch (what `--since`/`--until` compare).
    pub time: i64,
}

#[derive(Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub index: HashMap<ObjectId, usize>,
}

impl Graph {
    /// Every commit reachable from `tips`.
    pub fn load(repo: &gix::Repository, tips: &[ObjectId]) -> Result<Graph> {
        use gix::revision::walk::Sorting;
        use gix::traverse::commit::simple::CommitTimeOrder;
        let walk = repo
            .rev_walk(tips.iter().copied())
            .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
            .all()
            .map_err(|e| crate::store::gix_error(e).context("walking the history"))?;
        let mut infos = Vec::new();
        for info in walk {
            let info =
                info.map_err(|e| crate::store::gix_error(e).context("walking the history"))?;
            let time = match info.commit_time {
                Some(t) => t,
                None => {
                    repo.find_commit(info.id)
                        .and_then(|c| c.time().map_err(Into::into))
                        .map_err(|e| {
                            crate::store::gix_error(e)
                                .context(format!("reading commit {}", info.id))
                        })?
                        .seconds
                }
            };
            infos.push((info.id, info.parent_ids.to_vec(), time));
        }
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
            })
            .collect();
        Ok(graph)
    }

    pub fn get(&self, id: &ObjectId) -> Option<usize> {
        self.index.get(id).copied()
    }
}
