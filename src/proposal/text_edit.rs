//! Small edits of an OKR file's text, so a proposal's diff shows the lines it changes and
//! keeps comments and layout. Serializing the YAML tree again would reformat the file.
//!
//! These edits only handle block-style YAML as people write it; the caller checks that
//! the edited text parses to exactly the tree the structured edit produced, and falls
//! back to re-serializing when it does not (or when this returns `None`).

use crate::model::proposal::Change;
use serde_yaml::Value;

/// `change` made as a text edit of `text`, when the layout allows.
pub fn edit_text(text: &str, change: &Change, id_is_kr: bool) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let id_key = |is_kr: bool| if is_kr { "kr_id" } else { "objective_id" };
    match change {
        Change::Set { id, field, value } => {
            let block = Block::find(&lines, id_key(id_is_kr), id)?;
            let rendered = scalar(value)?;
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            match block.key_line(&lines, field) {
                Some(i) => {
                    let line = lines[i];
                    let (head, _) = line.split_once(':')?;
                    let rest = line[head.len() + 1..].trim_end_matches(['\n', '\r']);
                    // A value that continues on the next lines (block scalar, nested list) is not ours to edit.
                    let one_line_list = rest.trim().starts_with('[') && rest.trim().ends_with(']');
                    if rest.trim().is_empty()
                        || (rest
                            .trim_start()
                            .starts_with(['|', '>', '[', '{', '&', '*', '!'])
                            && !one_line_list)
                    {
                        return None;
                    }
                    let comment = rest
                        .find(" #")
                        .map(|at| &rest[rest[..at].trim_end().len()..])
                        .unwrap_or("");
                    out[i] = format!("{head}: {rendered}{comment}{}", newline(line));
                }
                None => {
                    let at = block.last_content;
                    out.insert(
                        at + 1,
                        format!("{}{field}: {rendered}\n", " ".repeat(block.key_col)),
                    );
                    ensure_newline(&mut out, at);
                }
            }
            Some(out.concat())
        }
        Change::Remove { id } => {
            let block = Block::find(&lines, id_key(id_is_kr), id)?;
            let mut out: Vec<&str> = lines.clone();
            out.drain(block.start..=block.last_content);
            Some(out.concat())
        }
        Change::AddKr { objective, kr } => {
            let block = Block::find(&lines, "objective_id", objective)?;
            let krs_line = block.key_line(&lines, "key_results")?;
            if !lines[krs_line].trim_end().ends_with("key_results:") {
                return None;
            }
            // The items' indentation, from the first item; their end, from the last line deeper than the key.
            let first_item = (krs_line + 1..=block.last_content).find(|&i| is_content(lines[i]))?;
            let item_col = indent(lines[first_item]);
            if !lines[first_item].trim_start().starts_with("- ") || item_col < block.key_col {
                return None;
            }
            let mut last = krs_line;
            for (i, line) in lines
                .iter()
                .enumerate()
                .take(block.last_content + 1)
                .skip(krs_line + 1)
            {
                if !is_content(line) {
                    continue;
                }
                let col = indent(line);
                if col > item_col || (col == item_col && line.trim_start().starts_with("- ")) {
                    last = i;
                } else {
                    break;
                }
            }
            let body = serde_yaml::to_string(kr).ok()?;
            let mut item = String::new();
            for (n, l) in body.lines().enumerate() {
                let pad = if n == 0 {
                    format!("{}- ", " ".repeat(item_col))
                } else {
                    " ".repeat(item_col + 2)
                };
                item.push_str(&format!("{pad}{l}\n"));
            }
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            ensure_newline(&mut out, last);
            out.insert(last + 1, item);
            Some(out.concat())
        }
        Change::AddObjective { objective, .. } => append_objective(&lines, objective),
        Change::PutFile { .. } => None,
    }
}

/// `objective` appended after the last item of the top-level `objectives:` list, in the
/// list's indentation; the rest of the file stays as it is.
fn append_objective(lines: &[&str], objective: &Value) -> Option<String> {
    let key = lines.iter().position(|l| l.trim_end() == "objectives:")?;
    let first_item = (key + 1..lines.len()).find(|&i| is_content(lines[i]))?;
    let item_col = indent(lines[first_item]);
    if !lines[first_item].trim_start().starts_with("- ") {
        return None;
    }
    let mut last = key;
    for (i, line) in lines.iter().enumerate().skip(key + 1) {
        if !is_content(line) {
            continue;
        }
        let col = indent(line);
        if col > item_col || (col == item_col && line.trim_start().starts_with("- ")) {
            last = i;
        } else {
            break;
        }
    }
    let body = serde_yaml::to_string(objective).ok()?;
    let mut item = String::new();
    for (n, l) in body.lines().enumerate() {
        let pad = if n == 0 {
            format!("{}- ", " ".repeat(item_col))
        } else {
            " ".repeat(item_col + 2)
        };
        item.push_str(&format!("{pad}{l}\n"));
    }
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    ensure_newline(&mut out, last);
    out.insert(last + 1, item);
    Some(out.concat())
}

/// The lines of one sequence item: `- kr_id: KR-1.1` and the lines indented under it.
struct Block {
    start: usize,
    /// Column of the item's keys (after `- `).
    key_col: usize,
    last_content: usize,
}

impl Block {
    fn find(lines: &[&str], key: &str, id: &str) -> Option<Block> {
        let mut found = None;
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let Some(rest) = trimmed.strip_prefix("- ") else {
                continue;
            };
            let rest = rest.trim_start();
            let Some(value) = rest
                .strip_prefix(key)
                .and_then(|r| r.trim_start().strip_prefix(':'))
            else {
                continue;
            };
            let value = value.split(" #").next().unwrap_or(value).trim();
            if value.trim_matches(|c| c == '"' || c == '\'') == id {
                if found.is_some() {
                    return None; // The id twice: leave it to the tree edit.
                }
                found = Some((i, line.len() - rest.len()));
            }
        }
        let (start, key_col) = found?;
        let mut last_content = start;
        for (i, line) in lines.iter().enumerate().skip(start + 1) {
            if !is_content(line) {
                continue;
            }
            if indent(line) < key_col {
                break;
            }
            last_content = i;
        }
        Some(Block {
            start,
            key_col,
            last_content,
        })
    }

    /// The line of `key:` among the item's own keys.
    fn key_line(&self, lines: &[&str], key: &str) -> Option<usize> {
        (self.start..=self.last_content).find(|&i| {
            let line = lines[i];
            let body = if i == self.start {
                &line[self.key_col..]
            } else {
                line
            };
            (i == self.start || indent(line) == self.key_col)
                && body
                    .trim_start()
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with(':'))
        })
    }
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn newline(line: &str) -> &'static str {
    if line.ends_with('\n') {
        "\n"
    } else {
        ""
    }
}

fn ensure_newline(out: &mut [String], at: usize) {
    if !out[at].ends_with('\n') {
        out[at].push('\n');
    }
}

/// A scalar as YAML writes it on one line (`120`, `at_risk`, `'120'` for the string).
fn scalar(value: &Value) -> Option<String> {
    if let Value::Sequence(items) = value {
        // A list of scalars, on one line (`evidence: [a, b]`).
        let items: Option<Vec<String>> = items.iter().map(scalar).collect();
        return Some(format!("[{}]", items?.join(", ")));
    }
    if !matches!(value, Value::Number(_) | Value::String(_) | Value::Bool(_)) {
        return None;
    }
    let text = serde_yaml::to_string(value).ok()?;
    let text = text.trim_end();
    (!text.contains('\n')).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "# comment kept\nscope: org\nobjectives:\n  - objective_id: OBJ-1\n    objective: Ship  # why\n    key_results:\n      - kr_id: KR-1.1\n        metric_key: ci.test_count\n        baseline: 0\n        target: 100\n        evidence:\n          - a\n\n      - kr_id: KR-1.2\n        metric_key: m\n        baseline: 0\n        target: 1\n  - objective_id: OBJ-2\n    objective: Two\n";

    fn set(id: &str, field: &str, value: Value, is_kr: bool) -> String {
        edit_text(
            ORG,
            &Change::Set {
                id: id.into(),
                field: field.into(),
                value,
            },
            is_kr,
        )
        .unwrap()
    }

    #[test]
    fn sets_in_place_or_adds_a_line() {
        let out = set("KR-1.1", "target", Value::from(120), true);
        assert_eq!(out, ORG.replace("target: 100", "target: 120"));
        let out = set("OBJ-1", "objective", Value::from("Ship it"), false);
        assert_eq!(
            out,
            ORG.replace("objective: Ship  # why", "objective: Ship it  # why")
        );
        let out = set("KR-1.1", "status", Value::from("at_risk"), true);
        assert!(
            out.contains("          - a\n        status: at_risk\n\n      - kr_id: KR-1.2"),
            "{out}"
        );
        let out = set("KR-1.2", "unit", Value::from("120"), true);
        assert!(
            out.contains("        target: 1\n        unit: '120'\n  - objective_id: OBJ-2"),
            "{out}"
        );
    }

    #[test]
    fn removes_and_adds_items() {
        let out = edit_text(
            ORG,
            &Change::Remove {
                id: "KR-1.1".into(),
            },
            true,
        )
        .unwrap();
        assert!(
            out.contains("    key_results:\n\n      - kr_id: KR-1.2"),
            "{out}"
        );
        let out = edit_text(ORG, &Change::Remove { id: "OBJ-2".into() }, false).unwrap();
        assert!(out.ends_with("        target: 1\n"), "{out}");
        let kr: Value =
            serde_yaml::from_str("kr_id: KR-1.3\nmetric_key: x\nbaseline: 0\ntarget: 5\n").unwrap();
        let out = edit_text(
            ORG,
            &Change::AddKr {
                objective: "OBJ-1".into(),
                kr,
            },
            false,
        )
        .unwrap();
        assert!(
            out.contains("        target: 1\n      - kr_id: KR-1.3\n        metric_key: x\n"),
            "{out}"
        );
    }

    #[test]
    fn values_on_several_lines_are_left_alone() {
        assert!(edit_text(
            ORG,
            &Change::Set {
                id: "KR-1.1".into(),
                field: "evidence".into(),
                value: Value::from("x")
            },
            true
        )
        .is_none());
    }
}
