//! Terminal output: aligned tables and score colours (only on a terminal, never with NO_COLOR).

use crate::score::{grade, Grade};
use std::io::IsTerminal;

pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Colour a line by the grade of `score`.
pub fn paint_grade(text: &str, score: f64) -> String {
    if !use_colour() {
        return text.to_string();
    }
    let code = match grade(score) {
        Grade::Green => "32",
        Grade::Yellow => "33",
        Grade::Red => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
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
}
