//! `git okr plan run` as issue 15 asks: a worktree and a branch per task, a checked report,
//! files kept per task, the live view, the mock adapter, and `git okr run list|show|clean`.
//! Agents are small shell scripts configured as `command` adapters, or the built-in mock.

mod common;

use common::{fixtures, stderr, stdout, TestRepo};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn setup() -> TestRepo {
    let repo = TestRepo::with_state(&[("okrs/org.yml", fixtures::ONE_OWNED_KR)]);
    repo.write("shared.txt", "line 1\nline 2\n");
    repo.git(&["add", "shared.txt"]);
    repo.git(&["commit", "-q", "-m", "shared file"]);
    repo
}

/// A plan with `n` tasks T1..Tn for KR-1.1, put on the state with plumbing; its path.
fn plan_with_tasks(repo: &TestRepo, id: &str, n: usize) -> String {
    let out: serde_json::Value =
        serde_json::from_str(&repo.ok(&["plan", "generate", "--json", "--kr-id", "KR-1.1"]))
            .unwrap();
    let mut plan = out["plan"].clone();
    plan["plan_id"] = id.into();
    let task = plan["tasks"][0].clone();
    plan["tasks"] = (1..=n)
        .map(|i| {
            let mut t = task.clone();
            t["id"] = format!("T{i}").into();
            t["title"] = format!("task {i}").into();
            t
        })
        .collect::<Vec<_>>()
        .into();
    let path = format!("plans/2026-01-01/{id}.json");
    let text = serde_json::to_string_pretty(&plan).unwrap();
    repo.forge_state_file(&path, text.as_bytes(), "plan");
    path
}

/// A `command` adapter named `fake` running `body` (sh), with FAKE_SEEN for its notes.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(repo: &TestRepo, body: &str) -> Fake {
        let f = Fake {
            dir: tempfile::tempdir().unwrap(),
        };
        std::os::unix::fs::symlink(
            assert_cmd::cargo::cargo_bin("git-okr"),
            f.dir.path().join("git-okr"),
        )
        .unwrap();
        let script = f.dir.path().join("agent");
        std::fs::write(
            &script,
            format!("#!/bin/sh\ncat > /dev/null\ntask=\"$OKR_TASK_ID\"\n{body}"),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        repo.git(&[
            "config",
            "okr.adapter.fake.command",
            script.to_str().unwrap(),
        ]);
        f
    }

    fn seen(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, repo: &TestRepo, args: &[&str]) -> Output {
        repo.okr()
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.dir.path().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("FAKE_SEEN", self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }
}

fn run_result(repo: &TestRepo) -> serde_json::Value {
    serde_json::from_str(&repo.ok(&["run", "show", "latest", "--json"])).unwrap()
}

fn task<'a>(result: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    result["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {result:#}"))
}

/// The person's checkout as bytes, without the task branches a run adds.
fn checkout(repo: &TestRepo) -> Vec<(PathBuf, Vec<u8>)> {
    repo.user_visible_state()
        .into_iter()
        .filter(|(p, _)| !p.starts_with("refs/heads/okr"))
        .collect()
}

#[test]
fn each_task_works_on_its_own_branch_and_the_checkout_is_untouched() {
    let repo = setup();
    // The person has work in progress: a staged change, an unstaged one, an untracked file.
    repo.write("shared.txt", "line 1 (staged)\nline 2\n");
    repo.git(&["add", "shared.txt"]);
    repo.write("shared.txt", "line 1 (staged)\nline 2 (unstaged)\n");
    repo.write("notes.txt", "mine\n");
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_string();
    // Both tasks edit the same file at the same time; T1 commits, T2 leaves it dirty
    // with a new file. Each waits for the other to have started (parallel for real).
    let fake = Fake::new(
        &repo,
        r#"pwd > "$FAKE_SEEN/cwd-$task"
touch "$FAKE_SEEN/started-$task"
other=T1; [ "$task" = T1 ] && other=T2
i=0; while [ ! -e "$FAKE_SEEN/started-$other" ]; do sleep 0.1; i=$((i+1)); [ $i -gt 150 ] && exit 3; done
echo "$task was here" >> shared.txt
if [ "$task" = T1 ]; then
  git -c user.name=bot -c user.email=bot@x commit -q -am "T1 edits shared.txt" || exit 4
else
  echo new > "made-by-$task.txt"
fi
printf '{"status":"done","summary":"edited shared.txt"}' > "$OKR_RESULT_FILE""#,
    );
    let before = checkout(&repo);
    let path = plan_with_tasks(&repo, "plan-iso", 2);
    let out = fake.run(
        &repo,
        &["plan", "run", "--adapter", "fake", "--parallel", "2", &path],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(checkout(&repo), before, "the person's checkout changed");

    let result = run_result(&repo);
    let run_id = result["run_id"].as_str().unwrap();
    assert_eq!(result["start_commit"], head.as_str());
    let common = repo.path().join(".git").canonicalize().unwrap();
    for (id, own, committed_by_us) in [("T1", "T1 was here", false), ("T2", "T2 was here", true)] {
        let t = task(&result, id);
        assert_eq!(t["status"], "passed", "{t}");
        let branch = format!("okr/{run_id}/{id}");
        assert_eq!(t["branch"]["name"], branch.as_str());
        let tip = repo.git(&["rev-parse", &branch]).trim().to_string();
        assert_eq!(t["branch"]["head"], tip.as_str());
        assert_eq!(t["branch"]["base"], head.as_str());
        let shared = repo.git(&["show", &format!("{branch}:shared.txt")]);
        assert_eq!(shared, format!("line 1\nline 2\n{own}\n"), "{id}");
        // Its directory was its own worktree.
        let cwd = std::fs::read_to_string(fake.seen(&format!("cwd-{id}"))).unwrap();
        assert_eq!(
            Path::new(cwd.trim()),
            common.join("okr/worktrees").join(run_id).join(id)
        );
        assert_eq!(
            !t["branch"]["leftovers_commit"].is_null(),
            committed_by_us,
            "{t}"
        );
    }
    // What T2 left uncommitted was committed as its agent.
    let t2 = task(&result, "T2");
    let branch = format!("okr/{run_id}/T2");
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an <%ae>|%cn", &branch])
            .trim(),
        "agent:team-backend <agent@git-okr.invalid>|agent:team-backend"
    );
    assert_eq!(
        repo.git(&["show", &format!("{branch}:made-by-T2.txt")]),
        "new\n"
    );
    assert_eq!(t2["branch"]["files_changed"], 2);
    assert_eq!(t2["branch"]["insertions"], 2);
    assert!(t2["branch"]["diffstat"]
        .as_str()
        .unwrap()
        .contains("shared.txt"));
    // The worktrees are gone; the branches stay until `run clean`.
    assert!(!common.join("okr/worktrees").join(run_id).exists());
    let worktrees = repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    let cleaned = repo.ok(&["run", "clean", run_id]);
    assert!(
        cleaned.contains(&format!("Deleted branch okr/{run_id}/T1")),
        "{cleaned}"
    );
    assert!(repo
        .git(&["for-each-ref", "refs/heads/okr/"])
        .trim()
        .is_empty());
    assert_eq!(checkout(&repo), before);
}

#[test]
fn in_place_runs_in_the_work_tree_without_branches() {
    let repo = setup();
    let fake = Fake::new(
        &repo,
        r#"pwd > "$FAKE_SEEN/cwd"
printf '{"status":"done","summary":"ok"}' > "$OKR_RESULT_FILE""#,
    );
    let path = plan_with_tasks(&repo, "plan-inplace", 1);
    let out = fake.run(
        &repo,
        &["plan", "run", "--adapter", "fake", "--in-place", &path],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let cwd = std::fs::read_to_string(fake.seen("cwd")).unwrap();
    assert_eq!(Path::new(cwd.trim()), repo.path().canonicalize().unwrap());
    let result = run_result(&repo);
    assert_eq!(result["in_place"], true);
    assert!(task(&result, "T1")["branch"].is_null());
    assert!(repo
        .git(&["for-each-ref", "refs/heads/okr/"])
        .trim()
        .is_empty());
}

#[test]
fn every_bad_report_fails_its_task_with_a_reason() {
    let repo = setup();
    let fake = Fake::new(
        &repo,
        r#"case "$task" in
  T1) printf '{"status":"done","summary":"fine"}' > "$OKR_RESULT_FILE" ;;
  T2) : ;;
  T3) printf 'I did it!' > "$OKR_RESULT_FILE" ;;
  T4) printf '{"status":"ok","summary":"s"}' > "$OKR_RESULT_FILE" ;;
  T5) printf '{"status":"done","summary":"s","extra":1}' > "$OKR_RESULT_FILE" ;;
  T6) printf '{"status":"blocked","summary":"no access to the CI"}' > "$OKRCHESTRA_AGENT_RESULT" ;;
  T7) printf '{"status":"done","summary":"but exit 2"}' > "$OKR_RESULT_FILE"; exit 2 ;;
esac"#,
    );
    let path = plan_with_tasks(&repo, "plan-reports", 7);
    let out = fake.run(&repo, &["plan", "run", "--adapter", "fake", &path]);
    assert!(!out.status.success());
    let result = run_result(&repo);
    assert_eq!(task(&result, "T1")["status"], "passed");
    assert_eq!(task(&result, "T1")["report"]["summary"], "fine");
    for (id, want) in [
        ("T2", "no report: nothing was written to OKR_RESULT_FILE"),
        ("T3", "invalid report (the report is not JSON"),
        ("T3", "it began: \"I did it!\""),
        ("T4", "status \"ok\" is not done, blocked or failed"),
        ("T5", "unknown property \"extra\""),
        ("T6", "the agent reported blocked: no access to the CI"),
        ("T7", "exit status 2"),
    ] {
        let t = task(&result, id);
        assert_eq!(t["status"], "failed", "{t}");
        let reason = t["reason"].as_str().unwrap();
        assert!(reason.contains(want), "{id}: {reason}");
    }
    // The reasons reach the person, with the command that shows a failed task's log.
    let text = stdout(&out);
    assert!(text.contains("T4 failed"), "{text}");
    let run_id = result["run_id"].as_str().unwrap();
    assert!(
        text.contains(&format!("Log of T7: git okr run show {run_id} --log T7")) || {
            // T7 printed nothing: no log line for it.
            task(&result, "T7")["transcript"].is_null()
        },
        "{text}"
    );
}

#[test]
fn each_task_keeps_its_prompt_report_and_transcript_and_gets_okrchestra_variables() {
    let repo = setup();
    let fake = Fake::new(
        &repo,
        r#"env | grep -E '^(OKRCHESTRA_|OKR_)' | sort > "$FAKE_SEEN/env-$task"
echo "hello from $task"
echo "a warning" >&2
printf '{"status":"done","summary":"ok"}' > "$OKR_RESULT_FILE""#,
    );
    let path = plan_with_tasks(&repo, "plan-files", 1);
    let out = fake.run(&repo, &["plan", "run", "--adapter", "fake", &path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result = run_result(&repo);
    let run_id = result["run_id"].as_str().unwrap();
    let dir = format!("runs/{run_id}/T1");
    let t1 = task(&result, "T1");
    assert_eq!(t1["dir"], dir.as_str());
    assert!(repo
        .state_file(&format!("{dir}/prompt.md"))
        .starts_with("# Guardrails"));
    let report: serde_json::Value =
        serde_json::from_str(&repo.state_file(&format!("{dir}/report.json"))).unwrap();
    assert_eq!(
        report,
        serde_json::json!({"status": "done", "summary": "ok"})
    );
    let transcript = repo.state_file(&format!("{dir}/transcript.log"));
    assert!(transcript.contains("hello from T1\n"), "{transcript}");
    assert!(transcript.contains("a warning\n"), "{transcript}");
    assert_eq!(
        t1["transcript"]["path"],
        format!("{dir}/transcript.log").as_str()
    );
    assert_eq!(repo.ok(&["run", "show", run_id, "--log", "T1"]), transcript);

    let env = std::fs::read_to_string(fake.seen("env-T1")).unwrap();
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {env}"))
            .to_string()
    };
    assert_eq!(var("OKRCHESTRA_PLAN_ID"), "plan-files");
    assert_eq!(var("OKRCHESTRA_PLAN_ITEM_ID"), "T1");
    assert_eq!(var("OKRCHESTRA_OBJECTIVE_ID"), "OBJ-1");
    assert_eq!(var("OKRCHESTRA_KR_ID"), "KR-1.1");
    assert_eq!(var("OKRCHESTRA_METRIC_KEY"), "ci.test_count");
    assert_eq!(var("OKRCHESTRA_METRIC_TARGET"), "100");
    assert_eq!(var("OKRCHESTRA_METRIC_BASELINE"), "0");
    assert_eq!(var("OKRCHESTRA_AGENT_RESULT"), var("OKR_RESULT_FILE"));
    assert!(Path::new(&var("OKRCHESTRA_PLAN_ITEM_DIR")).is_absolute());
    assert_eq!(var("OKR_BRANCH"), format!("okr/{run_id}/T1"));
    assert_eq!(var("OKR_AGENT"), "team-backend");
}

#[test]
fn the_mock_adapter_passes_fails_and_hangs_as_told() {
    let repo = setup();
    let plan = plan_with_tasks(&repo, "plan-mock", 3);
    // okr.adapter.default: no --adapter needed.
    repo.git(&["config", "okr.adapter.default", "mock"]);
    let out = repo.run(&["plan", "run", "--follow", &plan]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("started T1: task 1 (agent team-backend, branch okr/"),
        "{err}"
    );
    assert!(
        err.contains("[T2] mock agent team-backend: task T2 of plan plan-mock"),
        "{err}"
    );
    assert!(err.contains("ended T3: passed after "), "{err}");
    // The notification fallback is one short line after the results, no D-Bus error.
    assert!(
        err.trim_end()
            .ends_with("Plan completed: plan-mock (completed): 3 passed"),
        "{err}"
    );
    assert!(!err.contains("notification"), "{err}");
    let result = run_result(&repo);
    assert_eq!(result["adapter"], "mock");
    assert_eq!(task(&result, "T1")["report"]["status"], "done");

    // Told to fail T2 and hang on T3, with a short timeout given as a duration.
    repo.git(&["config", "okr.adapter.mock.fail", "T2"]);
    repo.git(&["config", "okr.adapter.mock.hang", "T3"]);
    let out = repo.run(&["plan", "run", "--timeout", "2s", &plan]);
    assert!(!out.status.success());
    let result = run_result(&repo);
    assert_eq!(result["timeout_secs"], 2);
    assert_eq!(task(&result, "T1")["status"], "passed");
    let t2 = task(&result, "T2");
    assert_eq!(t2["status"], "failed");
    assert!(t2["reason"]
        .as_str()
        .unwrap()
        .contains("the agent reported failed: mock: task T2 failed as told"));
    assert_eq!(task(&result, "T3")["status"], "timed_out");

    // --stop-on-failure: nothing starts after T2 failed.
    let out = repo.run(&[
        "plan",
        "run",
        "--stop-on-failure",
        "--timeout",
        "10m",
        &plan,
    ]);
    assert!(!out.status.success());
    let result = run_result(&repo);
    assert_eq!(result["timeout_secs"], 600);
    assert_eq!(task(&result, "T2")["status"], "failed");
    let t3 = task(&result, "T3");
    assert_eq!(t3["status"], "skipped");
    assert_eq!(
        t3["reason"],
        "not started: an earlier task failed (--stop-on-failure)"
    );

    // Bad durations are usage errors.
    for bad in ["0", "10x", "abc"] {
        let out = repo.run(&["plan", "run", "--timeout", bad, &plan]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
    }

    // The mock plans too: one task per KR.
    let out = repo.ok(&[
        "plan",
        "generate",
        "--kr-id",
        "KR-1.1",
        "--adapter",
        "mock",
        "--json",
    ]);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["plan"]["tasks"][0]["title"], "Mock task for KR-1.1");
}

#[test]
fn run_list_and_show_and_measure() {
    let repo = setup();
    repo.ok(&["metric", "set", "ci.test_count", "40"]);
    repo.ok(&["kr", "measure"]);
    let plan = plan_with_tasks(&repo, "plan-list", 1);
    let out = repo.run(&["plan", "run", "--adapter", "mock", "--measure", &plan]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result = run_result(&repo);
    let measured = &task(&result, "T1")["measured"];
    assert_eq!(measured["kr_id"], "KR-1.1");
    assert_eq!(measured["before"], 40.0);
    assert_eq!(measured["after"], 40.0);
    let list: serde_json::Value =
        serde_json::from_str(&repo.ok(&["run", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["run_id"], result["run_id"]);
    let text = repo.ok(&["run", "list"]);
    assert!(
        text.contains("completed") && text.contains("plan-list"),
        "{text}"
    );
    let show = repo.ok(&["run", "show", result["run_id"].as_str().unwrap()]);
    assert!(show.contains("T1 passed"), "{show}");
    assert!(show.contains("KR-1.1 ci.test_count: 40 -> 40"), "{show}");
    let err = repo.fails(&["run", "show", "run-nope"]);
    assert!(err.contains("no run \"run-nope\""), "{err}");
}

#[test]
fn result_schema_is_the_one_codex_gets() {
    let repo = setup();
    let schema = repo.ok(&["plan", "result-schema"]);
    let v: serde_json::Value = serde_json::from_str(&schema).unwrap();
    assert_eq!(v["required"], serde_json::json!(["status", "summary"]));
    let bin = tempfile::tempdir().unwrap();
    let codex = bin.path().join("codex");
    std::fs::write(
        &codex,
        r#"#!/bin/sh
cat > /dev/null
prev=""; for a in "$@"; do
  [ "$prev" = "--output-schema" ] && cp "$a" "$FAKE_SEEN/schema"
  [ "$prev" = "-o" ] && printf '{"status":"done","summary":"ok"}' > "$a"
  prev="$a"; done
"#,
    )
    .unwrap();
    std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plan = plan_with_tasks(&repo, "plan-schema", 1);
    let out = repo
        .okr()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("FAKE_SEEN", bin.path())
        .args(["plan", "run", &plan])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "codex is the default: {}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(bin.path().join("schema")).unwrap(),
        schema
    );
}

#[test]
fn claude_s_own_failure_reason_is_shown() {
    let repo = setup();
    let bin = tempfile::tempdir().unwrap();
    let claude = bin.path().join("claude");
    std::fs::write(
        &claude,
        "#!/bin/sh\ncat > /dev/null\necho '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Not logged in · Please run /login\"}'\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let plan = plan_with_tasks(&repo, "plan-claude", 1);
    let out = repo
        .okr()
        .env("PATH", &path)
        .args(["plan", "run", "--adapter", "claude", &plan])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let t1 = task(&run_result(&repo), "T1").clone();
    assert_eq!(
        t1["reason"],
        "exit status 1; claude: Not logged in · Please run /login"
    );
    let out = repo
        .okr()
        .env("PATH", &path)
        .args([
            "plan",
            "generate",
            "--kr-id",
            "KR-1.1",
            "--adapter",
            "claude",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("exit status 1; claude: Not logged in · Please run /login"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn measure_credits_the_run_that_moved_a_kr_in_the_audit() {
    // A KR on the commit count: an agent working in place commits, and the count moves.
    let okrs = fixtures::ONE_OWNED_KR.replace("ci.test_count", "git.commits");
    let repo = TestRepo::with_state(&[("okrs/org.yml", okrs.as_str())]);
    repo.ok(&["kr", "measure"]);
    let before: u32 = repo
        .git(&["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap();
    let fake = Fake::new(
        &repo,
        r#"echo work > agent-work.txt
git add agent-work.txt
git -c user.name=bot -c user.email=bot@x commit -q -m "agent work" || exit 4
printf '{"status":"done","summary":"one commit"}' > "$OKR_RESULT_FILE""#,
    );
    let plan = plan_with_tasks(&repo, "plan-credit", 1);
    let out = fake.run(
        &repo,
        &[
            "plan",
            "run",
            "--adapter",
            "fake",
            "--in-place",
            "--measure",
            &plan,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let after = before + 1;
    let result = run_result(&repo);
    let run_id = result["run_id"].as_str().unwrap();
    let measured = &task(&result, "T1")["measured"];
    assert_eq!(measured["before"], f64::from(before));
    assert_eq!(measured["after"], f64::from(after));
    // The run's commit carries the credit; the audit turns it into an event about the KR.
    let message = repo.git(&["log", "-1", "--format=%B", "refs/okr/state"]);
    let credit = format!("Okr-Credit: KR-1.1 {before} -> {after} (T1)");
    assert!(message.contains(&credit), "{message}");
    let events: serde_json::Value = serde_json::from_str(&repo.ok(&[
        "audit",
        "--kr",
        "KR-1.1",
        "--action",
        "run-credit",
        "--json",
    ]))
    .unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["run"], run_id);
    assert_eq!(events[0]["from"], before.to_string().as_str());
    assert_eq!(events[0]["to"], after.to_string().as_str());
    assert_eq!(events[0]["value"], f64::from(after));
    let text = repo.ok(&["audit", "--kr", "KR-1.1"]);
    let row = format!("KR-1.1 {before} -> {after} (T1)");
    assert!(
        text.lines()
            .any(|l| l.contains(" run-credit ") && l.ends_with(&row)),
        "{text}"
    );
}

#[test]
fn codex_and_claude_without_a_valid_report_fail_their_task() {
    let repo = setup();
    let bin = tempfile::tempdir().unwrap();
    let script = |name: &str, body: &str| {
        let path = bin.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\ncat > /dev/null\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // codex ends its turn well and exits 0, but writes no last message (`-o`); claude
    // answers in prose.
    script("codex", r#"echo '{"type":"turn.completed"}'"#);
    script(
        "claude",
        r#"echo '{"type":"result","subtype":"success","is_error":false,"result":"All done, the tests pass."}'"#,
    );
    let plan = plan_with_tasks(&repo, "plan-no-report", 1);
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    for (adapter, want) in [
        ("codex", "no report"),
        ("claude", "it began: \"All done, the tests pass.\""),
    ] {
        let out = repo
            .okr()
            .env("PATH", &path)
            .args(["plan", "run", "--adapter", adapter, &plan])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{adapter}: {}", stderr(&out));
        let t1 = task(&run_result(&repo), "T1").clone();
        assert_eq!(t1["status"], "failed", "{adapter}: {t1}");
        let reason = t1["reason"].as_str().unwrap();
        assert!(reason.contains(want), "{adapter}: {reason}");
    }
}

/// Wait (generously) for a file an agent drops.
fn wait_for(path: &Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn run_clean_leaves_a_running_run_alone_and_clears_a_killed_one() {
    let repo = setup();
    // The agent commits, then waits until told to go on.
    let fake = Fake::new(
        &repo,
        r#"echo "$task" > work.txt && git add work.txt
git -c user.name=bot -c user.email=bot@x commit -q -m "work of $task"
touch "$FAKE_SEEN/waiting-$task"
while [ ! -e "$FAKE_SEEN/go" ]; do sleep 0.05; done
printf '{"status":"done","summary":"ok"}' > "$OKR_RESULT_FILE""#,
    );
    let plan = plan_with_tasks(&repo, "plan-clean", 1);
    let spawn_run = || {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("git-okr"));
        cmd.current_dir(repo.path())
            .env_remove("OKR_AGENT")
            .env("PATH", std::env::var("PATH").unwrap())
            .env("FAKE_SEEN", fake.dir.path())
            .args(["plan", "run", "--adapter", "fake", &plan])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in repo.env() {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    };
    let worktrees = repo.path().join(".git/okr/worktrees");
    let branches = || {
        repo.git(&[
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads/okr/",
        ])
    };

    // In progress: its branch and worktree stay.
    let mut running = spawn_run();
    wait_for(&fake.seen("waiting-T1"));
    let cleaned = repo.ok(&["run", "clean"]);
    assert!(cleaned.contains("still running"), "{cleaned}");
    assert_eq!(branches().lines().count(), 1, "{cleaned}");
    std::fs::write(fake.seen("go"), "").unwrap();
    assert!(running.wait().unwrap().success());
    assert_eq!(task(&run_result(&repo), "T1")["status"], "passed");
    std::fs::remove_file(fake.seen("go")).unwrap();
    std::fs::remove_file(fake.seen("waiting-T1")).unwrap();

    // Killed (-9) mid-task: its worktree is left behind, and `run clean` removes it.
    let mut killed = spawn_run();
    wait_for(&fake.seen("waiting-T1"));
    killed.kill().unwrap();
    killed.wait().unwrap();
    let leftover: Vec<_> = std::fs::read_dir(&worktrees)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(leftover.len(), 1, "the killed run's worktree folder");
    let cleaned = repo.ok(&["run", "clean"]);
    assert!(cleaned.contains("Removed worktree "), "{cleaned}");
    assert!(!cleaned.contains("still running"), "{cleaned}");
    assert_eq!(branches(), "", "{cleaned}");
    assert_eq!(std::fs::read_dir(&worktrees).unwrap().count(), 0);
    let list = repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
}

#[test]
fn a_broken_run_result_does_not_hide_the_other_runs() {
    let repo = setup();
    let plan = plan_with_tasks(&repo, "plan-broken-run", 1);
    repo.ok(&["plan", "run", "--adapter", "mock", &plan]);
    let good = run_result(&repo)["run_id"].as_str().unwrap().to_string();
    // A teammate's clone pushes a result that is not JSON, dated to sort first.
    repo.forge_state_file(
        "runs/run-29990101-000000-bad0/result.json",
        br#"{ "started_at": "2999"#,
        "broken",
    );
    let text = repo.ok(&["run", "list"]);
    assert!(
        text.contains(
            "run-29990101-000000-bad0  unreadable  runs/run-29990101-000000-bad0/result.json:1:"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("{good}  completed")) && text.contains("(1 of 1 tasks passed)"),
        "{text}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&repo.ok(&["run", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["run_id"] == good.as_str() && r["plan_id"] == "plan-broken-run"));
    // `latest` is the newest run that reads; the broken one is named when asked for.
    assert_eq!(run_result(&repo)["run_id"], good.as_str());
    let err = repo.fails(&["run", "show", "run-29990101-000000-bad0"]);
    assert!(
        err.contains("runs/run-29990101-000000-bad0/result.json:1: not a git-okr run result"),
        "{err}"
    );
    let err = repo.fails(&["run", "show", "../okrs"]);
    assert!(err.contains("no run \"../okrs\""), "{err}");

    // A result whose log path points elsewhere on the state is not followed.
    let mut evil = run_result(&repo);
    evil["run_id"] = "run-evil".into();
    evil["tasks"][0]["transcript"]["path"] = "okrs/org.yml".into();
    let file = repo.path().join(".git/evil.json");
    std::fs::write(&file, evil.to_string()).unwrap();
    let script = format!(
        r#"set -e
idx=$(mktemp); rm -f "$idx"
GIT_INDEX_FILE=$idx git read-tree refs/okr/state
blob=$(git hash-object -w "{}")
GIT_INDEX_FILE=$idx git update-index --add --cacheinfo "100644,$blob,runs/run-evil/result.json"
tree=$(GIT_INDEX_FILE=$idx git write-tree)
commit=$(echo evil | git commit-tree "$tree" -p refs/okr/state)
git update-ref refs/okr/state "$commit"
rm -f "$idx""#,
        file.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(repo.path())
        .envs(repo.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = repo.fails(&["run", "show", "run-evil", "--log", "T1"]);
    assert!(
        err.contains("task T1's log \"okrs/org.yml\" is not in the run's folder runs/run-evil/"),
        "{err}"
    );
}

/// A run file on the ref (a teammate's clone or an agent wrote it) with terminal escape
/// sequences in its texts: `run show`, `run list` and `--log` show them, never obey them.
#[test]
fn escape_sequences_from_the_ref_are_shown_not_obeyed() {
    let repo = setup();
    repo.git(&["config", "okr.adapter.default", "mock"]);
    repo.ok(&["plan", "generate", "--kr-id", "KR-1.1"]);
    let plan = repo
        .ok(&["show", "plans"])
        .lines()
        .next()
        .unwrap()
        .to_string();
    repo.ok(&["plan", "run", &plan]);
    let files = repo.git(&["ls-tree", "-r", "--name-only", "refs/okr/state", "runs/"]);
    let result_path = files.lines().find(|p| p.ends_with("/result.json")).unwrap();
    let mut result: serde_json::Value =
        serde_json::from_str(&repo.state_file(result_path)).unwrap();
    result["adapter"] = "mock\u{1b}]0;owned\u{7}".into();
    result["tasks"][0]["title"] = "clear\u{1b}[2J\u{1b}[Hthe screen".into();
    result["tasks"][0]["reason"] = "bidi \u{202e}desrever".into();
    repo.forge_state_file(
        result_path,
        serde_json::to_string_pretty(&result).unwrap().as_bytes(),
        "a run with escapes",
    );
    let log = files
        .lines()
        .find(|p| p.ends_with("/transcript.log"))
        .expect("the mock agent's transcript");
    repo.forge_state_file(
        log,
        b"line one\n\x1b[31mred\x1b[0m\rover\n",
        "a log with escapes",
    );
    let show = repo.ok(&["run", "show", "latest"]);
    let list = repo.ok(&["run", "list"]);
    for out in [&show, &list] {
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{202e}'),
            "{out:?}"
        );
    }
    assert!(
        show.contains("clear\\u{1b}[2J\\u{1b}[Hthe screen"),
        "{show}"
    );
    assert!(show.contains("bidi \\u{202e}desrever"), "{show}");
    assert!(list.contains("mock\\u{1b}]0;owned\\u{7}"), "{list}");
    let task = log.rsplit('/').nth(1).unwrap();
    let out = repo.ok(&["run", "show", "latest", "--log", task]);
    assert_eq!(out, "line one\n\\u{1b}[31mred\\u{1b}[0m\\u{d}over\n");
}
