//! Serde types and validation of everything stored on the state ref.
//! `model` depends on nothing else of ours.

pub mod definitions;
pub mod duration;
pub mod jobs;
pub mod manual;
pub mod okrs;
pub mod permissions;
pub mod plan;
pub mod proposal;
pub mod snapshot;

use anyhow::anyhow;
use std::collections::HashMap;

/// A parse error of `file`, located at its line (serde_yaml knows where it stopped).
pub fn yaml_error(file: &str, e: serde_yaml::Error) -> anyhow::Error {
    let text = e.to_string();
    match e.location() {
        Some(loc) => {
            // serde_yaml appends " at line L column C"; the location leads our message instead.
            let msg = text.split(" at line ").next().unwrap_or(&text);
            anyhow!("{file}:{}: {msg}", loc.line())
        }
        None => anyhow!("{file}: {text}"),
    }
}

/// The 1-based line of the `nth` (0-based) line holding `key: value`, where known.
/// Validation errors use it to point at the offending entry.
pub fn line_of(text: &str, key: &str, value: &str, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            value_after_key(line, key) == Some(value)
        })
        .nth(nth)
        .map(|(i, _)| i + 1)
}

/// The 1-based lines of every `key: value` line for a few keys, found in one pass over
/// the text, so validating N entries costs one scan instead of N (as `line_of` would).
/// A line matches exactly as in `line_of`.
pub struct LineIndex<'t> {
    lines: HashMap<(&'t str, &'t str), Vec<usize>>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str, keys: &[&'t str]) -> LineIndex<'t> {
        let mut lines: HashMap<(&'t str, &'t str), Vec<usize>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let body = line.trim_start().trim_start_matches("- ").trim_start();
            for &key in keys {
                if let Some(value) = value_after_key(body, key) {
                    lines.entry((key, value)).or_default().push(i + 1);
                }
            }
        }
        LineIndex { lines }
    }

    /// The line of the `nth` (0-based) `key: value` line, as `line_of(text, key, value, nth)`.
    pub fn line(&self, key: &str, value: &str, nth: usize) -> Option<usize> {
        // The map's keys live as long as the text; shorten them to the lookup's lifetime.
        let lines: &HashMap<(&str, &str), Vec<usize>> = &self.lines;
        lines.get(&(key, value))?.get(nth).copied()
    }
}

/// The value of `key: value` in `body` (comment, spaces and quotes taken off), if `body`
/// is that key's line.
fn value_after_key<'l>(body: &'l str, key: &str) -> Option<&'l str> {
    let rest = body.strip_prefix(key)?.trim_start().strip_prefix(':')?;
    let rest = rest.split(" #").next().unwrap_or(rest).trim();
    Some(rest.trim_matches(|c| c == '"' || c == '\''))
}

/// `file:line` when the line is known, else `file`.
pub fn at(file: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{file}:{l}"),
        None => file.to_string(),
    }
}

/// Format a number the way people write it: `102`, not `102.0`.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Serialize whole numbers as integers (`85`, not `85.0`), as people write them.
pub fn serialize_num<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lines_of_keys() {
        let text = "a:\n  - kr_id: KR-1\n  - kr_id: \"KR-1\"\n    x: 1\n";
        assert_eq!(line_of(text, "kr_id", "KR-1", 0), Some(2));
        assert_eq!(line_of(text, "kr_id", "KR-1", 1), Some(3));
        assert_eq!(line_of(text, "kr_id", "KR-1", 2), None);
    }

    #[test]
    fn the_line_index_finds_what_line_of_finds() {
        let text = "a:\n  - kr_id: KR-1\n  - kr_id: \"KR-1\"  # again\n    x: 1\n  - - kr_id: 'KR-2'\n    kr_idx: KR-1\n    objective_id: KR-1\n";
        let index = LineIndex::new(text, &["kr_id", "objective_id"]);
        for key in ["kr_id", "objective_id"] {
            for value in ["KR-1", "KR-2", "KR-3", ""] {
                for nth in 0..3 {
                    assert_eq!(
                        index.line(key, value, nth),
                        line_of(text, key, value, nth),
                        "{key} {value} {nth}"
                    );
                }
            }
        }
        assert_eq!(index.line("kr_id", "KR-1", 1), Some(3));
        assert_eq!(index.line("kr_id", "KR-2", 0), Some(5));
        assert_eq!(index.line("objective_id", "KR-1", 0), Some(7));
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(fmt_num(102.0), "102");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(-3.25), "-3.25");
        assert_eq!(fmt_num(1.0 / 3.0), "0.3333");
    }
}
