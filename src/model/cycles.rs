//! `okrs/cycles.yml`: the OKR cycles (quarters unless said otherwise) and the team's
//! check-in rhythm.
//!
//! ```yaml
//! stale_after_days: 7          # a KR with no check-in and no measured change for this long needs attention
//! cycles:
//!   - id: 2026-Q4
//!     start: 2026-10-01
//!     end: 2026-12-31          # inclusive
//! ```
//!
//! A cycle id that is not listed but reads `YYYY-Qn` is that calendar quarter, so a
//! team that works in quarters needs no file. The file is shared through the ref and
//! checked as hostile input: ids become file names (`grades/<id>.json`), dates must be
//! dates, listed cycles may not overlap, and fields git-okr does not know are kept.

use super::ids::check_line;
use super::{at, line_of, line_of_key};
use anyhow::{anyhow, bail, Result};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

pub const CYCLES_FILE: &str = "okrs/cycles.yml";
/// Days without a check-in or a measured change before a KR needs attention.
pub const DEFAULT_STALE_DAYS: u32 = 7;
/// More cycles than a team has in a few lifetimes of quarters.
pub const MAX_CYCLES: usize = 1000;
/// The longest cycle id (it names a file).
pub const MAX_CYCLE_ID: usize = 64;

#[derive(Debug, Deserialize)]
struct CyclesFile {
    #[serde(default)]
    stale_after_days: Option<u32>,
    #[serde(default)]
    cycles: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    id: String,
    start: String,
    end: String,
}

/// One cycle: its id and its first and last day (both included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    pub id: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Whether `okrs/cycles.yml` lists it (else it is a calendar quarter by its id).
    pub listed: bool,
}

impl Cycle {
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day <= self.end
    }

    fn overlaps(&self, other: &Cycle) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

/// The cycles of the state and the check-in rhythm.
#[derive(Debug, Clone)]
pub struct Cycles {
    pub listed: Vec<Cycle>,
    pub stale_after_days: u32,
}

impl Default for Cycles {
    fn default() -> Self {
        Cycles {
            listed: Vec::new(),
            stale_after_days: DEFAULT_STALE_DAYS,
        }
    }
}

/// A cycle id names `grades/<id>.json`: 1–64 of `A-Z a-z 0-9 . _ -`, starting with a
/// letter or digit, no `..`.
pub fn check_cycle_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    if id.len() > MAX_CYCLE_ID {
        return Err(format!(
            "is {} characters long; cycle ids are at most {MAX_CYCLE_ID}",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{id:?} holds {c:?}; cycle ids use only A-Z a-z 0-9 . _ -"
        ));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) || id.contains("..") {
        return Err(format!(
            "{id:?} must start with a letter or digit and hold no `..`"
        ));
    }
    Ok(())
}

/// The calendar quarter an id like `2026-Q4` names.
pub fn quarter(id: &str) -> Option<Cycle> {
    let (year, q) = id.split_once("-Q")?;
    if year.len() != 4 || q.len() != 1 {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
    let start = NaiveDate::from_ymd_opt(year, 3 * q - 2, 1)?;
    let next = if q == 4 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, 3 * q + 1, 1)?
    };
    Some(Cycle {
        id: id.to_string(),
        start,
        end: next.pred_opt()?,
        listed: false,
    })
}

/// The calendar quarter holding `day`.
pub fn quarter_of(day: NaiveDate) -> Cycle {
    let id = format!("{}-Q{}", day.year(), (day.month() - 1) / 3 + 1);
    quarter(&id).expect("a quarter id made from a date is a quarter")
}

fn parse_date(text: &str, here: &str, id: &str, field: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| anyhow!("{here}: cycle {id}: {field} {text:?} is not a date (YYYY-MM-DD)"))
}

impl Cycles {
    /// Parse and check `okrs/cycles.yml`; the first problem is reported with its line.
    pub fn parse(path: &str, text: &str) -> Result<Cycles> {
        if text.trim().is_empty() {
            return Ok(Cycles::default());
        }
        let file: CyclesFile = super::parse_yaml(path, text)?;
        let stale_after_days = match file.stale_after_days {
            Some(d) if !(1..=366).contains(&d) => bail!(
                "{}: stale_after_days {d} must be 1 to 366",
                at(path, line_of_key(text, "stale_after_days", 0))
            ),
            Some(d) => d,
            None => DEFAULT_STALE_DAYS,
        };
        if file.cycles.len() > MAX_CYCLES {
            bail!(
                "{path}: {} cycles, more than the {MAX_CYCLES} a state may list",
                file.cycles.len()
            );
        }
        let mut listed: Vec<(Cycle, String)> = Vec::new();
        for (index, entry) in file.cycles.iter().enumerate() {
            let line = line_of(text, "id", &entry.id, 0).or_else(|| line_of_key(text, "id", index));
            let here = at(path, line);
            check_cycle_id(&entry.id).map_err(|e| anyhow!("{here}: cycle id {e}"))?;
            check_line(&entry.start).map_err(|e| anyhow!("{here}: start {e}"))?;
            let start = parse_date(&entry.start, &here, &entry.id, "start")?;
            let end = parse_date(&entry.end, &here, &entry.id, "end")?;
            if end < start {
                bail!(
                    "{here}: cycle {}: end {end} is before start {start}",
                    entry.id
                );
            }
            let cycle = Cycle {
                id: entry.id.clone(),
                start,
                end,
                listed: true,
            };
            for (earlier, earlier_at) in &listed {
                if earlier.id == cycle.id {
                    bail!(
                        "{here}: duplicate cycle id {:?} (first listed at {earlier_at})",
                        cycle.id
                    );
                }
                if earlier.overlaps(&cycle) {
                    bail!(
                        "{here}: cycle {} ({start} to {end}) overlaps cycle {} ({} to {}) listed at {earlier_at}",
                        cycle.id,
                        earlier.id,
                        earlier.start,
                        earlier.end
                    );
                }
            }
            listed.push((cycle, here));
        }
        Ok(Cycles {
            listed: listed.into_iter().map(|(c, _)| c).collect(),
            stale_after_days,
        })
    }

    /// The cycle `id`: listed, else the calendar quarter it names.
    pub fn get(&self, id: &str) -> Option<Cycle> {
        self.listed
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .or_else(|| quarter(id))
    }

    /// The cycle `id`, or an error saying which cycles there are.
    pub fn require(&self, id: &str) -> Result<Cycle> {
        check_cycle_id(id).map_err(|e| anyhow!("cycle {e}"))?;
        self.get(id).ok_or_else(|| {
            let known: Vec<&str> = self.listed.iter().map(|c| c.id.as_str()).collect();
            let listed = if known.is_empty() {
                format!("{CYCLES_FILE} lists none")
            } else {
                format!("{CYCLES_FILE} lists {}", known.join(", "))
            };
            anyhow!("unknown cycle {id:?}: not a quarter (YYYY-Qn) and {listed}")
        })
    }

    /// The cycle holding `day`: a listed one, else its calendar quarter.
    pub fn containing(&self, day: NaiveDate) -> Cycle {
        self.listed
            .iter()
            .find(|c| c.contains(day))
            .cloned()
            .unwrap_or_else(|| quarter_of(day))
    }

    /// The listed cycle a new one would overlap, if any.
    pub fn overlapping(&self, new: &Cycle) -> Option<&Cycle> {
        self.listed
            .iter()
            .find(|c| c.id != new.id && c.overlaps(new))
    }
}

/// `text` (the file as it is, maybe empty) with `cycle` appended to its `cycles:` list,
/// leaving everything else, comments included, as it was.
pub fn with_cycle_added(text: &str, cycle: &Cycle) -> Result<String> {
    let item = |indent: usize| {
        let pad = " ".repeat(indent);
        format!(
            "{pad}- id: {}\n{pad}  start: {}\n{pad}  end: {}\n",
            cycle.id, cycle.start, cycle.end
        )
    };
    if text.trim().is_empty() {
        return Ok(format!("cycles:\n{}", item(2)));
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(key) = lines.iter().position(|l| l.trim_end() == "cycles:") else {
        let mut out = text.to_string();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("cycles:\n");
        out.push_str(&item(2));
        return Ok(out);
    };
    // The list's items go on while lines are indented (or start with `- ` at column 0).
    let mut last = key;
    let mut indent = 2;
    for (i, line) in lines.iter().enumerate().skip(key + 1) {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let col = line.len() - line.trim_start().len();
        if col == 0 && !line.starts_with("- ") {
            break;
        }
        if i == key + 1 || last == key {
            indent = col;
        }
        last = i;
    }
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    if !out[last].ends_with('\n') {
        out[last].push('\n');
    }
    out.insert(last + 1, item(indent));
    Ok(out.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn quarters_by_default() {
        let q = quarter("2026-Q4").unwrap();
        assert_eq!((q.start, q.end), (day("2026-10-01"), day("2026-12-31")));
        let q = quarter("2024-Q1").unwrap();
        assert_eq!(q.end, day("2024-03-31"));
        assert!(quarter("2026-Q5").is_none());
        assert!(quarter("26-Q1").is_none());
        assert_eq!(quarter_of(day("2026-11-30")).id, "2026-Q4");
        let none = Cycles::default();
        assert_eq!(none.containing(day("2027-02-01")).id, "2027-Q1");
        assert!(none.require("H2").is_err());
    }

    #[test]
    fn listed_cycles_win_and_are_checked() {
        let text = "stale_after_days: 14\ncycles:\n  - id: 2026-H2\n    start: 2026-07-01\n    end: 2026-12-31\n    theme: growth\n";
        let c = Cycles::parse(CYCLES_FILE, text).unwrap();
        assert_eq!(c.stale_after_days, 14);
        assert_eq!(c.containing(day("2026-11-30")).id, "2026-H2");
        let bad = |t: &str| Cycles::parse(CYCLES_FILE, t).unwrap_err().to_string();
        let overlap =
            format!("{text}  - id: 2026-Q4\n    start: 2026-10-01\n    end: 2026-12-31\n");
        assert_eq!(
            bad(&overlap),
            "okrs/cycles.yml:7: cycle 2026-Q4 (2026-10-01 to 2026-12-31) overlaps cycle 2026-H2 (2026-07-01 to 2026-12-31) listed at okrs/cycles.yml:3"
        );
        assert!(bad(&text.replace("2026-07-01", "2026-13-01"))
            .starts_with("okrs/cycles.yml:3: cycle 2026-H2: start \"2026-13-01\" is not a date"));
        assert!(bad(&text.replace("2026-12-31", "2026-01-01")).contains("is before start"));
        assert!(bad(&text.replace("id: 2026-H2", "id: ../x")).contains("cycle id"));
        assert!(bad(&text.replace("14", "0")).starts_with("okrs/cycles.yml:1: stale_after_days 0"));
        let dup = format!("{text}  - id: 2026-H2\n    start: 2027-01-01\n    end: 2027-06-30\n");
        assert!(bad(&dup).contains("duplicate cycle id"), "{}", bad(&dup));
    }

    #[test]
    fn adding_a_cycle_keeps_the_text() {
        let text = "# our rhythm\nstale_after_days: 14\ncycles:\n  - id: 2026-Q4  # the big one\n    start: 2026-10-01\n    end: 2026-12-31\nnotes: kept\n";
        let q = quarter("2027-Q1").unwrap();
        let out = with_cycle_added(text, &q).unwrap();
        assert!(out.starts_with(
            "# our rhythm\nstale_after_days: 14\ncycles:\n  - id: 2026-Q4  # the big one\n"
        ));
        assert!(out.contains("    end: 2026-12-31\n  - id: 2027-Q1\n    start: 2027-01-01\n    end: 2027-03-31\nnotes: kept\n"), "{out}");
        let parsed = Cycles::parse(CYCLES_FILE, &out).unwrap();
        assert_eq!(parsed.listed.len(), 2);
        let fresh = with_cycle_added("", &q).unwrap();
        assert_eq!(
            Cycles::parse(CYCLES_FILE, &fresh).unwrap().listed[0],
            Cycle { listed: true, ..q }
        );
    }
}
