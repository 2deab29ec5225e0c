//! The command tree of `git okr` (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};
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

    /// When to colour the output (default: color.okr, else color.ui, else auto).
    #[arg(long, global = true, value_name = "WHEN")]
    pub color: Option<ColorWhen>,

    /// Never send long output through the pager (like `git --no-pager`).
    #[arg(long, global = true)]
    pub no_pager: bool,

    /// OKRchestra's path flags: accepted only to explain where the state lives (exit 2).
    #[command(flatten)]
    pub okrchestra_paths: OkrchestraPaths,

    #[command(subcommand)]
    pub command: Command,
}

/// `--color=WHEN`, read like git's `color.ui`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Colour on a terminal (or git's pager), unless NO_COLOR is set or TERM=dumb.
    Auto,
    /// Always colour, even into a pipe.
    Always,
    /// Never colour.
    Never,
}

/// Seconds, or a Go duration (`90s`, `1h30m`).
fn parse_duration(text: &str) -> Result<u64, String> {
    crate::model::duration::parse_secs(text).map_err(|e| e.to_string())
}

/// OKRchestra's flags that moved its folders elsewhere. git-okr keeps everything on
/// `refs/okr/state`, so there is nothing to point them at; a script passing one gets an
/// explanation instead of "unexpected argument".
#[derive(Debug, Args, Default)]
pub struct OkrchestraPaths {
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub okrs_dir: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub culture_dir: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub metrics_dir: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub artifacts_dir: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub audit_db: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub snapshots_dir: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub proposals_dir: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub out_dir: Option<String>,
    #[arg(long, global = true, hide = true, value_name = "PATH")]
    pub repo_dir: Option<String>,
}

impl OkrchestraPaths {
    /// Each flag given, with where its content lives here.
    pub fn given(&self) -> Vec<(&'static str, &'static str)> {
        [
            (&self.okrs_dir, "--okrs-dir", "okrs/*.yml on refs/okr/state (`git okr show okrs`, `git okr edit okrs/org.yml`)"),
            (&self.culture_dir, "--culture-dir", "culture/*.md on refs/okr/state"),
            (&self.metrics_dir, "--metrics-dir", "metrics/ on refs/okr/state (`git okr metric set`, `git okr ci ingest`)"),
            (&self.snapshots_dir, "--snapshots-dir", "metrics/snapshots/ on refs/okr/state (written by `git okr kr measure`)"),
            (&self.artifacts_dir, "--artifacts-dir", "plans/, runs/ and proposals/ on refs/okr/state"),
            (&self.proposals_dir, "--proposals-dir", "proposals/ on refs/okr/state (`git okr okr list`)"),
            (&self.out_dir, "--out-dir", "plans/DATE/ on refs/okr/state (`git okr show plans`)"),
            (&self.audit_db, "--audit-db", "the history of refs/okr/state, mirrored in .git/okr/audit.sqlite (`git okr audit`)"),
            (&self.repo_dir, "--repo-dir", "the repository itself: use -C PATH or --workspace PATH"),
        ]
        .into_iter()
        .filter(|(value, _, _)| value.is_some())
        .map(|(_, flag, place)| (flag, place))
        .collect()
    }
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
    /// Record CI results: tests, coverage, builds.
    #[command(subcommand)]
    Ci(CiCommand),
    /// Measure and score key results.
    #[command(subcommand)]
    Kr(KrCommand),
    /// The overview: scores, statuses and what needs attention.
    Status(StatusArgs),
    /// OKR cycles: list them, close one with grades, start the next (carrying what is unfinished).
    #[command(subcommand)]
    Cycle(CycleCommand),
    /// Query the history of refs/okr/state (events from its commits' trailers).
    Audit(AuditArgs),
    /// Share refs/okr/state through a git remote: fetch, merge by meaning, push.
    Sync(SyncArgs),
    /// Fetch the remote's refs/okr/state and merge it into yours (no push).
    Pull(PullArgs),
    /// Push refs/okr/state; refused unless it is a fast-forward there (then run sync).
    Push(PushArgs),
    /// Scheduled jobs, and the daemon that runs them.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// Install, remove or inspect git-okr's git hooks (pre-push, post-merge).
    #[command(subcommand)]
    Hooks(HooksCommand),
    /// OKR change proposals: propose, list, show, approve, reject, apply.
    #[command(subcommand)]
    Okr(OkrCommand),
    /// Propose an OKR change (short for `git okr okr propose`).
    Propose(ProposeArgs),
    /// Apply an approved proposal (short for `git okr okr apply`).
    Apply(ApplyArgs),
    /// Write an HTML report: scores, charts over time, forecasts, proposals and runs.
    Report(ReportArgs),
    /// Plans for key results, and runs of coding agents on them.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Agent runs recorded on the state: list, show (with a task's log), clean branches.
    #[command(subcommand)]
    Run(RunCommand),
    /// Serve the OKRs to a coding agent over MCP (stdio), acting as that agent
    /// (--agent NAME or OKR_AGENT): read context, propose changes; never approve or apply.
    Mcp,
    /// Write the man pages (git-okr.1, git-okr-status.1, …) where `man` finds them.
    Man(ManArgs),
    /// Print a shell completion script (bash also defines _git_okr for `git okr <TAB>`).
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The folder for the pages (default: share/man/man1 beside the folder of git-okr,
    /// where `man` looks for programs on PATH).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    pub shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Every run on the state, newest first: status, plan, tasks.
    List(RunListArgs),
    /// One run: its tasks, reasons, branches; `--log TASK` prints a task's transcript.
    Show(RunShowArgs),
    /// Delete the task branches `okr/<run-id>/*` (of one run, or of every run).
    Clean(RunCleanArgs),
}

#[derive(Debug, Args)]
pub struct RunListArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunShowArgs {
    /// A run id (`run-…`); `latest` for the newest.
    pub run: String,
    /// Print this task's transcript (its capped output) instead.
    #[arg(long, value_name = "TASK")]
    pub log: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunCleanArgs {
    /// Only this run's branches.
    pub run: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Make a plan (KR context, guardrails, tasks) for one KR, an objective, or every KR not achieved.
    Generate(PlanGenerateArgs),
    /// Run a plan's tasks with a coding agent; one commit with runs/<run-id>/result.json.
    Run(PlanRunArgs),
    /// Print the JSON Schema an agent's planning answer must match.
    Schema,
    /// Print the JSON Schema an agent's final report on a task must match.
    ResultSchema,
    /// The plans on refs/okr/state, oldest first, with their runs.
    List(JsonArgs),
    /// One plan: its KRs, guardrails, tasks and runs.
    Show(PlanShowArgs),
}

#[derive(Debug, Args)]
pub struct PlanShowArgs {
    /// A plan id or its state path (plans/YYYY-MM-DD/<id>.json).
    pub plan: String,
    /// Print JSON: {"path", "plan", "runs"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanGenerateArgs {
    /// Plan for this key result.
    #[arg(long, conflicts_with = "objective")]
    pub kr_id: Option<String>,
    /// Plan for the KRs of this objective that are not achieved (OKRchestra: --objective-id).
    #[arg(long, visible_alias = "objective-id")]
    pub objective: Option<String>,
    /// Ask this agent for the tasks (codex, claude, or okr.adapter.NAME.command).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Plan as of this past day (YYYY-MM-DD): the values of that day's latest snapshot,
    /// the plan filed under plans/DATE/.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// The role agents take on the plan's tasks (OKRchestra's --agent-role), told to them.
    #[arg(long, value_name = "ROLE")]
    pub agent_role: Option<String>,
    /// Plan only for the KRs whose forecast misses the target by the objective's due date.
    #[arg(long, conflicts_with = "kr_id")]
    pub likely_to_miss: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanRunArgs {
    /// The agent (codex, claude, mock, or okr.adapter.NAME.command; default:
    /// okr.adapter.default, else codex).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// How long each task may take: seconds or a Go duration like 90s, 10m, 1h30m
    /// (default: okr.adapter.NAME.timeout, else 1800 s).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<u64>,
    /// How many tasks run at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub parallel: usize,
    /// Run the agents in your own work tree instead of one git worktree per task.
    #[arg(long)]
    pub in_place: bool,
    /// Start no new task once one has failed.
    #[arg(long)]
    pub stop_on_failure: bool,
    /// Stream every agent's output, each line prefixed by its task id.
    #[arg(long)]
    pub follow: bool,
    /// Measure after the run and record each task's KR value before and after.
    #[arg(long)]
    pub measure: bool,
    /// Print the run result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the newest plan for this key result.
    #[arg(long, value_name = "KR", conflicts_with = "plan")]
    pub kr_id: Option<String>,
    /// Run the newest plan for this objective (OKRchestra: --objective-id).
    #[arg(long, value_name = "ID", visible_alias = "objective-id", conflicts_with_all = ["plan", "kr_id"])]
    pub objective: Option<String>,
    /// Make a plan first (for --kr-id, --objective or --likely-to-miss, else every KR not
    /// achieved), then run it.
    #[arg(long, conflicts_with = "plan")]
    pub generate: bool,
    /// With --generate: plan only for the KRs likely to miss their target.
    #[arg(long, requires = "generate", conflicts_with_all = ["plan", "kr_id"])]
    pub likely_to_miss: bool,
    /// Do nothing when the plan has run before (a schedule that runs `latest` then runs
    /// each new plan once).
    #[arg(long)]
    pub if_not_run: bool,
    /// A plan id, its state path (plans/YYYY-MM-DD/<id>.json), or `latest` (the newest plan).
    #[arg(required_unless_present_any = ["kr_id", "objective", "generate"])]
    pub plan: Option<String>,
}

/// A duration of at least one second.
fn parse_timeout(text: &str) -> Result<u64, String> {
    match parse_duration(text)? {
        0 => Err(format!("{text:?}: a timeout must be at least 1 second")),
        secs => Ok(secs),
    }
}

#[derive(Debug, Subcommand)]
pub enum KrCommand {
    /// Collect metrics, update KR statuses and write the day's snapshot, in one commit.
    Measure(MeasureArgs),
    /// Score KRs against their targets, rolled up by objective and scope.
    Score(ScoreArgs),
    /// Value, status and score of a key result over time.
    History(KrHistoryArgs),
    /// Check in on a key result: how confident you are, a note, maybe a value or a status.
    Checkin(CheckinArgs),
    /// KRs with no check-in and no measured change for too long, by owner (the weekly reminder).
    Stale(StaleArgs),
}

#[derive(Debug, Args)]
pub struct StaleArgs {
    /// Of this cycle (and of no cycle); `all` for every one (default: the current cycle).
    #[arg(long, value_name = "CYCLE|all")]
    pub cycle: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckinArgs {
    /// The key result, e.g. KR-1.1.
    pub kr: String,
    /// How likely the KR reaches its target this cycle: 0 (no chance) to 1 (certain).
    #[arg(long, value_name = "0-1", allow_hyphen_values = true)]
    pub confidence: String,
    /// What is going on, in one line.
    #[arg(long)]
    pub note: Option<String>,
    /// A new value for the KR's metric (manual metrics only; measured ones come from `kr measure`).
    #[arg(long, allow_hyphen_values = true)]
    pub value: Option<String>,
    /// Set the KR's status (a person's call; `blocked`/`at_risk` are never changed by measurements).
    #[arg(long, value_parser = ["not_started", "in_progress", "achieved", "at_risk", "blocked"])]
    pub status: Option<String>,
    /// Print what was recorded as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CycleCommand {
    /// The cycles: listed in okrs/cycles.yml and quarters objectives use; which is current, which closed.
    List(JsonArgs),
    /// Grade every KR of the cycle (0.0-1.0, the score formula) into grades/ID.json, in one commit.
    Close(CycleCloseArgs),
    /// Start a cycle (listing it in okrs/cycles.yml unless it is a quarter); with --carry,
    /// propose the unfinished KRs of the previous cycle for it.
    Start(CycleStartArgs),
}

#[derive(Debug, Args)]
pub struct CycleCloseArgs {
    /// The cycle, e.g. 2026-Q4.
    pub cycle: String,
    /// Grade a closed cycle again (replacing its grades).
    #[arg(long)]
    pub reopen: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CycleStartArgs {
    /// The new cycle, e.g. 2027-Q1.
    pub cycle: String,
    /// Its first day (YYYY-MM-DD); with --end, for a cycle that is not a calendar quarter.
    #[arg(long, value_name = "DATE", requires = "end")]
    pub start: Option<String>,
    /// Its last day (YYYY-MM-DD, included).
    #[arg(long, value_name = "DATE", requires = "start")]
    pub end: Option<String>,
    /// Propose the unfinished KRs of the previous cycle for this one (a proposal to approve).
    #[arg(long)]
    pub carry: bool,
    /// The closed cycle to carry from (default: the one just before).
    #[arg(long, value_name = "CYCLE", requires = "carry")]
    pub from: Option<String>,
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
    /// Measure as of the end of this past day (YYYY-MM-DD): git metrics at the branch's last
    /// commit by then, CI and manual values as the state had them; writes that day's snapshot.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Record this CI report (a ci_report.json: numeric keys, flat or under "metrics") as
    /// metrics/ci_report.json and measure with it, in the same commit.
    #[arg(long, value_name = "FILE", conflicts_with = "as_of")]
    pub ci_report: Option<PathBuf>,
    /// Record these manual metrics (a manual.yml, either layout) into metrics/manual.yml
    /// and measure with them, in the same commit.
    #[arg(long, value_name = "FILE", conflicts_with = "as_of")]
    pub manual: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[arg(long)]
    pub json: bool,
    /// Show this cycle's objectives (and those of no cycle); `all` for every one (default: the current cycle).
    #[arg(long, value_name = "CYCLE|all")]
    pub cycle: Option<String>,
    /// Also write OKRchestra's score report (as_of, per KR percent_to_target 0-100,
    /// missing_metric_keys) with our 0-1 score alongside, to FILE.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Score this snapshot: a day (YYYY-MM-DD), a state path, or a snapshot file on disk
    /// (default: the latest on the state).
    #[arg(long, value_name = "DATE|PATH")]
    pub snapshot: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
    /// Show this cycle's objectives (and those of no cycle); `all` for every one (default: the current cycle).
    #[arg(long, value_name = "CYCLE|all")]
    pub cycle: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Where to write the self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    /// Open the page with xdg-open/open afterwards (best effort).
    #[arg(long)]
    pub open: bool,
    /// Report on this cycle's objectives (and those of no cycle); `all` for every one (default: the current cycle).
    #[arg(long, value_name = "CYCLE|all")]
    pub cycle: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Import an existing OKRchestra workspace folder (okrs/, culture/, metrics/).
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// Replace an existing state (history is kept: this is a new commit).
    #[arg(long)]
    pub force: bool,
    /// OKRchestra's `--template`; `minimal` (its only one) is the worked example.
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,
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
    /// Write snapshots as OKRchestra's own loader reads them: `schema_version`, `as_of`
    /// and `points` only (it refuses any other field).
    #[arg(long)]
    pub okrchestra: bool,
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
    /// Every metric key with its latest value, unit, source and time.
    List(JsonArgs),
}

/// A read command's only option.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON (shape in the README).
    #[arg(long)]
    pub json: bool,
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
pub enum CiCommand {
    /// Record test results, coverage and the build outcome in metrics/ci_report.json
    /// and metrics/ci_history.jsonl (one commit).
    Ingest(CiIngestArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).multiple(true).args(["junit", "lcov", "cobertura", "json", "build"]))]
pub struct CiIngestArgs {
    /// JUnit XML (nextest, pytest, Surefire, go-junit-report…); repeatable, counts add up.
    #[arg(long, value_name = "FILE")]
    pub junit: Vec<PathBuf>,
    /// LCOV tracefile (lcov, grcov, cargo-llvm-cov…); repeatable.
    #[arg(long, value_name = "FILE")]
    pub lcov: Vec<PathBuf>,
    /// Cobertura XML (coverage.py, cobertura-maven, gcovr…); repeatable.
    #[arg(long, value_name = "FILE")]
    pub cobertura: Vec<PathBuf>,
    /// A ci_report.json of your own: its numeric keys, flat or under "metrics", become ci.<key>.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The build's outcome, counted by ci.build_success_rate.
    #[arg(long, value_parser = ["success", "failure"])]
    pub build: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OkrCommand {
    /// Propose a change to the OKR files; it is committed as proposals/<id>.yml for review.
    Propose(ProposeArgs),
    /// List proposals, oldest first.
    List(ProposalListArgs),
    /// Show a proposal and its diff.
    Show(ProposalShowArgs),
    /// Approve a proposal (people only; `approvers` in okrs/permissions.yml).
    Approve(ProposalIdArgs),
    /// Reject a proposal.
    Reject(RejectArgs),
    /// Apply an approved proposal to the OKR files in one commit.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The proposal id (or a unique prefix of it).
    #[arg(required_unless_present = "proposal", conflicts_with = "proposal")]
    pub id: Option<String>,
    /// OKRchestra's form: the proposal's id, or its folder (artifacts/proposals/NAME) as
    /// imported by `init --from`.
    #[arg(long, value_name = "ID|DIR")]
    pub proposal: Option<String>,
    /// Approve and apply in one step, as the person at the prompt (OKRchestra's
    /// confirmation): recorded as an approve commit and an apply commit.
    #[arg(long)]
    pub i_understand: bool,
}

#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// Set a field of a KR or objective (repeatable), e.g. KR-1.1.target=120.
    #[arg(long = "set", value_name = "ID.FIELD=VALUE")]
    pub set: Vec<String>,
    /// Add the key result in --file to this objective.
    #[arg(long = "add-kr", value_name = "OBJECTIVE", requires = "file")]
    pub add_kr: Option<String>,
    /// Remove a key result or an objective (repeatable).
    #[arg(long = "remove", value_name = "ID")]
    pub remove: Vec<String>,
    /// A YAML file: the KR for --add-kr, else a whole OKR file to add or replace.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Where the whole file of --file goes (default: okrs/<its name>).
    #[arg(
        long,
        value_name = "STATE_PATH",
        requires = "file",
        conflicts_with = "add_kr"
    )]
    pub path: Option<String>,
    /// Every OKR file (*.yml) in DIR, each proposed whole (OKRchestra's `--from`).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["file", "add_kr"])]
    pub from: Option<PathBuf>,
    /// Why the change is needed (required; OKRchestra's --note; optional with --from).
    #[arg(long, visible_alias = "note")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProposalListArgs {
    /// Only proposals in this status (proposed, approved, rejected, applied).
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProposalShowArgs {
    /// The proposal id (or a unique prefix of it).
    pub id: String,
    /// Print JSON: the `okr list --json` fields plus each file's diff.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProposalIdArgs {
    /// The proposal id (or a unique prefix of it).
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The proposal id (or a unique prefix of it).
    pub id: String,
    /// Why it is rejected (required).
    #[arg(long)]
    pub reason: String,
}

impl Command {
    /// Short commands whose output is often piped; long-running ones (daemon, plan runs)
    /// must not die of SIGPIPE.
    pub fn prints_to_pipes(&self) -> bool {
        !matches!(
            self,
            Command::Plan(PlanCommand::Run(_))
                | Command::Daemon(DaemonCommand::Run(_))
                | Command::Mcp
        )
    }
}

impl Command {
    /// Commands whose output can be long: on a terminal it goes through the pager.
    /// Commands that work without a repository.
    pub fn needs_repository(&self) -> bool {
        !matches!(
            self,
            Command::Man(_)
                | Command::Completions(_)
                | Command::Plan(PlanCommand::Schema | PlanCommand::ResultSchema)
        )
    }

    pub fn pages(&self) -> bool {
        matches!(
            self,
            Command::Audit(AuditArgs { command: None, .. })
                | Command::Kr(KrCommand::History(_))
                | Command::Okr(OkrCommand::Show(_))
                | Command::Plan(PlanCommand::Show(_))
                | Command::Show(_)
                | Command::Status(_)
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Schedule a job: `--cron "0 9 * * 1-5"` and/or `--on EVENT`, `--job kr_measure [-- ARGS…]`.
    Schedule(ScheduleArgs),
    /// List scheduled jobs with their next run times.
    Jobs(JobsArgs),
    /// Remove a scheduled job.
    Unschedule(UnscheduleArgs),
    /// Run due jobs until stopped (SIGINT/SIGTERM), one daemon per repository.
    Run(DaemonRunArgs),
    /// Is the daemon running; each job's last run, outcome and next run; recent journal.
    Status(DaemonStatusArgs),
    /// The daemon's log (.git/okr/daemon.log).
    Logs(DaemonLogsArgs),
    /// Start the daemon: through the installed service, else detached in the background.
    Start,
    /// Stop the running daemon (it finishes the job in hand first).
    Stop,
    /// Install a service that keeps the daemon running (systemd user unit / launchd agent).
    Install(InstallArgs),
    /// Stop and remove the service `install` wrote (exactly those files).
    Uninstall,
    /// Run a job once: a scheduled job's id, or a job (`kr_measure`) with its arguments.
    Enqueue(EnqueueArgs),
    /// Print (or --install) a macOS LaunchAgent that keeps the daemon running.
    Launchd(UnitArgs),
    /// Print (or --install) a systemd user service that keeps the daemon running.
    Systemd(UnitArgs),
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Crontab expression: 5 fields, 6 with seconds first, or @hourly/@daily/@weekly/@monthly/@yearly.
    #[arg(long, allow_hyphen_values = true)]
    pub cron: Option<String>,
    /// Run on an event: okrs_changed, metrics_recorded, plan_created, branch_moved
    /// (repeat or separate with commas).
    #[arg(long = "on", value_name = "EVENT", value_delimiter = ',')]
    pub on: Vec<String>,
    /// The job: kr_measure, plan_generate, plan_run or sync.
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
pub struct DaemonStatusArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DaemonLogsArgs {
    /// How many of the last lines to show.
    #[arg(short = 'n', long = "lines", default_value_t = 20, value_name = "N")]
    pub lines: usize,
    /// Keep printing lines as they are written (until interrupted).
    #[arg(short = 'f', long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Only write the service file; do not ask the service manager to enable and start it.
    #[arg(long)]
    pub no_start: bool,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// A scheduled job's id (or a unique prefix), or a job: kr_measure, plan_generate, plan_run, sync.
    pub job: String,
    /// Not before this time: RFC 3339, `YYYY-MM-DD HH:MM` or `HH:MM` (local time, next occurrence).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Arguments for the job's command, after `--` (only with a job name).
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
    Status(JsonArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only events about this key result.
    #[arg(long, value_name = "ID", visible_alias = "kr-id")]
    pub kr: Option<String>,
    /// Only events about this objective.
    #[arg(long, value_name = "ID", visible_alias = "objective-id")]
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
    /// Show this clone's local journal instead (daemon runs, skips, refusals; never shared).
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Rebuild the audit mirror from every commit of refs/okr/state.
    Rebuild,
    /// This clone's journal of attempts that changed nothing: refused proposals, failed applies.
    Journal(JournalArgs),
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// Show at most N entries (newest first).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print the entries as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KrHistoryArgs {
    /// The key result, e.g. KR-1.1.
    pub kr: String,
    /// Print the history as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub pull: PullArgs,
    /// Instead of syncing, add the fetch refspec +refs/okr/*:refs/okr-remotes/REMOTE/*
    /// so plain `git fetch` brings the remote's state too.
    #[arg(long)]
    pub setup: bool,
    /// Only say what sync would fetch, merge and push, and where (one `git ls-remote`;
    /// nothing is fetched, committed or pushed).
    #[arg(long, conflicts_with_all = ["setup", "ours", "theirs"])]
    pub dry_run: bool,
    /// With --setup, add push refspecs too. A configured push refspec REPLACES git's
    /// default push, so `HEAD` (the current branch) is added with refs/okr/state.
    #[arg(long, requires = "setup")]
    pub push_too: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The remote (default: the current branch's remote, else origin), a URL or a path.
    pub remote: Option<String>,
    /// Settle every conflict with your side.
    #[arg(long, conflicts_with = "theirs")]
    pub ours: bool,
    /// Settle every conflict with the remote's side.
    #[arg(long)]
    pub theirs: bool,
    /// Print the result as JSON (shape in the README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The remote (default: the current branch's remote, else origin), a URL or a path.
    pub remote: Option<String>,
    /// Print the result as JSON (shape in the README).
    #[arg(long)]
    pub json: bool,
}
