//! `git okr daemon schedule|jobs|unschedule|run|status|logs|start|stop|install|uninstall|enqueue|launchd|systemd`.

use super::output::table;
use crate::cli::{
    DaemonCommand, DaemonLogsArgs, DaemonStatusArgs, EnqueueArgs, InstallArgs, JobsArgs,
    ScheduleArgs, UnitArgs, UnscheduleArgs,
};
use crate::ctx::require_initialized;
use crate::ctx::Ctx;
use crate::daemon::control::{self, Started, StopOutcome};
use crate::daemon::queue::{self, Queued};
use crate::daemon::run::{DaemonState, Options};
use crate::daemon::{compile, units, Checker, Commands, Scheduled};
use crate::model::jobs::Event;
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
                clone: crate::daemon::clone_identity(
                    &ctx.store.okr_dir()?,
                    &ctx.store.identity().1,
                ),
            };
            crate::daemon::run::run(&ctx.store, opts)
        }
        DaemonCommand::Status(args) => status(ctx, args),
        DaemonCommand::Logs(args) => logs(ctx, args),
        DaemonCommand::Start => start(ctx),
        DaemonCommand::Stop => stop(ctx),
        DaemonCommand::Install(args) => install(ctx, args),
        DaemonCommand::Uninstall => uninstall(ctx),
        DaemonCommand::Enqueue(args) => enqueue(ctx, args),
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
    let on = args
        .on
        .iter()
        .map(|e| Event::parse(e).map_err(|e| anyhow!("--on: {e}")))
        .collect::<Result<Vec<Event>>>()?;
    if args.cron.is_none() && on.is_empty() {
        return Err(anyhow!(
            "say when the job runs: --cron EXPR, --on EVENT ({}), or both",
            Event::ALL.map(Event::as_str).join(", ")
        ));
    }
    let draft = Job {
        id: String::new(),
        job: args.job.clone(),
        cron: args.cron.as_deref().map(|c| c.trim().to_string()),
        on,
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
        .unwrap_or_else(|| "on its events".into());
    println!("Scheduled job {}: {}", job.id, describe(job));
    println!("Next run: {next}");
    println!(
        "Nothing runs until a daemon does: `git okr daemon run` (stop it with Ctrl-C), or `git okr daemon install` for a service that keeps one running (a systemd user unit on Linux, a launchd agent on macOS)."
    );
    Ok(())
}

/// The commit writing `jobs` after `action` (schedule, unschedule) on `job`.
fn jobs_commit(ctx: &Ctx, jobs: &Jobs, action: &str, job: Job) -> Result<Step<Job>> {
    let mut changes = Changes::new();
    changes.write(JOBS_FILE, jobs.render()?);
    let message = ctx
        .message(
            format!("okr: {action} {} ({})", job.job, crate::daemon::when(&job)),
            action,
        )
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
    let mut s = format!("{} {}", job.job, crate::daemon::when(job));
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
                    "id": job.id, "job": job.job, "cron": job.cron, "on": job.on, "tz": job.tz, "args": job.args,
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
        "WHEN".into(),
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
            match (&job.cron, job.on.is_empty()) {
                (Some(cron), true) => cron.clone(),
                (Some(cron), false) => format!("{cron}, on {}", events(job)),
                (None, _) => format!("on {}", events(job)),
            },
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

fn events(job: &Job) -> String {
    let on: Vec<&str> = job.on.iter().map(|e| e.as_str()).collect();
    on.join(",")
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

fn fmt_time(t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn status(ctx: &Ctx, args: DaemonStatusArgs) -> Result<()> {
    let okr_dir = ctx.store.okr_dir()?;
    let running = control::running(&okr_dir);
    let installed = control::Installed::load(&okr_dir);
    let snap = ctx.store.snapshot()?;
    let jobs = load_jobs(&snap)?;
    let state = DaemonState::load(&okr_dir);
    let commands = commands();
    let remotes = remotes(ctx);
    let checker = Checker {
        commands: &commands,
        remotes: Some(&remotes),
    };
    let now = Utc::now();
    let mut journal: Vec<crate::audit::journal::Entry> =
        crate::audit::journal::entries(&ctx.store, Some(200))
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.actor == "daemon")
            .collect();
    journal.truncate(10);
    let queued = queue::list(&okr_dir);
    let rows: Vec<serde_json::Value> = jobs
        .jobs
        .iter()
        .map(|job| {
            let c = compile(job, &checker);
            let st = state.jobs.get(&job.id);
            let next = c.as_ref().ok().and_then(|s| state.next_run(s, now));
            serde_json::json!({
                "id": job.id,
                "job": job.job,
                "when": crate::daemon::when(job),
                "last_run": st.and_then(|s| s.last_run).map(|t| t.to_rfc3339()),
                "last_outcome": st.and_then(|s| s.last_outcome.clone()),
                "last_trigger": st.and_then(|s| s.last_trigger.clone()),
                "last_error": st.and_then(|s| s.last_error.clone()),
                "next_run": next.map(|t| t.to_rfc3339()),
                "error": c.as_ref().err().map(|e| format!("{e:#}")),
            })
        })
        .collect();
    let last_error = state
        .jobs
        .iter()
        .filter_map(|(id, s)| Some((s.last_run?, id, s.last_error.clone()?)))
        .max()
        .map(|(t, id, e)| format!("{} job {id}: {e}", fmt_time(t)));
    if args.json {
        let out = serde_json::json!({
            "running": running.is_some(),
            "pid": running.as_ref().map(|r| r.pid),
            "since": running.as_ref().map(|r| r.since.clone()),
            "service": installed.as_ref().map(|i| serde_json::json!({"manager": i.manager, "name": i.service, "enabled": i.enabled})),
            "jobs": rows,
            "queued": queued.iter().filter_map(|(_, q)| q.as_ref().ok()).collect::<Vec<_>>(),
            "last_error": last_error,
            "journal": journal,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    match &running {
        Some(r) => println!("Daemon: running (pid {}, since {})", r.pid, r.since),
        None => println!("Daemon: not running (start it with `git okr daemon start`)"),
    }
    if let Some(i) = &installed {
        println!(
            "Service: {} {} ({})",
            i.manager,
            i.service,
            if i.enabled {
                "enabled"
            } else {
                "written, not enabled"
            }
        );
    }
    if rows.is_empty() {
        println!(
            "Jobs: none. Add one with `git okr daemon schedule --cron EXPR --job kr_measure`."
        );
    } else {
        let mut table_rows = vec![vec![
            "ID".to_string(),
            "JOB".into(),
            "WHEN".into(),
            "LAST RUN".into(),
            "OUTCOME".into(),
            "NEXT RUN".into(),
        ]];
        for r in &rows {
            let text = |k: &str| r[k].as_str().unwrap_or("-").to_string();
            let time = |k: &str| {
                r[k].as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| fmt_time(t.with_timezone(&Utc)))
                    .unwrap_or_else(|| "-".into())
            };
            table_rows.push(vec![
                text("id"),
                text("job"),
                text("when"),
                time("last_run"),
                r["error"]
                    .as_str()
                    .map(|e| format!("cannot run: {e}"))
                    .unwrap_or_else(|| text("last_outcome")),
                time("next_run"),
            ]);
        }
        for line in table(&table_rows) {
            println!("{line}");
        }
    }
    if !queued.is_empty() {
        println!("Queued: {} one-off run(s)", queued.len());
    }
    if let Some(e) = last_error {
        println!("Last error: {e}");
    }
    if !journal.is_empty() {
        println!("Recent:");
        for e in journal.iter().rev() {
            let when = chrono::DateTime::from_timestamp(e.time, 0).unwrap_or_default();
            println!(
                "  {} {} {} {}{}",
                fmt_time(when),
                e.action,
                e.outcome,
                e.subject
                    .as_deref()
                    .map(|s| format!("{s} "))
                    .unwrap_or_default(),
                e.message
            );
        }
    }
    Ok(())
}

fn logs(ctx: &Ctx, args: DaemonLogsArgs) -> Result<()> {
    use std::io::Write;
    let okr_dir = ctx.store.okr_dir()?;
    let (lines, mut offset) = control::last_lines(&okr_dir, args.lines)?;
    if lines.is_empty() && !args.follow {
        println!(
            "No daemon log yet ({}).",
            okr_dir.join(crate::daemon::run::LOG_FILE).display()
        );
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let (more, next) = control::log_since(&okr_dir, offset)?;
        offset = next;
        if !more.is_empty() {
            out.write_all(more.as_bytes())?;
            out.flush()?;
        }
    }
}

fn start(ctx: &Ctx) -> Result<()> {
    let okr_dir = ctx.store.okr_dir()?;
    match control::start(&okr_dir, &own_exe()?, &repo_path(ctx)?)? {
        Started::AlreadyRunning(r) => {
            println!(
                "The daemon is already running (pid {}, since {}).",
                r.pid, r.since
            )
        }
        Started::Service(name, Some(r)) => {
            println!("Started the daemon through {name} (pid {}).", r.pid)
        }
        Started::Service(name, None) => {
            println!("Asked {name} to start the daemon; it has not taken the lock yet (see `git okr daemon logs`).")
        }
        Started::Detached(r) => println!(
            "Started the daemon in the background (pid {}); it logs to {}.",
            r.pid,
            okr_dir.join(crate::daemon::run::LOG_FILE).display()
        ),
    }
    Ok(())
}

fn stop(ctx: &Ctx) -> Result<()> {
    let okr_dir = ctx.store.okr_dir()?;
    match control::stop(&okr_dir, std::time::Duration::from_secs(30))? {
        StopOutcome::NotRunning => println!("The daemon is not running."),
        StopOutcome::Stopped(r) => println!("Stopped the daemon (pid {}).", r.pid),
        StopOutcome::StillFinishing(r) => println!(
            "Asked the daemon (pid {}) to stop; it is finishing the job in hand and stops after it.",
            r.pid
        ),
    }
    if let Some(i) = control::Installed::load(&okr_dir).filter(|i| i.enabled) {
        println!(
            "It stays installed ({} {}): it starts again at the next login; `git okr daemon uninstall` removes it.",
            i.manager, i.service
        );
    }
    Ok(())
}

fn config_home() -> Result<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map_or_else(|| home().map(|h| h.join(".config")), Ok)
}

fn install(ctx: &Ctx, args: InstallArgs) -> Result<()> {
    let okr_dir = ctx.store.okr_dir()?;
    let (exe, repo, path_env) = unit_paths(ctx)?;
    let plan = control::service_plan(&exe, &repo, &okr_dir, &home()?, &config_home()?, &path_env);
    let (installed, complaint) = control::install(&okr_dir, &plan, !args.no_start)?;
    println!("Wrote {}", plan.path.display());
    if installed.enabled {
        println!(
            "Enabled and started {} ({}).",
            installed.service, installed.manager
        );
    } else if let Some(why) = complaint {
        eprintln!("warning: could not reach {}: {why}", installed.manager);
        println!("Start the daemon with `git okr daemon start` (it runs detached until the service manager is reachable).");
    } else {
        println!("Not enabled (--no-start); `git okr daemon start` starts it detached.");
    }
    Ok(())
}

fn uninstall(ctx: &Ctx) -> Result<()> {
    let okr_dir = ctx.store.okr_dir()?;
    let Some(done) = control::uninstall(&okr_dir)? else {
        println!(
            "Nothing to uninstall: `git okr daemon install` wrote nothing for this repository."
        );
        return Ok(());
    };
    if let Some(why) = &done.complaint {
        eprintln!("warning: {why}");
    }
    for p in &done.removed {
        println!("Removed {}", p.display());
    }
    for (p, why) in &done.kept {
        println!("Left {} ({why})", p.display());
    }
    Ok(())
}

/// `--at`: RFC 3339, `YYYY-MM-DD HH:MM`, or `HH:MM` (the next such local time).
fn parse_at(text: &str) -> Result<chrono::DateTime<Utc>> {
    use chrono::{Local, NaiveDateTime, NaiveTime, TimeZone};
    let t = text.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let local = |n: NaiveDateTime| {
        Local
            .from_local_datetime(&n)
            .earliest()
            .map(|d| d.with_timezone(&Utc))
    };
    if let Ok(n) = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M") {
        return local(n).ok_or_else(|| anyhow!("--at {t:?}: no such local time"));
    }
    if let Ok(time) = NaiveTime::parse_from_str(t, "%H:%M") {
        let now = Local::now();
        let today = now.date_naive().and_time(time);
        let when = if today > now.naive_local() {
            today
        } else {
            today + chrono::Duration::days(1)
        };
        return local(when).ok_or_else(|| anyhow!("--at {t:?}: no such local time"));
    }
    Err(anyhow!(
        "--at {t:?}: use RFC 3339 (2026-01-18T09:00:00+01:00), `YYYY-MM-DD HH:MM` or `HH:MM`"
    ))
}

fn enqueue(ctx: &Ctx, args: EnqueueArgs) -> Result<()> {
    let okr_dir = ctx.store.okr_dir()?;
    let at = args.at.as_deref().map(parse_at).transpose()?;
    let snap = ctx.store.snapshot()?;
    let jobs = load_jobs(&snap)?;
    let commands = commands();
    let remotes = remotes(ctx);
    let checker = Checker {
        commands: &commands,
        remotes: Some(&remotes),
    };
    let (job, what) = if let Some(scheduled) = jobs.find(&args.job)?.cloned() {
        if !args.args.is_empty() {
            return Err(anyhow!(
                "job {} is scheduled with its own arguments; to run {} with others, enqueue `{}` -- ARGS",
                scheduled.id,
                scheduled.job,
                scheduled.job
            ));
        }
        let what = format!("job {} ({})", scheduled.id, scheduled.job);
        (scheduled.id, what)
    } else {
        let draft = Job {
            id: "enqueued".into(),
            job: args.job.clone(),
            cron: None,
            on: Vec::new(),
            tz: None,
            args: args.args.clone(),
            created_at: None,
            created_by: None,
        };
        // Checked now, and again by the daemon before it runs.
        compile(&draft, &checker)?;
        (args.job.clone(), args.job.clone())
    };
    let item = Queued {
        job,
        args: args.args.clone(),
        at,
        by: ctx.actor.id(),
        enqueued_at: Utc::now(),
    };
    queue::enqueue(&okr_dir, &item)?;
    let when = at
        .map(|t| format!(" at {}", fmt_time(t)))
        .unwrap_or_else(|| " now".into());
    match control::running(&okr_dir) {
        Some(r) => println!("Queued {what} to run{when}; the daemon (pid {}) picks it up.", r.pid),
        None => println!(
            "Queued {what} to run{when}. The daemon is not running: start it with `git okr daemon start`."
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::tests::job;

    /// Every job names a command this binary has, and its allowlist only arguments that
    /// command has (a renamed flag would otherwise silently leave a job unusable).
    #[test]
    fn every_job_kind_names_a_real_command_and_real_arguments() {
        let mut root = crate::cli::Cli::command();
        root.build();
        for kind in crate::daemon::JOB_KINDS {
            let mut cmd = &root;
            for name in kind.command {
                cmd = cmd
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("{}: no `git okr {name}`", kind.name));
            }
            for id in kind.allowed {
                assert!(
                    cmd.get_arguments().any(|a| a.get_id() == *id),
                    "{}: `git okr {}` has no argument {id}",
                    kind.name,
                    kind.command.join(" ")
                );
            }
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
