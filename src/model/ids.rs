//! The one rule for ids and one-line fields of everything on the state ref.
//!
//! Ids (objectives, key results, owners, jobs, proposals, plans, tasks, agents) end up
//! in commit trailers, file names, terminal output and SQLite; one-line fields (reasons,
//! units, evidence, titles) end up in commit message bodies. Both come from files a
//! teammate or an agent wrote, so neither may carry a line break (a forged trailer
//! paragraph), a NUL (git refuses such commits), or a bidi override (text that reads
//! differently from what it is).

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 128;
/// The longest one-line field accepted (a reason of a few sentences fits).
pub const MAX_LINE_LEN: usize = 2000;

/// The characters an id may hold, for messages and the README.
pub const ID_CHARSET: &str = "A-Z a-z 0-9 . _ : @ + -";

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '+' | '-')
}

/// Check an id: 1 to 128 characters from `ID_CHARSET`, not starting with `-` or `.`
/// (so it is never taken for an option or a hidden file). The error names the problem;
/// callers add `file:line` and the field.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    if id.chars().count() > MAX_ID_LEN {
        return Err(format!(
            "is {} characters long; ids are at most {MAX_ID_LEN}",
            id.chars().count()
        ));
    }
    if let Some(c) = id.chars().find(|c| !is_id_char(*c)) {
        return Err(format!(
            "{} holds {}; ids use only {ID_CHARSET}",
            shown(id),
            describe(c)
        ));
    }
    if id.starts_with('-') || id.starts_with('.') {
        return Err(format!(
            "{} starts with `{}`; ids start with a letter, digit, _, :, @ or +",
            shown(id),
            &id[..1]
        ));
    }
    Ok(())
}

/// Whether `c` may not appear in text shown as one line: control characters (CR, LF,
/// NUL, ESC, …), Unicode line/paragraph separators, and bidi controls.
pub fn is_forbidden_in_line(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// Bidi embedding, override and isolate controls (Trojan Source), and the marks.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// Check a one-line field (reason, unit, evidence, owner, title).
pub fn check_line(text: &str) -> Result<(), String> {
    if let Some(c) = text.chars().find(|c| is_forbidden_in_line(*c)) {
        return Err(format!(
            "holds {}; it must be one line of plain text",
            describe(c)
        ));
    }
    if text.chars().count() > MAX_LINE_LEN {
        return Err(format!("is longer than {MAX_LINE_LEN} characters"));
    }
    Ok(())
}

/// Check multi-line prose (descriptions): line breaks and tabs are fine, other control
/// characters and bidi controls are not.
pub fn check_text(text: &str) -> Result<(), String> {
    match text
        .chars()
        .find(|c| (c.is_control() && !matches!(c, '\n' | '\t')) || is_bidi_control(*c))
    {
        Some(c) => Err(format!("holds {}", describe(c))),
        None => Ok(()),
    }
}

/// A character named so a reader sees what it is.
fn describe(c: char) -> String {
    let name = match c {
        '\0' => "NUL",
        '\n' => "a line feed (LF)",
        '\r' => "a carriage return (CR)",
        '\t' => "a tab",
        '\u{1b}' => "an escape (ESC)",
        c if is_bidi_control(c) => "a bidi control",
        c if c.is_control() => "a control character",
        c if c.is_whitespace() => "a space",
        _ => "the character",
    };
    format!("{name} (U+{:04X})", c as u32)
}

/// An id for an error message: escaped and cut, so the message itself stays one safe line.
pub fn shown(id: &str) -> String {
    let cut: String = id.chars().take(40).collect();
    let more = if id.chars().count() > 40 { "…" } else { "" };
    format!("{:?}{more}", cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in [
            "KR-1.1",
            "OBJ-1",
            "team-backend",
            "alice@example.com",
            "a",
            "x:y+z_1",
        ] {
            check_id(ok).unwrap();
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            "a b",
            "KR\0",
            "KR\n1",
            "KR\r",
            "KR\u{202e}1",
            "-rf",
            ".hidden",
            "ü",
            long.as_str(),
            "a/b",
            "a\\b",
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_id("KR\u{0}1").unwrap_err().contains("NUL"));
        assert!(check_id(&"a".repeat(20_000))
            .unwrap_err()
            .contains("20000 characters"));
    }

    #[test]
    fn lines() {
        check_line("raise the bar, because: reasons").unwrap();
        check_line("héllo ✓").unwrap();
        for bad in [
            "a\nb",
            "a\rb",
            "a\0",
            "\u{202e}txt",
            "a\u{2028}b",
            "\u{1b}[31m",
        ] {
            assert!(check_line(bad).is_err(), "{bad:?}");
        }
        check_text("two\nlines\twith a tab").unwrap();
        assert!(check_text("a\0b").is_err());
        assert!(check_text("a\u{202e}b").is_err());
    }
}
