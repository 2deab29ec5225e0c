//! Keeping the mirror in step with `refs/okr/state`.
//!
//! Like gitoxide's query database, the mirror remembers what it has seen (here
//! just the mirrored tip, meta `audit.tip`) and walks only the commits the ref
//! gained since (`rev_walk([tip]).with_hidden([last])`). When the old tip is no
//! longer an ancestor (the ref was rewritten) it starts over. Every update runs
//! in one `BEGIN IMMEDIATE` transaction: a process killed half-way leaves the
//! previous consistent mirror, and concurrent updaters queue instead of racing.

use super::event::{events_of, CommitInfo, Event};
use super::schema::{self, TIP_KEY};
use crate::db::{meta_get, meta_set};
use crate::model::snapshot::{MetricSnapshot, SNAPSHOT_DIR};
use crate::store::gix_error;
use anyhow::{Context, Result};
use gix::ObjectId;
use rusqlite::{params, Connection, Statement, TransactionBehavior};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Tests only, and only in debug builds (release binaries do not read it): abort the
/// process (no unwinding, no rollback by us) after this many inserted event rows, to prove
/// that a killed update leaves the old mirror intact (`tests/audit.rs`).
#[cfg(debug_assertions)]
const ABORT_ENV: &str = "OKR_AUDIT_TEST_ABORT_AFTER";

/// The row count after which a debug build aborts mid-update, if a test asked for it.
fn abort_after() -> Option<usize> {
    #[cfg(debug_assertions)]
    {
        std::env::var(ABORT_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
    }
    #[cfg(not(debug_assertions))]
    {
        None
    }
}

/// What an update did.
#[derive(Debug, Default, Clone)]
pub struct MirrorUpdate {
    /// Commits added to the mirror.
    pub commits: usize,
    pub events: usize,
    /// Snapshot values (metric points and KR entries) added.
    pub values: usize,
    pub elapsed: Duration,
}

impl MirrorUpdate {
    pub fn commits_per_second(&self) -> f64 {
        self.commits as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Bring the mirror up to `tip` (the current value of refs/okr/state). With `force`, rebuild
/// from scratch. A tip equal to the mirrored one costs one meta lookup.
pub fn follow(
    repo: &gix::Repository,
    conn: &mut Connection,
    tip: Option<ObjectId>,
    force: bool,
) -> Result<MirrorUpdate> {
    let start = Instant::now();
    schema::ensure(conn)?;
    let tip_hex = tip.map(|t| t.to_string()).unwrap_or_default();
    if !force && meta_get(conn, TIP_KEY)?.as_deref() == Some(tip_hex.as_str()) {
        return Ok(MirrorUpdate::default());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have done the work while we waited for the write lock.
    let mirrored = meta_get(&tx, TIP_KEY)?;
    if !force && mirrored.as_deref() == Some(tip_hex.as_str()) {
        return Ok(MirrorUpdate::default());
    }
    let base = if force {
        None
    } else {
        mirrored
            .as_deref()
            .and_then(|m| ancestor_base(repo, m, tip))
    };
    let mut report = MirrorUpdate::default();
    if base.is_none() {
        schema::clear(&tx)?;
    }
    if let Some(tip) = tip {
        let mut repo = repo.clone();
        repo.object_cache_size_if_unset(64 * 1024 * 1024);
        let commits = new_commits(&repo, tip, base)?;
        let first_seq: i64 = tx.query_row(
            "SELECT coalesce(max(seq), 0) + 1 FROM audit_events",
            [],
            |r| r.get(0),
        )?;
        let mut writer = Writer::new(&tx)?;
        let mut snapshot_trees: HashMap<ObjectId, Option<ObjectId>> = HashMap::new();
        for (offset, id) in commits.iter().enumerate() {
            let seq = first_seq + offset as i64;
            let commit = repo
                .find_commit(*id)
                .map_err(gix_error)
                .context("reading a state commit")?;
            let c = commit
                .decode()
                .map_err(gix_error)
                .context("decoding a state commit")?;
            let parent = c.parents().next();
            let time = c.committer().map(|s| s.seconds()).unwrap_or_default();
            let author = c.author().map(|s| s.email.to_string()).unwrap_or_default();
            let message = String::from_utf8_lossy(c.message);
            let id_hex = id.to_string();
            let parent_hex = parent.map(|p| p.to_string());
            let info = CommitInfo {
                id: &id_hex,
                parent: parent_hex.as_deref(),
                time,
                author_email: &author,
                message: &message,
            };
            for (i, event) in events_of(&info).iter().enumerate() {
                writer.event(seq, event, i > 0)?;
                report.events += 1;
            }
            // Snapshot files this commit wrote (compared with its first parent).
            let tree = snapshots_tree(&repo, c.tree())?;
            snapshot_trees.insert(*id, tree);
            let before = match parent {
                None => None,
                Some(p) => match snapshot_trees.get(&p) {
                    Some(t) => *t,
                    None => {
                        let t = snapshots_tree(
                            &repo,
                            repo.find_commit(p)
                                .map_err(gix_error)?
                                .tree_id()
                                .map_err(gix_error)?
                                .detach(),
                        )?;
                        snapshot_trees.insert(p, t);
                        t
                    }
                },
            };
            for (path, blob) in changed_files(&repo, before, tree)? {
                let data = repo.find_object(blob).map_err(gix_error)?.detach().data;
                // A snapshot that is not in the expected shape adds no values; it stays visible
                // in the commit's event and on the ref.
                if let Ok(snap) = serde_json::from_slice::<MetricSnapshot>(&data) {
                    report.values += writer.snapshot(seq, &id_hex, time, &path, &snap)?;
                }
            }
            report.commits += 1;
        }
    }
    meta_set(&tx, TIP_KEY, &tip_hex)?;
    tx.commit()?;
    report.elapsed = start.elapsed();
    Ok(report)
}

/// The mirrored tip as the base of an incremental walk, if it is still an ancestor of `tip`.
fn ancestor_base(
    repo: &gix::Repository,
    mirrored: &str,
    tip: Option<ObjectId>,
) -> Option<ObjectId> {
    let old = ObjectId::from_hex(mirrored.as_bytes()).ok()?;
    let tip = tip?;
    match repo.merge_base(old, tip) {
        Ok(Some(base)) if base.detach() == old => Some(old),
        _ => None,
    }
}

/// The commits reachable from `tip` but not from `base`, parents before children.
fn new_commits(
    repo: &gix::Repository,
    tip: ObjectId,
    base: Option<ObjectId>,
) -> Result<Vec<ObjectId>> {
    let walk = repo.rev_walk([tip]).with_hidden(base);
    let mut nodes: Vec<(ObjectId, Vec<ObjectId>)> = Vec::new();
    for info in walk
        .all()
        .map_err(gix_error)
        .context("walking refs/okr/state")?
    {
        let info = info.map_err(gix_error).context("walking refs/okr/state")?;
        nodes.push((info.id, info.parent_ids.iter().copied().collect()));
    }
    let index: HashMap<ObjectId, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    // Depth-first, emitting a commit after all of its (new) parents.
    let mut done = vec![false; nodes.len()];
    let mut order = Vec::with_capacity(nodes.len());
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for start in (0..nodes.len()).rev() {
        if done[start] {
            continue;
        }
        done[start] = true;
        stack.push((start, 0));
        while let Some(&(node, next)) = stack.last() {
            if let Some(parent) = nodes[node].1.get(next) {
                stack.last_mut().expect("non-empty").1 += 1;
                if let Some(&j) = index.get(parent) {
                    if !done[j] {
                        done[j] = true;
                        stack.push((j, 0));
                    }
                }
            } else {
                order.push(nodes[node].0);
                stack.pop();
            }
        }
    }
    Ok(order)
}

/// The id of `metrics/snapshots` in a root tree, if it is a directory.
fn snapshots_tree(repo: &gix::Repository, root: ObjectId) -> Result<Option<ObjectId>> {
    let (dir, name) = SNAPSHOT_DIR.split_once('/').expect("metrics/snapshots");
    let root = repo.find_tree(root).map_err(gix_error)?;
    let Some(metrics) = root
        .find_entry(dir)
        .filter(|e| e.mode().is_tree())
        .map(|e| e.object_id())
    else {
        return Ok(None);
    };
    let metrics = repo.find_tree(metrics).map_err(gix_error)?;
    Ok(metrics
        .find_entry(name)
        .filter(|e| e.mode().is_tree())
        .map(|e| e.object_id()))
}

/// `*.json` files of the snapshots folder that are new or changed from `before` to `after`.
fn changed_files(
    repo: &gix::Repository,
    before: Option<ObjectId>,
    after: Option<ObjectId>,
) -> Result<Vec<(String, ObjectId)>> {
    let Some(after) = after else {
        return Ok(Vec::new());
    };
    if before == Some(after) {
        return Ok(Vec::new());
    }
    let mut old: HashMap<Vec<u8>, ObjectId> = HashMap::new();
    if let Some(before) = before {
        for e in repo.find_tree(before).map_err(gix_error)?.iter() {
            let e = e.map_err(gix_error)?;
            old.insert(e.filename().to_vec(), e.object_id());
        }
    }
    let mut out = Vec::new();
    for e in repo.find_tree(after).map_err(gix_error)?.iter() {
        let e = e.map_err(gix_error)?;
        let name = e.filename().to_vec();
        if e.mode().is_blob() && name.ends_with(b".json") && old.get(&name) != Some(&e.object_id())
        {
            out.push((
                format!("{SNAPSHOT_DIR}/{}", String::from_utf8_lossy(&name)),
                e.object_id(),
            ));
        }
    }
    Ok(out)
}

struct Writer<'c> {
    event: Statement<'c>,
    event_ref: Statement<'c>,
    message: Statement<'c>,
    value: Statement<'c>,
    inserted: usize,
    abort_after: Option<usize>,
}

impl<'c> Writer<'c> {
    fn new(conn: &'c Connection) -> Result<Self> {
        Ok(Writer {
            event: conn.prepare(
                "INSERT INTO audit_events (seq, commit_id, parent, time, actor, action, objective, kr, proposal, plan, run, from_status, to_status, value, metric, summary, derived)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )?,
            event_ref: conn.prepare("INSERT INTO audit_event_refs (event, seq, kind, ref) VALUES (?1, ?2, ?3, ?4)")?,
            message: conn.prepare("INSERT INTO audit_messages (seq, message) VALUES (?1, ?2)")?,
            value: conn.prepare(
                "INSERT INTO audit_snapshot_values (seq, commit_id, time, path, as_of, kind, metric, kr, value, status, score)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?,
            inserted: 0,
            abort_after: abort_after(),
        })
    }

    /// Insert an event; the first of a commit (`derived` false) also stores the whole message.
    fn event(&mut self, seq: i64, e: &Event, derived: bool) -> Result<()> {
        let id = self.event.insert(params![
            seq,
            e.commit,
            e.parent,
            e.time,
            e.actor,
            e.action,
            e.objective,
            e.kr,
            e.proposal,
            e.plan,
            e.run,
            e.from,
            e.to,
            e.value,
            e.metric,
            if derived {
                e.message.as_str()
            } else {
                e.message.lines().next().unwrap_or("")
            },
            derived
        ])?;
        if !derived {
            self.message.execute(params![seq, e.message])?;
        }
        for kr in &e.krs {
            self.event_ref.execute(params![id, seq, "kr", kr])?;
        }
        for objective in &e.objectives {
            self.event_ref
                .execute(params![id, seq, "objective", objective])?;
        }
        self.inserted += 1;
        if self.abort_after.is_some_and(|n| self.inserted >= n) {
            std::process::abort();
        }
        Ok(())
    }

    fn snapshot(
        &mut self,
        seq: i64,
        commit: &str,
        time: i64,
        path: &str,
        snap: &MetricSnapshot,
    ) -> Result<usize> {
        for p in &snap.points {
            self.value.execute(params![
                seq,
                commit,
                time,
                path,
                snap.as_of,
                "metric",
                p.key,
                None::<String>,
                p.value,
                None::<String>,
                None::<f64>
            ])?;
        }
        for k in &snap.key_results {
            self.value.execute(params![
                seq,
                commit,
                time,
                path,
                snap.as_of,
                "kr",
                k.metric_key,
                k.kr_id,
                k.value,
                k.status,
                k.score
            ])?;
        }
        Ok(snap.points.len() + snap.key_results.len())
    }
}
