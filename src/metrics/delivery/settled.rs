//! What a window's deployments say that later commits cannot change: every metric
//! but whether the window's newest deployment failed when nothing after it counts
//! (the commits no deployment has shipped yet decide that). A warm measurement reads
//! it from the cache instead of every deployment's range, under a key naming each
//! deployment from the window's first on (its range's key and its time) and where the
//! window ends: a new, moved or deleted deployment, or a window that slides past one,
//! is another key.

use super::deployments::Deployment;
use super::ranges::{holds, Kind, Range, Ranges, Shipped};
use super::{percentile, HOUR};
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};
use std::hash::{Hash, Hasher};

#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub deployments: u64,
    pub lead_time_hours_p50: Option<f64>,
    pub lead_time_hours_p90: Option<f64>,
    /// Deployments that failed, `open` aside.
    pub failed: u64,
    pub time_to_restore_hours_p50: Option<f64>,
    /// The window's newest deployment when no later one counts: whether it failed is
    /// up to the commits after it.
    pub open: Option<usize>,
}

/// The key of the window holding `deployments[first..end]` (oldest first), with
/// `keys` the cache keys of every deployment's range: everything [`settle`] reads.
pub fn key(
    kind: Kind,
    keys: &[String],
    deployments: &[Deployment],
    first: usize,
    end: usize,
) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (kind == Kind::Tags).hash(&mut h);
    for (key, d) in keys.iter().zip(deployments).skip(first) {
        (key, d.time).hash(&mut h);
    }
    format!("{first}:{end}:{}:{:016x}", deployments.len(), h.finish())
}

/// The settled metrics of the deployments `first..end`, from their ranges.
pub fn settle(
    ranges: &Ranges<'_>,
    shipped: &Shipped,
    deployments: &[Deployment],
    first: usize,
    end: usize,
    paths: &[String],
) -> Result<Settled> {
    let range = |i: usize| shipped.range(i);
    // With paths, a deployment counts only when it shipped a commit under them.
    let counting: Vec<usize> = (first..deployments.len())
        .filter(|&i| paths.is_empty() || range(i).commits > 0)
        .collect();
    let mut count = 0u64;
    let mut lead_hours = Vec::new();
    let mut failed = 0u64;
    let mut restore_hours = Vec::new();
    let mut open = None;
    for (n, &i) in counting.iter().enumerate() {
        if i >= end {
            break;
        }
        count += 1;
        let d = &deployments[i];
        lead_hours.extend(
            range(i)
                .author_times
                .iter()
                .map(|t| (d.time - t).max(0) as f64 / HOUR),
        );
        // The deployments between this one and the next that counts shipped nothing
        // under the paths: only the tail can still fail it when there is no next.
        let Some(&next) = counting.get(n + 1) else {
            open = Some(i);
            continue;
        };
        let after: Vec<&Range> = ((i + 1)..=next).map(range).collect();
        if fails(&after, || ranges.ids(shipped, deployments, i))? {
            failed += 1;
            restore_hours.push((deployments[next].time - d.time).max(0) as f64 / HOUR);
        }
    }
    Ok(Settled {
        deployments: count,
        lead_time_hours_p50: percentile(&mut lead_hours, 0.5),
        lead_time_hours_p90: percentile(&mut lead_hours, 0.9),
        failed,
        time_to_restore_hours_p50: percentile(&mut restore_hours, 0.5),
        open,
    })
}

/// Whether what came `after` a deployment fails it: a hotfix, or a revert of one of
/// its commits (`ids`, read only when there is a revert to match).
pub fn fails<S: AsRef<str>>(after: &[&Range], ids: impl FnOnce() -> Result<S>) -> Result<bool> {
    if after.iter().any(|a| a.hotfix) {
        return Ok(true);
    }
    let mut reverted = after.iter().flat_map(|a| &a.reverts).peekable();
    if reverted.peek().is_none() {
        return Ok(false);
    }
    let ids = ids()?;
    Ok(reverted.any(|sha| holds(ids.as_ref(), sha)))
}

pub fn cached(conn: &Connection, key: &str) -> Result<Option<Settled>> {
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT settled FROM delivery_windows WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?;
    // What does not decode is computed again, like any miss.
    Ok(bytes.and_then(|b| decode(&b)))
}

pub fn store(conn: &Connection, key: &str, settled: &Settled) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO delivery_windows (key, settled) VALUES (?1, ?2)")?
        .execute((key, encode(settled)))
        .context("caching a window's delivery metrics")?;
    Ok(())
}

/// The cache's form: the counts and the open deployment (u64, little-endian; none is
/// `u64::MAX`), then each statistic as a presence byte and an f64.
fn encode(s: &Settled) -> Vec<u8> {
    let mut out = Vec::with_capacity(51);
    out.extend(s.deployments.to_le_bytes());
    out.extend(s.failed.to_le_bytes());
    out.extend(s.open.map_or(u64::MAX, |i| i as u64).to_le_bytes());
    for v in [
        s.lead_time_hours_p50,
        s.lead_time_hours_p90,
        s.time_to_restore_hours_p50,
    ] {
        out.push(u8::from(v.is_some()));
        out.extend(v.unwrap_or(0.0).to_le_bytes());
    }
    out
}

/// `None` for anything [`encode`] did not write.
fn decode(bytes: &[u8]) -> Option<Settled> {
    if bytes.len() != 51 {
        return None;
    }
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let stat = |at: usize| match bytes[at] {
        0 => Some(None),
        1 => Some(Some(f64::from_le_bytes(
            bytes[at + 1..at + 9].try_into().expect("8 bytes"),
        ))),
        _ => None,
    };
    let open = match u64_at(16) {
        u64::MAX => None,
        i => Some(usize::try_from(i).ok()?),
    };
    Some(Settled {
        deployments: u64_at(0),
        failed: u64_at(8),
        open,
        lead_time_hours_p50: stat(24)?,
        lead_time_hours_p90: stat(33)?,
        time_to_restore_hours_p50: stat(42)?,
    })
}

#[cfg(test)]
mod tests {
    use super::{decode, encode, fails, Settled};
    use crate::metrics::delivery::ranges::Range;

    #[test]
    fn the_cache_form_round_trips_and_refuses_anything_else() {
        let settled = Settled {
            deployments: 12,
            lead_time_hours_p50: Some(3.25),
            lead_time_hours_p90: None,
            failed: 2,
            time_to_restore_hours_p50: Some(0.0),
            open: Some(199),
        };
        let bytes = encode(&settled);
        assert_eq!(decode(&bytes), Some(settled.clone()));
        let closed = Settled {
            open: None,
            ..settled
        };
        assert_eq!(decode(&encode(&closed)), Some(closed));
        assert_eq!(decode(&bytes[..50]), None);
        let mut bad = bytes.clone();
        bad[33] = 2;
        assert_eq!(decode(&bad), None, "not a presence byte");
    }

    #[test]
    fn hotfixes_and_reverts_of_a_deployments_commits_fail_it() {
        let plain = Range {
            commits: 1,
            ..Range::default()
        };
        let hotfix = Range {
            hotfix: true,
            ..plain.clone()
        };
        let revert = Range {
            reverts: vec!["abcdef1".into()],
            ..plain.clone()
        };
        let never = || -> anyhow::Result<&str> { panic!("no revert: ids are not read") };
        assert!(!fails(&[&plain], never).unwrap());
        assert!(fails(&[&plain, &hotfix], never).unwrap());
        assert!(fails(&[&revert], || Ok("0000000 abcdef1234")).unwrap());
        assert!(!fails(&[&revert], || Ok("0000000 bcdef12")).unwrap());
    }
}
