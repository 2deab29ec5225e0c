//! `daemon/jobs.yml`: the scheduled jobs, shared on the state ref.
//!
//! Only the shape is checked here; cron expressions, time zones and job names are
//! checked by the daemon, which knows the scheduler and the commands of this build.
//! A job runs on a cron schedule, on events (`on:`), or both.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub const JOBS_FILE: &str = "daemon/jobs.yml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Short and stable, for `daemon unschedule ID`.
    pub id: String,
    /// What runs: kr_measure, plan_generate, plan_run, sync.
    pub job: String,
    /// Crontab expression as the user wrote it; absent: the job runs only on its events
    /// (or when enqueued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Events that run the job as soon as the daemon notices them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<Event>,
    /// IANA time zone the expression is read in; absent: the daemon machine's local time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// Extra arguments for the job's command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// A change the daemon reacts to (`on:` in `daemon/jobs.yml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// An OKR file (`okrs/`) changed.
    OkrsChanged,
    /// Manual metrics or CI results were recorded (`metrics/manual.yml`,
    /// `metrics/ci_report.json`, `metrics/ci_history.jsonl`).
    MetricsRecorded,
    /// A plan was created (`plans/`).
    PlanCreated,
    /// The measured branch moved: a commit, a merge, a fetch or pull that moved it.
    BranchMoved,
}

impl Event {
    pub const ALL: [Event; 4] = [
        Event::OkrsChanged,
        Event::MetricsRecorded,
        Event::PlanCreated,
        Event::BranchMoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::OkrsChanged => "okrs_changed",
            Event::MetricsRecorded => "metrics_recorded",
            Event::PlanCreated => "plan_created",
            Event::BranchMoved => "branch_moved",
        }
    }

    pub fn parse(name: &str) -> Result<Event> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == name.trim())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown event {name:?}; events: {}",
                    Event::ALL.map(Event::as_str).join(", ")
                )
            })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jobs {
    #[serde(default)]
    pub jobs: Vec<Job>,
}

impl Jobs {
    pub fn parse(file: &str, text: &str) -> Result<Jobs> {
        if text.trim().is_empty() {
            return Ok(Jobs::default());
        }
        let jobs: Jobs = super::parse_yaml(file, text)?;
        for (i, job) in jobs.jobs.iter().enumerate() {
            let line = super::line_of(text, "id", &job.id, 0)
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            let line = if line.is_empty() {
                super::line_of_key(text, "id", i)
                    .map(|l| format!(":{l}"))
                    .unwrap_or_default()
            } else {
                line
            };
            if let Err(e) = super::ids::check_id(&job.id) {
                bail!("{file}{line}: job id {e}");
            }
            if job.cron.is_none() && job.on.is_empty() {
                bail!(
                    "{file}{line}: job {} has neither `cron` nor `on`: say when it runs",
                    job.id
                );
            }
            if jobs.jobs[..i].iter().any(|j| j.id == job.id) {
                let dup = super::line_of(text, "id", &job.id, 1)
                    .map(|l| format!(":{l}"))
                    .unwrap_or_default();
                bail!("{file}{dup}: job id {} is used twice", job.id);
            }
        }
        Ok(jobs)
    }

    pub fn render(&self) -> Result<String> {
        Ok(format!(
            "# Scheduled jobs, run by `git okr daemon run`. Change with `git okr daemon schedule/unschedule`.\n{}",
            serde_yaml::to_string(self)?
        ))
    }

    pub fn get(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    /// A new id: 8 random hex digits, so jobs scheduled at the same time in two clones
    /// do not collide when their refs are merged (older files used 1, 2, 3…; those stay valid).
    pub fn new_id(&self) -> String {
        loop {
            let id = format!("{:08x}", rand::random::<u32>());
            // All digits would look like an old sequential id; unused here, of course.
            if self.get(&id).is_none() && id.parse::<u64>().is_err() {
                return id;
            }
        }
    }

    /// The job whose id is `id`, or the only one whose id starts with it.
    pub fn find(&self, id: &str) -> Result<Option<&Job>> {
        if let Some(job) = self.get(id) {
            return Ok(Some(job));
        }
        let found: Vec<&Job> = self
            .jobs
            .iter()
            .filter(|j| !id.is_empty() && j.id.starts_with(id))
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            many => bail!(
                "job id {id:?} is ambiguous: {}",
                many.iter()
                    .map(|j| j.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_ids() {
        let mut jobs = Jobs::default();
        jobs.jobs.push(Job {
            id: "1".into(),
            job: "kr_measure".into(),
            cron: Some("0 9 * * 1-5".into()),
            on: vec![Event::MetricsRecorded],
            tz: Some("Europe/Paris".into()),
            args: vec!["--rev".into(), "main".into()],
            created_at: None,
            created_by: None,
        });
        let text = jobs.render().unwrap();
        assert_eq!(Jobs::parse(JOBS_FILE, &text).unwrap(), jobs);
        let id = jobs.new_id();
        assert!(
            id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()) && id != "1",
            "{id}"
        );
        assert_ne!(id, jobs.new_id(), "random");
        assert_eq!(jobs.find("1").unwrap().unwrap().id, "1");
        assert!(jobs.find("2").unwrap().is_none());
    }

    #[test]
    fn rejects_duplicates_and_unknown_fields() {
        let text = "jobs:\n- id: a\n  job: kr_measure\n  cron: '@daily'\n- id: a\n  job: sync\n  cron: '@daily'\n";
        let err = Jobs::parse(JOBS_FILE, text).unwrap_err().to_string();
        assert_eq!(err, "daemon/jobs.yml:5: job id a is used twice");
        let err = Jobs::parse(
            JOBS_FILE,
            "jobs:\n- id: a\n  job: x\n  cron: y\n  when: z\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("daemon/jobs.yml:") && err.contains("when"),
            "{err}"
        );
        let err = Jobs::parse(JOBS_FILE, "jobs:\n- id: a\n  job: x\n  on: [lunch]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("daemon/jobs.yml:") && err.contains("lunch"),
            "{err}"
        );
        let err = Jobs::parse(JOBS_FILE, "jobs:\n- id: a\n  job: kr_measure\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "daemon/jobs.yml:2: job a has neither `cron` nor `on`: say when it runs"
        );
        let jobs = Jobs::parse(
            JOBS_FILE,
            "jobs:\n- id: a\n  job: kr_measure\n  on: [metrics_recorded, okrs_changed]\n",
        )
        .unwrap();
        assert_eq!(
            jobs.jobs[0].on,
            [Event::MetricsRecorded, Event::OkrsChanged]
        );
        assert_eq!(Event::parse("plan_created").unwrap(), Event::PlanCreated);
    }
}
