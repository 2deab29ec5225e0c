//! What the executor starts and how it watches the output: made by an adapter, run by
//! `exec`, so neither needs the other.

use std::path::PathBuf;

/// One concrete process to start.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: String,
    pub result_file: Option<PathBuf>,
}

/// Watches an agent's stdout as it streams (the kept tail may have lost the start).
#[derive(Debug, Clone)]
pub enum Inspector {
    None,
    /// codex `--json`: JSONL events; remembers the first `turn.failed`, else the last
    /// `error` (codex reports each retry as an error: the last one says where it stopped).
    Codex {
        line: Vec<u8>,
        error: Option<String>,
    },
    /// claude `--output-format json`: remembers the last non-empty line (the result object).
    Claude {
        line: Vec<u8>,
        last: Vec<u8>,
    },
}

/// Lines longer than this are not inspected (they are still logged).
const MAX_LINE: usize = 16 * 1024 * 1024;

impl Inspector {
    pub fn feed(&mut self, chunk: &[u8]) {
        let line = match self {
            Inspector::None => return,
            Inspector::Codex { line, .. } | Inspector::Claude { line, .. } => line,
        };
        let mut rest = chunk;
        let mut complete: Vec<Vec<u8>> = Vec::new();
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            if line.len() + pos <= MAX_LINE {
                line.extend_from_slice(&rest[..pos]);
                complete.push(std::mem::take(line));
            } else {
                line.clear();
            }
            rest = &rest[pos + 1..];
        }
        if line.len() + rest.len() <= MAX_LINE {
            line.extend_from_slice(rest);
        } else {
            line.clear();
        }
        for l in complete {
            self.line(&l);
        }
    }

    pub fn finish(&mut self) {
        let pending = match self {
            Inspector::None => return,
            Inspector::Codex { line, .. } | Inspector::Claude { line, .. } => std::mem::take(line),
        };
        self.line(&pending);
    }

    fn line(&mut self, l: &[u8]) {
        if l.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match self {
            Inspector::None => {}
            Inspector::Codex { error, .. } => {
                if error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("turn.failed"))
                {
                    return;
                }
                let Ok(event) = serde_json::from_slice::<serde_json::Value>(l) else {
                    return;
                };
                let kind = event.get("type").and_then(|t| t.as_str()).unwrap_or("");
                if kind == "turn.failed" || kind == "error" {
                    let msg = event
                        .pointer("/error/message")
                        .or_else(|| event.get("message"))
                        .and_then(|m| m.as_str())
                        .unwrap_or(kind);
                    *error = Some(format!("{kind}: {msg}"));
                }
            }
            Inspector::Claude { last, .. } => *last = l.to_vec(),
        }
    }
}
