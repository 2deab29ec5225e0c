//! Contract tests against the real coding-agent CLIs (codex-cli and Claude Code from the
//! npm registry). Offline and not logged in they cannot do any work, but they show whether
//! git-okr's command lines are accepted and whether the agent's own failure reason reaches
//! the person.
//!
//! The programs come from the folder `OKR_AGENT_CLIS` names (`.ci/run` installs both there,
//! pinned, and fails when it cannot); when it is set, a missing program fails the test.
//! Without it the tests say they skipped. They are never looked up on PATH: other tests
//! need "codex not found".
//!
//! The agents must not reach the network: HOME is empty (no login), every proxy variable
//! and the API base URLs point at a closed local port, and Claude Code's non-essential
//! traffic (telemetry, updates) is off.

mod common;

use common::{fixtures, stderr, TestRepo};
use std::path::PathBuf;
use std::process::Output;

/// A local address nothing listens on (the discard port, closed on test machines).
const DEAD_END: &str = "http://127.0.0.1:9";

/// The real program in `OKR_AGENT_CLIS`, or `None` (after saying why) when that is unset.
fn real_program(name: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("OKR_AGENT_CLIS") else {
        eprintln!(
            "skipping the {name} contract test: OKR_AGENT_CLIS is not set (.ci/run installs \
             @openai/codex and @anthropic-ai/claude-code and sets it)"
        );
        return None;
    };
    let program = PathBuf::from(dir).join(name);
    assert!(
        program.is_file(),
        "OKR_AGENT_CLIS is set but has no {name}: {}",
        program.display()
    );
    Some(program)
}

/// git-okr with the agents cut off from the network.
fn offline(repo: &TestRepo, args: &[&str]) -> Output {
    let mut cmd = repo.okr();
    for proxy in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env(proxy, DEAD_END);
    }
    cmd.env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env("OPENAI_BASE_URL", format!("{DEAD_END}/v1"))
        .env("ANTHROPIC_BASE_URL", DEAD_END)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1");
    cmd.args(args).output().unwrap()
}

fn setup(program: &std::path::Path, adapter: &str) -> (TestRepo, String) {
    let repo = TestRepo::with_state(&[("okrs/org.yml", fixtures::ONE_OWNED_KR)]);
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
    // Offline, codex waits for the network until stopped; its first errors come within a
    // second, so the timeout only bounds the wait.
    let out = offline(
        &repo,
        &[
            "plan",
            "run",
            "--adapter",
            "codex",
            "--timeout",
            "30s",
            "--stop-on-failure",
            &plan,
        ],
    );
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
    let out = offline(
        &repo,
        &[
            "plan",
            "run",
            "--adapter",
            "claude",
            "--timeout",
            "90s",
            "--stop-on-failure",
            &plan,
        ],
    );
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
    let out = offline(
        &repo,
        &[
            "plan",
            "generate",
            "--kr-id",
            "KR-1.1",
            "--adapter",
            "claude",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("claude: Not logged in"),
        "{}",
        stderr(&out)
    );
}
