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
        let value = value.as_ref().replace(['\n', '\r'], " ");
        self.trailers
            .push((key.to_string(), value.trim().to_string()));
        self
    }

    pub fn render(&self) -> String {
        let mut out = self.subject.trim().to_string();
        out.push('\n');
        let body = self.body.trim();
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
    fn multi_line_values_are_folded() {
        let msg = CommitMessage::new("s").trailer("Okr-Reason", "two\nlines");
        assert!(msg.render().contains("Okr-Reason: two lines\n"));
    }
}
