//! `git okr kr measure` beside git in the same run.
//!
//! `OKR_BENCH_REPO=/path/to/clone`: a real repository (left as it is except for
//! `refs/okr/state` and `.git/okr`; one that lacks objects is measured in a
//! shared clone where they are stood in for, see `stand_in_for_absent`): cold
//! measures interleaved with `git log --numstat --format=%H`, medians of
//! `OKR_BENCH_ROUNDS` (default 3) rounds; wall and CPU ratios, peak RSS and peak
//! anonymous memory (the heap) of both; then warm measures with no new commit
//! and with 10 new commits, as `HEAD~10..HEAD` (more commits when merges bring
//! their branches') and as the first-parent base with the count nearest 10
//! (goals: cold <= 0.6x git's wall, CPU <= git's, heap <= 200 MiB, RSS <= git's,
//! warm <= 20 ms and <= 50 ms).
//!
//! Without it: a synthetic 100,000-commit repository (`OKR_BENCH_COMMITS`
//! overrides the size), cold vs git, warm after 10 new commits, peak memory.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::time::{Duration, Instant};
use support::*;

/// Cold runs of each, interleaved.
const ROUNDS: usize = 3;

fn main() {
    if let Some(path) = std::env::var_os("OKR_BENCH_REPO") {
        let repo = std::path::Path::new(&path);
        match stand_in_for_absent(repo) {
            Some(clone) => real(clone.path()),
            None => real(repo),
        }
        return;
    }
    synthetic();
}

/// git stops at the first blob a clone lacks (a snapshot without big files, a
/// partial clone offline), so it could not be timed over the whole history. For
/// such a repository: a shared clone in a temporary folder where `refs/replace/`
/// stands an empty blob in for each absent object. git and git-okr both follow
/// replacements, so both then read every commit, and count the same.
fn stand_in_for_absent(repo: &std::path::Path) -> Option<tempfile::TempDir> {
    let listing = git(repo, &["rev-list", "--objects", "--missing=print", "HEAD"]);
    let absent: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.strip_prefix('?'))
        .collect();
    if absent.is_empty() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = repo.to_str().unwrap();
    let clone = dir.path().to_str().unwrap();
    git(
        repo,
        &["clone", "-q", "--shared", "--no-checkout", source, clone],
    );
    // A measure of its own: not its origin's OKR state.
    git(dir.path(), &["remote", "remove", "origin"]);
    // `output()` gives git an empty stdin.
    let empty = git(dir.path(), &["hash-object", "-w", "--stdin"]);
    for id in &absent {
        git(
            dir.path(),
            &["update-ref", &format!("refs/replace/{id}"), empty.trim()],
        );
    }
    println!(
        "{} lacks {} objects: measured in a shared clone where an empty blob stands in for each",
        repo.display(),
        absent.len()
    );
    Some(dir)
}

fn rounds() -> usize {
    std::env::var("OKR_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROUNDS)
}

fn remove_cache(repo: &std::path::Path) {
    let db = repo.join(".git/okr/audit.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

fn real(repo: &std::path::Path) {
    let commits: u64 = git(repo, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap();
    println!("repository {} ({commits} commits)", repo.display());
    if cmd("git", repo)
        .args(["rev-parse", "--verify", "-q", "refs/okr/state"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        okr(repo, &["init"]);
    }
    if !cmd("git", repo)
        .args(["cat-file", "-e", "refs/okr/state:okrs/bench-git.yml"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        use_git_key_results(repo);
    }
    let git_log = || {
        let mut c = cmd("git", repo);
        c.args(["log", "--numstat", "--format=%H"]);
        c
    };
    let measure = || {
        let mut c = cmd(okr_bin(), repo);
        c.args(["kr", "measure"]);
        c
    };
    let (mut gits, mut okrs) = (Vec::new(), Vec::new());
    for round in 0..rounds() {
        // Alternate who goes first: the page cache and the load drift.
        if round % 2 == 0 {
            gits.push(run_costed(git_log()));
        }
        remove_cache(repo);
        okrs.push(run_costed(measure()));
        if round % 2 == 1 {
            gits.push(run_costed(git_log()));
        }
        let (g, o) = (gits.last().unwrap(), okrs.last().unwrap());
        println!(
            "round {round}: git {:.2} s wall {:.2} s cpu | git okr {:.2} s wall {:.2} s cpu",
            g.wall.as_secs_f64(),
            g.cpu.as_secs_f64(),
            o.wall.as_secs_f64(),
            o.cpu.as_secs_f64()
        );
    }
    let summary = |runs: &[Cost]| {
        let mut wall: Vec<_> = runs.iter().map(|r| r.wall).collect();
        let mut cpu: Vec<_> = runs.iter().map(|r| r.cpu).collect();
        (
            median_of(&mut wall),
            median_of(&mut cpu),
            runs.iter().map(|r| r.peak_rss_kib).max().unwrap(),
            runs.iter().map(|r| r.peak_anon_kib).max().unwrap(),
        )
    };
    let (gw, gc, grss, ganon) = summary(&gits);
    let (ow, oc, orss, oanon) = summary(&okrs);
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "| | wall (median) | CPU (median) | CPU per commit | peak RSS | peak heap (RssAnon) |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, w, c, rss, anon) in [
        ("`git log --numstat --format=%H`", gw, gc, grss, ganon),
        ("`git okr kr measure`, cold", ow, oc, orss, oanon),
    ] {
        println!(
            "| {name} | {:.2} s | {:.2} s | {:.0} µs | {:.0} MiB | {:.0} MiB |",
            w.as_secs_f64(),
            c.as_secs_f64(),
            c.as_secs_f64() * 1e6 / commits as f64,
            mib(rss),
            mib(anon)
        );
    }
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let wall_ratio = ow.as_secs_f64() / gw.as_secs_f64();
    let cpu_ratio = oc.as_secs_f64() / gc.as_secs_f64();
    println!(
        "wall ratio {wall_ratio:.2} (goal <= 0.6): {}",
        verdict(wall_ratio <= 0.6)
    );
    println!(
        "CPU ratio {cpu_ratio:.2} (goal <= 1): {}",
        verdict(cpu_ratio <= 1.0)
    );
    println!(
        "peak heap {:.0} MiB (goal <= 200): {}",
        mib(oanon),
        verdict(oanon <= 200 * 1024)
    );
    println!(
        "peak RSS {:.0} MiB vs git's {:.0} MiB: {}",
        mib(orss),
        mib(grss),
        verdict(orss <= grss)
    );

    // Warm, nothing new: the totals are remembered for this tip.
    let mut warm: Vec<Duration> = (0..5).map(|_| run_costed(measure()).wall).collect();
    report(
        "git okr kr measure, warm, no new commit (median)",
        median_of(&mut warm),
        Duration::from_millis(20),
    );
    // Warm, 10 new commits: measure HEAD~10, forget HEAD's totals and the commits
    // after HEAD~10 (with the merged branches', more than 10), and measure HEAD again.
    let (new, median, git_median) = warm_new(repo, "HEAD~10");
    report(
        &format!("git okr kr measure, warm, HEAD~10..HEAD: {new} new commits (median)"),
        median,
        Duration::from_millis(50),
    );
    println!("  (git log --numstat HEAD~10..HEAD: {})", ms(git_median));
    // The goal's literal case: the first-parent ancestor with the number of new
    // commits nearest 10.
    let (base, count) = base_with_new_commits(repo, 10);
    let (new, median, git_median) = warm_new(repo, &base);
    assert_eq!(new, count);
    report(
        &format!("git okr kr measure, warm, {base}..HEAD: {new} new commits (median)"),
        median,
        Duration::from_millis(50),
    );
    println!("  (git log --numstat {base}..HEAD: {})", ms(git_median));
}

/// Measure `base`, forget what the cache knows of the commits after it (and every
/// total counted at one of them), then time measuring HEAD: five rounds. Returns
/// the number of new commits, the median time, and `git log --numstat`'s median
/// over the same commits.
fn warm_new(repo: &std::path::Path, base: &str) -> (usize, Duration, Duration) {
    let new: Vec<String> = git(repo, &["rev-list", &format!("{base}..HEAD")])
        .lines()
        .map(str::to_string)
        .collect();
    let mut times = Vec::new();
    for _ in 0..5 {
        okr(repo, &["kr", "measure", "--rev", base]);
        forget(repo, &new);
        let mut c = cmd(okr_bin(), repo);
        c.args(["kr", "measure", "--rev", "HEAD"]);
        times.push(run_costed(c).wall);
    }
    let mut git_times: Vec<Duration> = (0..5)
        .map(|_| {
            let mut c = cmd("git", repo);
            c.args(["log", "--numstat", "--format=%H", &format!("{base}..HEAD")]);
            run_costed(c).wall
        })
        .collect();
    (new.len(), median_of(&mut times), median_of(&mut git_times))
}

/// The first-parent ancestor `HEAD~k` whose `rev-list HEAD~k..HEAD` counts nearest
/// `n` commits (merges bring their branches' commits along), with that count.
fn base_with_new_commits(repo: &std::path::Path, n: usize) -> (String, usize) {
    let mut best: Option<(String, usize)> = None;
    for k in 1..=n {
        let base = format!("HEAD~{k}");
        let out = cmd("git", repo)
            .args(["rev-list", "--count", &format!("{base}..HEAD")])
            .output()
            .unwrap();
        if !out.status.success() {
            break;
        }
        let count: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        if best
            .as_ref()
            .is_none_or(|(_, c)| count.abs_diff(n) < c.abs_diff(n))
        {
            best = Some((base, count));
        }
        if count >= n {
            break;
        }
    }
    best.expect("HEAD has a parent")
}

/// Forget what the cache knows of `commits` and every total counted at one of them.
fn forget(repo: &std::path::Path, commits: &[String]) {
    let conn = rusqlite::Connection::open(repo.join(".git/okr/audit.sqlite")).unwrap();
    for c in commits {
        let id = gix::ObjectId::from_hex(c.as_bytes()).unwrap();
        conn.execute("DELETE FROM stats_commits WHERE id = ?1", [id.as_bytes()])
            .unwrap();
        conn.execute("DELETE FROM stats_tips WHERE tip = ?1", [id.as_bytes()])
            .unwrap();
    }
}

fn synthetic() {
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
    use_git_key_results(repo);

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
