//! git-okr's git hooks: `pre-push` and `post-merge` (the scripts in `hooks/`), installed
//! into the repository's hooks folder without losing a hook that was already there.
//!
//! A hook already in place is moved aside to `NAME.okr-chained` and run first by ours;
//! uninstall moves it back (a rename: byte for byte, mode and all).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const PRE_PUSH: &str = include_str!("../hooks/pre-push");
pub const POST_MERGE: &str = include_str!("../hooks/post-merge");

/// The hooks git-okr installs, with their scripts.
pub const HOOKS: [(&str, &str); 2] = [("pre-push", PRE_PUSH), ("post-merge", POST_MERGE)];

/// The suffix of a user's hook that ours runs first.
pub const CHAINED: &str = ".okr-chained";

/// Every script of ours says so on its second line.
const MARKER: &str = "# git-okr hook";

/// Git config key: when true, a git-okr failure in a hook stops the push.
pub const STRICT_KEY: &str = "okr.hooks.strict";

/// The folder git runs hooks from: `core.hooksPath` (relative to where hooks run: the
/// work tree root, or the git dir of a bare repository), else `hooks/` in the common dir.
/// gix does not resolve this itself.
pub fn hooks_dir(repo: &gix::Repository) -> Result<PathBuf> {
    let config = repo.config_snapshot();
    let configured = config
        .trusted_path("core.hooksPath")
        .map_err(|e| crate::store::gix_error(e).context("reading core.hooksPath"))?;
    match configured {
        Some(path) => {
            if path.is_absolute() {
                Ok(path)
            } else {
                let base = repo.workdir().unwrap_or_else(|| repo.git_dir());
                Ok(base.join(path))
            }
        }
        None => Ok(repo.common_dir().join("hooks")),
    }
}

/// Whether hook failures should stop the push (`okr.hooks.strict`).
pub fn strict(repo: &gix::Repository) -> bool {
    repo.config_snapshot().boolean(STRICT_KEY).unwrap_or(false)
}

#[derive(Debug, Clone, PartialEq)]
pub enum HookState {
    /// No hook of this name.
    Absent,
    /// A hook that is not ours.
    Foreign,
    /// Ours; `current` when it is this version's script, `chained` when it runs a user's hook.
    Installed { current: bool, chained: bool },
}

fn is_ours(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| {
            String::from_utf8_lossy(&b[..b.len().min(200)])
                .lines()
                .nth(1)
                .is_some_and(|l| l.starts_with(MARKER))
        })
        .unwrap_or(false)
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

pub fn state(dir: &Path, name: &str, script: &str) -> HookState {
    let path = dir.join(name);
    if !exists(&path) {
        HookState::Absent
    } else if is_ours(&path) {
        HookState::Installed {
            current: std::fs::read(&path).is_ok_and(|b| b == script.as_bytes()),
            chained: exists(&dir.join(format!("{name}{CHAINED}"))),
        }
    } else {
        HookState::Foreign
    }
}

/// Install both hooks; returns one line per hook saying what happened.
pub fn install(dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut out = Vec::new();
    for (name, script) in HOOKS {
        let path = dir.join(name);
        let chained = dir.join(format!("{name}{CHAINED}"));
        let line = match state(dir, name, script) {
            HookState::Installed { current: true, .. } => format!("{name}: already installed"),
            HookState::Installed { current: false, .. } => {
                write_script(&path, script)?;
                format!("{name}: updated")
            }
            HookState::Foreign => {
                if exists(&chained) {
                    bail!(
                        "{} exists and so does {}: move one of them away first",
                        path.display(),
                        chained.display()
                    );
                }
                std::fs::rename(&path, &chained)
                    .with_context(|| format!("moving {} aside", path.display()))?;
                write_script(&path, script)?;
                format!(
                    "{name}: installed; your hook now runs first from {}",
                    chained.display()
                )
            }
            HookState::Absent => {
                write_script(&path, script)?;
                format!("{name}: installed")
            }
        };
        out.push(line);
    }
    Ok(out)
}

/// Remove our hooks and put back any hook they chained.
pub fn uninstall(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, script) in HOOKS {
        let path = dir.join(name);
        let chained = dir.join(format!("{name}{CHAINED}"));
        let line = match state(dir, name, script) {
            HookState::Installed { chained: true, .. } => {
                std::fs::rename(&chained, &path)
                    .with_context(|| format!("restoring {}", path.display()))?;
                format!("{name}: removed; your hook is back")
            }
            HookState::Installed { chained: false, .. } => {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
                format!("{name}: removed")
            }
            HookState::Foreign => format!("{name}: not git-okr's; left alone"),
            HookState::Absent => format!("{name}: not installed"),
        };
        out.push(line);
    }
    Ok(out)
}

fn write_script(path: &Path, script: &str) -> Result<()> {
    // Written beside and renamed: a push running right now sees the old or the new script.
    let dir = path.parent().expect("a hook has a folder");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, script.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    }
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `kr measure --hook`: run the measurement quietly. Without a state there is nothing to
/// measure; a failure is returned as a warning for the caller to show (git goes on) unless
/// `okr.hooks.strict` is true, when it is the error.
pub fn measure_from_hook(
    store: &crate::store::Store,
    measure: impl FnOnce() -> Result<()>,
) -> Result<Option<anyhow::Error>> {
    if !store.snapshot().is_ok_and(|s| s.is_initialized()) {
        return Ok(None);
    }
    match measure() {
        Ok(()) => Ok(None),
        Err(e) if strict(store.repo()) => Err(e.context(format!(
            "git-okr hook: measurement failed ({STRICT_KEY} is true)"
        ))),
        Err(e) => Ok(Some(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_carry_the_marker() {
        for (name, script) in HOOKS {
            assert!(script.lines().nth(1).unwrap().starts_with(MARKER), "{name}");
            assert!(script.contains("git okr kr measure --hook"), "{name}");
            assert!(script.contains("git-okr kr measure --hook"), "{name}");
        }
    }

    #[test]
    fn install_chains_and_uninstall_restores_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let user = b"#!/bin/sh\necho mine\n\xff\n";
        std::fs::write(dir.path().join("pre-push"), user).unwrap();
        install(dir.path()).unwrap();
        assert_eq!(
            state(dir.path(), "pre-push", PRE_PUSH),
            HookState::Installed {
                current: true,
                chained: true
            }
        );
        assert_eq!(
            std::fs::read(dir.path().join("pre-push.okr-chained")).unwrap(),
            user
        );
        let again = install(dir.path()).unwrap();
        assert!(
            again.iter().all(|l| l.ends_with("already installed")),
            "{again:?}"
        );
        uninstall(dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("pre-push")).unwrap(), user);
        assert!(!dir.path().join("post-merge").exists());
        assert!(!dir.path().join("pre-push.okr-chained").exists());
    }
}
