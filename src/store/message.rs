//! Commit messages of the state ref: human first, machine readable by `Okr-*` trailers.

/// A state commit's message: a subject, an optional body, and trailers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitMessage {
    pub subject: String,
    pub body: String,
    pub trailers: Vec<(String, String)>,
}

impl CommitMessage {
    pub fn new(subject: impl Into<String>) -> Self {
        CommitMessage {
            subject: subject.into(),
            ..Default::default()
        }
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Add a trailer; values are kept on one line so `git interpret-trailers` reads them.
    pub fn trailer(mut self, key: &str, value: impl AsRef<str>) -> Self {
        let value = one_line(value.as_ref());
        self.trailers
            .push((key.to_string(), value.trim().to_string()));
        self
    }

    /// The message as committed. Whatever the parts hold (inputs are checked earlier;
    /// this is the last line of defence), it has no NUL or other control character (git
    /// and `receive.fsckObjects` refuse those), a one-line subject, and no body line
    /// that reads as an `Okr-*` trailer (a forged paragraph).
    pub fn render(&self) -> String {
        let mut out = one_line(&self.subject).trim().to_string();
        out.push('\n');
        let body = body_text(&self.body);
        let body = body.trim();
        if !body.is_empty() {
            out.push('\n');
            out.push_str(body);
            out.push('\n');
        }
        if !self.trailers.is_empty() {
            out.push('\n');
            for (k, v) in &self.trailers {
                out.push_str(&format!("{k}: {v}\n"));
            }
        }
        out
    }
}

/// Text on one line: line breaks, other control characters and bidi controls become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_unsafe_in_message(c) || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Body text: line breaks stay; other control characters become spaces; a line that would
/// read as an `Okr-*` trailer is indented so it never does.
fn body_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let clean: String = line
                .chars()
                .map(|c| {
                    if is_unsafe_in_message(c) && c != '\t' {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            if clean.to_ascii_lowercase().starts_with("okr-") && clean.contains(':') {
                format!("  {clean}")
            } else {
                clean
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_unsafe_in_message(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// The trailers of a commit message: `Key: value` lines of its last paragraph.
/// A message whose last paragraph is not all trailers has none (as git decides).
pub fn parse_trailers(message: &str) -> Vec<(String, String)> {
    let trimmed = message.trim_end();
    let last = trimmed.rsplit("\n\n").next().unwrap_or("");
    if last == trimmed && !trimmed.contains('\n') {
        // A lone subject line is never a trailer block.
        return Vec::new();
    }
    let mut out = Vec::new();
    for line in last.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            return Vec::new();
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Vec::new();
        }
        out.push((key.to_string(), value.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses_trailers() {
        let msg = CommitMessage::new("okr: measure (1 status change)")
            .body("KR-1.1 not_started -> achieved (102/100)")
            .trailer("Okr-Action", "measure")
            .trailer("Okr-Actor", "alice@example.com")
            .trailer("Okr-KR", "KR-1.1");
        let text = msg.render();
        assert_eq!(
            text,
            "okr: measure (1 status change)\n\nKR-1.1 not_started -> achieved (102/100)\n\nOkr-Action: measure\nOkr-Actor: alice@example.com\nOkr-KR: KR-1.1\n"
        );
        let trailers = parse_trailers(&text);
        assert_eq!(trailers.len(), 3);
        assert_eq!(trailers[2], ("Okr-KR".to_string(), "KR-1.1".to_string()));
    }

    #[test]
    fn a_plain_message_has_no_trailers() {
        assert!(parse_trailers("just a subject").is_empty());
        assert!(parse_trailers("subject\n\nsome prose: with a colon\nand more").is_empty());
        assert!(parse_trailers("Fixes: nothing").is_empty());
    }

    #[test]
    fn no_nul_and_no_forged_paragraph() {
        let msg = CommitMessage::new("okr: set\0 KR\r\nOkr-Action: apply")
            .body("reason\0\n\nOkr-Action: apply\nOkr-Actor: boss@example.com")
            .trailer("Okr-Action", "metric-set")
            .trailer("Okr-KR", "KR\u{202e}1");
        let text = msg.render();
        assert!(
            !text.contains('\0') && !text.contains('\r') && !text.contains('\u{202e}'),
            "{text:?}"
        );
        assert_eq!(
            text.lines().next().unwrap(),
            "okr: set  KR  Okr-Action: apply"
        );
        assert!(
            text.contains("\n  Okr-Action: apply\n  Okr-Actor: boss@example.com\n"),
            "{text}"
        );
        let trailers = parse_trailers(&text);
        assert_eq!(trailers.len(), 2);
        assert_eq!(trailers[0].1, "metric-set");
    }

    #[test]
    fn multi_line_values_are_folded() {
        let msg = CommitMessage::new("s").trailer("Okr-Reason", "two\nlines");
        assert!(msg.render().contains("Okr-Reason: two lines\n"));
    }
}
