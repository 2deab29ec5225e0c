//! The audit mirror against git itself: events equal what `git log` trailers say,
//! through rewrites, lost/damaged files, killed updates and concurrent use.

mod common;

use common::TestRepo;
use serde_json::{json, Value};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

/// Commit `files` onto refs/okr/state with plain git plumbing (a private index),
/// with the given message and committer time; returns the new commit id.
fn plumbing_commit(repo: &TestRepo, files: &[(&str, String)], message: &str, time: i64) -> String {
    let index = repo.home.path().join("okr-test-index");
    let _ = std::fs::remove_file(&index);
    let git = |args: &[&str], stdin: Option<&str>| -> String {
        let mut cmd = Command::new("git");
        cmd.current_dir(repo.path())
            .args(args)
            .env("GIT_INDEX_FILE", &index);
        for (k, v) in repo.env() {
            cmd.env(k, v);
        }
        let date = format!("{time} +0000");
        cmd.env("GIT_COMMITTER_DATE", &date)
            .env("GIT_AUTHOR_DATE", &date);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let tip = repo.state_tip();
    if let Some(tip) = &tip {
        git(&["read-tree", tip], None);
    }
    for (path, content) in files {
        let blob = git(&["hash-object", "-w", "--stdin"], Some(content));
        git(
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{blob},{path}"),
            ],
            None,
        );
    }
    let tree = git(&["write-tree"], None);
    let mut args = vec!["commit-tree", tree.as_str()];
    if let Some(tip) = &tip {
        args.extend(["-p", tip.as_str()]);
    }
    let id = git(&args, Some(message));
    let mut update = vec!["update-ref", "refs/okr/state", id.as_str()];
    if let Some(tip) = &tip {
        update.push(tip.as_str());
    }
    git(&update, None);
    id
}

fn snapshot(as_of: &str, value: f64, status: &str, score: f64) -> String {
    serde_json::to_string_pretty(&json!({
        "schema_version": 1,
        "as_of": as_of,
        "measured_at": format!("{as_of}T12:00:00Z"),
        "points": [
            {"key": "ci.test_count", "value": value, "unit": "count", "timestamp": format!("{as_of}T12:00:00Z"), "source": "ci"}
        ],
        "key_results": [
            {"kr_id": "KR-1.1", "metric_key": "ci.test_count", "value": value, "status": status, "score": score}
        ]
    }))
    .unwrap()
}

/// A state with every kind of commit: init, metric sets, two measures with status
/// changes and snapshots, one with proposal/plan/run ids, and a foreign commit.
fn rich_repo() -> TestRepo {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo.ok(&["metric", "set", "ci.test_count", "40"]);
    let day = 1_768_737_600; // 2026-01-18T12:00:00Z
    plumbing_commit(
        &repo,
        &[("metrics/snapshots/2026-01-18.json", snapshot("2026-01-18", 40.0, "in_progress", 0.4))],
        "okr: measure (1 status change)\n\nKR-1.1 not_started -> in_progress (40/100)\n\nOkr-Action: measure\nOkr-Actor: agent:daemon\nOkr-Snapshot: metrics/snapshots/2026-01-18.json\nOkr-Status: KR-1.1 not_started -> in_progress (40/100)\nOkr-KR: KR-1.1\n",
        day,
    );
    plumbing_commit(
        &repo,
        &[("culture/notes.md", "by hand\n".into())],
        "hand-made fix\n\nno trailers here, just prose.\n",
        day + 3600,
    );
    plumbing_commit(
        &repo,
        &[("proposals/p-1.yml", "id: p-1\n".into())],
        "okr: approve p-1\n\nOkr-Action: approve\nOkr-Actor: bob@example.com\nOkr-Proposal: p-1\nOkr-Plan: plan-7\nOkr-Run: run-9\nOkr-Objective: OBJ-1\nOkr-KR: KR-1.1\nOkr-KR: KR-1.2\n",
        day + 86_400,
    );
    plumbing_commit(
        &repo,
        &[("metrics/snapshots/2026-01-20.json", snapshot("2026-01-20", 102.0, "achieved", 1.0))],
        "okr: measure (2 status changes)\n\nOkr-Action: measure\nOkr-Actor: agent:daemon\nOkr-Snapshot: metrics/snapshots/2026-01-20.json\nOkr-Status: KR-1.1 in_progress -> achieved (102/100)\nOkr-Status: KR-1.2 not_started -> in_progress (3/10)\nOkr-Regression: KR-1.3 95/100\nOkr-KR: KR-1.1\nOkr-KR: KR-1.2\n",
        day + 2 * 86_400,
    );
    repo
}

/// The events `git log refs/okr/state` implies, by git's own trailer parsing, newest first.
fn expected_from_git_log(repo: &TestRepo) -> Vec<Value> {
    let log = repo.git(&[
        "log",
        "refs/okr/state",
        "--format=%H%x1f%P%x1f%ct%x1f%ae%x1f%(trailers:only,unfold,separator=%x1d)%x1f%B%x1e",
    ]);
    let mut out = Vec::new();
    for record in log
        .split('\x1e')
        .map(|r| r.trim_start_matches('\n'))
        .filter(|r| !r.is_empty())
    {
        let f: Vec<&str> = record.split('\x1f').collect();
        let trailers: Vec<(String, String)> = f[4]
            .split('\x1d')
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (k, v) = t.split_once(':').unwrap();
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let all = |key: &str| {
            trailers
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        let first = |key: &str| all(key).into_iter().next();
        let joined = |key: &str| Some(all(key).join(", ")).filter(|s| !s.is_empty());
        let action = first("Okr-Action").unwrap_or_else(|| {
            if trailers.iter().any(|(k, _)| k.starts_with("Okr-")) {
                "unknown".into()
            } else {
                "foreign".into()
            }
        });
        let actor = first("Okr-Actor").unwrap_or_else(|| f[3].to_string());
        let commit = f[0];
        let parent = f[1].split(' ').next().filter(|p| !p.is_empty());
        let time: i64 = f[2].parse().unwrap();
        out.push(json!({
            "commit": commit, "parent": parent, "time": time, "actor": actor, "action": action,
            "kr": joined("Okr-KR"), "objective": joined("Okr-Objective"),
            "proposal": first("Okr-Proposal"), "plan": first("Okr-Plan"), "run": first("Okr-Run"),
            "metric": first("Okr-Metric"), "value": first("Okr-Value").map(|v| v.parse::<f64>().unwrap()),
            "from": null, "to": null, "message": f[5].trim_end(),
        }));
        for status in all("Okr-Status") {
            // KR-1.1 from -> to (value/target)
            let words: Vec<&str> = status.split_whitespace().collect();
            let value: f64 = words[4]
                .trim_start_matches('(')
                .split('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            out.push(json!({
                "commit": commit, "parent": parent, "time": time, "actor": actor, "action": "status-change",
                "kr": words[0], "objective": null, "proposal": null, "plan": null, "run": null, "metric": null,
                "value": value, "from": words[1], "to": words[3], "message": status,
            }));
        }
        for regression in all("Okr-Regression") {
            let words: Vec<&str> = regression.split_whitespace().collect();
            let value: f64 = words[1].split('/').next().unwrap().parse().unwrap();
            out.push(json!({
                "commit": commit, "parent": parent, "time": time, "actor": actor, "action": "regression",
                "kr": words[0], "objective": null, "proposal": null, "plan": null, "run": null, "metric": null,
                "value": value, "from": null, "to": null, "message": regression,
            }));
        }
    }
    out
}

fn audit_json(repo: &TestRepo, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "--json"];
    args.extend(extra);
    let mut events: Vec<Value> = serde_json::from_str(&repo.ok(&args)).unwrap();
    for e in &mut events {
        e.as_object_mut().unwrap().remove("date");
    }
    events
}

fn assert_mirror_matches_git(repo: &TestRepo) {
    let expected = expected_from_git_log(repo);
    let actual = audit_json(repo, &[]);
    assert_eq!(
        actual.len(),
        expected.len(),
        "event count\nactual: {actual:#?}\nexpected: {expected:#?}"
    );
    for (a, e) in actual.iter().zip(&expected) {
        assert_eq!(a, e);
    }
}

fn db_file(repo: &TestRepo) -> PathBuf {
    repo.path().join(".git/okr/audit.sqlite")
}

#[test]
fn mirror_equals_git_log_commit_for_commit_and_follows_new_commits() {
    let repo = rich_repo();
    assert_mirror_matches_git(&repo);
    // The foreign commit is kept as a plain event.
    let foreign = audit_json(&repo, &["--action", "foreign"]);
    assert_eq!(foreign.len(), 1);
    assert_eq!(foreign[0]["actor"], common::AUTHOR_EMAIL);
    // Incremental: new commits appear on the next query.
    repo.ok(&["metric", "set", "ci.coverage", "81.5"]);
    plumbing_commit(
        &repo,
        &[("x.txt", "x".into())],
        "okr: odd\n\nOkr-KR: KR-1.1\n",
        1_768_900_000,
    );
    assert_mirror_matches_git(&repo);
    let last = &audit_json(&repo, &["--limit", "1"])[0];
    assert_eq!(last["action"], "unknown");
}

#[test]
fn filters_select_the_right_events() {
    let repo = rich_repo();
    let kr11 = audit_json(&repo, &["--kr", "KR-1.1"]);
    let actions: Vec<&str> = kr11.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "measure",
            "status-change",
            "approve",
            "measure",
            "status-change"
        ]
    );
    assert_eq!(audit_json(&repo, &["--objective", "OBJ-1"]).len(), 1);
    assert_eq!(audit_json(&repo, &["--actor", "daemon"]).len(), 6);
    assert_eq!(
        audit_json(&repo, &["--actor", "bob@example.com"])[0]["proposal"],
        "p-1"
    );
    let changes = audit_json(&repo, &["--action", "status-change", "--kr", "KR-1.2"]);
    assert_eq!(
        (changes.len(), changes[0]["to"].as_str()),
        (1, Some("in_progress"))
    );
    // 2026-01-19 holds only the approve commit; --until includes its whole day.
    let day = audit_json(&repo, &["--since", "2026-01-19", "--until", "2026-01-19"]);
    assert_eq!(day.len(), 1, "{day:#?}");
    assert_eq!(day[0]["action"], "approve");
    assert_eq!(audit_json(&repo, &["--limit", "2"]).len(), 2);
    let text = repo.ok(&["audit", "--kr", "KR-1.2"]);
    assert!(
        text.contains("status-change") && text.contains("KR-1.2 not_started -> in_progress (3/10)"),
        "{text}"
    );
}

#[test]
fn kr_history_shows_snapshots_and_status_changes() {
    let repo = rich_repo();
    let out: Value =
        serde_json::from_str(&repo.ok(&["kr", "history", "KR-1.1", "--json"])).unwrap();
    let points = out["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{out:#}");
    assert_eq!(
        (
            points[0]["value"].as_f64(),
            points[0]["status"].as_str(),
            points[0]["score"].as_f64()
        ),
        (Some(40.0), Some("in_progress"), Some(0.4))
    );
    assert_eq!(points[0]["from"], "not_started");
    assert_eq!(points[0]["path"], "metrics/snapshots/2026-01-18.json");
    assert_eq!(
        (
            points[1]["value"].as_f64(),
            points[1]["status"].as_str(),
            points[1]["from"].as_str()
        ),
        (Some(102.0), Some("achieved"), Some("in_progress"))
    );
    // KR-1.2 was only seen in a status change (no snapshot entry): still a point.
    let out: Value =
        serde_json::from_str(&repo.ok(&["kr", "history", "KR-1.2", "--json"])).unwrap();
    assert_eq!(out["points"][0]["source"], "status-change");
    assert_eq!(out["points"][0]["value"].as_f64(), Some(3.0));
    let text = repo.ok(&["kr", "history", "KR-1.1"]);
    assert!(text.contains("▁█"), "sparkline missing:\n{text}");
    assert!(
        text.contains("not_started -> in_progress")
            && text.contains("metrics/snapshots/2026-01-20.json"),
        "{text}"
    );
    // A KR of the current OKRs without history is fine; an unknown one is an error.
    assert!(repo
        .ok(&["kr", "history", "KR-1.1"])
        .contains("KR-1.1: 2 points"));
}

#[test]
fn bad_input_is_refused_clearly() {
    let repo = rich_repo();
    let e = repo.fails(&["audit", "--action", "mesure"]);
    assert!(
        e.contains("unknown --action \"mesure\"")
            && e.contains("measure")
            && e.contains("status-change"),
        "{e}"
    );
    let e = repo.fails(&["audit", "--since", "2026-02-30"]);
    assert!(e.contains("--since \"2026-02-30\" is not a date"), "{e}");
    let e = repo.fails(&["audit", "--until", "yesterday"]);
    assert!(e.contains("--until \"yesterday\" is not a date"), "{e}");
    let e = repo.fails(&["kr", "history", "KR-9.9"]);
    assert!(e.contains("KR-9.9 is not a key result"), "{e}");
    let e = repo.fails(&["audit", "--kr", "KR-9.9"]);
    assert!(e.contains("KR-9.9 is not a key result"), "{e}");
    // Known from history only (KR-1.3 appears in a regression trailer), or from the OKRs only: fine.
    repo.ok(&["kr", "history", "KR-1.3"]);
    let fresh = TestRepo::with_commit();
    fresh.ok(&["init"]);
    assert!(fresh
        .ok(&["kr", "history", "KR-1.1"])
        .contains("no measurements"));
    assert!(fresh
        .ok(&["audit", "--kr", "KR-1.1"])
        .contains("No audit events match"));
}

#[test]
fn a_rewritten_ref_is_rebuilt() {
    let repo = rich_repo();
    assert_mirror_matches_git(&repo);
    let tip = repo.state_tip().unwrap();
    // Back to an ancestor: the mirrored tip is no longer reachable.
    let older = repo
        .git(&["rev-parse", &format!("{tip}~2")])
        .trim()
        .to_string();
    repo.git(&["update-ref", "refs/okr/state", &older]);
    assert_mirror_matches_git(&repo);
    // A different history on top of the ancestor.
    plumbing_commit(
        &repo,
        &[("other.txt", "o".into())],
        "okr: edit\n\nOkr-Action: edit\nOkr-Actor: carol@example.com\n",
        1_769_000_000,
    );
    assert_mirror_matches_git(&repo);
    // A ref that vanishes empties the audit.
    repo.git(&["update-ref", "-d", "refs/okr/state"]);
    assert!(audit_json(&repo, &[]).is_empty());
}

#[test]
fn a_deleted_truncated_or_garbage_file_is_rebuilt() {
    let repo = rich_repo();
    assert_mirror_matches_git(&repo);
    let db = db_file(&repo);
    std::fs::remove_file(&db).unwrap();
    let _ = std::fs::remove_file(db.with_extension("sqlite-wal"));
    assert_mirror_matches_git(&repo);
    // Checkpoint so the main file holds everything, then cut it at several places.
    repo.ok(&["audit", "rebuild"]);
    let full = std::fs::read(&db).unwrap();
    for cut in [0, 50, 100, 4096, full.len() / 2] {
        {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
                .unwrap();
        }
        let bytes = std::fs::read(&db).unwrap();
        std::fs::write(&db, &bytes[..cut.min(bytes.len())]).unwrap();
        assert_mirror_matches_git(&repo);
    }
    std::fs::write(
        &db,
        b"garbage garbage garbage garbage garbage garbage garbage garbage garbage",
    )
    .unwrap();
    assert_mirror_matches_git(&repo);
}

#[test]
fn an_older_schema_is_rebuilt() {
    let repo = rich_repo();
    assert_mirror_matches_git(&repo);
    {
        let conn = rusqlite::Connection::open(db_file(&repo)).unwrap();
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'audit.schema'", [])
            .unwrap();
        conn.execute("DELETE FROM audit_events WHERE action = 'measure'", [])
            .unwrap();
    }
    assert_mirror_matches_git(&repo);
}

/// Uses the debug builds' abort switch (`OKR_AUDIT_TEST_ABORT_AFTER`, not in release
/// binaries): the process dies by SIGABRT in the middle of writing the mirror.
#[test]
#[cfg_attr(not(debug_assertions), ignore = "needs the debug builds' abort switch")]
fn a_process_killed_mid_update_leaves_the_old_mirror() {
    let repo = rich_repo();
    assert_mirror_matches_git(&repo);
    let before_tip = repo.state_tip().unwrap();
    for i in 0..5 {
        repo.ok(&["metric", "set", "manual.n", &i.to_string()]);
    }
    let out = repo
        .okr()
        .args(["audit", "--json"])
        .env("OKR_AUDIT_TEST_ABORT_AFTER", "3")
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(6),
        "the update should have been aborted mid-way: {}",
        common::stderr(&out)
    );
    {
        let conn = rusqlite::Connection::open(db_file(&repo)).unwrap();
        let tip: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'audit.tip'", [], |r| {
                r.get(0)
            })
            .unwrap();
        let events: i64 = conn
            .query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            tip, before_tip,
            "the mirrored tip must still be the old one"
        );
        assert_eq!(events, 10, "no row of the killed update may remain");
    }
    assert_mirror_matches_git(&repo);
    // A killed full rebuild also leaves a usable mirror.
    let out = repo
        .okr()
        .args(["audit", "rebuild"])
        .env("OKR_AUDIT_TEST_ABORT_AFTER", "4")
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(6),
        "the rebuild should have been aborted"
    );
    assert_mirror_matches_git(&repo);
}

#[test]
fn readers_see_no_error_while_a_writer_commits() {
    let repo = rich_repo();
    // Start without a mirror file, so readers also race to create it.
    assert!(!db_file(&repo).exists());
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (repo, done) = (&repo, &done);
                s.spawn(move || {
                    let mut runs = 0;
                    while !done.load(std::sync::atomic::Ordering::SeqCst) || runs < 3 {
                        let args: &[&str] = if r == 0 {
                            &["audit", "--json"]
                        } else {
                            &["kr", "history", "KR-1.1", "--json"]
                        };
                        let out = repo.run(args);
                        assert!(
                            out.status.success(),
                            "reader failed: {}",
                            common::stderr(&out)
                        );
                        serde_json::from_slice::<Value>(&out.stdout).unwrap();
                        runs += 1;
                    }
                    runs
                })
            })
            .collect();
        for i in 0..12 {
            repo.ok(&["metric", "set", "manual.load", &i.to_string()]);
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        for r in readers {
            assert!(r.join().unwrap() >= 3);
        }
    });
    assert_mirror_matches_git(&repo);
}
