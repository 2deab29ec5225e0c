//! `git okr mcp` driven as an MCP client drives it: JSON-RPC lines over the real
//! binary's stdin and stdout.

mod common;

use common::TestRepo;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A running server and the client end of its stdio.
struct Session {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    next_id: u64,
}

impl Session {
    fn start(repo: &TestRepo, agent: &str, extra_env: &[(&str, String)]) -> Session {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("git-okr"));
        cmd.current_dir(repo.path())
            .args(["mcp", "--agent", agent])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in repo.env() {
            cmd.env(k, v);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut s = Session {
            child,
            input,
            output,
            next_id: 1,
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "git-okr", "{init}");
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.input, "{message}").unwrap();
        self.input.flush().unwrap();
    }

    fn send_raw(&mut self, line: &str) {
        writeln!(self.input, "{line}").unwrap();
        self.input.flush().unwrap();
    }

    /// Send a request and read messages until its response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            let n = self.output.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "the server closed its output before answering {method}"
            );
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == json!(id) {
                return message;
            }
        }
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let r = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        assert!(r.get("error").is_none(), "{tool}: {r}");
        r["result"].clone()
    }

    /// A successful tool call's structured content.
    fn ok(&mut self, tool: &str, arguments: Value) -> Value {
        let r = self.call(tool, arguments);
        assert_eq!(r["isError"], json!(false), "{tool}: {r}");
        r["structuredContent"].clone()
    }

    /// A failed tool call's message.
    fn tool_error(&mut self, tool: &str, arguments: Value) -> String {
        let r = self.call(tool, arguments);
        assert_eq!(r["isError"], json!(true), "{tool}: {r}");
        r["content"][0]["text"].as_str().unwrap().to_string()
    }

    fn close(mut self) {
        drop(self.input);
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the server ends cleanly when its input closes"
        );
    }
}

fn repo() -> TestRepo {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo
}

#[test]
fn lists_tools_and_resources_and_answers_every_read_tool() {
    let repo = repo();
    repo.ok(&["metric", "set", "ci.test_count", "40"]);
    repo.ok(&["kr", "measure"]);
    repo.ok(&["kr", "checkin", "KR-1.1", "--confidence", "0.6"]);
    let mut s = Session::start(&repo, "team-backend", &[]);

    let tools = s.request("tools/list", json!({}));
    let mut names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert!(t["inputSchema"].is_object(), "{t}");
            assert!(
                t["outputSchema"].is_object(),
                "every tool has an output schema: {t}"
            );
            t["name"].as_str().unwrap()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "get_proposal",
            "get_task",
            "kr_context",
            "list_key_results",
            "list_proposals",
            "okr_status",
            "propose_change",
            "report_task_result"
        ],
        "no tool approves, rejects or applies"
    );

    let resources = s.request("resources/list", json!({}));
    let uris: Vec<&str> = resources["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert!(uris.contains(&"okr://state/okrs/org.yml"), "{uris:?}");
    assert!(
        uris.contains(&"okr://state/culture/standards.md"),
        "{uris:?}"
    );
    assert!(
        uris.iter()
            .any(|u| u.starts_with("okr://state/metrics/snapshots/")),
        "{uris:?}"
    );
    let org = s.request("resources/read", json!({"uri": "okr://state/okrs/org.yml"}));
    assert_eq!(
        org["result"]["contents"][0]["text"].as_str().unwrap(),
        repo.state_file("okrs/org.yml")
    );
    // Only what is listed can be read: not other state files, not paths that escape.
    for uri in [
        "okr://state/daemon/jobs.yml",
        "okr://state/../../etc/passwd",
        "file:///etc/passwd",
    ] {
        let r = s.request("resources/read", json!({"uri": uri}));
        assert!(r.get("error").is_some(), "{uri}: {r}");
    }

    let status = s.ok("okr_status", json!({}));
    assert_eq!(status["objectives"][0]["objective_id"], "OBJ-1");
    let kr = &status["objectives"][0]["key_results"][0];
    assert_eq!(
        (kr["kr_id"].as_str(), kr["current"].as_f64()),
        (Some("KR-1.1"), Some(40.0))
    );
    assert_eq!(kr["status"], "in_progress");
    assert!((kr["score"].as_f64().unwrap() - 0.4).abs() < 1e-9);
    assert_eq!(
        kr["confidence"],
        json!(0.6),
        "the check-in's confidence: {kr}"
    );

    let all = s.ok("list_key_results", json!({}));
    assert_eq!(all["key_results"].as_array().unwrap().len(), 1);
    let none = s.ok("list_key_results", json!({"status": "achieved"}));
    assert_eq!(none["key_results"], json!([]));
    let mine = s.ok("list_key_results", json!({"owner": "team-backend"}));
    assert_eq!(mine["key_results"].as_array().unwrap().len(), 1);
    assert!(s
        .tool_error("list_key_results", json!({"status": "done-ish"}))
        .contains("not a KR status"));

    let ctx = s.ok("kr_context", json!({"kr_id": "KR-1.1"}));
    assert_eq!(ctx["direction"], "increase");
    assert_eq!(ctx["gap"], json!(60.0));
    assert_eq!(ctx["confidence"], json!(0.6));
    let history = ctx["history"].as_array().unwrap();
    assert!(
        history.iter().any(|p| p["value"] == json!(40.0)),
        "{history:?}"
    );
    assert!(s
        .tool_error("kr_context", json!({"kr_id": "KR-9.9"}))
        .contains("KR-9.9 is not a key result"));
    s.close();
}

#[test]
fn a_proposal_through_mcp_equals_the_cli_one_and_refusals_use_the_cli_message() {
    let (a, b) = (repo(), repo());
    let mut s = Session::start(&a, "team-backend", &[]);
    let proposed = s.ok(
        "propose_change",
        json!({"reason": "raise the bar", "set": [{"id": "KR-1.1", "field": "target", "value": 120}]}),
    );
    assert_eq!(proposed["status"], "proposed");
    let id = proposed["id"].as_str().unwrap().to_string();
    b.ok(&[
        "--agent",
        "team-backend",
        "okr",
        "propose",
        "--set",
        "KR-1.1.target=120",
        "--reason",
        "raise the bar",
    ]);
    let cli_id = b.ok(&["okr", "list", "--json"]);
    let cli_id = serde_json::from_str::<Value>(&cli_id).unwrap();
    let cli_id = cli_id[0]["id"]
        .as_str()
        .or(cli_id["proposals"][0]["id"].as_str())
        .unwrap()
        .to_string();
    let comparable = |repo: &TestRepo, id: &str| {
        let mut v: serde_yaml::Value =
            serde_yaml::from_str(&repo.state_file(&format!("proposals/{id}.yml"))).unwrap();
        let m = v.as_mapping_mut().unwrap();
        for key in ["id", "created", "base", "lifecycle"] {
            m.remove(key);
        }
        v
    };
    assert_eq!(comparable(&a, &id), comparable(&b, &cli_id));
    let detail = s.ok("get_proposal", json!({"id": id}));
    assert_eq!(detail["proposer"], "agent:team-backend");
    assert!(detail["diffs"][0]["diff"].as_str().unwrap().contains("+"));
    let listed = s.ok("list_proposals", json!({"status": "proposed"}));
    assert_eq!(listed["proposals"][0]["id"], json!(id));

    // Another agent is refused, with the message the CLI prints; the ref does not move.
    let mut other = Session::start(&a, "stranger", &[]);
    let before = a.state_tip();
    let refused = other.tool_error(
        "propose_change",
        json!({"reason": "mine now", "set": [{"id": "KR-1.1", "field": "target", "value": 1}]}),
    );
    let cli = a.fails(&[
        "--agent",
        "stranger",
        "okr",
        "propose",
        "--set",
        "KR-1.1.target=1",
        "--reason",
        "mine now",
    ]);
    assert!(cli.contains(&refused), "MCP: {refused}\nCLI: {cli}");
    for bad in [
        json!({"reason": "x", "set": [{"id": "KR-9.9", "field": "target", "value": 1}]}),
        json!({"reason": "x", "set": [{"id": "KR-1.1", "field": "status", "value": "finished"}]}),
        json!({"reason": "x", "set": [{"id": "KR-1.1", "field": "target", "value": [1]}]}),
        json!({"reason": "   ", "remove": ["KR-1.1"]}),
        json!({"reason": "x"}),
    ] {
        s.tool_error("propose_change", bad);
    }
    // Malformed requests: wrong types and unknown fields are errors, garbage is survived.
    let r = s.call("propose_change", json!({"reason": 5}));
    assert_eq!(r["isError"], json!(true), "{r}");
    let r = s.call("propose_change", json!({"reason": "x", "approve": true}));
    assert_eq!(r["isError"], json!(true), "{r}");
    s.send_raw("{not json");
    let r = s.request(
        "tools/call",
        json!({"name": "approve", "arguments": {"id": id}}),
    );
    assert!(
        r.get("error").is_some() || r["result"]["isError"] == json!(true),
        "{r}"
    );
    assert!(
        s.ok("okr_status", json!({}))["objectives"].is_array(),
        "still serving"
    );
    assert_eq!(a.state_tip(), before);
    s.close();
    other.close();
}

#[test]
fn refuses_to_start_as_a_person() {
    let repo = repo();
    let out = repo.run(&["mcp"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("serves agents only"), "{err}");
    let mut cmd = repo.okr();
    let out = cmd.args(["--agent", "  ", "mcp"]).output().unwrap();
    assert!(!out.status.success(), "a blank agent is no agent");
}

#[test]
fn a_task_agent_reads_its_task_and_records_a_checked_report() {
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    let task = dir.path().join("task.json");
    let result = dir.path().join("result.json");
    std::fs::write(
        &task,
        r#"{"task": {"id": "T1", "kr_id": "KR-1.1", "title": "Write tests"}}"#,
    )
    .unwrap();
    let env = [
        ("OKR_TASK_FILE", task.display().to_string()),
        ("OKR_RESULT_FILE", result.display().to_string()),
        ("OKR_TASK_ID", "T1".to_string()),
    ];
    let mut s = Session::start(&repo, "team-backend", &env);
    let t = s.ok("get_task", json!({}));
    assert_eq!(t["task"]["task"]["kr_id"], "KR-1.1");
    assert_eq!(t["task_id"], "T1");
    for bad in [
        json!({"report": "done"}),
        json!({"report": {"status": "great", "summary": "x"}}),
        json!({"report": {"status": "done"}}),
        json!({"report": {"status": "done", "summary": "x", "extra": 1}}),
    ] {
        s.tool_error("report_task_result", bad);
        assert!(!result.exists(), "an invalid report is never written");
    }
    s.ok(
        "report_task_result",
        json!({"report": {"status": "done", "summary": "added 3 tests"}}),
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(written["summary"], "added 3 tests");
    s.close();

    // Outside a run there is no task.
    let mut s = Session::start(&repo, "team-backend", &[]);
    assert!(s
        .tool_error("get_task", json!({}))
        .contains("OKR_TASK_FILE"));
    s.close();
}
