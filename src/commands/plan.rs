//! `git okr plan generate|run|schema`: arguments in, the plan domain called, lines out.

use crate::cli::{PlanCommand, PlanGenerateArgs, PlanRunArgs};
use crate::ctx::Ctx;
use crate::daemon::notify::{self, Notice};
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
    }
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
    if result.status != "completed" {
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
