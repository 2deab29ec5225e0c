//! Shared pieces of the whole-command benchmarks: temp repos, fast-import, timing.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn okr_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_git-okr"))
}

/// A command with git's configuration isolated from the machine's.
pub fn cmd(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env_remove("OKR_AGENT");
    c
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = cmd("git", dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn okr(dir: &Path, args: &[&str]) -> String {
    let out = cmd(okr_bin(), dir)
        .args(args)
        .output()
        .expect("git-okr runs");
    assert!(
        out.status.success(),
        "git okr {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Feed a fast-import stream produced by `write` into `git fast-import` in `dir`.
pub fn fast_import(dir: &Path, write: impl FnOnce(&mut dyn Write)) {
    let mut child = cmd("git", dir)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        write(&mut stdin);
        writeln!(stdin, "done").unwrap();
    }
    assert!(child.wait().unwrap().success(), "fast-import failed");
}

/// Time `f` `runs` times; returns the samples sorted.
pub fn samples(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut out: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    out.sort();
    out
}

pub fn median(samples: &[Duration]) -> Duration {
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Print one line `name: value  (goal)`, with PASS/MISS against the goal.
pub fn report(name: &str, value: Duration, goal: Duration) {
    let verdict = if value <= goal { "PASS" } else { "MISS" };
    println!(
        "{name:<48} {:>10}   goal <= {:<10} {verdict}",
        ms(value),
        ms(goal)
    );
}
