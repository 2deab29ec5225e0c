//! Delivery (DORA) metrics on a 100,000-commit history with a deployment tag every
//! 500 commits, beside git in the same run: a cold measurement (every deployment's
//! commits read once) against `git log` reading the same facts (parents, author
//! dates, messages), and warm measurements with no new commit and with 10 new
//! commits (goal: median <= 50 ms). `OKR_BENCH_COMMITS` overrides the history size;
//! `OKR_BENCH_KEEP=1` keeps the repository (its path is printed) for a closer look.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::time::{Duration, Instant};
use support::*;

const TAG_EVERY: usize = 500;

fn main() {
    let commits: usize = std::env::var("OKR_BENCH_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    fast_import(repo, |w: &mut dyn Write| {
        history(w, "refs/heads/main", 0, commits, None)
    });
    git(repo, &["reset", "-q", "--hard", "main"]);
    git(repo, &["repack", "-q", "-a", "-d", "-f"]);
    git(repo, &["commit-graph", "write", "--reachable"]);
    let ids = git(repo, &["rev-list", "--reverse", "main"]);
    let mut tags = String::new();
    for (n, id) in ids
        .lines()
        .enumerate()
        .filter(|(n, _)| n % TAG_EVERY == TAG_EVERY - 1)
    {
        tags.push_str(&format!("create refs/tags/v{n} {id}\n"));
    }
    let mut update = cmd("git", repo);
    update
        .args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped());
    let mut child = update.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(tags.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    println!("{commits} commits, {} deployment tags", commits / TAG_EVERY);

    okr(repo, &["init"]);
    // The history's dates start in September 2020: a window from then covers it all.
    let defs = "deployments:\n  tag_pattern: \"v*\"\ngit:\n".to_string()
        + &[
            "deployments",
            "lead_time_hours_p50",
            "lead_time_hours_p90",
            "change_failure_rate",
            "time_to_restore_hours_p50",
        ]
        .iter()
        .map(|s| format!("  - key: git.all.{s}\n    stat: {s}\n    since: 2020-09-01\n"))
        .collect::<String>();
    let editor = repo.join("put-defs.sh");
    std::fs::write(repo.join("defs.yml"), defs).unwrap();
    std::fs::write(
        &editor,
        format!("#!/bin/sh\ncp {} \"$1\"\n", repo.join("defs.yml").display()),
    )
    .unwrap();
    git(
        repo,
        &["config", "core.editor", &format!("sh {}", editor.display())],
    );
    let mut edit = cmd(okr_bin(), repo);
    edit.args(["edit", "metrics/definitions.yml"])
        .env("EDITOR", format!("sh {}", editor.display()))
        .env("GIT_EDITOR", format!("sh {}", editor.display()));
    assert!(edit.status().unwrap().success());
    // The commit metrics are cached first, so the cold figure below is delivery alone.
    okr(repo, &["kr", "measure"]);

    let (git_time, _) = run_with_peak_rss({
        let mut c = cmd("git", repo);
        c.args(["log", "--format=%H %P %at%n%B", "main"]);
        c
    });
    let db = repo.join(".git/okr/audit.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // Every delivery table: the measurement below reads the whole history again.
    for table in [
        "delivery_ranges",
        "delivery_ids",
        "delivery_tags",
        "delivery_windows",
    ] {
        conn.execute(&format!("DELETE FROM {table}"), []).unwrap();
    }
    drop(conn);
    okr(repo, &["metric", "set", "manual.round", "0"]);
    let t = Instant::now();
    okr(repo, &["kr", "measure"]);
    let cold = t.elapsed();
    println!(
        "{:<52} {:>10}",
        "git log --format='%H %P %at%n%B' main",
        ms(git_time)
    );
    println!(
        "{:<52} {:>10}   ratio {:.2}",
        "git okr kr measure, delivery cold",
        ms(cold),
        cold.as_secs_f64() / git_time.as_secs_f64()
    );

    // Wall time on a busy machine says little: each warm figure comes with its CPU time.
    let measure = || {
        let mut c = cmd(okr_bin(), repo);
        c.args(["kr", "measure"]);
        run_costed(c)
    };
    let mut still = Vec::new();
    for round in 1..=9 {
        okr(repo, &["metric", "set", "manual.round", &round.to_string()]);
        still.push(measure());
    }
    report_costs("git okr kr measure, warm, no new commit (median)", &still);

    let mut next = commits;
    let mut warm = Vec::new();
    for round in 0..9 {
        fast_import(repo, |w: &mut dyn Write| {
            history(w, "refs/heads/main", next, 10, Some("refs/heads/main^0"))
        });
        next += 10;
        okr(
            repo,
            &["metric", "set", "manual.round", &(100 + round).to_string()],
        );
        warm.push(measure());
    }
    report_costs("git okr kr measure, warm, 10 new commits (median)", &warm);
    if std::env::var_os("OKR_BENCH_KEEP").is_some() {
        println!("repository kept in {}", dir.keep().display());
    }
}

/// The median wall time against the goal (50 ms), with the median CPU time beside it.
fn report_costs(name: &str, costs: &[Cost]) {
    let mut wall: Vec<Duration> = costs.iter().map(|c| c.wall).collect();
    let mut cpu: Vec<Duration> = costs.iter().map(|c| c.cpu).collect();
    report(name, median_of(&mut wall), Duration::from_millis(50));
    println!(
        "{:<52} {:>10}",
        "  CPU (user + system), median",
        ms(median_of(&mut cpu))
    );
}
