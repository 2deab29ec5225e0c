//! Running one agent process under tokio: prompt on stdin, stdout/stderr kept as a capped
//! tail, a timeout, and cancellation. Each agent runs in its own process group, and the
//! whole group is signalled when it must stop, so the agent's own children (test runners,
//! shells, servers) go with it and nothing is orphaned.

use super::invocation::{Inspector, Invocation};
use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// How much of each stream is kept per task: the last 256 KiB (the end says how it went).
pub const LOG_CAP: usize = 256 * 1024;

/// How long an agent gets to exit after SIGTERM before its group gets SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The last `cap` bytes of a stream, and how many there were.
#[derive(Debug, Clone)]
pub struct Tail {
    buf: VecDeque<u8>,
    pub total: u64,
    cap: usize,
}

impl Tail {
    pub fn new(cap: usize) -> Tail {
        Tail {
            buf: VecDeque::new(),
            total: 0,
            cap,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let chunk = &chunk[chunk.len().saturating_sub(self.cap)..];
        let overflow = (self.buf.len() + chunk.len()).saturating_sub(self.cap);
        self.buf.drain(..overflow);
        self.buf.extend(chunk);
    }

    pub fn truncated(&self) -> bool {
        self.total > self.buf.len() as u64
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.buf.iter().copied().collect()
    }

    /// The kept bytes, with a first line saying what was dropped when the stream was cut.
    pub fn log_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.truncated() {
            out.extend(
                format!(
                    "[git-okr: output truncated: {} bytes in all, the first {} dropped, the last {} kept]\n",
                    self.total,
                    self.total - self.buf.len() as u64,
                    self.buf.len()
                )
                .into_bytes(),
            );
        }
        out.extend(self.buf.iter());
        out
    }

    /// The last `n` bytes as text (lossy).
    pub fn tail_text(&self, n: usize) -> String {
        let bytes = self.bytes();
        String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(n)..]).into_owned()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum End {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    Cancelled,
    SpawnFailed(String),
}

pub struct Outcome {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration: Duration,
    pub end: End,
    pub stdout: Tail,
    pub stderr: Tail,
    pub inspector: Inspector,
    /// The file the agent was asked to write its final answer to (codex `-o`), read after exit.
    pub result_file: Option<String>,
}

/// Ctrl-C / SIGTERM → every running agent is stopped. Handlers are installed before any
/// child starts, so the signal never kills git-okr before it can clean up.
pub struct Cancel {
    tx: watch::Sender<bool>,
}

impl Cancel {
    pub fn on_signals() -> Result<Cancel> {
        use tokio::signal::unix::{signal, SignalKind};
        let (tx, _) = watch::channel(false);
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let sender = tx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            eprintln!("git-okr: stopping the running agents…");
            let _ = sender.send(true);
        });
        Ok(Cancel { tx })
    }

    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }
}

fn signal_group(pgid: i32, sig: Signal) {
    let Some(group) = Pid::from_raw(pgid) else {
        return;
    };
    // The group may be gone already (everything exited): nothing left to signal.
    let _ = rustix::process::kill_process_group(group, sig);
}

/// SIGKILL to the agent's process group when dropped: also when `exec` is dropped half-way
/// (the run ends early on an error, the runtime shuts down), where `kill_on_drop` alone
/// would reach only the agent and orphan its children.
struct GroupKill(i32);

impl Drop for GroupKill {
    fn drop(&mut self) {
        signal_group(self.0, Signal::KILL);
    }
}

/// Run `inv` in `cwd` until it exits, the timeout passes, or `cancel` turns true.
pub async fn exec(
    inv: Invocation,
    cwd: PathBuf,
    timeout: Duration,
    cap: usize,
    mut inspector: Inspector,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let started_at = chrono::Utc::now();
    let start = Instant::now();
    let result_file = inv.result_file.clone();
    let done = |end: End, stdout: Tail, stderr: Tail, inspector: Inspector| Outcome {
        started_at,
        duration: start.elapsed(),
        end,
        stdout,
        stderr,
        inspector,
        result_file: result_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok()),
    };
    if *cancel.borrow() {
        return done(End::Cancelled, Tail::new(cap), Tail::new(cap), inspector);
    }
    let mut cmd = tokio::process::Command::new(&inv.program);
    cmd.args(&inv.args)
        .current_dir(&cwd)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("could not start {}: {e}", inv.program.display());
            return done(
                End::SpawnFailed(msg),
                Tail::new(cap),
                Tail::new(cap),
                inspector,
            );
        }
    };
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    let group = GroupKill(pgid);
    if let Some(mut stdin) = child.stdin.take() {
        let prompt = inv.stdin.clone();
        // An agent that never reads stdin must not block us: write from a task, ignore EPIPE.
        tokio::spawn(async move {
            let _ = stdin.write_all(prompt.as_bytes()).await;
            let _ = stdin.shutdown().await;
        });
    }
    let out_reader = child.stdout.take().map(|s| {
        let insp = std::mem::replace(&mut inspector, Inspector::None);
        tokio::spawn(read_stream(s, cap, insp))
    });
    let err_reader = child
        .stderr
        .take()
        .map(|s| tokio::spawn(read_stream(s, cap, Inspector::None)));

    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => exit_end(s),
            Err(e) => End::SpawnFailed(format!("waiting for the agent: {e}")),
        },
        _ = tokio::time::sleep(timeout) => {
            stop(&mut child, pgid).await;
            End::TimedOut
        }
        _ = wait_cancel(&mut cancel) => {
            stop(&mut child, pgid).await;
            End::Cancelled
        }
    };
    // Whatever the agent left behind in its group (background jobs holding our pipes open)
    // goes now, so reading the pipes ends.
    drop(group);
    let collect = |h: Option<tokio::task::JoinHandle<(Tail, Inspector)>>| async move {
        match h {
            Some(h) => match tokio::time::timeout(Duration::from_secs(5), h).await {
                Ok(Ok(v)) => v,
                _ => (Tail::new(cap), Inspector::None),
            },
            None => (Tail::new(cap), Inspector::None),
        }
    };
    let (stdout, insp) = collect(out_reader).await;
    let (stderr, _) = collect(err_reader).await;
    done(end, stdout, stderr, insp)
}

async fn wait_cancel(cancel: &mut watch::Receiver<bool>) {
    loop {
        if *cancel.borrow_and_update() {
            return;
        }
        if cancel.changed().await.is_err() {
            // The sender is gone: nobody can cancel any more.
            std::future::pending::<()>().await;
        }
    }
}

/// SIGTERM to the group, then SIGKILL after a grace period.
async fn stop(child: &mut tokio::process::Child, pgid: i32) {
    signal_group(pgid, Signal::TERM);
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        signal_group(pgid, Signal::KILL);
        let _ = child.kill().await;
    }
}

fn exit_end(status: std::process::ExitStatus) -> End {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => End::Exited(code),
        (None, Some(sig)) => End::Signaled(sig),
        _ => End::Exited(-1),
    }
}

async fn read_stream(
    mut stream: impl AsyncRead + Unpin,
    cap: usize,
    mut inspector: Inspector,
) -> (Tail, Inspector) {
    let mut tail = Tail::new(cap);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.push(&buf[..n]);
                inspector.feed(&buf[..n]);
            }
        }
    }
    inspector.finish();
    (tail, inspector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail::new(10);
        t.push(b"0123456789abc");
        assert_eq!(t.bytes(), b"3456789abc");
        t.push(b"XY");
        assert_eq!(t.bytes(), b"56789abcXY");
        assert_eq!(t.total, 15);
        assert!(t.truncated());
        assert!(String::from_utf8_lossy(&t.log_bytes())
            .starts_with("[git-okr: output truncated: 15 bytes"));
        let mut small = Tail::new(10);
        small.push(b"abc");
        assert!(!small.truncated());
        assert_eq!(small.log_bytes(), b"abc");
    }
}
