//! The per-commit stats cache in `.git/okr/audit.sqlite` (tables `stats_*`).
//!
//! Keyed by commit id, so it survives history rewrites (new ids are simply new
//! rows) and never needs invalidating except when what a diff means changes:
//! the schema, git's diff settings (`diff.renames`, `diff.renameLimit`,
//! `diff.algorithm`…) or which parents commits have (`git replace`, a shallow
//! boundary: [`super::graph::shape`]), recorded in `meta` under `stats.schema`
//! and `stats.diff`.
//!
//! `stats_tips` keeps each query's totals per tip commit (see [`Tally`]), so a
//! later measurement of a descendant only adds the commits it has not counted.
//!
//! `stats_people` keeps the person each author is after the mailmap named in
//! `meta` under `stats.mailmap` (and is emptied when the mailmap changes).
//!
//! `stats_graph` keeps each read commit's date and parents: git's commit-graph
//! file, for repositories that have none, so that a warm measurement's walk back
//! to where new merges forked reads rows instead of decoding commits.

use super::stats::{CommitStats, FileStat, Lines};
use super::tally::Tally;
use anyhow::Result;
use gix::bstr::BString;
use gix::hashtable::HashMap;
use gix::ObjectId;
use rusqlite::{params, Connection, OptionalExtension};

pub const SCHEMA_KEY: &str = "stats.schema";
pub const SCHEMA_VERSION: &str = "7";
pub const DIFF_KEY: &str = "stats.diff";
const MAILMAP_KEY: &str = "stats.mailmap";
/// Tallies kept over all queries; the least recently used go first.
const TALLIES_KEPT: usize = 64;
/// Commits written per transaction during a scan: an interrupted scan keeps what
/// it finished, and every commit's rows land together.
const BATCH: usize = 4096;

/// What a query needs from the cache: per-commit totals and authors, and the
/// per-file rows only when some query has paths.
#[derive(Default)]
pub struct Cached {
    pub commits: HashMap<ObjectId, CachedCommit>,
    pub files: HashMap<ObjectId, Vec<FileStat>>,
    /// The per-file rows were loaded.
    pub has_files: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct CachedCommit {
    /// Row id in `stats_authors`.
    pub author: i64,
    pub added: u64,
    pub removed: u64,
    pub lines: LineState,
}

/// Whether a commit's line stats are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    Known,
    /// Not computed: the measurement that read it needed no line metric.
    Skipped,
    /// An object the diff needs is missing from the clone (never stored: retried next time).
    Missing(ObjectId),
}

/// Make the tables exist and match `diff_settings`; drop them when they do not.
pub fn prepare(conn: &Connection, diff_settings: &str) -> Result<()> {
    let current = (
        crate::db::meta_get(conn, SCHEMA_KEY)?,
        crate::db::meta_get(conn, DIFF_KEY)?,
    );
    if current.0.as_deref() == Some(SCHEMA_VERSION) && current.1.as_deref() == Some(diff_settings) {
        return Ok(());
    }
    // Parallel processes on a cold cache all get here: the write lock (waiting out the
    // busy timeout) makes one of them build the tables; the others then find them built.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match rebuild_tables(conn, diff_settings) {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Inside the write lock: build the tables unless another process just did.
fn rebuild_tables(conn: &Connection, diff_settings: &str) -> Result<()> {
    let current = (
        crate::db::meta_get(conn, SCHEMA_KEY)?,
        crate::db::meta_get(conn, DIFF_KEY)?,
    );
    if current.0.as_deref() == Some(SCHEMA_VERSION) && current.1.as_deref() == Some(diff_settings) {
        return Ok(());
    }
    conn.execute_batch(
        "DROP INDEX IF EXISTS stats_files_commit; DROP TABLE IF EXISTS stats_files; DROP TABLE IF EXISTS stats_commits;
         DROP TABLE IF EXISTS stats_authors; DROP TABLE IF EXISTS stats_tips; DROP TABLE IF EXISTS stats_graph;
         DROP TABLE IF EXISTS stats_people;",
    )?;
    conn.execute_batch(
        "CREATE TABLE stats_authors (id INTEGER PRIMARY KEY, name BLOB NOT NULL, email BLOB NOT NULL, UNIQUE (name, email));
         CREATE TABLE stats_commits (id BLOB PRIMARY KEY, author INTEGER NOT NULL, added INTEGER NOT NULL, removed INTEGER NOT NULL,
             files BLOB NOT NULL, lines INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE stats_tips (query TEXT NOT NULL, tip BLOB NOT NULL, commits INTEGER NOT NULL, merges INTEGER NOT NULL,
             added INTEGER NOT NULL, removed INTEGER NOT NULL, authors BLOB NOT NULL, missing TEXT NOT NULL,
             used INTEGER NOT NULL, PRIMARY KEY (query, tip));
         CREATE TABLE stats_graph (id BLOB PRIMARY KEY, time INTEGER NOT NULL, parents BLOB NOT NULL) WITHOUT ROWID;
         CREATE TABLE stats_people (author INTEGER PRIMARY KEY, person INTEGER NOT NULL);
         DELETE FROM meta WHERE key = 'stats.mailmap';",
    )?;
    crate::db::meta_set(conn, SCHEMA_KEY, SCHEMA_VERSION)?;
    crate::db::meta_set(conn, DIFF_KEY, diff_settings)?;
    Ok(())
}

/// Every cached commit (and its files when `with_files`).
pub fn load(conn: &Connection, with_files: bool) -> Result<Cached> {
    let mut cached = Cached {
        has_files: with_files,
        ..Cached::default()
    };
    let mut stmt = conn.prepare(if with_files {
        "SELECT id, author, added, removed, lines, files FROM stats_commits"
    } else {
        "SELECT id, author, added, removed, lines FROM stats_commits"
    })?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let Some(id) = object_id(row.get_ref(0)?.as_blob()?) else {
            continue;
        };
        cached.commits.insert(id, commit_row(row)?);
        if with_files {
            cached
                .files
                .insert(id, decode_files(row.get_ref(5)?.as_blob()?)?);
        }
    }
    Ok(cached)
}

/// The cached commits among `ids` (and their files when `with_files`): what a
/// short walk over new commits needs, without reading the whole cache.
pub fn load_some(conn: &Connection, ids: &[ObjectId], with_files: bool) -> Result<Cached> {
    let mut cached = Cached {
        has_files: with_files,
        ..Cached::default()
    };
    // One read transaction for all lookups (SQLite otherwise locks the file for each).
    let _reading = conn.unchecked_transaction()?;
    let mut commit = conn.prepare_cached(
        "SELECT id, author, added, removed, lines, files FROM stats_commits WHERE id = ?1",
    )?;
    for id in ids {
        let Some((c, files)) = commit
            .query_row(params![id.as_bytes()], |row| {
                Ok((commit_row(row)?, row.get::<_, Vec<u8>>(5)?))
            })
            .optional()?
        else {
            continue;
        };
        cached.commits.insert(*id, c);
        if with_files {
            cached.files.insert(*id, decode_files(&files)?);
        }
    }
    Ok(cached)
}

/// Whether the cache has `id`'s stats (with its lines, when `lines`).
pub fn knows(conn: &Connection, id: &ObjectId, lines: bool) -> Result<bool> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT lines FROM stats_commits WHERE id = ?1")?
        .query_row(params![id.as_bytes()], |row| row.get(0))
        .optional()?;
    Ok(found.is_some_and(|l| !lines || l != 0))
}

fn commit_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CachedCommit> {
    Ok(CachedCommit {
        author: row.get(1)?,
        added: row.get::<_, i64>(2)? as u64,
        removed: row.get::<_, i64>(3)? as u64,
        lines: if row.get::<_, i64>(4)? != 0 {
            LineState::Known
        } else {
            LineState::Skipped
        },
    })
}

/// A commit's files as one blob (one row per commit is several times cheaper to
/// write than a row per file): per file, little-endian u32 fields
/// `path length, path, source length (u32::MAX = none), source, copy (u8),
/// added, removed, source_lines, dest_lines`.
fn encode_files(files: &[FileStat]) -> Vec<u8> {
    let mut out = Vec::with_capacity(files.iter().map(|f| f.path.len() + 29).sum());
    let u32 = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
    for f in files {
        u32(&mut out, f.path.len() as u32);
        out.extend_from_slice(&f.path);
        match &f.source {
            Some(s) => {
                u32(&mut out, s.len() as u32);
                out.extend_from_slice(s);
            }
            None => u32(&mut out, u32::MAX),
        }
        out.push(u8::from(f.copy));
        for v in [f.added, f.removed, f.source_lines, f.dest_lines] {
            u32(&mut out, v);
        }
    }
    out
}

fn decode_files(mut bytes: &[u8]) -> Result<Vec<FileStat>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
        if bytes.len() < n {
            return Err(anyhow::anyhow!("damaged file list in the git stats cache"));
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head)
    }
    fn u32(bytes: &mut &[u8]) -> Result<u32> {
        Ok(u32::from_le_bytes(
            take(bytes, 4)?.try_into().expect("4 bytes"),
        ))
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let n = u32(&mut bytes)? as usize;
        let path = BString::from(take(&mut bytes, n)?);
        let source = match u32(&mut bytes)? {
            u32::MAX => None,
            n => Some(BString::from(take(&mut bytes, n as usize)?)),
        };
        let copy = take(&mut bytes, 1)?[0] != 0;
        out.push(FileStat {
            path,
            source,
            copy,
            added: u32(&mut bytes)?,
            removed: u32(&mut bytes)?,
            source_lines: u32(&mut bytes)?,
            dest_lines: u32(&mut bytes)?,
        });
    }
    Ok(out)
}

/// An author's name and email by row id.
pub fn author(conn: &Connection, id: i64) -> Result<Option<(BString, BString)>> {
    Ok(conn
        .prepare_cached("SELECT name, email FROM stats_authors WHERE id = ?1")?
        .query_row([id], |row| {
            Ok((
                BString::from(row.get::<_, Vec<u8>>(0)?),
                BString::from(row.get::<_, Vec<u8>>(1)?),
            ))
        })
        .optional()?)
}

/// The person of each author (by row id) found after the mailmap `mailmap`
/// (a digest); none when the mailmap was another.
pub fn people(conn: &Connection, mailmap: &str) -> Result<std::collections::HashMap<i64, i64>> {
    let mut out = std::collections::HashMap::new();
    if crate::db::meta_get(conn, MAILMAP_KEY)?.as_deref() != Some(mailmap) {
        return Ok(out);
    }
    let mut stmt = conn.prepare("SELECT author, person FROM stats_people")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        out.insert(row.get(0)?, row.get(1)?);
    }
    Ok(out)
}

/// Remember authors' persons after the mailmap `mailmap`, forgetting those found
/// after another one.
pub fn save_people(conn: &mut Connection, mailmap: &str, people: &[(i64, i64)]) -> Result<()> {
    let tx = conn.transaction()?;
    if crate::db::meta_get(&tx, MAILMAP_KEY)?.as_deref() != Some(mailmap) {
        tx.execute("DELETE FROM stats_people", [])?;
        crate::db::meta_set(&tx, MAILMAP_KEY, mailmap)?;
    }
    {
        let mut add = tx.prepare_cached(
            "INSERT OR REPLACE INTO stats_people (author, person) VALUES (?1, ?2)",
        )?;
        for (author, person) in people {
            add.execute([author, person])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Writes freshly read commits, [`BATCH`] commits per transaction, and adds them
/// to `cached` (files only when `cached.has_files`).
pub struct Writer<'c> {
    conn: &'c mut Connection,
    pending: Vec<(ObjectId, CommitStats)>,
    authors: std::collections::HashMap<(BString, BString), i64>,
}

impl<'c> Writer<'c> {
    pub fn new(conn: &'c mut Connection) -> Writer<'c> {
        // Room for the commit table's pages while it grows (SQLite's default is 2 MB), but
        // not all of it: a cold scan keeps its peak memory below git's own `git log`.
        let _ = conn.pragma_update(None, "cache_size", -8_000);
        Writer {
            conn,
            pending: Vec::new(),
            authors: Default::default(),
        }
    }

    pub fn add(&mut self, cached: &mut Cached, id: ObjectId, stats: CommitStats) -> Result<()> {
        self.pending.push((id, stats));
        if self.pending.len() >= BATCH {
            self.flush(cached)?;
        }
        Ok(())
    }

    pub fn flush(&mut self, cached: &mut Cached) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // In key order, the B-tree of commit ids is written page by page instead of
        // at random: several times less work for SQLite over a long history.
        self.pending.sort_unstable_by_key(|p| p.0);
        let tx = self.conn.transaction()?;
        {
            let mut find_author =
                tx.prepare_cached("SELECT id FROM stats_authors WHERE name = ?1 AND email = ?2")?;
            let mut add_author =
                tx.prepare_cached("INSERT INTO stats_authors (name, email) VALUES (?1, ?2)")?;
            let mut add_commit = tx.prepare_cached(
                "INSERT OR REPLACE INTO stats_commits (id, author, added, removed, files, lines) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (id, stats) in self.pending.drain(..) {
                let key = (stats.author_name.clone(), stats.author_email.clone());
                let author = match self.authors.get(&key) {
                    Some(&row) => row,
                    None => {
                        let (name, email) = (key.0.as_slice(), key.1.as_slice());
                        let row = match find_author
                            .query_row(params![name, email], |r| r.get::<_, i64>(0))
                            .optional()?
                        {
                            Some(row) => row,
                            None => {
                                add_author.execute(params![name, email])?;
                                tx.last_insert_rowid()
                            }
                        };
                        self.authors.insert(key, row);
                        row
                    }
                };
                let (added, removed) = (stats.added(), stats.removed());
                let lines = match stats.lines {
                    Lines::Known(_) => LineState::Known,
                    Lines::Skipped => LineState::Skipped,
                    Lines::Missing(object) => LineState::Missing(object),
                };
                // A commit with a missing object is kept for this measurement only:
                // the next one tries again (the object may have arrived).
                if !matches!(lines, LineState::Missing(_)) {
                    add_commit.execute(params![
                        id.as_bytes(),
                        author,
                        added as i64,
                        removed as i64,
                        encode_files(stats.files()),
                        i64::from(lines == LineState::Known)
                    ])?;
                }
                cached.commits.insert(
                    id,
                    CachedCommit {
                        author,
                        added,
                        removed,
                        lines,
                    },
                );
                if cached.has_files {
                    if let Lines::Known(files) = stats.lines {
                        cached.files.insert(id, files);
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// The most recently used tallies of `query`, newest first.
pub fn tallies(conn: &Connection, query: &str, limit: usize) -> Result<Vec<(ObjectId, Tally)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT tip, commits, merges, added, removed, authors, missing FROM stats_tips WHERE query = ?1 ORDER BY used DESC LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![query, limit as i64])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let Some(tip) = object_id(row.get_ref(0)?.as_blob()?) else {
            continue;
        };
        let authors = row.get_ref(5)?.as_blob()?;
        out.push((
            tip,
            Tally {
                commits: row.get::<_, i64>(1)? as u64,
                merge_commits: row.get::<_, i64>(2)? as u64,
                lines_added: row.get::<_, i64>(3)? as u64,
                lines_removed: row.get::<_, i64>(4)? as u64,
                authors: authors
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
                exits: Vec::new(),
                missing: decode_missing(row.get_ref(6)?.as_str()?),
            },
        ));
    }
    Ok(out)
}

/// Unreadable commits as text: per line, `commit object` in hex.
fn encode_missing(missing: &[(ObjectId, ObjectId)]) -> String {
    missing
        .iter()
        .map(|(commit, object)| format!("{commit} {object}\n"))
        .collect()
}

/// A damaged line is left out: the tally then claims fewer unreadable commits,
/// never different totals.
fn decode_missing(text: &str) -> Vec<(ObjectId, ObjectId)> {
    text.lines()
        .filter_map(|line| {
            let (commit, object) = line.split_once(' ')?;
            Some((
                ObjectId::from_hex(commit.as_bytes()).ok()?,
                ObjectId::from_hex(object.as_bytes()).ok()?,
            ))
        })
        .collect()
}

/// Remember `tally` as the totals of `query` at `tip` (with the commits it could
/// not read, so that a later measurement names them without walking the history
/// again), and forget the least recently used.
pub fn save_tally(conn: &Connection, query: &str, tip: ObjectId, tally: &Tally) -> Result<()> {
    let mut authors: Vec<i64> = tally.authors.iter().copied().collect();
    authors.sort_unstable();
    let blob: Vec<u8> = authors.iter().flat_map(|a| a.to_le_bytes()).collect();
    conn.prepare_cached(
        "INSERT OR REPLACE INTO stats_tips (query, tip, commits, merges, added, removed, authors, missing, used)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (SELECT coalesce(max(used), 0) + 1 FROM stats_tips))",
    )?
    .execute(params![
        query,
        tip.as_bytes(),
        tally.commits as i64,
        tally.merge_commits as i64,
        tally.lines_added as i64,
        tally.lines_removed as i64,
        blob,
        encode_missing(&tally.missing)
    ])?;
    conn.prepare_cached(
        "DELETE FROM stats_tips WHERE used <= (SELECT max(used) FROM stats_tips) - ?1",
    )?
    .execute(params![TALLIES_KEPT as i64])?;
    Ok(())
}

/// A commit's committer date and parents, as [`save_graph`] kept them.
pub fn graph_row(conn: &Connection, id: &ObjectId) -> Result<Option<(i64, Vec<ObjectId>)>> {
    let mut stmt = conn.prepare_cached("SELECT time, parents FROM stats_graph WHERE id = ?1")?;
    let mut rows = stmt.query(params![id.as_bytes()])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let parents = row.get_ref(1)?.as_blob()?;
    let len = id.as_bytes().len();
    if parents.len() % len != 0 {
        // Not a row this code wrote: read the commit instead.
        return Ok(None);
    }
    let parents = parents.chunks_exact(len).filter_map(object_id).collect();
    Ok(Some((row.get(0)?, parents)))
}

/// Remember commits' dates and parents (see [`graph_row`]), given as (commit,
/// date, parents).
pub fn save_graph<'a>(
    conn: &mut Connection,
    rows: impl IntoIterator<Item = (ObjectId, i64, impl IntoIterator<Item = &'a ObjectId>)>,
) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut add = tx.prepare_cached(
            "INSERT OR IGNORE INTO stats_graph (id, time, parents) VALUES (?1, ?2, ?3)",
        )?;
        let mut parents = Vec::new();
        for (id, time, of) in rows {
            parents.clear();
            for p in of {
                parents.extend_from_slice(p.as_bytes());
            }
            add.execute(params![id.as_bytes(), time, parents])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// A SHA-1 of `parts`, each with its length (a `None` part marks a gap), so that no
/// two different lists of parts share it: what a cache entry is kept under.
pub fn digest<'a>(parts: impl IntoIterator<Item = Option<&'a [u8]>>) -> Result<ObjectId> {
    let mut hasher = gix::hash::hasher(gix::hash::Kind::Sha1);
    for part in parts {
        match part {
            Some(bytes) => {
                hasher.update(&(bytes.len() as u64).to_le_bytes());
                hasher.update(bytes);
            }
            None => hasher.update(&u64::MAX.to_le_bytes()),
        }
    }
    hasher
        .try_finalize()
        .map_err(|e| anyhow::anyhow!("hashing a cache key: {e}"))
}

fn object_id(bytes: &[u8]) -> Option<ObjectId> {
    ObjectId::try_from(bytes).ok()
}
