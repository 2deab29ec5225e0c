//! The OKR rhythm (issue 21): check-ins, staleness, cycles, grading and carry-over,
//! through the real binary on temporary repositories.

mod common;

use common::fixtures::{CYCLE_Q4, ONE_KR};
use common::TestRepo;
use serde_json::Value;

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A state with `okrs` and cycle 2026-Q4 listed (so it is closable on any day).
fn repo_with(okrs: &str) -> TestRepo {
    TestRepo::with_state(&[
        ("okrs/org.yml", okrs),
        (
            "okrs/cycles.yml",
            "# our rhythm\ncycles:\n  - id: 2026-Q4\n    start: 2026-10-01\n    end: 2026-12-31\n",
        ),
    ])
}

/// Run a command that must fail with exit 1 and leave refs/okr/state where it was.
fn refused(repo: &TestRepo, args: &[&str]) -> String {
    let before = repo.state_tip();
    let err = repo.fails_with(1, args);
    assert_eq!(repo.state_tip(), before, "{args:?} moved refs/okr/state");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one error: {err}"
    );
    err
}

fn kr_row<'a>(status: &'a Value, kr: &str) -> &'a Value {
    status["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["objectives"].as_array().unwrap())
        .flat_map(|o| o["key_results"].as_array().unwrap())
        .find(|k| k["kr_id"] == kr)
        .unwrap_or_else(|| panic!("{kr} not in {status}"))
}

#[test]
fn a_checkin_is_one_commit_seen_by_status_history_and_report() {
    let repo = repo_with(CYCLE_Q4);
    let before = repo.state_tip().unwrap();
    let out = repo.ok(&[
        "kr",
        "checkin",
        "KR-1.2",
        "--confidence",
        "0.6",
        "--note",
        "waiting on review",
        "--value",
        "250",
        "--status",
        "at_risk",
    ]);
    assert!(
        out.contains("Checked in on KR-1.2: confidence 0.6: waiting on review"),
        "{out}"
    );
    assert!(out.contains("Status: not_started -> at_risk"), "{out}");
    // One commit, with its trailers.
    let tip = repo.state_tip().unwrap();
    assert_eq!(repo.git(&["rev-parse", &format!("{tip}^")]).trim(), before);
    let message = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    for trailer in [
        "Okr-Action: checkin",
        "Okr-KR: KR-1.2",
        "Okr-Objective: OBJ-1",
        "Okr-Checkin: KR-1.2 confidence 0.6",
        "Okr-Note: waiting on review",
        "Okr-Metric: manual.latency_ms",
        "Okr-Value: 250",
        "Okr-Status: KR-1.2 not_started -> at_risk",
    ] {
        assert!(message.contains(trailer), "{trailer} missing:\n{message}");
    }
    // The check-in file, the manual value and the KR's status, in that commit.
    let files = repo.git(&["show", "--name-only", "--format=", "refs/okr/state"]);
    let checkin = files
        .lines()
        .find(|f| f.starts_with("checkins/"))
        .unwrap_or_else(|| panic!("{files}"));
    let record = json(&repo.state_file(checkin));
    assert_eq!(record["confidence"], 0.6);
    assert_eq!(record["note"], "waiting on review");
    assert_eq!(record["status"], "at_risk");
    assert_eq!(record["cycle"], "2026-Q4");
    assert!(repo
        .state_file("metrics/manual.yml")
        .contains("manual.latency_ms"));
    assert!(repo.state_file("okrs/org.yml").contains("status: at_risk"));
    // A second check-in: the trend.
    repo.ok(&["kr", "checkin", "KR-1.2", "--confidence", "0.4"]);

    let status = json(&repo.ok(&["status", "--json", "--cycle", "2026-Q4"]));
    assert_eq!(status["cycle"]["id"], "2026-Q4");
    let row = kr_row(&status, "KR-1.2");
    assert_eq!(row["confidence"], 0.4);
    assert!(row["last_checkin"].as_str().unwrap().ends_with('Z'));
    assert_eq!(row["current"], 250.0);
    let text = repo.ok(&["status", "--cycle", "2026-Q4"]);
    assert!(
        text.contains("Cycle 2026-Q4 (2026-10-01 to 2026-12-31"),
        "{text}"
    );
    assert!(text.contains("confidence 0.4"), "{text}");

    let history = json(&repo.ok(&["kr", "history", "KR-1.2", "--json"]));
    let points: Vec<&Value> = history["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"] == "checkin")
        .collect();
    assert_eq!(points.len(), 2, "{history}");
    assert_eq!(points[0]["confidence"], 0.6);
    assert_eq!(points[0]["note"], "waiting on review");
    assert_eq!(points[0]["value"], 250.0);
    assert_eq!(points[0]["status"], "at_risk");
    assert_eq!(points[1]["confidence"], 0.4);
    let printed = repo.ok(&["kr", "history", "KR-1.2"]);
    assert!(
        printed.contains("confidence 0.6, not_started -> at_risk"),
        "{printed}"
    );
    assert!(printed.contains("checkin: waiting on review"), "{printed}");

    let page = repo.path().join("r.html");
    repo.ok(&[
        "report",
        "--html",
        page.to_str().unwrap(),
        "--cycle",
        "2026-Q4",
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("cycle 2026-Q4 (2026-10-01 to 2026-12-31)"));
    assert!(html.contains(r#"<h3 id="checkins">Check-ins</h3>"#));
    assert!(html.contains("waiting on review"));
    assert!(
        html.contains("40% <span class=\"trend confidence-trend\">(60% → 40%)</span>"),
        "trend missing"
    );
}

#[test]
fn bad_checkins_change_nothing() {
    let repo = repo_with(CYCLE_Q4);
    let cases: &[(&[&str], &str)] = &[
        (
            &["kr", "checkin", "KR-1.1", "--confidence", "1.5"],
            "--confidence 1.5 is outside 0..1",
        ),
        (
            &["kr", "checkin", "KR-1.1", "--confidence", "-0.1"],
            "--confidence -0.1 is outside 0..1",
        ),
        (
            &["kr", "checkin", "KR-1.1", "--confidence", "NaN"],
            "--confidence NaN is outside 0..1",
        ),
        (
            &["kr", "checkin", "KR-1.1", "--confidence", "high"],
            "--confidence \"high\" is not a number",
        ),
        (
            &["kr", "checkin", "KR-9.9", "--confidence", "0.5"],
            "KR-9.9 is not a key result",
        ),
        (
            &[
                "kr",
                "checkin",
                "KR-1.1",
                "--confidence",
                "0.5",
                "--note",
                "a\nOkr-Action: apply",
            ],
            "--note",
        ),
        (
            &[
                "kr",
                "checkin",
                "KR-1.1",
                "--confidence",
                "0.5",
                "--value",
                "3",
            ],
            "KR-1.1 is measured from ci.test_count",
        ),
        (
            &[
                "kr",
                "checkin",
                "KR-1.2",
                "--confidence",
                "0.5",
                "--value",
                "inf",
            ],
            "--value \"inf\" is not a number",
        ),
    ];
    for (args, expected) in cases {
        let err = refused(&repo, args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // A status that is not one is a usage error (exit 2), and changes nothing either.
    let before = repo.state_tip();
    repo.fails_with(
        2,
        &[
            "kr",
            "checkin",
            "KR-1.1",
            "--confidence",
            "0.5",
            "--status",
            "done",
        ],
    );
    assert_eq!(repo.state_tip(), before);
}

#[test]
fn a_quiet_kr_needs_attention_until_someone_checks_in() {
    // Measured long ago, never checked in; the team wants a check-in every 3 days.
    let okrs = ONE_KR.replace(
        "        status: not_started\n",
        "        status: in_progress\n        current: 5\n        last_updated: 2020-01-01T00:00:00Z\n",
    );
    let repo = TestRepo::with_state(&[
        ("okrs/org.yml", &okrs),
        ("okrs/cycles.yml", "stale_after_days: 3\n"),
    ]);
    let status = json(&repo.ok(&["status", "--json"]));
    let stale: Vec<&Value> = status["attention"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "stale")
        .collect();
    assert_eq!(stale.len(), 1, "{status}");
    assert_eq!(stale[0]["kr_id"], "KR-1.1");
    assert_eq!(stale[0]["since"], "2020-01-01T00:00:00Z");
    assert!(stale[0]["days"].as_i64().unwrap() > 3);
    assert_eq!(
        stale[0]["command"],
        "git okr kr checkin KR-1.1 --confidence N"
    );
    let text = repo.ok(&["status"]);
    assert!(
        text.contains("KR-1.1 has had no check-in or measured change for"),
        "{text}"
    );

    repo.ok(&["kr", "checkin", "KR-1.1", "--confidence", "0.8"]);
    let status = json(&repo.ok(&["status", "--json"]));
    assert!(
        !status["attention"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "stale"),
        "{status}"
    );
}

#[test]
fn cycles_choose_what_status_and_score_show() {
    let okrs = format!(
        "{CYCLE_Q4}  - objective_id: OBJ-3\n    objective: Next year\n    cycle: 2027-Q1\n    key_results:\n      - kr_id: KR-3.1\n        metric_key: manual.x\n        baseline: 0\n        target: 1\n  - objective_id: OBJ-4\n    objective: Always\n    key_results:\n      - kr_id: KR-4.1\n        metric_key: manual.y\n        baseline: 0\n        target: 1\n"
    );
    let repo = repo_with(&okrs);
    let ids = |args: &[&str]| -> Vec<String> {
        let v = json(&repo.ok(args));
        let scopes = if v.is_array() { v } else { v["scopes"].clone() };
        scopes
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["objectives"].as_array().unwrap().clone())
            .map(|o| o["objective_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&["status", "--json", "--cycle", "2026-Q4"]),
        ["OBJ-1", "OBJ-2", "OBJ-4"]
    );
    assert_eq!(
        ids(&["kr", "score", "--json", "--cycle", "2027-Q1"]),
        ["OBJ-3", "OBJ-4"]
    );
    assert_eq!(
        ids(&["status", "--json", "--cycle", "all"]),
        ["OBJ-1", "OBJ-2", "OBJ-3", "OBJ-4"]
    );
    let list = json(&repo.ok(&["cycle", "list", "--json"]));
    let listed: Vec<(&str, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["objectives"].as_u64().unwrap()))
        .collect();
    assert!(
        listed.contains(&("2026-Q4", 2)) && listed.contains(&("2027-Q1", 1)),
        "{list}"
    );
    let err = refused(&repo, &["status", "--cycle", "someday"]);
    assert!(err.contains("--cycle: unknown cycle \"someday\""), "{err}");
}

#[test]
fn bad_cycles_are_refused_with_their_line() {
    let repo = repo_with(CYCLE_Q4);
    let editor = |content: &str| {
        let file = repo.path().join("new.yml");
        std::fs::write(&file, content).unwrap();
        format!("cp {}", file.display())
    };
    let edit = |content: &str| {
        let before = repo.state_tip();
        let out = repo
            .okr()
            .env("GIT_EDITOR", editor(content))
            .args(["edit", "okrs/cycles.yml"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(repo.state_tip(), before);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let overlapping = "cycles:\n  - id: 2026-Q4\n    start: 2026-10-01\n    end: 2026-12-31\n  - id: 2026-H2\n    start: 2026-07-01\n    end: 2026-12-31\n";
    let err = edit(overlapping);
    assert!(
        err.contains(
            "okrs/cycles.yml:5: cycle 2026-H2 (2026-07-01 to 2026-12-31) overlaps cycle 2026-Q4"
        ),
        "{err}"
    );
    let err = edit("cycles:\n  - id: 2026-Q4\n    start: 2026-10-01\n    end: 2026-02-30\n");
    assert!(
        err.contains("okrs/cycles.yml:2: cycle 2026-Q4: end \"2026-02-30\" is not a date"),
        "{err}"
    );
    let err = edit("cycles:\n  - id: ../../etc\n    start: 2026-10-01\n    end: 2026-12-31\n");
    assert!(err.contains("okrs/cycles.yml:2: cycle id"), "{err}");
    // An objective in a cycle that is neither listed nor a quarter.
    let out = repo
        .okr()
        .env(
            "GIT_EDITOR",
            editor(&CYCLE_Q4.replacen("cycle: 2026-Q4", "cycle: H1", 1)),
        )
        .args(["edit", "okrs/org.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("okrs/org.yml:6: objective OBJ-1: cycle \"H1\" is not a quarter"),
        "{err}"
    );
    // Starting a cycle that overlaps a listed one.
    let err = refused(
        &repo,
        &[
            "cycle",
            "start",
            "2026-H2",
            "--start",
            "2026-07-01",
            "--end",
            "2026-12-31",
        ],
    );
    assert!(err.contains("overlaps cycle 2026-Q4"), "{err}");
    let err = refused(&repo, &["cycle", "start", "H3"]);
    assert!(err.contains("give its --start and --end"), "{err}");
    let err = refused(&repo, &["cycle", "close", "2031-Q2"]);
    assert!(
        err.contains("no objective belongs to cycle 2031-Q2"),
        "{err}"
    );
    let err = refused(&repo, &["cycle", "close", "nope"]);
    assert!(err.contains("unknown cycle \"nope\""), "{err}");
    // A listed custom cycle is added to the file as text, comment kept.
    repo.ok(&[
        "cycle",
        "start",
        "FY27.H1",
        "--start",
        "2027-01-01",
        "--end",
        "2027-06-30",
    ]);
    let text = repo.state_file("okrs/cycles.yml");
    assert!(
        text.starts_with("# our rhythm\ncycles:\n  - id: 2026-Q4\n"),
        "{text}"
    );
    assert!(
        text.ends_with("  - id: FY27.H1\n    start: 2027-01-01\n    end: 2027-06-30\n"),
        "{text}"
    );
    assert!(repo
        .git(&["log", "-1", "--format=%B", "refs/okr/state"])
        .contains("Okr-Action: cycle-start"));
}

#[test]
fn closing_grades_with_the_score_formula_once() {
    let repo = repo_with(CYCLE_Q4);
    repo.ok(&["metric", "set", "ci.test_count", "85"]);
    repo.ok(&["metric", "set", "manual.latency_ms", "230"]);
    repo.ok(&["metric", "set", "manual.nps", "40"]);
    repo.ok(&["kr", "measure"]);
    repo.ok(&["kr", "checkin", "KR-2.1", "--confidence", "0.9"]);
    let scores = json(&repo.ok(&["kr", "score", "--json", "--cycle", "2026-Q4"]));
    let before = repo.state_tip().unwrap();
    let out = repo.ok(&["cycle", "close", "2026-Q4"]);
    assert!(
        out.contains("Cycle 2026-Q4 (2026-10-01 to 2026-12-31) graded:"),
        "{out}"
    );
    let tip = repo.state_tip().unwrap();
    assert_eq!(
        repo.git(&["rev-parse", &format!("{tip}^")]).trim(),
        before,
        "one commit"
    );
    let grades = json(&repo.state_file("grades/2026-Q4.json"));
    assert_eq!(grades["cycle"], "2026-Q4");
    let objectives = grades["objectives"].as_array().unwrap();
    assert_eq!(objectives.len(), 2);
    // Every KR's grade is its score; every objective's grade its roll-up.
    for o in objectives {
        let scored = scores[0]["objectives"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["objective_id"] == o["objective_id"])
            .unwrap();
        assert_eq!(o["grade"], scored["score"]);
        for k in o["key_results"].as_array().unwrap() {
            let s = kr_row(
                &serde_json::json!({"scopes": scores.clone()}),
                k["kr_id"].as_str().unwrap(),
            )
            .clone();
            assert_eq!(k["grade"], s["score"], "{k}");
        }
    }
    // By hand: KR-1.1 0.85 (weight 2), KR-1.2 (300-230)/(300-200) = 0.7, KR-2.1 30/40 = 0.75.
    let obj1 = &objectives[0];
    assert_eq!(obj1["type"], "committed");
    assert_eq!(obj1["expected"], 1.0);
    assert!((obj1["grade"].as_f64().unwrap() - (0.85 * 2.0 + 0.7) / 3.0).abs() < 1e-9);
    assert_eq!(obj1["on_target"], false);
    let obj2 = &objectives[1];
    assert_eq!(obj2["type"], "aspirational");
    assert_eq!(obj2["expected"], 0.7);
    assert_eq!(obj2["grade"], 0.75);
    assert_eq!(obj2["on_target"], true);
    assert_eq!(obj2["key_results"][0]["confidence"], 0.9);
    let message = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(message.contains("Okr-Action: cycle-close"), "{message}");
    assert!(message.contains("Okr-Grade: KR-2.1 0.75"), "{message}");
    // The report shows the grades of the cycle.
    let page = repo.path().join("r.html");
    repo.ok(&[
        "report",
        "--html",
        page.to_str().unwrap(),
        "--cycle",
        "2026-Q4",
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(r#"<h3 id="grades-2026-Q4">Grades of cycle 2026-Q4</h3>"#));
    assert!(html.contains(r#"data-grade-objective="OBJ-2""#));

    // No change after close: closing twice, checking in on its KRs.
    let err = refused(&repo, &["cycle", "close", "2026-Q4"]);
    assert!(
        err.contains("cycle 2026-Q4 is already closed (grades/2026-Q4.json"),
        "{err}"
    );
    assert!(err.contains("--reopen"), "{err}");
    let err = refused(&repo, &["kr", "checkin", "KR-1.1", "--confidence", "0.5"]);
    assert!(
        err.contains("belongs to cycle 2026-Q4, which is closed"),
        "{err}"
    );
    // --reopen grades again, with today's values.
    repo.ok(&["metric", "set", "manual.nps", "50"]);
    repo.ok(&["kr", "measure"]);
    repo.ok(&["cycle", "close", "2026-Q4", "--reopen"]);
    let grades = json(&repo.state_file("grades/2026-Q4.json"));
    assert_eq!(grades["objectives"][1]["grade"], 1.0);
}

/// Every field of a YAML mapping but those named.
fn without(v: &serde_yaml::Value, fields: &[&str]) -> serde_yaml::Mapping {
    let mut m = v.as_mapping().unwrap().clone();
    for f in fields {
        m.remove(*f);
    }
    m
}

#[test]
fn carry_over_is_a_proposal_that_loses_no_field() {
    let repo = repo_with(CYCLE_Q4);
    repo.ok(&["metric", "set", "ci.test_count", "85"]);
    repo.ok(&["metric", "set", "manual.latency_ms", "180"]); // KR-1.2 achieved
    repo.ok(&["metric", "set", "manual.nps", "20"]);
    repo.ok(&["kr", "measure"]);
    let err = refused(&repo, &["cycle", "start", "2027-Q1", "--carry"]);
    assert!(err.contains("cycle 2026-Q4 is not closed yet"), "{err}");
    repo.ok(&["cycle", "close", "2026-Q4"]);
    let old: serde_yaml::Value = serde_yaml::from_str(&repo.state_file("okrs/org.yml")).unwrap();
    let before = repo.state_tip().unwrap();
    let out = repo.ok(&["cycle", "start", "2027-Q1", "--carry"]);
    assert!(
        out.contains("add objective OBJ-1@2027-Q1 to okrs/org.yml: KR-1.1@2027-Q1"),
        "{out}"
    );
    assert!(
        out.contains("add objective OBJ-2@2027-Q1 to okrs/org.yml: KR-2.1@2027-Q1"),
        "{out}"
    );
    // A quarter needs no cycles.yml entry: one commit, the proposal; the OKRs are untouched.
    let tip = repo.state_tip().unwrap();
    assert_eq!(repo.git(&["rev-parse", &format!("{tip}^")]).trim(), before);
    assert_eq!(
        repo.git(&["diff", "--name-only", &before, &tip])
            .trim()
            .lines()
            .count(),
        1
    );
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Proposed "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    repo.ok(&["okr", "approve", &id]);
    repo.ok(&["apply", &id]);

    let new: serde_yaml::Value = serde_yaml::from_str(&repo.state_file("okrs/org.yml")).unwrap();
    let objectives = new["objectives"].as_sequence().unwrap();
    assert_eq!(objectives.len(), 4, "the closed cycle's objectives stay");
    assert_eq!(objectives[0], old["objectives"][0]);
    let carried = &objectives[2];
    let original = &old["objectives"][0];
    assert_eq!(carried["objective_id"], "OBJ-1@2027-Q1");
    assert_eq!(carried["cycle"], "2027-Q1");
    assert_eq!(carried["due"], "2027-03-31");
    assert_eq!(carried["carried_from"], "OBJ-1");
    assert_eq!(
        without(
            carried,
            &[
                "objective_id",
                "cycle",
                "due",
                "carried_from",
                "key_results"
            ]
        ),
        without(original, &["objective_id", "cycle", "due", "key_results"]),
        "objective fields kept (notes, type, owner)"
    );
    let krs = carried["key_results"].as_sequence().unwrap();
    assert_eq!(krs.len(), 1, "KR-1.2 was achieved and stays behind");
    let kr = &krs[0];
    let old_kr = &original["key_results"][0];
    assert_eq!(kr["kr_id"], "KR-1.1@2027-Q1");
    assert_eq!(
        kr["baseline"],
        serde_yaml::Value::from(85),
        "closing value is the new baseline"
    );
    assert_eq!(kr["status"], "not_started");
    assert_eq!(kr["carried_from"], "KR-1.1");
    assert_eq!(
        without(
            kr,
            &["kr_id", "baseline", "status", "current", "carried_from"]
        ),
        without(old_kr, &["kr_id", "baseline", "status", "current"]),
        "KR fields kept (description, owner, metric, target, weight, unit, unknown fields)"
    );
    assert_eq!(kr["custom_field"]["tags"][1], "b");
    // The new cycle is the one status shows for its days; carrying twice adds nothing new.
    let scores = json(&repo.ok(&["kr", "score", "--json", "--cycle", "2027-Q1"]));
    assert_eq!(scores[0]["objectives"].as_array().unwrap().len(), 2);
    let err = refused(&repo, &["cycle", "start", "2027-Q1", "--carry"]);
    assert!(
        err.contains("duplicate objective_id \"OBJ-1@2027-Q1\""),
        "{err}"
    );
}

/// Commit `files` (path, content) onto refs/okr/state with plain git, as a teammate
/// with a hand-made tree could.
fn craft(repo: &TestRepo, files: &[(&str, &str)]) -> String {
    let index = repo.path().join(".git/crafted-index");
    let with_index = |args: &[&str], input: Option<&str>| -> String {
        use std::io::Write;
        let mut cmd = repo.git_command(args);
        cmd.env("GIT_INDEX_FILE", &index);
        cmd.stdin(std::process::Stdio::piped());
        cmd.stdout(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.unwrap_or("").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    with_index(&["read-tree", "refs/okr/state"], None);
    for (path, content) in files {
        let blob = with_index(&["hash-object", "-w", "--stdin"], Some(content));
        with_index(
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("100644,{blob},{path}"),
            ],
            None,
        );
    }
    let tree = with_index(&["write-tree"], None);
    let commit = with_index(
        &[
            "commit-tree",
            &tree,
            "-p",
            "refs/okr/state",
            "-m",
            "crafted",
        ],
        None,
    );
    repo.git(&["update-ref", "refs/okr/state", &commit]);
    std::fs::remove_file(index).unwrap();
    commit
}

#[test]
fn hostile_checkins_and_grades_on_the_ref_are_named() {
    let repo = repo_with(CYCLE_Q4);
    // Outside the layout: refused as a tree, naming the path.
    let crafted = craft(&repo, &[("checkins/2026-11-30/evil.json", "{}")]);
    let err = repo.fails(&["status"]);
    assert!(err.contains("checkins/2026-11-30/evil.json"), "{err}");
    repo.git(&["update-ref", "refs/okr/state", &format!("{crafted}^")]);
    let crafted = craft(&repo, &[("grades/..x.json", "{}")]);
    assert!(repo.fails(&["status"]).contains("grades/..x.json"));
    repo.git(&["update-ref", "refs/okr/state", &format!("{crafted}^")]);
    // In the layout, but not a check-in: the file and field are named.
    let bad = r#"{"schema_version": 1, "kr_id": "KR-1.1", "at": "2026-11-30T10:00:00Z", "by": "mallory", "confidence": 7}"#;
    craft(&repo, &[("checkins/2026-11-30/100000-0000abcd.json", bad)]);
    let err = repo.fails(&["status"]);
    assert!(
        err.contains("checkins/2026-11-30/100000-0000abcd.json: confidence 7 is outside 0..1"),
        "{err}"
    );
    let err = refused(&repo, &["kr", "checkin", "KR-1.1", "--confidence", "0.5"]);
    assert!(err.contains("confidence 7 is outside 0..1"), "{err}");
}

#[test]
fn two_clones_checkins_merge_without_conflict() {
    let remote = TestRepo::bare();
    let clone = |r: &TestRepo| {
        let repo = TestRepo {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        };
        repo.git(&["clone", "-q", r.path().to_str().unwrap(), "."]);
        repo
    };
    let a = clone(&remote);
    a.ok(&["init"]);
    a.ok(&["sync"]);
    let b = clone(&remote);
    b.ok(&["sync"]);
    a.ok(&[
        "kr",
        "checkin",
        "KR-1.1",
        "--confidence",
        "0.3",
        "--note",
        "from a",
    ]);
    b.ok(&[
        "kr",
        "checkin",
        "KR-1.1",
        "--confidence",
        "0.9",
        "--note",
        "from b",
        "--status",
        "at_risk",
    ]);
    a.ok(&["sync"]);
    b.ok(&["sync"]);
    a.ok(&["sync"]);
    assert_eq!(a.state_tip(), b.state_tip());
    let files = a.git(&["ls-tree", "-r", "--name-only", "refs/okr/state", "checkins"]);
    assert_eq!(files.lines().count(), 2, "{files}");
    let history = json(&a.ok(&["kr", "history", "KR-1.1", "--json"]));
    let notes: Vec<&str> = history["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["note"].as_str())
        .collect();
    assert!(
        notes.contains(&"from a") && notes.contains(&"from b"),
        "{history}"
    );
}

#[test]
fn the_weekly_reminder_names_owners_and_the_journal_says_when_no_desktop_shows_it() {
    let okrs = CYCLE_Q4
        .replace("cycle: 2026-Q4", "cycle: 2020-Q4")
        .replace("due: 2026-12-31", "due: 2099-12-31");
    // A cycle that runs until 2099 and started long ago: every KR is quiet.
    let repo = TestRepo::with_state(&[
        ("okrs/org.yml", &okrs),
        (
            "okrs/cycles.yml",
            "cycles:\n  - id: 2020-Q4\n    start: 2020-10-01\n    end: 2099-12-31\n",
        ),
    ]);
    repo.ok(&["kr", "checkin", "KR-1.2", "--confidence", "0.7"]);
    let stale = json(&repo.ok(&["kr", "stale", "--json"]));
    assert_eq!(stale["stale_after_days"], 7);
    let owners: Vec<(Value, Vec<String>)> = stale["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let krs = o["krs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kr_id"].as_str().unwrap().to_string())
                .collect();
            (o["owner"].clone(), krs)
        })
        .collect();
    // KR-1.1 is alice's own, KR-1.2 was just checked in on, KR-2.1 has no owner anywhere.
    assert_eq!(
        owners,
        vec![
            (Value::from("alice"), vec!["KR-1.1".to_string()]),
            (Value::Null, vec!["KR-2.1".to_string()]),
        ]
    );
    let text = repo.ok(&["kr", "stale"]);
    assert!(
        text.starts_with("alice:\n  KR-1.1 has had no check-in or measured change this cycle"),
        "{text}"
    );

    repo.git(&["config", "okr.daemon.notify", "false"]);
    repo.ok(&["daemon", "enqueue", "checkin_reminder"]);
    let out = repo
        .okr()
        .args(["daemon", "run", "--once"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("notice: 📝 Check-in due: alice: KR-1.1 ("),
        "{log}"
    );
    let journal = json(&repo.ok(&["audit", "--local", "--json"]));
    let unshown: Vec<&Value> = journal
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "notify" && e["outcome"] == "not-shown")
        .collect();
    assert_eq!(unshown.len(), 2, "{journal}");
    assert!(unshown.iter().any(|e| e["message"]
        .as_str()
        .unwrap()
        .contains("Check-in due: alice")
        && e["message"]
            .as_str()
            .unwrap()
            .contains("notifications are off")));
    // A reminder never commits.
    assert!(!repo
        .git(&["log", "-1", "--format=%B", "refs/okr/state"])
        .contains("Okr-Actor: daemon"));
}
