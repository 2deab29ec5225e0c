//! One function per command: they read the state, call the model, and write
//! through the store's one transaction.

mod audit;
mod ci;
mod daemon;
mod files;
mod hooks;
mod init;
pub mod kr;
mod mcp;
mod metric;
mod output;
mod plan;
mod proposals;
mod report;
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
    if let Command::Plan(PlanCommand::Schema) = cli.command {
        plan::schema();
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
    let actor = match agent.as_deref().map(str::trim) {
        Some(agent) => Actor::Agent(agent.to_string()),
        None => {
            let (name, email) = store.identity();
            Actor::Person { name, email }
        }
    };
    let ctx = Ctx { store, actor };
    match cli.command {
        Command::Init(args) => init::run(&ctx, args),
        Command::Show(args) => files::show(&ctx, args),
        Command::Export(args) => files::export(&ctx, args),
        Command::Edit(args) => files::edit(&ctx, args),
        Command::Metric(MetricCommand::Set(args)) => metric::set(&ctx, args),
        Command::Kr(KrCommand::Measure(args)) => kr::measure(&ctx, args),
        Command::Kr(KrCommand::Score(args)) => kr::score_cmd(&ctx, args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Sync(args) => sync::sync(&ctx, args),
        Command::Pull(args) => sync::pull(&ctx, args),
        Command::Push(args) => sync::push(&ctx, args),
        Command::Audit(args) => audit::audit(&ctx, args),
        Command::Kr(KrCommand::History(args)) => audit::kr_history(&ctx, args),
        Command::Daemon(cmd) => daemon::run(&ctx, cmd),
        Command::Hooks(cmd) => hooks::run(&ctx, cmd),
        Command::Ci(CiCommand::Ingest(args)) => ci::ingest(&ctx, args),
        Command::Okr(cmd) => proposals::run(&ctx, cmd),
        Command::Propose(args) => proposals::run(&ctx, OkrCommand::Propose(args)),
        Command::Apply(args) => proposals::run(&ctx, OkrCommand::Apply(args)),
        Command::Report(args) => report::run(&ctx, args),
        Command::Plan(command) => plan::dispatch(&ctx, command),
        Command::Mcp => mcp::run(&ctx),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// One line: the error and its causes.
pub fn render_error(e: &anyhow::Error) -> String {
    format!("{e:#}")
}
