//! JUnit XML as cargo-nextest, pytest, Maven Surefire and go-junit-report write
//! it: a `<testsuites>` root or a bare `<testsuite>`, suites possibly nested.
//! Outcomes are counted from the `<testcase>` elements themselves; the suites'
//! `tests`/`failures`/… attributes are only used when a file has no test cases.

use super::xml::walk;
use anyhow::{bail, Result};

/// How many tests ended which way. `failed` and `errored` are kept apart as
/// JUnit does; `ci.tests_failed` is their sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestCounts {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub skipped: u64,
    /// `classname::name` of failed and errored tests, in file order.
    pub failures: Vec<String>,
}

impl TestCounts {
    pub fn add(&mut self, other: TestCounts) {
        self.total += other.total;
        self.passed += other.passed;
        self.failed += other.failed;
        self.errored += other.errored;
        self.skipped += other.skipped;
        self.failures.extend(other.failures);
    }
}

/// The outcome of one test case, worst wins: a case with `<error>` and `<skipped>` errored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CaseOutcome {
    Passed,
    Skipped,
    Failed,
    Errored,
}

struct Case {
    name: String,
    outcome: CaseOutcome,
}

/// Parse the JUnit XML `text` read from `file`.
pub fn parse(file: &str, text: &str) -> Result<TestCounts> {
    let mut cases: Vec<Case> = Vec::new();
    // Attribute totals of the outermost suites, for files that carry no test cases.
    let mut declared = TestCounts::default();
    let mut root_declared: Option<TestCounts> = None;
    let root = walk(file, text, |el| {
        if el.ancestors.is_empty() && !(el.is("testsuites") || el.is("testsuite")) {
            bail!(
                "{}: not a JUnit XML report: the root element is <{}>, expected <testsuites> or <testsuite>",
                el.here(),
                String::from_utf8_lossy(&el.name())
            );
        }
        if el.is("testsuites") && el.ancestors.is_empty() {
            root_declared = Some(declared_counts(el)?);
        } else if el.is("testsuite") && !el.inside("testsuite") {
            declared.add(declared_counts(el)?);
        } else if el.is("testcase") {
            let name = el.attr("name")?.unwrap_or_default();
            let name = match el.attr("classname")?.filter(|c| !c.is_empty()) {
                Some(class) => format!("{class}::{name}"),
                None => name,
            };
            cases.push(Case {
                name,
                outcome: CaseOutcome::Passed,
            });
        } else if el.parent_is("testcase") {
            // Only direct children decide: nextest's and Surefire's <flakyFailure>,
            // <rerunFailure> and the like describe earlier attempts, not the result.
            let outcome = match el.name().as_slice() {
                b"failure" => CaseOutcome::Failed,
                b"error" => CaseOutcome::Errored,
                b"skipped" => CaseOutcome::Skipped,
                _ => return Ok(()),
            };
            if let Some(case) = cases.last_mut() {
                case.outcome = case.outcome.max(outcome);
            }
        }
        Ok(())
    })?;
    debug_assert!(root == "testsuites" || root == "testsuite");
    if cases.is_empty() {
        let declared = if declared.total > 0 {
            declared
        } else {
            root_declared.unwrap_or(declared)
        };
        return Ok(declared);
    }
    let mut counts = TestCounts::default();
    for case in cases {
        counts.total += 1;
        match case.outcome {
            CaseOutcome::Passed => counts.passed += 1,
            CaseOutcome::Skipped => counts.skipped += 1,
            CaseOutcome::Failed => counts.failed += 1,
            CaseOutcome::Errored => counts.errored += 1,
        }
        if matches!(case.outcome, CaseOutcome::Failed | CaseOutcome::Errored) {
            counts.failures.push(case.name);
        }
    }
    Ok(counts)
}

/// The totals a suite element declares in its attributes.
fn declared_counts(el: &super::xml::Element<'_, '_>) -> Result<TestCounts> {
    let total = el.count_attr("tests")?.unwrap_or(0);
    let failed = el.count_attr("failures")?.unwrap_or(0);
    let errored = el.count_attr("errors")?.unwrap_or(0);
    let skipped = match el.count_attr("skipped")? {
        Some(n) => n,
        None => el.count_attr("disabled")?.unwrap_or(0),
    };
    if failed + errored + skipped > total {
        bail!(
            "{}: the suite declares {failed} failures, {errored} errors and {skipped} skipped of only {total} tests",
            el.here()
        );
    }
    Ok(TestCounts {
        total,
        passed: total - failed - errored - skipped,
        failed,
        errored,
        skipped,
        failures: Vec::new(),
    })
}
