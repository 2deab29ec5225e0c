//! `kr measure`, `kr score` and `status`: OKRchestra's workflow end to end.

mod common;

use common::TestRepo;

const OKRS: &str = common::fixtures::THREE_KRS_ONE_BLOCKED;

const TEAM: &str = "scope: team
owner_id: team-web
objectives:
  - objective_id: OBJ-T1
    objective: Docs
    key_results:
      - kr_id: KR-T1.1
        metric_key: manual.docs_pages
        baseline: 0
        target: 4
";

const GIT_KRS: &str = "scope: team
owner_id: team-git
objectives:
  - objective_id: OBJ-G
    objective: Grow the code
    key_results:
      - kr_id: KR-G.1
        metric_key: git.commits
        baseline: 0
        target: 1000
      - kr_id: KR-G.2
        metric_key: git.lines_added
        baseline: 0
        target: 100000
";

fn setup() -> TestRepo {
    TestRepo::with_state(&[("okrs/org.yml", OKRS), ("okrs/team-web.yml", TEAM)])
}

fn today() -> String {
    chrono::Local::now().format("%Y-%m-%d").to_string()
}

fn status_of(repo: &TestRepo, file: &str, kr: &str) -> String {
    let doc: serde_yaml::Value = serde_yaml::from_str(&repo.state_file(file)).unwrap();
    for o in doc["objectives"].as_sequence().unwrap() {
        for k in o["key_results"].as_sequence().unwrap() {
            if k["kr_id"].as_str() == Some(kr) {
                return k["status"].as_str().unwrap_or("not_started").to_string();
            }
        }
    }
    panic!("{kr} not found");
}

#[test]
fn okrchestra_workflow_end_to_end() {
    let repo = setup();
    repo.ok(&["metric", "set", "ci.test_count", "85", "--unit", "count"]);
    repo.ok(&["metric", "set", "manual.vendor", "50"]);
    let out = repo.ok(&["kr", "measure"]);
    let snapshot = format!("metrics/snapshots/{}.json", today());
    assert!(
        out.contains("Status updated: KR-1.1 not_started -> in_progress (85/100)\n"),
        "{out}"
    );
    assert!(
        out.contains("No value: KR-1.2 (metric manual.latency_ms); status unchanged"),
        "{out}"
    );
    assert!(
        out.ends_with(&format!("Wrote snapshot: {snapshot}\n")),
        "{out}"
    );
    assert_eq!(status_of(&repo, "okrs/org.yml", "KR-1.1"), "in_progress");
    assert_eq!(
        status_of(&repo, "okrs/org.yml", "KR-1.3"),
        "blocked",
        "a blocked KR is left alone"
    );

    repo.ok(&["metric", "set", "ci.test_count", "102"]);
    repo.ok(&["metric", "set", "manual.latency_ms", "250"]);
    let before = repo.git(&["rev-list", "--count", "refs/okr/state"]);
    let out = repo.ok(&["kr", "measure"]);
    assert!(
        out.contains("Status updated: KR-1.1 in_progress -> achieved (102/100)\n"),
        "{out}"
    );
    assert!(
        out.contains("Status updated: KR-1.2 not_started -> in_progress (250/200)\n"),
        "{out}"
    );
    let after = repo.git(&["rev-list", "--count", "refs/okr/state"]);
    assert_eq!(
        after.trim().parse::<u32>().unwrap(),
        before.trim().parse::<u32>().unwrap() + 1,
        "one commit"
    );
    // Snapshot, statuses and evidence are in that one commit.
    let changed = repo.git(&["show", "--name-only", "--format=", "refs/okr/state"]);
    assert_eq!(changed, format!("{snapshot}\nokrs/org.yml\n"));
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(msg.starts_with("okr: measure (2 status changes)"), "{msg}");
    assert!(
        msg.contains("Okr-Status: KR-1.1 in_progress -> achieved (102/100)"),
        "{msg}"
    );
    assert!(msg.contains(&format!("Okr-Snapshot: {snapshot}")), "{msg}");
    let org: serde_yaml::Value = serde_yaml::from_str(&repo.state_file("okrs/org.yml")).unwrap();
    let evidence = org["objectives"][0]["key_results"][0]["evidence"]
        .as_sequence()
        .unwrap();
    assert_eq!(
        evidence.last().and_then(|e| e.as_str()),
        Some(
            format!(
                "{snapshot} ci.test_count=102 source=manual commit={}",
                &repo.git(&["rev-parse", "HEAD"])[..12]
            )
            .as_str()
        ),
        "{evidence:?}"
    );
    let snap: serde_json::Value = serde_json::from_str(&repo.state_file(&snapshot)).unwrap();
    assert_eq!(snap["schema_version"], 1);
    assert_eq!(snap["as_of"], today());
    let point = snap["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "ci.test_count")
        .unwrap();
    assert_eq!(point["value"], 102.0);
    assert_eq!(point["unit"], "count");

    // The decreasing KR reaches its target going down.
    repo.ok(&["metric", "set", "manual.latency_ms", "190"]);
    let out = repo.ok(&["kr", "measure"]);
    assert!(
        out.contains("Status updated: KR-1.2 in_progress -> achieved (190/200)"),
        "{out}"
    );

    // Nothing changed: no commit, and it says so.
    let tip = repo.state_tip();
    let out = repo.ok(&["kr", "measure"]);
    assert!(out.contains("nothing committed"), "{out}");
    assert_eq!(repo.state_tip(), tip);

    // A fall below target is a regression, not a status change.
    repo.ok(&["metric", "set", "ci.test_count", "95"]);
    let out = repo.ok(&["kr", "measure"]);
    assert!(
        out.contains("Regression: KR-1.1 is achieved but measures 95/100"),
        "{out}"
    );
    assert_eq!(status_of(&repo, "okrs/org.yml", "KR-1.1"), "achieved");
    let msg = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(msg.contains("Okr-Regression: KR-1.1 95/100"), "{msg}");
}

#[test]
fn every_scope_is_measured() {
    let repo = setup();
    repo.ok(&["metric", "set", "manual.docs_pages", "4"]);
    let out = repo.ok(&["kr", "measure"]);
    assert!(
        out.contains("Status updated: KR-T1.1 not_started -> achieved (4/4)"),
        "{out}"
    );
    assert_eq!(status_of(&repo, "okrs/team-web.yml", "KR-T1.1"), "achieved");
}

#[test]
fn a_decreasing_kr_does_not_start_by_going_up() {
    let repo = setup();
    repo.ok(&["metric", "set", "manual.latency_ms", "320"]);
    let out = repo.ok(&["kr", "measure"]);
    assert!(!out.contains("KR-1.2 not_started ->"), "{out}");
    assert_eq!(status_of(&repo, "okrs/org.yml", "KR-1.2"), "not_started");
}

#[test]
fn score_and_status_show_the_rollup() {
    let repo = setup();
    repo.ok(&["metric", "set", "ci.test_count", "50"]);
    repo.ok(&["metric", "set", "manual.latency_ms", "250"]);
    repo.ok(&["kr", "measure"]);
    let json: serde_json::Value =
        serde_json::from_str(&repo.ok(&["kr", "score", "--json"])).unwrap();
    let org = json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == "org")
        .unwrap();
    let obj = &org["objectives"][0];
    let scores: Vec<f64> = obj["key_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["score"].as_f64().unwrap())
        .collect();
    assert_eq!(scores, vec![0.5, 0.5, 0.0]);
    assert!((obj["score"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let table = repo.ok(&["kr", "score"]);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["KR-1.1", "50", "100", "0.50", "in_progress"]),
        "{table}"
    );
    assert!(table.contains("scope team"), "{table}");
    assert!(!table.contains('\x1b'), "no colour when not a terminal");
    let status = repo.ok(&["status"]);
    assert!(
        status.contains("OBJ-1 Ship production-ready feature  0.33"),
        "{status}"
    );
    assert!(status.contains("KR-1.3 is blocked"), "{status}");
    assert!(
        status.contains("KR-T1.1 has no value for manual.docs_pages"),
        "{status}"
    );
}

#[test]
fn measure_needs_a_valid_state() {
    let repo = TestRepo::with_commit();
    let err = repo.fails(&["kr", "measure"]);
    assert!(err.contains("git okr init"), "{err}");
    repo.ok(&["init"]);
    let tip = repo.state_tip();
    let err = repo.fails(&["kr", "measure", "--rev", "no-such-branch"]);
    assert!(err.contains("--rev no-such-branch"), "{err}");
    assert_eq!(repo.state_tip(), tip);
}

#[test]
fn ci_metrics_drive_statuses() {
    let repo = setup();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ci/pytest-junit.xml"
    );
    repo.ok(&["ci", "ingest", "--junit", fixture, "--build", "success"]);
    let out = repo.ok(&["kr", "measure", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let change = &json["status_changes"][0];
    assert_eq!(change["kr_id"], "KR-1.1");
    assert_eq!(change["to"], "in_progress");
    assert_eq!(
        change["current"], 7.0,
        "seven test cases in the pytest report"
    );
    let snapshot = repo.state_file(&format!("metrics/snapshots/{}.json", today()));
    let snap: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    let rate = snap["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "ci.build_success_rate")
        .unwrap();
    assert_eq!(rate["value"], 100.0);
    assert_eq!(rate["source"], "ci");
}

#[test]
fn git_metrics_come_from_the_repository() {
    let repo = TestRepo::with_state(&[("okrs/org.yml", OKRS), ("okrs/team-git.yml", GIT_KRS)]);
    for i in 0..4 {
        repo.write(&format!("src/f{i}.rs"), "fn main() {}\n".repeat(i + 1));
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", &format!("c{i}")]);
    }
    let out = repo.ok(&["kr", "measure", "--json"]);
    assert!(
        serde_json::from_str::<serde_json::Value>(&out).is_ok(),
        "{out}"
    );
    let snap: serde_json::Value =
        serde_json::from_str(&repo.state_file(&format!("metrics/snapshots/{}.json", today())))
            .unwrap();
    let value = |key: &str| {
        snap["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == key)
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    let commits: f64 = repo
        .git(&["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(value("git.commits"), commits);
    assert_eq!(value("git.commits_30d"), commits);
    assert_eq!(value("git.contributors"), 1.0);
    let added: f64 = repo
        .git(&["log", "--numstat", "--format="])
        .lines()
        .filter_map(|l| l.split('\t').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(value("git.lines_added"), added);
    assert_eq!(
        value("git.lines_changed"),
        added + value("git.lines_removed")
    );
    let evidence = snap["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "git.commits")
        .unwrap()["evidence"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        evidence,
        format!("HEAD @ {}", repo.git(&["rev-parse", "HEAD"]).trim())
    );
}

#[test]
fn status_lists_proposals_waiting_for_people() {
    let repo = setup();
    let status = repo.ok(&["status"]);
    assert!(!status.contains("proposal"), "{status}");
    repo.ok(&[
        "propose",
        "--set",
        "KR-1.1.target=120",
        "--reason",
        "raise the bar",
    ]);
    repo.ok(&[
        "propose",
        "--set",
        "KR-1.2.target=180",
        "--reason",
        "faster",
    ]);
    let status = repo.ok(&["status"]);
    assert!(
        status.contains("2 proposal(s) wait for review: git okr okr list --status proposed"),
        "{status}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&repo.ok(&["okr", "list", "--json"])).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    repo.ok(&["okr", "approve", &id]);
    let status = repo.ok(&["status"]);
    assert!(status.contains("1 proposal(s) wait for review"), "{status}");
    assert!(
        status.contains("1 approved proposal(s) not applied yet"),
        "{status}"
    );
}

#[test]
fn measure_edits_only_the_lines_it_changes() {
    let commented = OKRS
        .replace("objectives:\n", "# Reviewed every Monday.\nobjectives:\n")
        .replace(
            "        target: 100\n",
            "        target: 100   # agreed with sales\n",
        );
    let repo = TestRepo::with_state(&[("okrs/org.yml", &commented)]);
    repo.ok(&["metric", "set", "ci.test_count", "85"]);
    repo.ok(&["kr", "measure"]);
    repo.ok(&["metric", "set", "ci.test_count", "102"]);
    repo.ok(&["kr", "measure"]);
    let org = repo.state_file("okrs/org.yml");
    assert!(org.contains("# Reviewed every Monday.\n"), "{org}");
    assert!(
        org.contains("        target: 100   # agreed with sales\n"),
        "{org}"
    );
    assert_eq!(status_of(&repo, "okrs/org.yml", "KR-1.1"), "achieved");
    let doc: serde_yaml::Value = serde_yaml::from_str(&org).unwrap();
    let kr = &doc["objectives"][0]["key_results"][0];
    assert_eq!(kr["current"].as_f64(), Some(102.0));
    assert_eq!(kr["evidence"].as_sequence().unwrap().len(), 2);
    // Only KR-1.1's lines changed in the last commit.
    let diff = repo.git(&[
        "diff",
        "refs/okr/state~1",
        "refs/okr/state",
        "--",
        "okrs/org.yml",
    ]);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert!(
        changed
            .iter()
            .all(|l| ["status:", "evidence:", "current:", "last_updated:"]
                .iter()
                .any(|k| l.contains(k))),
        "{diff}"
    );
}

/// Key results using no line metric: the measurement diffs no blob, and its
/// snapshot has the other git metrics but no `git.lines_*`.
#[test]
fn no_line_key_results_no_line_points() {
    let repo = setup();
    repo.write("a.txt", "a\n");
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "a"]);
    repo.ok(&["kr", "measure"]);
    let snap = repo.state_file(&format!("metrics/snapshots/{}.json", today()));
    assert!(snap.contains("\"git.commits\""), "{snap}");
    assert!(!snap.contains("\"git.lines_"), "{snap}");
}
