//! The per-task supervisor: `git-okr __okr-supervise PARENT STATUS GRACE_MS -- PROGRAM ARGS…`.
//!
//! `plan run` starts every agent through a copy of itself running this, so that nothing an
//! agent starts can outlive its task:
//! - the supervisor is a child subreaper: descendants that are orphaned (also ones that
//!   called `setsid` to leave the process group) are re-parented to it, not to init;
//! - when the agent exits, every remaining descendant is killed (SIGKILL) and reaped;
//! - on SIGTERM/SIGINT (timeout, cancel) every descendant gets SIGTERM, then SIGKILL after
//!   the grace period;
//! - it gets SIGTERM when `plan run` dies (`PR_SET_PDEATHSIG`, also after `kill -9`), and
//!   the agent gets SIGKILL when the supervisor dies, so killing either one still cleans up.
//!
//! How the agent ended is written to STATUS (`exit N`, `signal N` or `spawn-error TEXT`).

use super::procs::{self, Sig};
use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The hidden first argument that turns `git-okr` into a supervisor.
pub const SUPERVISE_ARG: &str = "__okr-supervise";

/// How often the supervisor looks for exited children.
const POLL: Duration = Duration::from_millis(25);

/// After the agent is gone, how long killing its leftovers may take before giving up.
const SWEEP_LIMIT: Duration = Duration::from_secs(10);

struct Args {
    parent: u32,
    status: PathBuf,
    grace: Duration,
    program: OsString,
    args: Vec<OsString>,
}

fn parse(argv: &[OsString]) -> Result<Args> {
    let text = |i: usize| -> Result<String> {
        argv.get(i)
            .and_then(|a| a.to_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{SUPERVISE_ARG}: argument {i} missing or not UTF-8"))
    };
    if argv.get(3).and_then(|a| a.to_str()) != Some("--") || argv.len() < 5 {
        bail!("usage: {SUPERVISE_ARG} PARENT STATUS GRACE_MS -- PROGRAM ARGS…");
    }
    Ok(Args {
        parent: text(0)?.parse().context("PARENT")?,
        status: PathBuf::from(&argv[1]),
        grace: Duration::from_millis(text(2)?.parse().context("GRACE_MS")?),
        program: argv[4].clone(),
        args: argv[5..].to_vec(),
    })
}

/// The supervisor's main; `argv` is everything after [`SUPERVISE_ARG`].
pub fn main(argv: &[OsString]) -> Result<()> {
    let args = parse(argv)?;
    procs::become_subreaper().context("becoming a child subreaper")?;
    die_with_parent(args.parent)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the supervisor's runtime")?;
    let ended = rt.block_on(watch(&args))?;
    std::fs::write(&args.status, ended.as_bytes())
        .with_context(|| format!("writing {}", args.status.display()))?;
    Ok(())
}

/// SIGTERM when `plan run` dies; and if it already died before that was set, stop now.
#[cfg(target_os = "linux")]
fn die_with_parent(parent: u32) -> Result<()> {
    use rustix::process::{getppid, set_parent_process_death_signal, Signal};
    set_parent_process_death_signal(Some(Signal::TERM))
        .map_err(std::io::Error::from)
        .context("setting the parent-death signal")?;
    if getppid().map(|p| p.as_raw_nonzero().get() as u32) != Some(parent) {
        bail!("plan run (pid {parent}) is already gone");
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_parent: u32) -> Result<()> {
    Ok(())
}

/// Start the agent, wait for it, then clear away everything it left; how it ended.
async fn watch(args: &Args) -> Result<String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let me = std::process::id();
    let agent = match spawn_agent(args, me) {
        Ok(pid) => pid,
        Err(e) => {
            return Ok(format!(
                "spawn-error could not start {}: {e}",
                args.program.to_string_lossy()
            ))
        }
    };
    let mut stopping: Option<Instant> = None;
    let mut killed = false;
    let ended = loop {
        if let Some(status) = reap_all(agent) {
            break status;
        }
        if let Some(since) = stopping {
            if !killed && since.elapsed() >= args.grace {
                procs::signal_descendants(me, Sig::Kill);
                killed = true;
            }
        }
        let stop = tokio::select! {
            _ = term.recv() => true,
            _ = int.recv() => true,
            _ = hup.recv() => true,
            _ = tokio::time::sleep(POLL) => false,
        };
        if stop && stopping.is_none() {
            stopping = Some(Instant::now());
            procs::signal_descendants(me, Sig::Term);
        }
    };
    sweep(me);
    Ok(ended)
}

/// The agent: its own program, in this process's group, killed if the supervisor dies.
fn spawn_agent(args: &Args, me: u32) -> std::io::Result<u32> {
    let mut cmd = std::process::Command::new(&args.program);
    cmd.args(&args.args);
    set_death_signal(&mut cmd, me);
    let child = cmd.spawn()?;
    // The child is reaped by `reap_all` with waitpid(-1); the handle is not needed.
    Ok(child.id())
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_death_signal(cmd: &mut std::process::Command, me: u32) {
    use rustix::process::{getppid, set_parent_process_death_signal, Signal};
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec. It only makes two raw
    // system calls (prctl, getppid), which are async-signal-safe, and allocates nothing
    // (the error is a raw errno). If the supervisor died between fork and prctl, the
    // parent check makes exec fail instead of leaving an unsupervised agent.
    unsafe {
        cmd.pre_exec(move || {
            set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
            match getppid() {
                Some(p) if p.as_raw_nonzero().get() as u32 == me => Ok(()),
                _ => Err(std::io::Error::from_raw_os_error(libc::ESRCH)),
            }
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_death_signal(_cmd: &mut std::process::Command, _me: u32) {}

/// Reap every child that has exited; the agent's status once it has.
fn reap_all(agent: u32) -> Option<String> {
    use rustix::process::{wait, WaitOptions};
    let mut agent_status = None;
    while let Ok(Some((pid, status))) = wait(WaitOptions::NOHANG) {
        if pid.as_raw_nonzero().get() as u32 == agent {
            agent_status = Some(match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(sig)) => format!("signal {sig}"),
                _ => "exit -1".to_string(),
            });
        }
    }
    agent_status
}

/// Kill and reap every remaining descendant until none is left (or a time limit passes:
/// a process stuck in the kernel cannot be reaped, and the task must still end).
fn sweep(me: u32) {
    use rustix::io::Errno;
    use rustix::process::{wait, WaitOptions};
    let start = Instant::now();
    loop {
        procs::signal_descendants(me, Sig::Kill);
        loop {
            match wait(WaitOptions::NOHANG) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                // No children at all: every descendant is gone.
                Err(Errno::CHILD) => return,
                Err(_) => break,
            }
        }
        if start.elapsed() > SWEEP_LIMIT {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How an agent ended, as the supervisor wrote it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
    SpawnError(String),
}

pub fn read_status(text: &str) -> Option<Ended> {
    let (kind, rest) = text.split_once(' ')?;
    match kind {
        "exit" => rest.trim().parse().ok().map(Ended::Exited),
        "signal" => rest.trim().parse().ok().map(Ended::Signaled),
        "spawn-error" => Some(Ended::SpawnError(rest.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        assert_eq!(read_status("exit 3"), Some(Ended::Exited(3)));
        assert_eq!(read_status("signal 9"), Some(Ended::Signaled(9)));
        assert_eq!(
            read_status("spawn-error could not start x: No such file"),
            Some(Ended::SpawnError("could not start x: No such file".into()))
        );
        assert_eq!(read_status(""), None);
        assert_eq!(read_status("exit x"), None);
    }

    #[test]
    fn arguments_are_checked() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(parse(&os(&["1", "/tmp/s", "3000", "--", "prog", "a"])).is_ok());
        assert!(parse(&os(&["1", "/tmp/s", "3000", "prog"])).is_err());
        assert!(parse(&os(&["x", "/tmp/s", "3000", "--", "prog"])).is_err());
    }
}
