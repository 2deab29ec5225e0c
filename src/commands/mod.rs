//! One function per command: they read the state, call the model, and write
//! through the store's one transaction.

mod audit;
mod ci;
mod cycle;
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
mod validate;

use crate::cli::*;
use crate::ctx::{Actor, Ctx};
use crate::store::Store;
use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// What the process exit status says. clap exits with 2 for usage errors before any of this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    Ok = 0,
    /// Any failure not listed below.
    Error = 1,
    /// A bad command line (clap's own exit code).
    Usage = 2,
    /// The state disagrees with the request: a sync conflict, unrelated or moved remote
    /// history, an approved proposal that no longer applies.
    Conflict = 3,
    /// The permissions or a guardrail refused the actor.
    Refused = 4,
}

impl ExitStatus {
    /// The status an error means: the first typed cause in its chain decides.
    pub fn of(e: &anyhow::Error) -> ExitStatus {
        for cause in e.chain() {
            if cause.is::<crate::sync::SyncError>() || cause.is::<crate::proposal::ApplyConflict>()
            {
                return ExitStatus::Conflict;
            }
            if cause.is::<crate::model::Refused>() {
                return ExitStatus::Refused;
            }
        }
        ExitStatus::Error
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// The whole program: parse the command line, run the command, print an error as one
/// line with its causes, and exit with the [`ExitStatus`] it means.
pub fn main() -> ExitCode {
    // `plan run` starts each agent under a copy of git-okr that watches over it (hidden).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).and_then(|a| a.to_str()) == Some(crate::plan::supervise::SUPERVISE_ARG) {
        return match crate::plan::supervise::main(&argv[2..]) {
            Ok(()) => ExitStatus::Ok.into(),
            Err(e) => {
                eprintln!("git-okr supervisor: {}", render_error(&e));
                ExitStatus::Error.into()
            }
        };
    }
    if argv.get(1).and_then(|a| a.to_str()) == Some(crate::plan::mock::MOCK_ARG) {
        return match crate::plan::mock::main() {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("git-okr mock agent: {}", render_error(&e));
                ExitStatus::Error.into()
            }
        };
    }
    let cli = Cli::parse();
    if refuse_folder_flags(&cli) {
        return ExitStatus::Usage.into();
    }
    if cli.command.prints_to_pipes() {
        die_quietly_on_closed_pipe();
    }
    let status = match run(cli) {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            eprintln!("error: {}", render_error(&e));
            ExitStatus::of(&e)
        }
    };
    crate::model::tree_cache::finish_writes();
    // The error shows in the pager too, and the terminal is ours again before we exit.
    pager::finish();
    status.into()
}

/// OKRchestra's folder flags have nothing to point at here: say where each thing lives
/// instead (a usage error).
fn refuse_folder_flags(cli: &Cli) -> bool {
    let moved = cli.okrchestra_paths.given();
    if moved.is_empty() {
        return false;
    }
    eprintln!("error: git-okr keeps the whole workspace in git, on refs/okr/state, so folder flags have nothing to point at:");
    for (flag, place) in moved {
        eprintln!("  {flag}: {place}");
    }
    eprintln!("Drop the flag; pick the repository with -C PATH or --workspace PATH.");
    true
}

/// Like git: a closed pipe (`git okr show | head`) ends the process quietly instead of
/// making every print fail. Long-running commands keep Rust's default (ignore), so a
/// closed socket cannot kill them.
#[allow(unsafe_code)] // No safe wrapper sets a signal disposition (rustix's is unsafe too).
fn die_quietly_on_closed_pipe() {
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> Result<()> {
    // Commands that need no repository run before one is opened.
    if !cli.command.needs_repository() {
        output::decide_colour(cli.color.unwrap_or(ColorWhen::Auto));
        setup_command(cli.command)?;
        return Ok(());
    }
    let dir = cli
        .workspace
        .clone()
        .or(cli.chdir.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let store = Store::discover(&dir)?;
    // Without `.git/okr/` (a read-only repository) every OKR file is parsed: slower, not wrong.
    if let Ok(okr_dir) = store.okr_dir() {
        crate::model::tree_cache::enable(&okr_dir);
    }
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
    dispatch(&ctx, cli.command)
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
        Command::Plan(PlanCommand::ResultSchema) => {
            plan::result_schema();
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
        Command::Kr(KrCommand::Score(args)) => kr::score(ctx, args),
        Command::Status(args) => status::run(ctx, args),
        Command::Sync(args) => sync::sync(ctx, args),
        Command::Pull(args) => sync::pull(ctx, args),
        Command::Push(args) => sync::push(ctx, args),
        Command::Audit(args) => audit::audit(ctx, args),
        Command::Kr(KrCommand::History(args)) => audit::kr_history(ctx, args),
        Command::Kr(KrCommand::Checkin(args)) => cycle::checkin(ctx, args),
        Command::Kr(KrCommand::Stale(args)) => cycle::stale(ctx, args),
        Command::Cycle(cmd) => cycle::run(ctx, cmd),
        Command::Daemon(cmd) => daemon::run(ctx, cmd),
        Command::Hooks(cmd) => hooks::run(ctx, cmd),
        Command::Ci(CiCommand::Ingest(args)) => ci::ingest(ctx, args),
        Command::Okr(cmd) => proposals::run(ctx, cmd),
        Command::Propose(args) => proposals::run(ctx, OkrCommand::Propose(args)),
        Command::Apply(args) => proposals::run(ctx, OkrCommand::Apply(args)),
        Command::Report(args) => report::run(ctx, args),
        Command::Plan(command) => plan::dispatch(ctx, command),
        Command::Run(command) => plan::runs(ctx, command),
        Command::Mcp => mcp::run(ctx),
        Command::Man(_) | Command::Completions(_) => setup_command(command),
    }
}

/// One line: the error and its causes. A cause whose text its parent already showed (gix
/// and many wrappers repeat it) is printed once.
fn render_error(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
