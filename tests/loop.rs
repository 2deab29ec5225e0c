//! The plan half of the autonomous loop: `plan generate --likely-to-miss`, and
//! `plan run` choosing its plan (`latest`, `--kr-id`, `--objective`, `--generate`,
//! `--if-not-run`) so a weekly schedule needs no edits. Tasks run with the mock adapter.

mod common;

use common::{fixtures, TestRepo};

fn setup() -> TestRepo {
    let mut files = vec![("okrs/org.yml", fixtures::TWO_PACES)];
    files.extend(fixtures::TWO_PACES_SNAPSHOTS);
    let repo = TestRepo::with_state(&files);
    repo.git(&["config", "okr.adapter.default", "mock"]);
    repo
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The KRs of a `plan generate --json` answer, or of a run result's tasks.
fn krs_of(plan: &serde_json::Value) -> Vec<String> {
    let mut krs: Vec<String> = plan["key_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kr_id"].as_str().unwrap().to_string())
        .collect();
    krs.sort();
    krs
}

fn generate(repo: &TestRepo, args: &[&str]) -> String {
    let out = json(&repo.ok(&[&["plan", "generate", "--json"], args].concat()));
    out["plan_id"].as_str().unwrap().to_string()
}

/// The plan a `plan run --json` ran.
fn ran(out: &str) -> String {
    json(out)["plan_id"].as_str().unwrap().to_string()
}

#[test]
fn likely_to_miss_plans_only_the_krs_whose_forecast_falls_short() {
    let repo = setup();
    let out = json(&repo.ok(&["plan", "generate", "--likely-to-miss", "--json"]));
    assert_eq!(krs_of(&out["plan"]), ["KR-A.1"], "{out}");
    // Within an objective too; and nothing likely to miss is not a failure.
    let out = json(&repo.ok(&[
        "plan",
        "generate",
        "--likely-to-miss",
        "--objective",
        "OBJ-A",
        "--json",
    ]));
    assert_eq!(krs_of(&out["plan"]), ["KR-A.1"]);
    let tip = repo.state_tip();
    let out = repo.ok(&["plan", "generate", "--objective", "OBJ-B"]);
    assert_eq!(out.trim(), "Nothing to plan: every KR of OBJ-B is achieved");
    assert_eq!(repo.state_tip(), tip, "nothing committed");
    let err = repo.fails(&["plan", "generate", "--likely-to-miss", "--kr-id", "KR-A.1"]);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn plan_run_takes_the_newest_plan_of_all_of_a_kr_or_of_an_objective() {
    let repo = setup();
    let err = repo.fails(&["plan", "run", "latest"]);
    assert!(
        err.contains("no plan on refs/okr/state (`git okr plan generate` makes one)"),
        "{err}"
    );
    let tip = repo.state_tip();
    let out = repo.ok(&["plan", "run", "latest", "--if-not-run"]);
    assert!(out.starts_with("No plan on refs/okr/state"), "{out}");
    assert_eq!(repo.state_tip(), tip);

    let coverage = generate(&repo, &["--kr-id", "KR-A.1"]);
    let speed = generate(&repo, &["--kr-id", "KR-A.2"]);
    assert_eq!(ran(&repo.ok(&["plan", "run", "latest", "--json"])), speed);
    assert_eq!(
        ran(&repo.ok(&["plan", "run", "--kr-id", "KR-A.1", "--json"])),
        coverage
    );
    assert_eq!(
        ran(&repo.ok(&["plan", "run", "--objective-id", "OBJ-A", "--json"])),
        speed,
        "OKRchestra's flag name works"
    );
    let err = repo.fails(&["plan", "run", "--objective", "OBJ-B"]);
    assert!(err.contains("no plan for objective OBJ-B"), "{err}");

    // Once: a plan that has run is not run again.
    let tip = repo.state_tip();
    let out = repo.ok(&["plan", "run", "latest", "--if-not-run"]);
    assert!(
        out.starts_with(&format!("Plan {speed} has run before (2 runs, the last ")),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("completed): nothing new to run"),
        "{out}"
    );
    let out = json(&repo.ok(&["plan", "run", "--kr-id", "KR-A.1", "--if-not-run", "--json"]));
    assert!(out["skipped"].as_str().unwrap().contains("has run before"));
    assert_eq!(repo.state_tip(), tip, "nothing ran, nothing committed");
    let err = repo.fails(&["plan", "run", "latest", "--kr-id", "KR-A.1"]);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = repo.fails(&["plan", "run"]);
    assert!(err.contains("<PLAN>"), "{err}");
}

#[test]
fn a_plan_dated_in_the_future_is_never_the_newest() {
    let repo = setup();
    let real = generate(&repo, &["--kr-id", "KR-A.1"]);
    let text = repo.state_file(
        repo.git(&["ls-tree", "-r", "--name-only", "refs/okr/state", "plans/"])
            .lines()
            .next()
            .unwrap(),
    );
    let mut forged = json(&text);
    forged["plan_id"] = "plan-from-the-future".into();
    forged["created_at"] = "2999-01-01T00:00:00Z".into();
    repo.forge_state_file(
        "plans/2999-01-01/plan-from-the-future.json",
        serde_json::to_string_pretty(&forged).unwrap().as_bytes(),
        "a plan claiming to be the newest",
    );
    assert_eq!(ran(&repo.ok(&["plan", "run", "latest", "--json"])), real);
}

#[test]
fn generate_then_run_in_one_command() {
    let repo = setup();
    let out = repo.ok(&["plan", "run", "--generate", "--likely-to-miss", "--json"]);
    let result = json(&out);
    let tasks_krs: std::collections::BTreeSet<&str> = result["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kr_id"].as_str().unwrap())
        .collect();
    assert_eq!(tasks_krs.into_iter().collect::<Vec<_>>(), ["KR-A.1"]);
    assert_eq!(result["status"], "completed", "{out}");
    let plans = repo.git(&["ls-tree", "-r", "--name-only", "refs/okr/state", "plans/"]);
    assert!(plans.contains(result["plan_id"].as_str().unwrap()));

    let out = repo.ok(&["plan", "run", "--generate", "--kr-id", "KR-A.2"]);
    assert!(out.starts_with("Wrote plan: plans/"), "{out}");
    let tip = repo.state_tip();
    let out = repo.ok(&["plan", "run", "--generate", "--objective", "OBJ-B"]);
    assert_eq!(out.trim(), "Nothing to plan: every KR of OBJ-B is achieved");
    assert_eq!(repo.state_tip(), tip);
    let err = repo.fails(&["plan", "run", "--likely-to-miss", "latest"]);
    assert!(err.contains("--generate"), "{err}");
}
