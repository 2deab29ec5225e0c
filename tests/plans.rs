//! `plan generate` and `plan run` with fake coding agents: small shell scripts written
//! here and put on PATH as `codex` / `claude` (or configured as `command` adapters).

mod common;

use common::{stderr, stdout, TestRepo};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

const OKRS: &str = common::fixtures::TWO_TEAMS;

const PERMISSIONS: &str = "default_policy: deny
permissions:
  - agent: team-backend
    can_propose_for:
      - owner: team-backend
";

fn setup() -> TestRepo {
    TestRepo::with_state(&[
        ("okrs/org.yml", OKRS),
        ("okrs/permissions.yml", PERMISSIONS),
    ])
}

/// A folder of fake agents, first on PATH, with `git-okr` beside them so `git okr` works.
struct Agents {
    bin: tempfile::TempDir,
    /// Where the fakes drop what they saw (prompt, args, cwd, env, pids).
    seen: tempfile::TempDir,
}

const CODEX_PRELUDE: &str = r#"
task="${OKR_TASK_ID:-plan}"
out=""; schema=""; prev=""
for a in "$@"; do
  [ "$prev" = "-o" ] && out="$a"
  [ "$prev" = "--output-schema" ] && schema="$a"
  prev="$a"
done
cat > "$FAKE_SEEN/prompt-$task"
printf '%s\n' "$@" > "$FAKE_SEEN/args-$task"
pwd > "$FAKE_SEEN/cwd-$task"
echo "$OKR_AGENT" > "$FAKE_SEEN/agent-$task"
[ -n "$schema" ] && cp "$schema" "$FAKE_SEEN/schema-$task"
report() { printf '{"status":"%s","summary":"%s"}' "$1" "$2" > "$out"; }
"#;

impl Agents {
    fn new() -> Agents {
        let a = Agents {
            bin: tempfile::tempdir().unwrap(),
            seen: tempfile::tempdir().unwrap(),
        };
        std::os::unix::fs::symlink(
            assert_cmd::cargo::cargo_bin("git-okr"),
            a.bin.path().join("git-okr"),
        )
        .unwrap();
        a
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.bin.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn codex(&self, body: &str) {
        self.script("codex", &format!("{CODEX_PRELUDE}\n{body}"));
    }

    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn seen(&self, what: &str) -> String {
        std::fs::read_to_string(self.seen.path().join(what))
            .unwrap_or_else(|e| panic!("the fake agent left no {what}: {e}"))
    }

    fn run(&self, repo: &TestRepo, args: &[&str]) -> Output {
        repo.okr()
            .env("PATH", self.path_env())
            .env("FAKE_SEEN", self.seen.path())
            .args(args)
            .output()
            .unwrap()
    }
}

fn generate(repo: &TestRepo, args: &[&str]) -> (String, serde_json::Value) {
    let mut all = vec!["plan", "generate", "--json"];
    all.extend(args);
    let out: serde_json::Value = serde_json::from_str(&repo.ok(&all)).unwrap();
    (
        out["plan_id"].as_str().unwrap().to_string(),
        out["plan"].clone(),
    )
}

/// The result.json of the only run on the state.
fn run_result(repo: &TestRepo) -> serde_json::Value {
    let files = repo.git(&["ls-tree", "-r", "--name-only", "refs/okr/state", "runs"]);
    let results: Vec<&str> = files
        .lines()
        .filter(|l| l.ends_with("/result.json"))
        .collect();
    assert_eq!(results.len(), 1, "{files}");
    serde_json::from_str(&repo.state_file(results[0])).unwrap()
}

fn task<'a>(result: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    result["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {result:#}"))
}

fn last_message(repo: &TestRepo) -> String {
    repo.git(&["log", "-1", "--format=%B", "refs/okr/state"])
}

/// Whether a process is still running (a zombie waiting for its reaper is not).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

fn wait_for(path: &Path, within: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < within,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn generate_builds_context_guardrails_and_tasks_in_one_commit() {
    let repo = setup();
    repo.ok(&["metric", "set", "ci.test_count", "40"]);
    repo.ok(&["kr", "measure"]);
    let before = repo.state_tip().unwrap();
    let (id, plan) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let path = format!(
        "plans/{}/{id}.json",
        chrono::Local::now().format("%Y-%m-%d")
    );
    let stored: serde_json::Value = serde_json::from_str(&repo.state_file(&path)).unwrap();
    assert_eq!(stored, plan);
    assert_eq!(
        repo.git(&["rev-parse", "refs/okr/state~1"]).trim(),
        before,
        "one commit"
    );
    let kr = &plan["key_results"][0];
    assert_eq!(kr["kr_id"], "KR-1.1");
    assert_eq!(kr["baseline"], 0.0);
    assert_eq!(kr["current"], 40.0);
    assert_eq!(kr["target"], 100.0);
    assert_eq!(kr["gap"], 60.0);
    assert_eq!(kr["owner"], "team-backend");
    assert_eq!(kr["status"], "in_progress");
    assert_eq!(kr["metric_key"], "ci.test_count");
    assert!(kr["evidence"].to_string().contains("ci run 41"), "{kr}");
    assert_eq!(plan["owner"], "team-backend");
    assert_eq!(plan["generator"], "builtin");
    assert_eq!(
        plan["guardrails"]["standards"],
        repo.state_file("culture/standards.md")
    );
    assert_eq!(
        plan["guardrails"]["values"],
        repo.state_file("culture/values.md")
    );
    let tasks = plan["tasks"].as_array().unwrap();
    assert!(tasks[0]["title"]
        .as_str()
        .unwrap()
        .starts_with("Write tests for untested modules"));
    assert!(tasks[0]["instructions"]
        .as_str()
        .unwrap()
        .contains("about 60 more tests"));
    for t in tasks {
        assert_eq!(t["metric_key"], "ci.test_count");
        assert!(!t["acceptance_check"].as_str().unwrap().is_empty());
        assert!(!t.to_string().contains("kr measure"), "{t}");
    }
    let msg = last_message(&repo);
    assert!(msg.contains("Okr-Action: plan-generate\n"), "{msg}");
    assert!(msg.contains(&format!("Okr-Plan: {id}\n")), "{msg}");
    assert!(msg.contains("Okr-KR: KR-1.1\n"), "{msg}");
}

#[test]
fn generate_selects_objective_or_every_kr_not_achieved() {
    let repo = setup();
    let (_, plan) = generate(&repo, &["--objective", "OBJ-1"]);
    let krs: Vec<&str> = plan["key_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kr_id"].as_str().unwrap())
        .collect();
    assert_eq!(krs, ["KR-1.1", "KR-1.2"]);
    let latency = plan["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kr_id"] == "KR-1.2")
        .unwrap();
    assert!(latency["title"]
        .as_str()
        .unwrap()
        .starts_with("Gather evidence for manual.latency_ms"));
    assert!(latency["acceptance_check"]
        .as_str()
        .unwrap()
        .contains("git okr metric set manual.latency_ms"));

    let (_, plan) = generate(&repo, &[]);
    let krs: Vec<&str> = plan["key_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kr_id"].as_str().unwrap())
        .collect();
    assert_eq!(krs, ["KR-1.1", "KR-1.2", "KR-2.2"], "KR-2.1 is achieved");
    assert_eq!(plan["owner"], serde_json::Value::Null, "two owners");

    let tip = repo.state_tip();
    let err = repo.fails(&["plan", "generate", "--kr-id", "KR-9"]);
    assert!(err.contains("unknown KR \"KR-9\""), "{err}");
    let err = repo.fails(&["plan", "generate", "--objective", "OBJ-9"]);
    assert!(err.contains("unknown objective \"OBJ-9\""), "{err}");
    assert_eq!(repo.state_tip(), tip);
}

#[test]
fn generate_with_an_agent_validates_its_answer() {
    let repo = setup();
    let agents = Agents::new();
    agents.codex(
        r#"printf '{"tasks":[{"kr_id":"KR-1.1","title":"Test the parser","instructions":"Write parser tests","acceptance_check":"cargo test parser passes","metric_key":"ci.test_count"}]}' > "$out"
echo '{"type":"turn.completed"}'"#,
    );
    let out = agents.run(
        &repo,
        &[
            "plan",
            "generate",
            "--kr-id",
            "KR-1.1",
            "--adapter",
            "codex",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let plan = &plan["plan"];
    assert_eq!(plan["generator"], "adapter:codex");
    assert_eq!(plan["tasks"][0]["id"], "T1");
    assert_eq!(plan["tasks"][0]["title"], "Test the parser");
    // The schema handed over with --output-schema is the documented one.
    assert_eq!(agents.seen("schema-plan"), repo.ok(&["plan", "schema"]));
    let prompt = agents.seen("prompt-plan");
    assert!(prompt.starts_with("# Guardrails"), "{prompt}");
    assert!(prompt.contains("KR-1.1"), "{prompt}");

    // A bad answer: a KR not in the plan. Nothing is committed.
    agents.codex(
        r#"printf '{"tasks":[{"kr_id":"KR-9","title":"x","instructions":"y","acceptance_check":"z","metric_key":"m"}]}' > "$out""#,
    );
    let tip = repo.state_tip();
    let out = agents.run(
        &repo,
        &[
            "plan",
            "generate",
            "--kr-id",
            "KR-1.1",
            "--adapter",
            "codex",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "adapter codex: bad plan answer: tasks[0].kr_id \"KR-9\" is not a KR of this plan"
        ),
        "{err}"
    );
    assert_eq!(repo.state_tip(), tip);

    // Not JSON at all.
    agents.codex(r#"echo 'I think you should write tests' > "$out""#);
    let out = agents.run(
        &repo,
        &[
            "plan",
            "generate",
            "--kr-id",
            "KR-1.1",
            "--adapter",
            "codex",
        ],
    );
    assert!(
        stderr(&out).contains("bad plan answer: the answer is not JSON"),
        "{}",
        stderr(&out)
    );
    // It shows what the agent answered, so the person sees why.
    assert!(
        stderr(&out).contains(r#"it begins "I think you should write tests\n" (31 bytes in all)"#),
        "{}",
        stderr(&out)
    );
    assert_eq!(repo.state_tip(), tip);

    // A failing agent.
    agents.codex(r#"echo '{"type":"error","message":"stream disconnected"}'; exit 1"#);
    let out = agents.run(
        &repo,
        &[
            "plan",
            "generate",
            "--kr-id",
            "KR-1.1",
            "--adapter",
            "codex",
        ],
    );
    let err = stderr(&out);
    assert!(
        err.contains("the planning agent failed: exit status 1; codex: error: stream disconnected"),
        "{err}"
    );
    assert_eq!(repo.state_tip(), tip);
}

#[test]
fn run_records_passed_and_failed_tasks_with_durations() {
    let repo = setup();
    let agents = Agents::new();
    // T1 passes; T2 exits 0 but codex reported a failed turn (judged by events, not exit code).
    agents.codex(
        r#"echo '{"type":"thread.started"}'
if [ "$task" = T1 ]; then report done "wrote 3 tests"; echo '{"type":"turn.completed"}'; exit 0; fi
echo '{"type":"turn.failed","error":{"message":"model overloaded"}}'
echo "some diagnostics" >&2
exit 0"#,
    );
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let tip = repo.state_tip().unwrap();
    let out = agents.run(&repo, &["plan", "run", "--adapter", "codex", &id]);
    assert!(!out.status.success(), "one task failed");
    assert!(stderr(&out).contains("Plan failed"), "{}", stderr(&out));
    assert_eq!(
        repo.git(&["rev-parse", "refs/okr/state~1"]).trim(),
        tip,
        "one commit for the run"
    );

    let result = run_result(&repo);
    assert_eq!(result["status"], "failed");
    assert_eq!(result["plan_id"], id.as_str());
    let t1 = task(&result, "T1");
    assert_eq!(t1["status"], "passed");
    assert_eq!(t1["summary"], "wrote 3 tests");
    assert_eq!(t1["exit_code"], 0);
    assert_eq!(t1["agent"], "team-backend");
    let t2 = task(&result, "T2");
    assert_eq!(t2["status"], "failed");
    assert!(t2["reason"]
        .as_str()
        .unwrap()
        .contains("turn.failed: model overloaded"));
    assert!(t2["duration_ms"].is_u64());
    let log = repo.state_file(t2["transcript"]["path"].as_str().unwrap());
    assert!(log.contains("some diagnostics\n"), "{log}");
    assert!(log.contains("turn.failed"), "{log}");

    let msg = last_message(&repo);
    assert!(msg.contains("Okr-Action: plan-run\n"), "{msg}");
    assert!(msg.contains(&format!("Okr-Plan: {id}\n")), "{msg}");
    let run_id = result["run_id"].as_str().unwrap();
    assert!(msg.contains(&format!("Okr-Run: {run_id}\n")), "{msg}");
    let t1_ms = t1["duration_ms"].as_u64().unwrap();
    assert!(
        msg.contains(&format!("Okr-Task: T1 passed {t1_ms}ms\n")),
        "{msg}"
    );
    assert!(msg.contains("Okr-Task: T2 failed "), "{msg}");

    // What the agent was given: exactly the documented flags, the prompt on stdin with the
    // guardrails first, the work tree as its directory, the KR owner as its identity.
    let args = agents.seen("args-T1");
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        &args[..5],
        [
            "exec",
            "--sandbox",
            "workspace-write",
            "--skip-git-repo-check",
            "-C"
        ]
    );
    // Each task in its own worktree: .git/okr/worktrees/<run-id>/<task-id>.
    let worktree_of = |id: &str| {
        repo.path()
            .canonicalize()
            .unwrap()
            .join(".git/okr/worktrees")
            .join(result["run_id"].as_str().unwrap())
            .join(id)
    };
    assert_eq!(Path::new(args[5]), worktree_of("T1"));
    assert_eq!(&args[6..8], ["--json", "--output-schema"]);
    assert_eq!(args[9], "-o");
    // `git okr mcp` offered through codex's configuration overrides, as the task's agent.
    assert_eq!(args[11], "-c");
    assert!(
        args[12].starts_with("mcp_servers.git-okr.command=\""),
        "{args:?}"
    );
    assert_eq!(
        &args[13..15],
        [
            "-c",
            "mcp_servers.git-okr.args=[\"mcp\",\"--agent\",\"team-backend\"]"
        ]
    );
    assert_eq!(args[15], "-");
    let prompt = agents.seen("prompt-T1");
    assert!(prompt.starts_with("# Guardrails"), "{prompt}");
    assert!(prompt.contains("Never edit OKRs, metrics or audit data directly"));
    assert!(
        prompt.find("Never edit OKRs").unwrap()
            < prompt.find("Write tests for untested modules").unwrap()
    );
    assert!(!prompt.contains("Run `git okr kr measure`"));
    assert_eq!(Path::new(agents.seen("cwd-T1").trim()), worktree_of("T1"));
    assert_eq!(agents.seen("agent-T1").trim(), "team-backend");

    // All passing: completed, exit 0.
    agents.codex(r#"report done ok"#);
    let out = agents.run(&repo, &["plan", "run", "--adapter", "codex", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Plan completed"), "{}", stderr(&out));
    let msg = last_message(&repo);
    assert!(msg.contains("(2 passed)"), "{msg}");
}

#[test]
fn a_hang_is_stopped_by_the_timeout_with_its_children() {
    let repo = setup();
    let agents = Agents::new();
    // T1 ignores SIGTERM and starts a child: only SIGKILL to the whole group ends both.
    agents.codex(
        r#"if [ "$task" = T1 ]; then
  trap '' TERM INT
  sleep 300 &
  echo $! > "$FAKE_SEEN/child-T1"
  echo $$ > "$FAKE_SEEN/pid-T1"
  while :; do sleep 1; done
fi
report done fine"#,
    );
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let start = Instant::now();
    let out = agents.run(
        &repo,
        &["plan", "run", "--adapter", "codex", "--timeout", "1", &id],
    );
    assert!(!out.status.success());
    assert!(start.elapsed() < Duration::from_secs(30));
    let result = run_result(&repo);
    let t1 = task(&result, "T1");
    assert_eq!(t1["status"], "timed_out");
    let ms = t1["duration_ms"].as_u64().unwrap();
    assert!((1000..20_000).contains(&ms), "{ms}");
    assert_eq!(task(&result, "T2")["status"], "passed");
    assert!(last_message(&repo).contains(&format!("Okr-Task: T1 timed_out {ms}ms\n")));
    assert!(!alive(&agents.seen("pid-T1")), "the agent is gone");
    assert!(!alive(&agents.seen("child-T1")), "its child is gone");
}

#[test]
fn megabytes_of_output_keep_the_tail() {
    let repo = setup();
    let agents = Agents::new();
    agents.codex(
        r#"i=0
while [ $i -lt 40000 ]; do echo "line $i of a very chatty agent ....................................."; i=$((i+1)); done
echo "THE END"
report done chatty"#,
    );
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let out = agents.run(&repo, &["plan", "run", "--adapter", "codex", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result = run_result(&repo);
    let log = &task(&result, "T1")["transcript"];
    assert_eq!(log["truncated"], true);
    let total = log["bytes_total"].as_u64().unwrap();
    assert!(total > 2_000_000, "{total}");
    assert_eq!(log["bytes_kept"], 256 * 1024);
    let text = repo.state_file(log["path"].as_str().unwrap());
    assert!(
        text.starts_with(&format!("[git-okr: output truncated: {total} bytes in all")),
        "{}",
        &text[..200]
    );
    assert!(text.ends_with(
        "line 39999 of a very chatty agent .....................................\nTHE END\n"
    ));
    assert!(text.len() < 256 * 1024 + 200);
}

#[test]
fn claude_is_error_with_exit_zero_fails_the_task() {
    let repo = setup();
    let agents = Agents::new();
    agents.script(
        "claude",
        r#"cat > /dev/null
printf '%s\n' "$@" > "$FAKE_SEEN/args-$OKR_TASK_ID"
prev=
for a in "$@"; do
  [ "$prev" = --mcp-config ] && cp "$a" "$FAKE_SEEN/mcp-$OKR_TASK_ID"
  prev=$a
done
if [ "$OKR_TASK_ID" = T1 ]; then
  printf '%s\n' '{"type":"result","subtype":"success","is_error":false,"result":"Added the tests.\n{\"status\":\"done\",\"summary\":\"Added tests\"}","total_cost_usd":0.1}'
else
  echo '{"type":"result","subtype":"error_during_execution","is_error":true,"result":"API Error: 529 overloaded"}'
fi
exit 0"#,
    );
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let out = agents.run(&repo, &["plan", "run", "--adapter", "claude", &id]);
    assert!(!out.status.success());
    let result = run_result(&repo);
    assert_eq!(task(&result, "T1")["status"], "passed");
    assert_eq!(task(&result, "T1")["summary"], "Added tests");
    let t2 = task(&result, "T2");
    assert_eq!(t2["status"], "failed");
    assert_eq!(t2["exit_code"], 0);
    assert!(
        t2["reason"]
            .as_str()
            .unwrap()
            .contains("is_error (subtype error_during_execution): API Error: 529"),
        "{t2}"
    );
    let args = agents.seen("args-T1");
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args[..7],
        [
            "-p",
            "--output-format",
            "json",
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            "Read,Edit,Write,Glob,Grep,Bash,mcp__git-okr",
        ]
    );
    assert_eq!(args[7], "--mcp-config");
    assert_eq!(args[9..], ["--max-turns", "50"]);
    // The agent is offered `git okr mcp`, bound to the identity it runs as.
    let config: serde_json::Value = serde_json::from_str(&agents.seen("mcp-T1")).unwrap();
    let server = &config["mcpServers"]["git-okr"];
    assert!(
        server["command"].as_str().unwrap().ends_with("git-okr"),
        "{config}"
    );
    assert_eq!(
        server["args"],
        serde_json::json!(["mcp", "--agent", "team-backend"])
    );
}

#[test]
fn command_adapters_come_from_git_config_and_missing_programs_stop_early() {
    let repo = setup();
    let agents = Agents::new();
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let tip = repo.state_tip();

    // No codex on PATH: reported before anything starts, nothing committed. (An empty
    // folder as PATH: this machine may have a real codex in /usr/bin.)
    let empty = tempfile::tempdir().unwrap();
    let out = repo
        .okr()
        .env("PATH", empty.path())
        .args(["plan", "run", "--adapter", "codex", &id])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("adapter codex: program \"codex\" not found on PATH"),
        "{}",
        stderr(&out)
    );
    assert_eq!(repo.state_tip(), tip);
    let err = repo.fails(&["plan", "run", "--adapter", "mytool", &id]);
    assert!(err.contains("adapter \"mytool\" is not configured: set the program with `git config okr.adapter.mytool.command PROGRAM`"), "{err}");
    repo.git(&["config", "okr.adapter.mytool.command", "/nonexistent/agent"]);
    let err = repo.fails(&["plan", "run", "--adapter", "mytool", &id]);
    assert!(
        err.contains("program \"/nonexistent/agent\" not found"),
        "{err}"
    );
    assert_eq!(repo.state_tip(), tip);

    // A configured program with arguments gets the prompt on stdin and OKR_TASK_FILE.
    let tool = agents.script(
        "my-agent",
        r#"cat > "$FAKE_SEEN/prompt-$OKR_TASK_ID"
cp "$OKR_TASK_FILE" "$FAKE_SEEN/task-$OKR_TASK_ID"
printf '%s\n' "$@" > "$FAKE_SEEN/args-$OKR_TASK_ID"
echo "$OKR_AGENT" > "$FAKE_SEEN/agent-$OKR_TASK_ID"
printf '{"status":"done","summary":"ok"}' > "$OKR_RESULT_FILE""#,
    );
    repo.git(&[
        "config",
        "okr.adapter.mytool.command",
        tool.to_str().unwrap(),
    ]);
    repo.git(&["config", "--add", "okr.adapter.mytool.args", "--fast"]);
    repo.git(&["config", "--add", "okr.adapter.mytool.args", "two words"]);
    let out = agents.run(&repo, &["plan", "run", "--adapter", "mytool", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(agents.seen("args-T2"), "--fast\ntwo words\n");
    let task_file: serde_json::Value = serde_json::from_str(&agents.seen("task-T2")).unwrap();
    assert_eq!(task_file["task"]["id"], "T2");
    assert_eq!(task_file["key_result"]["kr_id"], "KR-1.1");
    assert!(agents.seen("prompt-T2").starts_with("# Guardrails"));
    assert_eq!(agents.seen("agent-T2").trim(), "team-backend");
}

#[test]
fn parallel_tasks_run_at_the_same_time() {
    let repo = setup();
    let agents = Agents::new();
    // Each task waits (up to 10 s) for the other to have started: only passes side by side.
    agents.codex(
        r#"touch "$FAKE_SEEN/started-$task"
other=T1; [ "$task" = T1 ] && other=T2
i=0
while [ ! -e "$FAKE_SEEN/started-$other" ]; do
  sleep 0.1; i=$((i+1)); [ $i -gt 100 ] && exit 3
done
report done together"#,
    );
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let out = agents.run(
        &repo,
        &["plan", "run", "--adapter", "codex", "--parallel", "2", &id],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let result = run_result(&repo);
    assert_eq!(result["parallel"], 2);
    assert_eq!(task(&result, "T1")["status"], "passed");
    assert_eq!(task(&result, "T2")["status"], "passed");
}

#[test]
fn ctrl_c_stops_the_agents_and_records_cancelled() {
    let repo = setup();
    let agents = Agents::new();
    agents.codex(
        r#"sleep 300 &
echo $! > "$FAKE_SEEN/child-$task"
echo $$ > "$FAKE_SEEN/pid-$task"
wait"#,
    );
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("git-okr"));
    cmd.current_dir(repo.path())
        .env_remove("OKR_AGENT")
        .env("PATH", agents.path_env())
        .env("FAKE_SEEN", agents.seen.path())
        .args(["plan", "run", "--adapter", "codex", &id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in repo.env() {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    wait_for(
        &agents.seen.path().join("child-T1"),
        Duration::from_secs(30),
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("Plan failed"), "{err}");

    let result = run_result(&repo);
    assert_eq!(result["status"], "cancelled");
    let t1 = task(&result, "T1");
    assert_eq!(t1["status"], "cancelled");
    assert!(t1["duration_ms"].as_u64().unwrap() > 0);
    let t2 = task(&result, "T2");
    assert_eq!(t2["status"], "cancelled");
    assert_eq!(t2["duration_ms"], 0);
    assert_eq!(t2["reason"], "not started: the run was cancelled");
    let msg = last_message(&repo);
    assert!(msg.contains("Okr-Task: T1 cancelled "), "{msg}");
    assert!(msg.contains("Okr-Task: T2 cancelled 0ms\n"), "{msg}");
    assert!(!alive(&agents.seen("pid-T1")), "no orphan agent");
    assert!(
        !alive(&agents.seen("child-T1")),
        "no orphan child of the agent"
    );
}

#[test]
fn direct_state_edits_are_violations_undone_while_proposals_are_kept() {
    let repo = setup();
    let agents = Agents::new();
    // T1 edits metrics directly with a real git-okr command, then proposes on top of it;
    // T2 writes an OKR file into the work tree.
    agents.codex(
        r#"if [ "$task" = T1 ]; then
  git okr metric set ci.test_count 999 || exit 9
  git okr okr propose --set KR-1.1.target=120 --reason R || exit 8
  report done "edited directly"
else
  mkdir -p okrs && echo 'objectives: []' > okrs/org.yml
  report done "wrote okrs/"
fi"#,
    );
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let before = repo.state_tip().unwrap();
    let manual_before = repo.state_file("metrics/manual.yml");
    let out = agents.run(&repo, &["plan", "run", "--adapter", "codex", &id]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("Guardrail violation"),
        "{}",
        stdout(&out)
    );

    let result = run_result(&repo);
    let t1 = task(&result, "T1");
    assert_eq!(t1["status"], "failed");
    assert!(
        t1["reason"]
            .as_str()
            .unwrap()
            .starts_with("guardrail violation"),
        "{t1}"
    );
    let v = &t1["violations"][0];
    assert_eq!(v["kind"], "state-ref");
    assert!(
        v["items"][0]
            .as_str()
            .unwrap()
            .contains("(Okr-Action: metric-set)"),
        "{v}"
    );
    assert!(
        v["action"]
            .as_str()
            .unwrap()
            .contains("keeping 1 proposal commit(s)"),
        "{v}"
    );
    let t2 = task(&result, "T2");
    assert_eq!(t2["status"], "failed");
    assert_eq!(t2["violations"][0]["kind"], "work-tree");
    assert_eq!(t2["violations"][0]["items"][0], "created okrs/org.yml");

    // The direct edit is gone from the ref; the proposal survives on top of the pre-run tip.
    assert_eq!(repo.state_file("metrics/manual.yml"), manual_before);
    let proposals = repo.git(&["ls-tree", "--name-only", "refs/okr/state", "proposals/"]);
    assert_eq!(proposals.lines().count(), 1, "{proposals}");
    let chain = repo.git(&["log", "--format=%s", &format!("{before}..refs/okr/state")]);
    let subjects: Vec<&str> = chain.lines().collect();
    assert_eq!(subjects.len(), 2, "{chain}");
    assert!(subjects[0].starts_with("okr: plan run"), "{chain}");
    assert!(subjects[1].starts_with("okr: propose P-"), "{chain}");
    assert_eq!(
        repo.git(&["rev-parse", "refs/okr/state~2"]).trim(),
        before,
        "the proposal was replayed onto the pre-run tip"
    );
    let replayed = repo.git(&["log", "-1", "--format=%B", "refs/okr/state~1"]);
    assert!(
        replayed.contains("Okr-Actor: agent:team-backend"),
        "{replayed}"
    );
}

#[test]
fn a_commit_git_okr_did_not_make_is_undone() {
    let repo = setup();
    let agents = Agents::new();
    agents.codex(
        r#"tip=$(git rev-parse refs/okr/state)
c=$(echo "sneaky" | git commit-tree "$(git rev-parse "$tip^{tree}")" -p "$tip")
git update-ref refs/okr/state "$c" "$tip"
report done sneaky"#,
    );
    let (id, _) = generate(&repo, &["--kr-id", "KR-1.1"]);
    let before = repo.state_tip().unwrap();
    let out = agents.run(&repo, &["plan", "run", "--adapter", "codex", &id]);
    assert!(!out.status.success());
    let result = run_result(&repo);
    let v = &task(&result, "T1")["violations"][0];
    assert!(
        v["items"][0]
            .as_str()
            .unwrap()
            .contains("sneaky (Okr-Action: not a git-okr commit)"),
        "{v}"
    );
    assert_eq!(repo.git(&["rev-parse", "refs/okr/state~1"]).trim(), before);
}

#[test]
fn an_agent_proposes_allowed_and_refused_by_permissions() {
    let repo = setup();
    let agents = Agents::new();
    // Plan over every KR not achieved: KR-1.x are team-backend's, KR-2.2 is team-web's.
    // team-backend may propose for team-backend only.
    agents.codex(
        r#"case "$OKR_AGENT" in
  team-backend) git okr okr propose --set KR-1.1.target=120 --reason R 2> "$FAKE_SEEN/propose-$task" || exit 4 ;;
  team-web) git okr okr propose --set KR-2.2.target=5 --reason R 2> "$FAKE_SEEN/propose-$task" || exit 4 ;;
esac
report done proposed"#,
    );
    let (id, plan) = generate(&repo, &[]);
    let web_task = plan["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kr_id"] == "KR-2.2")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = agents.run(&repo, &["plan", "run", "--adapter", "codex", &id]);
    assert!(!out.status.success(), "the refused proposal fails its task");
    let result = run_result(&repo);
    assert_eq!(task(&result, "T1")["status"], "passed");
    assert_eq!(task(&result, "T1")["agent"], "team-backend");
    assert!(task(&result, "T1")["violations"]
        .as_array()
        .unwrap()
        .is_empty());
    let web = task(&result, &web_task);
    assert_eq!(web["status"], "failed");
    assert_eq!(web["agent"], "team-web");
    assert!(agents
        .seen(&format!("propose-{web_task}"))
        .contains("team-web"));
    // The allowed proposal is on the state, by the agent, and no violation was recorded.
    let files = repo.git(&[
        "ls-tree",
        "-r",
        "--name-only",
        "refs/okr/state",
        "proposals",
    ]);
    assert!(!files.trim().is_empty(), "a proposal was committed");
    assert!(result["violations"].as_array().unwrap().is_empty());
    let proposals = repo.git(&[
        "log",
        "--format=%B",
        "--grep=Okr-Action: propose",
        "refs/okr/state",
    ]);
    assert!(
        proposals.contains("Okr-Actor: agent:team-backend"),
        "{proposals}"
    );
    assert!(
        repo.state_file("okrs/org.yml").contains("target: 100"),
        "not applied"
    );
}

#[test]
fn plan_schema_needs_no_repository() {
    let outside = tempfile::tempdir().unwrap();
    let ceiling = outside.path().parent().unwrap();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("git-okr")
            .unwrap()
            .current_dir(outside.path())
            .env("GIT_CEILING_DIRECTORIES", ceiling)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .unwrap()
    };
    let schema = run(&["plan", "schema"]);
    assert!(schema.status.success(), "{}", stderr(&schema));
    assert_eq!(stdout(&schema), git_okr::model::plan::TASKS_SCHEMA);
    // The folder really is outside any repository: a command that needs one fails.
    let status = run(&["status"]);
    assert!(!status.status.success(), "{}", stdout(&status));
}
