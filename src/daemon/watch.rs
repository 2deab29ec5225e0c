//! Waking the daemon when a ref may have moved. Where the platform allows (inotify,
//! FSEvents, kqueue through the `notify` crate) the ref files are watched: `HEAD`,
//! `packed-refs`, everything under `refs/` (the state ref, the measured branch) and the
//! daemon's queue folder. Elsewhere, or when watching fails (e.g. the inotify limit is
//! reached), the daemon looks every second instead. Either way a wake-up only says "look
//! now": what moved is decided by reading the refs, which is cheap.

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// How long a burst of file events may go on before the daemon looks (a commit moves a
/// ref with a lock file and a rename; a fetch moves several).
const SETTLE: Duration = Duration::from_millis(30);
/// Without file events, how often the refs are read.
const POLL: Duration = Duration::from_secs(1);

pub struct Watch {
    rx: Option<UnboundedReceiver<()>>,
    // Kept alive for as long as the daemon watches.
    _watcher: Option<notify::RecommendedWatcher>,
    /// Why watching is not possible, when it is not (then the daemon polls).
    pub fallback: Option<String>,
}

/// The paths a daemon for this repository watches, and how.
pub fn paths(git_dir: &Path, common_dir: &Path, queue_dir: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = vec![(git_dir.to_path_buf(), false)];
    if common_dir != git_dir {
        out.push((common_dir.to_path_buf(), false));
    }
    out.push((common_dir.join("refs"), true));
    out.push((queue_dir.to_path_buf(), false));
    out
}

impl Watch {
    /// Watch `paths` (path, recursive); falls back to polling if any cannot be watched.
    pub fn start(paths: &[(PathBuf, bool)]) -> Watch {
        match Self::try_start(paths) {
            Ok(w) => w,
            Err(why) => Watch {
                rx: None,
                _watcher: None,
                fallback: Some(why),
            },
        }
    }

    fn try_start(paths: &[(PathBuf, bool)]) -> Result<Watch, String> {
        let (tx, rx) = unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Any event, or an error from the backend: look now.
            let interesting = match &res {
                Ok(e) => !matches!(e.kind, notify::EventKind::Access(_)),
                Err(_) => true,
            };
            if interesting {
                let _ = tx.send(());
            }
        })
        .map_err(|e| e.to_string())?;
        for (path, recursive) in paths {
            let mode = if *recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            watcher
                .watch(path, mode)
                .map_err(|e| format!("watching {}: {e}", path.display()))?;
        }
        Ok(Watch {
            rx: Some(rx),
            _watcher: Some(watcher),
            fallback: None,
        })
    }

    /// Wait until something may have changed, or at most `limit`. Returns after a burst of
    /// events has settled, so one commit wakes the daemon once.
    pub async fn wait(&mut self, limit: Duration) {
        let Some(rx) = &mut self.rx else {
            tokio::time::sleep(limit.min(POLL)).await;
            return;
        };
        match tokio::time::timeout(limit, rx.recv()).await {
            Ok(Some(())) => {
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
            }
            // The watcher is gone: poll from now on.
            Ok(None) => {
                self.rx = None;
                self.fallback = Some("the file watcher stopped".into());
            }
            Err(_) => {}
        }
    }
}
