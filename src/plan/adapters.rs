//! Coding agents as child processes: `codex`, `claude`, `command`, and the built-in `mock`.
//!
//! Configured only from git config (`okr.adapter.NAME.*`), never from the state ref, so
//! fetching a teammate's ref can never choose what runs. Keys:
//!
//! | key | meaning |
//! | --- | --- |
//! | `okr.adapter.NAME.kind` | `codex`, `claude` or `command` (default: NAME if it is codex/claude, else command) |
//! | `okr.adapter.NAME.command` | the program (default `codex` / `claude`; required for `command`) |
//! | `okr.adapter.NAME.args` | extra arguments, one per value (`git config --add`) |
//! | `okr.adapter.NAME.timeout` | seconds per task when `--timeout` is not given |
//! | `okr.adapter.NAME.maxTurns` | claude `--max-turns` (default 50) |
//! | `okr.adapter.NAME.allowedTools` | claude `--allowedTools` (default `Read,Edit,Write,Glob,Grep,Bash`) |
//! | `okr.adapter.mock.fail`, `okr.adapter.mock.hang` | task ids (comma separated, or `all`) the mock fails or hangs on |
//! | `okr.adapter.default` | the adapter when `--adapter` is not given (else codex) |

use super::exec::{AgentOutcome, End};
use super::invocation::{Inspector, Invocation};
use crate::store::Store;
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Codex,
    Claude,
    Command,
    /// git-okr itself as a deterministic agent (`__okr-mock-agent`).
    Mock,
}

#[derive(Debug, Clone)]
pub struct Adapter {
    pub name: String,
    pub kind: Kind,
    /// The program, resolved on PATH.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub timeout: Option<u64>,
    pub max_turns: u32,
    pub allowed_tools: String,
    /// mock only: task ids to fail and to hang on (`all` for every task).
    pub mock_fail: String,
    pub mock_hang: String,
}

/// The adapter when `--adapter` is not given: `okr.adapter.default`, else codex.
pub fn default_name(store: &Store) -> String {
    store
        .repo()
        .config_snapshot()
        .string("okr.adapter.default")
        .map(|v| v.to_string())
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "codex".into())
}

/// What an agent's run amounts to.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub passed: bool,
    pub reason: Option<String>,
    /// The agent's final answer (codex `-o` file, claude `result`, command: the result
    /// file, else stdout).
    pub answer: Option<String>,
    /// The final report where the contract says it must be: codex's `-o` file, claude's
    /// `result`, the `OKR_RESULT_FILE` of command and mock adapters.
    pub report: Option<String>,
}

/// Load adapter `name` from git config and find its program; fails before anything starts.
pub fn load(store: &Store, name: &str) -> Result<Adapter> {
    if name.trim().is_empty() || name.contains(char::is_whitespace) {
        bail!("--adapter {name:?}: an adapter name is one word (codex, claude, or a name configured in okr.adapter.NAME.command)");
    }
    let config = store.repo().config_snapshot();
    let key = |k: &str| format!("okr.adapter.{name}.{k}");
    let get = |k: &str| config.string(key(k).as_str()).map(|v| v.to_string());
    let kind = match get("kind").as_deref() {
        Some("codex") => Kind::Codex,
        Some("claude") => Kind::Claude,
        Some("command") => Kind::Command,
        Some("mock") => Kind::Mock,
        Some(other) => bail!(
            "git config {}: unknown adapter kind {other:?} (codex, claude, command or mock)",
            key("kind")
        ),
        None => match name {
            "codex" => Kind::Codex,
            "claude" => Kind::Claude,
            "mock" => Kind::Mock,
            _ => Kind::Command,
        },
    };
    let program = match (get("command"), kind) {
        // The mock is git-okr itself, whatever the config says.
        (_, Kind::Mock) => std::env::current_exe()
            .map_err(|e| anyhow!("adapter {name}: finding git-okr itself: {e}"))?
            .display()
            .to_string(),
        (Some(p), _) => p,
        (None, Kind::Codex) => "codex".into(),
        (None, Kind::Claude) => "claude".into(),
        (None, Kind::Command) => bail!(
            "adapter {name:?} is not configured: set the program with `git config {} PROGRAM` (codex and claude need no setup)",
            key("command")
        ),
    };
    let mut args: Vec<String> = Vec::new();
    if kind == Kind::Mock {
        args.push(super::mock::MOCK_ARG.to_string());
    }
    let extra: Vec<String> = config
        .plumbing()
        .strings(key("args").as_str())
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.to_string())
        .collect();
    args.extend(extra);
    let number = |k: &str| -> Result<Option<u64>> {
        match get(k) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| anyhow!("git config {}: {v:?} is not a whole number", key(k))),
        }
    };
    // Seconds, or a Go duration (`30m`) as OKRchestra's scripts write them.
    let timeout = get("timeout")
        .map(|v| {
            crate::model::duration::parse_secs(&v)
                .map_err(|e| anyhow!("git config {}: {e}", key("timeout")))
        })
        .transpose()?;
    if timeout == Some(0) {
        bail!(
            "git config {}: the timeout must be at least 1 second",
            key("timeout")
        );
    }
    let max_turns = number("maxTurns")?.unwrap_or(50) as u32;
    let allowed_tools =
        get("allowedTools").unwrap_or_else(|| "Read,Edit,Write,Glob,Grep,Bash".into());
    let resolved =
        find_program(&program).ok_or_else(|| {
            anyhow!(
            "adapter {name}: program {program:?} not found{} (set it with `git config {} PATH`)",
            if program.contains('/') { "" } else { " on PATH" },
            key("command")
        )
        })?;
    Ok(Adapter {
        name: name.to_string(),
        kind,
        program: resolved,
        args,
        timeout,
        max_turns,
        allowed_tools,
        mock_fail: get("fail").unwrap_or_default(),
        mock_hang: get("hang").unwrap_or_default(),
    })
}

/// `program` as PATH lookup would find it (an executable file), or a path as given.
fn find_program(program: &str) -> Option<PathBuf> {
    which::which(program).ok()
}

/// The MCP server offered to agents that take MCP configuration: this very binary's
/// `git okr mcp`, bound to the agent the task runs as. Whatever the agent writes through
/// it is a proposal, and the run guard checks it like any other commit.
struct McpServer {
    program: String,
    args: Vec<String>,
}

/// Claude Code's name for every tool of the `git-okr` MCP server (for `--allowedTools`).
const MCP_TOOLS: &str = "mcp__git-okr";

fn mcp_server(agent: &str) -> Result<McpServer> {
    let exe = std::env::current_exe()?;
    Ok(McpServer {
        program: exe.display().to_string(),
        args: vec!["mcp".into(), "--agent".into(), agent.to_string()],
    })
}

/// `--mcp-config` for Claude Code: `{"mcpServers": {"git-okr": {command, args}}}`.
fn claude_mcp_config(server: &McpServer) -> String {
    serde_json::json!({"mcpServers": {"git-okr": {
        "command": server.program,
        "args": server.args,
    }}})
    .to_string()
}

/// Codex's configuration overrides (`-c key=value`, values in TOML; a JSON string is a
/// valid TOML basic string, so quoting cannot be escaped from).
fn codex_mcp_config(server: &McpServer) -> Vec<String> {
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let args: Vec<String> = server.args.iter().map(|a| quote(a)).collect();
    vec![
        "-c".into(),
        format!("mcp_servers.git-okr.command={}", quote(&server.program)),
        "-c".into(),
        format!("mcp_servers.git-okr.args=[{}]", args.join(",")),
    ]
}

impl Adapter {
    /// The process for one request: `prompt` on stdin, `schema` for the final answer
    /// (codex `--output-schema`), `task_file` in `OKR_TASK_FILE`, the final answer expected
    /// in `scratch/report.json` (codex `-o`; `OKR_RESULT_FILE` for command and mock).
    pub fn invocation(
        &self,
        workdir: &Path,
        scratch: &Path,
        schema: &str,
        prompt: String,
        task_file: &Path,
        env: &[(&str, &str)],
    ) -> Result<Invocation> {
        let mut args: Vec<String> = Vec::new();
        let result = scratch.join("report.json");
        let result_file = Some(result.clone());
        let agent = env.iter().find(|(k, _)| *k == "OKR_AGENT").map(|(_, v)| *v);
        match self.kind {
            Kind::Codex => {
                let schema_file = scratch.join("output-schema.json");
                std::fs::write(&schema_file, schema)?;
                args.extend(
                    [
                        "exec",
                        "--sandbox",
                        "workspace-write",
                        "--skip-git-repo-check",
                        "-C",
                    ]
                    .map(String::from),
                );
                args.push(workdir.display().to_string());
                args.push("--json".into());
                args.push("--output-schema".into());
                args.push(schema_file.display().to_string());
                args.push("-o".into());
                args.push(result.display().to_string());
                if let Some(agent) = agent {
                    args.extend(codex_mcp_config(&mcp_server(agent)?));
                }
                args.extend(self.args.iter().cloned());
                args.push("-".into());
            }
            Kind::Claude => {
                args.extend(
                    [
                        "-p",
                        "--output-format",
                        "json",
                        "--permission-mode",
                        "acceptEdits",
                        "--allowedTools",
                    ]
                    .map(String::from),
                );
                match agent {
                    Some(agent) => {
                        let config = scratch.join("mcp-config.json");
                        std::fs::write(&config, claude_mcp_config(&mcp_server(agent)?))?;
                        args.push(format!("{},{MCP_TOOLS}", self.allowed_tools));
                        args.push("--mcp-config".into());
                        args.push(config.display().to_string());
                    }
                    None => args.push(self.allowed_tools.clone()),
                }
                args.push("--max-turns".into());
                args.push(self.max_turns.to_string());
                args.extend(self.args.iter().cloned());
            }
            Kind::Command | Kind::Mock => args.extend(self.args.iter().cloned()),
        }
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("OKR_TASK_FILE".into(), task_file.display().to_string()));
        env.push(("OKR_ADAPTER".into(), self.name.clone()));
        env.push(("OKR_RESULT_FILE".into(), result.display().to_string()));
        env.push((
            "OKRCHESTRA_AGENT_RESULT".into(),
            result.display().to_string(),
        ));
        if self.kind == Kind::Mock {
            env.push(("OKR_MOCK_FAIL".into(), self.mock_fail.clone()));
            env.push(("OKR_MOCK_HANG".into(), self.mock_hang.clone()));
        }
        Ok(Invocation {
            program: self.program.clone(),
            args,
            env,
            stdin: prompt,
            result_file,
        })
    }

    /// What watches the agent's stdout while it runs.
    pub fn inspector(&self) -> Inspector {
        match self.kind {
            Kind::Codex => Inspector::Codex {
                line: Vec::new(),
                error: None,
            },
            Kind::Claude => Inspector::Claude {
                line: Vec::new(),
                last: Vec::new(),
            },
            Kind::Command | Kind::Mock => Inspector::None,
        }
    }

    /// Whether the process ended well, and why not: codex: exit code and `turn.failed`/
    /// `error` events; claude: `is_error` (API errors can exit 0) and its own `result` text
    /// as the reason; command and mock: the exit code. The report itself is checked by the
    /// caller (runs want a task report, planning wants tasks).
    pub fn judge(&self, o: &AgentOutcome) -> Verdict {
        let ended = match &o.end {
            End::Exited(0) => None,
            End::Exited(code) => Some(format!("exit status {code}")),
            End::Signaled(sig) => Some(format!("killed by signal {sig}")),
            End::TimedOut => Some(format!("timed out after {} s", o.duration.as_secs())),
            End::Cancelled => Some("cancelled".to_string()),
            End::SpawnFailed(e) => Some(e.clone()),
        };
        let file = o.result_file.clone().filter(|s| !s.trim().is_empty());
        let mut v = Verdict::default();
        match (&self.kind, &o.inspector) {
            (Kind::Codex, Inspector::Codex { error, .. }) => {
                v.answer = file.clone();
                v.report = file;
                v.reason = match (ended, error) {
                    (Some(e), Some(err)) => Some(format!("{e}; codex: {err}")),
                    (Some(e), None) => Some(e),
                    (None, Some(err)) => Some(format!("codex reported an error: {err}")),
                    (None, None) => None,
                };
            }
            (Kind::Claude, Inspector::Claude { last, .. }) => {
                let result: Option<serde_json::Value> = serde_json::from_slice(last).ok();
                v.answer = result
                    .as_ref()
                    .and_then(|r| r.get("result"))
                    .and_then(|s| s.as_str())
                    .map(str::to_string);
                v.report = v.answer.as_deref().map(last_json_object);
                let is_error = result
                    .as_ref()
                    .and_then(|r| r.get("is_error"))
                    .and_then(|b| b.as_bool());
                let subtype = result
                    .as_ref()
                    .and_then(|r| r.get("subtype"))
                    .and_then(|s| s.as_str())
                    .unwrap_or("unknown");
                // claude's own words on what went wrong ("Not logged in · Please run /login").
                let said = v.answer.as_deref().map(shorten).unwrap_or_default();
                v.reason = match (ended, is_error) {
                    (Some(e), Some(true)) => Some(format!("{e}; claude: {said}")),
                    (Some(e), _) => Some(e),
                    (None, Some(true)) => Some(format!(
                        "claude reported is_error (subtype {subtype}): {said}"
                    )),
                    (None, Some(false)) => None,
                    (None, None) => Some("claude printed no JSON result (is_error unknown)".into()),
                };
            }
            _ => {
                v.report = file.clone();
                v.answer =
                    file.or_else(|| Some(String::from_utf8_lossy(&o.stdout.bytes()).into_owned()));
                v.reason = ended;
            }
        }
        v.passed = v.reason.is_none();
        v
    }
}

/// claude answers in prose: the report is the whole answer when that is JSON, else its
/// last fenced block or last line that is a JSON object.
fn last_json_object(text: &str) -> String {
    let t = text.trim();
    if t.starts_with('{') || t.starts_with("```") {
        return t.to_string();
    }
    if let Some(start) = t.rfind("```json") {
        let body = &t[start + "```json".len()..];
        return body.split("```").next().unwrap_or(body).trim().to_string();
    }
    t.lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('{') && l.ends_with('}'))
        .unwrap_or(t)
        .to_string()
}

fn shorten(s: &str) -> String {
    const MAX: usize = 4000;
    if s.len() <= MAX {
        return s.trim().to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_events_across_chunks() {
        let mut i = Inspector::Codex {
            line: Vec::new(),
            error: None,
        };
        i.feed(b"{\"type\":\"turn.started\"}\n{\"type\":\"turn.fa");
        i.feed(b"iled\",\"error\":{\"message\":\"quota\"}}\n{\"type\":\"error\",\"message\":\"second\"}");
        i.finish();
        match i {
            Inspector::Codex { error, .. } => {
                assert_eq!(error.as_deref(), Some("turn.failed: quota"))
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn codex_retries_give_way_to_the_last_error() {
        let mut i = Inspector::Codex {
            line: Vec::new(),
            error: None,
        };
        i.feed(b"{\"type\":\"error\",\"message\":\"Reconnecting... 2/5\"}\n");
        i.feed(b"{\"type\":\"error\",\"message\":\"waiting for network\"}\n");
        i.finish();
        match i {
            Inspector::Codex { error, .. } => {
                assert_eq!(error.as_deref(), Some("error: waiting for network"))
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn claude_keeps_the_last_line() {
        let mut i = Inspector::Claude {
            line: Vec::new(),
            last: Vec::new(),
        };
        i.feed(b"noise\n{\"is_error\":true}\n\n");
        i.finish();
        match i {
            Inspector::Claude { last, .. } => assert_eq!(last, b"{\"is_error\":true}"),
            _ => unreachable!(),
        }
    }
}
