//! Process trees on Linux, read from `/proc`: who is a descendant of whom, and killing a
//! whole tree, including processes that left their process group or session (`setsid`).
//!
//! Used by the per-task supervisor (`supervise`) and by `plan run` itself; both are child
//! subreapers, so an orphaned descendant is re-parented to them instead of init and stays
//! findable here. On other systems only process groups are available: the functions exist
//! but find nothing, and the README says so.

use std::collections::{BTreeMap, BTreeSet};

/// Become a child subreaper: orphaned descendants are re-parented to this process.
#[cfg(target_os = "linux")]
pub fn become_subreaper() -> std::io::Result<()> {
    // The argument is a flag: rustix turns `None` into 0, which UNSETS the attribute; any
    // pid means "set".
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub fn become_subreaper() -> std::io::Result<()> {
    Ok(())
}

/// Every live process's parent, from `/proc/PID/stat` (processes that vanish mid-scan are
/// skipped; zombies are included, they still need reaping).
pub fn parents() -> BTreeMap<u32, u32> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parent_from_stat)
        {
            out.insert(pid, ppid);
        }
    }
    out
}

/// The parent pid in a `/proc/PID/stat` line. The command name in parentheses may contain
/// spaces and parentheses itself, so the fields are counted after the LAST `)`.
pub fn parent_from_stat(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

/// Whether `pid` is running (a zombie waiting for its reaper is not).
#[cfg(test)]
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .map(|i| stat[i + 1..].trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

/// All descendants of `root` (not `root` itself), parents before children.
pub fn descendants(root: u32) -> Vec<u32> {
    descendants_in(&parents(), root)
}

pub fn descendants_in(parents: &BTreeMap<u32, u32>, root: u32) -> Vec<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&pid, &ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            if c != root && seen.insert(c) {
                out.push(c);
                queue.push(c);
            }
        }
    }
    out
}

/// Send `sig` to one process; a process that is already gone is not an error.
#[cfg(unix)]
pub fn signal(pid: u32, sig: Sig) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, sig.rustix());
    }
}

/// Send `sig` to a process group (the group whose leader is `pgid`).
#[cfg(unix)]
pub fn signal_group(pgid: u32, sig: Sig) {
    if let Some(pid) = rustix::process::Pid::from_raw(pgid as i32) {
        let _ = rustix::process::kill_process_group(pid, sig.rustix());
    }
}

/// The two signals used to stop agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

impl Sig {
    fn rustix(self) -> rustix::process::Signal {
        match self {
            Sig::Term => rustix::process::Signal::TERM,
            Sig::Kill => rustix::process::Signal::KILL,
        }
    }
}

/// Signal every descendant of `root`; returns how many were signalled.
pub fn signal_descendants(root: u32, sig: Sig) -> usize {
    let pids = descendants(root);
    for &p in &pids {
        signal(p, sig);
    }
    pids.len()
}

/// Kill every process below this one that is not one of `keep` nor below one, and reap
/// the ones that are this process's children. For a subreaper these are the orphans it
/// adopted from agents whose supervisor could not clear up. Returns how many were killed.
#[cfg(unix)]
pub fn kill_adopted(keep: &BTreeSet<u32>) -> usize {
    use rustix::process::{waitpid, Pid, WaitOptions};
    let me = std::process::id();
    let mut killed = BTreeSet::new();
    // Bounded: killed processes vanish within milliseconds; one stuck in the kernel must
    // not hold up the run for ever.
    for _ in 0..200 {
        let parents = parents();
        let adopted: Vec<u32> = parents
            .iter()
            .filter(|(pid, ppid)| **ppid == me && !keep.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        if adopted.is_empty() {
            break;
        }
        for &pid in &adopted {
            for p in std::iter::once(pid).chain(descendants_in(&parents, pid)) {
                signal(p, Sig::Kill);
                killed.insert(p);
            }
            if let Some(p) = Pid::from_raw(pid as i32) {
                let _ = waitpid(Some(p), WaitOptions::NOHANG);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    killed.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn subreaper_is_really_set() {
        // prctl applies to the whole test process; harmless (it only adopts orphans).
        become_subreaper().unwrap();
        assert!(rustix::process::child_subreaper().unwrap().is_some());
    }

    #[test]
    fn stat_lines_with_odd_names() {
        assert_eq!(parent_from_stat("12 (sh) S 7 12 12 0"), Some(7));
        assert_eq!(parent_from_stat("12 (a) b) (c) R 99 1 1"), Some(99));
        assert_eq!(parent_from_stat("garbage"), None);
    }

    #[test]
    fn descendants_follow_the_tree() {
        let parents: BTreeMap<u32, u32> = [(2, 1), (3, 2), (4, 3), (5, 1), (6, 9), (7, 4)].into();
        let mut d = descendants_in(&parents, 2);
        d.sort();
        assert_eq!(d, [3, 4, 7]);
        assert!(descendants_in(&parents, 6).is_empty());
    }

    #[test]
    fn this_process_is_found_below_its_parent() {
        let me = std::process::id();
        let parent = parents()[&me];
        assert!(descendants(parent).contains(&me));
        assert!(alive(me));
    }
}
