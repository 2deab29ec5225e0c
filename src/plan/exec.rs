//! Running one agent process under tokio: prompt on stdin, stdout/stderr kept as a capped
//! tail, a timeout, and cancellation. Each agent runs under its own supervisor
//! (`supervise`), which kills every process the agent started when the task ends, is
//! stopped, or `plan run` dies, so nothing an agent starts outlives its task.

use super::invocation::{Inspector, Invocation};
use super::procs::{self, Sig};
use super::supervise::{read_status, Ended, SUPERVISE_ARG};
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// How much of each stream is kept per task: the last 256 KiB (the end says how it went).
pub const LOG_CAP: usize = 256 * 1024;

/// How long an agent gets to exit after SIGTERM before its group gets SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// How much longer than the grace period a supervisor may take to clear up.
const SUPERVISOR_SLACK: Duration = Duration::from_secs(5);

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

pub struct AgentOutcome {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration: Duration,
    pub end: End,
    pub stdout: Tail,
    pub stderr: Tail,
    /// stdout and stderr interleaved as they came.
    pub transcript: Tail,
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

/// Stops the agent's supervisor when dropped (the run ends early on an error, the runtime
/// shuts down): SIGTERM makes it clear away the agent's whole tree. If it cannot, the
/// leftovers are re-parented to `plan run` (a subreaper too), which kills them at the end.
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.0 != 0 {
            procs::signal(self.0, Sig::Term);
        }
    }
}

/// An agent started under its supervisor, not yet waited for.
pub struct Started {
    child: tokio::process::Child,
    /// The supervisor's pid (also its process group).
    pub pid: u32,
    status_file: PathBuf,
    _status_dir: tempfile::TempDir,
    stdin: String,
    started_at: chrono::DateTime<chrono::Utc>,
    start: Instant,
    result_file: Option<PathBuf>,
}

/// Start `inv` in `cwd` under a supervisor (`git-okr __okr-supervise`), synchronously, so
/// the caller knows the supervisor's pid before anything else can happen.
pub fn start(inv: &Invocation, cwd: &Path) -> std::result::Result<Started, String> {
    let started_at = chrono::Utc::now();
    let start = Instant::now();
    let exe = std::env::current_exe().map_err(|e| format!("finding git-okr itself: {e}"))?;
    let status_dir = tempfile::tempdir().map_err(|e| format!("creating a status folder: {e}"))?;
    let status_file = status_dir.path().join("status");
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg(SUPERVISE_ARG)
        .arg(std::process::id().to_string())
        .arg(&status_file)
        .arg(GRACE.as_millis().to_string())
        .arg("--")
        .arg(&inv.program)
        .args(&inv.args)
        .current_dir(cwd)
        // The agent's repository is the one its directory is in, never one named by the
        // caller's environment (a GIT_INDEX_FILE would point at the person's index).
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_COMMON_DIR")
        .env_remove("GIT_PREFIX")
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C at the terminal reaches git-okr, which stops
        // the agents in order, instead of killing them half-way.
        .process_group(0);
    let child = cmd
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", inv.program.display()))?;
    let pid = child.id().unwrap_or(0);
    Ok(Started {
        child,
        pid,
        status_file,
        _status_dir: status_dir,
        stdin: inv.stdin.clone(),
        started_at,
        start,
        result_file: inv.result_file.clone(),
    })
}

/// Run `inv` in `cwd` until it exits, the timeout passes, or `cancel` turns true.
pub async fn exec(
    inv: Invocation,
    cwd: PathBuf,
    timeout: Duration,
    cap: usize,
    inspector: Inspector,
    cancel: watch::Receiver<bool>,
) -> AgentOutcome {
    if *cancel.borrow() {
        return not_run(End::Cancelled, &inv, cap, inspector);
    }
    match start(&inv, &cwd) {
        Ok(started) => finish(started, timeout, cap, inspector, cancel, None).await,
        Err(e) => not_run(End::SpawnFailed(e), &inv, cap, inspector),
    }
}

/// The outcome of an agent that never started.
pub fn not_run(end: End, inv: &Invocation, cap: usize, inspector: Inspector) -> AgentOutcome {
    AgentOutcome {
        started_at: chrono::Utc::now(),
        duration: Duration::ZERO,
        end,
        stdout: Tail::new(cap),
        stderr: Tail::new(cap),
        transcript: Tail::new(cap),
        inspector,
        result_file: inv
            .result_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok()),
    }
}

/// Wait for a started agent until it exits, the timeout passes, or `cancel` turns true.
pub async fn finish(
    started: Started,
    timeout: Duration,
    cap: usize,
    mut inspector: Inspector,
    mut cancel: watch::Receiver<bool>,
    tap: Option<OutputTap>,
) -> AgentOutcome {
    let Started {
        mut child,
        pid,
        status_file,
        _status_dir,
        stdin: prompt,
        started_at,
        start,
        result_file,
    } = started;
    let guard = StopOnDrop(pid);
    if let Some(mut stdin) = child.stdin.take() {
        // An agent that never reads stdin must not block us: write from a task, ignore EPIPE.
        tokio::spawn(async move {
            let _ = stdin.write_all(prompt.as_bytes()).await;
            let _ = stdin.shutdown().await;
        });
    }
    let shared = Shared {
        transcript: Arc::new(Mutex::new(Tail::new(cap))),
        tap,
    };
    let out_reader = child.stdout.take().map(|s| {
        let insp = std::mem::replace(&mut inspector, Inspector::None);
        tokio::spawn(read_stream(s, cap, insp, shared.clone()))
    });
    let err_reader = child
        .stderr
        .take()
        .map(|s| tokio::spawn(read_stream(s, cap, Inspector::None, shared.clone())));

    let stopped = tokio::select! {
        status = child.wait() => Err(status),
        _ = tokio::time::sleep(timeout) => Ok(End::TimedOut),
        _ = wait_cancel(&mut cancel) => Ok(End::Cancelled),
    };
    let end = match stopped {
        Ok(why) => {
            stop(&mut child, pid).await;
            why
        }
        Err(status) => match status {
            Ok(s) => supervised_end(&status_file, s),
            Err(e) => End::SpawnFailed(format!("waiting for the agent: {e}")),
        },
    };
    // The supervisor is gone, and with it every process of the agent: the pipes end.
    drop(guard);
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
    let transcript = shared
        .transcript
        .lock()
        .map(|t| t.clone())
        .unwrap_or_else(|_| Tail::new(cap));
    AgentOutcome {
        started_at,
        duration: start.elapsed(),
        end,
        stdout,
        stderr,
        transcript,
        inspector: insp,
        result_file: result_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok()),
    }
}

/// How the agent ended, from its supervisor's status file (else from the supervisor).
fn supervised_end(status_file: &Path, supervisor: std::process::ExitStatus) -> End {
    let written = std::fs::read_to_string(status_file)
        .ok()
        .and_then(|t| read_status(&t));
    match written {
        Some(Ended::Exited(code)) => End::Exited(code),
        Some(Ended::Signaled(sig)) => End::Signaled(sig),
        Some(Ended::SpawnError(e)) => End::SpawnFailed(e),
        None => match exit_end(supervisor) {
            End::Signaled(sig) => End::Signaled(sig),
            other => End::SpawnFailed(format!(
                "the agent's supervisor ended without a status ({other:?})"
            )),
        },
    }
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

/// SIGTERM to the supervisor (it stops the agent's whole tree: SIGTERM, SIGKILL after the
/// grace period); if it is not gone soon after that, SIGKILL to its group.
async fn stop(child: &mut tokio::process::Child, pid: u32) {
    procs::signal(pid, Sig::Term);
    if tokio::time::timeout(GRACE + SUPERVISOR_SLACK, child.wait())
        .await
        .is_err()
    {
        procs::signal_group(pid, Sig::Kill);
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

/// Called with each complete line of an agent's output (stdout and stderr), as it comes;
/// for live views. Lines are cut at [`TAP_LINE_MAX`] bytes.
pub type OutputTap = Arc<dyn Fn(&str) + Send + Sync>;

/// Longest line handed to an [`OutputTap`].
pub const TAP_LINE_MAX: usize = 4096;

/// What every reader of one agent shares: the interleaved transcript and the tap.
#[derive(Clone)]
struct Shared {
    transcript: Arc<Mutex<Tail>>,
    tap: Option<OutputTap>,
}

async fn read_stream(
    mut stream: impl AsyncRead + Unpin,
    cap: usize,
    mut inspector: Inspector,
    shared: Shared,
) -> (Tail, Inspector) {
    let mut tail = Tail::new(cap);
    let mut buf = vec![0u8; 64 * 1024];
    let mut line: Vec<u8> = Vec::new();
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.push(&buf[..n]);
                inspector.feed(&buf[..n]);
                if let Ok(mut t) = shared.transcript.lock() {
                    t.push(&buf[..n]);
                }
                if let Some(tap) = &shared.tap {
                    split_lines(&mut line, &buf[..n], |l| tap(l));
                }
            }
        }
    }
    if let (Some(tap), false) = (&shared.tap, line.is_empty()) {
        tap(&String::from_utf8_lossy(&line));
    }
    inspector.finish();
    (tail, inspector)
}

/// Complete lines of `chunk` (after what `pending` holds) to `each`; the rest stays pending.
fn split_lines(pending: &mut Vec<u8>, chunk: &[u8], mut each: impl FnMut(&str)) {
    let mut rest = chunk;
    while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
        let room = TAP_LINE_MAX.saturating_sub(pending.len());
        pending.extend_from_slice(&rest[..pos.min(room)]);
        let text = String::from_utf8_lossy(pending);
        each(text.trim_end_matches('\r'));
        pending.clear();
        rest = &rest[pos + 1..];
    }
    let room = TAP_LINE_MAX.saturating_sub(pending.len());
    pending.extend_from_slice(&rest[..rest.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_across_chunks_and_cut() {
        let mut pending = Vec::new();
        let mut seen = Vec::new();
        split_lines(&mut pending, b"one\ntw", |l| seen.push(l.to_string()));
        split_lines(&mut pending, b"o\r\nthree", |l| seen.push(l.to_string()));
        assert_eq!(seen, ["one", "two"]);
        assert_eq!(pending, b"three");
        let long = vec![b'x'; TAP_LINE_MAX * 2];
        let mut pending = Vec::new();
        let mut lens = Vec::new();
        split_lines(&mut pending, &long, |l| lens.push(l.len()));
        split_lines(&mut pending, b"\n", |l| lens.push(l.len()));
        assert_eq!(lens, [TAP_LINE_MAX]);
    }

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
