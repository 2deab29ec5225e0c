//! Scale benchmark: the everyday commands on an OKR set of N key results.
//!
//! A generator writes an OKRchestra workspace of N key results (20 per objective,
//! objectives owned by 50 teams, each KR on its own manual metric whose value moves its
//! status), in one `okrs/org.yml` or spread over many team files. Every command is timed
//! (median of `OKR_SCALE_RUNS`) at each size, and the growth from the smallest to the
//! largest size is reported beside the goal.
//!
//! Knobs (environment):
//! - `OKR_SCALE_SIZES=1000,10000` key results per run (default);
//! - `OKR_SCALE_FILES=1` OKR files (`500` spreads the objectives over 500 team files);
//! - `OKR_SCALE_HISTORY=0` extra state commits (`100000` adds that many with `git fast-import`);
//! - `OKR_SCALE_RUNS=5` samples per command (a command slower than 20 s is sampled once);
//! - `OKR_SCALE_ONLY=status,measure` time only commands whose name contains one of these;
//! - `OKR_SCALE_KEEP=DIR` builds the repositories in DIR and leaves them (for profiling);
//! - `OKR_SCALE_BIN=PATH` times another build of git-okr (e.g. one of an older commit).
//!
//! Two tables come out: wall-clock time, and CPU time (user + system of git-okr and
//! the processes it waited for), which stays meaningful on a machine other jobs load.
//!
//! Run: `cargo bench --bench scale`.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{fast_import, git, median, ms};

/// The git-okr binary timed: this build, or `OKR_SCALE_BIN`.
fn okr(dir: &Path, args: &[&str]) -> String {
    let bin = std::env::var_os("OKR_SCALE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(support::okr_bin);
    let out = support::cmd(bin, dir)
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

const KRS_PER_OBJECTIVE: usize = 20;
const OWNERS: usize = 50;
/// KRs each side of the sync changes.
const SYNC_CHANGES: usize = 1000;
/// A command slower than this is sampled once (the old quadratic code took minutes).
const SLOW: Duration = Duration::from_secs(20);

/// The commands timed, with their goal at 10,000 KRs.
const GOALS: &[(&str, u64)] = &[
    ("init --from", 1000),
    ("kr measure (every status changes)", 2000),
    ("kr measure (no status changes)", 300),
    ("status", 200),
    ("kr score", 200),
    ("metric set", 50),
    ("report --html", 2000),
    ("okr propose", 200),
    ("okr apply", 200),
    ("sync merge (1,000 KRs changed each side)", 2000),
];

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    let sizes: Vec<usize> = std::env::var("OKR_SCALE_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect();
    let files = env_num("OKR_SCALE_FILES", 1).max(1);
    let history = env_num("OKR_SCALE_HISTORY", 0);
    let runs = env_num("OKR_SCALE_RUNS", 5).max(1);
    let only: Vec<String> = std::env::var("OKR_SCALE_ONLY")
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let kept = std::env::var_os("OKR_SCALE_KEEP").map(PathBuf::from);
    println!(
        "scale bench: sizes {sizes:?}, {files} OKR file(s), {history} extra state commits, median of {runs}"
    );

    let mut table: BTreeMap<&str, Vec<Option<Duration>>> = BTreeMap::new();
    let mut cpu_table: BTreeMap<&str, Vec<Option<Duration>>> = BTreeMap::new();
    for &n in &sizes {
        let tmp = tempfile::tempdir().unwrap();
        let root = match &kept {
            Some(k) => k.join(format!("n{n}-f{files}-h{history}")),
            None => tmp.path().to_path_buf(),
        };
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let times = bench_size(&root, n, files, history, runs, &wanted);
        for (name, _) in GOALS {
            let t = times.get(name);
            table.entry(name).or_default().push(t.map(|t| t.0));
            cpu_table.entry(name).or_default().push(t.map(|t| t.1));
        }
        if kept.is_some() {
            println!("kept {}", root.display());
        }
    }
    print_table("wall, median", &sizes, &table);
    print_table("CPU, median", &sizes, &cpu_table);
}

/// CPU time (user + system) of this process's waited-for children so far, from
/// `/proc/self/stat` (fields 16 and 17, in the kernel's fixed 100 ticks a second).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may hold spaces: count fields after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // After ')' come field 3 (state) onward: cutime is field 16, cstime field 17.
    let ticks = fields.get(13).copied().unwrap_or(0) + fields.get(14).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn print_table(title: &str, sizes: &[usize], table: &BTreeMap<&str, Vec<Option<Duration>>>) {
    println!();
    let head: Vec<String> = sizes.iter().map(|n| format!("{n} KRs")).collect();
    println!(
        "{:<44} {:>12} {:>8} {:>14}",
        format!("command ({title})"),
        head.join(" / "),
        "growth",
        "goal at 10k"
    );
    for (name, goal) in GOALS {
        let Some(times) = table.get(name) else {
            continue;
        };
        if times.iter().all(Option::is_none) {
            continue;
        }
        let shown: Vec<String> = times
            .iter()
            .map(|t| t.map(ms).unwrap_or_else(|| "-".into()))
            .collect();
        let growth = match (
            times.first().copied().flatten(),
            times.last().copied().flatten(),
        ) {
            (Some(a), Some(b)) if times.len() > 1 => {
                format!("{:.1}x", b.as_secs_f64() / a.as_secs_f64())
            }
            _ => "-".into(),
        };
        let at_10k = sizes
            .iter()
            .position(|&n| n == 10_000)
            .and_then(|i| times[i]);
        let verdict = match at_10k {
            Some(t) if t <= Duration::from_millis(*goal) => "PASS",
            Some(_) => "MISS",
            None => "",
        };
        println!(
            "{name:<44} {:>12} {growth:>8} {:>9} ms {verdict}",
            shown.join(" / "),
            goal
        );
    }
    println!("(growth goal: <= 12x from 1,000 to 10,000 KRs)");
}

/// Build the workspace and repositories for `n` KRs and time every command.
fn bench_size(
    root: &Path,
    n: usize,
    files: usize,
    history: usize,
    runs: usize,
    wanted: &dyn Fn(&str) -> bool,
) -> BTreeMap<&'static str, (Duration, Duration)> {
    let mut out = BTreeMap::new();
    let ws = root.join("workspace");
    let start = Instant::now();
    let workspace = Workspace::new(n, files);
    workspace.write(&ws, &Overrides::default());
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "start"]);
    let ws_arg = ws.to_str().unwrap();
    okr(&repo, &["init", "--from", ws_arg]);
    if history > 0 {
        add_history(&repo, history);
    }
    let base = tip(&repo);
    println!(
        "\n{n} KRs in {files} file(s): workspace and state built in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let mut time = |name: &'static str, prepare: &mut dyn FnMut(), run: &mut dyn FnMut()| {
        if !wanted(name) {
            return;
        }
        let (mut samples, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            prepare();
            let (start, cpu_start) = (Instant::now(), children_cpu());
            run();
            let took = start.elapsed();
            samples.push(took);
            cpu.push(children_cpu().saturating_sub(cpu_start));
            if took > SLOW {
                break;
            }
        }
        samples.sort();
        cpu.sort();
        let (m, c) = (median(&samples), median(&cpu));
        println!(
            "  {name:<44} {:>10}  (CPU {:>8}; {} samples)",
            ms(m),
            ms(c),
            samples.len()
        );
        out.insert(name, (m, c));
    };

    time("init --from", &mut || {}, &mut || {
        okr(&repo, &["init", "--force", "--from", ws_arg]);
    });
    set_tip(&repo, &base);
    time(
        "kr measure (every status changes)",
        &mut || set_tip(&repo, &base),
        &mut || {
            okr(&repo, &["kr", "measure"]);
        },
    );
    set_tip(&repo, &base);
    okr(&repo, &["kr", "measure"]);
    let measured = tip(&repo);
    time(
        "kr measure (no status changes)",
        &mut || set_tip(&repo, &measured),
        &mut || {
            okr(&repo, &["kr", "measure"]);
        },
    );
    set_tip(&repo, &measured);
    time("status", &mut || {}, &mut || {
        okr(&repo, &["status"]);
    });
    time("kr score", &mut || {}, &mut || {
        okr(&repo, &["kr", "score"]);
    });
    let html = root.join("report.html");
    let html_arg = html.to_str().unwrap().to_string();
    time("report --html", &mut || {}, &mut || {
        okr(&repo, &["report", "--html", &html_arg]);
    });
    let mut value = 0;
    time("metric set", &mut || set_tip(&repo, &measured), &mut || {
        value += 1;
        okr(&repo, &["metric", "set", "manual.kr_3", &value.to_string()]);
    });
    let middle = workspace.krs[n / 2].clone();
    let mut target = 500;
    let mut proposal = String::new();
    time(
        "okr propose",
        &mut || set_tip(&repo, &measured),
        &mut || {
            target += 1;
            let out = okr(
                &repo,
                &[
                    "propose",
                    "--set",
                    &format!("{middle}.target={target}"),
                    "--reason",
                    "scale bench",
                ],
            );
            proposal = proposal_id(&out);
        },
    );
    if wanted("okr apply") {
        // The proposal made (and approved) before each timed apply.
        let id = std::cell::RefCell::new(String::new());
        time(
            "okr apply",
            &mut || {
                set_tip(&repo, &measured);
                target += 1;
                let out = okr(
                    &repo,
                    &[
                        "propose",
                        "--set",
                        &format!("{middle}.target={target}"),
                        "--reason",
                        "scale bench",
                    ],
                );
                *id.borrow_mut() = proposal_id(&out);
                okr(&repo, &["okr", "approve", &id.borrow()]);
            },
            &mut || {
                okr(&repo, &["apply", &id.borrow()]);
            },
        );
    }
    if wanted("sync merge") {
        let (ours, theirs, remote) = sync_sides(root, &repo, &workspace, &base);
        let remote_arg = remote.to_str().unwrap().to_string();
        time(
            "sync merge (1,000 KRs changed each side)",
            &mut || {
                set_tip(&repo, &ours);
                git(&remote, &["update-ref", "refs/okr/state", &theirs]);
            },
            &mut || {
                okr(&repo, &["sync", &remote_arg]);
            },
        );
        // The last sync made a merge commit of both sides.
        git(&repo, &["rev-parse", "--verify", "refs/okr/state^2"]);
    }
    out
}

fn proposal_id(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("P-"))
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
        .unwrap_or_else(|| panic!("no proposal id in {out:?}"))
        .to_string()
}

fn tip(repo: &Path) -> String {
    git(repo, &["rev-parse", "refs/okr/state"])
        .trim()
        .to_string()
}

fn set_tip(repo: &Path, commit: &str) {
    git(repo, &["update-ref", "refs/okr/state", commit]);
}

/// Two state commits on `base`: ours changes the targets of the first 1,000 KRs, theirs
/// those of the last 1,000 (the middle stays as it was), and a remote holding theirs.
fn sync_sides(
    root: &Path,
    repo: &Path,
    workspace: &Workspace,
    base: &str,
) -> (String, String, PathBuf) {
    let n = workspace.krs.len();
    let count = SYNC_CHANGES.min(n / 2);
    let ours = Overrides {
        target: (0..count).collect(),
    };
    let theirs = Overrides {
        target: (n - count..n).collect(),
    };
    let ours = commit_okr_files(repo, base, &workspace.okr_files(&ours), "ours");
    let theirs = commit_okr_files(repo, base, &workspace.okr_files(&theirs), "theirs");
    let remote = root.join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "-q", "--bare"]);
    let remote_arg = remote.to_str().unwrap();
    git(
        repo,
        &[
            "push",
            "-q",
            remote_arg,
            &format!("{theirs}:refs/okr/state"),
        ],
    );
    (ours, theirs, remote)
}

/// A state commit on `parent` writing `files`, made with fast-import on a scratch ref.
fn commit_okr_files(repo: &Path, parent: &str, files: &[(String, String)], who: &str) -> String {
    let scratch = format!("refs/okr-bench/{who}");
    fast_import(repo, |w: &mut dyn Write| {
        let msg = format!("okr: edit ({who})\n\nOkr-Action: edit\nOkr-Actor: {who}@example.com\n");
        writeln!(w, "commit {scratch}").unwrap();
        writeln!(w, "committer Bench <bench@example.com> 1700000000 +0000").unwrap();
        writeln!(w, "data {}\n{msg}", msg.len()).unwrap();
        writeln!(w, "from {parent}").unwrap();
        for (path, text) in files {
            writeln!(w, "M 100644 inline {path}\ndata {}\n{text}", text.len()).unwrap();
        }
    });
    git(repo, &["rev-parse", &scratch]).trim().to_string()
}

/// `count` state commits on top of the state: mostly manual metric sets, every 10th an
/// edit of a side file, as a long-lived state collects them.
fn add_history(repo: &Path, count: usize) {
    let start = Instant::now();
    let parent = tip(repo);
    fast_import(repo, |w: &mut dyn Write| {
        for i in 0..count {
            let (msg, path, content) = if i % 10 == 0 {
                (
                    format!("okr: edit culture/notes.md\n\nOkr-Action: edit\nOkr-Actor: dev{}@example.com\nOkr-File: culture/notes.md\n", i % 5),
                    "culture/notes.md".to_string(),
                    format!("note {i}\n"),
                )
            } else {
                (
                    format!("okr: metric set manual.extra_{} = {i}\n\nOkr-Action: metric-set\nOkr-Actor: dev{}@example.com\nOkr-Metric: manual.extra_{}\nOkr-Value: {i}\n", i % 50, i % 5, i % 50),
                    // A side file of the layout: the history must not change what is measured.
                    "culture/extra.md".to_string(),
                    format!("extra {i}\n"),
                )
            };
            writeln!(w, "commit refs/okr/state").unwrap();
            writeln!(
                w,
                "committer Dev <dev@example.com> {} +0000",
                1_600_000_000 + i * 60
            )
            .unwrap();
            writeln!(w, "data {}\n{msg}", msg.len()).unwrap();
            if i == 0 {
                writeln!(w, "from {parent}").unwrap();
            }
            writeln!(
                w,
                "M 100644 inline {path}\ndata {}\n{content}",
                content.len()
            )
            .unwrap();
        }
    });
    println!(
        "  added {count} state commits with git fast-import in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// Field values that differ from the generated defaults, by KR index.
#[derive(Default)]
struct Overrides {
    /// KRs whose target is moved (by +1000).
    target: std::collections::BTreeSet<usize>,
}

/// The generated OKR set: KR ids by index, and how they are laid out in files.
struct Workspace {
    krs: Vec<String>,
    files: usize,
}

impl Workspace {
    fn new(n: usize, files: usize) -> Workspace {
        let krs = (0..n)
            .map(|i| {
                format!(
                    "KR-{}.{}",
                    i / KRS_PER_OBJECTIVE + 1,
                    i % KRS_PER_OBJECTIVE + 1
                )
            })
            .collect();
        Workspace { krs, files }
    }

    fn objectives(&self) -> usize {
        self.krs.len().div_ceil(KRS_PER_OBJECTIVE)
    }

    fn file_name(&self, f: usize) -> String {
        if self.files == 1 {
            "okrs/org.yml".into()
        } else {
            format!("okrs/team-{f:03}.yml")
        }
    }

    /// Every OKR file's path and text.
    fn okr_files(&self, o: &Overrides) -> Vec<(String, String)> {
        let mut texts: Vec<String> = (0..self.files)
            .map(|f| {
                if self.files == 1 {
                    "# The whole organisation's OKRs (generated by benches/scale.rs)\nscope: org\nowner_id: ceo\nobjectives:\n".to_string()
                } else {
                    format!("# Team {f}'s OKRs\nscope: team\nowner_id: team-{:02}\nobjectives:\n", f % OWNERS)
                }
            })
            .collect();
        for obj in 0..self.objectives() {
            let text = &mut texts[obj % self.files];
            text.push_str(&format!(
                "  # objective {}\n  - objective_id: OBJ-{}\n    objective: Objective number {} of the generated set\n    owner_id: team-{:02}\n    key_results:\n",
                obj + 1,
                obj + 1,
                obj + 1,
                obj % OWNERS
            ));
            let first = obj * KRS_PER_OBJECTIVE;
            for i in first..(first + KRS_PER_OBJECTIVE).min(self.krs.len()) {
                let (baseline, mut target) = kr_range(i);
                if o.target.contains(&i) {
                    target += if target > baseline { 1000 } else { -1000 };
                }
                text.push_str(&format!(
                    "      - kr_id: {}\n        description: Key result {i}  # generated\n        metric_key: manual.kr_{i}\n        baseline: {baseline}\n        target: {target}\n        status: not_started\n        owner_id: person-{}\n",
                    self.krs[i],
                    i % 200
                ));
            }
        }
        texts
            .into_iter()
            .enumerate()
            .map(|(f, t)| (self.file_name(f), t))
            .collect()
    }

    /// Manual values that move every KR: even ones reach their target, odd ones move halfway.
    fn manual(&self) -> String {
        let mut text = String::from("metrics:\n");
        for i in 0..self.krs.len() {
            let (baseline, target) = kr_range(i);
            let value = if i % 2 == 0 {
                target
            } else {
                (baseline + target) / 2
            };
            text.push_str(&format!(
                "  - key: manual.kr_{i}\n    value: {value}\n    unit: count\n"
            ));
        }
        text
    }

    fn write(&self, dir: &Path, o: &Overrides) {
        std::fs::create_dir_all(dir.join("okrs")).unwrap();
        std::fs::create_dir_all(dir.join("metrics")).unwrap();
        for (path, text) in self.okr_files(o) {
            std::fs::write(dir.join(path), text).unwrap();
        }
        std::fs::write(dir.join("metrics/manual.yml"), self.manual()).unwrap();
    }
}

/// Baseline and target of KR `i`: every 7th decreases (300 → 100), the rest increase (0 → 100).
fn kr_range(i: usize) -> (i64, i64) {
    if i % 7 == 3 {
        (300, 100)
    } else {
        (0, 100)
    }
}
