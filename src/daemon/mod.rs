//! The daemon: scheduled jobs (on the state ref), the scheduler that runs them,
//! launchd/systemd units to start it, and desktop notifications.

pub mod lock;
pub mod notify;
pub mod run;
pub mod schedule;
pub mod units;

use crate::model::jobs::{Job, Jobs, JOBS_FILE};
use anyhow::{anyhow, Result};
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

/// Every job git-okr knows; a new job is one line here.
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

/// Every job's name, for messages.
pub fn job_names() -> Vec<&'static str> {
    JOB_KINDS.iter().map(|k| k.name).collect()
}

/// The kind named `name`; the error lists the known ones.
pub fn job_kind(name: &str) -> Result<&'static JobKind> {
    JOB_KINDS.iter().find(|k| k.name == name).ok_or_else(|| {
        anyhow!(
            "unknown job {name:?}; jobs available: {}",
            job_names().join(", ")
        )
    })
}

/// Checks a job's arguments as its command would take them: `argv` is `git-okr`, the
/// job's subcommand words and its arguments. The command layer hands it in (the daemon
/// knows no command-line tree); the error is one line saying what is wrong.
pub type ArgsCheck = fn(argv: &[String]) -> Result<()>;

/// A job checked and ready to schedule.
pub struct Scheduled {
    pub job: Job,
    pub kind: &'static JobKind,
    pub cron: Cron,
    pub zone: Zone,
}

/// Check a job completely: its name, arguments (with `check_args`), cron and zone.
pub fn compile(job: &Job, check_args: ArgsCheck) -> Result<Scheduled> {
    let kind = job_kind(&job.job)?;
    let argv: Vec<String> = std::iter::once("git-okr".to_string())
        .chain(kind.argv(&job.args))
        .collect();
    check_args(&argv)
        .map_err(|e| anyhow!("arguments {:?} for job {}: {e:#}", job.args, job.job))?;
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
pub fn validate_jobs(text: &str, check_args: ArgsCheck) -> Result<Jobs> {
    let jobs = Jobs::parse(JOBS_FILE, text)?;
    for job in &jobs.jobs {
        compile(job, check_args).map_err(|e| anyhow!("{JOBS_FILE}: job {}: {e:#}", job.id))?;
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_jobs_are_refused_with_the_known_ones() {
        let err = job_kind("coffee").unwrap_err().to_string();
        assert!(
            err.contains("unknown job \"coffee\"") && err.contains("kr_measure, plan_generate"),
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
    fn a_refused_argument_names_the_job() {
        let job = Job {
            id: "1".into(),
            job: "kr_measure".into(),
            cron: "@daily".into(),
            tz: None,
            args: vec!["--bogus".into()],
            created_at: None,
            created_by: None,
        };
        let refuse_bogus: ArgsCheck = |argv| match argv.iter().any(|a| a == "--bogus") {
            true => Err(anyhow!("unexpected argument '--bogus'")),
            false => Ok(()),
        };
        let err = compile(&job, refuse_bogus).err().expect("refused");
        assert_eq!(
            format!("{err:#}"),
            "arguments [\"--bogus\"] for job kr_measure: unexpected argument '--bogus'"
        );
        let seen: ArgsCheck = |argv| {
            assert_eq!(argv, ["git-okr", "kr", "measure", "--json"]);
            Ok(())
        };
        let job = Job {
            args: vec![],
            ..job
        };
        assert!(compile(&job, seen).is_ok());
    }

    #[test]
    fn measure_runs_with_json_once() {
        let k = job_kind("kr_measure").unwrap();
        assert_eq!(k.argv(&[]), ["kr", "measure", "--json"]);
        assert_eq!(k.argv(&["--json".into()]), ["kr", "measure", "--json"]);
    }
}
