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

    /// Branch `name` off `base` on main, add `src/<name>.rs` there as `who`, and
    /// merge it into main (as Alice).
    fn merge_a_branch_from(&mut self, base: &str, name: &str, who: (&str, &str)) {
        self.repo.git(&["checkout", "-q", "-b", name, base]);
        self.write(&format!("src/{name}.rs"), format!("{name}\n"));
        self.add();
        self.commit_as(who, name, &[]);
        self.repo.git(&["checkout", "-q", "main"]);
        self.merge_as(ALICE, name, None);
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

    /// Measure `queries` and check each against git (`step` names the moment).
    fn measures_as_git(&self, queries: &[GitQuery], step: &str) {
        for (q, ours) in queries.iter().zip(self.measure(queries)) {
            assert_eq!(ours, self.oracle(q), "{step}: {q:?}");
        }
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
            missing: Vec::new(),
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
        lines: true,
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
    h.merge_a_branch_from("HEAD~8", "old-base", ALICE_OLD);
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
    use git_okr::metrics::git::{points, Needs};
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
        let pts = points(&store, &defs, None, now, Needs::all())
            .unwrap()
            .points;
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
        assert!(points(
            &store,
            &Definitions::default(),
            None,
            Utc::now(),
            Needs::all()
        )
        .unwrap()
        .points
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
        let err = format!(
            "{:#}",
            points(&store, &defs, None, Utc::now(), Needs::all()).unwrap_err()
        );
        assert!(
            err.contains("git.gone") && err.contains("\"gone\""),
            "{err}"
        );
    }

    #[test]
    fn an_explicit_rev_is_measured() {
        let h = rich_history();
        let store = Store::discover(h.repo.path()).unwrap();
        let pts = points(
            &store,
            &Definitions::default(),
            Some("feature"),
            day(20),
            Needs::all(),
        )
        .unwrap()
        .points;
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

/// What a per-commit comparison with git found.
#[derive(Debug, Default)]
struct Comparison {
    /// Non-merge commits both sides counted.
    compared: usize,
    /// `commit: git (added, removed) vs ours`, one per differing commit.
    differing: Vec<String>,
    /// Commits git could not show (an object missing), with what we said of them.
    unreadable_by_git: Vec<String>,
}

/// `git log --numstat --format=%H` for exactly `commits` (in that order), as
/// (commit, added, removed); binary files count 0. A commit git cannot show (it
/// dies: "unable to read") is left out and named in the second list.
fn git_numstat(
    repo: &std::path::Path,
    commits: &[String],
) -> (Vec<(String, u64, u64)>, Vec<String>) {
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    let mut rest: &[String] = commits;
    while !rest.is_empty() {
        let mut child = std::process::Command::new("git")
            .current_dir(repo)
            .args([
                "log",
                "--no-walk=unsorted",
                "--stdin",
                "--numstat",
                "--format=%H",
                "--no-color",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input: String = rest.iter().map(|c| format!("{c}\n")).collect();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(input.as_bytes());
        });
        let result = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let text = String::from_utf8_lossy(&result.stdout);
        let mut parsed: Vec<(String, u64, u64)> = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if !line.contains('\t') {
                parsed.push((line.to_string(), 0, 0));
                continue;
            }
            let mut parts = line.split('\t');
            let last = parsed.last_mut().expect("numstat after a commit");
            last.1 += parts.next().unwrap().parse::<u64>().unwrap_or(0);
            last.2 += parts.next().unwrap().parse::<u64>().unwrap_or(0);
        }
        if result.status.success() {
            assert_eq!(parsed.len(), rest.len(), "git showed every commit");
            out.extend(parsed);
            break;
        }
        // git died inside a commit: the last one it named may be cut short.
        // Check it alone; the commit after the last complete one is unreadable.
        let complete = parsed.len().saturating_sub(1);
        out.extend(parsed.drain(..complete));
        let mut next = complete;
        if let Some((candidate, _, _)) = parsed.pop() {
            let alone = std::process::Command::new("git")
                .current_dir(repo)
                .args(["show", "--numstat", "--format=%H", "--no-color", &candidate])
                .output()
                .unwrap();
            if alone.status.success() {
                let (mut a, mut r) = (0, 0);
                for line in String::from_utf8_lossy(&alone.stdout)
                    .lines()
                    .filter(|l| l.contains('\t'))
                {
                    let mut parts = line.split('\t');
                    a += parts.next().unwrap().parse::<u64>().unwrap_or(0);
                    r += parts.next().unwrap().parse::<u64>().unwrap_or(0);
                }
                out.push((candidate, a, r));
                next += 1;
            }
        }
        unreadable.push(rest[next].clone());
        rest = &rest[next + 1..];
    }
    (out, unreadable)
}

/// Every non-merge commit reachable from `rev`: our lines against git's.
fn compare_per_commit(repo: &std::path::Path, rev: &str) -> Comparison {
    use git_okr::metrics::git::{lines_per_commit, CommitLines};
    let gix_repo = gix::open(repo).unwrap();
    let ours = lines_per_commit(&gix_repo, rev, false).unwrap();
    let ids: Vec<String> = ours.iter().map(|(id, _)| id.to_string()).collect();
    let (theirs, unreadable) = git_numstat(repo, &ids);
    let ours: std::collections::HashMap<String, CommitLines> = ours
        .into_iter()
        .map(|(id, lines)| (id.to_string(), lines))
        .collect();
    let mut cmp = Comparison::default();
    for (id, added, removed) in theirs {
        let mine = match &ours[&id] {
            CommitLines::Known(files) => (
                files.iter().map(|f| u64::from(f.added)).sum::<u64>(),
                files.iter().map(|f| u64::from(f.removed)).sum::<u64>(),
            ),
            other => panic!("{id}: git read it, we did not: {other:?}"),
        };
        cmp.compared += 1;
        if mine != (added, removed) {
            cmp.differing
                .push(format!("{id}: git ({added}, {removed}) ours {mine:?}"));
        }
    }
    for id in unreadable {
        cmp.unreadable_by_git
            .push(format!("{id}: ours {:?}", ours[&id]));
    }
    cmp
}

/// The per-commit comparison against any repository, run by hand:
/// `OKR_COMPARE_REPO=/path/to/repo cargo test --release --test git_metrics per_commit_against_a_repository -- --ignored --nocapture`
/// (`OKR_COMPARE_REV` picks the revision, default `HEAD`).
#[test]
#[ignore]
fn per_commit_against_a_repository() {
    let path = std::env::var("OKR_COMPARE_REPO").expect("OKR_COMPARE_REPO=<repo>");
    let rev = std::env::var("OKR_COMPARE_REV").unwrap_or_else(|_| "HEAD".into());
    let start = std::time::Instant::now();
    let cmp = compare_per_commit(std::path::Path::new(&path), &rev);
    for d in &cmp.differing {
        println!("differs: {d}");
    }
    for u in &cmp.unreadable_by_git {
        println!("git cannot read: {u}");
    }
    println!(
        "per-commit: {} commits compared, {} differing, {} unreadable by git ({:.1} s)",
        cmp.compared,
        cmp.differing.len(),
        cmp.unreadable_by_git.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(cmp.differing.is_empty());
}

/// A history with every case that makes a line count differ: final newlines
/// added and removed, CRLF, no newline at all, binary by content, by
/// `.gitattributes` (`binary`, `-diff`) and by `core.bigFileThreshold`,
/// symlinks, submodules, mode-only changes, empty files, renames with edits and
/// across folders, copies of unchanged files, unicode paths, merges.
/// `git mv`, creating the destination's folder (git does not).
fn mv(h: &History, from: &str, to: &str) {
    if let Some(parent) = std::path::Path::new(to).parent() {
        std::fs::create_dir_all(h.repo.path().join(parent)).unwrap();
    }
    h.repo.git(&["mv", from, to]);
}

fn tricky_history() -> History {
    let mut h = History::new();
    let text = |n: usize, tag: &str| (0..n).map(|i| format!("{tag} {i}\n")).collect::<String>();
    h.write("a.txt", text(10, "a"));
    h.write("nonl.txt", "one\ntwo");
    h.write("crlf.txt", "x\r\ny\r\nz\r\n");
    h.write("empty.txt", "");
    h.write("tool.sh", "#!/bin/sh\necho hi\n");
    h.write("dir one/ünï cødé.md", text(5, "u"));
    h.write("data/blob.bin", b"abc\0def\n".repeat(3));
    h.write("data/marked.dat", text(4, "m"));
    h.write("data/nodiff.txt", text(4, "n"));
    h.write("big.txt", text(200, "big"));
    h.write(".gitattributes", "*.dat binary\nnodiff.txt -diff\n");
    h.add();
    h.commit_as(ALICE, "initial", &[]);

    // Final newline added and removed, CRLF to LF, text without any newline.
    h.write("nonl.txt", "one\ntwo\n");
    h.write("a.txt", text(10, "a").trim_end());
    h.write("crlf.txt", "x\ny\nz\n");
    h.write("only.txt", "no newline at all");
    h.add();
    h.commit_as(BOB, "newlines", &[]);

    // Binary by content, by attributes, over the big file threshold; mode only; empty.
    h.write("data/blob.bin", b"abc\0xyz\n".repeat(4));
    h.write("data/marked.dat", text(6, "m"));
    h.write("data/nodiff.txt", text(7, "n"));
    h.write("big.txt", text(210, "big"));
    h.repo.git(&["update-index", "--chmod=+x", "tool.sh"]);
    h.write("empty2.txt", "");
    h.repo.git(&["add", "-A"]);
    h.repo.git(&["update-index", "--chmod=+x", "tool.sh"]);
    h.commit_as(ZOE, "binary, mode, empty", &[]);

    // Symlinks: new, retargeted, replaced by a file.
    std::os::unix::fs::symlink("a.txt", h.repo.path().join("link")).unwrap();
    std::os::unix::fs::symlink("nonl.txt", h.repo.path().join("link2")).unwrap();
    h.add();
    h.commit_as(ALICE, "symlinks", &[]);
    std::fs::remove_file(h.repo.path().join("link")).unwrap();
    std::os::unix::fs::symlink("crlf.txt", h.repo.path().join("link")).unwrap();
    std::fs::remove_file(h.repo.path().join("link2")).unwrap();
    h.write("link2", "now a file\nwith two lines\n");
    h.add();
    h.commit_as(ALICE, "symlink changes", &[]);

    // A submodule (gitlink) added, moved to another commit, removed.
    let sub = TestRepo::new();
    sub.write("s.txt", "s\n");
    sub.git(&["add", "."]);
    sub.git(&["commit", "-q", "-m", "s1"]);
    let s1 = sub.git(&["rev-parse", "HEAD"]).trim().to_string();
    sub.write("s.txt", "s2\n");
    sub.git(&["commit", "-q", "-am", "s2"]);
    let s2 = sub.git(&["rev-parse", "HEAD"]).trim().to_string();
    h.repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{s1},vendor/sub"),
    ]);
    h.commit_as(BOB, "submodule", &[]);
    h.repo.git(&[
        "update-index",
        "--cacheinfo",
        &format!("160000,{s2},vendor/sub"),
    ]);
    h.commit_as(BOB, "submodule moves", &[]);
    h.repo
        .git(&["update-index", "--force-remove", "vendor/sub"]);
    h.commit_as(BOB, "submodule gone", &[]);

    // Renames: pure, edited, across folders, of an empty file, one source two
    // similar destinations, many files with the same name.
    mv(&h, "big.txt", "moved/elsewhere/big.txt");
    h.commit_as(ZOE, "pure rename across folders", &[]);
    mv(&h, "moved/elsewhere/big.txt", "other/huge.txt");
    let mut edited = text(210, "big").replace("big 7\n", "changed\n");
    edited.push_str("tail\n");
    h.write("other/huge.txt", edited);
    h.add();
    h.commit_as(ZOE, "edited rename, new name", &[]);
    mv(&h, "empty.txt", "e/empty.txt");
    h.commit_as(ALICE, "empty rename", &[]);
    for d in ["x", "y", "z"] {
        h.write(&format!("{d}/mod.rs"), text(30, d));
    }
    h.add();
    h.commit_as(BOB, "same names", &[]);
    for d in ["x", "y", "z"] {
        mv(&h, &format!("{d}/mod.rs"), &format!("n{d}/mod.rs"));
        h.write(&format!("n{d}/mod.rs"), text(31, d));
    }
    h.add();
    h.commit_as(BOB, "same names moved", &[]);
    h.repo.git(&["rm", "-q", "a.txt"]);
    h.write("b.txt", text(10, "a").replace("a 3", "b 3"));
    h.write("c.txt", text(10, "a").replace("a 4", "c 4"));
    h.add();
    h.commit_as(ZOE, "one source, two destinations", &[]);
    // A rename under 50% similarity is an add and a delete.
    h.repo.git(&["rm", "-q", "b.txt"]);
    h.write("d.txt", text(10, "a").replace('a', "q"));
    h.add();
    h.commit_as(ZOE, "dissimilar", &[]);
    // CRLF and LF versions are similar for rename detection.
    h.repo.git(&["rm", "-q", "crlf.txt"]);
    h.write("lf/crlf.txt", "x\r\ny\nz\n");
    h.add();
    h.commit_as(ALICE, "crlf rename", &[]);
    // A symlink renamed (exact only).
    mv(&h, "link", "links/link");
    h.commit_as(ALICE, "symlink rename", &[]);

    // A merge with its own change.
    h.repo.git(&["checkout", "-q", "-b", "side"]);
    h.write("side.txt", text(3, "s"));
    h.add();
    h.commit_as(BOB, "side", &[]);
    h.repo.git(&["checkout", "-q", "main"]);
    h.write("main.txt", text(3, "m"));
    h.add();
    h.commit_as(ALICE, "main", &[]);
    h.merge_as(ALICE, "side", Some(("side.txt", &text(4, "s"))));
    h
}

#[test]
fn every_commit_equals_git_numstat_in_a_tricky_history() {
    let h = tricky_history();
    // A low threshold makes big.txt binary by size, as git does.
    h.repo.git(&["config", "core.bigFileThreshold", "2k"]);
    let cmp = compare_per_commit(h.repo.path(), "HEAD");
    assert!(cmp.differing.is_empty(), "{:#?}", cmp.differing);
    assert!(cmp.unreadable_by_git.is_empty());
    assert_eq!(
        cmp.compared as u64,
        h.repo
            .git(&["rev-list", "--count", "--no-merges", "HEAD"])
            .trim()
            .parse::<u64>()
            .unwrap()
    );
    h.repo.git(&["config", "--unset", "core.bigFileThreshold"]);
    let cmp = compare_per_commit(h.repo.path(), "HEAD");
    assert!(cmp.differing.is_empty(), "{:#?}", cmp.differing);
    // And the totals of a measurement.
    h.assert_matches_git(&[
        q("HEAD", None, None, &[]),
        q("HEAD", None, None, &["data/"]),
    ]);
}

/// [`tricky_history`] and then one file edited in many commits, so that a
/// repack stores its versions as chains of deltas.
fn history_with_delta_chains() -> History {
    let mut h = tricky_history();
    let mut body: Vec<String> = (0..300)
        .map(|i| format!("line {i} of a long file\n"))
        .collect();
    for n in 0..30 {
        body[(n * 37) % 300] = format!("changed in commit {n}\n");
        body.insert((n * 13) % body.len(), format!("added in commit {n}\n"));
        if n % 3 == 0 {
            body.remove((n * 7) % body.len());
        }
        h.write("long.txt", body.concat());
        h.add();
        h.commit_as(BOB, &format!("edit {n}"), &[]);
    }
    h
}

/// Blob deltas in the repository's packs, as `git verify-pack` lists them.
fn blob_deltas(h: &History) -> usize {
    let pack_dir = h.repo.path().join(".git/objects/pack");
    let mut deltas = 0;
    for entry in std::fs::read_dir(pack_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "idx") {
            let listing = h.repo.git(&["verify-pack", "-v", path.to_str().unwrap()]);
            deltas += listing
                .lines()
                .filter(|l| l.split_whitespace().nth(1) == Some("blob"))
                .filter(|l| l.split_whitespace().count() == 7)
                .count();
        }
    }
    deltas
}

fn assert_every_commit_as_git(h: &History, step: &str) {
    let cmp = compare_per_commit(h.repo.path(), "HEAD");
    assert!(cmp.differing.is_empty(), "{step}: {:#?}", cmp.differing);
    let commits: usize = h
        .repo
        .git(&["rev-list", "--count", "--no-merges", "HEAD"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(cmp.compared, commits, "{step}");
}

#[test]
fn packed_objects_read_as_git_reads_them() {
    let h = history_with_delta_chains();
    assert_eq!(blob_deltas(&h), 0, "loose objects first");
    assert_every_commit_as_git(&h, "loose");
    // Deltas against an offset in the pack, then against an object id.
    h.repo
        .git(&["repack", "-adfq", "--depth=50", "--window=50"]);
    assert!(blob_deltas(&h) >= 20, "the versions of long.txt are deltas");
    assert_every_commit_as_git(&h, "offset deltas");
    h.repo
        .git(&["config", "repack.useDeltaBaseOffset", "false"]);
    h.repo
        .git(&["repack", "-adfq", "--depth=50", "--window=50"]);
    assert!(blob_deltas(&h) >= 20);
    assert_every_commit_as_git(&h, "id deltas");
    // Nothing kept between reads: every chain is read down to its whole object.
    h.repo.git(&["config", "core.deltaBaseCacheLimit", "1"]);
    assert_every_commit_as_git(&h, "no cache");
    // Loose objects and packs side by side.
    h.repo
        .git(&["config", "--unset", "core.deltaBaseCacheLimit"]);
    let mut h = h;
    h.write("long.txt", "rewritten\n");
    h.add();
    h.commit_as(ALICE, "a loose commit on packed history", &[]);
    assert_every_commit_as_git(&h, "loose on packed");
}

#[test]
fn a_replaced_blob_in_a_pack_is_read_as_its_replacement() {
    let h = history_with_delta_chains();
    h.repo.git(&["repack", "-adfq"]);
    let all = [q("HEAD", None, None, &[])];
    let before = h.measure(&all)[0].lines_added;
    let old = h
        .repo
        .git(&["rev-parse", "HEAD~5:long.txt"])
        .trim()
        .to_string();
    let other = h
        .repo
        .git(&["rev-parse", "HEAD~29:long.txt"])
        .trim()
        .to_string();
    h.repo.git(&["replace", &old, &other]);
    assert_every_commit_as_git(&h, "replaced blob");
    let replaced = h.oracle(&all[0]).lines_added;
    assert_ne!(before, replaced, "the replacement changes git's counts");
    assert_eq!(h.measure(&all)[0].lines_added, replaced);
}

#[test]
fn a_corrupt_pack_entry_is_an_error_naming_the_object_and_the_pack() {
    let h = history_with_delta_chains();
    h.repo.git(&["repack", "-adfq"]);
    let blob = h
        .repo
        .git(&["rev-parse", "HEAD:long.txt"])
        .trim()
        .to_string();
    let pack = std::fs::read_dir(h.repo.path().join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "pack"))
        .unwrap();
    // The newest version is stored whole: garble its compressed bytes.
    let listing = h.repo.git(&[
        "verify-pack",
        "-v",
        pack.with_extension("idx").to_str().unwrap(),
    ]);
    let fields: Vec<&str> = listing
        .lines()
        .find(|l| l.starts_with(&blob))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields.len(), 5, "stored whole: {fields:?}");
    let (size, offset): (usize, usize) = (fields[3].parse().unwrap(), fields[4].parse().unwrap());
    let mut bytes = std::fs::read(&pack).unwrap();
    for b in &mut bytes[offset + size / 2..offset + size / 2 + 8] {
        *b ^= 0x5a;
    }
    let mut perms = std::fs::metadata(&pack).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&pack, perms).unwrap();
    std::fs::write(&pack, bytes).unwrap();

    let err = measure(&h.gix(), &h.okr_dir(), &[q("HEAD", None, None, &[])], false).unwrap_err();
    // The error names the pack and the broken entry (git's "unable to unpack").
    let text = format!("{err:#}");
    assert!(
        text.contains(pack.file_name().unwrap().to_str().unwrap()),
        "{text}"
    );
    let broken = format!("offset {offset}");
    assert!(text.contains(&broken), "{text}");
    assert!(text.contains("inflating"), "{text}");
}

#[test]
fn diff_configuration_is_followed() {
    let h = tricky_history();
    for (key, value) in [
        ("diff.renames", "false"),
        ("diff.renames", "copies"),
        ("diff.renameLimit", "1"),
        ("diff.algorithm", "histogram"),
    ] {
        h.repo.git(&["config", key, value]);
        let cmp = compare_per_commit(h.repo.path(), "HEAD");
        assert!(
            cmp.differing.is_empty(),
            "{key}={value}: {:#?}",
            cmp.differing
        );
        h.assert_matches_git(&[q("HEAD", None, None, &[])]);
        h.repo.git(&["config", "--unset", key]);
    }
}

/// `git clone ARGS file://SOURCE DEST` with git's isolation from the machine's config.
fn clone_of(h: &History, args: &[&str], dest: &std::path::Path) {
    h.repo.git(&["config", "uploadpack.allowFilter", "true"]);
    let mut all = vec!["clone", "-q"];
    all.extend_from_slice(args);
    let url = format!("file://{}", h.repo.path().display());
    all.push(&url);
    let dest_s = dest.display().to_string();
    all.push(&dest_s);
    h.git_env(&all, &[]);
}

/// Point the clone's promisor remote at a place that does not exist (offline).
fn cut_off_promisor_remote(clone: &std::path::Path) {
    git_in(
        clone,
        &[
            "remote",
            "set-url",
            "origin",
            "file:///nonexistent/okr-test-remote",
        ],
    );
}

/// Lines added and removed over the history of HEAD in `dir`, as `git log --numstat` sums them.
fn numstat_totals(dir: &std::path::Path) -> (u64, u64) {
    let (mut added, mut removed) = (0, 0);
    for line in git_in(dir, &["log", "--numstat", "--format="])
        .lines()
        .filter(|l| l.contains('\t'))
    {
        let mut parts = line.split('\t');
        added += parts.next().unwrap().parse::<u64>().unwrap_or(0);
        removed += parts.next().unwrap().parse::<u64>().unwrap_or(0);
    }
    (added, removed)
}

fn git_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Objects missing from a partial clone (`--filter=blob:limit`) and a promisor
/// remote that still has them: they are fetched as git fetches them, and every
/// number equals git's.
#[test]
fn a_partial_clone_fetches_missing_blobs_from_its_promisor_remote() {
    let h = tricky_history();
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("partial");
    clone_of(&h, &["--filter=blob:limit=100", "--no-checkout"], &clone);
    let missing = git_in(
        &clone,
        &["rev-list", "--objects", "--missing=print", "HEAD"],
    );
    assert!(
        missing.lines().any(|l| l.starts_with('?')),
        "the clone lacks blobs"
    );
    let repo = gix::open(&clone).unwrap();
    let okr = clone.join(".git/okr");
    std::fs::create_dir_all(&okr).unwrap();
    let stats = measure(&repo, &okr, &[q("HEAD", None, None, &[])], false).unwrap();
    // Without a checkout git reads no .gitattributes: compare with git there.
    let (added, removed) = numstat_totals(&clone);
    assert!(stats[0].missing.is_empty());
    assert_eq!(
        (stats[0].lines_added, stats[0].lines_removed),
        (added, removed)
    );
    assert_eq!(
        stats[0].commits,
        h.oracle(&q("HEAD", None, None, &[])).commits
    );
    let cmp = compare_per_commit(&clone, "HEAD");
    assert!(cmp.differing.is_empty(), "{:#?}", cmp.differing);
}

/// The same clone with its remote gone: the line metrics are unavailable (naming
/// the commit and the object), everything else is measured.
#[test]
fn an_offline_partial_clone_measures_all_but_the_lines_it_cannot_read() {
    use git_okr::metrics::git::{points, Needs};
    use git_okr::model::definitions::Definitions;
    use git_okr::store::Store;
    let h = tricky_history();
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("partial");
    clone_of(&h, &["--filter=blob:limit=100"], &clone);
    cut_off_promisor_remote(&clone);
    let expected = h.oracle(&q("HEAD", None, None, &[]));
    let repo = gix::open(&clone).unwrap();
    let okr = clone.join(".git/okr");
    std::fs::create_dir_all(&okr).unwrap();
    let stats = measure(&repo, &okr, &[q("HEAD", None, None, &[])], false).unwrap();
    assert_eq!(stats[0].commits, expected.commits);
    assert_eq!(stats[0].contributors, expected.contributors);
    assert!(!stats[0].missing.is_empty());
    for (commit, object) in &stats[0].missing {
        // git itself cannot read that object here.
        let out = std::process::Command::new("git")
            .current_dir(&clone)
            .args(["cat-file", "-e", &object.to_string()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{object} of {commit} is there");
    }
    // Without line metrics nothing is missing: no blob is read.
    let no_lines = GitQuery {
        lines: false,
        ..q("HEAD", None, None, &[])
    };
    let stats = measure(&repo, &okr, &[no_lines], false).unwrap();
    assert!(stats[0].missing.is_empty());
    assert_eq!(stats[0].commits, expected.commits);

    let store = Store::discover(&clone).unwrap();
    let out = points(&store, &Definitions::default(), None, day(40), Needs::all()).unwrap();
    let keys: Vec<&str> = out.points.iter().map(|p| p.key.as_str()).collect();
    assert!(
        keys.contains(&"git.commits") && keys.contains(&"git.contributors"),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.starts_with("git.lines")), "{keys:?}");
    assert_eq!(out.unavailable.len(), 1);
    assert!(out.unavailable[0]
        .keys
        .contains(&"git.lines_added".to_string()));
    let only_commits = points(
        &store,
        &Definitions::default(),
        None,
        day(40),
        Needs::of(["git.commits"]),
    )
    .unwrap();
    assert!(only_commits.unavailable.is_empty());
}

/// A line count that was unavailable is remembered with the commits it could
/// not read: the next measurement names them again without walking the history,
/// and counts them once the objects are there (here: a promisor remote that
/// answers again), equal to git's numbers.
#[test]
fn an_unavailable_line_count_is_remembered_and_retried_when_the_objects_arrive() {
    let h = tricky_history();
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("partial");
    clone_of(&h, &["--filter=blob:limit=100", "--no-checkout"], &clone);
    let url = git_in(&clone, &["remote", "get-url", "origin"]);
    cut_off_promisor_remote(&clone);
    let okr = clone.join(".git/okr");
    std::fs::create_dir_all(&okr).unwrap();
    let queries = [q("HEAD", None, None, &[])];
    let (first, report) =
        measure_with_report(&gix::open(&clone).unwrap(), &okr, &queries, false).unwrap();
    assert!(!first[0].missing.is_empty());
    assert!(report.reachable > 0 && report.scanned > 0, "{report:?}");

    let (again, report) =
        measure_with_report(&gix::open(&clone).unwrap(), &okr, &queries, false).unwrap();
    assert_eq!(again, first, "the same commits and objects named again");
    assert_eq!(report.reachable, 0, "no history walked: {report:?}");
    assert_eq!(report.scanned, 0, "{report:?}");

    // The remote answers again: git fetches what is missing, the lines are counted.
    git_in(&clone, &["remote", "set-url", "origin", url.trim()]);
    let (fetched, report) =
        measure_with_report(&gix::open(&clone).unwrap(), &okr, &queries, false).unwrap();
    assert!(fetched[0].missing.is_empty(), "{:?}", fetched[0].missing);
    assert!(report.scanned > 0, "{report:?}");
    let (added, removed) = numstat_totals(&clone);
    assert_eq!(
        (fetched[0].lines_added, fetched[0].lines_removed),
        (added, removed)
    );
    assert_eq!(fetched[0].commits, first[0].commits);
}

/// A line count that was unavailable is counted as soon as the lacking objects
/// are in the clone, without a promisor remote to ask.
#[test]
fn an_unavailable_line_count_is_counted_once_the_objects_are_copied_in() {
    let h = tricky_history();
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("partial");
    clone_of(&h, &["--filter=blob:limit=100", "--no-checkout"], &clone);
    // No promisor remote at all: nothing is fetched, the objects only arrive by hand.
    git_in(&clone, &["config", "--unset", "remote.origin.promisor"]);
    assert!(
        !git_in(&clone, &["config", "--list"]).contains("extensions.partialclone"),
        "no other promisor configuration"
    );
    let okr = clone.join(".git/okr");
    std::fs::create_dir_all(&okr).unwrap();
    let queries = [q("HEAD", None, None, &[])];
    let (first, _) =
        measure_with_report(&gix::open(&clone).unwrap(), &okr, &queries, false).unwrap();
    assert!(!first[0].missing.is_empty());
    let (again, report) =
        measure_with_report(&gix::open(&clone).unwrap(), &okr, &queries, false).unwrap();
    assert_eq!(again, first);
    assert_eq!(report.reachable, 0, "{report:?}");

    // Copy in every object the clone lacks (git's own list of them).
    let lacking = git_in(
        &clone,
        &["rev-list", "--objects", "--missing=print", "HEAD"],
    );
    for object in lacking.lines().filter_map(|l| l.strip_prefix('?')) {
        let content = std::process::Command::new("git")
            .current_dir(h.repo.path())
            .args(["cat-file", "blob", object])
            .output()
            .unwrap();
        assert!(content.status.success());
        let mut write = std::process::Command::new("git")
            .current_dir(&clone)
            .args(["hash-object", "-w", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        write
            .stdin
            .take()
            .unwrap()
            .write_all(&content.stdout)
            .unwrap();
        assert!(write.wait().unwrap().success());
    }
    let (last, report) =
        measure_with_report(&gix::open(&clone).unwrap(), &okr, &queries, false).unwrap();
    assert!(report.scanned > 0, "{report:?}");
    assert!(last[0].missing.is_empty(), "{:?}", last[0].missing);
    let expected = h.oracle(&q("HEAD", None, None, &[]));
    assert_eq!(last[0].commits, expected.commits);
    let cmp = compare_per_commit(&clone, "HEAD");
    assert!(cmp.differing.is_empty(), "{:#?}", cmp.differing);
    assert!(cmp.unreadable_by_git.is_empty());
}

/// A shallow clone counts what git counts there: the oldest commit is diffed
/// against nothing, as git shows it.
#[test]
fn a_shallow_clone_counts_what_git_counts() {
    let h = tricky_history();
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("shallow");
    clone_of(&h, &["--depth", "6", "--no-single-branch"], &clone);
    let cmp = compare_per_commit(&clone, "HEAD");
    assert!(cmp.differing.is_empty(), "{:#?}", cmp.differing);
    assert!(cmp.compared >= 5);
    let okr = clone.join(".git/okr");
    std::fs::create_dir_all(&okr).unwrap();
    let same_as_git = |step: &str| {
        let repo = gix::open(&clone).unwrap();
        let stats = measure(&repo, &okr, &[q("HEAD", None, None, &[])], false).unwrap();
        let count = git_in(&clone, &["rev-list", "--count", "HEAD"]);
        assert_eq!(
            stats[0].commits,
            count.trim().parse::<u64>().unwrap(),
            "{step}"
        );
        let (added, removed) = numstat_totals(&clone);
        assert_eq!(
            (stats[0].lines_added, stats[0].lines_removed),
            (added, removed),
            "{step}"
        );
    };
    same_as_git("shallow");
    // Deeper: the old boundary commit now has a parent, and another diff.
    git_in(&clone, &["fetch", "-q", "--deepen", "3"]);
    same_as_git("deepened");
    git_in(&clone, &["fetch", "-q", "--unshallow"]);
    same_as_git("unshallowed");
}

/// The cache stays right when the history is rewritten (a rebase with other
/// content), when the mailmap changes outside any commit, when the measured
/// branch moves backwards and on again, and when a measurement needs the lines
/// that an earlier one skipped.
#[test]
fn cache_follows_rewrites_mailmap_and_backward_moves() {
    let mut h = rich_history();
    let all = [q("HEAD", None, None, &[]), q("HEAD", None, None, &["src/"])];
    let check = |h: &History, step: &str| h.measures_as_git(&all, step);
    // First without lines: nothing is diffed, then the lines are read when wanted.
    let no_lines = GitQuery {
        lines: false,
        ..q("HEAD", None, None, &[])
    };
    let (first, report) = measure_with_report(&h.gix(), &h.okr_dir(), &[no_lines], false).unwrap();
    assert_eq!((first[0].lines_added, first[0].lines_removed), (0, 0));
    assert_eq!(first[0].commits, h.oracle(&all[0]).commits);
    assert_eq!(report.scanned, report.reachable);
    check(&h, "lines after a measurement without them");

    // Rewrite the last three commits with other content.
    let base = h.repo.git(&["rev-parse", "HEAD~3"]).trim().to_string();
    h.repo.git(&["reset", "-q", "--hard", &base]);
    check(&h, "moved backwards");
    for i in 0..3 {
        h.write(&format!("src/rewritten{i}.rs"), format!("r{i}\nline\n"));
        h.add();
        h.commit_as(ZOE, "rewritten", &[]);
    }
    check(&h, "rewritten");

    // A mailmap from the configuration, no commit: the remembered totals follow it.
    let map = h.repo.path().join("../extra.mailmap");
    std::fs::write(
        &map,
        "Bob Builder <bob@example.com> Zoë Ünicode <zoe@example.com>\n",
    )
    .unwrap();
    h.repo
        .git(&["config", "mailmap.file", &map.display().to_string()]);
    check(&h, "mailmap from the configuration");
    std::fs::write(&map, "").unwrap();
    check(&h, "mailmap emptied");
}

/// The commit graph kept in the cache (`stats_graph`) says what git says of each
/// commit, later walks beyond an earlier tip count as git does with it, and a
/// `git replace` (which changes what a commit's parents are) is followed.
#[test]
fn the_remembered_commit_graph_is_gits_and_replacements_are_followed() {
    let mut h = rich_history();
    let all = [q("HEAD", None, None, &[]), q("HEAD", None, None, &["src/"])];
    let check = |h: &History, step: &str| h.measures_as_git(&all, step);
    check(&h, "cold");
    let remembered = |h: &History| -> Vec<String> {
        let conn = rusqlite::Connection::open(h.okr_dir().join("audit.sqlite")).unwrap();
        let mut stmt = conn
            .prepare("SELECT id, time, parents FROM stats_graph ORDER BY time, id")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                let id: Vec<u8> = r.get(0)?;
                let parents: Vec<u8> = r.get(2)?;
                let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                let parents: Vec<String> = parents.chunks(20).map(hex).collect();
                Ok(
                    format!("{} {} {}", hex(&id), r.get::<_, i64>(1)?, parents.join(" "))
                        .trim()
                        .to_string(),
                )
            })
            .unwrap();
        let mut rows: Vec<String> = rows.map(Result::unwrap).collect();
        rows.sort();
        rows
    };
    let from_git = |h: &History, rev: &str| -> Vec<String> {
        let mut lines: Vec<String> = h
            .repo
            .git(&["log", "--format=%H %ct %P", rev])
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(
        remembered(&h),
        from_git(&h, "HEAD"),
        "every walked commit, as git has it"
    );

    // New commits and a merge of an old branch: the walk back to its fork point
    // reads remembered commits, and what it read from objects is remembered too.
    h.merge_a_branch_from("HEAD~6", "old-side", BOB);
    check(&h, "merge of an old branch");
    assert_eq!(remembered(&h), from_git(&h, "HEAD"));

    // Graft a commit onto another parent: git follows the replacement, and so does
    // the walk (the remembered parents of the original are not used).
    let grafted = h.repo.git(&["rev-parse", "HEAD~2"]).trim().to_string();
    let other = h.repo.git(&["rev-parse", "HEAD~8"]).trim().to_string();
    h.repo.git(&["replace", "--graft", &grafted, &other]);
    h.write("src/after-graft.rs", "after\n");
    h.add();
    h.commit_as(ZOE, "after the graft", &[]);
    check(&h, "after a replacement");
    h.repo.git(&["replace", "-d", &grafted]);
    check(&h, "replacement removed");
}
