//! `git okr ci ingest` on real repositories with the real binary, and the CI
//! points `kr measure` reads from the state ref.

mod common;

use common::TestRepo;
use git_okr::ctx::load_definitions;
use git_okr::metrics::ci;
use git_okr::store::{Changes, Commit, CommitMessage, Step, Store};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ci")
        .join(name)
        .display()
        .to_string()
}

fn initialized() -> TestRepo {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo
}

/// An OKRchestra workspace folder (the example org.yml plus `files`) to `init --from`.
fn workspace(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let org = include_str!("../src/templates/org.yml");
    for (path, content) in [("okrs/org.yml", org.as_bytes())].iter().chain(files) {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, content).unwrap();
    }
    dir
}

fn commits(repo: &TestRepo) -> u32 {
    repo.git(&["rev-list", "--count", "refs/okr/state"])
        .trim()
        .parse()
        .unwrap()
}

fn report(repo: &TestRepo) -> Value {
    serde_json::from_str(&repo.state_file("metrics/ci_report.json")).unwrap()
}

fn points(repo: &TestRepo) -> anyhow::Result<Vec<git_okr::model::snapshot::MetricPoint>> {
    let store = Store::discover(repo.path()).unwrap();
    let snap = store.snapshot().unwrap();
    let defs = load_definitions(&snap).unwrap();
    ci::points(&snap, &defs, chrono::Utc::now())
}

#[test]
fn ingest_records_report_and_history_in_one_commit() {
    let repo = initialized();
    let before = commits(&repo);
    let user_state = repo.user_visible_state();
    let (nextest, pytest, lcov) = (
        fixture("nextest-junit.xml"),
        fixture("pytest-junit.xml"),
        fixture("grcov.lcov"),
    );
    let out = repo.ok(&[
        "ci", "ingest", "--junit", &nextest, "--junit", &pytest, "--lcov", &lcov, "--build",
        "success",
    ]);
    assert!(
        out.contains("Tests: 13 (7 passed, 4 failed, 1 of them errors, 2 skipped)"),
        "{out}"
    );
    assert!(out.contains("Coverage: 70% of lines (7 of 10)"), "{out}");
    assert!(
        out.contains("Build success rate: 100% over the last 1 build (window 20)"),
        "{out}"
    );
    assert!(
        out.contains("Recorded metrics/ci_report.json and metrics/ci_history.jsonl at "),
        "{out}"
    );
    assert_eq!(
        commits(&repo),
        before + 1,
        "report and history in ONE commit"
    );

    let r = report(&repo);
    assert_eq!(r["schema_version"], 1);
    assert_eq!(
        r["commit"].as_str().unwrap(),
        repo.git(&["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(r["build"], "success");
    let m = &r["metrics"];
    assert_eq!(
        (m["test_count"].as_u64(), m["tests_passed"].as_u64()),
        (Some(13), Some(7))
    );
    assert_eq!(
        (m["tests_failed"].as_u64(), m["tests_skipped"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(m["coverage"].as_f64(), Some(70.0));
    assert_eq!(
        r["sources"],
        serde_json::json!([
            format!("junit: {nextest}"),
            format!("junit: {pytest}"),
            format!("lcov: {lcov}")
        ])
    );
    assert!(chrono::DateTime::parse_from_rfc3339(r["generated_at"].as_str().unwrap()).is_ok());

    let history = repo.state_file("metrics/ci_history.jsonl");
    assert_eq!(history.lines().count(), 1);
    let line: Value = serde_json::from_str(history.lines().next().unwrap()).unwrap();
    assert_eq!(line["build"], "success");
    assert_eq!(line["metrics"]["test_count"], 13);

    let message = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    assert!(
        message.starts_with("okr: ci ingest (13 tests, 70% coverage, build success)\n"),
        "{message}"
    );
    assert!(message.contains("Okr-Action: ci-ingest\n"), "{message}");
    assert!(
        message.contains(&format!("Okr-Actor: {}\n", common::AUTHOR_EMAIL)),
        "{message}"
    );
    assert_eq!(
        repo.user_visible_state(),
        user_state,
        "work tree, index, HEAD and branches untouched"
    );
}

#[test]
fn history_appends_and_build_rate_counts_the_last_window_of_builds() {
    let workspace = workspace(&[("metrics/definitions.yml", b"build_window: 3\n")]);
    let repo = TestRepo::with_commit();
    repo.ok(&["init", "--from", &workspace.path().display().to_string()]);
    let junit = fixture("go-junit-report.xml");
    for build in ["failure", "failure", "success", "success"] {
        repo.ok(&["ci", "ingest", "--junit", &junit, "--build", build]);
    }
    // An ingest without --build is recorded but not counted as a build.
    let out = repo.ok(&["ci", "ingest", "--junit", &junit]);
    assert!(
        out.contains("Build success rate: 66.6667% over the last 3 builds (window 3)"),
        "{out}"
    );
    let out = repo.ok(&["ci", "ingest", "--build", "success"]);
    assert!(
        out.contains("Build success rate: 100% over the last 3 builds (window 3)"),
        "{out}"
    );
    assert!(
        !out.contains("Tests:"),
        "a build-only report carries no test counts: {out}"
    );
    assert_eq!(
        repo.state_file("metrics/ci_history.jsonl").lines().count(),
        6
    );
    assert_eq!(report(&repo)["metrics"], serde_json::json!({}));

    let points = points(&repo).unwrap();
    let rate = points
        .iter()
        .find(|p| p.key == "ci.build_success_rate")
        .unwrap();
    assert_eq!(rate.value, 100.0);
    assert_eq!(rate.unit.as_deref(), Some("percent"));
    assert_eq!(rate.evidence, ["metrics/ci_history.jsonl"]);
    assert_eq!(rate.dimensions.get("builds").map(String::as_str), Some("3"));
    assert!(
        points.iter().all(|p| p.key != "ci.test_count"),
        "the latest report has no tests"
    );
}

#[test]
fn points_carry_every_numeric_key_with_source_unit_and_evidence() {
    let repo = initialized();
    assert!(points(&repo).unwrap().is_empty(), "no report, no points");
    let (surefire, cobertura, own) = (
        fixture("TEST-com.example.AppTest.xml"),
        fixture("coverage-py.xml"),
        fixture("ci_report-okrchestra.json"),
    );
    repo.ok(&[
        "ci",
        "ingest",
        "--junit",
        &surefire,
        "--cobertura",
        &cobertura,
        "--json",
        &own,
        "--build",
        "failure",
    ]);
    let generated_at = report(&repo)["generated_at"].as_str().unwrap().to_string();
    let points = points(&repo).unwrap();
    let get = |key: &str| {
        points
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no {key} in {points:?}"))
    };
    for (key, value, unit) in [
        ("ci.test_count", 5.0, Some("count")),
        ("ci.tests_passed", 2.0, Some("count")),
        ("ci.tests_failed", 2.0, Some("count")),
        ("ci.tests_skipped", 1.0, Some("count")),
        ("ci.coverage", 87.5, Some("percent")),
        ("ci.p95_latency_ms", 180.0, None),
        ("ci.flaky_tests", 3.0, None),
        ("ci.build_success_rate", 0.0, Some("percent")),
    ] {
        let p = get(key);
        assert_eq!((p.value, p.unit.as_deref()), (value, unit), "{key}");
        assert_eq!(p.source, "ci");
        assert_eq!(p.timestamp, generated_at);
    }
    assert_eq!(get("ci.test_count").evidence, ["metrics/ci_report.json"]);
    assert!(points
        .iter()
        .all(|p| p.key != "ci.schema_version" && p.key != "ci.enabled" && p.key != "ci.notes"));
}

#[test]
fn an_okrchestra_flat_report_becomes_points_too() {
    let report = std::fs::read(fixture("ci_report-okrchestra.json")).unwrap();
    let workspace = workspace(&[("metrics/ci_report.json", &report)]);
    let repo = TestRepo::with_commit();
    repo.ok(&["init", "--from", &workspace.path().display().to_string()]);
    let points = points(&repo).unwrap();
    let keys: Vec<(&str, f64)> = points.iter().map(|p| (p.key.as_str(), p.value)).collect();
    assert_eq!(
        keys,
        [
            ("ci.test_count", 85.0),
            ("ci.coverage", 72.5),
            ("ci.p95_latency_ms", 180.0),
            ("ci.flaky_tests", 3.0)
        ]
    );
}

#[test]
fn a_corrupt_report_on_the_ref_is_an_error_naming_it() {
    let repo = initialized();
    let store = Store::discover(repo.path()).unwrap();
    for (text, expected) in [
        (
            "{\"metrics\": {\"test_count\": 1",
            "metrics/ci_report.json:1:",
        ),
        ("[1, 2]", "metrics/ci_report.json: expected a JSON object"),
        (
            "{\"generated_at\": \"yesterday\"}",
            "metrics/ci_report.json: generated_at:",
        ),
    ] {
        store
            .transact(|_| {
                let mut changes = Changes::new();
                changes.write(ci::REPORT_FILE, text);
                Ok(Step::Commit(Commit {
                    changes,
                    message: CommitMessage::new("corrupt"),
                    value: (),
                }))
            })
            .unwrap();
        let err = format!("{:#}", points(&repo).unwrap_err());
        assert!(err.starts_with(expected), "{err}");
    }
}

#[test]
fn malformed_or_truncated_inputs_fail_naming_the_file_and_leave_the_ref_alone() {
    let repo = initialized();
    let good = fixture("nextest-junit.xml");
    for (flag, name, expected) in [
        (
            "--junit",
            "truncated-junit.xml",
            "truncated: <testcase> opened at line 14 is never closed",
        ),
        ("--junit", "truncated-pytest.xml", ":6: malformed XML"),
        ("--junit", "malformed-junit.xml", ":4: malformed XML"),
        ("--junit", "not-junit.xml", ":2: not a JUnit XML report"),
        (
            "--lcov",
            "truncated.lcov",
            ":25: truncated: the record for src/main.rs",
        ),
        (
            "--lcov",
            "malformed.lcov",
            ":15: DA: hits \"zero\" is not a whole number",
        ),
        (
            "--cobertura",
            "truncated-cobertura.xml",
            ": truncated: <class> opened at line 11",
        ),
        (
            "--cobertura",
            "malformed-cobertura.xml",
            ":2: <coverage> attribute line-rate=\"high\" is not a number",
        ),
        (
            "--cobertura",
            "nextest-junit.xml",
            ":2: not a Cobertura report",
        ),
    ] {
        let tip = repo.state_tip();
        let bad = fixture(name);
        let out = repo.run(&[
            "ci", "ingest", "--junit", &good, flag, &bad, "--build", "success",
        ]);
        assert!(!out.status.success(), "{name} should be rejected");
        let err = common::stderr(&out);
        assert!(
            err.starts_with(&format!("error: {bad}")) && err.contains(expected),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
        assert_eq!(repo.state_tip(), tip, "{name}: nothing committed");
    }
    let err = repo.fails(&["ci", "ingest", "--json", &fixture("nested-suites.xml")]);
    assert!(err.contains("nested-suites.xml:1:"), "{err}");
}

#[test]
fn missing_file_no_inputs_and_no_state_are_clear_errors() {
    let repo = initialized();
    let tip = repo.state_tip();
    let err = repo.fails(&[
        "ci",
        "ingest",
        "--junit",
        &fixture("nextest-junit.xml"),
        "--lcov",
        "no-such.info",
    ]);
    assert!(
        err.contains("reading no-such.info") && err.contains("No such file"),
        "{err}"
    );
    let out = repo.run(&["ci", "ingest"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("--junit <FILE>|--lcov <FILE>"),
        "{}",
        common::stderr(&out)
    );
    let err = repo.fails(&["ci", "ingest", "--build", "green"]);
    assert!(err.contains("green"), "{err}");
    assert_eq!(repo.state_tip(), tip);

    let fresh = TestRepo::with_commit();
    let err = fresh.fails(&["ci", "ingest", "--junit", &fixture("nextest-junit.xml")]);
    assert!(err.contains("run `git okr init` first"), "{err}");
    assert_eq!(fresh.state_tip(), None);
}

#[test]
fn ingest_works_in_a_repository_without_commits() {
    let repo = TestRepo::new();
    repo.ok(&["init"]);
    repo.ok(&["ci", "ingest", "--lcov", &fixture("lcov-merged.info")]);
    let r = report(&repo);
    assert!(r.get("commit").is_none(), "no HEAD, no commit: {r}");
    assert_eq!(r["metrics"]["coverage"], 75.0);
}
