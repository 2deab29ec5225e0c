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
        let infos = walk(repo, tips)?;
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
    ///
    /// Found as gix and git find them: both sides are painted down, newest first,
    /// until every commit still queued is reachable from both; the commits painted
    /// from `tip` alone are the new ones.
    pub fn beyond(
        commits: &mut Commits<'_>,
        tip: ObjectId,
        known: ObjectId,
        limit: usize,
    ) -> Result<Option<Graph>> {
        let mut paint = Paint::default();
        paint.add(commits, tip, VISIBLE)?;
        paint.add(commits, known, HIDDEN)?;
        let mut new = 0;
        while paint.live > 0 {
            let (_, id) = paint.queue.pop().expect("live commits are queued");
            let commit = paint
                .commits
                .get_mut(&id)
                .expect("queued commits are painted");
            commit.queued -= 1;
            let mut flags = commit.flags;
            if flags & STALE == 0 {
                paint.live -= 1;
            }
            if flags & (VISIBLE | HIDDEN) == VISIBLE | HIDDEN {
                flags |= STALE;
            } else if flags & VISIBLE != 0 {
                new += 1;
                if new > limit {
                    return Ok(None);
                }
            }
            for p in commit.parents.clone() {
                paint.add(commits, p, flags)?;
            }
        }
        let both = |id: &ObjectId| paint.commits[id].flags & (VISIBLE | HIDDEN) == VISIBLE | HIDDEN;
        if both(&tip) {
            return Ok(Some(Graph::default()));
        }
        // Newest first from `tip`, stopping at commits reachable from both sides.
        let (mut order, mut exits) = (Vec::new(), Vec::new());
        let mut seen = gix::hashtable::HashSet::default();
        seen.insert(tip);
        let mut queue = std::collections::BinaryHeap::from([(paint.commits[&tip].time, tip)]);
        while let Some((_, id)) = queue.pop() {
            order.push(id);
            for &p in &paint.commits[&id].parents {
                if seen.insert(p) {
                    if both(&p) {
                        exits.push(p);
                    } else {
                        queue.push((paint.commits[&p].time, p));
                    }
                }
            }
        }
        let mut graph = Graph::default();
        for (ids, external) in [(&order, false), (&exits, true)] {
            for id in ids {
                graph.push(*id, paint.commits[id].time, external);
            }
        }
        for (i, id) in order.iter().enumerate() {
            graph.nodes[i].parents = paint.commits[id]
                .parents
                .iter()
                .map(|p| graph.index[p])
                .collect();
        }
        Ok(Some(graph))
    }

    /// Remember the dates and parents of `ids` (commits of this graph, which
    /// must hold all of their parents) in the cache, for later walks.
    pub fn remember(&self, conn: &mut rusqlite::Connection, ids: &[ObjectId]) -> Result<()> {
        let rows = ids.iter().filter_map(|id| self.get(id)).map(|i| {
            let node = &self.nodes[i];
            let parents = node.parents.iter().map(|&p| &self.nodes[p].id);
            (node.id, node.time, parents)
        });
        super::cache::save_graph(conn, rows)
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

const VISIBLE: u8 = 1;
const HIDDEN: u8 = 2;
/// Reachable from both sides, as are all its ancestors: no need to go further.
const STALE: u8 = 4;

struct Painted {
    time: i64,
    parents: Vec<ObjectId>,
    flags: u8,
    /// Times it is in the queue.
    queued: u32,
}

/// The painting of [`Graph::beyond`].
#[derive(Default)]
struct Paint {
    commits: HashMap<ObjectId, Painted>,
    queue: std::collections::BinaryHeap<(i64, ObjectId)>,
    /// Queue entries whose commit is not stale: the painting ends at 0.
    live: usize,
}

impl Paint {
    /// Paint `id` with `flags`, queueing it when that adds a flag.
    fn add(&mut self, commits: &mut Commits<'_>, id: ObjectId, flags: u8) -> Result<()> {
        if !self.commits.contains_key(&id) {
            let (time, parents) = commits.get(id)?;
            let fresh = Painted {
                time,
                parents,
                flags: 0,
                queued: 0,
            };
            self.commits.insert(id, fresh);
        }
        let commit = self.commits.get_mut(&id).expect("painted");
        if commit.flags & flags == flags {
            return Ok(());
        }
        if commit.flags & STALE == 0 && flags & STALE != 0 {
            self.live -= commit.queued as usize;
        }
        commit.flags |= flags;
        commit.queued += 1;
        if commit.flags & STALE == 0 {
            self.live += 1;
        }
        self.queue.push((commit.time, id));
        Ok(())
    }
}

/// Commits' dates and parents as git sees them (see [`shape`]), from the cache's
/// `stats_graph` when it has them, else read (to be remembered: [`Commits::take_read`]).
pub struct Commits<'a> {
    repo: &'a gix::Repository,
    /// The cache, read in one transaction for all lookups: SQLite otherwise locks
    /// and unlocks the file around each one.
    cache: rusqlite::Transaction<'a>,
    shallow: Option<gix::shallow::Commits>,
    read: Vec<(ObjectId, i64, Vec<ObjectId>)>,
}

impl<'a> Commits<'a> {
    pub fn new(repo: &'a gix::Repository, conn: &'a rusqlite::Connection) -> Result<Commits<'a>> {
        Ok(Commits {
            repo,
            cache: conn.unchecked_transaction()?,
            shallow: repo.shallow_commits().map_err(walk_error)?,
            read: Vec::new(),
        })
    }

    fn get(&mut self, id: ObjectId) -> Result<(i64, Vec<ObjectId>)> {
        if let Some(row) = super::cache::graph_row(&self.cache, &id)? {
            return Ok(row);
        }
        let commit = find(self.repo, id)?;
        let time = commit.time().map_err(walk_error)?.seconds;
        // git treats the shallow boundary's commits as having no parents.
        let parents: Vec<ObjectId> = match &self.shallow {
            Some(shallow) if shallow.binary_search(&id).is_ok() => Vec::new(),
            _ => commit.parent_ids().map(|p| p.detach()).collect(),
        };
        self.read.push((id, time, parents.clone()));
        Ok((time, parents))
    }

    /// The commits read from objects, for the cache.
    pub fn take_read(&mut self) -> Vec<(ObjectId, i64, Vec<ObjectId>)> {
        std::mem::take(&mut self.read)
    }
}

/// What decides, beyond the objects, which parents git gives a commit: object
/// replacements (`git replace`, grafts) and a shallow clone's boundary. Empty
/// without either; else a digest of them. The stats cache is rebuilt when it
/// changes: a commit's diff and its remembered parents depend on it.
pub fn shape(repo: &gix::Repository) -> Result<String> {
    let mut replaced: Vec<(ObjectId, ObjectId)> = repo.objects.store_ref().replacements().collect();
    let shallow = repo.shallow_commits().map_err(walk_error)?;
    if replaced.is_empty() && shallow.is_none() {
        return Ok(String::new());
    }
    replaced.sort();
    let replacements = replaced
        .iter()
        .flat_map(|(from, to)| [Some(from.as_bytes()), Some(to.as_bytes())]);
    // A gap between the two lists: neither can pass for the other.
    let boundary = shallow
        .iter()
        .flat_map(|s| s.iter())
        .map(|id| Some(id.as_bytes()));
    let parts = replacements.chain([None]).chain(boundary);
    Ok(format!("history={}", super::cache::digest(parts)?))
}

type Info = (ObjectId, Vec<ObjectId>, i64);

/// Commits reachable from `tips`, newest first.
fn walk(repo: &gix::Repository, tips: &[ObjectId]) -> Result<Vec<Info>> {
    use gix::revision::walk::Sorting;
    use gix::traverse::commit::simple::CommitTimeOrder;
    // Without a commit-graph file the walk reads each commit twice: as a parent
    // (for its date, to queue it) and when it is its turn, usually soon after.
    let mut repo = repo.clone();
    repo.object_cache_size_if_unset(WALK_CACHE_BYTES);
    let walk = repo
        .rev_walk(tips.iter().copied())
        .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
        .all()
        .map_err(walk_error)?;
    let mut infos = Vec::new();
    for info in walk {
        let info = info.map_err(walk_error)?;
        let time = match info.commit_time {
            Some(t) => t,
            None => commit_time(&repo, info.id)?,
        };
        infos.push((info.id, info.parent_ids.to_vec(), time));
    }
    Ok(infos)
}

fn find(repo: &gix::Repository, id: ObjectId) -> Result<gix::Commit<'_>> {
    repo.find_commit(id)
        .map_err(|e| crate::store::gix_error(e).context(format!("reading commit {id}")))
}

fn commit_time(repo: &gix::Repository, id: ObjectId) -> Result<i64> {
    Ok(find(repo, id)?.time().map_err(walk_error)?.seconds)
}
