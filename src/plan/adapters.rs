//! Coding agents as child processes: `codex`, `claude` and `command`.
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
}

/// What an agent's run amounts to.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub passed: bool,
    pub reason: Option<String>,
    /// The agent's own summary of what it did.
    pub summary: Option<String>,
    /// The agent's final answer (codex `-o` file, claude `result`, command stdout).
    pub answer: Option<String>,
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
        Some(other) => bail!(
            "git config {}: unknown adapter kind {other:?} (codex, claude or command)",
            key("kind")
        ),
        None => match name {
            "codex" => Kind::Codex,
            "claude" => Kind::Claude,
            _ => Kind::Command,
        },
    };
    let program = match (get("command"), kind) {
        (Some(p), _) => p,
        (None, Kind::Codex) => "codex".into(),
        (None, Kind::Claude) => "claude".into(),
        (None, Kind::Command) => bail!(
            "adapter {name:?} is not configured: set the program with `git config {} PROGRAM` (codex and claude need no setup)",
            key("command")
        ),
    };
    let args = config
        .plumbing()
        .strings(key("args").as_str())
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.to_string())
        .collect();
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
    /// (codex `--output-schema`), `task_file` in `OKR_TASK_FILE`.
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
        let mut result_file = None;
        let agent = env.iter().find(|(k, _)| *k == "OKR_AGENT").map(|(_, v)| *v);
        match self.kind {
            Kind::Codex => {
                let schema_file = scratch.join("output-schema.json");
                std::fs::write(&schema_file, schema)?;
                let result = scratch.join("last-message.json");
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
                result_file = Some(result);
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
            Kind::Command => args.extend(self.args.iter().cloned()),
        }
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("OKR_TASK_FILE".into(), task_file.display().to_string()));
        env.push(("OKR_ADAPTER".into(), self.name.clone()));
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
            Kind::Command => Inspector::None,
        }
    }

    /// Pass or fail, and why. codex: exit code and `turn.failed`/`error` events, then its
    /// report; claude: `is_error` (API errors can exit 0); command: the exit code.
    pub fn judge(&self, o: &AgentOutcome) -> Verdict {
        let ended = match &o.end {
            End::Exited(0) => None,
            End::Exited(code) => Some(format!("exit status {code}")),
            End::Signaled(sig) => Some(format!("killed by signal {sig}")),
            End::TimedOut => Some(format!("timed out after {} s", o.duration.as_secs())),
            End::Cancelled => Some("cancelled".to_string()),
            End::SpawnFailed(e) => Some(e.clone()),
        };
        let mut v = Verdict::default();
        match (&self.kind, &o.inspector) {
            (Kind::Codex, Inspector::Codex { error, .. }) => {
                v.answer = o.result_file.clone().filter(|s| !s.trim().is_empty());
                let report: Option<serde_json::Value> = v
                    .answer
                    .as_deref()
                    .and_then(|a| serde_json::from_str(a).ok());
                v.summary = report
                    .as_ref()
                    .and_then(|r| r.get("summary"))
                    .and_then(|s| s.as_str())
                    .map(shorten);
                let reported = report
                    .as_ref()
                    .and_then(|r| r.get("status"))
                    .and_then(|s| s.as_str())
                    .map(str::to_string);
                v.reason = match (ended, error) {
                    (Some(e), Some(err)) => Some(format!("{e}; codex: {err}")),
                    (Some(e), None) => Some(e),
                    (None, Some(err)) => Some(format!("codex reported an error: {err}")),
                    (None, None) => match reported.as_deref() {
                        Some(s @ ("blocked" | "failed")) => Some(format!("the agent reported {s}")),
                        _ => None,
                    },
                };
            }
            (Kind::Claude, Inspector::Claude { last, .. }) => {
                let result: Option<serde_json::Value> = serde_json::from_slice(last).ok();
                v.answer = result
                    .as_ref()
                    .and_then(|r| r.get("result"))
                    .and_then(|s| s.as_str())
                    .map(str::to_string);
                v.summary = v.answer.as_deref().map(shorten);
                let is_error = result
                    .as_ref()
                    .and_then(|r| r.get("is_error"))
                    .and_then(|b| b.as_bool());
                let subtype = result
                    .as_ref()
                    .and_then(|r| r.get("subtype"))
                    .and_then(|s| s.as_str())
                    .unwrap_or("unknown");
                v.reason = match (ended, is_error) {
                    (Some(e), _) => Some(e),
                    (None, Some(true)) => Some(format!(
                        "claude reported is_error (subtype {subtype}): {}",
                        v.summary.as_deref().unwrap_or("")
                    )),
                    (None, Some(false)) => None,
                    (None, None) => Some("claude printed no JSON result (is_error unknown)".into()),
                };
            }
            _ => {
                let out = o.stdout.bytes();
                v.answer = Some(String::from_utf8_lossy(&out).into_owned());
                v.reason = ended;
                if o.stdout.truncated() && v.reason.is_none() {
                    // Only matters for answers; a run's tail is still kept.
                    v.summary = Some(format!("stdout truncated to its last {} bytes", out.len()));
                }
            }
        }
        v.passed = v.reason.is_none();
        v
    }
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
