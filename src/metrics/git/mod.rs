//! Git metrics: commits, merges, contributors and line counts for a revision,
//! optionally within a committer-date window and under some paths, equal to
//! what git itself reports (see [`select`] for exactly which commits count):
//!
//! - `commits` = `git rev-list --count REV [--since] [--until] [-- paths]`,
//!   `merge_commits` = the same with `--merges`;
//! - `contributors` = the number of lines of `git shortlog -sne …` (distinct
//!   author name and email after `.mailmap`; merges count too);
//! - `lines_added`/`lines_removed` = the sums of `git log --numstat --format= …`
//!   (merges show nothing, binary files count 0, renames detected as git's
//!   `diff.renames` configuration says — by default renames at 50% similarity).
//!
//! Per-commit results are cached by commit id in `.git/okr/audit.sqlite`
//! ([`cache`]), so a measurement only reads the commits it has not seen before;
//! a cold scan splits them over two threads.

mod cache;
mod graph;
mod lines;
mod packs;
mod renames;
mod scan;
pub mod select;
mod stats;
mod tally;
pub(crate) mod timing;

pub use stats::Lines as CommitLines;

use crate::model::definitions::{parse_date, Definitions, GitStat};
use crate::model::snapshot::MetricPoint;
use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitQuery {
    /// A revision git understands (`HEAD`, `main`, `v1.0`, a commit id).
    pub rev: String,
    /// Committer date bounds, inclusive, as `--since`/`--until`.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Literal path prefixes (see [`select::Pathspec`]); empty = the whole tree.
    pub paths: Vec<String>,
    /// Whether the line counts are wanted: without them (and without paths) no
    /// blob is read, and `lines_added`/`lines_removed` are 0.
    pub lines: bool,
}

impl GitQuery {
    pub fn rev(rev: impl Into<String>) -> GitQuery {
        GitQuery {
            rev: rev.into(),
            since: None,
            until: None,
            paths: Vec::new(),
            lines: true,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GitStats {
    pub commits: u64,
    pub merge_commits: u64,
    pub contributors: u64,
    pub lines_added: u64,
    pub lines_removed: u64,
    /// Counted commits whose lines could not be read, as (commit, missing object):
    /// when not empty, the line counts are incomplete (and, for a query with
    /// paths, so is everything else).
    pub missing: Vec<(gix::ObjectId, gix::ObjectId)>,
}

/// What a measurement did, for tests and verbose output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanReport {
    /// Commits walked: the most any one part of the measurement had to load
    /// (all of the history when some query had no earlier totals to build on).
    pub reachable: u64,
    /// Commits read and diffed because the cache did not know them.
    pub scanned: u64,
}

/// One [`GitStats`] per query, in the same order. `okr_dir` is `.git/okr`
/// (`Store::okr_dir()`). `progress`: show a progress bar on stderr when it is a
/// terminal and the scan takes more than a moment.
pub fn measure(
    repo: &gix::Repository,
    okr_dir: &Path,
    queries: &[GitQuery],
    progress: bool,
) -> Result<Vec<GitStats>> {
    measure_with_report(repo, okr_dir, queries, progress).map(|(stats, _)| stats)
}

/// Past this many new commits, totals are recounted over the whole history
/// instead of being carried forward from an earlier tip.
const BEYOND_LIMIT: usize = 10_000;
/// Earlier tips tried per query.
const CANDIDATES: usize = 2;

/// [`measure`], also telling how much history had to be read.
///
/// Each query's totals are kept per tip (`cache::save_tally`). A query whose tip
/// descends from a remembered one counts only the commits in between, when that
/// is provably what git would count (see [`incremental`]); otherwise a query
/// without `since` walks the whole history once (shared by all such queries) and
/// a query with `since` walks its window.
pub fn measure_with_report(
    repo: &gix::Repository,
    okr_dir: &Path,
    queries: &[GitQuery],
    progress: bool,
) -> Result<(Vec<GitStats>, ScanReport)> {
    if queries.is_empty() {
        return Ok((Vec::new(), ScanReport::default()));
    }
    let mut timer = timing::Timer::new();
    let tips = queries
        .iter()
        .map(|q| resolve(repo, &q.rev))
        .collect::<Result<Vec<_>>>()?;
    let specs = queries
        .iter()
        .map(|q| select::Pathspec::new(&q.paths))
        .collect::<Result<Vec<_>>>()?;
    // git compares whole seconds: a commit at `since` counts, one at `until` too.
    let bounds: Vec<(Option<i64>, Option<i64>)> = queries
        .iter()
        .map(|q| {
            (
                q.since
                    .map(|d| d.timestamp() + i64::from(d.timestamp_subsec_nanos() > 0)),
                q.until.map(|d| d.timestamp()),
            )
        })
        .collect();
    let with_lines: Vec<bool> = queries
        .iter()
        .map(|q| q.lines || !q.paths.is_empty())
        .collect();
    let keys: Vec<String> = (0..queries.len())
        .map(|i| {
            let ((since, until), spec) = (bounds[i], &specs[i]);
            format!(
                "since={since:?};until={until:?};paths={spec:?};lines={}",
                with_lines[i]
            )
        })
        .collect();
    let query = |i: usize, tip: usize| select::Query {
        tip,
        since: bounds[i].0,
        until: bounds[i].1,
        paths: specs[i].as_ref(),
        lines: with_lines[i],
    };
    let config = stats::DiffConfig::from_repo(repo)?;
    let settings = format!("{};{}", config.fingerprint(), graph::shape(repo)?);
    let need_lines = with_lines.iter().any(|&l| l);
    let scan_with = scan::Settings {
        config,
        lines: need_lines,
        progress,
    };
    let mailmap = repo.open_mailmap();
    timer.lap("resolve");

    crate::db::with_db(okr_dir, |conn| {
        cache::prepare(conn, &settings)?;
        timer.lap("db open");
        let mut shared = Shared {
            walks: Walks::default(),
            report: ScanReport::default(),
            timer: &mut timer,
        };
        let mut tallies: Vec<Option<tally::Tally>> = vec![None; queries.len()];
        for (i, tally) in tallies.iter_mut().enumerate() {
            *tally = incremental(
                repo,
                conn,
                &keys[i],
                tips[i],
                &scan_with,
                &mut shared,
                |t| query(i, t),
            )?;
        }
        shared.timer.lap("incremental");

        let full: Vec<usize> = (0..queries.len())
            .filter(|&i| tallies[i].is_none() && bounds[i].0.is_none())
            .collect();
        if !full.is_empty() {
            let full_tips: Vec<_> = full.iter().map(|&i| tips[i]).collect();
            let graph = graph::Graph::load(repo, &full_tips)?;
            shared.timer.lap("walk");
            let with_files = full.iter().any(|&i| specs[i].is_some());
            let mut cached = cache::load(conn, with_files)?;
            shared.timer.lap("cache load");
            let scanned = fill(
                repo,
                conn,
                &graph,
                &mut cached,
                &scan_with,
                &mut shared.report,
            )?;
            shared.timer.lap("scan");
            graph.remember(conn, &scanned)?;
            shared.timer.lap("remember the graph");
            for &i in &full {
                let tip = graph.get(&tips[i]).ok_or_else(|| {
                    anyhow!(
                        "internal error: {} not in the walked history",
                        queries[i].rev
                    )
                })?;
                tallies[i] = Some(select::evaluate(repo, &graph, &cached, &query(i, tip))?);
            }
            shared.timer.lap("queries");
        }

        for i in 0..queries.len() {
            let Some(since) = bounds[i].0.filter(|_| tallies[i].is_none()) else {
                continue;
            };
            let graph = graph::Graph::window(repo, tips[i], since)?;
            let ids: Vec<_> = graph.nodes.iter().map(|n| n.id).collect();
            let mut cached = cache::load_some(conn, &ids, specs[i].is_some())?;
            fill(
                repo,
                conn,
                &graph,
                &mut cached,
                &scan_with,
                &mut shared.report,
            )?;
            tallies[i] = Some(select::evaluate(repo, &graph, &cached, &query(i, 0))?);
        }
        shared.timer.lap("windows");

        let tallies: Vec<tally::Tally> = tallies
            .into_iter()
            .map(|t| t.expect("every query was counted"))
            .collect();
        let tx = conn.transaction()?;
        for (i, tally) in tallies.iter().enumerate() {
            cache::save_tally(&tx, &keys[i], tips[i], tally)?;
        }
        tx.commit()?;
        shared.timer.lap("save totals");
        let people = people(conn, &mailmap, &tallies)?;
        shared.timer.lap("authors");
        let stats = tallies.iter().map(|t| t.stats(&people)).collect();
        Ok((stats, shared.report))
    })
    .context("updating the git stats cache in .git/okr")
}

/// The totals at `tip` from a remembered tally of the same query at an earlier tip
/// `known`, counting only the commits reachable from `tip` but not from `known`.
///
/// Sound because the walk of a query decides per commit which parents it follows
/// (by the commit's date and, with paths, its trees), never by how it got there:
/// - without `since` and paths, git walks every ancestor, so when `known` is an
///   ancestor of `tip` the totals are `known`'s plus the new commits';
/// - otherwise, when the walk over the new commits leaves them only into `known`
///   itself, it counts the new commits it reached plus exactly what it counted from
///   `known` (or nothing of it, when it never got there). Any other exit (a merge
///   of an older branch, say) falls back to a full count.
fn incremental<'a>(
    repo: &gix::Repository,
    conn: &mut rusqlite::Connection,
    key: &str,
    tip: gix::ObjectId,
    scan_with: &scan::Settings,
    shared: &mut Shared<'_>,
    query: impl Fn(usize) -> select::Query<'a>,
) -> Result<Option<tally::Tally>> {
    let Shared {
        walks,
        report,
        timer,
    } = shared;
    for (known, tally) in cache::tallies(conn, key, CANDIDATES)? {
        if !tally.missing.is_empty() && readable_now(repo, &tally.missing) {
            // Count again: the commits it could not read are read this time.
            continue;
        }
        if known == tip {
            return Ok(Some(tally));
        }
        timer.lap("  remembered totals");
        let with_files = query(0).paths.is_some();
        let mut early = cache::Cached {
            has_files: with_files,
            ..cache::Cached::default()
        };
        let graph = match walks.walked(tip, known) {
            Some(graph) => graph,
            None => {
                // The new commits are nearly always the ones the cache lacks: read
                // those while the walk finds out exactly which commits are new.
                let guess = guess_new(repo, conn, tip, &tally.missing, scan_with.lines)?;
                report.scanned += guess.len() as u64;
                timer.lap("  guess the new commits");
                let (mut graph, mut arrived, mut read) = (None, Vec::new(), Vec::new());
                scan::scan_during(
                    repo,
                    &guess,
                    scan_with,
                    &mut |id, stats| {
                        arrived.push((id, stats));
                        Ok(())
                    },
                    &mut || {
                        let mut commits = graph::Commits::new(repo, conn)?;
                        graph = Some(walks.beyond(&mut commits, tip, known)?);
                        read = commits.take_read();
                        Ok(())
                    },
                )?;
                cache::save_graph(
                    conn,
                    read.iter().map(|(id, time, parents)| (*id, *time, parents)),
                )?;
                let mut writer = cache::Writer::new(conn);
                for (id, stats) in arrived {
                    writer.add(&mut early, id, stats)?;
                }
                writer.flush(&mut early)?;
                graph.expect("walked during the scan")
            }
        };
        timer.lap("  walk beyond them");
        let Some(graph) = graph else {
            continue;
        };
        let Some(start) = graph.get(&tip) else {
            // `tip` is an ancestor of `known`: nothing new, but much to take away.
            continue;
        };
        let q = query(start);
        let ids: Vec<_> = graph
            .nodes
            .iter()
            .filter(|n| !n.external)
            .map(|n| n.id)
            .collect();
        let mut cached = cache::load_some(conn, &ids, q.paths.is_some())?;
        // Commits read early whose lines are missing are not in the cache's table.
        for (id, commit) in early.commits {
            if graph.get(&id).is_some() {
                cached.commits.entry(id).or_insert(commit);
                if let Some(files) = early.files.remove(&id) {
                    cached.files.entry(id).or_insert(files);
                }
            }
        }
        timer.lap("  cache rows");
        fill(repo, conn, &graph, &mut cached, scan_with, report)?;
        timer.lap("  scan new commits");
        let mut part = select::evaluate(repo, &graph, &cached, &q)?;
        let reached = part.exits.contains(&known);
        let sound = if q.paths.is_none() && q.since.is_none() {
            reached
        } else {
            part.exits.iter().all(|e| *e == known)
        };
        if !sound {
            continue;
        }
        if reached {
            part.add(&tally);
        }
        part.exits.clear();
        return Ok(Some(part));
    }
    Ok(None)
}

/// What the queries of one measurement share as they are counted.
struct Shared<'t> {
    walks: Walks,
    report: ScanReport,
    timer: &'t mut timing::Timer,
}

/// The walks from a tip beyond a remembered one, shared by the queries of one
/// measurement: the built-in queries start at the same tip and usually remember the
/// same earlier one, and the walk (which paints history back to the oldest fork
/// point of the new merges, as git's does) is the dearest part of a warm measure.
#[derive(Default)]
struct Walks(Vec<(gix::ObjectId, gix::ObjectId, Option<Rc<graph::Graph>>)>);

impl Walks {
    /// The walk from `tip` beyond `known`, when it was walked already.
    fn walked(&self, tip: gix::ObjectId, known: gix::ObjectId) -> Option<Option<Rc<graph::Graph>>> {
        self.0
            .iter()
            .find(|(t, k, _)| *t == tip && *k == known)
            .map(|(_, _, graph)| graph.clone())
    }

    /// [`graph::Graph::beyond`] `known` from `tip`, walked once per pair.
    fn beyond(
        &mut self,
        commits: &mut graph::Commits<'_>,
        tip: gix::ObjectId,
        known: gix::ObjectId,
    ) -> Result<Option<Rc<graph::Graph>>> {
        if let Some(graph) = self.walked(tip, known) {
            return Ok(graph);
        }
        let graph = graph::Graph::beyond(commits, tip, known, BEYOND_LIMIT)?.map(Rc::new);
        self.0.push((tip, known, graph.clone()));
        Ok(graph)
    }
}

/// Past this many commits the cache lacks, none is read early (see [`guess_new`]).
const GUESS_LIMIT: usize = 1000;

/// The commits reachable from `tip` that the cache has no stats for (with lines,
/// when `lines`), found by walking from `tip` until the cache knows a commit or it
/// is one of `unreadable` (a remembered tally's commits that lack an object: never
/// stored, and not new). Only a guess, to start reading early: the walk beyond the
/// remembered tip decides what counts. Empty past [`GUESS_LIMIT`] commits, or when
/// a commit cannot be read.
fn guess_new(
    repo: &gix::Repository,
    conn: &rusqlite::Connection,
    tip: gix::ObjectId,
    unreadable: &[(gix::ObjectId, gix::ObjectId)],
    lines: bool,
) -> Result<Vec<stats::ScanJob>> {
    // One read transaction for all lookups (SQLite otherwise locks the file for each).
    let _reading = conn.unchecked_transaction()?;
    let mut seen = gix::hashtable::HashSet::default();
    let mut next = std::collections::VecDeque::from([tip]);
    let mut jobs = Vec::new();
    while let Some(id) = next.pop_front() {
        if !seen.insert(id)
            || unreadable.iter().any(|(c, _)| *c == id)
            || cache::knows(conn, &id, lines)?
        {
            continue;
        }
        if jobs.len() >= GUESS_LIMIT {
            return Ok(Vec::new());
        }
        let Ok(commit) = repo.find_commit(id) else {
            return Ok(Vec::new());
        };
        let parents: Vec<gix::ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
        jobs.push(stats::ScanJob {
            id,
            parent: parents.first().copied(),
            merge: parents.len() > 1,
        });
        next.extend(parents);
    }
    Ok(jobs)
}

/// The persons of the authors of `tallies` after `mailmap`: remembered, and
/// found for authors not seen before (or all of them, when the mailmap changed).
fn people(
    conn: &mut rusqlite::Connection,
    mailmap: &gix::mailmap::Snapshot,
    tallies: &[tally::Tally],
) -> Result<tally::People> {
    let digest = tally::People::mailmap_digest(mailmap)?;
    let mut people = tally::People(cache::people(conn, &digest)?);
    let mut found = Vec::new();
    for &author in tallies.iter().flat_map(|t| &t.authors) {
        if people.0.contains_key(&author) {
            continue;
        }
        let (name, email) = cache::author(conn, author)?.ok_or_else(|| {
            anyhow!("internal error: author {author} missing from the stats cache")
        })?;
        let person = tally::People::person(mailmap, name.as_ref(), email.as_ref())?;
        people.0.insert(author, person);
        found.push((author, person));
    }
    if !found.is_empty() {
        cache::save_people(conn, &digest, &found)?;
    }
    Ok(people)
}

/// Whether some commit a remembered tally could not read can be read now: an
/// object it lacked has arrived, or git fetches it from a promisor remote.
fn readable_now(repo: &gix::Repository, missing: &[(gix::ObjectId, gix::ObjectId)]) -> bool {
    missing.iter().any(|(_, object)| repo.has_object(object))
        || (stats::has_promisor_remote(repo)
            && missing
                .iter()
                .any(|(commit, _)| stats::fetch_through_git(repo, *commit)))
}

/// Read the commits of `graph` that the cache does not know, storing them as they
/// come. Returns them.
fn fill(
    repo: &gix::Repository,
    conn: &mut rusqlite::Connection,
    graph: &graph::Graph,
    cached: &mut cache::Cached,
    scan_with: &scan::Settings,
    report: &mut ScanReport,
) -> Result<Vec<gix::ObjectId>> {
    let walked = graph.nodes.iter().filter(|n| !n.external).count() as u64;
    report.reachable = report.reachable.max(walked);
    let jobs = scan::missing(graph, cached, scan_with.lines);
    report.scanned += jobs.len() as u64;
    let mut writer = cache::Writer::new(conn);
    scan::scan(repo, &jobs, scan_with, &mut |id, stats| {
        writer.add(cached, id, stats)
    })?;
    writer.flush(cached)?;
    Ok(jobs.into_iter().map(|j| j.id).collect())
}

/// Each non-merge commit reachable from `rev`, newest first, with its lines as
/// `git log --numstat` shows them: the comparison tool behind the per-commit
/// equality tests, and for checking any repository by hand (no cache involved).
pub fn lines_per_commit(
    repo: &gix::Repository,
    rev: &str,
    progress: bool,
) -> Result<Vec<(gix::ObjectId, CommitLines)>> {
    let tip = resolve(repo, rev)?;
    let graph = graph::Graph::load(repo, &[tip])?;
    let jobs: Vec<stats::ScanJob> = scan::missing(&graph, &cache::Cached::default(), true)
        .into_iter()
        .filter(|j| !j.merge)
        .collect();
    let settings = scan::Settings {
        config: stats::DiffConfig::from_repo(repo)?,
        lines: true,
        progress,
    };
    let mut found = gix::hashtable::HashMap::default();
    scan::scan(repo, &jobs, &settings, &mut |id, stats| {
        found.insert(id, stats.lines);
        Ok(())
    })?;
    Ok(jobs
        .iter()
        .filter_map(|j| found.remove(&j.id).map(|l| (j.id, l)))
        .collect())
}

/// The commit `rev` names.
pub(crate) fn resolve(repo: &gix::Repository, rev: &str) -> Result<gix::ObjectId> {
    let id = repo
        .rev_parse_single(rev)
        .map_err(|e| crate::store::gix_error(e).context(format!("unknown revision {rev:?}")))?;
    let commit = id.object().and_then(|o| o.peel_to_commit()).map_err(|e| {
        crate::store::gix_error(e).context(format!("revision {rev:?} is not a commit"))
    })?;
    Ok(commit.id)
}

/// The built-in git metrics.
pub const BUILTIN_KEYS: [&str; 7] = [
    "git.commits",
    "git.contributors",
    "git.lines_added",
    "git.lines_removed",
    "git.lines_changed",
    "git.commits_30d",
    "git.merge_commits_30d",
];
const LINE_KEYS: [&str; 3] = ["git.lines_added", "git.lines_removed", "git.lines_changed"];

/// Which built-in git metrics a measurement needs (the metric keys its key results use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Some built-in git metric is used: all of history is walked.
    pub builtins: bool,
    /// `git.lines_*` is used: blobs are diffed.
    pub builtin_lines: bool,
}

impl Needs {
    pub fn of<'a>(metric_keys: impl IntoIterator<Item = &'a str>) -> Needs {
        let mut needs = Needs::default();
        for key in metric_keys {
            needs.builtins |= BUILTIN_KEYS.contains(&key);
            needs.builtin_lines |= LINE_KEYS.contains(&key);
        }
        needs
    }

    /// Every built-in metric.
    pub fn all() -> Needs {
        Needs {
            builtins: true,
            builtin_lines: true,
        }
    }
}

/// Git metrics that could not be measured because the clone lacks an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub keys: Vec<String>,
    /// The first commit that could not be read, and the object it lacks.
    pub commit: gix::ObjectId,
    pub object: gix::ObjectId,
    /// How many commits could not be read in all.
    pub commits: usize,
}

/// The git metrics of a measurement: the points measured, and what could not be.
#[derive(Debug, Clone, Default)]
pub struct GitPoints {
    pub points: Vec<MetricPoint>,
    pub unavailable: Vec<Unavailable>,
}

/// The metric points of a measurement. Built-in metrics as `needs` says:
/// `git.commits`, `git.contributors`, `git.commits_30d` and
/// `git.merge_commits_30d` (committer dates from `now` − 30 days to `now`) when
/// any built-in is needed, over all of the history of `rev` (default: the
/// definitions' `branch`, else `HEAD`), and `git.lines_added`,
/// `git.lines_removed`, `git.lines_changed` when a line metric is; plus every
/// metric of `definitions.git`. A bare-date `until` in a definition includes
/// that whole day (UTC). Needing nothing, no history is read.
///
/// A metric that needs an object the clone lacks (a partial clone without a
/// reachable promisor remote) is left out and named in `unavailable`.
///
/// An empty repository (unborn `HEAD`) yields no points at all.
pub fn points(
    store: &crate::store::Store,
    defs: &Definitions,
    rev: Option<&str>,
    now: DateTime<Utc>,
    needs: Needs,
) -> Result<GitPoints> {
    // Delivery metrics (`metrics::delivery`) are measured elsewhere.
    let commit_defs: Vec<_> = defs.git.iter().filter(|d| !d.stat.is_delivery()).collect();
    if !needs.builtins && commit_defs.is_empty() {
        return Ok(GitPoints::default());
    }
    let repo = store.repo();
    let main_rev = rev.or(defs.branch.as_deref()).unwrap_or("HEAD").to_string();
    if main_rev == "HEAD" && repo.head().map(|h| h.is_unborn()).unwrap_or(false) {
        return Ok(GitPoints::default());
    }
    let main_id = resolve(repo, &main_rev).with_context(|| match (rev, &defs.branch) {
        (None, Some(_)) => format!("{}: branch", crate::model::definitions::DEFINITIONS_FILE),
        _ => "measuring git metrics".to_string(),
    })?;

    let mut queries = Vec::new();
    if needs.builtins {
        queries.push(GitQuery {
            lines: needs.builtin_lines,
            ..GitQuery::rev(&main_rev)
        });
        queries.push(GitQuery {
            since: Some(now - chrono::Duration::days(30)),
            until: Some(now),
            lines: false,
            ..GitQuery::rev(&main_rev)
        });
    }
    let builtin_queries = queries.len();
    let mut evidence = Vec::new();
    for def in &commit_defs {
        let def_rev = def.branch.clone().unwrap_or_else(|| main_rev.clone());
        let id = resolve(repo, &def_rev).with_context(|| {
            format!(
                "git metric {}: branch {def_rev:?} is not a known revision",
                def.key
            )
        })?;
        let since = def
            .since
            .as_deref()
            .map(parse_date)
            .transpose()
            .with_context(|| format!("git metric {}: since", def.key))?;
        let until = def
            .until
            .as_deref()
            .map(crate::model::definitions::parse_until)
            .transpose()
            .with_context(|| format!("git metric {}: until", def.key))?;
        queries.push(GitQuery {
            rev: def_rev.clone(),
            since,
            until,
            paths: def.paths.clone(),
            lines: matches!(
                def.stat,
                GitStat::LinesAdded | GitStat::LinesRemoved | GitStat::LinesChanged
            ),
        });
        evidence.push(format!("{def_rev} @ {id}"));
    }

    let stats = measure(repo, &store.okr_dir()?, &queries, true)?;
    let timestamp = now.to_rfc3339();
    let point = |key: &str, value: u64, evidence: &str| MetricPoint {
        key: key.to_string(),
        value: value as f64,
        unit: None,
        timestamp: timestamp.clone(),
        source: "git".to_string(),
        evidence: vec![evidence.to_string()],
        dimensions: Default::default(),
    };
    let unavailable = |keys: Vec<String>, s: &GitStats| Unavailable {
        keys,
        commit: s.missing[0].0,
        object: s.missing[0].1,
        commits: s.missing.len(),
    };
    let mut out = GitPoints::default();
    if needs.builtins {
        let main = format!("{main_rev} @ {main_id}");
        let (all, recent) = (&stats[0], &stats[1]);
        out.points.extend([
            point("git.commits", all.commits, &main),
            point("git.contributors", all.contributors, &main),
            point("git.commits_30d", recent.commits, &main),
            point("git.merge_commits_30d", recent.merge_commits, &main),
        ]);
        if needs.builtin_lines && all.missing.is_empty() {
            out.points.extend([
                point("git.lines_added", all.lines_added, &main),
                point("git.lines_removed", all.lines_removed, &main),
                point(
                    "git.lines_changed",
                    all.lines_added + all.lines_removed,
                    &main,
                ),
            ]);
        } else if needs.builtin_lines {
            out.unavailable.push(unavailable(
                LINE_KEYS.iter().map(|k| k.to_string()).collect(),
                all,
            ));
        }
    }
    for (i, def) in commit_defs.iter().enumerate() {
        let s = &stats[i + builtin_queries];
        // A definition may reuse a built-in key: its own definition wins.
        out.points.retain(|p| p.key != def.key);
        let uses_lines = matches!(
            def.stat,
            GitStat::LinesAdded | GitStat::LinesRemoved | GitStat::LinesChanged
        );
        if !s.missing.is_empty() && (uses_lines || !def.paths.is_empty()) {
            out.unavailable.push(unavailable(vec![def.key.clone()], s));
            continue;
        }
        let value = match def.stat {
            GitStat::Commits => s.commits,
            GitStat::MergeCommits => s.merge_commits,
            GitStat::Contributors => s.contributors,
            GitStat::LinesAdded => s.lines_added,
            GitStat::LinesRemoved => s.lines_removed,
            GitStat::LinesChanged => s.lines_added + s.lines_removed,
            // Filtered out above: measured by `metrics::delivery`.
            _ => continue,
        };
        out.points.push(point(&def.key, value, &evidence[i]));
    }
    Ok(out)
}
