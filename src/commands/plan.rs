//! `git okr plan generate|run|schema|list|show`: arguments in, the plan domain called,
//! lines out.

use crate::cli::{JsonArgs, PlanCommand, PlanGenerateArgs, PlanRunArgs, PlanShowArgs};
use crate::ctx::{require_initialized, Ctx};
use crate::daemon::notify::{self, Notice};
use crate::plan::catalog::{self, RunEntry};
use crate::plan::generate::{self, PlanRequest};
use crate::plan::run::{self, RunRequest};
use anyhow::{bail, Result};

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
    };
    let generate::GeneratedPlan { path, plan } = generate::generate(ctx, &request)?;
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

fn run_plan(ctx: &Ctx, args: PlanRunArgs) -> Result<()> {
    let request = RunRequest {
        plan: args.plan,
        adapter: args.adapter,
        timeout: args.timeout,
        parallel: args.parallel,
    };
    let run::RecordedRun {
        path,
        result,
        notice,
    } = run::run(ctx, &request)?;
    notify_unless_daemon(&notice);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        for t in &result.tasks {
            println!(
                "{} {:<9} {:>7}ms  {}{}",
                t.task_id,
                t.status.as_str(),
                t.duration_ms,
                t.title,
                t.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
        }
        for v in result
            .violations
            .iter()
            .chain(result.tasks.iter().flat_map(|t| &t.violations))
        {
            println!("Guardrail violation: {}; {}", v.detail, v.action);
        }
        println!("Wrote run result: {path}");
    }
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

/// Best effort: no notification service means a line on stderr. Under the daemon, the
/// daemon shows the notice (once) and logs it.
fn notify_unless_daemon(notice: &Notice) {
    if std::env::var_os(crate::env_vars::DAEMON_JOB).is_some() {
        return;
    }
    if let Err(e) = notify::show(notice) {
        eprintln!(
            "git-okr: {}: {} (no desktop notification: {e})",
            notice.summary, notice.body
        );
    }
}
