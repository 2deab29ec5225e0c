//! Switching from OKRchestra: its workspaces in each form it writes (fixtures in
//! tests/fixtures/okrchestra/, an audit log built per test with OKRchestra's own
//! table and time format), imported, measured, scored, proposed on, applied and
//! backfilled — and its scripts' flags.

mod common;

use common::{stderr, stdout, TestRepo};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/okrchestra")
        .join(name)
}

/// A copy of fixture `name` in a temp dir (tests may change it).
fn workspace(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// OKRchestra's audit log: its table, its time format (Go's time.Time as text).
fn write_audit(ws: &Path, events: &[(&str, &str, &str, serde_json::Value)]) {
    std::fs::create_dir_all(ws.join("audit")).unwrap();
    let conn = rusqlite::Connection::open(ws.join("audit/audit.sqlite")).unwrap();
    conn.execute_batch("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts DATETIME NOT NULL, actor TEXT NOT NULL, type TEXT NOT NULL, payload_json TEXT NOT NULL)").unwrap();
    for (ts, actor, kind, payload) in events {
        conn.execute(
            "INSERT INTO events (ts, actor, type, payload_json) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![ts, actor, kind, payload.to_string()],
        )
        .unwrap();
    }
}

fn full_audit(ws: &Path) {
    use serde_json::json;
    write_audit(
        ws,
        &[
            (
                "2026-01-17 08:00:00.1 +0000 UTC",
                "cli",
                "workspace_init_started",
                json!({}),
            ),
            (
                "2026-01-17 08:00:00.2 +0000 UTC",
                "cli",
                "workspace_init_finished",
                json!({"workspace": "/Users/x/ws"}),
            ),
            (
                "2026-01-17 09:00:00.5 +0000 UTC",
                "cli",
                "kr_measure_started",
                json!({}),
            ),
            (
                "2026-01-17 09:00:01.5 +0000 UTC",
                "cli",
                "kr_measure_finished",
                json!({"snapshot_path": "/Users/x/ws/metrics/snapshots/2026-01-17.json", "point_count": 2}),
            ),
            (
                "2026-01-18 10:00:00 +0000 UTC",
                "team-test",
                "okr_propose_finished",
                json!({"proposal_dir": "/Users/x/ws/artifacts/proposals/20260118-100000-team-test"}),
            ),
            (
                "2026-01-18 11:00:00 +0000 UTC",
                "bob",
                "okr_apply_finished",
                json!({"proposal": "/Users/x/ws/artifacts/proposals/20260118-100000-team-test"}),
            ),
            (
                "2026-01-18 12:00:00 +0000 UTC",
                "okr",
                "kr_status_auto_updated",
                json!({"kr_id": "KR-TEAM-ONCALL", "old_status": "not_started", "new_status": "in_progress", "current": 0.95, "target": 1.0}),
            ),
            (
                "2026-01-18 13:00:00 +0000 UTC",
                "cli",
                "plan_run_finished",
                json!({"plan": "/Users/x/ws/artifacts/plans/2026-01-18/plan.json", "run_id": "20260118T093000Z"}),
            ),
            (
                "2026-01-18 14:00:00 +0000 UTC",
                "intruder",
                "okr_propose_finished",
                json!({"error": "agent intruder is not permitted to modify owner ceo"}),
            ),
        ],
    );
}

/// A repository with one commit and the fixture `name` imported.
fn imported(name: &str, with_audit: bool) -> TestRepo {
    let repo = TestRepo::with_commit();
    let ws = workspace(name);
    if with_audit {
        full_audit(ws.path());
    }
    repo.ok(&["init", "--from", ws.path().to_str().unwrap()]);
    repo
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn imports_the_minimal_workspace_and_measures_it() {
    let repo = imported("min", false);
    let out = repo.ok(&["kr", "measure"]);
    assert!(
        out.contains("Status updated: KR-1.1 not_started -> in_progress (1.2/1.5)"),
        "{out}"
    );
    assert!(
        out.contains("Status updated: KR-TEAM-PASS not_started -> achieved (0.98/0.97)"),
        "{out}"
    );
    let snap_path = out
        .lines()
        .find_map(|l| l.strip_prefix("Wrote snapshot: "))
        .unwrap()
        .to_string();
    let snap = json(&repo.state_file(&snap_path));
    let oncall = snap["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "manual.oncall_coverage")
        .unwrap();
    assert_eq!(oncall["unit"], "ratio", "units survive: {oncall}");
    assert_eq!(oncall["value"], 0.95);
    let pass = snap["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "ci.pass_rate_30d")
        .unwrap();
    assert_eq!(
        pass["unit"], "ratio",
        "a pass rate is a ratio, as OKRchestra says: {pass}"
    );
}

#[test]
fn imports_every_form_okrchestra_writes() {
    let repo = imported("full", true);
    let files = repo.ok(&["show"]);
    for path in [
        "plans/2026-01-18/PLAN-2026-01-18.json",
        "runs/20260118T093000Z/result.json",
        "runs/20260118T093000Z/item-0001/transcript.log",
        "metrics/snapshots/2026-01-17.json",
    ] {
        assert!(
            files.lines().any(|l| l == path),
            "{path} missing in:\n{files}"
        );
    }
    // The plan, converted: tasks from items, KR context from the OKRs.
    let plan = json(&repo.state_file("plans/2026-01-18/PLAN-2026-01-18.json"));
    assert_eq!(plan["generator"], "okrchestra");
    assert_eq!(plan["tasks"][0]["kr_id"], "KR-TEAM-ONCALL");
    assert_eq!(plan["tasks"][0]["metric_key"], "manual.oncall_coverage");
    assert_eq!(plan["key_results"][0]["target"], 1.0);
    assert_eq!(plan["key_results"][1]["status"], "unknown");
    // The run: item 1 valid by OKRchestra's rules, item 2 not; its plan from the audit log.
    let run = json(&repo.state_file("runs/20260118T093000Z/result.json"));
    assert_eq!(run["plan_id"], "PLAN-2026-01-18");
    assert_eq!(run["tasks"][0]["status"], "passed");
    assert_eq!(run["tasks"][1]["status"], "failed");
    assert_eq!(run["status"], "failed");
    assert!(repo
        .state_file("runs/20260118T093000Z/item-0001/transcript.log")
        .contains("agent transcript line 2"));
    // Listed and shown like runs of git-okr's own.
    let runs = repo.ok(&["run", "list"]);
    assert!(runs.contains("20260118T093000Z  failed"), "{runs}");
    let shown = repo.ok(&["run", "show", "latest"]);
    assert!(shown.starts_with("20260118T093000Z failed"), "{shown}");
    // The proposal: applied (OKRchestra's apply approved and applied at once).
    let list = json(&repo.ok(&["okr", "list", "--json"]));
    let p = &list.as_array().unwrap()[0];
    assert_eq!(p["status"], "applied", "{p}");
    assert_eq!(p["proposer"], "agent:team-test");
    // Manual metrics as a top-level list, with the same key under several dimension sets.
    let out = repo.ok(&["kr", "measure"]);
    assert!(
        out.contains("Status updated: KR-TEAM-GREEN not_started -> achieved (1/1)"),
        "the flat KR reads its dimension set and is reached: {out}"
    );
    let score = json(&repo.ok(&["kr", "score", "--json"]));
    let krs: Vec<&serde_json::Value> = score
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["objectives"].as_array().unwrap())
        .flat_map(|o| o["key_results"].as_array().unwrap())
        .collect();
    let green = krs.iter().find(|k| k["kr_id"] == "KR-TEAM-GREEN").unwrap();
    assert_eq!(
        (green["current"].as_f64(), green["score"].as_f64()),
        (Some(1.0), Some(1.0))
    );
}

#[test]
fn the_audit_log_becomes_history_with_original_times_and_actors() {
    let repo = imported("full", true);
    let log = repo.git(&[
        "log",
        "--reverse",
        "--format=%at|%an|%ct|%(trailers:key=Okr-Action,valueonly,separator=)",
        "refs/okr/state",
    ]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        &lines[..3],
        [
            "1768636800|cli|1768636800|init",
            "1768640401|cli|1768640401|measure",
            "1768730400|agent:team-test|1768730400|propose",
        ],
        "{log}"
    );
    assert!(lines[3].ends_with("|bob|1768734000|approve"), "{log}");
    assert!(lines[4].ends_with("|bob|1768734000|apply"), "{log}");
    // One ref update: the reflog-free ref moved once, and the imported commits chain up.
    assert_eq!(
        lines.len(),
        10,
        "9 events, 2 starts folded, apply = approve + apply; init; proposals: {log}"
    );
    // The measure event carries the snapshot it wrote, so history sees its values.
    let at_measure = repo.git(&["rev-list", "--reverse", "refs/okr/state"]);
    let measure = at_measure.lines().nth(1).unwrap();
    assert!(repo
        .git(&[
            "show",
            &format!("{measure}:metrics/snapshots/2026-01-17.json")
        ])
        .contains("manual.oncall_coverage"));
    // git okr audit answers with OKRchestra's event names.
    let events = json(&repo.ok(&["audit", "--action", "kr_measure_finished", "--json"]));
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["time"], 1768640401);
    let status = json(&repo.ok(&["audit", "--action", "kr_status_auto_updated", "--json"]));
    assert_eq!(status[0]["kr"], "KR-TEAM-ONCALL");
    assert_eq!(status[0]["to"], "in_progress");
    let failed = json(&repo.ok(&["audit", "--action", "failed", "--json"]));
    assert_eq!(failed[0]["actor"], "agent:intruder");
    let proposes = json(&repo.ok(&["audit", "--action", "okr_propose_finished", "--json"]));
    assert!(
        proposes
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] != "agent:intruder"),
        "a refused proposal is not a proposal: {proposes}"
    );
}

#[test]
fn a_broken_workspace_names_the_file_and_changes_nothing() {
    let cases: Vec<(&str, &str, &str)> = vec![
        ("metrics/manual.yml", "- key: a.b\n  value: lots\n", "metrics/manual.yml:2:"),
        (
            "metrics/snapshots/2026-01-19.json",
            "{\"schema_version\":1,\"as_of\":\"2026-01-19\",\"points\":[{\"key\":\"k\",\"value\":1,\"dimensions\":[{\"key\":\"a\",\"value\":\"x\"},{\"key\":\"a\",\"value\":\"y\"}]}]}",
            "metrics/snapshots/2026-01-19.json:1:",
        ),
        ("artifacts/plans/2026-01-18/plan.json", "{\"id\": \"../../x\", \"as_of\": \"2026-01-18\", \"items\": []}", "is not a plain name"),
        ("artifacts/plans/2026-01-18/plan.json", "{\n\"id\": \"P\",\n\"items\": 3}", "artifacts/plans/2026-01-18/plan.json:3:"),
        ("artifacts/proposals/20260118-100000-team-test/proposal.json", "{\"id\":\"x\",\"agent_id\":\"a\",\"created_at\":\"2026-01-18T10:00:00Z\",\"files\":[\"permissions.yml\"]}", "which no proposal may change"),
        ("artifacts/proposals/20260118-100000-team-test/team-test.yml", "objectives:\n  - objective_id: OBJ-1\n", "duplicate objective_id"),
    ];
    for (path, content, needle) in cases {
        let repo = TestRepo::with_commit();
        let ws = workspace("full");
        std::fs::write(ws.path().join(path), content).unwrap();
        let err = repo.fails(&["init", "--from", ws.path().to_str().unwrap()]);
        assert!(err.contains(needle), "{path}: {err}");
        assert_eq!(repo.state_tip(), None, "{path}: nothing committed");
    }
    // A damaged audit log, a bad time, a type that is not an event name.
    for (ts, kind, needle) in [
        ("yesterday", "kr_measure_finished", "event 1: ts"),
        (
            "2026-01-17 08:00:00 +0000 UTC",
            "Robert'); DROP",
            "is not an event name",
        ),
    ] {
        let repo = TestRepo::with_commit();
        let ws = workspace("full");
        write_audit(ws.path(), &[(ts, "cli", kind, serde_json::json!({}))]);
        let err = repo.fails(&["init", "--from", ws.path().to_str().unwrap()]);
        assert!(err.contains(needle), "{err}");
        assert_eq!(repo.state_tip(), None);
    }
    let repo = TestRepo::with_commit();
    let ws = workspace("full");
    std::fs::create_dir_all(ws.path().join("audit")).unwrap();
    std::fs::write(
        ws.path().join("audit/audit.sqlite"),
        b"not a database at all, just text",
    )
    .unwrap();
    let err = repo.fails(&["init", "--from", ws.path().to_str().unwrap()]);
    assert!(err.contains("audit/audit.sqlite"), "{err}");
    assert_eq!(repo.state_tip(), None);
}

#[test]
fn snapshots_stay_in_okrchestras_shape() {
    let repo = imported("full", false);
    let out = repo.ok(&["kr", "measure"]);
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("Wrote snapshot: "))
        .unwrap();
    let snap = json(&repo.state_file(path));
    assert_eq!(snap["schema_version"], 1);
    for p in snap["points"].as_array().unwrap() {
        let ts = p["timestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
            "RFC 3339: {p}"
        );
        assert!(
            p["key"].is_string() && p["value"].is_number() && p["source"].is_string(),
            "{p}"
        );
        if let Some(dims) = p.get("dimensions") {
            let dims = dims
                .as_array()
                .unwrap_or_else(|| panic!("dimensions as OKRchestra's list: {p}"));
            assert!(!dims.is_empty());
            for d in dims {
                assert!(d["key"].is_string() && d["value"].is_string(), "{d}");
            }
        }
    }
    let e2e = snap["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "ci.suite_pass_rate" && p["dimensions"][0]["value"] == "e2e")
        .unwrap();
    assert_eq!(
        (e2e["value"].as_f64(), e2e["unit"].as_str()),
        (Some(1.0), Some("ratio"))
    );
    let count = snap["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["key"] == "ci.suite_pass_rate")
        .count();
    assert_eq!(
        count, 3,
        "one point per dimension set, and the undimensioned one"
    );
    let _ = stdout;
    let _ = stderr;
}

/// A repository whose main branch has one commit on each of `days` (noon UTC).
fn dated_repo(days: &[&str]) -> TestRepo {
    let repo = TestRepo::new();
    for (i, day) in days.iter().enumerate() {
        repo.write("f.txt", format!("{i}\n"));
        repo.git(&["add", "."]);
        let when = format!("{day} 12:00:00 +0000");
        let out = std::process::Command::new("git")
            .current_dir(repo.path())
            .args(["commit", "-q", "-m", &format!("c{i}")])
            .envs(repo.env())
            .env("GIT_AUTHOR_DATE", &when)
            .env("GIT_COMMITTER_DATE", &when)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    repo
}

/// Run git-okr as if at `when` (the state commit gets that time).
fn okr_at(repo: &TestRepo, when: &str, args: &[&str]) -> String {
    let out = repo
        .okr()
        .env("GIT_COMMITTER_DATE", when)
        .env("GIT_AUTHOR_DATE", when)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_quarter_backfills_in_a_loop_and_never_moves_todays_statuses() {
    let repo = dated_repo(&["2026-01-05", "2026-01-20", "2026-02-10", "2026-03-02"]);
    let ws = workspace("min");
    okr_at(
        &repo,
        "2026-01-02 09:00:00 +0000",
        &["init", "--from", ws.path().to_str().unwrap()],
    );
    okr_at(
        &repo,
        "2026-02-01 09:00:00 +0000",
        &["metric", "set", "manual.test_metric", "1.6"],
    );
    // Today first: statuses move, today's snapshot exists.
    let today = repo.ok(&["kr", "measure"]);
    assert!(today.contains("KR-1.1 not_started -> achieved"), "{today}");
    let org_now = repo.state_file("okrs/org.yml");
    // Then a backfill of the quarter, one day per week.
    let mut day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let end = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    let mut days = 0;
    while day <= end {
        let out = repo.ok(&["kr", "measure", "--as-of", &day.to_string()]);
        assert!(out.contains("backfill"), "{day}: {out}");
        assert!(!out.contains("Status updated"), "{day}: {out}");
        day = day + chrono::Days::new(7);
        days += 1;
    }
    assert_eq!(days, 13);
    assert_eq!(
        repo.state_file("okrs/org.yml"),
        org_now,
        "a backfill never moves today's statuses"
    );
    // Each day: git metrics at the branch's last commit by the end of that day (git is the oracle),
    // manual values as the state had them then.
    for (date, manual) in [
        ("2026-01-08", Some(1.2)),
        ("2026-01-22", Some(1.2)),
        ("2026-02-12", Some(1.6)),
    ] {
        let snap = json(&repo.state_file(&format!("metrics/snapshots/{date}.json")));
        let value = |key: &str| {
            snap["points"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["key"] == key)
                .and_then(|p| p["value"].as_f64())
        };
        let by_git = repo.git(&[
            "rev-list",
            "--count",
            &format!("--before={date} 23:59:59 +0000"),
            "main",
        ]);
        assert_eq!(
            value("git.commits"),
            Some(by_git.trim().parse::<f64>().unwrap()),
            "{date}"
        );
        let expected_commit = repo.git(&[
            "rev-list",
            "-1",
            &format!("--before={date} 23:59:59 +0000"),
            "main",
        ]);
        assert_eq!(
            snap["commit"].as_str(),
            Some(expected_commit.trim()),
            "{date}"
        );
        assert_eq!(value("manual.test_metric"), manual, "{date}");
        assert_eq!(snap["as_of"], date);
    }
    // A day before the first commit: no git values, no state yet.
    let first = json(&repo.state_file("metrics/snapshots/2026-01-01.json"));
    assert!(first["points"].as_array().unwrap().is_empty(), "{first}");
    // The backfilled days carry the statuses of their time, from the snapshot before.
    let feb = json(&repo.state_file("metrics/snapshots/2026-02-12.json"));
    let kr = feb["key_results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kr_id"] == "KR-1.1")
        .unwrap();
    assert_eq!(kr["status"], "achieved");
    // Backfilling the same day again changes nothing; a future day is refused.
    let again = repo.ok(&["kr", "measure", "--as-of", "2026-01-08"]);
    assert!(again.contains("nothing committed"), "{again}");
    let tip = repo.state_tip();
    let err = repo.fails(&["kr", "measure", "--as-of", "2999-01-01"]);
    assert!(err.contains("has not come yet"), "{err}");
    let err = repo.fails(&["kr", "measure", "--as-of", "01/02/2026"]);
    assert!(err.contains("not a date"), "{err}");
    assert_eq!(repo.state_tip(), tip);
}

#[test]
fn a_measurement_later_than_every_snapshot_moves_statuses() {
    let repo = dated_repo(&["2026-01-05"]);
    let ws = workspace("min");
    okr_at(
        &repo,
        "2026-01-02 09:00:00 +0000",
        &["init", "--from", ws.path().to_str().unwrap()],
    );
    let out = repo.ok(&["kr", "measure", "--as-of", "2026-01-10"]);
    assert!(
        out.contains("Status updated: KR-1.1 not_started -> in_progress"),
        "{out}"
    );
    assert!(repo
        .state_file("okrs/org.yml")
        .contains("status: in_progress"));
    // Earlier than that snapshot now: a backfill.
    let out = repo.ok(&["kr", "measure", "--as-of", "2026-01-06"]);
    assert!(out.contains("backfill"), "{out}");
    let log = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        log.contains("Okr-As-Of: 2026-01-06") && !log.contains("Okr-Status"),
        "{log}"
    );
    // plan generate --as-of files the plan under that day with that day's values.
    let plan = json(&repo.ok(&[
        "plan",
        "generate",
        "--as-of",
        "2026-01-06",
        "--objective-id",
        "OBJ-1",
        "--agent-role",
        "software_engineer",
        "--json",
    ]));
    assert!(
        plan["path"]
            .as_str()
            .unwrap()
            .starts_with("plans/2026-01-06/"),
        "{plan}"
    );
    assert_eq!(plan["plan"]["agent_role"], "software_engineer");
    assert_eq!(plan["plan"]["key_results"][0]["current"], 1.2);
}

#[test]
fn the_score_report_file_is_okrchestras() {
    let repo = imported("full", false);
    repo.ok(&["kr", "measure"]);
    let out_file = repo.path().join("score.json");
    let out = repo.ok(&["kr", "score", "--output", out_file.to_str().unwrap()]);
    assert!(out.contains("Wrote score report"), "{out}");
    let report = json(&std::fs::read_to_string(&out_file).unwrap());
    assert_eq!(report["schema_version"], 1);
    assert!(report["as_of"].is_string());
    let rows = report["results"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["kr_id"] == id).unwrap().clone();
    let oncall = row("KR-TEAM-ONCALL");
    assert!(
        (oncall["percent_to_target"].as_f64().unwrap() - 50.0).abs() < 1e-6,
        "{oncall}"
    );
    assert!((oncall["score"].as_f64().unwrap() - 0.5).abs() < 1e-6);
    assert_eq!(oncall["unit"], "ratio");
    assert_eq!(row("KR-TEAM-GREEN")["percent_to_target"], 100.0);
    // An imported OKRchestra snapshot by date: no value for KR-1.1's metric there.
    let old = repo.path().join("old.json");
    repo.ok(&[
        "kr",
        "score",
        "--snapshot",
        "2026-01-17",
        "--output",
        old.to_str().unwrap(),
    ]);
    let report = json(&std::fs::read_to_string(&old).unwrap());
    assert_eq!(report["as_of"], "2026-01-17");
    assert_eq!(report["snapshot_path"], "metrics/snapshots/2026-01-17.json");
    let missing: Vec<&str> = report["missing_metric_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(missing.contains(&"manual.test_metric"), "{missing:?}");
    assert_eq!(rows.len(), report["results"].as_array().unwrap().len());
    // A snapshot file on disk; a broken one names its line.
    let file = repo.path().join("snap.json");
    std::fs::write(&file, "{\"schema_version\":1,\"as_of\":\"2026-02-01\",\n\"points\":[{\"key\":\"manual.test_metric\",\"value\":1.5}]}").unwrap();
    let out = repo.ok(&[
        "kr",
        "score",
        "--snapshot",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.contains("\"current\": 1.5"), "{out}");
    std::fs::write(&file, "{\"schema_version\":1,\n\"points\": 7}").unwrap();
    let err = repo.fails(&["kr", "score", "--snapshot", file.to_str().unwrap()]);
    assert!(err.contains(":2:"), "{err}");
    let err = repo.fails(&["kr", "score", "--snapshot", "2020-01-01"]);
    assert!(err.contains("no such snapshot"), "{err}");
}

#[test]
fn okrchestras_script_flags_keep_working() {
    let repo = imported("min", false);
    // Path overrides explain where the state lives, exit 2, change nothing.
    let tip = repo.state_tip();
    for flag in [
        "--okrs-dir",
        "--audit-db",
        "--metrics-dir",
        "--artifacts-dir",
    ] {
        let out = repo.run(&["kr", "measure", flag, "somewhere"]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = stderr(&out);
        assert!(
            err.contains(flag) && err.contains("refs/okr/state"),
            "{err}"
        );
        assert!(!err.contains("unexpected argument"), "{err}");
    }
    assert_eq!(repo.state_tip(), tip);
    // init --template minimal; another template is refused.
    let fresh = TestRepo::with_commit();
    fresh.ok(&["init", "--template", "minimal"]);
    let err = TestRepo::with_commit().fails(&["init", "--template", "fancy"]);
    assert!(err.contains("unknown template"), "{err}");
    // Go durations.
    let out = repo.run(&[
        "plan",
        "run",
        "--adapter",
        "codex",
        "--timeout",
        "1h30m",
        "nope",
    ]);
    assert!(!stderr(&out).contains("--timeout"), "{}", stderr(&out));
    let err = repo.fails(&[
        "plan",
        "run",
        "--adapter",
        "codex",
        "--timeout",
        "1h30",
        "nope",
    ]);
    assert!(err.contains("not a duration"), "{err}");
    // --objective-id and --kr-id on the audit.
    repo.ok(&["audit", "--objective-id", "OBJ-1"]);
    // Record and measure in one commit.
    let dir = tempfile::tempdir().unwrap();
    let ci = dir.path().join("ci.json");
    std::fs::write(&ci, "{\"metrics\": {\"pass_rate_30d\": 0.5}}").unwrap();
    let manual = dir.path().join("manual.yml");
    std::fs::write(
        &manual,
        "- key: manual.test_metric\n  value: 1.5\n  unit: count\n",
    )
    .unwrap();
    let before = repo.git(&["rev-list", "--count", "refs/okr/state"]);
    let out = repo.ok(&[
        "kr",
        "measure",
        "--ci-report",
        ci.to_str().unwrap(),
        "--manual",
        manual.to_str().unwrap(),
    ]);
    assert!(
        out.contains("KR-1.1 not_started -> achieved (1.5/1.5)"),
        "{out}"
    );
    let after = repo.git(&["rev-list", "--count", "refs/okr/state"]);
    assert_eq!(
        after.trim().parse::<u32>().unwrap(),
        before.trim().parse::<u32>().unwrap() + 1
    );
    assert!(repo.state_file("metrics/ci_report.json").contains("0.5"));
    assert!(repo.state_file("metrics/manual.yml").contains("1.5"));
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        msg.contains("Okr-File: metrics/manual.yml") && msg.contains("Okr-Action: measure"),
        "{msg}"
    );
    // A broken --manual file: named, nothing committed.
    std::fs::write(&manual, "- key: manual.test_metric\n  value: lots\n").unwrap();
    let tip = repo.state_tip();
    let err = repo.fails(&["kr", "measure", "--manual", manual.to_str().unwrap()]);
    assert!(err.contains("manual.yml:2:"), "{err}");
    assert_eq!(repo.state_tip(), tip);
}

#[test]
fn propose_from_a_folder_and_apply_with_i_understand() {
    let repo = imported("min", false);
    let dir = tempfile::tempdir().unwrap();
    let org = repo
        .state_file("okrs/org.yml")
        .replace("target: 1.5", "target: 2");
    let team = repo
        .state_file("okrs/team-test.yml")
        .replace("target: 1.0", "target: 0.99");
    std::fs::write(dir.path().join("org.yml"), org).unwrap();
    std::fs::write(dir.path().join("team-test.yml"), team).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not yaml").unwrap();
    let out = repo
        .okr()
        .args([
            "okr",
            "propose",
            "--from",
            dir.path().to_str().unwrap(),
            "--note",
            "new targets",
        ])
        .env("OKR_AGENT", "codex")
        .output()
        .unwrap();
    // codex is delegated by team-test only: org.yml is ceo's, so the agent is refused.
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("codex"), "{}", stderr(&out));
    let out = repo.ok(&[
        "okr",
        "propose",
        "--from",
        dir.path().to_str().unwrap(),
        "--note",
        "new targets",
    ]);
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let list = json(&repo.ok(&["okr", "list", "--json"]));
    let p = &list.as_array().unwrap()[0];
    assert_eq!(p["reason"], "new targets");
    let tip = repo.state_tip().unwrap();
    let out = repo.ok(&["okr", "apply", "--proposal", &id, "--i-understand"]);
    assert!(out.contains("Approved and applied"), "{out}");
    let actions = repo.git(&[
        "log",
        "--format=%(trailers:key=Okr-Action,valueonly,separator=)",
        &format!("{tip}..refs/okr/state"),
    ]);
    assert_eq!(
        actions.split_whitespace().collect::<Vec<_>>(),
        ["apply", "approve"],
        "{actions}"
    );
    assert!(repo.state_file("okrs/org.yml").contains("target: 2"));
    assert!(repo
        .state_file("okrs/team-test.yml")
        .contains("target: 0.99"));
    // Without --i-understand an unapproved proposal is still refused.
    std::fs::write(
        dir.path().join("org.yml"),
        repo.state_file("okrs/org.yml")
            .replace("target: 2", "target: 3"),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("team-test.yml")).unwrap();
    let out = repo.ok(&["okr", "propose", "--from", dir.path().to_str().unwrap()]);
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let err = repo.fails(&["okr", "apply", "--proposal", &id]);
    assert!(err.contains("not approved yet"), "{err}");
    // An agent may not approve-and-apply.
    let out = repo
        .okr()
        .args(["okr", "apply", "--proposal", &id, "--i-understand"])
        .env("OKR_AGENT", "codex")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("agents never approve"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_imported_proposal_applies_by_its_okrchestra_folder() {
    let repo = TestRepo::with_commit();
    let ws = workspace("full");
    repo.ok(&["init", "--from", ws.path().to_str().unwrap()]);
    // Not applied in OKRchestra (no audit log here): still proposed.
    let list = json(&repo.ok(&["okr", "list", "--json"]));
    assert_eq!(list[0]["status"], "proposed");
    let out = repo.ok(&[
        "okr",
        "apply",
        "--proposal",
        "artifacts/proposals/20260118-100000-team-test",
        "--i-understand",
    ]);
    assert!(out.contains("Approved and applied"), "{out}");
    assert!(repo
        .state_file("okrs/team-test.yml")
        .contains("target: 0.99"));
}

#[test]
fn refused_and_failed_attempts_are_journaled_locally() {
    let repo = imported("min", false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("org.yml"),
        repo.state_file("okrs/org.yml")
            .replace("target: 1.5", "target: 9"),
    )
    .unwrap();
    let tip = repo.state_tip();
    // codex is delegated by team-test, not by ceo who owns org.yml: refused, exit 4.
    let out = repo
        .okr()
        .args([
            "okr",
            "propose",
            "--from",
            dir.path().to_str().unwrap(),
            "--note",
            "n",
        ])
        .env("OKR_AGENT", "codex")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    // Applying what does not exist fails (exit 1).
    let out = repo.run(&["okr", "apply", "P-20990101-abcdef"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(repo.state_tip(), tip, "neither attempt committed anything");
    let journal = json(&repo.ok(&["audit", "journal", "--json"]));
    let entries = journal.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{journal}");
    assert_eq!(
        (
            entries[0]["action"].as_str(),
            entries[0]["outcome"].as_str(),
            entries[0]["subject"].as_str()
        ),
        (Some("apply"), Some("failed"), Some("P-20990101-abcdef"))
    );
    assert_eq!(
        (
            entries[1]["action"].as_str(),
            entries[1]["outcome"].as_str(),
            entries[1]["actor"].as_str()
        ),
        (Some("propose"), Some("refused"), Some("agent:codex"))
    );
    assert!(entries[1]["message"].as_str().unwrap().contains("codex"));
    // The journal survives a rebuild of the mirror, and is never on the ref.
    repo.ok(&["audit", "rebuild"]);
    let again = json(&repo.ok(&["audit", "journal", "--json"]));
    assert_eq!(again.as_array().unwrap().len(), 2);
    let text = repo.ok(&["audit", "journal", "--limit", "1"]);
    assert!(text.contains("failed apply P-20990101-abcdef"), "{text}");
}

/// OKRchestra's loader decodes snapshots with unknown fields refused, into exactly these
/// shapes (its `metrics.Snapshot`, `MetricPoint`, `Dimension`).
mod okrchestra_loader {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Snapshot {
        pub schema_version: u32,
        pub as_of: String,
        pub points: Vec<Point>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Point {
        pub key: String,
        pub value: f64,
        pub unit: Option<String>,
        pub timestamp: String,
        pub source: String,
        pub evidence: Option<Vec<String>>,
        pub dimensions: Option<Vec<Dimension>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct Dimension {
        pub key: String,
        pub value: String,
    }
}

#[test]
fn export_okrchestra_writes_snapshots_its_loader_reads() {
    let repo = imported("full", false);
    repo.ok(&["kr", "measure"]);
    let snapshots = repo.git(&[
        "ls-tree",
        "--name-only",
        "refs/okr/state",
        "metrics/snapshots/",
    ]);
    let newest = snapshots.lines().last().unwrap().to_string();
    // The ref's own snapshots carry more than OKRchestra's loader accepts.
    let ours = repo.state_file(&newest);
    assert!(
        serde_json::from_str::<okrchestra_loader::Snapshot>(&ours).is_err(),
        "the ref keeps measured_at and key_results"
    );
    let plain = tempfile::tempdir().unwrap();
    repo.ok(&["export", plain.path().to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(plain.path().join(&newest)).unwrap(),
        ours,
        "a plain export is a copy"
    );

    // The cycles file is ours: OKRchestra would parse it as OKRs and fail its whole load.
    repo.forge_state_file(
        "okrs/cycles.yml",
        b"cycles:\n  - id: 2026-Q4\n    start: 2026-10-01\n    end: 2026-12-31\n",
        "cycles",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = repo.ok(&["export", "--okrchestra", dir.path().to_str().unwrap()]);
    assert!(out.contains("OKRchestra's form"), "{out}");
    assert!(
        out.contains("Left out okrs/cycles.yml: OKRchestra would read it as an OKR file"),
        "{out}"
    );
    assert!(!dir.path().join("okrs/cycles.yml").exists());
    let original = json(&ours);
    for name in snapshots.lines() {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let loaded: okrchestra_loader::Snapshot = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: OKRchestra's loader refuses it: {e}\n{text}"));
        assert_eq!(loaded.schema_version, 1);
        if name == newest {
            assert_eq!(loaded.as_of, original["as_of"].as_str().unwrap());
            assert_eq!(
                loaded.points.len(),
                original["points"].as_array().unwrap().len()
            );
            let dimensioned = loaded
                .points
                .iter()
                .filter(|p| p.dimensions.is_some())
                .count();
            assert!(
                dimensioned > 0,
                "the full workspace has dimensioned CI points"
            );
        }
    }
    // Everything else is the same copy.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("okrs/org.yml")).unwrap(),
        repo.state_file("okrs/org.yml")
    );
    // A snapshot on the ref that does not parse (a teammate's hand-made commit) is
    // named with its line, and the export fails.
    repo.forge_state_file(
        "metrics/snapshots/2020-01-01.json",
        b"{\n  \"schema_version\": 1,\n  \"as_of\": 7\n}\n",
        "hand-made snapshot",
    );
    let bad = tempfile::tempdir().unwrap();
    let err = repo.fails(&["export", "--okrchestra", bad.path().to_str().unwrap()]);
    assert!(
        err.contains("metrics/snapshots/2020-01-01.json:3:"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(bad.path()).unwrap().count(),
        0,
        "nothing written"
    );
}
