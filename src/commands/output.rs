//! Terminal output: colour as git decides it, aligned tables, styled diffs.
//!
//! Colour is decided once per process ([`decide_colour`]) like git does: `--color`
//! first, then `color.okr`, then `color.ui`, else `auto` (a terminal, or git's pager,
//! no `NO_COLOR`, no `TERM=dumb`). The decision is stored as anstream's global choice;
//! every coloured line is printed through anstream, which strips the styles when the
//! choice is "never".

use crate::cli::ColorWhen;
use crate::score::{grade, Grade};
use anstyle::{AnsiColor, Style};
use std::io::IsTerminal;

/// What the git config says about colour (`always`, `never`, or `auto`), if anything.
fn config_choice(value: &str) -> Option<ColorWhen> {
    match value.trim().to_ascii_lowercase().as_str() {
        "always" => Some(ColorWhen::Always),
        "never" | "false" | "no" | "off" | "0" => Some(ColorWhen::Never),
        // git reads `true` as `auto` since 1.8.4.
        "auto" | "true" | "yes" | "on" | "1" => Some(ColorWhen::Auto),
        _ => None,
    }
}

/// The colour choice from the command line and the git config (`color.okr`, then `color.ui`).
pub fn colour_when(flag: Option<ColorWhen>, config: &gix::config::Snapshot<'_>) -> ColorWhen {
    flag.or_else(|| {
        ["color.okr", "color.ui"].iter().find_map(|key| {
            config
                .string(*key)
                .and_then(|v| config_choice(&v.to_string()))
        })
    })
    .unwrap_or(ColorWhen::Auto)
}

/// Whether `auto` means colour here: stdout is a terminal (or the pager git started),
/// the terminal can show it, and the user did not opt out with NO_COLOR.
pub fn auto_colour(stdout_is_terminal: bool) -> bool {
    let pager_in_use = std::env::var("GIT_PAGER_IN_USE").is_ok_and(|v| v == "true" || v == "1");
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    (stdout_is_terminal || pager_in_use) && !dumb && !no_color
}

/// Decide colour for this process and remember it for every later print.
pub fn decide_colour(when: ColorWhen) {
    let on = match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => auto_colour(std::io::stdout().is_terminal()),
    };
    let choice = if on {
        anstream::ColorChoice::Always
    } else {
        anstream::ColorChoice::Never
    };
    choice.write_global();
}

/// The style of a score: green, yellow or red as its grade.
fn grade_style(score: f64) -> Style {
    let colour = match grade(score) {
        Grade::Green => AnsiColor::Green,
        Grade::Yellow => AnsiColor::Yellow,
        Grade::Red => AnsiColor::Red,
    };
    Style::new().fg_color(Some(colour.into()))
}

/// `text` in `style`; anstream strips it again when colour is off.
pub fn styled(text: &str, style: Style) -> String {
    if text.is_empty() || style == Style::new() {
        return text.to_string();
    }
    format!("{style}{text}{style:#}")
}

/// A line coloured by the grade of `score`.
pub fn paint_grade(text: &str, score: f64) -> String {
    styled(text, grade_style(score))
}

/// A unified diff coloured as `git diff` does: headers bold, hunks cyan, removals red,
/// additions green.
pub fn colour_diff(diff: &str) -> String {
    let header = Style::new().bold();
    let hunk = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
    let removed = Style::new().fg_color(Some(AnsiColor::Red.into()));
    let added = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let style = if body.starts_with("---") || body.starts_with("+++") {
            header
        } else if body.starts_with("@@") {
            hunk
        } else if body.starts_with('-') {
            removed
        } else if body.starts_with('+') {
            added
        } else {
            Style::new()
        };
        out.push_str(&styled(body, style));
        out.push_str(nl);
    }
    out
}

/// Left-align every column to its widest cell; the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["a".into(), "bb".into()],
            vec!["ccc".into(), "d".into()],
        ];
        assert_eq!(table(&rows), vec!["a    bb", "ccc  d"]);
    }

    #[test]
    fn diff_colours_match_git() {
        let c = colour_diff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n c\n");
        assert!(c.contains("\x1b[31m-a\x1b[0m\n"), "{c:?}");
        assert!(c.contains("\x1b[32m+b\x1b[0m\n"), "{c:?}");
        assert!(c.contains("\x1b[1m--- a/x\x1b[0m\n"), "{c:?}");
        assert!(c.contains("\x1b[36m@@ -1 +1 @@\x1b[0m\n"), "{c:?}");
        assert!(c.ends_with(" c\n"), "{c:?}");
    }

    #[test]
    fn reads_git_colour_words() {
        assert_eq!(config_choice("true"), Some(ColorWhen::Auto));
        assert_eq!(config_choice("Always"), Some(ColorWhen::Always));
        assert_eq!(config_choice("false"), Some(ColorWhen::Never));
        assert_eq!(config_choice("sometimes"), None);
    }
}

/// Text from the state ref or from an agent, made safe to show on a terminal: control
/// characters (ESC, CR, BEL, …) and bidi controls are written as `\u{1b}`-style escapes,
/// so a stranger's text cannot move the cursor, recolour the screen, retitle the window
/// or reorder what is shown. With `lines`, line feeds and tabs stay as they are.
pub fn plain(text: &str, lines: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        crate::model::ids::is_forbidden_in_line(c) && !(lines && matches!(c, '\n' | '\t'))
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod plain_tests {
    use super::plain;

    #[test]
    fn escapes_and_bidi_controls_are_shown_not_obeyed() {
        assert_eq!(plain("fine text", false), "fine text");
        assert_eq!(plain("a\u{1b}[2Jb", false), "a\\u{1b}[2Jb");
        assert_eq!(plain("x\ry\u{202e}z", false), "x\\u{d}y\\u{202e}z");
        assert_eq!(plain("one\ntwo\tthree", true), "one\ntwo\tthree");
        assert_eq!(plain("one\ntwo", false), "one\\u{a}two");
        assert_eq!(
            plain("\u{7}\u{1b}]0;title\u{7}", true),
            "\\u{7}\\u{1b}]0;title\\u{7}"
        );
    }
}
