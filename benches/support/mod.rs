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

/// Run `cmd` to completion, returning its wall time and peak resident memory in KiB
/// (read from /proc while it runs: VmHWM only grows, so the last reading is the peak
/// up to a few milliseconds before exit).
pub fn run_with_peak_rss(mut cmd: Command) -> (Duration, Option<u64>) {
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).spawn().expect("command runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = None;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = Some(peak.unwrap_or(0).max(kib));
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "command failed");
            return (start.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Write `count` commits onto `branch` in fast-import syntax: each changes one line of one
/// of 400 small files in 20 folders (some with unicode names), every 97th renames a file,
/// authors rotate among 7 people.
pub fn history(w: &mut dyn Write, branch: &str, first: usize, count: usize, from: Option<&str>) {
    for i in first..first + count {
        let author = i % 7;
        let file = i % 400;
        let path = if file % 50 == 0 {
            format!("d{}/ünï-{file}.txt", file % 20)
        } else {
            format!("d{}/f{file}.rs", file % 20)
        };
        let mut body = String::new();
        for line in 0..12 {
            body.push_str(&format!(
                "line {line} of {file} at {}\n",
                if line == i % 12 { i } else { i / 400 }
            ));
        }
        let msg = format!("change {i}\n");
        writeln!(w, "commit {branch}").unwrap();
        writeln!(
            w,
            "author Dev {author} <dev{author}@example.com> {} +0000",
            1_600_000_000 + i * 60
        )
        .unwrap();
        writeln!(
            w,
            "committer Dev {author} <dev{author}@example.com> {} +0000",
            1_600_000_000 + i * 60
        )
        .unwrap();
        writeln!(w, "data {}\n{msg}", msg.len()).unwrap();
        if i == first {
            if let Some(from) = from {
                writeln!(w, "from {from}").unwrap();
            }
        }
        writeln!(w, "M 100644 inline {path}\ndata {}\n{body}", body.len()).unwrap();
        if i % 97 == 96 && i > 400 {
            let old = format!("d{}/f{}.rs", (i - 1) % 400 % 20, (i - 1) % 400);
            if (i - 1) % 400 % 50 != 0 {
                writeln!(w, "R {old} {old}.moved").unwrap();
            }
        }
    }
}

/// What one run of a command cost.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident memory (KiB), mapped files included (`ru_maxrss`).
    pub peak_rss_kib: u64,
    /// Peak anonymous resident memory (KiB): the heap, without mapped packs
    /// (`RssAnon`, sampled every few milliseconds).
    pub peak_anon_kib: u64,
}

/// Run `cmd` to completion (it must succeed) and measure it. The child is reaped
/// by `wait4`, which also gives its CPU time and peak RSS.
#[allow(unsafe_code, clippy::zombie_processes)]
pub fn run_costed(mut cmd: Command) -> Cost {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("command runs");
    let pid = child.id() as libc::pid_t;
    let status_file = format!("/proc/{pid}/status");
    let mut peak_anon = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_anon = peak_anon.max(kib);
            }
        }
        let mut status = 0;
        // SAFETY: plain syscall on our own child with valid out-pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            assert!(ok, "command failed: {cmd:?}");
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            return Cost {
                wall: start.elapsed(),
                cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
                peak_rss_kib: usage.ru_maxrss as u64,
                peak_anon_kib: peak_anon,
            };
        }
        assert!(done == 0, "wait4 failed");
        std::thread::sleep(Duration::from_millis(3));
    }
}

/// Median of `values` (sorted in place).
pub fn median_of<T: Ord + Copy>(values: &mut [T]) -> T {
    values.sort();
    values[values.len() / 2]
}

/// Give the measured state a key result on `git.commits` and `git.lines_added`,
/// so a measurement reads the whole history and diffs every commit.
pub fn use_git_key_results(dir: &Path) {
    let file = dir.join(".git/okr-bench-krs.yml");
    std::fs::write(
        &file,
        "scope: team\nowner_id: bench\nobjectives:\n  - objective_id: OBJ-B\n    objective: Bench\n    key_results:\n      - kr_id: KR-B.1\n        metric_key: git.commits\n        baseline: 0\n        target: 10000000\n      - kr_id: KR-B.2\n        metric_key: git.lines_added\n        baseline: 0\n        target: 100000000\n",
    )
    .unwrap();
    let out = cmd(okr_bin(), dir)
        .args(["edit", "okrs/bench-git.yml"])
        .env("VISUAL", format!("cp {}", file.display()))
        .output()
        .expect("git-okr runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "git okr edit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
