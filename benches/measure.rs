//! `git okr kr measure` on a 100,000-commit repository, beside git in the same run:
//! cold measure vs `git log --numstat --format=%H` (goal: faster than git),
//! warm measure after 10 new commits (goal: median <= 50 ms),
//! peak memory of the cold run (goal: <= 200 MiB).
//! `OKR_BENCH_COMMITS` overrides the history size.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::time::{Duration, Instant};
use support::*;

/// Cold runs of each, interleaved.
const ROUNDS: usize = 3;

fn main() {
    let commits: usize = std::env::var("OKR_BENCH_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    // OKR_BENCH_KEEP=DIR builds the repository there and leaves it, for profiling.
    let kept = std::env::var_os("OKR_BENCH_KEEP").map(std::path::PathBuf::from);
    if let Some(k) = &kept {
        std::fs::create_dir_all(k).unwrap();
    }
    let repo = kept.as_deref().unwrap_or(dir.path());
    git(repo, &["init", "-q", "-b", "main"]);
    let start = Instant::now();
    fast_import(repo, |w: &mut dyn Write| {
        history(w, "refs/heads/main", 0, commits, None)
    });
    git(repo, &["reset", "-q", "--hard", "main"]);
    println!(
        "built {commits} commits with git fast-import in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    // fast-import's packs are "simply never seen in real use" (its manual: repack
    // before benchmarking): deltas run the wrong way and chains are long. Repack as
    // `git gc` would, and write the commit-graph `git gc` writes by default.
    let start = Instant::now();
    git(repo, &["repack", "-q", "-a", "-d", "-f"]);
    git(repo, &["commit-graph", "write", "--reachable"]);
    println!(
        "repacked and wrote the commit-graph in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    okr(repo, &["init"]);

    // Interleaved rounds, medians compared: the machine's load drifts, and one
    // run of each taken at different moments says more about the load than the tools.
    let db = repo.join(".git/okr/audit.sqlite");
    let (mut git_times, mut colds, mut peak) = (Vec::new(), Vec::new(), None::<u64>);
    for _ in 0..ROUNDS {
        let (git_time, _) = run_with_peak_rss({
            let mut c = cmd("git", repo);
            c.args(["log", "--numstat", "--format=%H"]);
            c
        });
        git_times.push(git_time);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let (cold, round_peak) = run_with_peak_rss({
            let mut c = cmd(okr_bin(), repo);
            c.args(["kr", "measure"]);
            c
        });
        colds.push(cold);
        peak = peak.max(round_peak);
    }
    git_times.sort();
    colds.sort();
    let (git_time, cold) = (median(&git_times), median(&colds));
    println!(
        "cold rounds (ms): git {:?}, git okr {:?}",
        git_times.iter().map(|d| d.as_millis()).collect::<Vec<_>>(),
        colds.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    let lines_git = git(repo, &["log", "--numstat", "--format="])
        .lines()
        .count();
    println!("numstat lines per git: {lines_git}");
    println!(
        "{:<48} {:>10}",
        "git log --numstat --format=%H (median)",
        ms(git_time)
    );
    println!(
        "{:<48} {:>10}   goal < git: {}",
        "git okr kr measure, cold (median)",
        ms(cold),
        if cold < git_time { "PASS" } else { "MISS" }
    );
    match peak {
        Some(kib) => println!(
            "{:<48} {:>7} MiB   goal <= 200 MiB {}",
            "peak memory of the cold measures",
            kib / 1024,
            if kib <= 200 * 1024 { "PASS" } else { "MISS" }
        ),
        None => println!("peak memory: not readable from /proc on this system"),
    }

    let mut next = commits;
    let mut warm = Vec::new();
    for round in 0..9 {
        fast_import(repo, |w: &mut dyn Write| {
            history(w, "refs/heads/main", next, 10, Some("refs/heads/main^0"))
        });
        next += 10;
        okr(repo, &["metric", "set", "manual.round", &round.to_string()]);
        let t = Instant::now();
        okr(repo, &["kr", "measure"]);
        warm.push(t.elapsed());
    }
    warm.sort();
    report(
        "git okr kr measure, warm, 10 new commits (median)",
        median(&warm),
        Duration::from_millis(50),
    );
    let t = Instant::now();
    git(repo, &["rev-list", "--count", "HEAD"]);
    println!(
        "{:<48} {:>10}",
        "git rev-list --count HEAD (for scale)",
        ms(t.elapsed())
    );
}
