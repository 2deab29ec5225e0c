//! Git metrics against git itself: every stat equals what `git rev-list --count`,
//! `git shortlog -sne` and `git log --numstat` report for the same range and paths.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::TestRepo;
use git_okr::metrics::git::{measure, measure_with_report, GitQuery, GitStats};
use std::path::PathBuf;

/// Day `n` of the test history, noon UTC.
fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::days(n)
}

struct History {
    repo: TestRepo,
    next_day: i64,
}

impl History {
    fn new() -> History {
        History {
            repo: TestRepo::new(),
            next_day: 0,
        }
    }

    fn git_env(&self, args: &[&str], extra: &[(&str, String)]) -> String {
        let mut cmd = std::process::Command::new("git");
        cmd.current_dir(self.repo.path()).args(args);
        for (k, v) in self.repo.env() {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Commit what is staged (plus `args`) as `who` on the next day.
    fn commit_as(&mut self, who: (&str, &str), msg: &str, args: &[&str]) {
        let date = day(self.next_day);
        self.next_day += 1;
        self.commit_at(who, msg, args, date, date);
    }

    fn commit_at(
        &self,
        who: (&str, &str),
        msg: &str,
        args: &[&str],
        author: DateTime<Utc>,
        committer: DateTime<Utc>,
    ) {
        let env = [
            ("GIT_AUTHOR_NAME", who.0.to_string()),
            ("GIT_AUTHOR_EMAIL", who.1.to_string()),
            ("GIT_AUTHOR_DATE", author.to_rfc3339()),
            ("GIT_COMMITTER_DATE", committer.to_rfc3339()),
        ];
        let mut all = vec!["commit", "-q", "--allow-empty", "-m", msg];
        all.extend_from_slice(args);
        self.git_env(&all, &env);
    }

    fn merge_as(&mut self, who: (&str, &str), branch: &str, edit: Option<(&str, &str)>) {
        let date = day(self.next_day);
        self.next_day += 1;
        let env = [
            ("GIT_AUTHOR_NAME", who.0.to_string()),
            ("GIT_AUTHOR_EMAIL", who.1.to_string()),
            ("GIT_AUTHOR_DATE", date.to_rfc3339()),
            ("GIT_COMMITTER_DATE", date.to_rfc3339()),
        ];
        self.git_env(&["merge", "-q", "--no-ff", "--no-commit", branch], &env);
        if let Some((path, content)) = edit {
            self.write(path, content);
            self.repo.git(&["add", "-A"]);
        }
        self.git_env(&["commit", "-q", "-m", &format!("Merge {branch}")], &env);
    }

    fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        self.repo.write(path, content);
    }

    fn add(&self) {
        self.repo.git(&["add", "-A"]);
    }

    fn gix(&self) -> gix::Repository {
        gix::open(self.repo.path()).unwrap()
    }

    fn okr_dir(&self) -> PathBuf {
        let dir = self.repo.path().join(".git/okr");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn measure(&self, queries: &[GitQuery]) -> Vec<GitStats> {
        measure(&self.gix(), &self.okr_dir(), queries, false).unwrap()
    }

    /// What git itself says for `q`.
    fn oracle(&self, q: &GitQuery) -> GitStats {
        let mut range = vec![q.rev.clone()];
        if let Some(s) = q.since {
            range.push(format!("--since={}", s.format("%Y-%m-%d %H:%M:%S +0000")));
        }
        if let Some(u) = q.until {
            range.push(format!("--until={}", u.format("%Y-%m-%d %H:%M:%S +0000")));
        }
        range.push("--".into());
        range.extend(q.paths.iter().cloned());
        let run = |head: &[&str]| {
            let mut args: Vec<&str> = head.to_vec();
            args.extend(range.iter().map(String::as_str));
            self.repo.git(&args)
        };
        let count = |s: String| s.trim().parse::<u64>().unwrap();
        let (mut added, mut removed) = (0, 0);
        for line in run(&["log", "--numstat", "--format="])
            .lines()
            .filter(|l| !l.is_empty())
        {
            let mut parts = line.split('\t');
            added += parts.next().unwrap().parse::<u64>().unwrap_or(0);
            removed += parts.next().unwrap().parse::<u64>().unwrap_or(0);
        }
        GitStats {
            commits: count(run(&["rev-list", "--count"])),
            merge_commits: count(run(&["rev-list", "--count", "--merges"])),
            contributors: run(&["shortlog", "-sne"])
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count() as u64,
            lines_added: added,
            lines_removed: removed,
        }
    }

    fn assert_matches_git(&self, queries: &[GitQuery]) {
        let ours = self.measure(queries);
        for (q, ours) in queries.iter().zip(ours) {
            assert_eq!(ours, self.oracle(q), "query {q:?}");
        }
    }
}

const ALICE: (&str, &str) = ("Alice Example", "alice@example.com");
const ALICE_OLD: (&str, &str) = ("alice", "alice@old.example.org");
const BOB: (&str, &str) = ("Bob Builder", "bob@example.com");
const ZOE: (&str, &str) = ("Zoë Ünicode", "zoe@example.com");

/// A history with merges (one with its own changes, one touching only docs),
/// pure and edited renames (inside `src/` and across its boundary), binary
/// files, unicode paths, a symlink, a .mailmap and several authors, one day apart.
fn rich_history() -> History {
    let mut h = History::new();
    let lines = |n: usize, tag: &str| {
        (0..n)
            .map(|i| format!("{tag} line {i}\n"))
            .collect::<String>()
    };
    h.write("README.md", "hello\n");
    h.write("src/lib.rs", lines(20, "lib"));
    h.write("src/util.rs", lines(30, "util"));
    h.write("docs/guide.md", lines(10, "guide"));
    h.add();
    h.commit_as(ALICE, "initial", &[]);

    h.write("src/lib.rs", lines(22, "lib"));
    h.write("assets/logo.bin", [0u8, 1, 2, 3, 0, 255, 10, 0, 7]);
    h.add();
    h.commit_as(ALICE_OLD, "binary and edit", &[]);

    h.write("docs/ünïcødé file.md", "grüße\nzweite zeile");
    h.add();
    h.commit_as(ZOE, "unicode path, no final newline", &[]);

    // A side branch touching src/ and docs, merged with changes of its own.
    h.repo.git(&["checkout", "-q", "-b", "feature"]);
    h.write("src/feature.rs", lines(15, "feature"));
    h.add();
    h.commit_as(BOB, "feature", &[]);
    h.write("docs/guide.md", lines(12, "guide"));
    h.add();
    h.commit_as(BOB, "feature docs", &[]);
    h.repo.git(&["checkout", "-q", "main"]);
    h.write("README.md", "hello\nworld\n");
    h.add();
    h.commit_as(ALICE, "readme", &[]);
    h.merge_as(ALICE, "feature", Some(("src/lib.rs", &lines(25, "lib"))));

    // A docs-only branch: its merge is TREESAME to main for src/.
    h.repo.git(&["checkout", "-q", "-b", "docs-only"]);
    h.write("docs/more.md", lines(5, "more"));
    h.add();
    h.commit_as(ZOE, "more docs", &[]);
    h.repo.git(&["checkout", "-q", "main"]);
    h.write("src/util.rs", lines(31, "util"));
    h.add();
    h.commit_as(BOB, "util", &[]);
    h.merge_as(BOB, "docs-only", None);

    // Renames: pure, with edits, into and out of src/.
    h.repo.git(&["mv", "src/util.rs", "src/helpers.rs"]);
    h.commit_as(ALICE, "pure rename", &[]);
    h.repo.git(&["mv", "src/feature.rs", "src/features.rs"]);
    let mut edited = lines(15, "feature");
    edited.push_str("one more\n");
    h.write(
        "src/features.rs",
        edited.replace("feature line 3\n", "changed\n"),
    );
    h.add();
    h.commit_as(BOB, "rename with edits", &[]);
    h.repo.git(&["mv", "docs/guide.md", "src/guide.md"]);
    h.commit_as(ZOE, "into src", &[]);
    h.repo.git(&["mv", "src/lib.rs", "lib.rs"]);
    h.commit_as(ALICE, "out of src", &[]);

    // Binary change, deletion, a symlink, an empty commit.
    h.write("assets/logo.bin", [9u8, 0, 0, 1]);
    h.repo.git(&["rm", "-q", "README.md"]);
    std::os::unix::fs::symlink("lib.rs", h.repo.path().join("src/link")).unwrap();
    h.add();
    h.commit_as(BOB, "binary, delete, symlink", &[]);
    h.commit_as(ZOE, "empty", &[]);

    // A side branch that changes src/ and takes it back: its merge is TREESAME to
    // main under src/, so git hides the side branch's commits there.
    let helpers = std::fs::read_to_string(h.repo.path().join("src/helpers.rs")).unwrap();
    h.repo.git(&["checkout", "-q", "-b", "undo"]);
    h.write("src/helpers.rs", format!("{helpers}tmp\n"));
    h.add();
    h.commit_as(BOB, "try", &[]);
    h.write("src/helpers.rs", &helpers);
    h.add();
    h.commit_as(BOB, "undo", &[]);
    h.repo.git(&["checkout", "-q", "main"]);
    h.write("docs/later.md", "later\n");
    h.add();
    h.commit_as(ZOE, "later docs", &[]);
    h.merge_as(ZOE, "undo", None);

    h.write(
        ".mailmap",
        "Alice Example <alice@example.com> alice <alice@old.example.org>\n",
    );
    h.add();
    h.commit_as(ALICE, "mailmap", &[]);
    h
}

fn q(rev: &str, since: Option<i64>, until: Option<i64>, paths: &[&str]) -> GitQuery {
    GitQuery {
        rev: rev.into(),
        since: since.map(day),
        until: until.map(day),
        paths: paths.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn every_stat_equals_git() {
    let h = rich_history();
    let queries = [
        q("HEAD", None, None, &[]),
        q("main", Some(3), Some(12), &[]),
        q("HEAD", None, None, &["src/"]),
        q("HEAD", Some(4), Some(14), &["src/"]),
        q("HEAD", None, None, &["src"]),
        q("HEAD", None, None, &["docs"]),
        q("HEAD", None, None, &["docs/ünïcødé file.md", "assets/"]),
        q("HEAD", None, None, &["lib.rs"]),
        q("feature", None, None, &[]),
        q("HEAD~3", Some(2), None, &["src/"]),
        q("HEAD", Some(100), None, &[]),
    ];
    h.assert_matches_git(&queries);
    // The history really has what it is meant to test.
    let all = h.oracle(&queries[0]);
    assert_eq!(all.merge_commits, 3);
    assert_eq!(
        all.contributors, 3,
        "the .mailmap merges Alice's two identities"
    );
    let src = h.oracle(&queries[2]);
    assert_eq!(
        src.merge_commits, 1,
        "the docs-only and undo merges are simplified away under src/"
    );
    let full_history = h.repo.git(&[
        "rev-list",
        "--count",
        "--full-history",
        "HEAD",
        "--",
        "src/",
    ]);
    assert!(
        src.commits < full_history.trim().parse().unwrap(),
        "the undo branch is hidden under src/"
    );
}

#[test]
fn since_stops_the_walk_like_git_even_with_clock_skew() {
    let mut h = History::new();
    for i in 0..3 {
        h.write("a.txt", format!("{i}\n"));
        h.add();
        h.commit_as(ALICE, "step", &[]);
    }
    // Committed "in the past" on top of newer commits, then one more normal commit.
    h.write("a.txt", "skewed\n");
    h.add();
    h.commit_at(BOB, "skewed", &[], day(0), day(0));
    h.write("a.txt", "late\n");
    h.add();
    h.commit_at(ALICE, "late", &[], day(10), day(10));
    h.assert_matches_git(&[
        q("HEAD", Some(1), None, &[]),
        q("HEAD", None, Some(1), &[]),
        q("HEAD", Some(1), None, &["a.txt"]),
    ]);
    assert_eq!(
        h.oracle(&q("HEAD", Some(1), None, &[])).commits,
        1,
        "git stops at the skewed commit"
    );
}

#[test]
fn cache_is_reused_and_survives_deletion_garbage_and_rewrites() {
    let h = rich_history();
    let queries = [
        q("HEAD", None, None, &[]),
        q("HEAD", Some(2), Some(9), &["src/"]),
    ];
    let repo = h.gix();
    let (first, report) = measure_with_report(&repo, &h.okr_dir(), &queries, false).unwrap();
    assert_eq!(report.scanned, report.reachable);
    assert!(report.reachable > 15);

    let (again, report) = measure_with_report(&repo, &h.okr_dir(), &queries, false).unwrap();
    assert_eq!(again, first);
    assert_eq!(report.scanned, 0, "a warm measurement reads no commit");

    let db = h.okr_dir().join("audit.sqlite");
    for f in ["audit.sqlite", "audit.sqlite-wal", "audit.sqlite-shm"] {
        let _ = std::fs::remove_file(h.okr_dir().join(f));
    }
    let (rebuilt, report) = measure_with_report(&repo, &h.okr_dir(), &queries, false).unwrap();
    assert_eq!(rebuilt, first);
    assert_eq!(report.scanned, report.reachable);

    for f in ["audit.sqlite-wal", "audit.sqlite-shm"] {
        let _ = std::fs::remove_file(h.okr_dir().join(f));
    }
    std::fs::write(&db, b"garbage, not a database at all, certainly not SQLite").unwrap();
    let (after_garbage, report) =
        measure_with_report(&repo, &h.okr_dir(), &queries, false).unwrap();
    assert_eq!(after_garbage, first);
    assert_eq!(report.scanned, report.reachable);

    // Rewrite the tip: only the new commit is read, and numbers follow git.
    h.write("src/new.rs", "x\ny\n");
    h.add();
    h.commit_at(BOB, "amended", &["--amend"], day(40), day(40));
    let (amended, report) = measure_with_report(&h.gix(), &h.okr_dir(), &queries, false).unwrap();
    assert_eq!(report.scanned, 1);
    for (q, ours) in queries.iter().zip(amended) {
        assert_eq!(ours, h.oracle(q), "{q:?}");
    }
}

/// Totals carried forward from an earlier tip equal git's after every kind of
/// change to the history: new commits, a merge of an old branch, a merge that is
/// TREESAME under the paths, a reset backwards, a clock-skewed commit, a new
/// .mailmap line. The same cache is used throughout.
#[test]
fn totals_carried_forward_from_earlier_tips_equal_git() {
    let mut h = rich_history();
    let queries = [
        q("HEAD", None, None, &[]),
        q("HEAD", None, Some(30), &[]),
        q("HEAD", Some(10), None, &[]),
        q("HEAD", None, None, &["src/"]),
        q("HEAD", Some(5), Some(40), &["src/", "docs"]),
    ];
    let check = |h: &History, step: &str| -> git_okr::metrics::git::ScanReport {
        let (ours, report) = measure_with_report(&h.gix(), &h.okr_dir(), &queries, false).unwrap();
        for (q, ours) in queries.iter().zip(ours) {
            assert_eq!(ours, h.oracle(q), "{step}: {q:?}");
        }
        report
    };
    let cold = check(&h, "cold");

    for i in 0..3 {
        h.write(&format!("src/new{i}.rs"), format!("{i}\nmore\n"));
        h.add();
        h.commit_as(BOB, "linear", &[]);
    }
    h.repo.git(&["mv", "docs/more.md", "src/more.md"]);
    h.commit_as(ZOE, "rename into src", &[]);
    let report = check(&h, "linear");
    assert_eq!(report.scanned, 4);
    assert!(
        report.reachable < cold.reachable / 2,
        "only the new commits are walked: {report:?} vs {cold:?}"
    );

    // A branch from an old commit, merged: its base is not the earlier tip.
    h.repo.git(&["checkout", "-q", "-b", "old-base", "HEAD~8"]);
    h.write("src/old.rs", "from an old base\n");
    h.add();
    h.commit_as(ALICE_OLD, "old base", &[]);
    h.repo.git(&["checkout", "-q", "main"]);
    h.merge_as(ALICE, "old-base", None);
    check(&h, "merge of an old branch");

    // A docs-only branch from the tip, merged after a src/ change on main.
    h.repo.git(&["checkout", "-q", "-b", "docs-2"]);
    h.write("docs/two.md", "two\n");
    h.add();
    h.commit_as(ZOE, "docs two", &[]);
    h.repo.git(&["checkout", "-q", "main"]);
    h.write("src/main-side.rs", "main side\n");
    h.add();
    h.commit_as(BOB, "main side", &[]);
    h.merge_as(BOB, "docs-2", None);
    check(&h, "TREESAME merge");

    h.repo.git(&["reset", "-q", "--hard", "HEAD~2"]);
    check(&h, "reset backwards");

    // Build on the side branch that the earlier tips hide under src/: merged now,
    // git counts its old commits there too.
    h.repo.git(&["checkout", "-q", "-b", "on-undo", "undo"]);
    h.write("src/on-undo.rs", "on undo\n");
    h.add();
    h.commit_as(ZOE, "on undo", &[]);
    h.repo.git(&["checkout", "-q", "main"]);
    h.merge_as(ALICE, "on-undo", None);
    check(&h, "merge of a hidden branch");

    h.write("src/skew.rs", "skewed\n");
    h.add();
    h.commit_at(BOB, "skewed", &[], day(1), day(1));
    check(&h, "clock skew");
    h.write("src/after.rs", "after\n");
    h.add();
    h.commit_as(ZOE, "after the skew", &[]);
    check(&h, "after the skew");

    h.write(
        ".mailmap",
        "Alice Example <alice@example.com> alice <alice@old.example.org>\nBob Builder <bob@example.com> Zoë Ünicode <zoe@example.com>\n",
    );
    h.add();
    h.commit_as(ALICE, "mailmap grows", &[]);
    let report = check(&h, "mailmap");
    assert_eq!(report.scanned, 1);
}

#[test]
fn unknown_revisions_are_errors() {
    let h = rich_history();
    let err = measure(
        &h.gix(),
        &h.okr_dir(),
        &[q("no-such-branch", None, None, &[])],
        false,
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("no-such-branch"), "{err:#}");
}

#[test]
fn a_cold_scan_over_many_commits_uses_threads_and_drops_nothing() {
    // More commits than the parallel threshold, with merges sprinkled in.
    let mut h = History::new();
    for i in 0..260 {
        h.write(&format!("src/f{}.txt", i % 7), format!("{i}\n{}\n", i * 3));
        if i % 5 == 0 {
            h.write(&format!("docs/d{i}.md"), "doc\n");
        }
        h.add();
        let who = [ALICE, BOB, ZOE][i % 3];
        let date = day(i as i64 / 4);
        h.commit_at(who, "c", &[], date, date);
    }
    h.next_day = 70;
    h.assert_matches_git(&[
        q("HEAD", None, None, &[]),
        q("HEAD", Some(20), Some(50), &["src/"]),
    ]);
}

mod points {
    use super::*;
    use git_okr::metrics::git::points;
    use git_okr::model::definitions::Definitions;
    use git_okr::store::Store;

    #[test]
    fn builtin_and_defined_metrics() {
        let h = rich_history();
        let defs = Definitions::parse(
            "metrics/definitions.yml",
            "git:\n  - key: git.src.lines\n    stat: lines_changed\n    paths: [src/]\n    since: 2024-01-03\n    until: 2024-01-12\n  - key: git.feature.commits\n    stat: commits\n    branch: feature\n",
        )
        .unwrap();
        let now = day(20);
        let store = Store::discover(h.repo.path()).unwrap();
        let pts = points(&store, &defs, None, now).unwrap();
        let value = |k: &str| {
            pts.iter()
                .find(|p| p.key == k)
                .unwrap_or_else(|| panic!("no {k}"))
                .value as u64
        };
        let all = h.oracle(&q("HEAD", None, None, &[]));
        assert_eq!(value("git.commits"), all.commits);
        assert_eq!(value("git.contributors"), all.contributors);
        assert_eq!(value("git.lines_added"), all.lines_added);
        assert_eq!(value("git.lines_removed"), all.lines_removed);
        assert_eq!(
            value("git.lines_changed"),
            all.lines_added + all.lines_removed
        );
        let recent = h.oracle(&GitQuery {
            since: Some(now - chrono::Duration::days(30)),
            until: Some(now),
            ..GitQuery::rev("HEAD")
        });
        assert_eq!(value("git.commits_30d"), recent.commits);
        assert_eq!(value("git.merge_commits_30d"), recent.merge_commits);
        let src = h.oracle(&GitQuery {
            since: Some(Utc.with_ymd_and_hms(2024, 1, 3, 0, 0, 0).unwrap()),
            until: Some(Utc.with_ymd_and_hms(2024, 1, 12, 23, 59, 59).unwrap()),
            paths: vec!["src/".into()],
            ..GitQuery::rev("HEAD")
        });
        assert!(src.lines_added > 0);
        assert_eq!(value("git.src.lines"), src.lines_added + src.lines_removed);
        assert_eq!(
            value("git.feature.commits"),
            h.oracle(&q("feature", None, None, &[])).commits
        );

        let head = h.repo.git(&["rev-parse", "HEAD"]);
        let p = pts.iter().find(|p| p.key == "git.commits").unwrap();
        assert_eq!(p.evidence, vec![format!("HEAD @ {}", head.trim())]);
        assert_eq!(p.source, "git");
        assert_eq!(p.timestamp, now.to_rfc3339());
        assert_eq!(pts.len(), 9);
    }

    #[test]
    fn empty_repository_has_no_points() {
        let repo = TestRepo::new();
        let store = Store::discover(repo.path()).unwrap();
        assert!(points(&store, &Definitions::default(), None, Utc::now())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn unknown_branch_in_a_definition_names_the_metric() {
        let h = rich_history();
        let defs = Definitions::parse(
            "metrics/definitions.yml",
            "git:\n  - key: git.gone\n    stat: commits\n    branch: gone\n",
        )
        .unwrap();
        let store = Store::discover(h.repo.path()).unwrap();
        let err = format!("{:#}", points(&store, &defs, None, Utc::now()).unwrap_err());
        assert!(
            err.contains("git.gone") && err.contains("\"gone\""),
            "{err}"
        );
    }

    #[test]
    fn an_explicit_rev_is_measured() {
        let h = rich_history();
        let store = Store::discover(h.repo.path()).unwrap();
        let pts = points(&store, &Definitions::default(), Some("feature"), day(20)).unwrap();
        let commits = pts.iter().find(|p| p.key == "git.commits").unwrap();
        assert_eq!(
            commits.value as u64,
            h.oracle(&q("feature", None, None, &[])).commits
        );
        assert!(commits.evidence[0].starts_with("feature @ "));
    }
}

/// Timing probe for a large repository, run by hand:
/// `GIT_METRICS_PROBE=/path/to/repo cargo test --release --test git_metrics probe -- --ignored --nocapture`.
/// Prints the wall time of one measurement (the default metrics: all history and 30 days).
#[test]
#[ignore]
fn probe() {
    let path = std::env::var("GIT_METRICS_PROBE").expect("GIT_METRICS_PROBE=<repo>");
    let repo = gix::open(&path).unwrap();
    let okr = repo.common_dir().join("okr");
    std::fs::create_dir_all(&okr).unwrap();
    let paths: Vec<String> = std::env::var("GIT_METRICS_PROBE_PATHS")
        .map(|p| vec![p])
        .unwrap_or_default();
    let queries = [GitQuery {
        paths,
        ..GitQuery::rev("HEAD")
    }];
    let start = std::time::Instant::now();
    let (stats, report) = measure_with_report(&repo, &okr, &queries, true).unwrap();
    println!(
        "probe: {:?} {report:?} in {:.3}s",
        stats[0],
        start.elapsed().as_secs_f64()
    );
}
