//! Desktop notifications, best effort: where no notification service answers, the
//! notice is logged and the daemon goes on.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub summary: String,
    pub body: String,
}

/// Notices for a measurement's `--json` output: KRs that became achieved or in progress.
pub fn from_measure(stdout: &str) -> Vec<Notice> {
    let Ok(out) = serde_json::from_str::<Value>(stdout) else {
        return Vec::new();
    };
    let changes = out["status_changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    changes
        .iter()
        .filter_map(|c| {
            let kr = c["kr_id"].as_str()?;
            let progress = format!("{} {}/{}", kr, num(&c["current"]), num(&c["target"]));
            match c["to"].as_str()? {
                "achieved" => Some(Notice {
                    summary: format!("🎉 KR achieved: {kr}"),
                    body: progress,
                }),
                "in_progress" => Some(Notice {
                    summary: format!("🚀 KR in progress: {kr}"),
                    body: progress,
                }),
                _ => None,
            }
        })
        .collect()
}

/// One notice per owner from `kr stale --json`: the KRs waiting for their check-in.
pub fn from_stale(stdout: &str) -> Vec<Notice> {
    let Ok(out) = serde_json::from_str::<Value>(stdout) else {
        return Vec::new();
    };
    let owners = out["owners"].as_array().cloned().unwrap_or_default();
    owners
        .iter()
        .filter_map(|o| {
            let owner = o["owner"].as_str().unwrap_or("(no owner)");
            let krs: Vec<String> = o["krs"]
                .as_array()?
                .iter()
                .filter_map(|k| Some(format!("{} ({} days)", k["kr_id"].as_str()?, k["days"])))
                .collect();
            (!krs.is_empty()).then(|| Notice {
                summary: format!("📝 Check-in due: {owner}"),
                body: format!("{}: git okr kr checkin KR --confidence N", krs.join(", ")),
            })
        })
        .collect()
}

/// The notice for a finished plan run.
pub fn plan_run(completed: bool, body: String) -> Notice {
    let summary = if completed {
        "✅ Plan completed"
    } else {
        "⚠️ Plan failed"
    };
    Notice {
        summary: summary.into(),
        body,
    }
}

/// The notice for a plan run the daemon ran, from the last line it printed.
pub fn from_plan_run(success: bool, detail: &str) -> Notice {
    let detail = detail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    plan_run(success, detail.to_string())
}

fn num(v: &Value) -> String {
    v.as_f64()
        .map(crate::model::fmt_num)
        .unwrap_or_else(|| "?".into())
}

/// Show `notice` on the desktop; the error says why it could not be shown.
pub fn show(notice: &Notice) -> Result<(), String> {
    notify_rust::Notification::new()
        .appname("git-okr")
        .summary(&notice.summary)
        .body(&notice.body)
        .show()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_output_gives_achieved_and_in_progress() {
        let out = r#"{"committed": true, "status_changes": [
            {"kr_id": "KR-1.1", "from": "not_started", "to": "achieved", "current": 102, "target": 100},
            {"kr_id": "KR-1.2", "from": "not_started", "to": "in_progress", "current": 5.5, "target": 10},
            {"kr_id": "KR-1.3", "from": "in_progress", "to": "at_risk", "current": 1, "target": 10}]}"#;
        let n = from_measure(out);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].summary, "🎉 KR achieved: KR-1.1");
        assert_eq!(n[0].body, "KR-1.1 102/100");
        assert_eq!(n[1].summary, "🚀 KR in progress: KR-1.2");
        assert!(from_measure("not json").is_empty());
    }
}
