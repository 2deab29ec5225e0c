//! Long output through the pager git would use, only on a terminal.
//!
//! The choice follows git: `GIT_PAGER`, `core.pager`, `PAGER`, else `less`; an empty
//! pager or `cat` means none. `git --no-pager okr …` (and `pager.okr=false`) reach us
//! as `GIT_PAGER=cat`, which git exports for external commands. When git started a
//! pager itself (`git -p okr`), our stdout is its pipe, not a terminal, so we do not
//! start a second one.
//!
//! Like git, the pager gets `LESS=FRX` and `LV=-c` unless they are set: short output
//! is printed and less quits, colours pass through, the screen is not cleared.

use anyhow::{Context, Result};
use std::io::{IsTerminal, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// The pager of this process; main waits for it before exiting.
static RUNNING: Mutex<Option<Pager>> = Mutex::new(None);

/// Start the pager (when `command` is set and stdout is a terminal).
pub fn start(command: Option<String>) -> Result<()> {
    if let Some(pager) = Pager::start(command)? {
        if let Ok(mut slot) = RUNNING.lock() {
            *slot = Some(pager);
        }
    }
    Ok(())
}

/// Wait for the pager started by [`start`], if any.
pub fn finish() {
    let pager = RUNNING.lock().ok().and_then(|mut slot| slot.take());
    if let Some(pager) = pager {
        pager.finish();
    }
}

/// Which pager to run, if any: git's order of sources.
pub fn pager_command(config: &gix::config::Snapshot<'_>) -> Option<String> {
    let from_env = |name: &str| std::env::var(name).ok();
    let chosen = from_env("GIT_PAGER")
        .or_else(|| config.string("core.pager").map(|v| v.to_string()))
        .or_else(|| from_env("PAGER"))
        .unwrap_or_else(|| "less".to_string());
    let chosen = chosen.trim();
    (!chosen.is_empty() && chosen != "cat").then(|| chosen.to_string())
}

/// A running pager that our stdout (and stderr, when it is the terminal too) writes into.
struct Pager {
    child: Child,
    saved_stdout: OwnedFd,
    saved_stderr: Option<OwnedFd>,
}

impl Pager {
    /// Start `command` when stdout is a terminal; `None` when paging does not apply.
    fn start(command: Option<String>) -> Result<Option<Pager>> {
        let Some(command) = command else {
            return Ok(None);
        };
        if !std::io::stdout().is_terminal() {
            return Ok(None);
        }
        let mut cmd = Command::new("sh");
        // Through the shell, as git does, so `less -S` or `delta --dark` work.
        cmd.arg("-c").arg(&command).stdin(Stdio::piped());
        if std::env::var_os("LESS").is_none() {
            cmd.env("LESS", "FRX");
        }
        if std::env::var_os("LV").is_none() {
            cmd.env("LV", "-c");
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the pager {command:?}"))?;
        let pipe: OwnedFd = child
            .stdin
            .take()
            .context("the pager has no input pipe")?
            .into();
        std::io::stdout().flush()?;
        let saved_stdout = rustix::io::dup(std::io::stdout())?;
        rustix::stdio::dup2_stdout(&pipe)?;
        // Errors go into the pager too (as with git), so they are not overwritten by it.
        let saved_stderr = if std::io::stderr().is_terminal() {
            let saved = rustix::io::dup(std::io::stderr())?;
            rustix::stdio::dup2_stderr(&pipe)?;
            Some(saved)
        } else {
            None
        };
        // Our own children (git) must not page again, and see the pager like git's own.
        std::env::set_var("GIT_PAGER_IN_USE", "true");
        Ok(Some(Pager {
            child,
            saved_stdout,
            saved_stderr,
        }))
    }

    /// Close our end of the pipe and wait until the person quits the pager.
    fn finish(mut self) {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let _ = rustix::stdio::dup2_stdout(&self.saved_stdout);
        if let Some(saved) = &self.saved_stderr {
            let _ = rustix::stdio::dup2_stderr(saved);
        }
        let _ = self.child.wait();
    }
}
