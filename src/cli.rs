//! The command tree of `git okr` (clap derive).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "git-okr",
    bin_name = "git okr",
    version,
    about = "OKRs, metrics and agent plans kept in git, on refs/okr/state",
    propagate_version = true
)]
pub struct Cli {
    /// Run as if started in PATH (like `git -C`).
    #[arg(short = 'C', global = true, value_name = "PATH")]
    pub chdir: Option<PathBuf>,

    /// The repository to work on (OKRchestra's name for -C).
    #[arg(long, global = true, value_name = "PATH")]
    pub workspace: Option<PathBuf>,

    /// Act as this agent (recorded as the actor; permissions apply).
    #[arg(long, global = true, env = "OKR_AGENT", value_name = "NAME")]
    pub agent: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create refs/okr/state with a worked example, or import an OKRchestra workspace.
    Init(InitArgs),
    /// Print a file of the state, or list its files.
    Show(ShowArgs),
    /// Write a copy of the state's files into a folder.
    Export(ExportArgs),
    /// Edit one state file in $VISUAL/$EDITOR, validate it and commit it.
    Edit(EditArgs),
    /// Record manual metrics.
    #[command(subcommand)]
    Metric(MetricCommand),
    /// Measure and score key results.
    #[command(subcommand)]
    Kr(KrCommand),
    /// The overview: scores, statuses and what needs attention.
    Status(StatusArgs),
    /// Scheduled jobs, and the daemon that runs them.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// Install, remove or inspect git-okr's git hooks (pre-push, post-merge).
    #[command(subcommand)]
    Hooks(HooksCommand),
}

#[derive(Debug, Subcommand)]
pub enum KrCommand {
    /// Collect metrics, update KR statuses and write the day's snapshot, in one commit.
    Measure(MeasureArgs),
    /// Score KRs against their targets, rolled up by objective and scope.
    Score(ScoreArgs),
}

#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// The branch or commit to measure git metrics on (default: definitions' branch, else HEAD).
    #[arg(long)]
    pub rev: Option<String>,
    /// Print what happened as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run as a git hook: quiet unless a status changes; failures only warn unless okr.hooks.strict.
    #[arg(long)]
    pub hook: bool,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Import an existing OKRchestra workspace folder (okrs/, culture/, metrics/).
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Replace an existing state (history is kept: this is a new commit).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A file or folder on the state ref; without it, every file.
    pub path: Option<String>,
    /// Print the listing as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the files (created if missing).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// The state file to edit, e.g. okrs/org.yml.
    pub path: String,
}

#[derive(Debug, Subcommand)]
pub enum MetricCommand {
    /// Set a manual metric in metrics/manual.yml.
    Set(MetricSetArgs),
}

#[derive(Debug, Args)]
pub struct MetricSetArgs {
    /// Metric key, e.g. manual.feature_count or ci.test_count.
    pub key: String,
    /// The numeric value.
    #[arg(allow_hyphen_values = true)]
    pub value: String,
    /// Unit of the value (count, percent, ms…).
    #[arg(long)]
    pub unit: Option<String>,
    /// Evidence for the value (repeatable).
    #[arg(long = "evidence", value_name = "E")]
    pub evidence: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Schedule a job: `--cron "0 9 * * 1-5" --job kr_measure [-- ARGS…]`.
    Schedule(ScheduleArgs),
    /// List scheduled jobs with their next run times.
    Jobs(JobsArgs),
    /// Remove a scheduled job.
    Unschedule(UnscheduleArgs),
    /// Run due jobs until stopped (SIGINT/SIGTERM), one daemon per repository.
    Run(DaemonRunArgs),
    /// Print (or --install) a macOS LaunchAgent that keeps the daemon running.
    Launchd(UnitArgs),
    /// Print (or --install) a systemd user service that keeps the daemon running.
    Systemd(UnitArgs),
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Crontab expression: 5 fields, 6 with seconds first, or @hourly/@daily/@weekly/@monthly/@yearly.
    #[arg(long, allow_hyphen_values = true)]
    pub cron: String,
    /// The job: kr_measure, plan_generate, plan_run or sync (those this build has).
    #[arg(long)]
    pub job: String,
    /// IANA time zone the expression is read in (default: the daemon machine's local time).
    #[arg(long)]
    pub tz: Option<String>,
    /// Arguments for the job's command, after `--`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UnscheduleArgs {
    /// The job's id, as `daemon jobs` shows it.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct DaemonRunArgs {
    /// Run the jobs that are due now, then exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct UnitArgs {
    /// Write the file where the service manager looks for it instead of printing it.
    #[arg(long)]
    pub install: bool,
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// Put the hooks into the repository's hooks folder, chaining hooks already there.
    Install,
    /// Remove the hooks and restore the hooks they chained.
    Uninstall,
    /// Show which hooks are installed and where.
    Status,
}
