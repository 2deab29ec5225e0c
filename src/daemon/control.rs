//! The daemon's lifecycle from outside: is it running (the lock says), stop it (SIGTERM to
//! the lock holder, which finishes the job in hand), start it (through the service that
//! `install` set up, else as a detached process), install and uninstall that service
//! (recording exactly what was written, so uninstall removes that and nothing else).

use super::lock::LOCK_FILE;
use super::units;
use anyhow::{anyhow, bail, Context, Result};
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What `install` wrote, in `.git/okr/daemon-install.json`.
pub const MANIFEST: &str = "daemon-install.json";

/// A running daemon, as its lock file describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Running {
    pub pid: i32,
    pub since: String,
}

/// The daemon holding this repository's lock, if one does.
pub fn running(okr_dir: &Path) -> Option<Running> {
    let path = okr_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new().read(true).open(&path).ok()?;
    // A shared lock is granted only when no daemon holds the exclusive one.
    if FileExt::try_lock_shared(&file).unwrap_or(false) {
        let _ = FileExt::unlock(&file);
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    // "pid 123, started 2026-01-18T09:00:00Z"
    let (pid, since) = text.trim().strip_prefix("pid ")?.split_once(", started ")?;
    Some(Running {
        pid: pid.parse().ok()?,
        since: since.to_string(),
    })
}

/// How a stop went.
#[derive(Debug, PartialEq)]
pub enum StopOutcome {
    NotRunning,
    Stopped(Running),
    /// Signalled, still finishing the job in hand after the wait.
    StillFinishing(Running),
}

/// Ask the running daemon to stop (SIGTERM) and wait up to `wait` for it to go.
pub fn stop(okr_dir: &Path, wait: Duration) -> Result<StopOutcome> {
    let Some(r) = running(okr_dir) else {
        return Ok(StopOutcome::NotRunning);
    };
    let pid = rustix::process::Pid::from_raw(r.pid)
        .ok_or_else(|| anyhow!("the lock file names pid {}", r.pid))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)
        .with_context(|| format!("signalling the daemon (pid {})", r.pid))?;
    let start = Instant::now();
    while start.elapsed() < wait {
        if running(okr_dir).is_none() {
            return Ok(StopOutcome::Stopped(r));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(StopOutcome::StillFinishing(r))
}

/// What `install` recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    /// `systemd` or `launchd`.
    pub manager: String,
    /// The unit name (systemd) or label (launchd).
    pub service: String,
    /// Every file written, with the content written (uninstall leaves a file that was
    /// changed since).
    pub files: Vec<(PathBuf, String)>,
    /// Whether the service manager enabled and started it.
    pub enabled: bool,
}

impl Installed {
    pub fn load(okr_dir: &Path) -> Option<Installed> {
        let text = std::fs::read_to_string(okr_dir.join(MANIFEST)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Where the service files go and what they say.
pub struct ServicePlan {
    pub manager: &'static str,
    pub service: String,
    pub path: PathBuf,
    pub text: String,
}

/// The service for this platform: a LaunchAgent on macOS, a systemd user unit elsewhere.
pub fn service_plan(
    exe: &Path,
    repo: &Path,
    okr_dir: &Path,
    home: &Path,
    config_home: &Path,
    path_env: &str,
) -> ServicePlan {
    if cfg!(target_os = "macos") {
        ServicePlan {
            manager: "launchd",
            service: units::launchd_label(repo),
            path: units::launchd_path(home, repo),
            text: units::launchd_plist(exe, repo, okr_dir, path_env),
        }
    } else {
        ServicePlan {
            manager: "systemd",
            service: units::systemd_unit_name(repo),
            path: units::systemd_path(config_home, repo),
            text: units::systemd_unit(exe, repo, path_env),
        }
    }
}

/// The service manager's answer to one command: `Err` says why it could not be reached.
fn manager(args: &[&str]) -> Result<(), String> {
    let (program, rest) = args.split_first().expect("a command");
    match Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("`{}`: {e}", args.join(" "))),
    }
}

fn uid() -> String {
    rustix::process::getuid().as_raw().to_string()
}

/// Write the service file, record it, and (with `start`) enable and start it. Returns
/// what was recorded and the service manager's complaint if it could not be reached.
pub fn install(
    okr_dir: &Path,
    plan: &ServicePlan,
    start: bool,
) -> Result<(Installed, Option<String>)> {
    if let Some(old) = Installed::load(okr_dir) {
        bail!(
            "already installed ({} {}); run `git okr daemon uninstall` first",
            old.manager,
            old.service
        );
    }
    if plan.path.exists() {
        bail!(
            "{} already exists and git-okr did not write it; remove it or leave it be",
            plan.path.display()
        );
    }
    let dir = plan
        .path
        .parent()
        .ok_or_else(|| anyhow!("no folder for {}", plan.path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&plan.path, &plan.text)
        .with_context(|| format!("writing {}", plan.path.display()))?;
    let mut installed = Installed {
        manager: plan.manager.to_string(),
        service: plan.service.clone(),
        files: vec![(plan.path.clone(), plan.text.clone())],
        enabled: false,
    };
    let mut complaint = None;
    if start {
        let path = plan.path.to_string_lossy().into_owned();
        let domain = format!("gui/{}", uid());
        let result = match plan.manager {
            "launchd" => manager(&["launchctl", "bootstrap", &domain, &path]),
            _ => manager(&["systemctl", "--user", "daemon-reload"])
                .and_then(|()| manager(&["systemctl", "--user", "enable", "--now", &plan.service])),
        };
        match result {
            Ok(()) => installed.enabled = true,
            Err(why) => complaint = Some(why),
        }
    }
    save_manifest(okr_dir, &installed)?;
    Ok((installed, complaint))
}

fn save_manifest(okr_dir: &Path, installed: &Installed) -> Result<()> {
    let path = okr_dir.join(MANIFEST);
    std::fs::write(&path, serde_json::to_string_pretty(installed)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// What uninstall did.
#[derive(Debug, Default)]
pub struct Uninstalled {
    pub removed: Vec<PathBuf>,
    /// Files left because they changed since install (path, why).
    pub kept: Vec<(PathBuf, String)>,
    pub complaint: Option<String>,
}

/// Stop and disable the service `install` set up and remove exactly the files it wrote.
pub fn uninstall(okr_dir: &Path) -> Result<Option<Uninstalled>> {
    let Some(installed) = Installed::load(okr_dir) else {
        return Ok(None);
    };
    let mut out = Uninstalled::default();
    if installed.enabled {
        let result = match installed.manager.as_str() {
            "launchd" => manager(&[
                "launchctl",
                "bootout",
                &format!("gui/{}/{}", uid(), installed.service),
            ]),
            _ => manager(&[
                "systemctl",
                "--user",
                "disable",
                "--now",
                &installed.service,
            ]),
        };
        out.complaint = result.err();
    }
    for (path, text) in &installed.files {
        match std::fs::read_to_string(path) {
            Ok(now) if &now == text => {
                std::fs::remove_file(path)
                    .with_context(|| format!("removing {}", path.display()))?;
                out.removed.push(path.clone());
            }
            Ok(_) => out
                .kept
                .push((path.clone(), "changed since install".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => out.kept.push((path.clone(), e.to_string())),
        }
    }
    if installed.enabled && installed.manager == "systemd" {
        let _ = manager(&["systemctl", "--user", "daemon-reload"]);
    }
    std::fs::remove_file(okr_dir.join(MANIFEST))
        .with_context(|| format!("removing {}", okr_dir.join(MANIFEST).display()))?;
    Ok(Some(out))
}

/// How the daemon was started.
#[derive(Debug, PartialEq)]
pub enum Started {
    AlreadyRunning(Running),
    /// Through the installed service.
    Service(String, Option<Running>),
    Detached(Running),
}

/// Start the daemon: through the service `install` enabled, else as a detached process
/// (its own process group, no terminal); waits until it holds the lock.
pub fn start(okr_dir: &Path, exe: &Path, repo: &Path) -> Result<Started> {
    if let Some(r) = running(okr_dir) {
        return Ok(Started::AlreadyRunning(r));
    }
    if let Some(installed) = Installed::load(okr_dir).filter(|i| i.enabled) {
        let result = match installed.manager.as_str() {
            "launchd" => manager(&[
                "launchctl",
                "kickstart",
                &format!("gui/{}/{}", uid(), installed.service),
            ]),
            _ => manager(&["systemctl", "--user", "start", &installed.service]),
        };
        result.map_err(|why| anyhow!("{why}"))?;
        return Ok(Started::Service(installed.service, wait_running(okr_dir)));
    }
    Command::new(exe)
        .arg("-C")
        .arg(repo)
        .args(["daemon", "run"])
        .env_remove("OKR_AGENT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // It logs to .git/okr/daemon.log itself.
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    wait_running(okr_dir).map(Started::Detached).ok_or_else(|| {
        anyhow!(
            "the daemon did not start; see {}",
            okr_dir.join(super::run::LOG_FILE).display()
        )
    })
}

fn wait_running(okr_dir: &Path) -> Option<Running> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(r) = running(okr_dir) {
            return Some(r);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The last `n` lines of the daemon's log.
pub fn last_lines(okr_dir: &Path, n: usize) -> Result<(Vec<String>, u64)> {
    let path = okr_dir.join(super::run::LOG_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let skip = lines.len().saturating_sub(n);
    Ok((lines[skip..].to_vec(), bytes.len() as u64))
}

/// What the log gained after `offset`, and the new offset (a log that shrank starts over).
pub fn log_since(okr_dir: &Path, offset: u64) -> Result<(String, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let path = okr_dir.join(super::run::LOG_FILE);
    let Ok(mut f) = std::fs::File::open(&path) else {
        return Ok((String::new(), 0));
    };
    let len = f.metadata()?.len();
    let from = if len < offset { 0 } else { offset };
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok((
        String::from_utf8_lossy(&buf).into_owned(),
        from + buf.len() as u64,
    ))
}
