//! `git okr plan run`: each task of a plan as a child process of an adapter, in the
//! repository's work tree, then ONE state commit with `runs/<run-id>/result.json` and the
//! capped logs, and a desktop notification.

use super::adapters::{self, Adapter};
use super::exec::{self, AgentOutcome, Cancel, End};
use super::guard::{self, WorkTreeOkrs};
use super::new_id;
use super::procs;
use super::prompt::task_prompt;
use crate::ctx::require_initialized;
use crate::ctx::Ctx;
use crate::daemon::notify::{self, Notice};
use crate::model::plan::{
    agent_name, run_dir, LogInfo, Plan, RunResult, RunStatus, Task, TaskResult, TaskStatus,
    Violation, PLANS_DIR, REPORT_SCHEMA,
};
use crate::store::{Changes, Commit, Snapshot, Step};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

pub const DEFAULT_TIMEOUT_SECS: u64 = 1800;

/// What `plan run` is asked for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// A plan id or its state path (`plans/YYYY-MM-DD/<id>.json`).
    pub plan: String,
    /// The agent to run the tasks with.
    pub adapter: String,
    /// Seconds each task may take (default: the adapter's, else `DEFAULT_TIMEOUT_SECS`).
    pub timeout: Option<u64>,
    /// How many tasks run at once (at least 1).
    pub parallel: usize,
}

/// A run recorded on the state: its result, where it lives, and the notice to show.
#[derive(Debug)]
pub struct RecordedRun {
    pub path: String,
    pub result: RunResult,
    pub notice: Notice,
}

pub fn run(ctx: &Ctx, args: &RunRequest) -> Result<RecordedRun> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let (plan_path, plan) = find_plan(&snap, &args.plan)?;
    if plan.tasks.is_empty() {
        bail!("{plan_path}: the plan has no tasks");
    }
    plan.check_runnable(&plan_path)?;
    // Everything that can be checked is checked before the first agent starts.
    let adapter = adapters::load(&ctx.store, &args.adapter)?;
    let workdir = ctx.store.repo().workdir().ok_or_else(|| {
        anyhow!("plan run needs a work tree for the agents (this repository is bare)")
    })?;
    // Absolute, so `codex -C DIR` and the agents' cwd mean the same place whatever our cwd.
    let workdir = std::fs::canonicalize(workdir)
        .with_context(|| format!("resolving the work tree {}", workdir.display()))?;
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

    let started_at = chrono::Local::now();
    let run_id = new_id("run", started_at);
    let clock = Instant::now();
    let scratch = tempfile::tempdir().context("creating a scratch folder for the agents")?;
    let setup = Setup {
        plan: &plan,
        adapter: &adapter,
        workdir: &workdir,
        scratch: scratch.path(),
        run_id: &run_id,
        timeout: Duration::from_secs(timeout_secs),
        parallel,
    };
    // Orphans of the agents' supervisors come to us, not to init, so none can escape.
    procs::become_subreaper().context("becoming a child subreaper")?;
    let rt = exec::runtime()?;
    let ran = rt.block_on(run_tasks(ctx, &setup, base));
    drop(rt);
    // Whatever is still below us now is left over from an agent: it goes.
    procs::kill_adopted(&BTreeSet::new());
    let ran = ran?;

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
        tasks: ran.tasks,
        violations: ran.violations,
    };
    let result_path = format!("{dir}/result.json");
    let result_text = serde_json::to_string_pretty(&result)? + "\n";
    let message = run_message(ctx, &plan, &result);
    ctx.store.transact(|_| {
        let mut changes = Changes::new();
        changes.write(result_path.clone(), result_text.clone());
        for (path, bytes) in &ran.logs {
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
    scratch: &'a Path,
    run_id: &'a str,
    timeout: Duration,
    parallel: usize,
}

struct Ran {
    tasks: Vec<TaskResult>,
    violations: Vec<Violation>,
    logs: Vec<(String, Vec<u8>)>,
    cancelled: bool,
}

async fn run_tasks(ctx: &Ctx, s: &Setup<'_>, base: gix::ObjectId) -> Result<Ran> {
    // Every task's files and command line are ready before the first agent starts.
    let mut pending = s
        .plan
        .tasks
        .iter()
        .enumerate()
        .map(|(index, task)| {
            let agent = agent_for(s, task)?;
            let inv = invocation(s, task, &agent)?;
            Ok((index, agent, inv))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter();
    let cancel = Cancel::on_signals()?;
    let mut accepted = base;
    let mut worktree = WorkTreeOkrs::scan(s.workdir);
    let mut results: Vec<Option<TaskResult>> = vec![None; s.plan.tasks.len()];
    let mut logs = Vec::new();
    let mut running = JoinSet::new();
    // The supervisors of running tasks (task index → pid): everything else below us is
    // an orphan to kill.
    let mut supervisors: BTreeMap<usize, u32> = BTreeMap::new();
    // The agents that may have proposed since the last look (index → agent name).
    let mut live_agents: BTreeMap<usize, String> = BTreeMap::new();
    loop {
        while running.len() < s.parallel && !cancel.is_cancelled() {
            let Some((index, agent, inv)) = pending.next() else {
                break;
            };
            let (timeout, inspector, rx) = (s.timeout, s.adapter.inspector(), cancel.receiver());
            // Started here, not in the spawned task, so its pid is known before the next
            // look for orphans.
            let started = exec::start(&inv, s.workdir);
            if let Ok(st) = &started {
                supervisors.insert(index, st.pid);
            }
            live_agents.insert(index, agent.clone());
            running.spawn(async move {
                let outcome = match started {
                    Ok(st) => exec::finish(st, timeout, exec::LOG_CAP, inspector, rx).await,
                    Err(e) => exec::not_run(End::SpawnFailed(e), &inv, exec::LOG_CAP, inspector),
                };
                (index, agent, outcome)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (index, agent, outcome) = joined.context("an agent task panicked")?;
        supervisors.remove(&index);
        procs::kill_adopted(&supervisors.values().copied().collect());
        let agents: BTreeSet<String> = live_agents.values().cloned().collect();
        live_agents.remove(&index);
        let task = &s.plan.tasks[index];
        let mut violations = Vec::new();
        violations.extend(check_state_ref(ctx, &mut accepted, &agents));
        violations.extend(worktree.check());
        let (result, task_logs) = task_result(s, task, agent, &outcome, violations);
        logs.extend(task_logs);
        results[index] = Some(result);
    }
    // A last look after every agent is gone (a straggler's write lands here): no agent
    // is running any more, so no commit is accepted.
    let mut violations = Vec::new();
    violations.extend(check_state_ref(ctx, &mut accepted, &BTreeSet::new()));
    violations.extend(worktree.check());
    let tasks = results
        .into_iter()
        .zip(&s.plan.tasks)
        .map(|(r, task)| r.unwrap_or_else(|| not_started(task)))
        .collect();
    Ok(Ran {
        tasks,
        violations,
        logs,
        cancelled: cancel.is_cancelled(),
    })
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

fn invocation(s: &Setup<'_>, task: &Task, agent: &str) -> Result<super::invocation::Invocation> {
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
        "report_schema": serde_json::from_str::<serde_json::Value>(REPORT_SCHEMA)?,
    });
    std::fs::write(&task_file, serde_json::to_vec_pretty(&body)?)?;
    s.adapter.invocation(
        s.workdir,
        &dir,
        REPORT_SCHEMA,
        task_prompt(s.plan, task),
        &task_file,
        &[
            ("OKR_AGENT", agent),
            ("OKR_PLAN_ID", &s.plan.plan_id),
            ("OKR_RUN_ID", s.run_id),
            ("OKR_TASK_ID", &task.id),
        ],
    )
}

fn task_result(
    s: &Setup<'_>,
    task: &Task,
    agent: String,
    o: &AgentOutcome,
    violations: Vec<Violation>,
) -> (TaskResult, Vec<(String, Vec<u8>)>) {
    let verdict = s.adapter.judge(o);
    let mut status = match o.end {
        End::TimedOut => TaskStatus::TimedOut,
        End::Cancelled => TaskStatus::Cancelled,
        _ if verdict.passed => TaskStatus::Passed,
        _ => TaskStatus::Failed,
    };
    let mut reason = verdict.reason.clone();
    if !violations.is_empty() {
        status = TaskStatus::Failed;
        let what: Vec<&str> = violations.iter().map(|v| v.detail.as_str()).collect();
        reason = Some(format!(
            "guardrail violation: {}{}",
            what.join("; "),
            reason.map(|r| format!("; {r}")).unwrap_or_default()
        ));
    }
    let dir = run_dir(s.run_id);
    let mut logs = Vec::new();
    let mut log = |tail: &exec::Tail, ext: &str| -> Option<LogInfo> {
        if tail.total == 0 {
            return None;
        }
        let path = format!("{dir}/{}.{ext}", task.id);
        let bytes = tail.log_bytes();
        logs.push((path.clone(), bytes));
        Some(LogInfo {
            path,
            bytes_total: tail.total,
            bytes_kept: tail.bytes().len() as u64,
            truncated: tail.truncated(),
        })
    };
    let stdout = log(&o.stdout, "stdout");
    let stderr = log(&o.stderr, "stderr");
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
        summary: verdict.summary,
        agent,
        stdout,
        stderr,
        violations,
    };
    (result, logs)
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

fn not_started(task: &Task) -> TaskResult {
    TaskResult {
        task_id: task.id.clone(),
        kr_id: task.kr_id.clone(),
        title: task.title.clone(),
        status: TaskStatus::Cancelled,
        duration_ms: 0,
        started_at: None,
        exit_code: None,
        signal: None,
        reason: Some("not started: the run was cancelled".into()),
        summary: None,
        agent: String::new(),
        stdout: None,
        stderr: None,
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
    msg
}
