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
}

#[test]
fn imports_every_form_okrchestra_writes() {
    let repo = imported("full", true);
    let files = repo.ok(&["show"]);
    for path in [
        "plans/2026-01-18/PLAN-2026-01-18.json",
        "runs/20260118T093000Z/result.json",
        "runs/20260118T093000Z/item-0001.stdout",
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
        .state_file("runs/20260118T093000Z/item-0001.stdout")
        .contains("agent transcript line 2"));
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
