//! `git okr daemon schedule|jobs|unschedule|run|launchd|systemd`.

use super::output::table;
use crate::cli::{DaemonCommand, JobsArgs, ScheduleArgs, UnitArgs, UnscheduleArgs};
use crate::ctx::require_initialized;
use crate::ctx::Ctx;
use crate::daemon::run::{DaemonState, Options};
use crate::daemon::{compile, units, Checker, Commands, Scheduled};
use crate::model::jobs::{Job, Jobs, JOBS_FILE};
use crate::store::{Changes, Commit, Snapshot, Step};
use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use clap::CommandFactory;
use std::path::PathBuf;

pub fn run(ctx: &Ctx, cmd: DaemonCommand) -> Result<()> {
    match cmd {
        DaemonCommand::Schedule(args) => schedule(ctx, args),
        DaemonCommand::Jobs(args) => jobs(ctx, args),
        DaemonCommand::Unschedule(args) => unschedule(ctx, args),
        DaemonCommand::Run(args) => {
            let config = ctx.store.repo().config_snapshot();
            let opts = Options {
                once: args.once,
                exe: own_exe()?,
                repo: repo_path(ctx)?,
                notify: config.boolean("okr.daemon.notify").unwrap_or(true),
                allow_agents: config.boolean("okr.daemon.allowAgents").unwrap_or(false),
                remotes: remotes(ctx),
                commands: commands(),
            };
            crate::daemon::run::run(&ctx.store, opts)
        }
        DaemonCommand::Launchd(args) => launchd(ctx, args),
        DaemonCommand::Systemd(args) => systemd(ctx, args),
    }
}

/// This build's command tree: the daemon parses job arguments with the very definitions
/// the commands use (see `daemon::ArgsCheck`).
pub(crate) fn check_job_args() -> clap::Command {
    crate::cli::Cli::command()
}

/// The checker for jobs scheduled or run in this clone.
fn commands() -> Commands {
    Commands::new(check_job_args())
}

/// The remotes configured in this clone.
fn remotes(ctx: &Ctx) -> Vec<String> {
    ctx.store
        .repo()
        .remote_names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

/// The folder a job runs in: the work tree, or the git dir of a bare repository.
fn repo_path(ctx: &Ctx) -> Result<PathBuf> {
    let repo = ctx.store.repo();
    let path = repo.workdir().unwrap_or_else(|| repo.git_dir());
    path.canonicalize()
        .with_context(|| format!("resolving {}", path.display()))
}

fn load_jobs(snap: &Snapshot<'_>) -> Result<Jobs> {
    Jobs::parse(JOBS_FILE, &snap.read_text(JOBS_FILE)?.unwrap_or_default())
}

fn schedule(ctx: &Ctx, args: ScheduleArgs) -> Result<()> {
    let created_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let draft = Job {
        id: String::new(),
        job: args.job.clone(),
        cron: args.cron.trim().to_string(),
        tz: args.tz.as_deref().map(|t| t.trim().to_string()),
        args: args.args.clone(),
        created_at: Some(created_at),
        created_by: Some(ctx.actor.id()),
    };
    // Everything is checked before anything is written.
    let commands = commands();
    let remotes = remotes(ctx);
    let checker = Checker {
        commands: &commands,
        remotes: Some(&remotes),
    };
    compile(&draft, &checker)?;
    let outcome = ctx.store.transact(|snap| {
        require_initialized(snap)?;
        let mut jobs = load_jobs(snap)?;
        let job = Job {
            id: jobs.new_id(),
            ..draft.clone()
        };
        jobs.jobs.push(job.clone());
        jobs_commit(ctx, &jobs, "schedule", job)
    })?;
    let job = outcome.value();
    let s = compile(job, &checker)?;
    let next = DaemonState::default()
        .next_run(&s, Utc::now())
        .map(|t| s.zone.show(t))
        .unwrap_or_else(|| "never".into());
    println!("Scheduled job {}: {}", job.id, describe(job));
    println!("Next run: {next}");
    Ok(())
}

/// The commit writing `jobs` after `action` (schedule, unschedule) on `job`.
fn jobs_commit(ctx: &Ctx, jobs: &Jobs, action: &str, job: Job) -> Result<Step<Job>> {
    let mut changes = Changes::new();
    changes.write(JOBS_FILE, jobs.render()?);
    let message = ctx
        .message(format!("okr: {action} {} ({})", job.job, job.cron), action)
        .body(describe(&job))
        .trailer("Okr-Job", &job.id);
    Ok(Step::Commit(Commit {
        changes,
        message,
        value: job,
    }))
}

/// `kr_measure at "0 9 * * 1-5" (Europe/Paris) with --rev main`
fn describe(job: &Job) -> String {
    let mut s = format!("{} at {:?}", job.job, job.cron);
    if let Some(tz) = &job.tz {
        s.push_str(&format!(" ({tz})"));
    }
    if !job.args.is_empty() {
        s.push_str(&format!(" with {}", job.args.join(" ")));
    }
    s
}

fn unschedule(ctx: &Ctx, args: UnscheduleArgs) -> Result<()> {
    let outcome = ctx.store.transact(|snap| {
        require_initialized(snap)?;
        let mut jobs = load_jobs(snap)?;
        let job = jobs.find(&args.id)?.cloned().ok_or_else(|| {
            let ids: Vec<&str> = jobs.jobs.iter().map(|j| j.id.as_str()).collect();
            anyhow!(
                "no scheduled job {:?} in {JOBS_FILE} (jobs: {})",
                args.id,
                if ids.is_empty() {
                    "none".to_string()
                } else {
                    ids.join(", ")
                }
            )
        })?;
        jobs.jobs.retain(|j| j.id != job.id);
        jobs_commit(ctx, &jobs, "unschedule", job)
    })?;
    let job = outcome.value();
    println!("Unscheduled job {}: {}", job.id, describe(job));
    Ok(())
}

fn jobs(ctx: &Ctx, args: JobsArgs) -> Result<()> {
    let snap = ctx.store.snapshot()?;
    let jobs = load_jobs(&snap)?;
    let state = DaemonState::load(&ctx.store.okr_dir()?);
    let now = Utc::now();
    let commands = commands();
    let remotes = remotes(ctx);
    let checker = Checker {
        commands: &commands,
        remotes: Some(&remotes),
    };
    let rows: Vec<(Job, Result<Scheduled>)> = jobs
        .jobs
        .into_iter()
        .map(|j| {
            let c = compile(&j, &checker);
            (j, c)
        })
        .collect();
    let next_of = |c: &Result<Scheduled>| -> Option<chrono::DateTime<Utc>> {
        c.as_ref().ok().and_then(|s| state.next_run(s, now))
    };
    if args.json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(job, c)| {
                let st = c.as_ref().ok().and_then(|s| state.of(s));
                serde_json::json!({
                    "id": job.id, "job": job.job, "cron": job.cron, "tz": job.tz, "args": job.args,
                    "created_at": job.created_at, "created_by": job.created_by,
                    "next_run": next_of(c).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    "due": next_of(c).is_some_and(|t| t <= now),
                    "last_run": st.and_then(|s| s.last_run).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    "last_exit": st.and_then(|s| s.last_exit),
                    "error": c.as_ref().err().map(|e| format!("{e:#}")),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("No scheduled jobs. Add one with `git okr daemon schedule --cron EXPR --job kr_measure`.");
        return Ok(());
    }
    let mut table_rows = vec![vec![
        "ID".to_string(),
        "JOB".into(),
        "CRON".into(),
        "TZ".into(),
        "NEXT RUN".into(),
        "LAST RUN".into(),
        "ARGS".into(),
    ]];
    for (job, c) in &rows {
        let next = match c {
            Err(e) => format!("cannot run: {e:#}"),
            Ok(s) => match next_of(c) {
                Some(t) if t <= now => format!("due now (since {})", s.zone.show(t)),
                Some(t) => s.zone.show(t),
                None => "never".into(),
            },
        };
        let last = c
            .as_ref()
            .ok()
            .and_then(|s| state.of(s))
            .and_then(|st| {
                st.last_run.map(|t| {
                    let exit = st
                        .last_exit
                        .map(|c| format!(" (exit {c})"))
                        .unwrap_or_default();
                    format!(
                        "{}{exit}",
                        t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S")
                    )
                })
            })
            .unwrap_or_else(|| "-".into());
        table_rows.push(vec![
            job.id.clone(),
            job.job.clone(),
            job.cron.clone(),
            job.tz.clone().unwrap_or_else(|| "local".into()),
            next,
            last,
            job.args.join(" "),
        ]);
    }
    for line in table(&table_rows) {
        println!("{line}");
    }
    Ok(())
}

/// This binary, which the daemon's jobs and the service units run.
fn own_exe() -> Result<PathBuf> {
    std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("locating the git-okr binary")
}

fn unit_paths(ctx: &Ctx) -> Result<(PathBuf, PathBuf, String)> {
    Ok((
        own_exe()?,
        repo_path(ctx)?,
        std::env::var("PATH").unwrap_or_default(),
    ))
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("HOME is not set: cannot find where to install"))
}

fn write_unit(path: &std::path::Path, text: &str) -> Result<()> {
    std::fs::create_dir_all(path.parent().expect("a unit path has a folder"))?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn launchd(ctx: &Ctx, args: UnitArgs) -> Result<()> {
    let (exe, repo, path_env) = unit_paths(ctx)?;
    let plist = units::launchd_plist(&exe, &repo, &ctx.store.okr_dir()?, &path_env);
    if !args.install {
        print!("{plist}");
        return Ok(());
    }
    let path = units::launchd_path(&home()?, &repo);
    write_unit(&path, &plist)?;
    println!("Wrote {}", path.display());
    println!(
        "Start it with: launchctl bootstrap gui/$(id -u) {}",
        path.display()
    );
    Ok(())
}

fn systemd(ctx: &Ctx, args: UnitArgs) -> Result<()> {
    let (exe, repo, path_env) = unit_paths(ctx)?;
    let unit = units::systemd_unit(&exe, &repo, &path_env);
    if !args.install {
        print!("{unit}");
        return Ok(());
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map_or_else(|| home().map(|h| h.join(".config")), Ok)?;
    let path = units::systemd_path(&config, &repo);
    write_unit(&path, &unit)?;
    println!("Wrote {}", path.display());
    println!(
        "Start it with: systemctl --user daemon-reload && systemctl --user enable --now {}",
        units::systemd_unit_name(&repo)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: &str, args: &[&str]) -> Job {
        Job {
            id: "1".into(),
            job: kind.into(),
            cron: "@daily".into(),
            tz: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            created_at: None,
            created_by: None,
        }
    }

    /// The allowlists name arguments the real commands have, and the real commands'
    /// dangerous options are refused.
    #[test]
    fn job_arguments_are_checked_with_the_real_command_tree() {
        let commands = commands();
        let remotes = vec!["origin".to_string()];
        let checker = Checker {
            commands: &commands,
            remotes: Some(&remotes),
        };
        let argv = |kind: &str, args: &[&str]| compile(&job(kind, args), &checker).map(|s| s.argv);
        assert_eq!(
            argv("kr_measure", &["--rev", "main"]).unwrap(),
            ["kr", "measure", "--rev=main", "--json"]
        );
        assert_eq!(
            argv("plan_run", &["--adapter", "codex", "plan-1"]).unwrap(),
            ["plan", "run", "--adapter=codex", "--", "plan-1"]
        );
        assert_eq!(
            argv("sync", &["--theirs", "origin"]).unwrap(),
            ["sync", "--theirs", "--", "origin"]
        );
        for (kind, args, why) in [
            ("kr_measure", &["-C", "/elsewhere"][..], "-C is not allowed"),
            (
                "kr_measure",
                &["--workspace=/x"][..],
                "--workspace is not allowed",
            ),
            (
                "kr_measure",
                &["--agent", "boss"][..],
                "--agent is not allowed",
            ),
            ("kr_measure", &["--hook"][..], "--hook is not allowed"),
            ("kr_measure", &["--frobnicate"][..], "--frobnicate"),
            ("sync", &["--setup", "--push-too"][..], "is not allowed"),
            (
                "sync",
                &["--", "--upload-pack=touch /tmp/x;"][..],
                "start with '-'",
            ),
            (
                "sync",
                &["/tmp/elsewhere"][..],
                "not a remote of this clone",
            ),
        ] {
            let err = format!(
                "{:#}",
                compile(&job(kind, args), &checker).err().expect("refused")
            );
            assert!(err.contains(why), "{args:?}: {err}");
        }
    }
}
