//! Audit benchmark: a ref of 100,000 state commits (written with `git fast-import`),
//! then the mirror's rebuild rate and the median of `git okr audit --kr` and
//! `git okr kr history`, each beside the same question asked of `git log --grep`.
//!
//! Run: `cargo bench --bench audit` (OKR_BENCH_COMMITS=N for another size,
//! OKR_BENCH_KEEP=1 to keep the repository for a closer look).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_git-okr");
const RUNS: usize = 11;
const KR: &str = "KR-1.1";

fn main() {
    let commits: usize = std::env::var("OKR_BENCH_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let env = Env {
        dir: dir.path(),
        home: home.path(),
    };

    env.git(&["init", "-q", "-b", "main"]);
    env.okr(&["init"]);
    let start = Instant::now();
    write_history(&env, commits);
    println!(
        "built refs/okr/state with {commits} commits (git fast-import) in {:.1}s",
        start.elapsed().as_secs_f64()
    );

    // Rebuild: the command reports its own rate; the wall time includes process start.
    let start = Instant::now();
    let out = env.okr(&["audit", "rebuild"]);
    let wall = start.elapsed();
    println!(
        "rebuild: {}   (wall {:.2}s)",
        out.trim(),
        wall.as_secs_f64()
    );

    let kr_query = median(|| {
        env.okr(&["audit", "--kr", KR]);
    });
    let kr_query_rows = env.okr(&["audit", "--kr", KR]).lines().count();
    let grep_kr = median(|| {
        env.git(&[
            "log",
            "refs/okr/state",
            "--format=%h %ct %ae %s",
            &format!("--grep=^Okr-KR: {KR}$"),
            &format!("--grep=^Okr-Status: {KR} "),
        ]);
    });
    let grep_kr_rows = env
        .git(&[
            "log",
            "refs/okr/state",
            "--format=%h",
            &format!("--grep=^Okr-KR: {KR}$"),
            &format!("--grep=^Okr-Status: {KR} "),
        ])
        .lines()
        .count();
    let history = median(|| {
        env.okr(&["kr", "history", KR]);
    });
    let history_rows = env
        .okr(&["kr", "history", KR, "--json"])
        .matches("\"commit\"")
        .count();
    let grep_history = median(|| {
        env.git(&[
            "log",
            "refs/okr/state",
            "--format=%h %ct %(trailers:key=Okr-Status,key=Okr-Snapshot,valueonly,separator=%x2C)",
            &format!("--grep=^Okr-Status: {KR} "),
            "--grep=^Okr-Snapshot: ",
        ]);
    });
    // One new commit, then the first query pays for following it.
    env.okr(&["metric", "set", "manual.bench", "1"]);
    let start = Instant::now();
    env.okr(&["audit", "--kr", KR, "--limit", "5"]);
    let follow_one = start.elapsed();

    println!();
    println!("question                                  git-okr (median of {RUNS})   git log --grep (median of {RUNS})");
    println!("events about {KR} (audit --kr)           {:>8}  ({kr_query_rows} events)   {:>8}  ({grep_kr_rows} commits)", ms(kr_query), ms(grep_kr));
    println!(
        "{KR} over time (kr history)              {:>8}  ({history_rows} points)    {:>8}  (commits only; values need a git show per snapshot)",
        ms(history),
        ms(grep_history)
    );
    println!(
        "first query after 1 new commit (follow):  {}",
        ms(follow_one)
    );
    let rate: f64 = out
        .split('(')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    println!();
    println!(
        "goals: rebuild >= 10000 commits/s: {} ({rate:.0}/s)",
        verdict(rate >= 10_000.0)
    );
    println!(
        "       audit --kr <= 20 ms: {}   kr history <= 20 ms: {}",
        verdict(kr_query <= Duration::from_millis(20)),
        verdict(history <= Duration::from_millis(20))
    );
    if std::env::var_os("OKR_BENCH_KEEP").is_some() {
        println!("kept the repository: {}", dir.keep().display());
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut f: impl FnMut()) -> Duration {
    f(); // warm the page cache
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

struct Env<'a> {
    dir: &'a Path,
    home: &'a Path,
}

impl Env<'_> {
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.dir)
            .env("HOME", self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.home.join(".gitconfig"))
            .env("GIT_AUTHOR_NAME", "Bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "Bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com")
            .env_remove("OKR_AGENT");
        cmd
    }

    fn run(&self, mut cmd: Command) -> String {
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        let mut cmd = self.command("git");
        cmd.args(args);
        self.run(cmd)
    }

    fn okr(&self, args: &[&str]) -> String {
        let mut cmd = self.command(BIN);
        cmd.args(args);
        self.run(cmd)
    }
}

/// Append `n` commits with trailers to refs/okr/state: every 100th a measure that writes
/// a snapshot (every 5th of those with a status change), every 10th an OKR edit naming
/// a KR and objective, the rest manual metric sets by five people.
fn write_history(env: &Env<'_>, n: usize) {
    let tip = env.git(&["rev-parse", "refs/okr/state"]).trim().to_string();
    let mut child = env
        .command("git")
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
    let people = [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "erin@example.com",
    ];
    let t0: i64 = 1_577_836_800; // 2020-01-01
    let mut status = "not_started";
    for i in 0..n {
        let time = t0 + i as i64 * 864;
        let (message, path, content) = if i % 100 == 99 {
            let day = i / 100;
            let as_of = (chrono_day(day)).to_string();
            let path = format!("metrics/snapshots/{as_of}.json");
            let value = day as f64;
            let krs: Vec<String> = (1..=5)
                .map(|k| {
                    let st = if k == 1 { status } else { "in_progress" };
                    format!(r#"{{"kr_id":"KR-1.{k}","metric_key":"manual.m{k}","value":{},"status":"{st}","score":{:.3}}}"#, value + k as f64, (value / 1000.0).min(1.0))
                })
                .collect();
            let points: Vec<String> = (1..=5)
                .map(|k| format!(r#"{{"key":"manual.m{k}","value":{},"unit":"count","timestamp":"{as_of}T00:00:00Z","source":"manual"}}"#, value + k as f64))
                .collect();
            let content = format!(
                r#"{{"schema_version":1,"as_of":"{as_of}","measured_at":"{as_of}T00:00:00Z","points":[{}],"key_results":[{}]}}"#,
                points.join(","),
                krs.join(",")
            );
            let mut msg = format!("okr: measure\n\nOkr-Action: measure\nOkr-Actor: agent:daemon\nOkr-Snapshot: {path}\n");
            if day % 5 == 0 {
                let to = if status == "not_started" {
                    "in_progress"
                } else {
                    "not_started"
                };
                msg.push_str(&format!(
                    "Okr-Status: {KR} {status} -> {to} ({value}/1000)\n"
                ));
                status = to;
            }
            msg.push_str("Okr-KR: KR-1.1\n");
            (msg, path, content)
        } else if i % 10 == 0 {
            let o = (i / 10) % 7 + 1;
            let msg = format!(
                "okr: edit okrs/org.yml\n\nOkr-Action: edit\nOkr-Actor: {}\nOkr-File: okrs/org.yml\nOkr-Objective: OBJ-{o}\nOkr-KR: KR-{o}.1\n",
                people[i % 5]
            );
            (msg, "metrics/edits.txt".to_string(), format!("edit {i}\n"))
        } else {
            let msg = format!(
                "okr: metric set manual.m{} = {i}\n\nOkr-Action: metric-set\nOkr-Actor: {}\nOkr-Metric: manual.m{}\nOkr-Value: {i}\n",
                i % 50,
                people[i % 5],
                i % 50
            );
            (
                msg,
                "metrics/manual.yml".to_string(),
                format!("metrics:\n- key: manual.m{}\n  value: {i}\n", i % 50),
            )
        };
        write!(w, "commit refs/okr/state\ncommitter Bench <bench@example.com> {time} +0000\ndata {}\n{message}\n", message.len()).unwrap();
        if i == 0 {
            writeln!(w, "from {tip}").unwrap();
        }
        write!(
            w,
            "M 100644 inline {path}\ndata {}\n{content}\n",
            content.len()
        )
        .unwrap();
    }
    w.flush().unwrap();
    drop(w);
    assert!(child.wait().unwrap().success(), "git fast-import failed");
}

/// 2020-01-01 plus `days`, as YYYY-MM-DD.
fn chrono_day(days: usize) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(days as u64)
}
