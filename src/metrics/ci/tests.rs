//! Parser and report tests on fixtures written as each tool writes them.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ci/",
            $name
        ))
    };
}

fn counts(
    total: u64,
    passed: u64,
    failed: u64,
    errored: u64,
    skipped: u64,
) -> (u64, u64, u64, u64, u64) {
    (total, passed, failed, errored, skipped)
}

fn junit(name: &str, text: &str) -> (u64, u64, u64, u64, u64) {
    let c = junit::parse(name, text).unwrap();
    assert_eq!(
        c.total,
        c.passed + c.failed + c.errored + c.skipped,
        "{name}"
    );
    (c.total, c.passed, c.failed, c.errored, c.skipped)
}

#[test]
fn junit_from_nextest_counts_flaky_as_passed_and_retried_failures_once() {
    assert_eq!(
        junit("nextest", fixture!("nextest-junit.xml")),
        counts(6, 4, 2, 0, 0)
    );
    let c = junit::parse("nextest", fixture!("nextest-junit.xml")).unwrap();
    assert_eq!(
        c.failures,
        [
            "git-okr::store::tests::compare_and_swap",
            "git-okr::ci::ingest_rejects_truncated_junit"
        ]
    );
}

#[test]
fn junit_from_pytest_surefire_and_go_junit_report() {
    assert_eq!(
        junit("pytest", fixture!("pytest-junit.xml")),
        counts(7, 3, 1, 1, 2)
    );
    assert_eq!(
        junit("surefire", fixture!("TEST-com.example.AppTest.xml")),
        counts(5, 2, 1, 1, 1)
    );
    assert_eq!(
        junit("go", fixture!("go-junit-report.xml")),
        counts(4, 1, 1, 1, 1)
    );
    let go = junit::parse("go", fixture!("go-junit-report.xml")).unwrap();
    assert_eq!(
        go.failures,
        [
            "example.com/app::TestDivide",
            "example.com/app/broken::[build failed]"
        ]
    );
}

#[test]
fn junit_counts_test_cases_of_nested_suites_once() {
    assert_eq!(
        junit("nested", fixture!("nested-suites.xml")),
        counts(3, 2, 0, 0, 1)
    );
}

#[test]
fn junit_counts_come_from_test_cases_not_attributes() {
    // The suite claims 50 tests and no failures; its test cases say otherwise.
    let text = r#"<testsuite name="s" tests="50" failures="0"><testcase name="a"><failure/></testcase><testcase name="b"/></testsuite>"#;
    assert_eq!(junit("lying.xml", text), counts(2, 1, 1, 0, 0));
}

#[test]
fn junit_without_test_cases_falls_back_to_declared_totals() {
    assert_eq!(
        junit("summary", fixture!("summary-only.xml")),
        counts(10, 4, 2, 1, 3)
    );
    let text = r#"<testsuites tests="4" failures="1"></testsuites>"#;
    assert_eq!(junit("root.xml", text), counts(4, 3, 1, 0, 0));
    assert_eq!(
        junit("empty.xml", r#"<testsuites name="pytest"/>"#),
        counts(0, 0, 0, 0, 0)
    );
    let err = junit::parse("bad.xml", r#"<testsuite tests="2" failures="3"/>"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("bad.xml:1: the suite declares 3 failures"),
        "{err}"
    );
    let err = junit::parse(
        "bad.xml",
        "<testsuites>\n<testsuite tests=\"many\"/></testsuites>",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "bad.xml:2: <testsuite> attribute tests=\"many\" is not a number"
    );
}

#[test]
fn junit_errors_name_the_file_and_line() {
    let err = junit::parse("truncated-junit.xml", fixture!("truncated-junit.xml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "truncated-junit.xml: truncated: <testcase> opened at line 14 is never closed"
    );
    let err = junit::parse("truncated-pytest.xml", fixture!("truncated-pytest.xml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("truncated-pytest.xml:6: malformed XML:"),
        "{err}"
    );
    let err = junit::parse("malformed-junit.xml", fixture!("malformed-junit.xml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("malformed-junit.xml:4: malformed XML:") && err.contains("</error>"),
        "{err}"
    );
    let err = junit::parse("pom.xml", fixture!("not-junit.xml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("pom.xml:2: not a JUnit XML report: the root element is <project>"),
        "{err}"
    );
    let err = junit::parse("grcov.lcov", fixture!("grcov.lcov"))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "grcov.lcov: no XML element found (not an XML file?)");
    let err = junit::parse("two.xml", "<testsuite/>\n<testsuite/>")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("two.xml:2: malformed XML: a second root element"),
        "{err}"
    );
}

#[test]
fn lcov_from_grcov_sums_lf_and_lh() {
    assert_eq!(
        lcov::parse("grcov.lcov", fixture!("grcov.lcov")).unwrap(),
        LineCoverage {
            covered: 7,
            valid: 10
        }
    );
}

#[test]
fn lcov_merges_records_of_one_file_and_counts_da_without_totals() {
    // parse.c twice (lines 10–12 hit by one run or the other, 13 by none) + main.c without LF/LH (3 of 4).
    assert_eq!(
        lcov::parse("lcov-merged.info", fixture!("lcov-merged.info")).unwrap(),
        LineCoverage {
            covered: 6,
            valid: 8
        }
    );
}

#[test]
fn lcov_errors_name_the_file_and_line() {
    let err = lcov::parse("truncated.lcov", fixture!("truncated.lcov"))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "truncated.lcov:25: truncated: the record for src/main.rs begun at line 20 has no end_of_record");
    let err = lcov::parse("malformed.lcov", fixture!("malformed.lcov"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "malformed.lcov:15: DA: hits \"zero\" is not a whole number"
    );
    let err = lcov::parse("empty.info", "\n").unwrap_err().to_string();
    assert_eq!(
        err,
        "empty.info: no LCOV records (SF: … end_of_record) found"
    );
    let err = lcov::parse("x.info", "DA:1,1\n").unwrap_err().to_string();
    assert!(
        err.starts_with("x.info:1: DA: line outside a record"),
        "{err}"
    );
    let err = lcov::parse("x.info", "SF:a\nDA:1,1\nSF:b\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("x.info:3: SF: line inside the record for a"),
        "{err}"
    );
    let err = lcov::parse("junit.xml", fixture!("nested-suites.xml"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("junit.xml:1: not an LCOV line"), "{err}");
    let err = lcov::parse("x.info", "SF:a\nLF:2\nLH:3\nend_of_record\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("x.info:4: record for a says LH:3 of LF:2"),
        "{err}"
    );
}

#[test]
fn cobertura_prefers_line_counts_else_line_rate() {
    assert_eq!(
        cobertura::parse("coverage.xml", fixture!("coverage-py.xml")).unwrap(),
        cobertura::CoberturaLines::Counts(LineCoverage {
            covered: 175,
            valid: 200
        })
    );
    assert_eq!(
        cobertura::parse("coverage.xml", fixture!("cobertura-maven-1.9.xml")).unwrap(),
        cobertura::CoberturaLines::Rate(81.25)
    );
}

#[test]
fn cobertura_errors_name_the_file_and_line() {
    let err = cobertura::parse("t.xml", fixture!("truncated-cobertura.xml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "t.xml: truncated: <class> opened at line 11 is never closed"
    );
    let err = cobertura::parse("m.xml", fixture!("malformed-cobertura.xml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "m.xml:2: <coverage> attribute line-rate=\"high\" is not a number"
    );
    let err = cobertura::parse("j.xml", fixture!("nextest-junit.xml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("j.xml:2: not a Cobertura report: the root element is <testsuites>"),
        "{err}"
    );
    let err = cobertura::parse("c.xml", r#"<coverage lines-covered="3" lines-valid="2"/>"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("exceeds lines-valid"), "{err}");
    let err = cobertura::parse("c.xml", "<coverage/>")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("neither lines-covered/lines-valid nor line-rate"),
        "{err}"
    );
}

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-18T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn report_adds_up_junit_files_and_coverage_files() {
    let mut b = ReportBuilder::new();
    b.junit("a.xml", fixture!("nextest-junit.xml")).unwrap();
    b.junit("b.xml", fixture!("pytest-junit.xml")).unwrap();
    b.lcov("a.info", fixture!("grcov.lcov")).unwrap();
    b.cobertura("c.xml", fixture!("coverage-py.xml")).unwrap();
    b.build(Build::Success);
    let r = b.finish(at(), Some("abc".into()));
    let keys: Vec<(&str, f64)> = r.metrics.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        keys,
        [
            ("test_count", 13.0),
            ("tests_passed", 7.0),
            ("tests_failed", 4.0),
            ("tests_skipped", 2.0),
            ("tests_errored", 1.0),
            ("coverage", 86.6667), // (7 + 175) / (10 + 200)
            ("lines_covered", 182.0),
            ("lines_total", 210.0),
        ]
    );
    assert_eq!(r.summary(), "13 tests, 86.67% coverage, build success");
    assert_eq!(
        r.sources,
        [
            "junit: a.xml",
            "junit: b.xml",
            "lcov: a.info",
            "cobertura: c.xml"
        ]
    );
    let json: Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["generated_at"], "2026-01-18T09:00:00Z");
    assert_eq!(json["commit"], "abc");
    assert_eq!(json["build"], "success");
    assert_eq!(
        json["metrics"]["test_count"].to_string(),
        "13",
        "whole numbers stay integers"
    );
    assert_eq!(json["failed_tests"].as_array().unwrap().len(), 4);
    let line: Value = serde_json::from_str(r.history_line().trim_end()).unwrap();
    assert_eq!(line["build"], "success");
    assert_eq!(line["metrics"]["coverage"], 86.6667);
    assert!(r.history_line().ends_with('\n') && r.history_line().matches('\n').count() == 1);
}

#[test]
fn rate_only_coverage_cannot_mix_with_line_counts() {
    let mut b = ReportBuilder::new();
    b.cobertura("old.xml", fixture!("cobertura-maven-1.9.xml"))
        .unwrap();
    assert_eq!(b.finish(at(), None).value("coverage"), Some(81.25));
    let err = b
        .lcov("a.info", fixture!("grcov.lcov"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("old.xml gives only line-rate"), "{err}");
}

#[test]
fn own_json_merges_numeric_keys_and_parsed_inputs_win() {
    let mut b = ReportBuilder::new();
    b.json("own.json", fixture!("ci_report-okrchestra.json"))
        .unwrap();
    b.cobertura("c.xml", fixture!("coverage-py.xml")).unwrap();
    let r = b.finish(at(), None);
    assert_eq!(
        r.value("coverage"),
        Some(87.5),
        "the parsed Cobertura wins over the JSON's 72.5"
    );
    assert_eq!(r.value("test_count"), Some(85.0));
    assert_eq!(r.value("p95_latency_ms"), Some(180.0));
    assert_eq!(r.value("flaky_tests"), Some(3.0));
    assert_eq!(r.value("schema_version"), None);
    assert_eq!(r.value("enabled"), None);
    assert_eq!(r.build, None);
    assert_eq!(r.summary(), "85 tests, 87.5% coverage");

    let err = ReportBuilder::new()
        .json("own.json", "{\n  \"a\": 1,\n}")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("own.json:3:"), "{err}");
    let err = ReportBuilder::new()
        .json("own.json", "[1]")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "own.json: expected a JSON object");
    let err = ReportBuilder::new()
        .json("own.json", r#"{"build": "green"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("build: \"green\" is neither"), "{err}");
    let mut b = ReportBuilder::new();
    b.json("own.json", r#"{"build": "failure", "metrics": {"x": 1}}"#)
        .unwrap();
    assert_eq!(b.finish(at(), None).build, Some(Build::Failure));
}

#[test]
fn numeric_keys_flat_nested_listed_or_prefixed() {
    let v: Value = serde_json::from_str(
        r#"{"schema_version": 2, "a": 1, "b": "x", "ci.c": 2.5, "d": 1,
            "metrics": {"d": 7, "e": true, "f": -3, "g": null, "notes": "nightly"}, "nested": {"g": 1}}"#,
    )
    .unwrap();
    let got = numeric_metrics("r.json", &v).unwrap();
    assert_eq!(
        got,
        [
            ("a".into(), 1.0),
            ("c".into(), 2.5),
            ("d".into(), 7.0),
            ("f".into(), -3.0)
        ]
    );
    let v: Value = serde_json::from_str(
        r#"{"metrics": [{"key": "ci.test_count", "value": 85}, {"key": "x"}]}"#,
    )
    .unwrap();
    assert_eq!(
        numeric_metrics("r.json", &v).unwrap(),
        [("test_count".into(), 85.0)]
    );
}

#[test]
fn keys_that_are_not_metric_keys_and_junk_values_are_named() {
    for (json, named) in [
        (r#"{"bad key": 4}"#, "\"bad key\""),
        (r#"{"metrics": {"tests passed": 4}}"#, "\"tests passed\""),
        (
            r#"{"metrics": {"e": "12abc"}}"#,
            "\"e\" is \"12abc\", not a number",
        ),
        (r#"{"metrics": {"e": "-3 ms"}}"#, "\"e\" is \"-3 ms\""),
        (r#"{"metrics": [{"key": "a b", "value": 1}]}"#, "\"a b\""),
    ] {
        let v: Value = serde_json::from_str(json).unwrap();
        let err = numeric_metrics("r.json", &v).unwrap_err().to_string();
        assert!(
            err.starts_with("r.json: ") && err.contains(named),
            "{json}: {err}"
        );
    }
}

#[test]
fn junit_counts_that_overflow_are_refused_naming_the_attribute() {
    let xml = r#"<testsuite name="s" tests="99999999999999999999999999" failures="0"></testsuite>"#;
    let err = ReportBuilder::new()
        .junit("r.xml", xml)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tests=99999999999999999999999999") && err.contains("too large"),
        "{err}"
    );
}

fn entry(build: Option<Build>) -> HistoryEntry {
    HistoryEntry {
        generated_at: Some("2026-01-18T09:00:00Z".into()),
        build,
    }
}

#[test]
fn build_rate_is_a_percent_over_the_last_builds_only() {
    use Build::*;
    let mut history = vec![entry(Some(Failure)), entry(Some(Failure))];
    history.extend((0..3).map(|_| entry(Some(Success))));
    history.push(entry(None)); // an ingest without --build does not count
    history.push(entry(Some(Failure)));
    let rate = build_success_rate(&history, 4).unwrap();
    assert_eq!((rate.percent, rate.builds, rate.window), (75.0, 4, 4));
    let rate = build_success_rate(&history, 20).unwrap();
    assert_eq!((rate.percent, rate.builds), (50.0, 6));
    let rate = build_success_rate(&history, 3).unwrap();
    assert_eq!(rate.percent, 66.6667);
    assert_eq!(build_success_rate(&[entry(None)], 20), None);
}

#[test]
fn history_lines_are_checked() {
    let text = "{\"build\":\"success\"}\n\n{\"build\":\"failure\",\"generated_at\":\"2026-01-19T00:00:00Z\"}\n";
    let h = parse_history(HISTORY_FILE, text).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].build, Some(Build::Failure));
    let err = parse_history(HISTORY_FILE, "{\"build\":\"success\"}\n{\"build\": \n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("metrics/ci_history.jsonl:2:"), "{err}");
    let err = parse_history(HISTORY_FILE, "{\"build\":\"ok\"}\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("metrics/ci_history.jsonl:1: build:"),
        "{err}"
    );
}

#[test]
fn lcov_counts_a_line_listed_twice_once() {
    let text = "SF:a.c\nDA:3,0\nDA:3,2\nDA:4,0\nDA:4,0\nend_of_record\n";
    assert_eq!(
        lcov::parse("a.info", text).unwrap(),
        LineCoverage {
            covered: 1,
            valid: 2
        }
    );
}
