//! The per-commit stats cache in `.git/okr/audit.sqlite` (tables `stats_*`).
//!
//! Keyed by commit id, so it survives history rewrites (new ids are simply new
//! rows) and never needs invalidating except when what a diff means changes:
//! the schema or git's diff settings (`diff.renames`, `diff.renameLimit`,
//! `diff.algorithm`), recorded in `meta` under `stats.schema` and `stats.diff`.

use super::stats::{CommitStats, FileStat};
use anyhow::Result;
use gix::bstr::BString;
use gix::hashtable::HashMap;
use gix::ObjectId;
use rusqlite::{params, Connection};

pub const SCHEMA_KEY: &str = "stats.schema";
pub const SCHEMA_VERSION: &str = "1";
pub const DIFF_KEY: &str = "stats.diff";

/// What a query needs from the cache: per-commit totals and authors, and the
/// per-file rows only when some query has paths.
#[derive(Default)]
pub struct Cached {
    pub commits: HashMap<ObjectId, CachedCommit>,
    pub authors: Vec<(BString, BString)>,
    pub files: HashMap<ObjectId, Vec<FileStat>>,
    /// The per-file rows were loaded.
    pub has_files: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct CachedCommit {
    pub author: usize,
    pub added: u64,
    pub removed: u64,
}

/// Make the tables exist and match `diff_settings`; drop them when they do not.
pub fn prepare(conn: &Connection, diff_settings: &str) -> Result<()> {
    let current = (
        crate::db::meta_get(conn, SCHEMA_KEY)?,
        crate::db::meta_get(conn, DIFF_KEY)?,
    );
    if current.0.as_deref() != Some(SCHEMA_VERSION) || current.1.as_deref() != Some(diff_settings) {
        conn.execute_batch(
            "DROP TABLE IF EXISTS stats_files; DROP TABLE IF EXISTS stats_commits; DROP TABLE IF EXISTS stats_authors;",
        )?;
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS stats_authors (id INTEGER PRIMARY KEY, name BLOB NOT NULL, email BLOB NOT NULL, UNIQUE (name, email));
         CREATE TABLE IF NOT EXISTS stats_commits (id BLOB PRIMARY KEY, author INTEGER NOT NULL, added INTEGER NOT NULL, removed INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS stats_files (commit_id BLOB NOT NULL, path BLOB NOT NULL, source BLOB, copy INTEGER NOT NULL,
             added INTEGER NOT NULL, removed INTEGER NOT NULL, source_lines INTEGER NOT NULL, dest_lines INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS stats_files_commit ON stats_files (commit_id);",
    )?;
    crate::db::meta_set(conn, SCHEMA_KEY, SCHEMA_VERSION)?;
    crate::db::meta_set(conn, DIFF_KEY, diff_settings)?;
    Ok(())
}

pub fn load(conn: &Connection, with_files: bool) -> Result<Cached> {
    let mut cached = Cached {
        has_files: with_files,
        ..Cached::default()
    };
    let mut author_index = std::collections::HashMap::new();
    let mut stmt = conn.prepare("SELECT id, name, email FROM stats_authors")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        author_index.insert(row.get::<_, i64>(0)?, cached.authors.len());
        cached.authors.push((
            BString::from(row.get::<_, Vec<u8>>(1)?),
            BString::from(row.get::<_, Vec<u8>>(2)?),
        ));
    }
    let mut stmt = conn.prepare("SELECT id, author, added, removed FROM stats_commits")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let Some(id) = object_id(row.get_ref(0)?.as_blob()?) else {
            continue;
        };
        let Some(&author) = author_index.get(&row.get::<_, i64>(1)?) else {
            continue;
        };
        let commit = CachedCommit {
            author,
            added: row.get::<_, i64>(2)? as u64,
            removed: row.get::<_, i64>(3)? as u64,
        };
        cached.commits.insert(id, commit);
    }
    if with_files {
        let mut stmt = conn.prepare(
            "SELECT commit_id, path, source, copy, added, removed, source_lines, dest_lines FROM stats_files",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let Some(id) = object_id(row.get_ref(0)?.as_blob()?) else {
                continue;
            };
            let stat = FileStat {
                path: BString::from(row.get::<_, Vec<u8>>(1)?),
                source: row.get::<_, Option<Vec<u8>>>(2)?.map(BString::from),
                copy: row.get::<_, bool>(3)?,
                added: row.get(4)?,
                removed: row.get(5)?,
                source_lines: row.get(6)?,
                dest_lines: row.get(7)?,
            };
            cached.files.entry(id).or_default().push(stat);
        }
    }
    Ok(cached)
}

/// Add freshly read commits to the cache (one transaction) and to `cached`.
pub fn store(
    conn: &mut Connection,
    cached: &mut Cached,
    fresh: Vec<(ObjectId, CommitStats)>,
) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut find_author =
            tx.prepare("SELECT id FROM stats_authors WHERE name = ?1 AND email = ?2")?;
        let mut add_author =
            tx.prepare("INSERT INTO stats_authors (name, email) VALUES (?1, ?2)")?;
        let mut add_commit =
            tx.prepare("INSERT OR REPLACE INTO stats_commits (id, author, added, removed) VALUES (?1, ?2, ?3, ?4)")?;
        let mut drop_files = tx.prepare("DELETE FROM stats_files WHERE commit_id = ?1")?;
        let mut add_file = tx.prepare(
            "INSERT INTO stats_files (commit_id, path, source, copy, added, removed, source_lines, dest_lines)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut known: std::collections::HashMap<(BString, BString), (i64, usize)> =
            std::collections::HashMap::new();
        for (id, stats) in fresh {
            let key = (stats.author_name.clone(), stats.author_email.clone());
            let (author_row, author) = match known.get(&key) {
                Some(&found) => found,
                None => {
                    let (name, email) = (key.0.as_slice(), key.1.as_slice());
                    let row =
                        match find_author.query_row(params![name, email], |r| r.get::<_, i64>(0)) {
                            Ok(row) => row,
                            Err(rusqlite::Error::QueryReturnedNoRows) => {
                                add_author.execute(params![name, email])?;
                                tx.last_insert_rowid()
                            }
                            Err(e) => return Err(e.into()),
                        };
                    let index = match cached.authors.iter().position(|a| *a == key) {
                        Some(i) => i,
                        None => {
                            cached.authors.push(key.clone());
                            cached.authors.len() - 1
                        }
                    };
                    known.insert(key, (row, index));
                    (row, index)
                }
            };
            let (added, removed) = (stats.added(), stats.removed());
            add_commit.execute(params![
                id.as_bytes(),
                author_row,
                added as i64,
                removed as i64
            ])?;
            drop_files.execute(params![id.as_bytes()])?;
            for f in &stats.files {
                add_file.execute(params![
                    id.as_bytes(),
                    f.path.as_slice(),
                    f.source.as_ref().map(|s| s.as_slice()),
                    f.copy,
                    f.added,
                    f.removed,
                    f.source_lines,
                    f.dest_lines
                ])?;
            }
            cached.commits.insert(
                id,
                CachedCommit {
                    author,
                    added,
                    removed,
                },
            );
            if cached.has_files {
                cached.files.insert(id, stats.files);
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn object_id(bytes: &[u8]) -> Option<ObjectId> {
    ObjectId::try_from(bytes).ok()
}
