//! Cron expressions as crontab users write them, translated for the `cron` crate.
//!
//! The crate needs a seconds field and numbers weekdays 1 = Sunday (0 is an error), so a
//! crontab line cannot be passed through: `0 9 * * 1-5` would fire Sunday to Thursday.
//! Every field is parsed and checked here (errors name the field), expanded to explicit
//! values, and weekdays are handed over as names. Like Vixie cron, when both day of month
//! and day of week are restricted a day matching either fires (the crate would need both).

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Local, TimeZone, Utc};
use std::collections::BTreeSet;
use std::str::FromStr;

/// A validated schedule: one or two crate schedules (two for the day-of-month OR day-of-week case).
#[derive(Debug, Clone)]
pub struct Cron {
    source: String,
    schedules: Vec<cron::Schedule>,
}

/// Where a schedule's wall-clock times are read: the machine's local time or an IANA zone.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    Local,
    Iana(chrono_tz::Tz),
}

impl Zone {
    /// `None` is the machine's local time; otherwise an IANA name like `Europe/Paris`.
    pub fn parse(tz: Option<&str>) -> Result<Zone> {
        match tz {
            None => Ok(Zone::Local),
            Some(name) => chrono_tz::Tz::from_str(name.trim())
                .map(Zone::Iana)
                .map_err(|_| {
                    anyhow!(
                        "--tz {name:?} is not an IANA time zone name (like Europe/Paris or UTC)"
                    )
                }),
        }
    }

    /// `t` shown in this zone, to the second, with its offset.
    pub fn show(&self, t: DateTime<Utc>) -> String {
        const FMT: &str = "%Y-%m-%d %H:%M:%S %:z";
        match self {
            Zone::Local => t.with_timezone(&Local).format(FMT).to_string(),
            Zone::Iana(tz) => t.with_timezone(tz).format(FMT).to_string(),
        }
    }
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// Crontab's weekdays: 0 and 7 are Sunday.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};
const WEEKDAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

impl Cron {
    /// Parse a crontab expression: 5 fields, 6 with seconds first, or an `@name`.
    pub fn parse(expr: &str) -> Result<Cron> {
        let source = expr.trim().to_string();
        let fail = |why: String| anyhow!("cron expression {source:?}: {why}");
        let expanded = match source.strip_prefix('@') {
            Some(name) => match name.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                "reboot" => return Err(fail("@reboot is not a time: start the daemon at login instead (git okr daemon launchd/systemd)".into())),
                _ => return Err(fail(format!("unknown @{name}; use @yearly, @monthly, @weekly, @daily or @hourly"))),
            }
            .to_string(),
            None => source.clone(),
        };
        let mut fields: Vec<&str> = expanded.split_whitespace().collect();
        match fields.len() {
            5 => fields.insert(0, "0"),
            6 => {}
            n => {
                return Err(fail(format!(
                    "has {n} field{}; expected 5 (minute hour day-of-month month day-of-week), \
                     6 (second first) or a name like @daily",
                    if n == 1 { "" } else { "s" }
                )))
            }
        }
        let specs = [&SECOND, &MINUTE, &HOUR, &DAY_OF_MONTH, &MONTH, &DAY_OF_WEEK];
        let mut sets = Vec::new();
        for (text, spec) in fields.iter().zip(specs) {
            sets.push(
                expand(text, spec)
                    .map_err(|e| fail(format!("{} field {text:?}: {e}", spec.name)))?,
            );
        }
        let list = |set: &BTreeSet<u32>, spec: &FieldSpec| -> String {
            if set.len() as u32 == spec.max - spec.min + 1 {
                "*".into()
            } else {
                set.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            }
        };
        // Sunday may be written 0 or 7.
        let weekdays: BTreeSet<u32> = sets[5].iter().map(|d| d % 7).collect();
        let dow = if weekdays.len() == 7 {
            "*".to_string()
        } else {
            weekdays
                .iter()
                .map(|&d| WEEKDAY_NAMES[d as usize])
                .collect::<Vec<_>>()
                .join(",")
        };
        let head = format!(
            "{} {} {}",
            list(&sets[0], &SECOND),
            list(&sets[1], &MINUTE),
            list(&sets[2], &HOUR)
        );
        let dom = list(&sets[3], &DAY_OF_MONTH);
        let month = list(&sets[4], &MONTH);
        // Vixie cron: a field starting with `*` does not restrict; two restricted day fields OR.
        let restricted = |t: &str| !t.starts_with('*') && t != "?";
        let lines = if restricted(fields[3]) && restricted(fields[5]) {
            vec![
                format!("{head} {dom} {month} *"),
                format!("{head} * {month} {dow}"),
            ]
        } else {
            vec![format!("{head} {dom} {month} {dow}")]
        };
        let schedules = lines
            .iter()
            .map(|l| {
                cron::Schedule::from_str(l)
                    .map_err(|e| fail(format!("rejected by the scheduler as {l:?}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let parsed = Cron { source, schedules };
        if parsed
            .next_after(Utc::now(), &Zone::Iana(chrono_tz::UTC))
            .is_none()
        {
            return Err(anyhow!(
                "cron expression {:?}: never fires (no such date)",
                parsed.source
            ));
        }
        Ok(parsed)
    }

    /// The first time strictly after `after` this schedule fires, read in `zone`.
    pub fn next_after(&self, after: DateTime<Utc>, zone: &Zone) -> Option<DateTime<Utc>> {
        fn first<Z: TimeZone>(s: &cron::Schedule, after: DateTime<Z>) -> Option<DateTime<Utc>> {
            s.after(&after).next().map(|t| t.with_timezone(&Utc))
        }
        self.schedules
            .iter()
            .filter_map(|s| match zone {
                Zone::Local => first(s, after.with_timezone(&Local)),
                Zone::Iana(tz) => first(s, after.with_timezone(tz)),
            })
            .min()
    }
}

/// Expand one field to the set of values it allows, checking ranges and steps.
fn expand(text: &str, spec: &FieldSpec) -> Result<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    for item in text.split(',') {
        if item.is_empty() {
            bail!("empty list item");
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| anyhow!("step {s:?} is not a number"))?;
                if step == 0 {
                    bail!("step 0 never advances");
                }
                (r, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" || (range == "?" && spec.name.starts_with("day")) {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, spec)?, value(b, spec)?);
            if a > b {
                bail!("range {range} runs backwards");
            }
            (a, b)
        } else {
            let v = value(range, spec)?;
            // `5/15` means from 5 to the end, every 15.
            (v, if step.is_some() { spec.max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            out.insert(v);
            v += step.unwrap_or(1);
        }
    }
    Ok(out)
}

fn value(text: &str, spec: &FieldSpec) -> Result<u32> {
    if let Ok(n) = text.parse::<u32>() {
        if n < spec.min || n > spec.max {
            bail!("{n} is out of range {}-{}", spec.min, spec.max);
        }
        return Ok(n);
    }
    let lower = text.to_ascii_lowercase();
    spec.names
        .iter()
        .position(|n| lower.len() >= 3 && n.starts_with(&lower[..3]) && full_name_ok(&lower))
        .map(|i| i as u32 + spec.min)
        .ok_or_else(|| {
            if spec.names.is_empty() {
                anyhow!("{text:?} is not a number")
            } else {
                anyhow!(
                    "{text:?} is neither a number nor a name like {}",
                    spec.names[1]
                )
            }
        })
}

/// `mon` and `monday` are names; `monkey` is not.
fn full_name_ok(lower: &str) -> bool {
    const FULL: [&str; 19] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    lower.len() == 3 || FULL.contains(&lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn upcoming(expr: &str, from: &str, n: usize, zone: &Zone) -> Vec<DateTime<Utc>> {
        let c = Cron::parse(expr).unwrap();
        let mut t = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = c.next_after(t, zone).unwrap();
            out.push(t);
        }
        out
    }

    const UTC: Zone = Zone::Iana(chrono_tz::UTC);

    #[test]
    fn weekdays_one_to_five_are_monday_to_friday_at_nine() {
        // 2026-01-04 is a Sunday.
        let times = upcoming("0 9 * * 1-5", "2026-01-04T00:00:00Z", 10, &UTC);
        let days: Vec<Weekday> = times.iter().map(|t| t.weekday()).collect();
        use Weekday::*;
        assert_eq!(days, vec![Mon, Tue, Wed, Thu, Fri, Mon, Tue, Wed, Thu, Fri]);
        assert!(times
            .iter()
            .all(|t| (t.hour(), t.minute(), t.second()) == (9, 0, 0)));
        assert_eq!(times[0], utc("2026-01-05T09:00:00Z"));
    }

    #[test]
    fn sunday_is_zero_or_seven_and_steps_lists_and_names_work() {
        for expr in ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun", "0 9 * * Sunday"] {
            let t = upcoming(expr, "2026-01-05T00:00:00Z", 2, &UTC);
            assert!(t.iter().all(|t| t.weekday() == Weekday::Sun), "{expr}");
        }
        let t = upcoming("30 8 * * */2", "2026-01-04T00:00:00Z", 4, &UTC);
        let days: Vec<Weekday> = t.iter().map(|t| t.weekday()).collect();
        assert_eq!(
            days,
            vec![Weekday::Sun, Weekday::Tue, Weekday::Thu, Weekday::Sat]
        );
        let t = upcoming("0 12 * * mon,wed-fri", "2026-01-04T00:00:00Z", 4, &UTC);
        let days: Vec<Weekday> = t.iter().map(|t| t.weekday()).collect();
        assert_eq!(
            days,
            vec![Weekday::Mon, Weekday::Wed, Weekday::Thu, Weekday::Fri]
        );
    }

    #[test]
    fn seconds_field_and_names() {
        let t = upcoming("* * * * * *", "2026-01-04T00:00:00Z", 3, &UTC);
        assert_eq!(t[2], utc("2026-01-04T00:00:03Z"));
        let t = upcoming("*/15 * * * *", "2026-01-04T00:00:00Z", 2, &UTC);
        assert_eq!(
            t,
            vec![utc("2026-01-04T00:15:00Z"), utc("2026-01-04T00:30:00Z")]
        );
        assert_eq!(
            upcoming("@daily", "2026-01-04T10:00:00Z", 1, &UTC)[0],
            utc("2026-01-05T00:00:00Z")
        );
        assert_eq!(
            upcoming("@weekly", "2026-01-05T10:00:00Z", 1, &UTC)[0],
            utc("2026-01-11T00:00:00Z")
        );
        assert_eq!(
            upcoming("@hourly", "2026-01-04T10:20:00Z", 1, &UTC)[0],
            utc("2026-01-04T11:00:00Z")
        );
    }

    #[test]
    fn restricted_day_of_month_and_week_fire_on_either() {
        // The 13th or any Friday (2026-01-02 and 01-09 are Fridays, 01-13 a Tuesday).
        let t = upcoming("0 0 13 * 5", "2026-01-01T00:00:00Z", 3, &UTC);
        assert_eq!(
            t,
            vec![
                utc("2026-01-02T00:00:00Z"),
                utc("2026-01-09T00:00:00Z"),
                utc("2026-01-13T00:00:00Z")
            ]
        );
    }

    #[test]
    fn time_zones() {
        let paris = Zone::parse(Some("Europe/Paris")).unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            upcoming("0 9 * * *", "2026-01-04T00:00:00Z", 1, &paris)[0],
            utc("2026-01-04T08:00:00Z")
        );
        assert_eq!(
            upcoming("0 9 * * *", "2026-07-04T00:00:00Z", 1, &paris)[0],
            utc("2026-07-04T07:00:00Z")
        );
        let err = Zone::parse(Some("Mars/Olympus")).unwrap_err().to_string();
        assert!(
            err.contains("Mars/Olympus") && err.contains("IANA"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("61 * * * *", "minute field \"61\": 61 is out of range 0-59"),
            ("0 24 * * *", "hour field \"24\": 24 is out of range 0-23"),
            (
                "0 9 0 * *",
                "day-of-month field \"0\": 0 is out of range 1-31",
            ),
            ("0 9 * 13 *", "month field \"13\""),
            (
                "0 9 * * 8",
                "day-of-week field \"8\": 8 is out of range 0-7",
            ),
            ("0 9 * * 5-1", "range 5-1 runs backwards"),
            ("*/0 * * * *", "step 0"),
            ("0 9 * * funday", "day-of-week field \"funday\""),
            ("0 9 * *", "has 4 fields"),
            ("@fortnightly", "unknown @fortnightly"),
            ("@reboot", "@reboot"),
            ("0 0 30 2 *", "never fires"),
            ("x * * * *", "minute field \"x\": \"x\" is not a number"),
        ];
        for (expr, want) in cases {
            let err = Cron::parse(expr).unwrap_err().to_string();
            assert!(err.contains(want), "{expr}: {err}");
            assert!(err.contains(&format!("{expr:?}")), "{expr}: {err}");
        }
    }
}
