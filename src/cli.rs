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
    pub dir: Option<PathBuf>,

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
    /// Query the history of refs/okr/state (events from its commits' trailers).
    Audit(AuditArgs),
    /// Key results.
    #[command(subcommand)]
    Kr(KrCommand),
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

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only events about this key result.
    #[arg(long, value_name = "ID")]
    pub kr: Option<String>,
    /// Only events about this objective.
    #[arg(long, value_name = "ID")]
    pub objective: Option<String>,
    /// Only events by this actor (an email, `agent:NAME` or an agent's NAME).
    #[arg(long, value_name = "A")]
    pub actor: Option<String>,
    /// Only events of this action (init, edit, metric-set, measure, status-change, …).
    #[arg(long, value_name = "A")]
    pub action: Option<String>,
    /// Only events at or after DATE (YYYY-MM-DD, local time, or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only events up to DATE (a day is included whole).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Show at most N events (newest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print the events as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Rebuild the audit mirror from every commit of refs/okr/state.
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum KrCommand {
    /// Value, status and score of a key result over time.
    History(KrHistoryArgs),
}

#[derive(Debug, Args)]
pub struct KrHistoryArgs {
    /// The key result, e.g. KR-1.1.
    pub kr: String,
    /// Print the history as JSON.
    #[arg(long)]
    pub json: bool,
}
