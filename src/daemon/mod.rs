//! The daemon: scheduled jobs (on the state ref), the scheduler that runs them,
//! launchd/systemd units to start it, and desktop notifications.

pub mod lock;
pub mod notify;
pub mod run;
pub mod schedule;
pub mod units;

use crate::model::jobs::{Job, Jobs, JOBS_FILE};
use anyhow::{anyhow, bail, Result};
use clap::CommandFactory;
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agents {
    Never,
    Always,
    WithAdapter,
}

/// Every job git-okr knows. A job whose command this build does not have is refused
/// (`available` asks the command tree), so a new job is one line here.
pub const JOB_KINDS: &[JobKind] = &[
    JobKind {
        name: "kr_measure",
        command: &["kr", "measure"],
        json: true,
        agents: Agents::Never,
    },
    JobKind {
        name: "plan_generate",
        command: &["plan", "generate"],
        json: false,
        agents: Agents::WithAdapter,
    },
    JobKind {
        name: "plan_run",
        command: &["plan", "run"],
        json: false,
        agents: Agents::Always,
    },
    JobKind {
        name: "sync",
        command: &["sync"],
        json: false,
        agents: Agents::Never,
    },
];

impl JobKind {
    /// Whether this binary has the job's subcommand.
    pub fn available(&self) -> bool {
        let mut cmd = crate::cli::Cli::command();
        for name in self.command {
            match cmd.find_subcommand(name) {
                Some(sub) => cmd = sub.clone(),
                None => return false,
            }
        }
        true
    }

    /// The remote a `sync` job names that is not one of `remotes` (a URL or path from the
    /// shared ref must not make this clone send its state elsewhere).
    pub fn remote_outside(&self, args: &[String], remotes: &[String]) -> Option<String> {
        if self.name != "sync" {
            return None;
        }
        args.iter()
            .find(|a| !a.starts_with('-') && !remotes.contains(a))
            .cloned()
    }

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

    /// The arguments after `git-okr -C REPO`.
    pub fn argv(&self, args: &[String]) -> Vec<String> {
        let mut argv: Vec<String> = self.command.iter().map(|s| s.to_string()).collect();
        argv.extend(args.iter().cloned());
        if self.json && !args.iter().any(|a| a == "--json") {
            argv.push("--json".into());
        }
        argv
    }
}

/// The jobs this build can run, by name.
pub fn available_jobs() -> Vec<&'static str> {
    JOB_KINDS
        .iter()
        .filter(|k| k.available())
        .map(|k| k.name)
        .collect()
}

/// The kind named `name`, if this build can run it; the error lists what it can.
pub fn job_kind(name: &str) -> Result<&'static JobKind> {
    let known = available_jobs().join(", ");
    match JOB_KINDS.iter().find(|k| k.name == name) {
        Some(k) if k.available() => Ok(k),
        Some(k) => Err(anyhow!(
            "job {name} needs `git okr {}`, which this build does not have; jobs available: {known}",
            k.command.join(" ")
        )),
        None => Err(anyhow!("unknown job {name:?}; jobs available: {known}")),
    }
}

/// A job checked and ready to schedule.
pub struct Scheduled {
    pub job: Job,
    pub kind: &'static JobKind,
    pub cron: Cron,
    pub zone: Zone,
}

/// Check a job completely: its name, arguments (parsed as the command would), cron and zone.
pub fn compile(job: &Job) -> Result<Scheduled> {
    let kind = job_kind(&job.job)?;
    let argv = std::iter::once("git-okr".to_string()).chain(kind.argv(&job.args));
    let matches = match crate::cli::Cli::command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let first = e.to_string();
            let first = first
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            bail!("arguments {:?} for job {}: {first}", job.args, job.job);
        }
    };
    // Jobs come from the shared ref: they must not pick the repository or the identity
    // the daemon's clone runs them in (global options given after the subcommand).
    for (id, option) in [
        ("chdir", "-C"),
        ("workspace", "--workspace"),
        ("agent", "--agent"),
    ] {
        if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            bail!(
                "arguments {:?} for job {}: {option} is not allowed in a scheduled job (the daemon runs jobs in its own repository as its own user)",
                job.args,
                job.job
            );
        }
    }
    let cron = Cron::parse(&job.cron)?;
    let zone = Zone::parse(job.tz.as_deref())?;
    Ok(Scheduled {
        job: job.clone(),
        kind,
        cron,
        zone,
    })
}

/// Validate `daemon/jobs.yml` as a whole (for `git okr edit`).
pub fn validate_jobs(text: &str) -> Result<Jobs> {
    let jobs = Jobs::parse(JOBS_FILE, text)?;
    for job in &jobs.jobs {
        compile(job).map_err(|e| anyhow!("{JOBS_FILE}: job {}: {e:#}", job.id))?;
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jobs_with_a_command_are_available() {
        assert!(available_jobs().contains(&"kr_measure"));
        for kind in JOB_KINDS {
            assert_eq!(
                available_jobs().contains(&kind.name),
                kind.available(),
                "{}",
                kind.name
            );
        }
        let err = job_kind("coffee").unwrap_err().to_string();
        assert!(
            err.contains("unknown job \"coffee\"") && err.contains("kr_measure"),
            "{err}"
        );
    }

    #[test]
    fn shared_sync_jobs_stay_with_local_remotes() {
        let sync = job_kind("sync").unwrap();
        let remotes = vec!["origin".to_string()];
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(sync.remote_outside(&args(&[]), &remotes), None);
        assert_eq!(
            sync.remote_outside(&args(&["origin", "--ours"]), &remotes),
            None
        );
        assert_eq!(
            sync.remote_outside(&args(&["https://elsewhere.example/x.git"]), &remotes),
            Some("https://elsewhere.example/x.git".to_string())
        );
        let measure = job_kind("kr_measure").unwrap();
        assert_eq!(measure.remote_outside(&args(&["HEAD"]), &remotes), None);
    }

    #[test]
    fn jobs_cannot_choose_repository_or_identity() {
        let job = |args: &[&str]| Job {
            id: "1".into(),
            job: "kr_measure".into(),
            cron: "@daily".into(),
            tz: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            created_at: None,
            created_by: None,
        };
        assert!(compile(&job(&["--rev", "main"])).is_ok());
        for (args, option) in [
            (&["-C", "/elsewhere"][..], "-C"),
            (&["-C/elsewhere"][..], "-C"),
            (&["--workspace=/elsewhere"][..], "--workspace"),
            (&["--agent", "boss"][..], "--agent"),
        ] {
            let err = compile(&job(args)).err().expect("refused").to_string();
            assert!(
                err.contains(&format!("{option} is not allowed in a scheduled job")),
                "{args:?}: {err}"
            );
        }
    }

    #[test]
    fn measure_runs_with_json_once() {
        let k = job_kind("kr_measure").unwrap();
        assert_eq!(k.argv(&[]), ["kr", "measure", "--json"]);
        assert_eq!(k.argv(&["--json".into()]), ["kr", "measure", "--json"]);
    }
}
