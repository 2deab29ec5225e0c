//! `OKR_TIMING=1` prints how long each phase of a git measurement took, on stderr:
//! the cheapest way to see where a slow measure spends its time.

use std::time::Instant;

pub struct Timer {
    enabled: bool,
    start: Instant,
    last: Instant,
}

impl Timer {
    pub fn new() -> Timer {
        let now = Instant::now();
        Timer {
            enabled: std::env::var_os("OKR_TIMING").is_some_and(|v| !v.is_empty() && v != "0"),
            start: now,
            last: now,
        }
    }

    pub fn lap(&mut self, what: &str) {
        if self.enabled {
            let now = Instant::now();
            eprintln!(
                "timing: {what:<28} {:>8.1} ms (total {:.1} ms)",
                (now - self.last).as_secs_f64() * 1000.0,
                (now - self.start).as_secs_f64() * 1000.0
            );
            self.last = now;
        }
    }
}
