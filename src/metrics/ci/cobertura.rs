//! Cobertura XML as coverage.py (`coverage xml`), cobertura-maven, gcovr and
//! cargo-llvm-cov write it: `<coverage line-rate lines-covered lines-valid …>`.

use super::xml::walk;
use super::LineCoverage;
use anyhow::{anyhow, bail, Result};

/// What a Cobertura report says about lines.
#[derive(Debug, Clone, PartialEq)]
pub enum CoberturaLines {
    /// `lines-covered`/`lines-valid` (coverage.py, gcovr, newer cobertura).
    Counts(LineCoverage),
    /// Only `line-rate` (0–1), as cobertura-maven 2.x writes it; as a percent.
    Rate(f64),
}

/// Parse the Cobertura XML `text` read from `file`. Prefers the line counts,
/// else `line-rate`.
pub fn parse(file: &str, text: &str) -> Result<CoberturaLines> {
    let mut found: Option<Result<CoberturaLines>> = None;
    walk(file, text, |el| {
        if !el.ancestors.is_empty() {
            return Ok(());
        }
        if !el.is("coverage") {
            bail!(
                "{}: not a Cobertura report: the root element is <{}>, expected <coverage>",
                el.here(),
                String::from_utf8_lossy(&el.name())
            );
        }
        let covered = el.count_attr("lines-covered")?;
        let valid = el.count_attr("lines-valid")?;
        found = Some(match (covered, valid) {
            (Some(covered), Some(valid)) if covered <= valid => {
                Ok(CoberturaLines::Counts(LineCoverage { covered, valid }))
            }
            (Some(covered), Some(valid)) => Err(anyhow!(
                "{}: lines-covered={covered} exceeds lines-valid={valid}",
                el.here()
            )),
            _ => match el.num_attr("line-rate")? {
                Some(rate) if (0.0..=1.0).contains(&rate) => Ok(CoberturaLines::Rate(rate * 100.0)),
                Some(rate) => Err(anyhow!(
                    "{}: line-rate={rate} is not between 0 and 1",
                    el.here()
                )),
                None => Err(anyhow!(
                    "{}: <coverage> has neither lines-covered/lines-valid nor line-rate",
                    el.here()
                )),
            },
        });
        Ok(())
    })?;
    found.unwrap_or_else(|| Err(anyhow!("{file}: no <coverage> element")))
}
