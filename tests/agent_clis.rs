//! Contract tests against the real coding-agent CLIs (codex-cli and Claude Code from the
//! npm registry, installed by `.ci/run`). Offline and not logged in, they cannot do any
//! work, but they show whether git-okr's command lines are accepted and whether the
//! agent's own failure reason reaches the person. Each run is bounded by a short timeout
//! (codex keeps retrying the network) and the assertions are on what arrived.
//!
//! A missing program fails the test in CI (`CI=true`); elsewhere the test says it skipped.

mod common;

use common::{stderr, TestRepo};
use std::path::{Path, PathBuf};

const OKRS: &str = "scope: org
objectives:
  - objective_id: OBJ-1
    objective: Ship it
    owner_id: team-backend
    key_results:
      - kr_id: KR-1.1
        description: Complete 100 unit tests
        metric_key: ci.test_count
        baseline: 0
        target: 100
        status: not_started
        owner_id: team-backend
";

/// The real program on PATH, or `None` (after saying why) when it may be skipped.
fn real_program(name: &str) -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let hint = "npm install -g @openai/codex @anthropic-ai/claude-code (as .ci/run does)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is not installed, and CI=true: {hint}");
        }
        eprintln!("skipping the {name} contract test: {name} is not on PATH ({hint})");
    }
    found
}

fn setup(program: &Path, adapter: &str) -> (TestRepo, String) {
    let repo = TestRepo::with_state(&[("okrs/org.yml", OKRS)]);
    repo.git(&[
        "config",
        &format!("okr.adapter.{adapter}.command"),
        program.to_str().unwrap(),
    ]);
    let out: serde_json::Value =
        serde_json::from_str(&repo.ok(&["plan", "generate", "--json", "--kr-id", "KR-1.1"]))
            .unwrap();
    (repo, out["plan_id"].as_str().unwrap().to_string())
}

fn first_task(repo: &TestRepo) -> serde_json::Value {
    let run: serde_json::Value =
        serde_json::from_str(&repo.ok(&["run", "show", "latest", "--json"])).unwrap();
    run["tasks"][0].clone()
}

/// What a CLI prints when it does not know an argument we gave it.
fn refused_an_argument(text: &str) -> bool {
    let t = text.to_lowercase();
    [
        "unexpected argument",
        "unknown option",
        "unrecognized",
        "invalid value",
    ]
    .iter()
    .any(|s| t.contains(s))
}

#[test]
fn codex_accepts_our_command_line_and_its_reason_is_reported() {
    let Some(codex) = real_program("codex") else {
        return;
    };
    let (repo, plan) = setup(&codex, "codex");
    // Offline, codex retries the network for minutes: 20 s is enough to see it start.
    let out = repo.run(&[
        "plan",
        "run",
        "--adapter",
        "codex",
        "--timeout",
        "20s",
        "--stop-on-failure",
        &plan,
    ]);
    assert!(!out.status.success(), "codex cannot work offline");
    let t1 = first_task(&repo);
    let log = repo.ok(&["run", "show", "latest", "--log", "T1"]);
    assert!(
        !refused_an_argument(&log),
        "codex refused an argument:\n{log}"
    );
    assert!(
        log.contains("\"type\":\"thread.started\""),
        "codex did not start a thread with our arguments:\n{log}"
    );
    let reason = t1["reason"].as_str().unwrap();
    assert!(
        reason.contains("; codex: error: "),
        "codex's own message is not in the reason: {reason}"
    );
}

#[test]
fn claude_accepts_our_command_line_and_its_reason_is_reported() {
    let Some(claude) = real_program("claude") else {
        return;
    };
    let (repo, plan) = setup(&claude, "claude");
    let out = repo.run(&[
        "plan",
        "run",
        "--adapter",
        "claude",
        "--timeout",
        "90s",
        "--stop-on-failure",
        &plan,
    ]);
    assert!(
        !out.status.success(),
        "claude cannot work when not logged in"
    );
    let t1 = first_task(&repo);
    let log = repo.run(&["run", "show", "latest", "--log", "T1"]).stdout;
    let log = String::from_utf8_lossy(&log);
    assert!(
        !refused_an_argument(&log),
        "claude refused an argument:\n{log}"
    );
    let reason = t1["reason"].as_str().unwrap();
    assert!(
        reason.contains("claude: Not logged in"),
        "claude's own reason is not reported: {reason}\n{log}"
    );
    // The same for planning.
    let out = repo.run(&[
        "plan",
        "generate",
        "--kr-id",
        "KR-1.1",
        "--adapter",
        "claude",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("claude: Not logged in"),
        "{}",
        stderr(&out)
    );
}
