//! `git okr plan generate|run|schema|list|show`: arguments in, the plan domain called,
//! lines out.

use super::output::plain;
use crate::cli::{
    JsonArgs, MeasureArgs, PlanCommand, PlanGenerateArgs, PlanRunArgs, PlanShowArgs, RunCommand,
};
use crate::ctx::{require_initialized, Ctx};
use crate::daemon::notify::{self, Notice};
use crate::model::fmt_num;
use crate::model::plan::{RunResult, TaskStatus};
use crate::plan::catalog::{self, Newest, RunEntry};
use crate::plan::generate::{self, NothingToPlan, PlanRequest};
use crate::plan::run::{self, RunEvent, RunRequest};
use anyhow::{bail, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `plan schema` needs no repository; the others get one through `ctx`.
pub fn schema() {
    print!("{}", crate::model::plan::TASKS_SCHEMA);
}

pub fn dispatch(ctx: &Ctx, command: PlanCommand) -> Result<()> {
    match command {
        PlanCommand::Generate(args) => generate_plan(ctx, args),
        PlanCommand::Run(args) => run_plan(ctx, args),
        PlanCommand::Schema => {
            schema();
            Ok(())
        }
        PlanCommand::ResultSchema => {
            result_schema();
            Ok(())
        }
        PlanCommand::List(args) => list(ctx, args),
        PlanCommand::Show(args) => show(ctx, args),
    }
}

fn list(ctx: &Ctx, args: JsonArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let plans = catalog::list(&snap)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plans)?);
        return Ok(());
    }
    if plans.is_empty() {
        println!("No plans yet: git okr plan generate --kr-id KR-1.1");
        return Ok(());
    }
    let mut rows = vec![["PLAN", "CREATED", "BY", "KRS", "TASKS", "LAST RUN"]
        .map(String::from)
        .to_vec()];
    for p in &plans {
        if let Some(error) = &p.error {
            rows.push(vec![p.plan_id.clone(), "unreadable".into(), error.clone()]);
            continue;
        }
        rows.push(vec![
            p.plan_id.clone(),
            p.created_at.clone(),
            p.created_by.clone(),
            p.key_results.join(","),
            p.tasks.to_string(),
            p.runs
                .last()
                .map(run_line)
                .unwrap_or_else(|| "never run".into()),
        ]);
    }
    for line in super::output::table(&rows) {
        println!("{line}");
    }
    Ok(())
}

/// `run-… completed (2 passed, 0 failed)` or with the first failure's reason.
fn run_line(run: &RunEntry) -> String {
    let mut line = format!(
        "{} {} ({} passed, {} failed)",
        run.run_id, run.status, run.passed, run.failed
    );
    if let Some(why) = &run.failure {
        line.push_str(&format!(": {why}"));
    }
    line
}

fn show(ctx: &Ctx, args: PlanShowArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let (path, plan) = run::find_plan(&snap, &args.plan)?;
    let runs = catalog::runs_of(&snap, &plan.plan_id)?;
    if args.json {
        let out = serde_json::json!({"path": path, "plan": plan, "runs": runs});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("plan       {}", plan.plan_id);
    println!("file       {path}");
    println!(
        "created    {} by {} ({})",
        plan.created_at, plan.created_by, plan.generator
    );
    if let Some(owner) = &plan.owner {
        println!("owner      {owner}");
    }
    println!("key results");
    for k in &plan.key_results {
        println!("  {}  {}", k.kr_id, k.description);
    }
    println!("guardrails");
    for line in serde_yaml::to_string(&plan.guardrails)?.lines() {
        println!("  {line}");
    }
    println!("tasks");
    for t in &plan.tasks {
        println!("  {} [{}] {}", t.id, t.kr_id, t.title);
        for line in t.instructions.lines() {
            println!("      {line}");
        }
        println!("      done when: {}", t.acceptance_check);
    }
    println!("runs");
    if runs.is_empty() {
        println!("  none: git okr plan run --adapter NAME {}", plan.plan_id);
    }
    for r in &runs {
        println!("  {}  {}", r.started_at, run_line(r));
    }
    Ok(())
}

fn generate_plan(ctx: &Ctx, args: PlanGenerateArgs) -> Result<()> {
    let request = PlanRequest {
        kr_id: args.kr_id,
        objective: args.objective,
        adapter: args.adapter,
        as_of: args
            .as_of
            .as_deref()
            .map(|d| crate::measure::as_of(Some(d), chrono::Local::now()))
            .transpose()?
            .filter(|a| a.backdated)
            .map(|a| a.date),
        agent_role: args.agent_role,
        likely_to_miss: args.likely_to_miss,
    };
    let generate::GeneratedPlan { path, plan } = match generate::generate(ctx, &request) {
        Ok(generated) => generated,
        Err(e) => return nothing_to_do(e, args.json),
    };
    if args.json {
        let out = serde_json::json!({"plan_id": plan.plan_id, "path": path, "plan": plan});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("Wrote plan: {path}");
        for t in &plan.tasks {
            println!("  {} [{}] {}", t.id, t.kr_id, t.title);
        }
        println!(
            "Run it with `git okr plan run --adapter NAME {}`",
            plan.plan_id
        );
    }
    Ok(())
}

/// Nothing to plan or run is said, and is a success (a schedule asked, and there was no
/// work); any other error stays one.
fn nothing_to_do(e: anyhow::Error, json: bool) -> Result<()> {
    let Some(nothing) = e.downcast_ref::<NothingToPlan>() else {
        return Err(e);
    };
    say_nothing_to_do(&nothing.to_string(), json)
}

fn say_nothing_to_do(reason: &str, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::json!({ "skipped": reason }));
    } else {
        println!("{}", capitalised(reason));
    }
    Ok(())
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The plan `plan run` runs: made now (`--generate`), named, or the newest (of all, of a
/// KR, of an objective). `Err(reason)` inside: nothing to run, and why.
fn choose_plan(ctx: &Ctx, args: &PlanRunArgs) -> Result<Result<String, String>> {
    if args.generate {
        let request = PlanRequest {
            kr_id: args.kr_id.clone(),
            objective: args.objective.clone(),
            likely_to_miss: args.likely_to_miss,
            ..PlanRequest::default()
        };
        return match generate::generate(ctx, &request) {
            Ok(generated) => {
                if !args.json {
                    println!("Wrote plan: {}", generated.path);
                }
                Ok(Ok(generated.plan.plan_id))
            }
            Err(e) => match e.downcast_ref::<NothingToPlan>() {
                Some(nothing) => Ok(Err(nothing.to_string())),
                None => Err(e),
            },
        };
    }
    let snap = ctx.store.snapshot()?;
    require_initialized(&snap)?;
    let which = match (args.plan.as_deref(), &args.kr_id, &args.objective) {
        (Some(named), ..) if named != "latest" => {
            let (_, plan) = run::find_plan(&snap, named)?;
            let runs = catalog::runs_of(&snap, &plan.plan_id)?;
            return Ok(once(args, plan.plan_id, &runs));
        }
        (_, Some(kr), _) => Newest::ForKr(kr),
        (_, _, Some(objective)) => Newest::ForObjective(objective),
        _ => Newest::Any,
    };
    match catalog::newest(&snap, which, chrono::Utc::now())? {
        Some(entry) => Ok(once(args, entry.plan_id, &entry.runs)),
        None => {
            let of = match which {
                Newest::Any => String::new(),
                Newest::ForKr(kr) => format!(" for {kr}"),
                Newest::ForObjective(o) => format!(" for objective {o}"),
            };
            let reason =
                format!("no plan{of} on refs/okr/state (`git okr plan generate` makes one)");
            if args.if_not_run {
                Ok(Err(reason))
            } else {
                bail!(reason)
            }
        }
    }
}

/// `plan_id`, unless `--if-not-run` and it has run before.
fn once(args: &PlanRunArgs, plan_id: String, runs: &[RunEntry]) -> Result<String, String> {
    match runs.last() {
        Some(last) if args.if_not_run => Err(format!(
            "plan {plan_id} has run before ({} run{}, the last {} {}): nothing new to run",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" },
            last.run_id,
            last.status
        )),
        _ => Ok(plan_id),
    }
}

fn run_plan(ctx: &Ctx, args: PlanRunArgs) -> Result<()> {
    let plan = match choose_plan(ctx, &args)? {
        Ok(plan) => plan,
        Err(reason) => return say_nothing_to_do(&reason, args.json),
    };
    let request = RunRequest {
        plan,
        adapter: args.adapter,
        timeout: args.timeout,
        parallel: args.parallel,
        in_place: args.in_place,
        stop_on_failure: args.stop_on_failure,
    };
    let view = Arc::new(LiveView::new(args.follow));
    let observer: run::Observer = {
        let view = view.clone();
        Arc::new(move |event| view.event(event))
    };
    // `--measure`: the same measurement as `git okr kr measure` (quiet with --json).
    let json = args.json;
    let measure = move || {
        super::kr::measure(
            ctx,
            MeasureArgs {
                rev: None,
                json: false,
                hook: json,
                as_of: None,
                ci_report: None,
                manual: None,
            },
        )
    };
    let hooks = run::RunHooks {
        observer: Some(observer),
        measure: args.measure.then_some(&measure as &dyn Fn() -> Result<()>),
    };
    let recorded = run::run(ctx, &request, &hooks);
    view.clear();
    let run::RecordedRun {
        path,
        result,
        notice,
    } = recorded?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_result(&result, &path);
    }
    notify_unless_daemon(&notice);
    if result.status != crate::model::plan::RunStatus::Completed {
        bail!(
            "plan {} {}: {}",
            result.plan_id,
            result.status,
            run::counts(&result.tasks)
        );
    }
    Ok(())
}

fn print_result(result: &RunResult, path: &str) {
    for t in &result.tasks {
        // Titles and reasons come from the ref and from agents: shown, never obeyed.
        println!(
            "{} {:<9} {:>8}  {}{}",
            plain(&t.task_id, false),
            t.status.as_str(),
            elapsed(Duration::from_millis(t.duration_ms)),
            plain(&t.title, false),
            t.reason
                .as_deref()
                .map(|r| format!(" ({})", plain(r, false)))
                .unwrap_or_default()
        );
        if let Some(b) = &t.branch {
            println!(
                "   branch {} at {}: {} file(s), +{} -{}",
                b.name,
                &b.head[..b.head.len().min(12)],
                b.files_changed,
                b.insertions,
                b.deletions
            );
        }
        if let Some(m) = &t.measured {
            println!(
                "   {} {}: {} -> {}",
                m.kr_id,
                m.metric_key,
                m.before.map(fmt_num).unwrap_or_else(|| "none".into()),
                m.after.map(fmt_num).unwrap_or_else(|| "none".into())
            );
        }
    }
    for v in result
        .violations
        .iter()
        .chain(result.tasks.iter().flat_map(|t| &t.violations))
    {
        println!(
            "Guardrail violation: {}; {}",
            plain(&v.detail, false),
            plain(&v.action, false)
        );
    }
    println!("Wrote run result: {path}");
    for t in &result.tasks {
        if !matches!(t.status, TaskStatus::Passed | TaskStatus::Skipped) && t.transcript.is_some() {
            println!(
                "Log of {}: git okr run show {} --log {}",
                t.task_id, result.run_id, t.task_id
            );
        }
    }
}

/// `1.2s`, `2m05s`, `1h02m`.
fn elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=59 => format!("{:.1}s", d.as_secs_f64()),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// What the person sees while a plan runs, on stderr: a line when a task starts and when
/// it ends; on a terminal, a live line per running task (elapsed time, last output line);
/// with `--follow`, every output line prefixed by its task id.
struct LiveView {
    follow: bool,
    bars: Option<MultiProgress>,
    running: Mutex<BTreeMap<String, ProgressBar>>,
}

impl LiveView {
    fn new(follow: bool) -> LiveView {
        let tty = std::io::stderr().is_terminal();
        LiveView {
            follow,
            bars: tty.then(MultiProgress::new),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn event(&self, event: RunEvent) {
        match event {
            RunEvent::Started {
                task_id,
                title,
                agent,
                branch,
            } => {
                self.line(&format!(
                    "started {task_id}: {title} (agent {agent}{})",
                    branch.map(|b| format!(", branch {b}")).unwrap_or_default()
                ));
                if let Some(m) = &self.bars {
                    let bar = m.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(task_id.clone());
                    bar.enable_steady_tick(Duration::from_millis(200));
                    if let Ok(mut running) = self.running.lock() {
                        running.insert(task_id, bar);
                    }
                }
            }
            RunEvent::Output { task_id, line } => {
                if self.follow {
                    self.line(&format!("[{task_id}] {line}"));
                }
                if let Ok(running) = self.running.lock() {
                    if let Some(bar) = running.get(&task_id) {
                        bar.set_message(line.trim().to_string());
                    }
                }
            }
            RunEvent::Ended {
                task_id,
                status,
                elapsed: took,
                reason,
            } => {
                if let Ok(mut running) = self.running.lock() {
                    if let Some(bar) = running.remove(&task_id) {
                        bar.finish_and_clear();
                    }
                }
                self.line(&format!(
                    "ended {task_id}: {} after {}{}",
                    status.as_str(),
                    elapsed(took),
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ));
            }
        }
    }

    /// No live lines left on the screen when the results are printed.
    fn clear(&self) {
        if let Ok(mut running) = self.running.lock() {
            for (_, bar) in std::mem::take(&mut *running) {
                bar.finish_and_clear();
            }
        }
        if let Some(m) = &self.bars {
            let _ = m.clear();
        }
    }
}

/// Best effort: no notification service means one short line, after the results. Under
/// the daemon, the daemon shows the notice (once) and logs it.
fn notify_unless_daemon(notice: &Notice) {
    if std::env::var_os(crate::env_vars::DAEMON_JOB).is_some() {
        return;
    }
    if notify::show(notice).is_err() {
        eprintln!("{}: {}", notice.summary, notice.body);
    }
}

/// `git okr plan result-schema`.
pub fn result_schema() {
    print!("{}", crate::model::plan::REPORT_SCHEMA);
}

/// `git okr run list|show|clean`.
pub fn runs(ctx: &Ctx, command: RunCommand) -> Result<()> {
    match command {
        RunCommand::List(args) => {
            let runs = run::list_runs(&ctx.store.snapshot()?)?;
            if args.json {
                let all: Vec<serde_json::Value> = runs
                    .iter()
                    .map(|(plan_id, r)| {
                        let mut v = serde_json::to_value(r).unwrap_or_default();
                        if let Some(map) = v.as_object_mut() {
                            map.insert("plan_id".into(), plan_id.clone().into());
                        }
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            if runs.is_empty() {
                println!("No runs yet (start one with `git okr plan run PLAN`).");
            }
            for (plan_id, r) in &runs {
                // Every field comes from a file on the ref: shown, never obeyed.
                let line = if r.status == "unreadable" {
                    format!(
                        "{}  unreadable  {}",
                        r.run_id,
                        r.failure.as_deref().unwrap_or(&r.path)
                    )
                } else {
                    format!(
                        "{}  {:<9}  {}  {}  {} ({} of {} tasks passed)",
                        r.run_id,
                        r.status,
                        r.started_at.get(..16).unwrap_or(&r.started_at),
                        plan_id,
                        r.adapter,
                        r.passed,
                        r.passed + r.failed
                    )
                };
                println!("{}", plain(&line, false));
            }
            Ok(())
        }
        RunCommand::Show(args) => {
            let snap = ctx.store.snapshot()?;
            let (path, r) = run::find_run(&snap, &args.run)?;
            if let Some(task) = &args.log {
                // An agent's transcript: its lines as text, its escape sequences shown.
                let bytes = run::task_log(&snap, &path, &r, task)?;
                let text = String::from_utf8_lossy(&bytes);
                std::io::stdout().write_all(plain(&text, true).as_bytes())?;
                return Ok(());
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            let header = format!(
                "{} {} (plan {}, adapter {}, {}{})",
                r.run_id,
                r.status,
                r.plan_id,
                r.adapter,
                elapsed(Duration::from_millis(r.duration_ms)),
                if r.in_place { ", in place" } else { "" }
            );
            println!("{}", plain(&header, false));
            print_result(&r, &path);
            Ok(())
        }
        RunCommand::Clean(args) => {
            let cleaned = run::clean(ctx, args.run.as_deref())?;
            for w in &cleaned.worktrees {
                println!("Removed worktree {} (its run was stopped)", w.display());
            }
            for b in &cleaned.branches {
                println!("Deleted branch {b}");
            }
            for r in &cleaned.running {
                println!("Left {r} alone: it is still running");
            }
            if cleaned.branches.is_empty() && cleaned.worktrees.is_empty() {
                println!("No task branches to delete.");
            }
            Ok(())
        }
    }
}
