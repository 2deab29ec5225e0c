//! Serde types and validation of everything stored on the state ref.
//! `model` depends on nothing else of ours.

pub mod checkin;
pub mod cycles;
pub mod definitions;
pub mod duration;
pub mod edit_proof;
pub mod grades;
pub mod ids;
pub mod jobs;
pub mod manual;
pub mod okrs;
pub mod permissions;
pub mod plan;
pub mod proposal;
pub mod snapshot;
pub mod text_edit;
pub mod tree_cache;

use std::collections::HashMap;

/// An actor asked for something the permissions or a guardrail do not allow. The message
/// names who, what, and the rule that refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A file that does not say what its place on the state requires: `file:line: message`.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct Invalid {
    pub file: String,
    /// 1-based, where known.
    pub line: Option<usize>,
    pub message: String,
}

/// A parse error of `file`, located at its line (serde_yaml knows where it stopped).
pub fn yaml_error(file: &str, e: serde_yaml::Error) -> anyhow::Error {
    let text = e.to_string();
    let (line, message) = match e.location() {
        // serde_yaml appends " at line L column C"; the location leads our message instead.
        Some(loc) => (
            Some(loc.line()),
            text.split(" at line ").next().unwrap_or(&text).to_string(),
        ),
        None => (None, text),
    };
    Invalid {
        file: file.to_string(),
        line,
        message,
    }
    .into()
}

/// The most a YAML file on the ref may hold; state files are kilobytes.
pub const MAX_YAML_BYTES: usize = 8 * 1024 * 1024;
/// How deeply a YAML file may nest (flow brackets, or block indentation in levels).
pub const MAX_YAML_DEPTH: usize = 64;
/// Block nesting is judged by indentation: this many columns is too deep.
const MAX_YAML_INDENT: usize = 512;

/// Parse a YAML file of the ref into `T`. Before the parser sees it, the text is
/// checked for what would make parsing slow or its errors wrong: its size, its
/// nesting depth (a 100,000-deep file would take seconds to refuse), a NUL byte (named
/// at its real line). A UTF-8 byte order mark is accepted and skipped.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(file: &str, text: &str) -> anyhow::Result<T> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    check_yaml_shape(file, text)?;
    serde_yaml::from_str(text).map_err(|e| yaml_error(file, e))
}

/// Refuse a YAML text that is too big, nests too deep or holds a NUL, naming the line.
pub fn check_yaml_shape(file: &str, text: &str) -> anyhow::Result<()> {
    if text.len() > MAX_YAML_BYTES {
        anyhow::bail!(
            "{file}: {} bytes, more than the {MAX_YAML_BYTES} a YAML file on refs/okr/state may hold",
            text.len()
        );
    }
    let too_deep = |line: usize| {
        anyhow::anyhow!(
            "{file}:{line}: nested more than {MAX_YAML_DEPTH} levels deep; refused unparsed"
        )
    };
    let mut flow_depth = 0usize;
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        if line.contains('\0') {
            anyhow::bail!("{file}:{n}: holds a NUL byte");
        }
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        let dashes = dash_prefixes(body);
        if indent + 2 * dashes > MAX_YAML_INDENT || dashes > MAX_YAML_DEPTH {
            return Err(too_deep(n));
        }
        let (mut single, mut double, mut prev) = (false, false, ' ');
        for c in body.chars() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single && prev != '\\' => double = !double,
                '#' if !single && !double && prev.is_whitespace() => break,
                '[' | '{' if !single && !double => {
                    flow_depth += 1;
                    if flow_depth > MAX_YAML_DEPTH {
                        return Err(too_deep(n));
                    }
                }
                ']' | '}' if !single && !double => flow_depth = flow_depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    Ok(())
}

/// How many `- ` sequence markers open a line (`- - - x` nests three sequences).
fn dash_prefixes(body: &str) -> usize {
    let mut rest = body;
    let mut n = 0;
    while let Some(r) = rest.strip_prefix('-') {
        if !(r.is_empty() || r.starts_with(' ')) {
            break;
        }
        n += 1;
        rest = r.trim_start_matches(' ');
    }
    n
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

/// The 1-based line of the `nth` (0-based) line holding `key:` whatever its value (for
/// values `line_of` cannot match, such as ones with escaped control characters).
pub fn line_of_key(text: &str, key: &str, nth: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .nth(nth)
        .map(|(i, _)| i + 1)
}

/// The 1-based lines of every `key: value` line for a few keys, found in one pass over
/// the text, so validating N entries costs one scan instead of N (as `line_of` would).
/// A line matches exactly as in `line_of`.
pub struct LineIndex<'t> {
    lines: HashMap<(&'t str, &'t str), Vec<usize>>,
    /// The lines of each key whatever its value, as `line_of_key` finds them.
    key_lines: HashMap<&'t str, Vec<usize>>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str, keys: &[&'t str]) -> LineIndex<'t> {
        let mut lines: HashMap<(&'t str, &'t str), Vec<usize>> = HashMap::new();
        let mut key_lines: HashMap<&'t str, Vec<usize>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let body = line.trim_start().trim_start_matches("- ").trim_start();
            for &key in keys {
                if let Some(value) = value_after_key(body, key) {
                    lines.entry((key, value)).or_default().push(i + 1);
                    key_lines.entry(key).or_default().push(i + 1);
                }
            }
        }
        LineIndex { lines, key_lines }
    }

    /// The line of the `nth` (0-based) `key:` line whatever its value, as
    /// `line_of_key(text, key, nth)`.
    pub fn line_of_key(&self, key: &str, nth: usize) -> Option<usize> {
        self.key_lines.get(key)?.get(nth).copied()
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
    fn yaml_shape() {
        let deep = format!("a: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        let err = parse_yaml::<serde_yaml::Value>("okrs/x.yml", &deep).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("okrs/x.yml:1: nested more than"),
            "{err}"
        );
        // Refused by the scan, not by the parser (which takes seconds on this).
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let dashes = format!("{}x\n", "- ".repeat(1000));
        assert!(parse_yaml::<serde_yaml::Value>("f", &dashes).is_err());
        let err = parse_yaml::<serde_yaml::Value>("f", "a: 1\nb: 2\nc: \0\n").unwrap_err();
        assert_eq!(err.to_string(), "f:3: holds a NUL byte");
        let v: serde_yaml::Value = parse_yaml("f", "\u{feff}a: [1, {b: '[['}]  # [[[\n").unwrap();
        assert_eq!(v["a"][0], serde_yaml::Value::from(1));
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
        for nth in 0..5 {
            for key in ["kr_id", "objective_id"] {
                assert_eq!(
                    index.line_of_key(key, nth),
                    line_of_key(text, key, nth),
                    "{key} {nth}"
                );
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
