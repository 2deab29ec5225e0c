//! `git okr plan run`: each task of a plan as a child process of an adapter, in a git
//! worktree of its own (or in place), then ONE state commit with the run's result and
//! each task's prompt, report and capped transcript, and a desktop notification.

use super::adapters::{self, Adapter};
use super::catalog::{self, RunEntry};
use super::exec::{self, AgentOutcome, Cancel, End};
use super::guard::{self, WorkTreeOkrs};
use super::invocation::Invocation;
use super::new_id;
use super::procs;
use super::prompt::task_prompt;
use super::worktree;
use crate::ctx::require_initialized;
use crate::ctx::Ctx;
use crate::daemon::notify::{self, Notice};
use crate::measure::latest_values;
use crate::model::plan::{
    agent_name, parse_report, run_dir, BranchInfo, LogInfo, Measured, Plan, RunResult, RunStatus,
    Task, TaskResult, TaskStatus, Violation, PLANS_DIR, REPORT_SCHEMA,
};
use crate::store::{Changes, Commit, Snapshot, Step};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

pub const DEFAULT_TIMEOUT_SECS: u64 = 1800;

/// Largest prompt kept with a task (`prompt.md`); a longer one is cut with a note.
pub const MAX_PROMPT_BYTES: usize = 256 * 1024;

/// How many bytes of a bad report are quoted in the task's reason.
const REPORT_QUOTE: usize = 200;

/// What `plan run` is asked for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// A plan id or its state path (`plans/YYYY-MM-DD/<id>.json`).
    pub plan: String,
    /// The agent to run the tasks with (none: `okr.adapter.default`, else codex).
    pub adapter: Option<String>,
    /// Seconds each task may take (default: the adapter's, else `DEFAULT_TIMEOUT_SECS`).
    pub timeout: Option<u64>,
    /// How many tasks run at once (at least 1).
    pub parallel: usize,
    /// Run every agent in the person's own work tree, not in a worktree of its own.
    pub in_place: bool,
    /// Start no new task once one has failed.
    pub stop_on_failure: bool,
}

/// What happens during a run, for a live view (called from worker threads).
#[derive(Debug, Clone)]
pub enum RunEvent {
    Started {
        task_id: String,
        title: String,
        agent: String,
        /// The task's branch, unless the run is in place.
        branch: Option<String>,
    },
    /// One line of the agent's output (stdout or stderr).
    Output { task_id: String, line: String },
    Ended {
        task_id: String,
        status: TaskStatus,
        elapsed: Duration,
        reason: Option<String>,
    },
}

pub type Observer = Arc<dyn Fn(RunEvent) + Send + Sync>;

/// What the caller plugs in: a live view, and `--measure` (a measurement that records a
/// snapshot; the KR values are read from the state before the run and after it).
#[derive(Default, Clone)]
pub struct RunHooks<'a> {
    pub observer: Option<Observer>,
    pub measure: Option<&'a dyn Fn() -> Result<()>>,
}

/// A run recorded on the state: its result, where it lives, and the notice to show.
#[derive(Debug)]
pub struct RecordedRun {
    pub path: String,
    pub result: RunResult,
    pub notice: Notice,
}

pub fn run(ctx: &Ctx, args: &RunRequest, hooks: &RunHooks<'_>) -> Result<RecordedRun> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let (plan_path, plan) = find_plan(&snap, &args.plan)?;
    if plan.tasks.is_empty() {
        bail!("{plan_path}: the plan has no tasks");
    }
    plan.check_runnable(&plan_path)?;
    // Everything that can be checked is checked before the first agent starts.
    let adapter_name = args
        .adapter
        .clone()
        .unwrap_or_else(|| adapters::default_name(&ctx.store));
    let adapter = adapters::load(&ctx.store, &adapter_name)?;
    let workdir = ctx.store.repo().workdir().ok_or_else(|| {
        anyhow!("plan run needs a work tree for the agents (this repository is bare)")
    })?;
    // Absolute, so `codex -C DIR` and the agents' cwd mean the same place whatever our cwd.
    let workdir = std::fs::canonicalize(workdir)
        .with_context(|| format!("resolving the work tree {}", workdir.display()))?;
    let common_dir = std::fs::canonicalize(ctx.store.repo().common_dir())
        .context("resolving the git directory")?;
    let start_commit = if args.in_place {
        None
    } else {
        Some(worktree::start_commit(&workdir)?)
    };
    let timeout_secs = args
        .timeout
        .or(adapter.timeout)
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout_secs == 0 {
        bail!("--timeout must be at least 1 second");
    }
    let parallel = args.parallel.max(1);
    let base = snap
        .tip()
        .ok_or_else(|| anyhow!("refs/okr/state vanished"))?;
    let values_before = latest_values(&snap)?;

    let started_at = chrono::Local::now();
    let run_id = new_id("run", started_at);
    let clock = Instant::now();
    let scratch = tempfile::tempdir().context("creating a scratch folder for the agents")?;
    let setup = Setup {
        plan: &plan,
        adapter: &adapter,
        workdir: &workdir,
        common_dir: &common_dir,
        start_commit: start_commit.as_deref(),
        scratch: scratch.path(),
        run_id: &run_id,
        timeout: Duration::from_secs(timeout_secs),
        parallel,
        stop_on_failure: args.stop_on_failure,
        observer: hooks.observer.clone(),
    };
    // Tells `run clean` this run is in progress until its worktrees are gone.
    let lock = match start_commit {
        Some(_) => Some(worktree::RunLock::take(&common_dir, &run_id)?),
        None => None,
    };
    // Orphans of the agents' supervisors come to us, not to init, so none can escape.
    procs::become_subreaper().context("becoming a child subreaper")?;
    let rt = exec::runtime()?;
    let ran = rt.block_on(run_tasks(ctx, &setup, base));
    drop(rt);
    // Whatever is still below us now is left over from an agent: it goes.
    procs::kill_adopted(&BTreeSet::new());
    drop(lock);
    let mut ran = ran?;

    if let Some(measure) = hooks.measure {
        measure().context("--measure: measuring after the run")?;
        let values_after = latest_values(&ctx.store.snapshot()?)?;
        for t in &mut ran.tasks {
            let Some(kr) = plan.key_results.iter().find(|k| k.kr_id == t.kr_id) else {
                continue;
            };
            t.measured = Some(Measured {
                kr_id: kr.kr_id.clone(),
                metric_key: kr.metric_key.clone(),
                before: values_before.get(&kr.metric_key).copied().or(kr.current),
                after: values_after.get(&kr.metric_key).copied(),
            });
        }
    }

    let finished_at = chrono::Local::now();
    let all_passed = ran.tasks.iter().all(|t| t.status == TaskStatus::Passed);
    let status = if ran.cancelled {
        RunStatus::Cancelled
    } else if all_passed && ran.violations.is_empty() {
        RunStatus::Completed
    } else {
        RunStatus::Failed
    };
    let dir = run_dir(&run_id);
    let result = RunResult {
        schema_version: 1,
        run_id: run_id.clone(),
        plan_id: plan.plan_id.clone(),
        plan_path: plan_path.clone(),
        adapter: adapter.name.clone(),
        status,
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: finished_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: clock.elapsed().as_millis() as u64,
        parallel,
        timeout_secs,
        base: Some(base.to_string()),
        start_commit: start_commit.clone(),
        in_place: args.in_place,
        tasks: ran.tasks,
        violations: ran.violations,
    };
    let result_path = format!("{dir}/result.json");
    let result_text = serde_json::to_string_pretty(&result)? + "\n";
    let message = run_message(ctx, &plan, &result);
    ctx.store.transact(|_| {
        let mut changes = Changes::new();
        changes.write(result_path.clone(), result_text.clone());
        for (path, bytes) in &ran.files {
            changes.write(path.clone(), bytes.clone());
        }
        Ok(Step::Commit(Commit {
            changes,
            message: message.clone(),
            value: (),
        }))
    })?;

    let notice = notify::plan_run(
        status == RunStatus::Completed,
        format!("{} ({status}): {}", plan.plan_id, counts(&result.tasks)),
    );
    Ok(RecordedRun {
        path: result_path,
        result,
        notice,
    })
}

struct Setup<'a> {
    plan: &'a Plan,
    adapter: &'a Adapter,
    workdir: &'a Path,
    common_dir: &'a Path,
    /// The commit each task's branch starts from; `None` for `--in-place`.
    start_commit: Option<&'a str>,
    scratch: &'a Path,
    run_id: &'a str,
    timeout: Duration,
    parallel: usize,
    stop_on_failure: bool,
    observer: Option<Observer>,
}

impl Setup<'_> {
    fn emit(&self, event: RunEvent) {
        if let Some(o) = &self.observer {
            o(event);
        }
    }
}

struct Ran {
    tasks: Vec<TaskResult>,
    violations: Vec<Violation>,
    /// Files to keep on the state (path → bytes).
    files: Vec<(String, Vec<u8>)>,
    cancelled: bool,
}

/// One task made ready: who runs it, where, with what.
struct Prepared {
    index: usize,
    agent: String,
    inv: Invocation,
    /// The agent's directory: its worktree, or the person's work tree (`--in-place`).
    cwd: PathBuf,
    branch: Option<String>,
    prompt: String,
}

async fn run_tasks(ctx: &Ctx, s: &Setup<'_>, base: gix::ObjectId) -> Result<Ran> {
    // Every task's files and command line are ready before the first agent starts.
    let mut pending = s
        .plan
        .tasks
        .iter()
        .enumerate()
        .map(|(index, task)| prepare(s, index, task))
        .collect::<Result<Vec<_>>>()?
        .into_iter();
    let cancel = Cancel::on_signals()?;
    let mut accepted = base;
    let mut results: Vec<Option<TaskResult>> = vec![None; s.plan.tasks.len()];
    let mut files = Vec::new();
    let mut running = JoinSet::new();
    // The supervisors of running tasks (task index → pid): everything else below us is
    // an orphan to kill.
    let mut supervisors: BTreeMap<usize, u32> = BTreeMap::new();
    // The agents that may have proposed since the last look (index → agent name).
    let mut live_agents: BTreeMap<usize, String> = BTreeMap::new();
    // OKR files in each task's directory when it started (guardrail: agents only propose).
    let mut okr_files: BTreeMap<usize, WorkTreeOkrs> = BTreeMap::new();
    let mut prepared: BTreeMap<usize, Prepared> = BTreeMap::new();
    let mut stopped_by_failure = false;
    loop {
        while running.len() < s.parallel && !cancel.is_cancelled() && !stopped_by_failure {
            let Some(p) = pending.next() else {
                break;
            };
            let index = p.index;
            let task = &s.plan.tasks[index];
            // Started here, not in the spawned task, so its pid is known before the next
            // look for orphans.
            let started = match (&p.branch, s.start_commit) {
                (Some(branch), Some(start)) => {
                    worktree::add(s.workdir, &p.cwd, branch, start).map_err(|e| format!("{e:#}"))
                }
                _ => Ok(()),
            }
            .and_then(|()| exec::start(&p.inv, &p.cwd));
            if let Ok(st) = &started {
                supervisors.insert(index, st.pid);
            }
            live_agents.insert(index, p.agent.clone());
            okr_files.insert(index, WorkTreeOkrs::scan(&p.cwd));
            s.emit(RunEvent::Started {
                task_id: task.id.clone(),
                title: task.title.clone(),
                agent: p.agent.clone(),
                branch: p.branch.clone(),
            });
            let (timeout, inspector, rx) = (s.timeout, s.adapter.inspector(), cancel.receiver());
            let tap = s.observer.clone().map(|o| {
                let task_id = task.id.clone();
                let tap: exec::OutputTap = Arc::new(move |line: &str| {
                    o(RunEvent::Output {
                        task_id: task_id.clone(),
                        line: line.to_string(),
                    })
                });
                tap
            });
            let inv = p.inv.clone();
            running.spawn(async move {
                let outcome = match started {
                    Ok(st) => exec::finish(st, timeout, exec::LOG_CAP, inspector, rx, tap).await,
                    Err(e) => exec::not_run(End::SpawnFailed(e), &inv, exec::LOG_CAP, inspector),
                };
                (index, outcome)
            });
            prepared.insert(index, p);
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (index, outcome) = joined.context("an agent task panicked")?;
        supervisors.remove(&index);
        procs::kill_adopted(&supervisors.values().copied().collect());
        let agents: BTreeSet<String> = live_agents.values().cloned().collect();
        live_agents.remove(&index);
        let task = &s.plan.tasks[index];
        let p = prepared
            .remove(&index)
            .ok_or_else(|| anyhow!("task {} was not prepared", task.id))?;
        let mut violations = Vec::new();
        violations.extend(check_state_ref(ctx, &mut accepted, &agents));
        if let Some(mut scan) = okr_files.remove(&index) {
            violations.extend(scan.check());
        }
        let branch = finish_branch(s, &p);
        let (result, task_files) = task_result(s, task, &p, &outcome, violations, branch);
        if result.status != TaskStatus::Passed && s.stop_on_failure {
            stopped_by_failure = true;
        }
        s.emit(RunEvent::Ended {
            task_id: task.id.clone(),
            status: result.status,
            elapsed: outcome.duration,
            reason: result.reason.clone(),
        });
        files.extend(task_files);
        results[index] = Some(result);
    }
    // A last look after every agent is gone (a straggler's write lands here): no agent
    // is running any more, so no commit is accepted.
    let mut violations = Vec::new();
    violations.extend(check_state_ref(ctx, &mut accepted, &BTreeSet::new()));
    let cancelled = cancel.is_cancelled();
    let tasks = results
        .into_iter()
        .zip(&s.plan.tasks)
        .map(|(r, task)| r.unwrap_or_else(|| not_started(task, cancelled)))
        .collect();
    Ok(Ran {
        tasks,
        violations,
        files,
        cancelled,
    })
}

/// The task's branch after the agent: leftovers committed as the agent, the worktree
/// removed. `None` in place; an error (as text) if git could not record it.
fn finish_branch(s: &Setup<'_>, p: &Prepared) -> Option<Result<BranchInfo, String>> {
    let (branch, start) = (p.branch.as_deref()?, s.start_commit?);
    let task = &s.plan.tasks[p.index];
    if !p.cwd.exists() {
        return Some(Err(format!(
            "the worktree {} is gone (never made, or removed by the agent)",
            p.cwd.display()
        )));
    }
    let message = format!(
        "okr: what agent {} left uncommitted in task {} of run {}\n\nOkr-Run: {}\nOkr-Task: {}\nOkr-Agent: {}\n",
        p.agent, task.id, s.run_id, s.run_id, task.id, p.agent
    );
    let info = worktree::finish(s.workdir, &p.cwd, branch, start, &p.agent, &message)
        .map_err(|e| format!("{e:#}"));
    worktree::remove(s.workdir, &p.cwd);
    Some(info)
}

/// Who the agent acts as (`OKR_AGENT`): the owner of the task's KR, else the plan's owner,
/// else the adapter's name — so its proposals are checked against that owner's permissions.
/// Never empty: a blank owner counts as none (an empty `OKR_AGENT` would mean the person).
fn agent_for(s: &Setup<'_>, task: &Task) -> Result<String> {
    let kr_owner = s
        .plan
        .key_results
        .iter()
        .find(|k| k.kr_id == task.kr_id)
        .and_then(|k| k.owner.as_deref());
    Ok(agent_name("key result owner", kr_owner)?
        .or(agent_name("plan owner", s.plan.owner.as_deref())?)
        .unwrap_or_else(|| s.adapter.name.clone()))
}

fn prepare(s: &Setup<'_>, index: usize, task: &Task) -> Result<Prepared> {
    let agent = agent_for(s, task)?;
    let (cwd, branch) = match s.start_commit {
        Some(_) => (
            worktree::worktree_path(s.common_dir, s.run_id, &task.id),
            Some(worktree::branch_name(s.run_id, &task.id)),
        ),
        None => (s.workdir.to_path_buf(), None),
    };
    let dir = s.scratch.join(&task.id);
    std::fs::create_dir_all(&dir)?;
    let task_file = dir.join("task.json");
    let kr = s.plan.key_results.iter().find(|k| k.kr_id == task.kr_id);
    let body = serde_json::json!({
        "plan_id": s.plan.plan_id,
        "run_id": s.run_id,
        "task": task,
        "key_result": kr,
        "guardrails": s.plan.guardrails,
        "branch": branch,
        "report_schema": serde_json::from_str::<serde_json::Value>(REPORT_SCHEMA)?,
    });
    std::fs::write(&task_file, serde_json::to_vec_pretty(&body)?)?;
    let prompt = task_prompt(s.plan, task, s.start_commit.is_none());
    std::fs::write(dir.join("prompt.md"), &prompt)?;
    let num = |v: Option<f64>| v.map(crate::model::fmt_num).unwrap_or_default();
    let dir_text = dir.display().to_string();
    let branch_text = branch.clone().unwrap_or_default();
    let mut env: Vec<(&str, String)> = vec![
        ("OKR_AGENT", agent.clone()),
        ("OKR_PLAN_ID", s.plan.plan_id.clone()),
        ("OKR_RUN_ID", s.run_id.to_string()),
        ("OKR_TASK_ID", task.id.clone()),
        ("OKR_KR_ID", task.kr_id.clone()),
        ("OKR_BRANCH", branch_text),
        // OKRchestra's names, for agents written for it.
        ("OKRCHESTRA_PLAN_ID", s.plan.plan_id.clone()),
        ("OKRCHESTRA_PLAN_ITEM_ID", task.id.clone()),
        ("OKRCHESTRA_PLAN_ITEM_DIR", dir_text),
        ("OKRCHESTRA_KR_ID", task.kr_id.clone()),
        ("OKRCHESTRA_METRIC_KEY", task.metric_key.clone()),
    ];
    if let Some(kr) = kr {
        env.push(("OKRCHESTRA_OBJECTIVE_ID", kr.objective_id.clone()));
        env.push(("OKRCHESTRA_METRIC_TARGET", num(Some(kr.target))));
        env.push(("OKRCHESTRA_METRIC_BASELINE", num(Some(kr.baseline))));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let inv = s
        .adapter
        .invocation(&cwd, &dir, REPORT_SCHEMA, prompt.clone(), &task_file, &env)?;
    Ok(Prepared {
        index,
        agent,
        inv,
        cwd,
        branch,
        prompt,
    })
}

/// Pass or fail: the process must end well, the report must be valid and say `done`, the
/// branch must be recorded, and no guardrail may be violated.
fn task_result(
    s: &Setup<'_>,
    task: &Task,
    p: &Prepared,
    o: &AgentOutcome,
    violations: Vec<Violation>,
    branch: Option<Result<BranchInfo, String>>,
) -> (TaskResult, Vec<(String, Vec<u8>)>) {
    let verdict = s.adapter.judge(o);
    let report = verdict.report.as_deref().map(parse_report);
    let mut reasons: Vec<String> = Vec::new();
    let mut status = match o.end {
        End::TimedOut => TaskStatus::TimedOut,
        End::Cancelled => TaskStatus::Cancelled,
        _ => TaskStatus::Passed,
    };
    if let Some(r) = verdict.reason.clone() {
        reasons.push(r);
    }
    match (&report, verdict.passed) {
        (Some(Ok(r)), _) if r.status != "done" => reasons.push(format!(
            "the agent reported {}: {}",
            r.status,
            shorten(&r.summary)
        )),
        (Some(Ok(_)), _) => {}
        // A process that failed rarely leaves a good report; its own reason says enough.
        (Some(Err(_)), false) | (None, false) => {}
        (Some(Err(e)), true) => reasons.push(format!(
            "invalid report ({e}); it began: {:?}",
            first_bytes(verdict.report.as_deref().unwrap_or(""), REPORT_QUOTE)
        )),
        (None, true) => reasons.push(format!(
            "no report: {}",
            match s.adapter.kind {
                adapters::Kind::Claude => "claude's JSON answer has no result".to_string(),
                adapters::Kind::Codex => "codex wrote no last message (-o file)".to_string(),
                _ => "nothing was written to OKR_RESULT_FILE".to_string(),
            }
        )),
    }
    let branch = match branch {
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            reasons.push(format!("could not record the task's branch: {e}"));
            None
        }
        None => None,
    };
    if !violations.is_empty() {
        let what: Vec<&str> = violations.iter().map(|v| v.detail.as_str()).collect();
        reasons.insert(0, format!("guardrail violation: {}", what.join("; ")));
    }
    if status == TaskStatus::Passed && !reasons.is_empty() {
        status = TaskStatus::Failed;
    }
    let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    let report = report.and_then(Result::ok);

    let dir = format!("{}/{}", run_dir(s.run_id), task.id);
    let mut files = vec![(
        format!("{dir}/prompt.md"),
        cap_text(&p.prompt, MAX_PROMPT_BYTES),
    )];
    if let Some(r) = &report {
        let text = serde_json::to_string_pretty(r).unwrap_or_default() + "\n";
        files.push((format!("{dir}/report.json"), text.into_bytes()));
    }
    let transcript = (o.transcript.total > 0).then(|| {
        let path = format!("{dir}/transcript.log");
        files.push((path.clone(), o.transcript.log_bytes()));
        LogInfo {
            path,
            bytes_total: o.transcript.total,
            bytes_kept: o.transcript.bytes().len() as u64,
            truncated: o.transcript.truncated(),
        }
    });
    let (exit_code, signal) = match o.end {
        End::Exited(c) => (Some(c), None),
        End::Signaled(sig) => (None, Some(sig)),
        _ => (None, None),
    };
    let result = TaskResult {
        task_id: task.id.clone(),
        kr_id: task.kr_id.clone(),
        title: task.title.clone(),
        status,
        duration_ms: o.duration.as_millis() as u64,
        started_at: Some(
            o.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        exit_code,
        signal,
        reason,
        summary: report.as_ref().map(|r| shorten(&r.summary)),
        agent: p.agent.clone(),
        transcript,
        dir: Some(dir),
        report,
        branch,
        measured: None,
        violations,
    };
    (result, files)
}

/// Text cut to `max` bytes (at a character boundary) with a note saying so.
fn cap_text(text: &str, max: usize) -> Vec<u8> {
    if text.len() <= max {
        return text.as_bytes().to_vec();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n\n[git-okr: cut at {end} of {} bytes]\n",
        &text[..end],
        text.len()
    )
    .into_bytes()
}

/// The first `n` bytes of `text` (at a character boundary).
fn first_bytes(text: &str, n: usize) -> &str {
    let mut end = n.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn shorten(s: &str) -> String {
    String::from_utf8_lossy(&cap_text(s.trim(), 4000)).into_owned()
}

/// The guard's verdict; a guard that cannot look is a violation too (fail safe), so the run
/// still ends with a recorded result instead of vanishing with an error.
fn check_state_ref(
    ctx: &Ctx,
    accepted: &mut gix::ObjectId,
    agents: &BTreeSet<String>,
) -> Option<Violation> {
    guard::check_state_ref(&ctx.store, accepted, agents).unwrap_or_else(|e| {
        Some(Violation {
            kind: "state-ref".into(),
            detail: format!("could not check refs/okr/state: {e:#}"),
            items: Vec::new(),
            action: "none: look at `git log refs/okr/state` by hand".into(),
        })
    })
}

fn not_started(task: &Task, cancelled: bool) -> TaskResult {
    let (status, reason) = if cancelled {
        (TaskStatus::Cancelled, "not started: the run was cancelled")
    } else {
        (
            TaskStatus::Skipped,
            "not started: an earlier task failed (--stop-on-failure)",
        )
    };
    TaskResult {
        task_id: task.id.clone(),
        kr_id: task.kr_id.clone(),
        title: task.title.clone(),
        status,
        duration_ms: 0,
        started_at: None,
        exit_code: None,
        signal: None,
        reason: Some(reason.into()),
        summary: None,
        agent: String::new(),
        transcript: None,
        dir: None,
        report: None,
        branch: None,
        measured: None,
        violations: Vec::new(),
    }
}

/// A plan by id (`plans/*/<id>.json`) or by its state path.
pub fn find_plan(snap: &Snapshot<'_>, arg: &str) -> Result<(String, Plan)> {
    let path = if arg.ends_with(".json") || arg.contains('/') {
        arg.trim_start_matches("./").to_string()
    } else {
        let suffix = format!("/{arg}.json");
        let mut found: Vec<String> = snap
            .list(PLANS_DIR)?
            .into_iter()
            .filter(|p| p.ends_with(&suffix))
            .collect();
        match found.len() {
            0 => bail!(
                "no plan {arg:?} on refs/okr/state (plans are listed by `git okr show plans`)"
            ),
            1 => found.remove(0),
            _ => bail!("plan id {arg:?} is ambiguous: {}", found.join(", ")),
        }
    };
    let text = snap
        .read_text(&path)?
        .ok_or_else(|| anyhow!("{path}: no such file on refs/okr/state"))?;
    let plan: Plan =
        serde_json::from_str(&text).map_err(|e| anyhow!("{path}:{}: not a plan: {e}", e.line()))?;
    plan.check_ids(&path)?;
    Ok((path, plan))
}

/// `2 passed, 1 failed`: the tasks counted by status.
pub fn counts(tasks: &[TaskResult]) -> String {
    let mut parts = Vec::new();
    for status in [
        TaskStatus::Passed,
        TaskStatus::Failed,
        TaskStatus::TimedOut,
        TaskStatus::Cancelled,
    ] {
        let n = tasks.iter().filter(|t| t.status == status).count();
        if n > 0 {
            parts.push(format!("{n} {}", status.as_str()));
        }
    }
    parts.join(", ")
}

fn run_message(ctx: &Ctx, plan: &Plan, r: &RunResult) -> crate::store::CommitMessage {
    let mut body: Vec<String> = r
        .tasks
        .iter()
        .map(|t| {
            format!(
                "{} {} {}ms {}",
                t.task_id,
                t.status.as_str(),
                t.duration_ms,
                t.title
            )
        })
        .collect();
    for v in r
        .violations
        .iter()
        .chain(r.tasks.iter().flat_map(|t| &t.violations))
    {
        body.push(format!("guardrail violation: {}; {}", v.detail, v.action));
        body.extend(v.items.iter().map(|i| format!("  {i}")));
    }
    let mut msg = ctx
        .message(
            format!("okr: plan run {} ({})", plan.plan_id, counts(&r.tasks)),
            "plan-run",
        )
        .body(body.join("\n"))
        .trailer("Okr-Plan", &plan.plan_id)
        .trailer("Okr-Run", &r.run_id);
    let mut krs: Vec<&str> = r.tasks.iter().map(|t| t.kr_id.as_str()).collect();
    krs.sort();
    krs.dedup();
    for kr in krs {
        msg = msg.trailer("Okr-KR", kr);
    }
    for t in &r.tasks {
        msg = msg.trailer(
            "Okr-Task",
            format!("{} {} {}ms", t.task_id, t.status.as_str(), t.duration_ms),
        );
    }
    for credit in credit_lines(&r.tasks) {
        msg = msg.trailer("Okr-Credit", credit);
    }
    msg
}

/// With `--measure`, one line per KR the run's tasks worked on: its value before the run
/// and after it, and the tasks (`KR-1.1 40 -> 55 (T1, T2)`), so the audit can tell which
/// run moved which KR.
pub fn credit_lines(tasks: &[TaskResult]) -> Vec<String> {
    let mut per_kr: BTreeMap<&str, (&Measured, Vec<&str>)> = BTreeMap::new();
    for t in tasks {
        if let Some(m) = &t.measured {
            per_kr
                .entry(m.kr_id.as_str())
                .or_insert((m, Vec::new()))
                .1
                .push(t.task_id.as_str());
        }
    }
    let value = |v: Option<f64>| {
        v.map(crate::model::fmt_num)
            .unwrap_or_else(|| "none".into())
    };
    per_kr
        .into_iter()
        .map(|(kr, (m, tasks))| {
            format!(
                "{kr} {} -> {} ({})",
                value(m.before),
                value(m.after),
                tasks.join(", ")
            )
        })
        .collect()
}

/// Every run recorded on the state (`runs/<run-id>/result.json`) with its plan id, newest
/// first. A result of another shape (imported from OKRchestra) is listed with what its
/// common fields say, and one that does not parse as `unreadable` with the parser's
/// message: one broken file from a teammate does not hide the other runs.
pub fn list_runs(snap: &Snapshot<'_>) -> Result<Vec<(String, RunEntry)>> {
    let mut runs = catalog::all_runs(snap)?;
    runs.reverse();
    Ok(runs)
}

/// One run by id (`latest` for the newest git-okr run).
pub fn find_run(snap: &Snapshot<'_>, id: &str) -> Result<(String, RunResult)> {
    if id == "latest" {
        let runs = list_runs(snap)?;
        if runs.is_empty() {
            bail!("no runs on refs/okr/state yet");
        }
        return runs
            .into_iter()
            .find_map(|(_, entry)| read_run(snap, &entry.path).ok().map(|r| (entry.path, r)))
            .ok_or_else(|| {
                anyhow!("no run on refs/okr/state is a git-okr run result (see `git okr run list`)")
            });
    }
    let missing = || anyhow!("no run {id:?} on refs/okr/state (see `git okr run list`)");
    if !crate::model::plan::is_safe_name(id) {
        return Err(missing());
    }
    let path = format!("{}/result.json", run_dir(id));
    if snap.read(&path)?.is_none() {
        return Err(missing());
    }
    Ok((path.clone(), read_run(snap, &path)?))
}

fn read_run(snap: &Snapshot<'_>, path: &str) -> Result<RunResult> {
    let text = snap.read_text(path)?.unwrap_or_default();
    serde_json::from_str(&text)
        .map_err(|e| anyhow!("{path}:{}: not a git-okr run result: {e}", e.line()))
}

/// A task's transcript as kept on the state, from the run's own folder only (the result
/// file names it, and may have been written by anyone).
pub fn task_log(
    snap: &Snapshot<'_>,
    result_path: &str,
    run: &RunResult,
    task_id: &str,
) -> Result<Vec<u8>> {
    let task = run
        .tasks
        .iter()
        .find(|t| t.task_id == task_id)
        .ok_or_else(|| anyhow!("run {} has no task {task_id:?}", run.run_id))?;
    let Some(log) = &task.transcript else {
        bail!("task {task_id} of run {} printed nothing", run.run_id);
    };
    let folder = result_path.trim_end_matches("result.json");
    if !log.path.starts_with(folder) || log.path.contains("..") {
        bail!(
            "{result_path}: task {task_id}'s log {:?} is not in the run's folder {folder}",
            log.path
        );
    }
    snap.read(&log.path)?
        .ok_or_else(|| anyhow!("{}: missing on refs/okr/state", log.path))
}

/// Delete the task branches of one run, or of every run, and the worktrees of runs that
/// were killed; runs in progress are left alone.
pub fn clean(ctx: &Ctx, run_id: Option<&str>) -> Result<worktree::Cleaned> {
    if let Some(id) = run_id {
        if !crate::model::plan::is_safe_name(id) {
            bail!("{id:?} is not a run id");
        }
    }
    let workdir = ctx
        .store
        .repo()
        .workdir()
        .ok_or_else(|| anyhow!("run clean needs a work tree"))?;
    worktree::clean(workdir, ctx.store.repo().common_dir(), run_id)
}
