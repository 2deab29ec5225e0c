//! Small edits of an OKR file's text, so a proposal's diff shows the lines it changes and
//! keeps comments and layout. Serializing the YAML tree again would reformat the file.
//!
//! These edits only handle block-style YAML as people write it; the caller checks that
//! the edited text parses to exactly the tree the structured edit produced, and falls
//! back to re-serializing when it does not (or when this returns `None`).

use crate::model::proposal::Change;
use serde_yaml::Value;
use std::collections::HashMap;

/// `changes` made in order as text edits of `text`, when the layout allows. A batch of
/// field sets on distinct items (what `kr measure` writes) is made in one pass over the
/// text: every item is found through one index of the file's item lines and edited on
/// its own lines. Anything else is edited one change after another. Both give the same
/// text.
pub fn edit_text_all(text: &str, changes: &[Change], id_is_kr: bool) -> Option<String> {
    match edit_items_in_one_pass(text, changes, id_key(id_is_kr)) {
        OnePass::Done(result) => result,
        OnePass::NotApplicable => {
            let mut text = text.to_string();
            for change in changes {
                text = edit_text(&text, change, id_is_kr)?;
            }
            Some(text)
        }
    }
}

/// Field sets (`Change::Set`) of the items of any list, each item found by the line
/// `- ID_KEY: ID` that starts it, made as edits of their lines when the layout allows.
pub fn set_item_fields(text: &str, id_key: &str, sets: &[Change]) -> Option<String> {
    match edit_items_in_one_pass(text, sets, id_key) {
        OnePass::Done(result) => result,
        OnePass::NotApplicable => None,
    }
}

/// `change` made as a text edit of `text`, when the layout allows.
pub fn edit_text(text: &str, change: &Change, id_is_kr: bool) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    match change {
        Change::Set { id, field, value } => {
            let block = Block::find(&lines, id_key(id_is_kr), id)?;
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            set_field(&mut out, &block, field, value)?;
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
            // Only a list whose items sit at least as deep as the objective's keys.
            let first_item = (krs_line + 1..=block.last_content).find(|&i| is_content(lines[i]))?;
            if indent(lines[first_item]) < block.key_col {
                return None;
            }
            append_item(&lines, krs_line, block.last_content + 1, kr)
        }
        Change::AddObjective { objective, .. } => append_objective(&lines, objective),
        Change::PutFile { .. } => None,
    }
}

/// `objective` appended after the last item of the top-level `objectives:` list, in the
/// list's indentation; the rest of the file stays as it is.
fn append_objective(lines: &[&str], objective: &Value) -> Option<String> {
    let key = lines.iter().position(|l| l.trim_end() == "objectives:")?;
    append_item(lines, key, lines.len(), objective)
}

/// `value` appended as one more item of the list under the key on line `key` (its items
/// found before line `end`), in the items' indentation, taken from the first item; the
/// rest of the text stays as it is. `None` when the list is not a block of `- ` items.
fn append_item<T: serde::Serialize>(
    lines: &[&str],
    key: usize,
    end: usize,
    value: &T,
) -> Option<String> {
    let first_item = (key + 1..end).find(|&i| is_content(lines[i]))?;
    let item_col = indent(lines[first_item]);
    if !lines[first_item].trim_start().starts_with("- ") {
        return None;
    }
    // The list ends at the last line deeper than its items, or at one of its own items.
    let mut last = key;
    for (i, line) in lines.iter().enumerate().take(end).skip(key + 1) {
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
    let body = serde_yaml::to_string(value).ok()?;
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

fn id_key(is_kr: bool) -> &'static str {
    if is_kr {
        "kr_id"
    } else {
        "objective_id"
    }
}

/// Set `field` of the item `block` in `lines`: its line rewritten in place (a comment on
/// it kept), or a new line after the item's last line. `None` when the value is not a
/// one-line value or the field's value continues on the next lines.
fn set_field(lines: &mut Vec<String>, block: &Block, field: &str, value: &Value) -> Option<()> {
    let rendered = scalar(value)?;
    match block.key_line(lines, field) {
        Some(i) => {
            let line = lines[i].as_str();
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
            lines[i] = format!("{head}: {rendered}{comment}{}", newline(line));
        }
        None => {
            let at = block.last_content;
            lines.insert(
                at + 1,
                format!("{}{field}: {rendered}\n", " ".repeat(block.key_col)),
            );
            ensure_newline(lines, at);
        }
    }
    Some(())
}

enum OnePass {
    /// The batch was made (or the layout refused it: `None`).
    Done(Option<String>),
    /// The batch is not one the single pass makes exactly as one change after another would.
    NotApplicable,
}

/// Field sets on distinct, non-nested items, each item's changes made on its own lines.
///
/// This gives exactly what one change after another gives because a set only rewrites a
/// line of its own item (same indentation, still content) or adds a line right after the
/// item's last line, at the item's key column: no other item's lines, and no item's
/// extent, change. Removals, added KRs, sets of the id itself, items that are not found
/// exactly once and items inside other changed items go the sequential way.
fn edit_items_in_one_pass(text: &str, changes: &[Change], key: &str) -> OnePass {
    let mut fields: Vec<(&str, &str, &Value)> = Vec::with_capacity(changes.len());
    for change in changes {
        match change {
            Change::Set { id, field, value } if field != key => {
                fields.push((id.as_str(), field.as_str(), value))
            }
            _ => return OnePass::NotApplicable,
        }
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // The changed items in file order, each with its changes in their order.
    let mut by_item: HashMap<&str, Vec<(&str, &Value)>> = HashMap::new();
    for &(id, field, value) in &fields {
        by_item.entry(id).or_default().push((field, value));
    }
    let items = item_lines(&lines, key, |id| by_item.contains_key(id));
    let mut blocks: Vec<(Block, &[(&str, &Value)])> = Vec::with_capacity(by_item.len());
    for (id, item_changes) in &by_item {
        match items.get(id).map(Vec::as_slice) {
            Some(&[(start, key_col)]) => blocks.push((
                Block::extent(&lines, start, key_col),
                item_changes.as_slice(),
            )),
            // Not there, or there twice: the sequential edit refuses it too.
            _ => return OnePass::Done(None),
        }
    }
    blocks.sort_by_key(|(b, _)| b.start);
    if blocks
        .windows(2)
        .any(|w| w[1].0.start <= w[0].0.last_content)
    {
        return OnePass::NotApplicable;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut next = 0;
    for (block, item_changes) in &blocks {
        out.extend(lines[next..block.start].iter().copied());
        let mut own: Vec<String> = lines[block.start..=block.last_content]
            .iter()
            .map(|l| l.to_string())
            .collect();
        for (field, value) in item_changes.iter() {
            let here = Block::extent(&own, 0, block.key_col);
            if set_field(&mut own, &here, field, value).is_none() {
                return OnePass::Done(None);
            }
        }
        out.extend(own);
        next = block.last_content + 1;
    }
    out.extend(lines[next..].iter().copied());
    OnePass::Done(Some(out))
}

/// The `- KEY: ID` item lines of the ids `wanted` accepts, by id: (line, column of the
/// item's keys).
fn item_lines<'t>(
    lines: &[&'t str],
    key: &str,
    wanted: impl Fn(&str) -> bool,
) -> HashMap<&'t str, Vec<(usize, usize)>> {
    let mut out: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some((id, key_col)) = item_id(line, key).filter(|(id, _)| wanted(id)) {
            out.entry(id).or_default().push((i, key_col));
        }
    }
    out
}

/// The id of an item line `- KEY: ID` (quotes and comment taken off) and its key column.
fn item_id<'l>(line: &'l str, key: &str) -> Option<(&'l str, usize)> {
    let rest = line.trim_start().strip_prefix("- ")?.trim_start();
    let value = rest.strip_prefix(key)?.trim_start().strip_prefix(':')?;
    let value = value.split(" #").next().unwrap_or(value).trim();
    Some((
        value.trim_matches(|c| c == '"' || c == '\''),
        line.len() - rest.len(),
    ))
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
            if let Some((value, key_col)) = item_id(line, key) {
                if value == id {
                    if found.is_some() {
                        return None; // The id twice: leave it to the tree edit.
                    }
                    found = Some((i, key_col));
                }
            }
        }
        let (start, key_col) = found?;
        Some(Block::extent(lines, start, key_col))
    }

    /// The item starting at line `start`: it ends before the first content line left of its keys.
    fn extent<S: AsRef<str>>(lines: &[S], start: usize, key_col: usize) -> Block {
        let mut last_content = start;
        for (i, line) in lines.iter().enumerate().skip(start + 1) {
            let line = line.as_ref();
            if !is_content(line) {
                continue;
            }
            if indent(line) < key_col {
                break;
            }
            last_content = i;
        }
        Block {
            start,
            key_col,
            last_content,
        }
    }

    /// The line of `key:` among the item's own keys.
    fn key_line<S: AsRef<str>>(&self, lines: &[S], key: &str) -> Option<usize> {
        (self.start..=self.last_content).find(|&i| {
            let line = lines[i].as_ref();
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

    /// The changes one after another, each a whole-text edit (what the batch must equal).
    fn sequential(text: &str, changes: &[Change], is_kr: bool) -> Option<String> {
        changes
            .iter()
            .try_fold(text.to_string(), |t, c| edit_text(&t, c, is_kr))
    }

    fn set_change(id: &str, field: &str, value: Value) -> Change {
        Change::Set {
            id: id.into(),
            field: field.into(),
            value,
        }
    }

    fn one_pass_ran(text: &str, changes: &[Change]) -> bool {
        matches!(
            edit_items_in_one_pass(text, changes, "kr_id"),
            OnePass::Done(Some(_))
        )
    }

    #[test]
    fn a_batch_in_one_pass_equals_one_change_after_another() {
        let text = "# comment kept\nscope: org\nobjectives:\n  - objective_id: OBJ-1  # first\n    key_results:\n      # a KR\n      - kr_id: KR-1.1\n        metric_key: m1  # the metric\n        baseline: 0\n        target: 100 # why 100\n        current: 3\n\n      - kr_id: \"KR-1.2\"\n        metric_key: m2\n        baseline: 0\n        target: 10\n        evidence: [old]\n  # second objective\n  - objective_id: OBJ-2\n    key_results:\n    - kr_id: 'KR-2.1'\n      metric_key: m3\n      baseline: 5\n      target: 1";
        let changes = vec![
            set_change("KR-1.2", "current", Value::from(7)),
            set_change("KR-1.1", "current", Value::from(50)),
            set_change(
                "KR-1.1",
                "last_updated",
                Value::from("2026-11-30T08:00:00Z"),
            ),
            set_change("KR-2.1", "status", Value::from("in_progress")),
            set_change("KR-1.2", "status", Value::from("achieved")),
            set_change(
                "KR-1.2",
                "evidence",
                Value::Sequence(vec![Value::from("old"), Value::from("new one")]),
            ),
            set_change(
                "KR-2.1",
                "evidence",
                Value::Sequence(vec![Value::from("e")]),
            ),
            set_change("KR-1.1", "target", Value::from(120)),
            set_change("KR-1.1", "status", Value::from("in_progress")),
        ];
        assert!(one_pass_ran(text, &changes));
        let batch = edit_text_all(text, &changes, true).unwrap();
        assert_eq!(Some(batch.clone()), sequential(text, &changes, true));
        // Only the changed lines differ; comments stay where they were.
        assert!(batch.contains("        target: 120 # why 100\n"), "{batch}");
        assert!(
            batch.contains("        metric_key: m1  # the metric\n"),
            "{batch}"
        );
        assert!(batch.contains("  # second objective\n"), "{batch}");
        assert!(
            batch.ends_with("      target: 1\n      status: in_progress\n      evidence: [e]\n"),
            "{batch}"
        );
    }

    #[test]
    fn a_generated_file_edits_the_same_in_one_pass() {
        let mut text = String::from("scope: org\nobjectives:\n");
        for o in 0..20 {
            text.push_str(&format!(
                "  # objective {o}\n  - objective_id: O-{o}\n    key_results:\n"
            ));
            for k in 0..15 {
                text.push_str(&format!("      - kr_id: K-{o}.{k}  # kr\n        metric_key: m.{o}.{k}\n        baseline: 0\n        target: {}\n", k + 1));
                if k % 3 == 0 {
                    text.push_str("        current: 1\n        status: not_started\n");
                }
                text.push_str("        # trailing comment\n\n");
            }
        }
        let mut changes = Vec::new();
        for o in (0..20).rev() {
            for k in (0..15).step_by(2) {
                let id = format!("K-{o}.{k}");
                changes.push(set_change(&id, "current", Value::from(o * k)));
                changes.push(set_change(&id, "status", Value::from("in_progress")));
                changes.push(set_change(
                    &id,
                    "evidence",
                    Value::Sequence(vec![Value::from(format!("e{o}"))]),
                ));
            }
        }
        assert!(one_pass_ran(&text, &changes));
        let batch = edit_text_all(&text, &changes, true).unwrap();
        assert_eq!(Some(batch.clone()), sequential(&text, &changes, true));
        assert_eq!(batch.matches("# trailing comment").count(), 300);
        let tree: Value = serde_yaml::from_str(&batch).unwrap();
        assert_eq!(
            tree["objectives"][3]["key_results"][4]["current"],
            Value::from(12)
        );
    }

    #[test]
    fn batches_the_one_pass_refuses_agree_with_one_change_after_another() {
        // A duplicate id, a value on several lines, an unknown id: both refuse.
        let dup = format!("{ORG}      - kr_id: KR-1.1\n        target: 3\n");
        let refused = [
            (
                dup.as_str(),
                vec![set_change("KR-1.1", "target", Value::from(5))],
            ),
            (
                ORG,
                vec![
                    set_change("KR-1.1", "current", Value::from(1)),
                    set_change("KR-1.1", "evidence", Value::from("x")),
                ],
            ),
            (ORG, vec![set_change("KR-9", "target", Value::from(5))]),
        ];
        for (text, changes) in refused {
            assert_eq!(edit_text_all(text, &changes, true), None);
            assert_eq!(sequential(text, &changes, true), None);
        }
        // Nested items (an objective and its KR), removals, additions: made one after another.
        let mixed = vec![
            set_change("KR-1.2", "target", Value::from(2)),
            Change::Remove {
                id: "KR-1.1".into(),
            },
            set_change("KR-1.2", "current", Value::from(1)),
        ];
        assert!(!one_pass_ran(ORG, &mixed));
        let out = edit_text_all(ORG, &mixed, true).unwrap();
        assert_eq!(Some(out.clone()), sequential(ORG, &mixed, true));
        assert!(
            !out.contains("KR-1.1") && out.contains("        target: 2\n        current: 1\n"),
            "{out}"
        );
        let nested = vec![
            set_change("OBJ-1", "objective", Value::from("Ship more")),
            set_change("OBJ-2", "objective", Value::from("Two more")),
        ];
        let out = edit_text_all(ORG, &nested, false).unwrap();
        assert_eq!(Some(out), sequential(ORG, &nested, false));
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
