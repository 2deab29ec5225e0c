//! One-off runs (`git okr daemon enqueue`): one JSON file per run in `.git/okr/daemon-queue/`,
//! written whole (a temporary file renamed into place) so the daemon never reads half a
//! file, and removed by the daemon once the run is over. Local to the clone, never shared.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const QUEUE_DIR: &str = "daemon-queue";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    /// A scheduled job's id, or a job kind (`kr_measure`) run with `args`.
    pub job: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Not before this time; absent: as soon as the daemon sees it.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// Who enqueued it (the person's email).
    pub by: String,
    pub enqueued_at: DateTime<Utc>,
}

pub fn dir(okr_dir: &Path) -> PathBuf {
    okr_dir.join(QUEUE_DIR)
}

/// Add a run to the queue; returns its file.
pub fn enqueue(okr_dir: &Path, item: &Queued) -> Result<PathBuf> {
    let dir = dir(okr_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = format!(
        "{}-{:08x}.json",
        item.enqueued_at.format("%Y%m%dT%H%M%S%3f"),
        rand::random::<u32>()
    );
    let path = dir.join(name);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    tmp.write_all(serde_json::to_string_pretty(item)?.as_bytes())?;
    tmp.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Every queued run, oldest first; a file that cannot be read comes back as its error.
pub fn list(okr_dir: &Path) -> Vec<(PathBuf, Result<Queued, String>)> {
    let Ok(entries) = std::fs::read_dir(dir(okr_dir)) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Result<Queued, String>)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let item = std::fs::read_to_string(&p)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
            (p, item)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_runs_come_back_in_order_and_go() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(dir.path()).is_empty());
        let item = |job: &str, secs: i64| Queued {
            job: job.into(),
            args: vec!["--rev".into(), "main".into()],
            at: None,
            by: "alice@example.com".into(),
            enqueued_at: DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap(),
        };
        let second = enqueue(dir.path(), &item("sync", 5)).unwrap();
        enqueue(dir.path(), &item("kr_measure", 1)).unwrap();
        std::fs::write(super::dir(dir.path()).join("zz.json"), "{").unwrap();
        let listed = list(dir.path());
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].1.as_ref().unwrap().job, "kr_measure");
        assert_eq!(listed[1].1.as_ref().unwrap(), &item("sync", 5));
        assert!(listed[2].1.is_err());
        remove(&second);
        assert_eq!(list(dir.path()).len(), 2);
    }
}
