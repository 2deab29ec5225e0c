//! LCOV tracefiles as lcov, grcov, cargo-llvm-cov, c8/istanbul and
//! coverage.py write them: records `SF:` … `end_of_record`, line data in
//! `DA:<line>,<hits>[,<checksum>]` and the totals `LF:`/`LH:`.

use super::LineCoverage;
use anyhow::{anyhow, bail, Result};
use std::collections::HashMap;

#[derive(Default)]
struct FileData {
    records: usize,
    /// Whether every record of the file had DA lines (then they are merged per line).
    all_have_da: bool,
    /// (line, hit) of all its records, unmerged.
    da: Vec<(u64, bool)>,
    lf: u64,
    lh: u64,
}

/// The record being read: its source file, DA lines, LF and LH, and where it began.
struct OpenRecord {
    sf: String,
    da: Vec<(u64, bool)>,
    lf: Option<u64>,
    lh: Option<u64>,
    start: usize,
}

/// Parse the LCOV `text` read from `file` into line totals.
///
/// A file traced in several records (one per test binary, as `lcov -a` input
/// often is) counts each line once: covered when any record hit it. Otherwise
/// the totals are the sums of `LF`/`LH`, or counted from `DA` where those are missing.
pub fn parse(file: &str, text: &str) -> Result<LineCoverage> {
    let mut files: HashMap<String, FileData> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut open: Option<OpenRecord> = None;
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        last_line = n;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line == "end_of_record" {
            let Some(OpenRecord { sf, da, lf, lh, .. }) = open.take() else {
                bail!("{file}:{n}: end_of_record without a preceding SF: line");
            };
            let entry = files.entry(sf.clone()).or_insert_with(|| {
                order.push(sf.clone());
                FileData {
                    all_have_da: true,
                    ..FileData::default()
                }
            });
            entry.records += 1;
            entry.all_have_da &= !da.is_empty();
            let (found, hit) = match (lf, lh) {
                (Some(lf), Some(lh)) => (lf, lh),
                _ => {
                    let (f, h) = line_totals(da.clone());
                    (lf.unwrap_or(f), lh.unwrap_or(h))
                }
            };
            if hit > found {
                bail!("{file}:{n}: record for {sf} says LH:{hit} of LF:{found} lines");
            }
            entry.lf += found;
            entry.lh += hit;
            entry.da.extend(da);
            continue;
        }
        let Some((tag, value)) = line.split_once(':') else {
            bail!("{file}:{n}: not an LCOV line: {:?}", shorten(line));
        };
        if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            bail!("{file}:{n}: not an LCOV line: {:?}", shorten(line));
        }
        let number = |v: &str, what: &str| -> Result<u64> {
            v.trim()
                .parse::<u64>()
                .map_err(|_| anyhow!("{file}:{n}: {tag}: {what} {v:?} is not a whole number"))
        };
        match tag {
            "SF" => {
                if let Some(OpenRecord { sf, start, .. }) = &open {
                    bail!("{file}:{n}: SF: line inside the record for {sf} begun at line {start} (missing end_of_record)");
                }
                open = Some(OpenRecord {
                    sf: value.to_string(),
                    da: Vec::new(),
                    lf: None,
                    lh: None,
                    start: n,
                });
            }
            "DA" | "LF" | "LH" => {
                let Some(OpenRecord { da, lf, lh, .. }) = open.as_mut() else {
                    bail!("{file}:{n}: {tag}: line outside a record (no SF: line before it)");
                };
                match tag {
                    "DA" => {
                        let mut parts = value.split(',');
                        let line_no = number(parts.next().unwrap_or(""), "line")?;
                        let hits = parts
                            .next()
                            .ok_or_else(|| anyhow!("{file}:{n}: DA: needs <line>,<hits>"))?;
                        // gcov can emit negative counts on overflow; lcov treats them as not hit.
                        let hits: i128 = hits.trim().parse().map_err(|_| {
                            anyhow!("{file}:{n}: DA: hits {hits:?} is not a whole number")
                        })?;
                        da.push((line_no, hits > 0));
                    }
                    "LF" => *lf = Some(number(value, "count")?),
                    _ => *lh = Some(number(value, "count")?),
                }
            }
            // TN, FN, FNDA, FNF, FNH, FNL, FNA, BRDA, BRF, BRH, VER, …: not line coverage.
            _ => {}
        }
    }
    if let Some(OpenRecord { sf, start, .. }) = open {
        bail!("{file}:{last_line}: truncated: the record for {sf} begun at line {start} has no end_of_record");
    }
    if order.is_empty() {
        bail!("{file}: no LCOV records (SF: … end_of_record) found");
    }
    let mut total = LineCoverage::default();
    for sf in order {
        let data = files.remove(&sf).expect("every file in order has data");
        if data.records > 1 && data.all_have_da {
            let (found, hit) = line_totals(data.da);
            total.valid += found;
            total.covered += hit;
        } else {
            total.valid += data.lf;
            total.covered += data.lh;
        }
    }
    Ok(total)
}

/// Distinct lines and lines hit at least once (a line listed twice counts once).
fn line_totals(mut da: Vec<(u64, bool)>) -> (u64, u64) {
    // Per line, a hit sorts after a miss, so the last entry of a line tells.
    da.sort_unstable();
    let mut found = 0;
    let mut hit = 0;
    for (i, (line, covered)) in da.iter().enumerate() {
        if da.get(i + 1).is_some_and(|(next, _)| next == line) {
            continue;
        }
        found += 1;
        hit += u64::from(*covered);
    }
    (found, hit)
}

fn shorten(line: &str) -> String {
    line.chars().take(60).collect()
}
