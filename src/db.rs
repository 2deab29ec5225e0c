//! `.git/okr/audit.sqlite`: the per-clone SQLite file holding the audit mirror and
//! the per-commit metric cache. It is never the truth (the ref is): a missing,
//! damaged or foreign file is deleted and rebuilt.

use anyhow::{Context, Result};
use rusqlite::{Connection, ErrorCode, OptionalExtension};
use std::path::{Path, PathBuf};

pub const DB_FILE: &str = "audit.sqlite";

pub fn db_path(okr_dir: &Path) -> PathBuf {
    okr_dir.join(DB_FILE)
}

/// Open the database, recreating it when it is not a usable SQLite file.
pub fn open(okr_dir: &Path) -> Result<Connection> {
    let path = db_path(okr_dir);
    match try_open(&path) {
        Ok(conn) => Ok(conn),
        Err(e) if is_damage(&e) => {
            remove(&path)?;
            try_open(&path).with_context(|| format!("recreating {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("opening {}", path.display())),
    }
}

/// How long `with_db` keeps starting over while other processes hold the database.
const BUSY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Run `f` on the database; if it finds the file damaged, delete it and run `f` once more
/// on a fresh file (every table here can be rebuilt from the ref).
///
/// `busy_timeout` waits for a lock in most cases, but SQLite answers "database is locked"
/// at once where waiting could deadlock (a read transaction that must become a write one
/// while another process writes). Then `f` starts over on a new connection after a short
/// random pause, for up to `BUSY_PATIENCE`: parallel hooks and measurements all get through.
pub fn with_db<T>(okr_dir: &Path, mut f: impl FnMut(&mut Connection) -> Result<T>) -> Result<T> {
    let start = std::time::Instant::now();
    let mut pause_ms = 5u64;
    loop {
        let mut conn = open(okr_dir)?;
        match f(&mut conn) {
            Ok(value) => {
                truncate_big_wal(&conn, okr_dir);
                return Ok(value);
            }
            Err(e) if caused_by(&e, is_damage) => {
                drop(conn);
                remove(&db_path(okr_dir))?;
                let mut conn = open(okr_dir)?;
                return f(&mut conn);
            }
            Err(e) if caused_by(&e, is_busy) && start.elapsed() < BUSY_PATIENCE => {
                drop(conn);
                std::thread::sleep(std::time::Duration::from_millis(
                    pause_ms + rand::random_range(0..=pause_ms),
                ));
                pause_ms = (pause_ms * 2).min(200);
            }
            other => return other,
        }
    }
}

/// A WAL file this big is checkpointed and truncated before its connection closes.
/// Connections leave the WAL in place (see `try_open`), and every process that opens
/// the file first reads all of the WAL's valid frames: after one large transaction (the
/// mirror of 100,000 state commits wrote 56 MB) each later command paid ~0.5 s for it.
const WAL_TRUNCATE_BYTES: u64 = 16 * 1024 * 1024;

fn truncate_big_wal(conn: &Connection, okr_dir: &Path) {
    let wal = PathBuf::from(format!("{}-wal", db_path(okr_dir).display()));
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_TRUNCATE_BYTES) {
        // Never wait for other processes here: a busy file is truncated by a later command.
        let _ = conn.busy_timeout(std::time::Duration::ZERO);
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

fn caused_by(e: &anyhow::Error, test: fn(&rusqlite::Error) -> bool) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<rusqlite::Error>().is_some_and(test))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn try_open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    use_wal(&conn)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Leave the WAL in place when closing: a checkpoint on every close costs three
    // fsyncs (tens to hundreds of ms on a busy disk) in commands that write a few
    // rows. SQLite still checkpoints on its own once the WAL reaches 1000 pages.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )?;
    // Reading the schema touches the file header and catalog: garbage fails here.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(conn)
}

/// WAL lets readers go on while a writer commits. Switching a file into WAL needs the
/// file to itself, and SQLite answers "database is locked" at once there instead of
/// waiting out the busy timeout; so a process that loses the race to create the file
/// waits a little and asks again (by then the file is in WAL and the switch is a no-op).
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let mut attempt = 0u64;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && attempt < 200 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(attempt.min(50)));
            }
            other => return other,
        }
    }
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

fn remove(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }
    Ok(())
}

pub fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_wal_is_truncated_before_the_connection_closes() {
        let dir = tempfile::tempdir().unwrap();
        let wal = PathBuf::from(format!("{}-wal", db_path(dir.path()).display()));
        let write = |rows: usize| {
            with_db(dir.path(), |conn| {
                conn.execute_batch("CREATE TABLE IF NOT EXISTS t (b BLOB)")?;
                let tx = conn.transaction()?;
                for _ in 0..rows {
                    tx.execute("INSERT INTO t VALUES (zeroblob(1048576))", [])?;
                }
                tx.commit()?;
                Ok(())
            })
            .unwrap()
        };
        // A small write leaves its WAL for the next command (no checkpoint on close)...
        write(1);
        let small = std::fs::metadata(&wal).unwrap().len();
        assert!(small > 0 && small < WAL_TRUNCATE_BYTES, "{small}");
        // ...a big one does not leave every later command to read it first.
        write(24);
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
        let rows: i64 = with_db(dir.path(), |c| {
            Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
        })
        .unwrap();
        assert_eq!(rows, 25, "nothing lost by the checkpoint");
    }

    #[test]
    fn garbage_files_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            db_path(dir.path()),
            b"this is not a database, not at all, no",
        )
        .unwrap();
        let conn = open(dir.path()).unwrap();
        meta_set(&conn, "k", "v").unwrap();
        assert_eq!(meta_get(&conn, "k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn truncated_files_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = open(dir.path()).unwrap();
            conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
                .unwrap();
        }
        let p = db_path(dir.path());
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len().min(100)]).unwrap();
        let _ = std::fs::remove_file(format!("{}-wal", p.display()));
        let conn = open(dir.path()).unwrap();
        let old_tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old_tables, 0, "the damaged file was replaced, not reused");
        meta_set(&conn, "k", "v").unwrap();
        assert_eq!(meta_get(&conn, "k").unwrap().as_deref(), Some("v"));
    }
}
