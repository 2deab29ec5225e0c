//! The report page: one self-contained XHTML-clean file (inline CSS and SVG, no
//! scripts, no network), every piece of text escaped.

use super::chart::{self, status_colour, ChartInput};
use super::{esc, KrHistory, Listed, Report};
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
    for scope in &r.scopes {
        for o in &scope.objectives {
            objective(&mut s, &scope.scope.to_string(), o, r);
        }
    }
    if r.scopes.iter().all(|sc| sc.objectives.is_empty()) {
        s.push_str(r#"<p class="none-yet">No objectives on refs/okr/state.</p>"#);
    }
    status_changes(&mut s, r);
    listing(
        &mut s,
        "Proposals",
        "proposals",
        &r.proposals,
        "No proposals.",
    );
    listing(&mut s, "Plan runs", "runs", &r.runs, "No plan runs.");
    let _ = writeln!(
        s,
        r#"<footer>Generated by git okr report at {}. Forecasts are least-squares trends of the latest measurements projected to each objective's due date: advice, not status.</footer></main></body></html>"#,
        esc(&r.generated_at)
    );
    s
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
        r#"<h1>OKR report</h1><p class="meta">refs/okr/state at <span class="id">{}</span> · {}</p><div class="scopes">"#,
        esc(tip),
        esc(&measured)
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
        kr(s, k, r.krs.get(&k.kr_id).unwrap_or(&empty));
    }
    s.push_str("</section>");
}

fn kr(s: &mut String, k: &KrScore, h: &KrHistory) {
    let current = k.current.map(fmt_num).unwrap_or_else(|| "-".into());
    let _ = write!(
        s,
        r#"<div class="kr" id="{id}" data-kr="{id}"><div class="facts"><div><span class="id">{id}</span>{}</div><p class="desc">{}</p><table><tr><th>current</th><td class="current">{}</td></tr><tr><th>target</th><td class="target">{}</td></tr><tr><th>baseline</th><td class="baseline">{}</td></tr><tr><th>score</th><td class="score-value">{:.2}<div class="bar"><span style="width:{:.0}%"></span></div></td></tr><tr><th>metric</th><td class="metric"><span class="id">{}</span></td></tr></table>"#,
        badge(k.status.as_str()),
        esc(&k.description),
        esc(&current),
        esc(&fmt_num(k.target)),
        esc(&fmt_num(k.baseline)),
        k.score,
        k.score * 100.0,
        esc(&k.metric_key),
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
                esc(&fmt_num((f.projected * 100.0).round() / 100.0)),
                f.due,
                esc(&fmt_num(f.target)),
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
    s.push_str(r#"<div class="legend"><i style="border-color:#2563eb"></i>value<i style="border-color:#15803d;border-top-style:dashed"></i>target<i style="border-color:#9ca3af;border-top-style:dashed"></i>baseline<i style="border-color:#dc2626;border-top-style:dotted"></i>trend to due date<b class="ring"></b>status change</div></div></div>"#);
}

fn signed(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r > 0.0 {
        format!("+{}", fmt_num(r))
    } else {
        fmt_num(r)
    }
}

fn status_changes(s: &mut String, r: &Report) {
    let mut rows: Vec<(chrono::NaiveDate, &str, &str, &str, f64)> = Vec::new();
    for (kr, h) in &r.krs {
        for p in &h.points {
            if let Some(from) = &p.changed_from {
                rows.push((p.date, kr, from, p.status.as_deref().unwrap_or(""), p.value));
            }
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    s.push_str(r#"<h3 id="status-changes">Status changes</h3>"#);
    if rows.is_empty() {
        s.push_str(r#"<p class="none-yet">No status changes between snapshots.</p>"#);
        return;
    }
    s.push_str(r#"<table class="list status-changes"><tr><th>date</th><th>KR</th><th>from</th><th>to</th><th>value</th></tr>"#);
    for (date, kr, from, to, value) in rows {
        let _ = write!(
            s,
            r#"<tr><td>{date}</td><td class="id">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(kr),
            badge(from),
            badge(to),
            esc(&fmt_num(value))
        );
    }
    s.push_str("</table>");
}

fn listing(s: &mut String, title: &str, id: &str, items: &[Listed], none: &str) {
    let _ = write!(s, r#"<h3 id="{id}">{}</h3>"#, esc(title));
    if items.is_empty() {
        let _ = write!(s, r#"<p class="none-yet">{}</p>"#, esc(none));
        return;
    }
    let _ = write!(
        s,
        r#"<table class="list {id}"><tr><th>id</th><th>status</th><th>reason</th><th>time</th><th>file</th></tr>"#
    );
    for it in items {
        let _ = write!(
            s,
            r#"<tr><td class="id">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="meta">{}</td></tr>"#,
            esc(&it.id),
            esc(&it.status),
            esc(&it.reason),
            esc(&it.time),
            esc(&it.path)
        );
    }
    s.push_str("</table>");
}
