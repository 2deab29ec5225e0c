//! `git okr daemon run`: a tokio scheduler that runs due jobs one at a time.
//!
//! A job is due when a scheduled time has passed since its last run in this clone
//! (or, never run, since it was scheduled). Missed times collapse into one run, so a
//! daemon started after a night off catches up once. Jobs are re-read from the state
//! ref whenever its tip moves, so schedule changes apply without a restart. Last runs
//! live in `.git/okr/daemon-state.json` (per clone: two machines each run their jobs).

use super::events::{self, Fired};
use super::lock::DaemonLock;
use super::notify::{self, Notice};
use super::queue::{self, Queued};
use super::watch::{self, Watch};
use super::{compile, Checker, Commands, Scheduled};
use crate::audit::journal::{self, Entry};
use crate::model::jobs::{Event, Job, Jobs, JOBS_FILE};
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

/// The longest the scheduler sleeps before looking at the refs and the clock again when
/// file events tell it when to look (else it looks every second, see `watch`).
const SAFETY_TICK: Duration = Duration::from_secs(30);

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
    /// This clone's identity (`Okr-Clone`): its id first, then who and where.
    pub clone: String,
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
    /// `done`, `failed`, `skipped: why`, `refused: why`.
    #[serde(default)]
    pub last_outcome: Option<String>,
    /// Why it last ran (`cron …`, `event …`, `enqueued by …`).
    #[serde(default)]
    pub last_trigger: Option<String>,
    /// The last error it ended with (first lines of its stderr).
    #[serde(default)]
    pub last_error: Option<String>,
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
        s.cron
            .as_ref()?
            .next_after(self.reference(s).unwrap_or(now), &s.zone)
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

/// A run waiting its turn, and why it runs.
struct Pending {
    job: Job,
    trigger: String,
    /// The queue file to remove once it ran.
    queued: Option<PathBuf>,
}

/// Where the refs stood when the daemon last looked.
#[derive(Clone, PartialEq)]
struct Seen {
    state: Option<gix::ObjectId>,
    branch: Option<(String, gix::ObjectId)>,
}

fn look(store: &Store) -> Result<Seen> {
    Ok(Seen {
        state: store.tip()?,
        branch: events::measured_branch(store),
    })
}

fn short(id: Option<gix::ObjectId>) -> String {
    id.map(|i| i.to_hex_with_len(7).to_string())
        .unwrap_or_else(|| "0000000".into())
}

/// The scheduler's working memory.
struct Daemon<'a> {
    store: &'a Store,
    okr_dir: &'a Path,
    opts: &'a Options,
    state: DaemonState,
    jobs: Vec<Scheduled>,
    seen: Option<Seen>,
    pending: Vec<Pending>,
    ran: usize,
}

impl Daemon<'_> {
    fn journal(&self, log: &mut Logger, entry: Entry) {
        if let Err(e) = journal::record(self.store, &entry) {
            log.log(format!("cannot write the journal: {e:#}"));
        }
    }

    /// Read the refs; reload the schedule if the state moved; queue the jobs its events
    /// (and a move of the measured branch) trigger.
    fn observe(&mut self, log: &mut Logger) {
        let now = match look(self.store) {
            Ok(s) => s,
            Err(e) => {
                log.log(format!("cannot read refs/okr/state: {e:#}; retrying"));
                return;
            }
        };
        let Some(before) = self.seen.replace(now.clone()) else {
            self.reload(now.state, log);
            return;
        };
        if before == now {
            return;
        }
        let mut fired: Vec<(Fired, String)> = Vec::new();
        if before.state != now.state {
            self.reload(now.state, log);
            let range = format!(
                "refs/okr/state {}..{}",
                short(before.state),
                short(now.state)
            );
            match events::state_moved(self.store, before.state, now.state, &self.opts.clone_id()) {
                Ok(list) => fired.extend(list.into_iter().map(|f| (f, range.clone()))),
                Err(e) => log.log(format!("cannot tell what changed in {range}: {e:#}")),
            }
        }
        if before.branch != now.branch {
            if let Some((name, id)) = &now.branch {
                let old = before.branch.as_ref().map(|(_, id)| *id);
                fired.push((
                    Fired {
                        event: Event::BranchMoved,
                        by_job: None,
                    },
                    format!("{name} {}..{}", short(old), short(Some(*id))),
                ));
            }
        }
        if self.opts.once {
            return;
        }
        for s in &self.jobs {
            for (f, range) in &fired {
                let mine = f.by_job.as_deref() == Some(s.job.id.as_str());
                if !s.job.on.contains(&f.event) || mine {
                    continue;
                }
                if self.pending.iter().any(|p| p.job.id == s.job.id) {
                    continue;
                }
                self.pending.push(Pending {
                    job: s.job.clone(),
                    trigger: format!("event {} {range}", f.event.as_str()),
                    queued: None,
                });
            }
        }
    }

    fn reload(&mut self, tip: Option<gix::ObjectId>, log: &mut Logger) {
        let previous = std::mem::take(&mut self.jobs);
        self.jobs = load_jobs(self.store, tip, previous, &self.opts.checker(), log);
        let now = Utc::now();
        for s in &self.jobs {
            if self.state.reference(s).is_none() {
                self.state.entry(s).first_seen = Some(now);
            }
        }
        let _ = self.state.save(self.okr_dir);
    }

    /// Cron jobs whose time has come, and enqueued runs that are due.
    fn collect_due(&mut self, log: &mut Logger) {
        let now = Utc::now();
        let mut due: Vec<(DateTime<Utc>, Pending)> = self
            .jobs
            .iter()
            .filter(|s| !self.pending.iter().any(|p| p.job.id == s.job.id))
            .filter_map(|s| {
                let t = self.state.next_run(s, now).filter(|t| *t <= now)?;
                let cron = s.job.cron.clone().unwrap_or_default();
                Some((
                    t,
                    Pending {
                        job: s.job.clone(),
                        trigger: format!("cron {cron}"),
                        queued: None,
                    },
                ))
            })
            .collect();
        due.sort_by_key(|(t, _)| *t);
        self.pending.extend(due.into_iter().map(|(_, p)| p));
        for (path, item) in queue::list(self.okr_dir) {
            if self
                .pending
                .iter()
                .any(|p| p.queued.as_ref() == Some(&path))
            {
                continue;
            }
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    log.log(format!(
                        "queued run {} unreadable ({e}); removed",
                        path.display()
                    ));
                    queue::remove(&path);
                    continue;
                }
            };
            if item.at.is_some_and(|at| at > now) {
                continue;
            }
            let job = self.queued_job(&item, &path);
            self.pending.push(Pending {
                job,
                trigger: format!("enqueued by {}", item.by),
                queued: Some(path),
            });
        }
    }

    /// The job an enqueued run means: a scheduled job by id, else a kind with arguments.
    fn queued_job(&self, item: &Queued, path: &Path) -> Job {
        if let Some(s) = self.jobs.iter().find(|s| s.job.id == item.job) {
            return s.job.clone();
        }
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Job {
            id: format!("enqueued-{}", name.rsplit('-').next().unwrap_or("run")),
            job: item.job.clone(),
            cron: None,
            on: Vec::new(),
            tz: None,
            args: item.args.clone(),
            created_at: Some(
                item.enqueued_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            created_by: Some(item.by.clone()),
        }
    }

    /// When the scheduler must look again at the latest, whatever happens.
    fn next_wake(&self) -> Duration {
        let now = Utc::now();
        let cron = self
            .jobs
            .iter()
            .filter_map(|s| self.state.next_run(s, now))
            .min();
        let queued = queue::list(self.okr_dir)
            .into_iter()
            .filter_map(|(_, q)| q.ok()?.at)
            .min();
        [cron, queued]
            .into_iter()
            .flatten()
            .min()
            .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(SAFETY_TICK)
            .min(SAFETY_TICK)
    }
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
    let queue_dir = queue::dir(okr_dir);
    let _ = std::fs::create_dir_all(&queue_dir);
    let repo = store.repo();
    let mut watcher = if opts.once {
        None
    } else {
        Some(Watch::start(&watch::paths(
            repo.git_dir(),
            repo.common_dir(),
            &queue_dir,
        )))
    };
    let how = match watcher.as_ref().and_then(|w| w.fallback.clone()) {
        Some(why) => format!("; looking at the refs every second ({why})"),
        None if opts.once => String::new(),
        None => "; watching the refs".to_string(),
    };
    log.log(format!(
        "daemon started (pid {}) for {}{}{how}",
        std::process::id(),
        opts.repo.display(),
        if opts.once { ", once" } else { "" }
    ));
    let mut d = Daemon {
        store,
        okr_dir,
        opts,
        state: DaemonState::load(okr_dir),
        jobs: Vec::new(),
        seen: None,
        pending: Vec::new(),
        ran: 0,
    };
    d.journal(
        log,
        Entry::now(
            "daemon",
            "daemon",
            "started",
            None,
            format!(
                "pid {}{}",
                std::process::id(),
                if opts.once { ", once" } else { "" }
            ),
        ),
    );
    d.observe(log);
    if !opts.once && d.jobs.is_empty() {
        log.log(
            "no jobs scheduled yet: add one with `git okr daemon schedule --cron \"0 2 * * *\" --job kr_measure` \
             (or `--on metrics_recorded`); the daemon picks it up without a restart",
        );
    }
    let mut collected = false;
    while !*stop.borrow() {
        d.observe(log);
        // `--once` runs what was due when it started, nothing that falls due meanwhile.
        if !(opts.once && collected) {
            d.collect_due(log);
            collected = true;
        }
        if let Some(p) = (!d.pending.is_empty()).then(|| d.pending.remove(0)) {
            run_pending(&mut d, p, log).await;
            continue;
        }
        if opts.once {
            break;
        }
        let wait = d.next_wake();
        if let Some(w) = watcher.as_mut() {
            tokio::select! {
                _ = w.wait(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }
    let why = if *stop.borrow() {
        "on signal"
    } else {
        "after running what was due"
    };
    let ran = d.ran;
    let line = format!(
        "daemon stopped {why} ({ran} job run{})",
        if ran == 1 { "" } else { "s" }
    );
    log.log(&line);
    d.journal(log, Entry::now("daemon", "daemon", "stopped", None, line));
    Ok(())
}

/// Run one pending job to its end (a signal waits for it), then record everything.
async fn run_pending(d: &mut Daemon<'_>, p: Pending, log: &mut Logger) {
    let okr_dir = d.okr_dir;
    let mut unshown = Vec::new();
    let outcome = run_job(&p.job, &p.trigger, d.opts, &mut d.state, log, &mut unshown).await;
    d.ran += 1;
    // A notice nobody saw (no desktop, notifications off) is said in the journal.
    for notice in unshown {
        d.journal(
            log,
            Entry::now("daemon", "notify", "not-shown", Some(&p.job.id), notice),
        );
    }
    let (kind, detail) = match &outcome {
        Outcome::Done(ms) => (
            "finished",
            format!("{} in {ms} ms ({})", p.job.job, p.trigger),
        ),
        Outcome::Failed(code, why) => (
            "failed",
            format!("{} exit {code} ({}): {why}", p.job.job, p.trigger),
        ),
        Outcome::Skipped(why) => ("skipped", format!("{} ({}): {why}", p.job.job, p.trigger)),
    };
    d.journal(
        log,
        Entry::now("daemon", "job", kind, Some(&p.job.id), detail),
    );
    if let Some(path) = &p.queued {
        queue::remove(path);
    }
    if let Err(e) = d.state.save(okr_dir) {
        log.log(format!("{e:#}"));
    }
    // What the job committed is looked at now, so its own commit is told apart.
    d.observe(log);
}

/// How a run ended.
enum Outcome {
    Done(u64),
    Failed(i32, String),
    Skipped(String),
}

impl Options {
    fn clone_id(&self) -> String {
        self.clone
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }
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
                    .map(|s| format!("{} {} {}", s.job.id, s.job.job, super::when(&s.job)))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        ));
    }
    out
}

/// Run one job to its end (a signal waits for it), record it, log it and notify.
async fn run_job(
    job: &Job,
    trigger: &str,
    opts: &Options,
    state: &mut DaemonState,
    log: &mut Logger,
    unshown: &mut Vec<String>,
) -> Outcome {
    let started_at = Utc::now();
    // Checked again right before it runs (this clone's remotes may have changed since the
    // schedule was read), and run with the argument list rebuilt by that check.
    let s = match compile(job, &opts.checker()) {
        Ok(checked) => checked,
        Err(e) => {
            let why = format!("refused: {e:#}");
            log.log(format!("job {} ({}) {why}", job.id, job.job));
            let st = state.jobs.entry(job.id.clone()).or_default();
            st.last_run = Some(started_at);
            st.last_outcome = Some(why.clone());
            st.last_trigger = Some(trigger.to_string());
            return Outcome::Skipped(why);
        }
    };
    let st = state.entry(&s);
    st.last_run = Some(started_at);
    st.last_trigger = Some(trigger.to_string());
    if s.kind.starts_agents(&s.job.args) && !opts.allow_agents {
        let why = "it starts coding agents, which the daemon runs only after \
                   `git config okr.daemon.allowAgents true` in this clone";
        log.log(format!("job {} ({}) skipped: {why}", s.job.id, s.job.job));
        state.entry(&s).last_outcome = Some(format!("skipped: {why}"));
        return Outcome::Skipped(why.to_string());
    }
    let argv = s.argv.clone();
    log.log(format!(
        "job {} ({}) runs ({trigger}): git okr {}",
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
        .env(crate::env_vars::DAEMON_TRIGGER, trigger)
        .env(crate::env_vars::DAEMON_CLONE, &opts.clone)
        // A job acts as the daemon, never as an agent named in the daemon's environment.
        .env_remove("OKR_AGENT")
        .stdin(Stdio::null())
        // Its own process group: a Ctrl-C at the terminal stops the daemon after the job,
        // not the job in the middle.
        .process_group(0);
    let output = cmd.output().await;
    let ms = started.elapsed().as_millis() as u64;
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            let why = format!("could not start {}: {e}", opts.exe.display());
            log.log(format!("job {} ({}) {why}", s.job.id, s.job.job));
            let st = state.entry(&s);
            st.last_exit = Some(-1);
            st.last_duration_ms = Some(ms);
            st.last_outcome = Some("failed".into());
            st.last_error = Some(why.clone());
            return Outcome::Failed(-1, why);
        }
    };
    let code = output.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = summarize(s.kind.name, &stdout);
    let st = state.entry(&s);
    st.last_exit = Some(code);
    st.last_duration_ms = Some(ms);
    let outcome = if output.status.success() {
        st.last_outcome = Some("done".into());
        log.log(format!(
            "job {} ({}) done in {ms} ms{summary}",
            s.job.id, s.job.job
        ));
        Outcome::Done(ms)
    } else {
        let first: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        st.last_outcome = Some("failed".into());
        st.last_error = Some(first.join(" / "));
        log.log(format!(
            "job {} ({}) failed in {ms} ms (exit {code}){summary}",
            s.job.id, s.job.job
        ));
        for line in stderr.lines().filter(|l| !l.trim().is_empty()).take(20) {
            log.log(format!("  {line}"));
        }
        Outcome::Failed(code, first.join(" / "))
    };
    let notices: Vec<Notice> = match s.kind.name {
        "kr_measure" if output.status.success() => notify::from_measure(&stdout),
        "checkin_reminder" if output.status.success() => notify::from_stale(&stdout),
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
            Err(why) => {
                let line = format!("{}: {} (not shown: {why})", notice.summary, notice.body);
                log.log(format!("notice: {line}"));
                unshown.push(line);
            }
        }
    }
    outcome
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
