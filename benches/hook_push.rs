//! What git-okr's pre-push hook adds to a `git push` on a 100,000-commit repository
//! with a warm cache (goal: median <= 50 ms added), against the same push without it.
//!
//! Every timed push sends one new commit to a bare remote on the same disk; the commit is
//! made (with plumbing) outside the timing. With the hook, a manual metric changes before
//! each push so every measurement writes a state commit: the hook's full cost.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

const HISTORY: usize = 100_000;
const RUNS: usize = 21;

/// `git` with git-okr on PATH, as a user's hooks would find it.
fn git_with_okr(dir: &Path, args: &[&str]) {
    let bin = okr_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = cmd("git", dir)
        .args(args)
        .env("PATH", path)
        .env_remove("GIT_OKR_HOOK")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new commit on main (same tree, new message), without touching index or work tree.
fn new_commit(repo: &Path, n: usize) {
    let parent = git(repo, &["rev-parse", "main"]).trim().to_string();
    let tree = git(repo, &["rev-parse", "main^{tree}"]).trim().to_string();
    let id = git(
        repo,
        &[
            "commit-tree",
            &tree,
            "-p",
            &parent,
            "-m",
            &format!("bench {n}"),
        ],
    )
    .trim()
    .to_string();
    git(repo, &["update-ref", "refs/heads/main", &id, &parent]);
}

fn timed_pushes(repo: &Path, start: usize, before_each: impl Fn(usize)) -> Vec<Duration> {
    let mut out: Vec<Duration> = (0..RUNS)
        .map(|i| {
            new_commit(repo, start + i);
            before_each(start + i);
            let t = Instant::now();
            git_with_okr(repo, &["push", "-q", "origin", "main"]);
            t.elapsed()
        })
        .collect();
    out.sort();
    out
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("work");
    let remote = dir.path().join("remote.git");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    );

    let t = Instant::now();
    // Small trees: 50 files, one changed per commit.
    fast_import(&repo, |w: &mut dyn Write| {
        for i in 0..HISTORY {
            writeln!(w, "commit refs/heads/main").unwrap();
            writeln!(
                w,
                "author Dev{} <dev{}@example.com> {} +0000",
                i % 7,
                i % 7,
                1_600_000_000 + i * 60
            )
            .unwrap();
            writeln!(
                w,
                "committer Dev <dev@example.com> {} +0000",
                1_600_000_000 + i * 60
            )
            .unwrap();
            let msg = format!("change {i}\n");
            writeln!(w, "data {}\n{msg}", msg.len()).unwrap();
            let content = format!("{i}\n");
            writeln!(
                w,
                "M 100644 inline src/f{}.txt\ndata {}\n{content}",
                i % 50,
                content.len()
            )
            .unwrap();
        }
    });
    git(&repo, &["commit-graph", "write", "--reachable"]);
    let count = git(&repo, &["rev-list", "--count", "main"]);
    println!(
        "repository: {} commits, built in {:.1} s",
        count.trim(),
        t.elapsed().as_secs_f64()
    );

    git(
        &repo,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    let t = Instant::now();
    git(&repo, &["push", "-q", "origin", "main"]);
    println!(
        "first push of the history: {:.1} s",
        t.elapsed().as_secs_f64()
    );

    okr(&repo, &["init"]);
    okr(&repo, &["metric", "set", "manual.bench", "0"]);
    // Warm whatever measure caches (git metrics cache where this build has one).
    okr(&repo, &["kr", "measure"]);

    let without = timed_pushes(&repo, 0, |_| {});
    okr(&repo, &["hooks", "install"]);
    let with = timed_pushes(&repo, RUNS, |n| {
        okr(&repo, &["metric", "set", "manual.bench", &n.to_string()]);
    });
    let measures = git(
        &repo,
        &[
            "log",
            "--format=%(trailers:key=Okr-Action,valueonly)",
            "refs/okr/state",
        ],
    )
    .lines()
    .filter(|l| l.trim() == "measure")
    .count();
    assert!(
        measures > RUNS,
        "the hook did not measure ({measures} measurements)"
    );

    // The hook's command alone, nothing new to record.
    let alone = samples(RUNS, || {
        okr(&repo, &["kr", "measure", "--hook"]);
    });

    println!("runs: {RUNS} each; medians (p90)");
    println!(
        "{:<48} {:>10}   ({})",
        "git push, no hook",
        ms(median(&without)),
        ms(without[RUNS * 9 / 10])
    );
    println!(
        "{:<48} {:>10}   ({})",
        "git push, git-okr pre-push hook",
        ms(median(&with)),
        ms(with[RUNS * 9 / 10])
    );
    println!(
        "{:<48} {:>10}",
        "git okr kr measure --hook alone (no change)",
        ms(median(&alone))
    );
    report(
        "added by the hook (median difference)",
        median(&with).saturating_sub(median(&without)),
        Duration::from_millis(50),
    );
}
