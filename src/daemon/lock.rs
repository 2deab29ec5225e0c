//! One daemon per repository: an exclusive lock on `.git/okr/daemon.lock`, which also
//! says who holds it so a second daemon can name the first.

use anyhow::{bail, Context, Result};
use fs4::fs_std::FileExt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

pub const LOCK_FILE: &str = "daemon.lock";

/// Held for the daemon's lifetime; the operating system releases it if the process dies.
pub struct DaemonLock {
    file: File,
}

impl DaemonLock {
    pub fn acquire(okr_dir: &Path) -> Result<DaemonLock> {
        let path = okr_dir.join(LOCK_FILE);
        // Not truncated on open: the holder's details must survive a second opener.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if !FileExt::try_lock_exclusive(&file)
            .with_context(|| format!("locking {}", path.display()))?
        {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            bail!(
                "another git-okr daemon is running for this repository ({}); lock file {}",
                if holder.is_empty() {
                    "holder unknown".to_string()
                } else {
                    format!("held by {holder}")
                },
                path.display()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(
            file,
            "pid {}, started {}",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )?;
        file.flush()?;
        Ok(DaemonLock { file })
    }
}

impl Drop for DaemonLock {
    fn drop(&mut self) {
        // Nobody holds it any more; the lock itself goes with the file handle.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DaemonLock::acquire(dir.path()).unwrap();
        let err = DaemonLock::acquire(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(&format!("held by pid {}, started ", std::process::id())),
            "{err}"
        );
        drop(first);
        DaemonLock::acquire(dir.path()).unwrap();
    }
}
