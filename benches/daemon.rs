//! The daemon as a long-running process, measured from outside:
//!
//! - trigger latency: a commit moves the measured branch; the time until the daemon's
//!   `branch_moved` measurement has moved `refs/okr/state` (goal p50 <= 1 s, p99 <= 3 s),
//!   beside the `git commit` that moved the branch;
//! - idle CPU: user + system time of the daemon over a quiet minute (goal <= 0.1% of a
//!   core);
//! - a compressed soak: a job every second for ten minutes; resident memory sampled
//!   every ten seconds must stay flat (last minute <= first minute + 10%, + 2 MiB).
//!
//! `OKR_BENCH_TRIGGERS` (default 30), `OKR_BENCH_IDLE_SECS` (60) and
//! `OKR_BENCH_SOAK_SECS` (600) shorten a run.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let home = tempfile::tempdir().unwrap();
    git(repo, &["init", "-q", "-b", "main"]);
    fast_import(repo, |w: &mut dyn Write| {
        history(w, "refs/heads/main", 0, 2_000, None)
    });
    git(repo, &["reset", "-q", "--hard", "main"]);
    okr(repo, &["init"]);
    use_git_key_results(repo);
    okr(repo, &["kr", "measure"]);

    latency(repo, home.path());
    idle_cpu(repo, home.path());
    soak(repo, home.path());
}

/// `git okr daemon run` in the foreground, as a service manager starts it.
fn start_daemon(repo: &Path, home: &Path) -> Child {
    let mut daemon = cmd(okr_bin(), repo)
        .args(["daemon", "run"])
        .env("HOME", home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    // Started: its lock file names it.
    let lock = repo.join(".git/okr/daemon.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&daemon.id().to_string())) {
        assert!(Instant::now() < deadline, "the daemon did not start");
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon
}

fn stop(mut daemon: Child) {
    let _ = cmd("kill", Path::new("/"))
        .arg(daemon.id().to_string())
        .status();
    let _ = daemon.wait();
}

fn state_tip(repo: &Path) -> String {
    git(repo, &["rev-parse", "refs/okr/state"])
        .trim()
        .to_string()
}

fn schedule(repo: &Path, args: &[&str]) -> String {
    let out = okr(repo, &[&["daemon", "schedule"], args].concat());
    out.strip_prefix("Scheduled job ")
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("no job id in {out:?}"))
        .to_string()
}

fn latency(repo: &Path, home: &Path) {
    let job = schedule(repo, &["--on", "branch_moved", "--job", "kr_measure"]);
    let daemon = start_daemon(repo, home);
    let rounds = env_or("OKR_BENCH_TRIGGERS", 30);
    let mut latencies = Vec::new();
    let mut commits = Vec::new();
    for round in 0..rounds {
        let before = state_tip(repo);
        std::fs::write(repo.join("trigger.txt"), format!("{round}\n")).unwrap();
        git(repo, &["add", "trigger.txt"]);
        let t = Instant::now();
        git(repo, &["commit", "-q", "-m", &format!("trigger {round}")]);
        commits.push(t.elapsed());
        let moved = Instant::now();
        let deadline = moved + Duration::from_secs(30);
        while state_tip(repo) == before {
            assert!(
                Instant::now() < deadline,
                "no measurement after round {round}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        latencies.push(moved.elapsed());
        // Let the daemon settle before the next move, as pushes and merges arrive.
        std::thread::sleep(Duration::from_millis(300));
    }
    stop(daemon);
    okr(repo, &["daemon", "unschedule", &job]);
    latencies.sort();
    commits.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    println!("{rounds} branch moves, each measured by the daemon:");
    println!(
        "{:<48} {:>10}",
        "git commit (moves the branch), median",
        ms(median(&commits))
    );
    report(
        "ref move -> daemon's measure commit, p50",
        median(&latencies),
        Duration::from_secs(1),
    );
    report(
        "ref move -> daemon's measure commit, p99",
        p99,
        Duration::from_secs(3),
    );
}

/// User + system CPU of `pid` so far, from /proc (clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn idle_cpu(repo: &Path, home: &Path) {
    // A schedule a team keeps (daily, and on events), none of which fires meanwhile.
    let daily = schedule(repo, &["--cron", "0 2 * * *", "--job", "kr_measure"]);
    let events = schedule(
        repo,
        &[
            "--on",
            "okrs_changed,metrics_recorded",
            "--job",
            "kr_measure",
        ],
    );
    let daemon = start_daemon(repo, home);
    std::thread::sleep(Duration::from_secs(2));
    let secs = env_or("OKR_BENCH_IDLE_SECS", 60);
    let before = cpu_time(daemon.id());
    std::thread::sleep(Duration::from_secs(secs));
    let used = cpu_time(daemon.id()) - before;
    stop(daemon);
    okr(repo, &["daemon", "unschedule", &daily]);
    okr(repo, &["daemon", "unschedule", &events]);
    let share = used.as_secs_f64() / secs as f64 * 100.0;
    let verdict = if share <= 0.1 { "PASS" } else { "MISS" };
    println!(
        "{:<48} {:>9.3}%   goal <= 0.1%      {verdict}",
        format!("idle daemon CPU over {secs} s (of one core)"),
        share
    );
}

fn soak(repo: &Path, home: &Path) {
    let finished = || {
        std::fs::read_to_string(repo.join(".git/okr/daemon.log"))
            .map(|l| l.lines().filter(|l| l.contains(") done in ")).count())
            .unwrap_or(0)
    };
    let finished_before = finished();
    let job = schedule(repo, &["--cron", "* * * * * *", "--job", "kr_measure"]);
    let daemon = start_daemon(repo, home);
    let secs = env_or("OKR_BENCH_SOAK_SECS", 600);
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(10));
        samples.push((start.elapsed().as_secs(), rss_kib(daemon.id())));
    }
    let runs = finished() - finished_before;
    stop(daemon);
    okr(repo, &["daemon", "unschedule", &job]);
    let window = samples.len().clamp(1, 6);
    let mean = |s: &[(u64, u64)]| s.iter().map(|(_, k)| k).sum::<u64>() / s.len() as u64;
    let first = mean(&samples[..window]);
    let last = mean(&samples[samples.len() - window..]);
    let flat = last <= first + first / 10 + 2048;
    println!(
        "soak: a job every second for {secs} s, {runs} jobs finished; RSS (KiB) every 10 s: {}",
        samples
            .iter()
            .map(|(_, k)| k.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:<48} {:>7} KiB -> {} KiB   {}",
        "daemon RSS, first vs last minute",
        first,
        last,
        if flat { "PASS (flat)" } else { "MISS (grows)" }
    );
}
