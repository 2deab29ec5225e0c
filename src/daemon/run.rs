//! `git okr daemon run`: a tokio scheduler that runs due jobs one at a time.
//!
//! A job is due when a scheduled time has passed since its last run in this clone
//! (or, never run, since it was scheduled). Missed times collapse into one run, so a
//! daemon started after a night off catches up once. Jobs are re-read from the state
//! ref whenever its tip moves, so schedule changes apply without a restart. Last runs
//! live in `.git/okr/daemon-state.json` (per clone: two machines each run their jobs).

use super::lock::DaemonLock;
use super::notify::{self, Notice};
use super::{compile, Checker, Commands, Scheduled};
use crate::model::jobs::{Jobs, JOBS_FILE};
use crate::store::Store;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const LOG_FILE: &str = "daemon.log";
pub const STATE_FILE: &str = "daemon-state.json";

/// The longest the scheduler sleeps before looking at the ref and the clock again.
const TICK: Duration = Duration::from_secs(1);

pub struct Options {
    /// Run what is due now, then exit.
    pub once: bool,
    /// The binary a job runs (this one).
    pub exe: PathBuf,
    /// The repository a job runs in (`-C`).
    pub repo: PathBuf,
    /// Show desktop notifications (else only log them).
    pub notify: bool,
    /// Run jobs that start coding agents (`okr.daemon.allowAgents`). Jobs come from the shared
    /// ref, so a teammate's schedule must not start agents on this machine unless its owner
    /// said so locally.
    pub allow_agents: bool,
    /// The remotes configured in this clone: the only ones a shared schedule may sync with.
    pub remotes: Vec<String>,
    /// This build's command tree, which job arguments are parsed with.
    pub commands: Commands,
}

impl Options {
    fn checker(&self) -> Checker<'_> {
        Checker {
            commands: &self.commands,
            remotes: Some(&self.remotes),
        }
    }
}

/// What this clone remembers of each job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobState {
    /// The job's `created_at` when this was recorded: a new job with a reused id starts afresh.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When this clone first saw a job that says nothing of when it was scheduled.
    #[serde(default)]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_run: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_exit: Option<i32>,
    #[serde(default)]
    pub last_duration_ms: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DaemonState {
    #[serde(default)]
    pub jobs: BTreeMap<String, JobState>,
}

impl DaemonState {
    /// The saved state; a missing or damaged file is an empty state (it is only a memory).
    pub fn load(okr_dir: &Path) -> DaemonState {
        std::fs::read_to_string(okr_dir.join(STATE_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, okr_dir: &Path) -> Result<()> {
        let path = okr_dir.join(STATE_FILE);
        let mut tmp = tempfile::NamedTempFile::new_in(okr_dir)?;
        tmp.write_all((serde_json::to_string_pretty(self)? + "\n").as_bytes())?;
        tmp.persist(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// This clone's record of `s`, if it is about the same job.
    pub fn of(&self, s: &Scheduled) -> Option<&JobState> {
        self.jobs
            .get(&s.job.id)
            .filter(|st| st.created_at == s.job.created_at)
    }

    /// The time after which the next scheduled time makes the job due.
    pub fn reference(&self, s: &Scheduled) -> Option<DateTime<Utc>> {
        let st = self.of(s);
        st.and_then(|st| st.last_run)
            .or_else(|| {
                s.job
                    .created_at
                    .as_deref()
                    .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                    .map(|t| t.with_timezone(&Utc))
            })
            .or_else(|| st.and_then(|st| st.first_seen))
    }

    /// When `s` runs next: possibly in the past, meaning it is due now.
    pub fn next_run(&self, s: &Scheduled, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        s.cron.next_after(self.reference(s).unwrap_or(now), &s.zone)
    }

    fn entry(&mut self, s: &Scheduled) -> &mut JobState {
        let st = self.jobs.entry(s.job.id.clone()).or_default();
        if st.created_at != s.job.created_at {
            *st = JobState {
                created_at: s.job.created_at.clone(),
                ..JobState::default()
            };
        }
        st
    }
}

/// Lines to `.git/okr/daemon.log` and stderr.
pub struct Logger {
    file: Option<std::fs::File>,
}

impl Logger {
    pub fn open(path: &Path) -> Logger {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Err(e) = &file {
            eprintln!("git-okr daemon: cannot write {}: {e}", path.display());
        }
        Logger { file: file.ok() }
    }

    pub fn log(&mut self, msg: impl AsRef<str>) {
        let line = format!(
            "{} {}\n",
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            msg.as_ref()
        );
        eprint!("{line}");
        if let Some(f) = &mut self.file {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Take the lock and run the scheduler until a signal (or, with `once`, until what is due ran).
pub fn run(store: &Store, opts: Options) -> Result<()> {
    let okr_dir = store.okr_dir()?;
    let okr_dir = okr_dir.canonicalize().unwrap_or(okr_dir);
    let _lock = DaemonLock::acquire(&okr_dir)?;
    let mut log = Logger::open(&okr_dir.join(LOG_FILE));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(scheduler(store, &okr_dir, &opts, &mut log))
}

async fn scheduler(store: &Store, okr_dir: &Path, opts: &Options, log: &mut Logger) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        let _ = stop_tx.send(true);
        name
    });
    log.log(format!(
        "daemon started (pid {}) for {}{}",
        std::process::id(),
        opts.repo.display(),
        if opts.once { ", once" } else { "" }
    ));
    let mut state = DaemonState::load(okr_dir);
    let mut loaded: Option<(Option<gix::ObjectId>, Vec<Scheduled>)> = None;
    let mut ran = 0usize;
    while !*stop.borrow() {
        let tip = match store.tip() {
            Ok(tip) => tip,
            Err(e) => {
                log.log(format!("cannot read refs/okr/state: {e:#}; retrying"));
                tokio::select! { _ = tokio::time::sleep(TICK) => {}, _ = stop.changed() => {} }
                continue;
            }
        };
        if loaded.as_ref().map(|(t, _)| *t) != Some(tip) {
            let previous = loaded.take().map(|(_, jobs)| jobs).unwrap_or_default();
            let jobs = load_jobs(store, tip, previous, &opts.checker(), log);
            let now = Utc::now();
            for s in &jobs {
                if state.reference(s).is_none() {
                    state.entry(s).first_seen = Some(now);
                }
            }
            let _ = state.save(okr_dir);
            loaded = Some((tip, jobs));
        }
        let jobs = &loaded.as_ref().expect("loaded above").1;
        let now = Utc::now();
        let mut due: Vec<(DateTime<Utc>, &Scheduled)> = jobs
            .iter()
            .filter_map(|s| state.next_run(s, now).filter(|t| *t <= now).map(|t| (t, s)))
            .collect();
        due.sort_by_key(|(t, _)| *t);
        for (_, s) in due {
            if *stop.borrow() {
                break;
            }
            run_job(s, opts, &mut state, log).await;
            ran += 1;
            if let Err(e) = state.save(okr_dir) {
                log.log(format!("{e:#}"));
            }
        }
        if opts.once {
            break;
        }
        // Wake for the next job, but at least every TICK to see schedule changes.
        let now = Utc::now();
        let wait = jobs
            .iter()
            .filter_map(|s| state.next_run(s, now))
            .min()
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(TICK)
            .min(TICK);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
    let why = if *stop.borrow() {
        "on signal"
    } else {
        "after running what was due"
    };
    log.log(format!(
        "daemon stopped {why} ({ran} job run{})",
        if ran == 1 { "" } else { "s" }
    ));
    Ok(())
}

/// The jobs on the ref at `tip`. A broken file keeps the previous schedule; a job this
/// build cannot run is skipped (logged) while the others go on.
fn load_jobs(
    store: &Store,
    tip: Option<gix::ObjectId>,
    previous: Vec<Scheduled>,
    checker: &Checker<'_>,
    log: &mut Logger,
) -> Vec<Scheduled> {
    let text = store
        .snapshot_at(tip)
        .and_then(|snap| snap.read_text(JOBS_FILE));
    let jobs = match text.and_then(|t| Jobs::parse(JOBS_FILE, &t.unwrap_or_default())) {
        Ok(jobs) => jobs,
        Err(e) => {
            log.log(format!("{e:#}; keeping the previous schedule"));
            return previous;
        }
    };
    let mut out = Vec::new();
    for job in &jobs.jobs {
        match compile(job, checker) {
            Ok(s) => out.push(s),
            Err(e) => log.log(format!("job {} skipped: {e:#}", job.id)),
        }
    }
    let same =
        out.len() == previous.len() && out.iter().zip(&previous).all(|(a, b)| a.job == b.job);
    if !same {
        log.log(format!(
            "schedule: {}",
            if out.is_empty() {
                "no jobs".to_string()
            } else {
                out.iter()
                    .map(|s| format!("{} {} `{}`", s.job.id, s.job.job, s.job.cron))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        ));
    }
    out
}

/// Run one job to its end (a signal waits for it), record it, log it and notify.
async fn run_job(s: &Scheduled, opts: &Options, state: &mut DaemonState, log: &mut Logger) {
    let started_at = Utc::now();
    state.entry(s).last_run = Some(started_at);
    if s.kind.starts_agents(&s.job.args) && !opts.allow_agents {
        log.log(format!(
            "job {} ({}) skipped: it starts coding agents, which the daemon runs only after \
             `git config okr.daemon.allowAgents true` in this clone",
            s.job.id, s.job.job
        ));
        return;
    }
    // Checked again right before it runs (this clone's remotes may have changed since the
    // schedule was read), and run with the argument list rebuilt by that check.
    let argv = match compile(&s.job, &opts.checker()) {
        Ok(checked) => checked.argv,
        Err(e) => {
            log.log(format!("job {} ({}) refused: {e:#}", s.job.id, s.job.job));
            return;
        }
    };
    log.log(format!(
        "job {} ({}) runs: git okr {}",
        s.job.id,
        s.job.job,
        argv.join(" ")
    ));
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(&opts.exe);
    cmd.arg("-C")
        .arg(&opts.repo)
        .args(&argv)
        .env(crate::env_vars::DAEMON_JOB, &s.job.id)
        .stdin(Stdio::null())
        // Its own process group: a Ctrl-C at the terminal stops the daemon after the job,
        // not the job in the middle.
        .process_group(0);
    let output = cmd.output().await;
    let ms = started.elapsed().as_millis() as u64;
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            log.log(format!(
                "job {} ({}) could not start {}: {e}",
                s.job.id,
                s.job.job,
                opts.exe.display()
            ));
            let st = state.entry(s);
            st.last_exit = Some(-1);
            st.last_duration_ms = Some(ms);
            return;
        }
    };
    let code = output.status.code().unwrap_or(-1);
    let st = state.entry(s);
    st.last_exit = Some(code);
    st.last_duration_ms = Some(ms);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = summarize(s.kind.name, &stdout);
    if output.status.success() {
        log.log(format!(
            "job {} ({}) done in {ms} ms{summary}",
            s.job.id, s.job.job
        ));
    } else {
        log.log(format!(
            "job {} ({}) failed in {ms} ms (exit {code}){summary}",
            s.job.id, s.job.job
        ));
        for line in stderr.lines().filter(|l| !l.trim().is_empty()).take(20) {
            log.log(format!("  {line}"));
        }
    }
    let notices: Vec<Notice> = match s.kind.name {
        "kr_measure" if output.status.success() => notify::from_measure(&stdout),
        "plan_run" => vec![notify::from_plan_run(
            output.status.success(),
            if output.status.success() {
                &stdout
            } else {
                &stderr
            },
        )],
        _ => Vec::new(),
    };
    for notice in notices {
        let shown = if opts.notify {
            let n = notice.clone();
            tokio::task::spawn_blocking(move || notify::show(&n))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        } else {
            Err("notifications are off (okr.daemon.notify)".into())
        };
        match shown {
            Ok(()) => log.log(format!("notice: {}: {}", notice.summary, notice.body)),
            Err(why) => log.log(format!(
                "notice: {}: {} (not shown: {why})",
                notice.summary, notice.body
            )),
        }
    }
}

/// A few words on what a measurement did, from its JSON output.
fn summarize(job: &str, stdout: &str) -> String {
    if job != "kr_measure" {
        return String::new();
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stdout) else {
        return String::new();
    };
    let changes = v["status_changes"].as_array().map_or(0, Vec::len);
    if v["committed"].as_bool() == Some(true) {
        format!(
            ": wrote {} ({changes} status change{})",
            v["snapshot"].as_str().unwrap_or("a snapshot"),
            if changes == 1 { "" } else { "s" }
        )
    } else {
        ": no change, nothing committed".into()
    }
}
