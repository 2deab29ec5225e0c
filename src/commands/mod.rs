//! One function per command: they read the state, call the model, and write
//! through the store's one transaction.

mod audit;
mod ci;
mod daemon;
mod files;
mod hooks;
mod init;
pub mod kr;
mod manpages;
mod mcp;
mod metric;
mod output;
mod pager;
mod plan;
mod proposals;
mod report;
mod setup;
mod status;
mod sync;

use crate::cli::*;
use crate::ctx::{Actor, Ctx};
use crate::store::Store;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let moved = cli.okrchestra_paths.given();
    if !moved.is_empty() {
        eprintln!("error: git-okr keeps the whole workspace in git, on refs/okr/state, so folder flags have nothing to point at:");
        for (flag, place) in moved {
            eprintln!("  {flag}: {place}");
        }
        eprintln!("Drop the flag; pick the repository with -C PATH or --workspace PATH.");
        return Ok(ExitCode::from(2));
    }
    // Commands that need no repository run before one is opened.
    if !cli.command.needs_repository() {
        output::decide_colour(cli.color.unwrap_or(ColorWhen::Auto));
        setup_command(cli.command)?;
        return Ok(ExitCode::SUCCESS);
    }
    let dir = cli
        .workspace
        .clone()
        .or(cli.chdir.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let store = Store::discover(&dir)?;
    // An agent identity that is present but blank is refused, never read as "no agent":
    // otherwise an agent given an empty `OKR_AGENT` would act as the person.
    let agent = cli
        .agent
        .clone()
        .or_else(|| std::env::var("OKR_AGENT").ok());
    if agent.as_deref().is_some_and(|a| a.trim().is_empty()) {
        anyhow::bail!(
            "--agent/OKR_AGENT is set but empty: an agent needs a name (unset OKR_AGENT to act as yourself)"
        );
    }
    let daemon_job = std::env::var(crate::env_vars::DAEMON_JOB)
        .ok()
        .filter(|j| !j.trim().is_empty());
    let actor = match agent.as_deref().map(str::trim) {
        Some(agent) => Actor::Agent(agent.to_string()),
        // A job the daemon runs: recorded as the daemon, with the clone and the trigger.
        None if daemon_job.is_some() => Actor::Daemon {
            clone: std::env::var(crate::env_vars::DAEMON_CLONE).unwrap_or_default(),
            job: daemon_job.unwrap_or_default(),
            trigger: std::env::var(crate::env_vars::DAEMON_TRIGGER).unwrap_or_default(),
        },
        None => {
            let (name, email) = store.identity();
            Actor::Person { name, email }
        }
    };
    let ctx = Ctx { store, actor };
    let config = ctx.store.repo().config_snapshot();
    output::decide_colour(output::colour_when(cli.color, &config));
    if cli.command.pages() && !cli.no_pager {
        pager::start(pager::pager_command(&config))?;
    }
    dispatch(&ctx, cli.command)?;
    Ok(ExitCode::SUCCESS)
}

/// Wait for the pager, if one was started: main calls this after printing any error,
/// so the error shows in the pager too and the terminal is ours again before we exit.
pub fn finish_pager() {
    pager::finish();
}

/// The commands that need no repository.
fn setup_command(command: Command) -> Result<()> {
    match command {
        Command::Man(args) => setup::man(args),
        Command::Completions(args) => setup::completions(args),
        Command::Plan(PlanCommand::Schema) => {
            plan::schema();
            Ok(())
        }
        _ => Ok(()),
    }
}

fn dispatch(ctx: &Ctx, command: Command) -> Result<()> {
    match command {
        Command::Init(args) => init::run(ctx, args),
        Command::Show(args) => files::show(ctx, args),
        Command::Export(args) => files::export(ctx, args),
        Command::Edit(args) => files::edit(ctx, args),
        Command::Metric(MetricCommand::Set(args)) => metric::set(ctx, args),
        Command::Metric(MetricCommand::List(args)) => metric::list(ctx, args),
        Command::Kr(KrCommand::Measure(args)) => kr::measure(ctx, args),
        Command::Kr(KrCommand::Score(args)) => kr::score_cmd(ctx, args),
        Command::Status(args) => status::run(ctx, args),
        Command::Sync(args) => sync::sync(ctx, args),
        Command::Pull(args) => sync::pull(ctx, args),
        Command::Push(args) => sync::push(ctx, args),
        Command::Audit(args) => audit::audit(ctx, args),
        Command::Kr(KrCommand::History(args)) => audit::kr_history(ctx, args),
        Command::Daemon(cmd) => daemon::run(ctx, cmd),
        Command::Hooks(cmd) => hooks::run(ctx, cmd),
        Command::Ci(CiCommand::Ingest(args)) => ci::ingest(ctx, args),
        Command::Okr(cmd) => proposals::run(ctx, cmd),
        Command::Propose(args) => proposals::run(ctx, OkrCommand::Propose(args)),
        Command::Apply(args) => proposals::run(ctx, OkrCommand::Apply(args)),
        Command::Report(args) => report::run(ctx, args),
        Command::Plan(command) => plan::dispatch(ctx, command),
        Command::Mcp => mcp::run(ctx),
        Command::Man(_) | Command::Completions(_) => setup_command(command),
    }
}

/// One line: the error and its causes.
pub fn render_error(e: &anyhow::Error) -> String {
    format!("{e:#}")
}
