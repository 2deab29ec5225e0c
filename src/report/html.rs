//! The report page: one self-contained XHTML-clean file (inline CSS and SVG, no
//! scripts, no network), every piece of text escaped.

use super::chart::{self, status_colour, ChartInput};
use super::{esc, KrFacts, KrHistory, Listed, Report, RunRow};
use crate::model::fmt_num;
use crate::score::{grade, Grade, KrScore, ObjectiveScore};
use std::fmt::Write;

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#111827;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1140px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:0}
h3{font-size:16px;margin:28px 0 10px}
.meta{color:#6b7280;margin:0}
.scopes{display:flex;gap:12px;margin:18px 0 8px;flex-wrap:wrap}
.scope{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:10px 16px;min-width:150px}
.scope .name{color:#6b7280;text-transform:uppercase;font-size:12px;letter-spacing:.05em}
.scope .big{font-size:24px;font-weight:650}
.objective{background:#fff;border:1px solid #e5e7eb;border-radius:12px;margin:18px 0;padding:18px 20px}
.objective header{display:flex;align-items:baseline;gap:12px;flex-wrap:wrap;border-bottom:1px solid #f0f1f3;padding-bottom:10px}
.objective header .meta{flex-basis:100%}
.id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-weight:600;color:#374151}
.score{margin-left:auto;font-weight:700;font-size:18px;padding:2px 10px;border-radius:8px}
.g-green{background:#dcfce7;color:#166534}.g-yellow{background:#fef9c3;color:#854d0e}.g-red{background:#fee2e2;color:#991b1b}
.bar{height:6px;background:#e5e7eb;border-radius:3px;overflow:hidden;margin-top:6px}
.bar span{display:block;height:100%;background:#2563eb}
.kr{display:flex;gap:20px;padding:16px 0;border-bottom:1px solid #f0f1f3;flex-wrap:wrap}
.kr:last-child{border-bottom:0}
.facts{flex:1 1 300px;min-width:280px}
.facts .desc{margin:2px 0 10px;color:#374151}
.facts table{border-collapse:collapse;width:100%}
.facts th{text-align:left;font-weight:500;color:#6b7280;padding:3px 10px 3px 0;width:90px}
.facts td{padding:3px 0;font-variant-numeric:tabular-nums}
.badge{display:inline-block;color:#fff;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;margin-left:6px}
.forecast{margin:10px 0 0;padding:7px 10px;border-radius:8px;font-size:13px}
.forecast.ok{background:#ecfdf5;color:#065f46}.forecast.miss{background:#fef2f2;color:#991b1b;font-weight:600}
.forecast.none{background:#f9fafb;color:#6b7280}
.chartbox{flex:0 1 660px}
svg.chart{display:block;max-width:100%;height:auto;font:11px system-ui,sans-serif}
svg .grid{stroke:#eef0f3;stroke-width:1}
svg .axisline{stroke:#d1d5db}
svg .axis{fill:#6b7280}
svg .baseline{stroke:#9ca3af;stroke-dasharray:4 4;stroke-width:1.2}
svg .target{stroke:#15803d;stroke-dasharray:6 4;stroke-width:1.5}
svg .baseline-label{fill:#6b7280}
svg .target-label{fill:#15803d;font-weight:600}
svg .value{fill:none;stroke:#2563eb;stroke-width:2;stroke-linejoin:round}
svg .latest{fill:#2563eb}
svg line.trend{stroke-dasharray:3 4;stroke-width:2}
svg line.trend.ok{stroke:#059669}svg line.trend.miss{stroke:#dc2626}
svg circle.trend.ok{fill:#059669}svg circle.trend.miss{fill:#dc2626}
svg text.trend.ok{fill:#059669;font-weight:600}svg text.trend.miss{fill:#dc2626;font-weight:600}
.score-chip{font-weight:700;padding:1px 7px;border-radius:6px}
svg .due{stroke:#c4b5fd;stroke-width:1}
svg .empty{fill:#9ca3af;font-size:13px}
.legend{color:#6b7280;font-size:12px;margin:4px 0 0 56px}
.legend b.ring{display:inline-block;width:10px;height:10px;border:2.5px solid #2563eb;border-radius:50%;vertical-align:middle;margin:0 4px 0 10px}
.legend i{display:inline-block;width:16px;height:0;border-top:2px solid;vertical-align:middle;margin:0 4px 0 10px}
table.list{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e5e7eb;border-radius:10px;overflow:hidden}
table.list th,table.list td{text-align:left;padding:7px 12px;border-bottom:1px solid #f0f1f3;vertical-align:top}
table.list th{background:#f9fafb;color:#6b7280;font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.none-yet{color:#6b7280;margin:0}
footer{color:#9ca3af;font-size:12px;margin-top:28px}
table.summary{font-size:13px}
table.summary td{padding:4px 10px;vertical-align:middle}
table.summary tr.obj td{background:#f9fafb;font-weight:600;padding-top:8px}
table.summary .desc{max-width:300px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;color:#374151}
table.summary .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.summary .bar{width:80px;display:inline-block;vertical-align:middle;margin:0 0 0 6px}
table.summary a{color:inherit;text-decoration:none}
.up-good,.down-good{color:#15803d;font-weight:600}.up-bad,.down-bad{color:#b91c1c;font-weight:600}.flat{color:#6b7280}
ul.changes{margin:0;padding-left:16px}
"#;

fn grade_class(score: f64) -> &'static str {
    match grade(score) {
        Grade::Green => "g-green",
        Grade::Yellow => "g-yellow",
        Grade::Red => "g-red",
    }
}

fn badge(status: &str) -> String {
    format!(
        r#"<span class="badge status" style="background:{}">{}</span>"#,
        status_colour(status),
        esc(status)
    )
}

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    s.push_str(r#"<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/><title>OKR report</title><style>"#);
    s.push_str(CSS);
    s.push_str("</style></head><body><main>");
    header(&mut s, r);
    summary(&mut s, r);
    for scope in &r.scopes {
        for o in &scope.objectives {
            objective(&mut s, &scope.scope.to_string(), o, r);
        }
    }
    if r.scopes.iter().all(|sc| sc.objectives.is_empty()) {
        s.push_str(r#"<p class="none-yet">No objectives on refs/okr/state.</p>"#);
    }
    grades(&mut s, r);
    checkins(&mut s, r);
    status_changes(&mut s, r);
    proposals(&mut s, &r.proposals);
    runs(&mut s, &r.runs);
    let _ = writeln!(
        s,
        r#"<footer>Generated by git okr report at {}. Forecasts are least-squares trends of the latest measurements projected to each objective's due date: advice, not status.</footer></main></body></html>"#,
        esc(&when(&r.generated_at))
    );
    s
}

/// An RFC 3339 time as a person reads it: `2026-01-18 14:25 UTC`; other text as it is.
pub fn when(text: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        Err(_) => text.to_string(),
    }
}

/// `290 ms`: a value with the KR's unit (`%` sticks to the number).
fn with_unit(value: f64, unit: Option<&str>) -> String {
    match unit {
        Some("%" | "percent") => format!("{}%", fmt_num(value)),
        Some(u) => format!("{} {u}", fmt_num(value)),
        None => fmt_num(value),
    }
}

/// The 7-day change with an arrow, classed good or bad by the KR's direction.
fn trend_cell(f: &KrFacts) -> String {
    let Some(change) = f.change_7d else {
        return r#"<span class="flat" title="no measurement 7 days older">–</span>"#.to_string();
    };
    let rounded = (change * 100.0).round() / 100.0;
    if rounded == 0.0 {
        return r#"<span class="flat">→ 0</span>"#.to_string();
    }
    let (arrow, dir) = if rounded > 0.0 {
        ("↑", "up")
    } else {
        ("↓", "down")
    };
    let good = (rounded > 0.0) == f.increasing;
    format!(
        r#"<span class="{dir}-{}" data-change-7d="{rounded}">{arrow} {}</span>"#,
        if good { "good" } else { "bad" },
        esc(&signed(rounded))
    )
}

/// Objective → KR rows with owner, status, score bar, confidence, 7-day trend and
/// last update: the page at a glance, still one screen-ish with 50 KRs.
fn summary(s: &mut String, r: &Report) {
    if r.scopes.iter().all(|sc| sc.objectives.is_empty()) {
        return;
    }
    s.push_str(r#"<h3 id="summary">Summary</h3><table class="list summary"><tr><th>key result</th><th>owner</th><th>status</th><th>score</th><th>confidence</th><th>7 days</th><th>updated</th></tr>"#);
    let none = KrFacts::default();
    for scope in &r.scopes {
        for o in &scope.objectives {
            let _ = write!(
                s,
                r##"<tr class="obj"><td colspan="3"><a href="#{id}"><span class="id">{id}</span> {}</a></td><td class="num"><span class="score-chip {}">{:.2}</span></td><td colspan="3" class="meta">{}</td></tr>"##,
                esc(&o.objective),
                grade_class(o.score),
                o.score,
                esc(&o
                    .due
                    .as_deref()
                    .map(|d| format!("due {d}"))
                    .unwrap_or_default()),
                id = esc(&o.objective_id),
            );
            for k in &o.key_results {
                let f = r.facts.get(&k.kr_id).unwrap_or(&none);
                let _ = write!(
                    s,
                    r##"<tr class="kr-row" data-summary-kr="{id}"><td><div class="desc"><a href="#{id}"><span class="id">{id}</span></a> {}</div></td><td>{}</td><td>{}</td><td class="num">{:.2}<span class="bar"><span style="width:{:.0}%"></span></span></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"##,
                    esc(&k.description),
                    esc(f.owner.as_deref().unwrap_or("-")),
                    badge(k.status.as_str()),
                    k.score,
                    k.score * 100.0,
                    confidence_cell(f),
                    trend_cell(f),
                    f.last_updated
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "never".into()),
                    id = esc(&k.kr_id),
                );
            }
        }
    }
    s.push_str("</table>");
}

fn header(s: &mut String, r: &Report) {
    let tip = r
        .tip
        .as_deref()
        .map(|t| &t[..t.len().min(7)])
        .unwrap_or("-");
    let measured = match r.snapshot_range {
        None => "no snapshots yet".to_string(),
        Some((a, b)) if a == b => format!("1 snapshot ({a})"),
        Some((a, b)) => format!("{} snapshots, {a} to {b}", r.snapshot_count),
    };
    let _ = write!(
        s,
        r#"<h1>OKR report</h1><p class="meta">refs/okr/state at <span class="id">{}</span> · {} · {}</p><div class="scopes">"#,
        esc(tip),
        esc(&measured),
        esc(&match &r.cycle {
            Some(c) => format!("cycle {} ({} to {})", c.id, c.start, c.end),
            None => "all cycles".to_string(),
        })
    );
    for scope in &r.scopes {
        let _ = write!(
            s,
            r#"<div class="scope"><div class="name">{} scope</div><div class="big">{:.2}</div><div class="bar"><span style="width:{:.0}%"></span></div></div>"#,
            esc(&scope.scope.to_string()),
            scope.score,
            scope.score * 100.0
        );
    }
    s.push_str("</div>");
}

fn objective(s: &mut String, scope: &str, o: &ObjectiveScore, r: &Report) {
    let due = o
        .due
        .as_deref()
        .map(|d| format!(" · due {d}"))
        .unwrap_or_else(|| " · no due date (no forecast)".into());
    let _ = write!(
        s,
        r#"<section class="objective" id="{id}"><header><span class="id">{id}</span><h2>{}</h2><span class="score {}" data-objective-score="{:.4}">{:.2}</span><p class="meta">{} · {}{}</p></header>"#,
        esc(&o.objective),
        grade_class(o.score),
        o.score,
        o.score,
        esc(scope),
        esc(&o.file),
        esc(&due),
        id = esc(&o.objective_id),
    );
    for k in &o.key_results {
        let empty = KrHistory::default();
        let none = KrFacts::default();
        kr(
            s,
            k,
            r.krs.get(&k.kr_id).unwrap_or(&empty),
            r.facts.get(&k.kr_id).unwrap_or(&none),
        );
    }
    s.push_str("</section>");
}

fn kr(s: &mut String, k: &KrScore, h: &KrHistory, f: &KrFacts) {
    let unit = f.unit.as_deref();
    let current = k
        .current
        .map(|v| with_unit(v, unit))
        .unwrap_or_else(|| "-".into());
    let _ = write!(
        s,
        r#"<div class="kr" id="{id}" data-kr="{id}"><div class="facts"><div><span class="id">{id}</span>{}</div><p class="desc">{}</p><table><tr><th>current</th><td class="current">{}</td></tr><tr><th>target</th><td class="target">{}</td></tr><tr><th>baseline</th><td class="baseline">{}</td></tr><tr><th>score</th><td class="score-value">{:.2}<div class="bar"><span style="width:{:.0}%"></span></div></td></tr><tr><th>metric</th><td class="metric"><span class="id">{}</span></td></tr><tr><th>owner</th><td class="owner">{}</td></tr><tr><th>confidence</th><td class="confidence">{}</td></tr><tr><th>updated</th><td class="updated">{}</td></tr><tr><th>7 days</th><td class="change">{}</td></tr></table>"#,
        badge(k.status.as_str()),
        esc(&k.description),
        esc(&current),
        esc(&with_unit(k.target, unit)),
        esc(&with_unit(k.baseline, unit)),
        k.score,
        k.score * 100.0,
        esc(&k.metric_key),
        esc(f.owner.as_deref().unwrap_or("-")),
        confidence_cell(f),
        f.last_updated
            .map(|d| d.to_string())
            .unwrap_or_else(|| "never measured".into()),
        trend_cell(f),
        id = esc(&k.kr_id),
    );
    match &h.forecast {
        Some(f) => {
            let _ = write!(
                s,
                r#"<p class="forecast {}" data-forecast="{}">{}: projected {} by {} (target {}); trend {}/day over the last {} measurements</p>"#,
                if f.likely_to_miss { "miss" } else { "ok" },
                if f.likely_to_miss {
                    "likely-to-miss"
                } else {
                    "on-track"
                },
                if f.likely_to_miss {
                    "Likely to miss"
                } else {
                    "On track"
                },
                esc(&with_unit((f.projected * 100.0).round() / 100.0, unit)),
                f.due,
                esc(&with_unit(f.target, unit)),
                esc(&signed(f.slope_per_day)),
                f.points
            );
        }
        None => {
            let why = if h.points.len() < 2 {
                "No forecast: fewer than two measurements."
            } else {
                "No forecast: no due date ahead."
            };
            let _ = write!(
                s,
                r#"<p class="forecast none" data-forecast="none">{why}</p>"#
            );
        }
    }
    s.push_str(r#"</div><div class="chartbox">"#);
    s.push_str(&chart::render(&ChartInput {
        kr_id: &k.kr_id,
        points: &h.points,
        baseline: k.baseline,
        target: k.target,
        forecast: h.forecast.as_ref(),
    }));
    // The legend draws each line in the colour the chart uses for it.
    let trend = match &h.forecast {
        Some(fc) if fc.likely_to_miss => {
            r#"<i style="border-color:#dc2626;border-top-style:dotted"></i>trend to due date"#
        }
        Some(_) => {
            r#"<i style="border-color:#059669;border-top-style:dotted"></i>trend to due date"#
        }
        None => "",
    };
    let _ = write!(
        s,
        r#"<div class="legend"><i style="border-color:#2563eb"></i>value<i style="border-color:#15803d;border-top-style:dashed"></i>target<i style="border-color:#9ca3af;border-top-style:dashed"></i>baseline{trend}<b class="ring"></b>status change</div></div></div>"#
    );
}

fn signed(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r > 0.0 {
        format!("+{}", fmt_num(r))
    } else {
        fmt_num(r)
    }
}

/// The confidence as a percentage, with the check-ins' trend (`60% (80% → 70% → 60%)`,
/// the last five).
fn confidence_cell(f: &KrFacts) -> String {
    let Some(c) = f.confidence else {
        return "-".into();
    };
    let pct = |c: f64| format!("{:.0}%", c * 100.0);
    if f.confidences.len() < 2 {
        return pct(c);
    }
    let recent: Vec<String> = f.confidences[f.confidences.len().saturating_sub(5)..]
        .iter()
        .map(|c| pct(*c))
        .collect();
    format!(
        r#"{} <span class="trend confidence-trend">({})</span>"#,
        pct(c),
        recent.join(" → ")
    )
}

/// A closed cycle's grades: each objective against what its kind expects, each KR.
fn grades(s: &mut String, r: &Report) {
    for g in &r.grades {
        let _ = write!(
            s,
            r#"<h3 id="grades-{id}">Grades of cycle {id}</h3><p class="meta">{} to {}, closed {} by {}; 0.0–1.0 on Google's scale: committed objectives are expected to reach 1.0, aspirational ones are on target at 0.7.</p><table class="list grades"><tr><th></th><th>type</th><th>grade</th><th>expected</th><th>value</th><th>target</th><th></th></tr>"#,
            esc(&g.start),
            esc(&g.end),
            esc(&when(&g.closed_at)),
            esc(&g.closed_by),
            id = esc(&g.cycle),
        );
        for o in &g.objectives {
            let _ = write!(
                s,
                r#"<tr class="obj" data-grade-objective="{id}"><td><span class="id">{id}</span> {}</td><td>{}</td><td class="num"><span class="score-chip {}">{:.2}</span></td><td class="num">{:.1}</td><td></td><td></td><td>{}</td></tr>"#,
                esc(&o.objective),
                o.commitment.as_str(),
                grade_class(o.grade),
                o.grade,
                o.expected,
                if o.on_target {
                    "on target"
                } else {
                    "below target"
                },
                id = esc(&o.objective_id),
            );
            for k in &o.key_results {
                let _ = write!(
                    s,
                    r#"<tr data-grade-kr="{id}"><td><span class="id">{id}</span> {}</td><td></td><td class="num">{:.2}</td><td></td><td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                    esc(&k.description),
                    k.grade,
                    esc(&k
                        .value
                        .map(crate::model::fmt_num)
                        .unwrap_or_else(|| "-".into())),
                    esc(&crate::model::fmt_num(k.target)),
                    badge(k.status.as_str()),
                    id = esc(&k.kr_id),
                );
            }
        }
        s.push_str("</table>");
    }
}

/// The owners' check-ins, newest first (the latest 50).
fn checkins(s: &mut String, r: &Report) {
    s.push_str(r#"<h3 id="checkins">Check-ins</h3>"#);
    if r.checkins.is_empty() {
        s.push_str(r#"<p class="none-yet">No check-ins yet: <code>git okr kr checkin KR --confidence 0.7 --note "…"</code>.</p>"#);
        return;
    }
    s.push_str(r#"<table class="list checkins"><tr><th>date</th><th>KR</th><th>confidence</th><th>value</th><th>status</th><th>note</th><th>by</th></tr>"#);
    for c in r.checkins.iter().take(50) {
        let _ = write!(
            s,
            r#"<tr data-checkin-kr="{id}"><td>{}</td><td class="id">{id}</td><td class="num">{:.0}%</td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&when(&c.at)),
            c.confidence * 100.0,
            esc(&c.value.map(crate::model::fmt_num).unwrap_or_default()),
            c.status.map(|st| badge(st.as_str())).unwrap_or_default(),
            esc(c.note.as_deref().unwrap_or("")),
            esc(&c.by),
            id = esc(&c.kr_id),
        );
    }
    s.push_str("</table>");
}

fn status_changes(s: &mut String, r: &Report) {
    s.push_str(r#"<h3 id="status-changes">Status changes</h3>"#);
    if r.status_changes.is_empty() {
        s.push_str(r#"<p class="none-yet">No status changes recorded.</p>"#);
        return;
    }
    s.push_str(r#"<table class="list status-changes"><tr><th>date</th><th>KR</th><th>from</th><th>to</th><th>value</th><th>by</th></tr>"#);
    for c in &r.status_changes {
        let date = chrono::DateTime::from_timestamp(c.time, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let unit = r.facts.get(&c.kr).and_then(|f| f.unit.as_deref());
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td class="id">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&date),
            esc(&c.kr),
            badge(&c.from),
            badge(&c.to),
            esc(&c.value.map(|v| with_unit(v, unit)).unwrap_or_default()),
            esc(&c.actor)
        );
    }
    s.push_str("</table>");
}

fn proposals(s: &mut String, items: &[Listed]) {
    s.push_str(r#"<h3 id="proposals">Proposals</h3>"#);
    if items.is_empty() {
        s.push_str(r#"<p class="none-yet">No proposals.</p>"#);
        return;
    }
    s.push_str(r#"<table class="list proposals"><tr><th>id</th><th>status</th><th>change</th><th>proposed by</th><th>why</th><th>last step</th></tr>"#);
    for it in items {
        let changes: String = it
            .changes
            .iter()
            .map(|c| format!("<li>{}</li>", esc(c)))
            .collect();
        let _ = write!(
            s,
            r#"<tr><td class="id">{}</td><td>{}</td><td><ul class="changes">{changes}</ul></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&it.id),
            esc(&it.status),
            esc(&it.who),
            esc(&it.reason),
            esc(&when(&it.time)),
        );
    }
    s.push_str("</table>");
}

fn runs(s: &mut String, items: &[RunRow]) {
    s.push_str(r#"<h3 id="runs">Plan runs</h3>"#);
    if items.is_empty() {
        s.push_str(r#"<p class="none-yet">No plan runs.</p>"#);
        return;
    }
    s.push_str(r#"<table class="list runs"><tr><th>run</th><th>plan</th><th>KRs</th><th>status</th><th>passed</th><th>failed</th><th>failure</th><th>started</th></tr>"#);
    for r in items {
        let _ = write!(
            s,
            r#"<tr><td class="id">{}</td><td class="id">{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&r.run_id),
            esc(&r.plan_id),
            esc(&r.key_results.join(", ")),
            esc(&r.status),
            r.passed,
            r.failed,
            esc(r.failure.as_deref().unwrap_or("")),
            esc(&when(&r.started_at)),
        );
    }
    s.push_str("</table>");
}
