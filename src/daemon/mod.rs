//! The daemon: scheduled jobs (on the state ref), the scheduler that runs them,
//! launchd/systemd units to start it, and desktop notifications.
//!
//! Jobs come from the shared ref, written by anyone who can push to it. Their arguments
//! are therefore parsed with the job's own command definition (handed down by the command
//! layer as a [`Commands`]), only the options on the job kind's allowlist are accepted,
//! and the daemon runs the job with an argument list it rebuilt from what was parsed,
//! so no value can turn into an option of git-okr or of git.

pub mod control;
pub mod events;
pub mod lock;
pub mod notify;
pub mod queue;
pub mod run;
pub mod schedule;
pub mod units;
pub mod watch;

use crate::model::jobs::{Job, Jobs, JOBS_FILE};
use anyhow::{anyhow, Result};
use clap::parser::ValueSource;
use schedule::{Cron, Zone};

/// A job the daemon knows and the `git okr` subcommand it runs.
#[derive(Debug)]
pub struct JobKind {
    pub name: &'static str,
    pub command: &'static [&'static str],
    /// Run with `--json` so the daemon can read what happened (and notify).
    pub json: bool,
    /// Starts coding agents: always, or only when its arguments name one (`--adapter`).
    pub agents: Agents,
    /// The ids (clap argument ids) of the command's arguments a job may give. Everything
    /// else (`-C`, `--workspace`, `--agent`, `--setup`, `--hook`, …) is refused.
    pub allowed: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agents {
    Never,
    Always,
    WithAdapter,
}

/// Every job git-okr knows; a new job is one line here (and a test in the command layer
/// checks that each names a real command and real arguments).
pub const JOB_KINDS: &[JobKind] = &[
    JobKind {
        name: "kr_measure",
        command: &["kr", "measure"],
        json: true,
        agents: Agents::Never,
        allowed: &["rev"],
    },
    JobKind {
        name: "plan_generate",
        command: &["plan", "generate"],
        json: false,
        agents: Agents::WithAdapter,
        allowed: &["kr_id", "objective", "likely_to_miss", "adapter"],
    },
    JobKind {
        name: "plan_run",
        command: &["plan", "run"],
        json: false,
        agents: Agents::Always,
        allowed: &[
            "plan",
            "kr_id",
            "objective",
            "generate",
            "likely_to_miss",
            "if_not_run",
            "adapter",
            "timeout",
            "parallel",
            "stop_on_failure",
            "measure",
        ],
    },
    JobKind {
        name: "checkin_reminder",
        command: &["kr", "stale"],
        json: true,
        agents: Agents::Never,
        allowed: &["cycle"],
    },
    JobKind {
        name: "sync",
        command: &["sync"],
        json: false,
        agents: Agents::Never,
        allowed: &["remote", "ours", "theirs"],
    },
];

/// The command tree of this build, handed down by the command layer: the daemon parses
/// job arguments with the very definitions the commands use, without depending on them.
pub struct Commands {
    root: clap::Command,
}

impl Commands {
    pub fn new(mut root: clap::Command) -> Commands {
        // Propagates global arguments (-C, --workspace, --agent) into the subcommands,
        // so they are recognized there (and refused by the allowlist).
        root.build();
        Commands { root }
    }

    fn find(&self, path: &[&str]) -> Option<&clap::Command> {
        let mut cmd = &self.root;
        for name in path {
            cmd = cmd.find_subcommand(name)?;
        }
        Some(cmd)
    }
}

/// The command tree of this build, as the command layer hands it down to the places
/// below it that validate a jobs file (`git okr edit`, `init --from`).
pub type ArgsCheck = fn() -> clap::Command;

/// What a job's arguments are checked against besides the command's definition.
pub struct Checker<'a> {
    pub commands: &'a Commands,
    /// The remotes configured in this clone: the only ones a `sync` job may name.
    /// `None` when there is no clone to ask (the check happens again before a run).
    pub remotes: Option<&'a [String]>,
}

impl JobKind {
    /// Whether running this job with `args` starts a coding agent.
    pub fn starts_agents(&self, args: &[String]) -> bool {
        match self.agents {
            Agents::Never => false,
            Agents::Always => true,
            Agents::WithAdapter => args
                .iter()
                .any(|a| a == "--adapter" || a.starts_with("--adapter=")),
        }
    }

    /// Parse `args` with the command's definition and rebuild them from what was parsed:
    /// options as `--name=value`, flags as `--name`, positionals after `--`. Refused: an
    /// argument the command does not have, one not on this kind's allowlist, a value that
    /// starts with `-` or holds a control character, a remote this clone does not have.
    pub fn check_args(&self, checker: &Checker<'_>, args: &[String]) -> Result<Vec<String>> {
        let cmd = checker.commands.find(self.command).ok_or_else(|| {
            anyhow!(
                "job {} needs `git okr {}`, which this build does not have",
                self.name,
                self.command.join(" ")
            )
        })?;
        let fail = |why: String| anyhow!("arguments {args:?} for job {}: {why}", self.name);
        for a in args {
            if a.chars().any(char::is_control) {
                return Err(fail(format!("{a:?} holds a control character")));
            }
        }
        let argv = std::iter::once(self.command.join(" ")).chain(args.iter().cloned());
        let matches = cmd.clone().try_get_matches_from(argv).map_err(|e| {
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            fail(first.to_string())
        })?;
        let mut options = Vec::new();
        let mut positionals = Vec::new();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches.value_source(id) != Some(ValueSource::CommandLine) {
                continue;
            }
            let shown = match (arg.get_long(), arg.get_short()) {
                (Some(l), _) => format!("--{l}"),
                (None, Some(s)) => format!("-{s}"),
                (None, None) => format!("the {} argument", id.to_uppercase()),
            };
            if !self.allowed.contains(&id) {
                return Err(fail(format!(
                    "{shown} is not allowed in a scheduled job (allowed: {})",
                    self.allowed_shown(cmd)
                )));
            }
            if !arg.get_action().takes_values() {
                options.push(shown);
                continue;
            }
            let values: Vec<String> = matches
                .get_raw(id)
                .into_iter()
                .flatten()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            for v in values {
                if v.starts_with('-') || v.is_empty() {
                    return Err(fail(format!(
                        "{shown} {v:?}: a value in a scheduled job must not be empty or start with '-'"
                    )));
                }
                if self.name == "sync" && id == "remote" {
                    if let Some(remotes) = checker.remotes {
                        if !remotes.contains(&v) {
                            return Err(fail(format!(
                                "{v:?} is not a remote of this clone ({}); a scheduled sync may only use this clone's own remotes, never a URL or a path",
                                if remotes.is_empty() { "it has none".to_string() } else { format!("remotes: {}", remotes.join(", ")) }
                            )));
                        }
                    }
                }
                if arg.is_positional() {
                    positionals.push(v);
                } else {
                    options.push(format!("{shown}={v}"));
                }
            }
        }
        let mut out: Vec<String> = self.command.iter().map(|s| s.to_string()).collect();
        out.extend(options);
        if self.json {
            out.push("--json".into());
        }
        if !positionals.is_empty() {
            out.push("--".into());
            out.extend(positionals);
        }
        Ok(out)
    }

    fn allowed_shown(&self, cmd: &clap::Command) -> String {
        let names: Vec<String> = cmd
            .get_arguments()
            .filter(|a| self.allowed.contains(&a.get_id().as_str()))
            .map(|a| match a.get_long() {
                Some(l) => format!("--{l}"),
                None => a.get_id().as_str().to_uppercase(),
            })
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

/// The kind named `name`; the error lists the jobs there are.
pub fn job_kind(name: &str) -> Result<&'static JobKind> {
    JOB_KINDS.iter().find(|k| k.name == name).ok_or_else(|| {
        let known: Vec<&str> = JOB_KINDS.iter().map(|k| k.name).collect();
        anyhow!("unknown job {name:?}; jobs: {}", known.join(", "))
    })
}

/// A job checked and ready to schedule.
pub struct Scheduled {
    pub job: Job,
    pub kind: &'static JobKind,
    /// `None`: the job runs only on its events or when enqueued.
    pub cron: Option<Cron>,
    pub zone: Zone,
    /// What the daemon runs after `git-okr -C REPO`, rebuilt from the parsed arguments.
    pub argv: Vec<String>,
}

/// Check a job completely: its name, arguments (parsed as the command would), cron and zone.
pub fn compile(job: &Job, checker: &Checker<'_>) -> Result<Scheduled> {
    let kind = job_kind(&job.job)?;
    let argv = kind.check_args(checker, &job.args)?;
    let cron = job.cron.as_deref().map(Cron::parse).transpose()?;
    let zone = Zone::parse(job.tz.as_deref())?;
    Ok(Scheduled {
        job: job.clone(),
        kind,
        cron,
        zone,
        argv,
    })
}

/// When a job runs, in words: `at "0 2 * * *"`, `on metrics_recorded`, or both.
pub fn when(job: &Job) -> String {
    let mut parts = Vec::new();
    if let Some(cron) = &job.cron {
        let mut at = format!("at {cron:?}");
        if let Some(tz) = &job.tz {
            at.push_str(&format!(" ({tz})"));
        }
        parts.push(at);
    }
    if !job.on.is_empty() {
        let on: Vec<&str> = job.on.iter().map(|e| e.as_str()).collect();
        parts.push(format!("on {}", on.join(", ")));
    }
    if parts.is_empty() {
        "when enqueued".to_string()
    } else {
        parts.join(" and ")
    }
}

/// This clone's identity for the `Okr-Clone` trailer: a random id kept in
/// `.git/okr/clone-id` (first, so the daemon can recognise its own commits), then the
/// person's email and the machine's name.
pub fn clone_identity(okr_dir: &std::path::Path, email: &str) -> String {
    let path = okr_dir.join("clone-id");
    let id = std::fs::read_to_string(&path)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| t.len() == 8 && t.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| {
            let id = format!("{:08x}", rand::random::<u32>());
            let _ = std::fs::write(&path, format!("{id}\n"));
            id
        });
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    format!("{id} {email} on {host}")
}

/// Validate `daemon/jobs.yml` as a whole (for `git okr edit`). Remotes are not checked
/// here (there may be no clone to ask); the daemon checks them before every run.
pub fn validate_jobs(text: &str, tree: ArgsCheck) -> Result<Jobs> {
    let jobs = Jobs::parse(JOBS_FILE, text)?;
    let commands = Commands::new(tree());
    let checker = Checker {
        commands: &commands,
        remotes: None,
    };
    for job in &jobs.jobs {
        compile(job, &checker).map_err(|e| anyhow!("{JOBS_FILE}: job {}: {e:#}", job.id))?;
    }
    Ok(jobs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    /// A command tree shaped like git-okr's (global -C/--workspace/--agent), built here so
    /// the daemon's tests need nothing from the command layer.
    fn commands() -> Commands {
        let global = |a: Arg| a.global(true);
        Commands::new(
            Command::new("git-okr")
                .arg(global(Arg::new("chdir").short('C')))
                .arg(global(Arg::new("workspace").long("workspace")))
                .arg(global(Arg::new("agent").long("agent")))
                .subcommand(
                    Command::new("kr").subcommand(
                        Command::new("measure")
                            .arg(Arg::new("rev").long("rev"))
                            .arg(Arg::new("json").long("json").action(ArgAction::SetTrue))
                            .arg(Arg::new("hook").long("hook").action(ArgAction::SetTrue)),
                    ),
                )
                .subcommand(
                    Command::new("sync")
                        .arg(Arg::new("remote"))
                        .arg(Arg::new("ours").long("ours").action(ArgAction::SetTrue))
                        .arg(Arg::new("setup").long("setup").action(ArgAction::SetTrue)),
                ),
        )
    }

    /// A daily job of `kind` with `args`.
    pub(crate) fn job(kind: &str, args: &[&str]) -> Job {
        Job {
            id: "a1".into(),
            job: kind.into(),
            cron: Some("@daily".into()),
            on: Vec::new(),
            tz: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            created_at: None,
            created_by: None,
        }
    }

    #[test]
    fn an_unknown_job_is_refused_with_the_list() {
        let err = job_kind("coffee").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown job \"coffee\"; jobs: kr_measure, plan_generate, plan_run, checkin_reminder, sync"
        );
    }

    #[test]
    fn arguments_are_rebuilt_from_what_was_parsed() {
        let cmds = commands();
        let remotes = vec!["origin".to_string()];
        let checker = Checker {
            commands: &cmds,
            remotes: Some(&remotes),
        };
        let argv = |kind: &str, args: &[&str]| compile(&job(kind, args), &checker).map(|s| s.argv);
        assert_eq!(
            argv("kr_measure", &["--rev", "main"]).unwrap(),
            ["kr", "measure", "--rev=main", "--json"]
        );
        assert_eq!(
            argv("sync", &["origin", "--ours"]).unwrap(),
            ["sync", "--ours", "--", "origin"]
        );
        assert_eq!(argv("sync", &[]).unwrap(), ["sync"]);
    }

    #[test]
    fn jobs_cannot_choose_repository_identity_configuration_or_remote() {
        let cmds = commands();
        let remotes = vec!["origin".to_string()];
        let checker = Checker {
            commands: &cmds,
            remotes: Some(&remotes),
        };
        let refused = |kind: &str, args: &[&str], why: &str| {
            let err = compile(&job(kind, args), &checker)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            let err = format!("{err:#}");
            assert!(err.contains(why), "{args:?}: {err}");
        };
        refused("kr_measure", &["-C", "/elsewhere"], "-C is not allowed");
        refused("kr_measure", &["-C/elsewhere"], "-C is not allowed");
        refused(
            "kr_measure",
            &["--workspace=/x"],
            "--workspace is not allowed",
        );
        refused("kr_measure", &["--agent", "boss"], "--agent is not allowed");
        refused("kr_measure", &["--hook"], "--hook is not allowed");
        refused("kr_measure", &["--json"], "--json is not allowed");
        refused(
            "kr_measure",
            &["--rev=--output=/tmp/x"],
            "must not be empty or start with '-'",
        );
        refused("kr_measure", &["--upload-pack=x"], "unexpected argument");
        refused("kr_measure", &["--rev", "a\nb"], "control character");
        refused("sync", &["--setup"], "--setup is not allowed");
        refused(
            "sync",
            &["--", "--upload-pack=touch /tmp/x;"],
            "must not be empty or start with '-'",
        );
        refused(
            "sync",
            &["https://evil.example/x.git"],
            "is not a remote of this clone",
        );
        refused("sync", &["../other"], "is not a remote of this clone");
        // Without a clone to ask (editing the file), remotes are checked before each run.
        let no_clone = Checker {
            commands: &cmds,
            remotes: None,
        };
        assert!(compile(&job("sync", &["upstream"]), &no_clone).is_ok());
    }
}
