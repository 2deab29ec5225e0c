//! `git okr report --html`: the page's content, its well-formedness, 0/1/3000 snapshots,
//! the forecast lines of `git okr status`, and a render in headless Chromium.

mod common;

use common::TestRepo;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const OKRS: &str = common::fixtures::DUE_DATE_AND_MARKUP;

/// A snapshot file as `kr measure` writes it: (kr_id, metric_key, value, status).
fn snapshot_json(date: &str, krs: &[(&str, &str, f64, &str)]) -> String {
    let points: Vec<_> = krs
        .iter()
        .map(|(_, key, v, _)| {
            serde_json::json!({"key": key, "value": v, "unit": null,
                "timestamp": format!("{date}T12:00:00Z"), "source": "manual",
                "evidence": [], "dimensions": {}})
        })
        .collect();
    let key_results: Vec<_> = krs
        .iter()
        .map(|(id, key, v, st)| {
            serde_json::json!({"kr_id": id, "metric_key": key, "value": v, "status": st, "score": null})
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "schema_version": 1, "as_of": date, "measured_at": format!("{date}T12:00:00Z"),
        "points": points, "key_results": key_results}))
    .unwrap()
}

/// Commit `files` onto refs/okr/state with git plumbing (one commit, any number of files).
fn commit_files(repo: &TestRepo, files: &[(String, String)]) {
    let scratch = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, (_, content)) in files.iter().enumerate() {
        let p = scratch.path().join(format!("f{i}"));
        std::fs::write(&p, content).unwrap();
        paths.push(p.display().to_string());
    }
    let index = scratch.path().join("index");
    let git = |args: &[&str], stdin: Option<&str>| -> String {
        let mut cmd = Command::new("git");
        cmd.current_dir(repo.path())
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in repo.env() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let ids = git(
        &["hash-object", "-w", "--stdin-paths"],
        Some(&(paths.join("\n") + "\n")),
    );
    let info: String = ids
        .lines()
        .zip(files)
        .map(|(id, (path, _))| format!("100644 {id}\t{path}\n"))
        .collect();
    let old = repo.state_tip().expect("state initialized");
    git(&["read-tree", &old], None);
    git(&["update-index", "--add", "--index-info"], Some(&info));
    let tree = git(&["write-tree"], None).trim().to_string();
    let commit = git(
        &["commit-tree", &tree, "-p", &old, "-m", "test: snapshots"],
        None,
    )
    .trim()
    .to_string();
    git(&["update-ref", "refs/okr/state", &commit, &old], None);
}

fn day(start: &str, i: usize) -> String {
    (chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d").unwrap() + chrono::Days::new(i as u64))
        .format("%Y-%m-%d")
        .to_string()
}

fn setup(okrs: &str) -> TestRepo {
    TestRepo::with_state(&[("okrs/org.yml", okrs)])
}

/// 20 days from 2026-01-01: KR-1.1 rises 2/day from 10 (on track for 100 by 03-01),
/// KR-1.2 falls 1/day from 300 (241 by 03-01: likely to miss 200), KR-2.1 flat.
fn twenty_days(repo: &TestRepo) {
    let files: Vec<(String, String)> = (0..20)
        .map(|i| {
            let date = day("2026-01-01", i);
            let st = if i == 0 { "not_started" } else { "in_progress" };
            let json = snapshot_json(
                &date,
                &[
                    ("KR-1.1", "ci.test_count", 10.0 + 2.0 * i as f64, st),
                    ("KR-1.2", "manual.latency_ms", 300.0 - i as f64, st),
                    ("KR-2.1", "manual.docs_pages", 0.0, "not_started"),
                ],
            );
            (format!("metrics/snapshots/{date}.json"), json)
        })
        .collect();
    commit_files(repo, &files);
}

fn report(repo: &TestRepo) -> String {
    let out = repo.path().join("report.html");
    let stdout = repo.ok(&["report", "--html", out.to_str().unwrap()]);
    assert!(stdout.contains("Wrote report"), "{stdout}");
    std::fs::read_to_string(out).unwrap()
}

/// Parse the whole page as XML: every element closed and nested right. Returns the
/// number of <svg> elements and the `data-points` of each value polyline.
fn check_well_formed(html: &str) -> (usize, Vec<usize>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(html);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut svgs = 0;
    let mut polylines = Vec::new();
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed at byte {}: {e}", reader.buffer_position()))
        {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if name == "svg" {
                    svgs += 1;
                }
                stack.push(name);
            }
            Event::Empty(e) if e.name().as_ref() == b"polyline" => {
                let attr = e.try_get_attribute("data-points").unwrap().unwrap();
                let n: usize = std::str::from_utf8(&attr.value).unwrap().parse().unwrap();
                let pts = e.try_get_attribute("points").unwrap().unwrap();
                let pairs = std::str::from_utf8(&pts.value).unwrap().split(' ').count();
                assert_eq!(n, pairs, "data-points matches the drawn points");
                polylines.push(n);
            }
            Event::End(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()));
            }
            Event::Text(t) => {
                // Every entity must be one XML knows (no &nbsp; and the like).
                t.decode().unwrap();
                let raw = String::from_utf8(t.to_vec()).unwrap();
                quick_xml::escape::unescape(&raw).unwrap();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    (svgs, polylines)
}

/// The text of the element with `id`'s first `<td class="CLASS">`.
fn cell(html: &str, kr: &str, class: &str) -> String {
    let start = html
        .find(&format!(r#"data-kr="{kr}""#))
        .unwrap_or_else(|| panic!("{kr} missing"));
    let rest = &html[start..];
    let open = format!(r#"<td class="{class}">"#);
    let at = rest.find(&open).unwrap() + open.len();
    rest[at..at + rest[at..].find('<').unwrap()].to_string()
}

fn forecast_of(html: &str, kr: &str) -> String {
    let start = html.find(&format!(r#"data-kr="{kr}""#)).unwrap();
    let rest = &html[start..];
    let at = rest.find("data-forecast=\"").unwrap() + "data-forecast=\"".len();
    rest[at..at + rest[at..].find('"').unwrap()].to_string()
}

#[test]
fn report_shows_every_kr_with_values_scores_and_forecasts() {
    let repo = setup(OKRS);
    twenty_days(&repo);
    commit_files(
        &repo,
        &[
            (
                "proposals/P-20260105-ab12.yml".into(),
                "id: P-20260105-ab12\nproposer: agent:planner\nreason: raise the <bar>\nlifecycle:\n  - {status: proposed, by: agent:planner, at: '2026-01-05T10:00:00Z'}\n  - {status: approved, by: alice@example.com, at: '2026-01-06T10:00:00Z'}\n".into(),
            ),
            (
                "runs/R-20260107-1/result.json".into(),
                r#"{"run_id": "R-20260107-1", "status": "failed", "summary": "tests did not pass", "finished_at": "2026-01-07T11:00:00Z"}"#.into(),
            ),
        ],
    );
    let before = repo.state_tip();
    let html = report(&repo);
    assert_eq!(
        repo.state_tip(),
        before,
        "the report writes nothing to the ref"
    );

    let (svgs, polylines) = check_well_formed(&html);
    assert_eq!(svgs, 3, "one chart per KR");
    assert_eq!(polylines, vec![20, 20, 20]);
    for kr in ["KR-1.1", "KR-1.2", "KR-2.1"] {
        assert!(html.contains(&format!(r#"data-kr="{kr}""#)), "{kr}");
    }
    assert_eq!(cell(&html, "KR-1.1", "current"), "48");
    assert_eq!(cell(&html, "KR-1.1", "target"), "100");
    assert_eq!(cell(&html, "KR-1.2", "current"), "281");
    assert_eq!(cell(&html, "KR-1.2", "baseline"), "300");
    assert_eq!(cell(&html, "KR-2.1", "current"), "0");
    assert_eq!(cell(&html, "KR-1.1", "score-value"), "0.48");
    assert_eq!(cell(&html, "KR-1.2", "score-value"), "0.19");
    // Objective score: mean of 0.48 and 0.19.
    assert!(
        html.contains(r#"data-objective-score="0.3350""#),
        "objective score"
    );
    // Escaped text, not markup.
    assert!(html.contains("Faster &amp; better &lt;releases&gt;"));
    assert!(html.contains("raise the &lt;bar&gt;"));

    // 2/day from 48 on 01-20 for 40 days: 128 ≥ 100. Latency 281 − 40 = 241 > 200.
    assert_eq!(forecast_of(&html, "KR-1.1"), "on-track");
    assert_eq!(forecast_of(&html, "KR-1.2"), "likely-to-miss");
    assert!(html.contains("Likely to miss: projected 241 by 2026-03-01 (target 200)"));
    assert!(html.contains("On track: projected 128 by 2026-03-01 (target 100)"));
    assert_eq!(
        forecast_of(&html, "KR-2.1"),
        "none",
        "no due date, no forecast"
    );

    // Status changes marked on the line and listed.
    assert_eq!(html.matches(r#"<circle class="change""#).count(), 2);
    assert!(html.contains("2026-01-02: not_started -&gt; in_progress at 12"));
    assert!(html.contains(r#"<h3 id="status-changes">"#));
    // Proposals and runs, read generically.
    assert!(html.contains("P-20260105-ab12"));
    // The file claims `approved`, but no propose or approve commit made it: the report
    // shows what history says, never the file's own claim.
    assert!(html.contains("<td>not proposed</td>"));
    assert!(!html.contains("<td>approved</td>"));
    assert!(html.contains("R-20260107-1"));
    assert!(html.contains("<td>failed</td>"));
    assert!(html.contains("tests did not pass"));
    // Self-contained: no scripts, nothing fetched.
    assert!(!html.contains("<script"));
    assert!(
        !html.contains("http://")
            || html.matches("http://").count() == html.matches("xmlns=\"http://").count()
    );
    assert!(!html.contains("https://"));
}

#[test]
fn status_prints_the_forecast_advice_and_changes_nothing() {
    let repo = setup(OKRS);
    twenty_days(&repo);
    let before = repo.state_file("okrs/org.yml");
    let out = repo.ok(&["status"]);
    assert!(
        out.contains("KR-1.2 likely to miss: projected 241 by 2026-03-01 (target 200)"),
        "{out}"
    );
    assert!(!out.contains("KR-1.1 likely to miss"), "{out}");
    assert!(!out.contains("KR-2.1 likely"), "{out}");
    assert_eq!(repo.state_file("okrs/org.yml"), before, "advice only");
}

#[test]
fn a_falling_increasing_kr_and_a_rising_decreasing_kr_are_flagged() {
    let repo = setup(OKRS);
    // KR-1.1 already at 100 but falling; KR-1.2 at target 200 but rising: both miss.
    let files: Vec<(String, String)> = (0..5)
        .map(|i| {
            let date = day("2026-02-01", i);
            let json = snapshot_json(
                &date,
                &[
                    (
                        "KR-1.1",
                        "ci.test_count",
                        110.0 - 2.0 * i as f64,
                        "achieved",
                    ),
                    ("KR-1.2", "manual.latency_ms", 190.0 + i as f64, "achieved"),
                ],
            );
            (format!("metrics/snapshots/{date}.json"), json)
        })
        .collect();
    commit_files(&repo, &files);
    let html = report(&repo);
    check_well_formed(&html);
    assert_eq!(forecast_of(&html, "KR-1.1"), "likely-to-miss");
    assert_eq!(forecast_of(&html, "KR-1.2"), "likely-to-miss");
}

#[test]
fn no_snapshots_still_renders_every_kr() {
    let repo = setup(OKRS);
    let html = report(&repo);
    let (svgs, polylines) = check_well_formed(&html);
    assert_eq!(svgs, 3);
    assert!(polylines.is_empty());
    assert_eq!(html.matches("no measurements yet").count(), 3);
    assert!(html.contains("no snapshots yet"));
    assert!(html.contains("No proposals."));
    assert!(html.contains("No plan runs."));
    for kr in ["KR-1.1", "KR-1.2", "KR-2.1"] {
        assert_eq!(forecast_of(&html, kr), "none");
        assert_eq!(cell(&html, kr, "current"), "-");
    }
}

#[test]
fn one_measurement_draws_one_point_and_no_forecast() {
    let repo = setup(OKRS);
    repo.ok(&["metric", "set", "ci.test_count", "42"]);
    repo.ok(&["metric", "set", "manual.latency_ms", "250"]);
    repo.ok(&["kr", "measure"]);
    let html = report(&repo);
    let (svgs, polylines) = check_well_formed(&html);
    assert_eq!(svgs, 3);
    assert_eq!(polylines, vec![1, 1], "KR-2.1 has no value");
    assert_eq!(cell(&html, "KR-1.1", "current"), "42");
    assert_eq!(cell(&html, "KR-1.2", "current"), "250");
    assert!(html.contains("1 snapshot ("));
    assert_eq!(forecast_of(&html, "KR-1.1"), "none");
    assert!(html.contains("fewer than two measurements"));
}

#[test]
fn thousands_of_snapshots_are_downsampled() {
    let repo = setup(OKRS);
    let n = 3000;
    let files: Vec<(String, String)> = (0..n)
        .map(|i| {
            let date = day("2018-01-01", i);
            let st = if i < 2000 { "in_progress" } else { "achieved" };
            // A wave with one spike that downsampling must keep.
            let v = if i == 1234 {
                500.0
            } else {
                50.0 + (i % 30) as f64
            };
            let json = snapshot_json(&date, &[("KR-1.1", "ci.test_count", v, st)]);
            (format!("metrics/snapshots/{date}.json"), json)
        })
        .collect();
    commit_files(&repo, &files);
    let start = std::time::Instant::now();
    let html = report(&repo);
    let took = start.elapsed();
    let (_, polylines) = check_well_formed(&html);
    assert_eq!(polylines.len(), 1);
    assert!(
        polylines[0] > 100 && polylines[0] <= 310,
        "drawn points: {}",
        polylines[0]
    );
    assert!(html.contains("3000 snapshots, 2018-01-01 to"));
    assert!(
        html.contains("in_progress -&gt; achieved"),
        "the status change is kept"
    );
    // The spike survives downsampling: a drawn point sits where the value axis puts 500.
    let axis = value_axis(&html);
    let spike_y = y_of(&axis, 500.0);
    let points = polyline_points(&html);
    let top = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    assert!(
        (top - spike_y).abs() < 0.6,
        "the highest drawn point is at y={top}, 500 is at y={spike_y} (axis {axis:?})"
    );
    eprintln!("report over {n} snapshots: {took:?}, {} bytes", html.len());
}

/// The value axis labels of the (first) chart as (value, y of its grid line).
fn value_axis(html: &str) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for piece in html.split(r#"<text class="axis" "#).skip(1) {
        let Some((attrs, rest)) = piece.split_once('>') else {
            continue;
        };
        let text = rest.split('<').next().unwrap();
        // Date labels (the last one is end-anchored too) are not numbers.
        let (true, Ok(value)) = (attrs.contains(r#"text-anchor="end""#), text.parse::<f64>())
        else {
            continue;
        };
        let y: f64 = attr(attrs, "y").parse().unwrap();
        // The label is drawn 4px below its grid line.
        out.push((value, y - 4.0));
    }
    assert!(out.len() >= 2, "a value axis has at least two labels");
    out
}

fn attr<'a>(attrs: &'a str, name: &str) -> &'a str {
    // A space first, so `points` does not match inside `data-points`.
    let start = attrs.find(&format!(r#" {name}=""#)).unwrap() + name.len() + 3;
    let len = attrs[start..].find('"').unwrap();
    &attrs[start..start + len]
}

/// Where `value` lies on a linear axis given by its labels.
fn y_of(axis: &[(f64, f64)], value: f64) -> f64 {
    let (v0, y0) = axis[0];
    let (v1, y1) = axis[axis.len() - 1];
    y0 + (value - v0) / (v1 - v0) * (y1 - y0)
}

/// The points of the (first) value polyline.
fn polyline_points(html: &str) -> Vec<(f64, f64)> {
    let piece = html.split(r#"<polyline class="value" "#).nth(1).unwrap();
    attr(piece, "points")
        .split(' ')
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

// ---- headless Chromium ----

fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn screenshot(browser: &Path, html: &Path, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        png.is_file(),
        "no screenshot; exit {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (width, height, RGB pixels)
fn decode(png_path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::io::BufReader::new(std::fs::File::open(png_path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| match channels {
            1 | 2 => [c[0], c[0], c[0]],
            _ => [c[0], c[1], c[2]],
        })
        .collect();
    (info.width, info.height, pixels)
}

/// The init example plus a decreasing KR, with 20 days of snapshots and a due date.
fn example_repo() -> TestRepo {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    let org = repo.state_file("okrs/org.yml");
    let org = org.replacen(
        "    owner_id: team-backend\n    key_results:",
        "    owner_id: team-backend\n    due: 2026-03-31\n    key_results:",
        1,
    );
    let org = org.replace("status: not_started", "status: in_progress")
        + "      - kr_id: KR-1.2
        description: Bring p95 API latency down to 250 ms
        metric_key: manual.p95_latency_ms
        baseline: 420
        target: 250
        status: in_progress
        owner_id: team-backend
        confidence: 0.5
        evidence: []
";
    let mut files = vec![("okrs/org.yml".to_string(), org)];
    for i in 0..20 {
        let date = day("2026-02-01", i);
        let wobble = [0.0, 2.0, -1.0, 3.0, 1.0][i % 5];
        let tests = (3.0 * i as f64 + wobble).max(0.0);
        let latency = 420.0 - 2.2 * i as f64 + wobble * 2.0;
        let (s1, s2) = if i == 0 {
            ("not_started", "not_started")
        } else {
            ("in_progress", "in_progress")
        };
        files.push((
            format!("metrics/snapshots/{date}.json"),
            snapshot_json(
                &date,
                &[
                    ("KR-1.1", "ci.test_count", tests, s1),
                    ("KR-1.2", "manual.p95_latency_ms", latency, s2),
                ],
            ),
        ));
    }
    commit_files(&repo, &files);
    repo
}

#[test]
fn renders_in_headless_chromium_and_is_not_blank() {
    let browser = find_browser().expect(
        "no chromium/chrome found: install Debian's `chromium` (`.ci/run` does), or set CHROMIUM",
    );
    let repo = example_repo();
    let html_path = repo.path().join("report.html");
    repo.ok(&["report", "--html", html_path.to_str().unwrap()]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    check_well_formed(&html);
    assert!(html.contains("KR-1.2 ") || html.contains(r#"data-kr="KR-1.2""#));
    let png_path = repo.path().join("report.png");
    screenshot(&browser, &html_path, &png_path);
    let (w, h, pixels) = decode(&png_path);
    assert_eq!((w, h), (1200, 1600));
    let mut colours = std::collections::HashSet::new();
    for p in &pixels {
        colours.insert(*p);
    }
    let background = pixels[0];
    let different = pixels.iter().filter(|p| **p != background).count();
    // The value line's blue (#2563eb), allowing for anti-aliasing.
    let blue = pixels
        .iter()
        .filter(|p| p[0] < 70 && (80..130).contains(&p[1]) && p[2] > 200)
        .count();
    assert!(colours.len() > 50, "only {} colours", colours.len());
    assert!(
        different > pixels.len() / 5,
        "mostly background: {different} of {}",
        pixels.len()
    );
    assert!(blue > 200, "value lines not drawn: {blue} blue pixels");
    if let Some(dest) = std::env::var_os("OKR_DOCS_SCREENSHOT") {
        std::fs::copy(&png_path, dest).unwrap();
    }
}

#[test]
fn open_without_an_opener_says_so_and_a_bad_path_fails_clearly() {
    let repo = setup(OKRS);
    let out = repo.path().join("r.html");
    let empty = tempfile::tempdir().unwrap();
    let output = repo
        .okr()
        .env("PATH", empty.path())
        .args(["report", "--html", out.to_str().unwrap(), "--open"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Could not open it"), "{stdout}");
    assert!(out.is_file());
    let err = repo.fails(&["report", "--html", "/nonexistent-dir/r.html"]);
    assert!(err.contains("writing /nonexistent-dir/r.html"), "{err}");
}

// ---- as a team lead reads it ----

/// The worked example, measured for real: `kr measure` writes the status events.
fn measured_example() -> TestRepo {
    let repo = TestRepo::with_commit();
    repo.ok(&["init"]);
    repo.ok(&["metric", "set", "ci.test_count", "85"]);
    repo.ok(&["kr", "measure"]);
    repo
}

#[test]
fn the_first_measurements_status_change_is_listed_with_who_made_it() {
    let repo = measured_example();
    let html = report(&repo);
    let table = &html[html.find(r#"<h3 id="status-changes">"#).unwrap()..];
    let table = &table[..table.find("</table>").expect("a table of status changes")];
    assert!(table.contains(r#"<td class="id">KR-1.1</td>"#), "{table}");
    assert!(
        table.contains(">not_started</span>") && table.contains(">in_progress</span>"),
        "{table}"
    );
    assert!(table.contains("alice@example.com"), "{table}");
    assert!(
        table.contains(" UTC</td>"),
        "a date a person reads: {table}"
    );
    // ... and marked on the chart, though there is no earlier snapshot to compare with.
    assert_eq!(html.matches(r#"<circle class="change""#).count(), 1);
}

#[test]
fn summary_first_then_cards_with_owner_confidence_unit_and_trend() {
    let repo = setup(&OKRS.replace(
        "        target: 200\n        status: in_progress\n",
        "        target: 200\n        status: in_progress\n        owner_id: team-api\n        confidence: 0.6\n        unit: ms\n",
    ));
    twenty_days(&repo);
    let html = report(&repo);
    let summary = html.find(r#"<h3 id="summary">"#).expect("a summary");
    let first_card = html.find(r#"<section class="objective""#).unwrap();
    assert!(summary < first_card, "the summary comes first");
    assert_eq!(html.matches(r#"<tr class="kr-row""#).count(), 3);
    let row = &html[html.find(r#"data-summary-kr="KR-1.2""#).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<td>team-api</td>"), "{row}");
    assert!(row.contains(">60%<"), "{row}");
    assert!(row.contains("2026-01-20"), "last updated: {row}");
    // 281 on 01-20 against 288 on 01-13: -7 in 7 days, good for a decreasing KR.
    assert!(
        row.contains(r#"class="down-good" data-change-7d="-7""#),
        "{row}"
    );
    assert_eq!(cell(&html, "KR-1.2", "current"), "281 ms");
    assert_eq!(cell(&html, "KR-1.2", "target"), "200 ms");
    assert_eq!(cell(&html, "KR-1.2", "owner"), "team-api");
    assert_eq!(cell(&html, "KR-1.2", "confidence"), "60%");
    assert_eq!(cell(&html, "KR-1.2", "updated"), "2026-01-20");
    assert_eq!(cell(&html, "KR-1.1", "owner"), "-");
    let up = &html[html.find(r#"data-summary-kr="KR-1.1""#).unwrap()..];
    assert!(up[..up.find("</tr>").unwrap()].contains(r#"class="up-good" data-change-7d="14""#));
    // The legend's trend colour is the chart's: on track green, likely to miss red.
    let card = |kr: &str| {
        let at = html.find(&format!(r#"<div class="kr" id="{kr}""#)).unwrap();
        let rest = &html[at..];
        rest[..rest[1..]
            .find(r#"<div class="kr" "#)
            .map(|e| e + 1)
            .unwrap_or(rest.len())]
            .to_string()
    };
    assert!(card("KR-1.1").contains(r#"border-color:#059669;border-top-style:dotted"#));
    assert!(card("KR-1.2").contains(r#"border-color:#dc2626;border-top-style:dotted"#));
    assert!(
        !card("KR-2.1").contains("trend to due date"),
        "no forecast, no trend in the legend"
    );
    check_well_formed(&html);
}

#[test]
fn a_wild_forecast_is_clipped_and_labelled() {
    let repo = setup(OKRS);
    // Tests jump by 50 a day: the projection to the due date is far above the data.
    let files: Vec<(String, String)> = (0..5)
        .map(|i| {
            let date = day("2026-01-01", i);
            let json = snapshot_json(
                &date,
                &[("KR-1.1", "ci.test_count", 50.0 * i as f64, "in_progress")],
            );
            (format!("metrics/snapshots/{date}.json"), json)
        })
        .collect();
    commit_files(&repo, &files);
    let html = report(&repo);
    let chart = &html[html.find(r#"aria-label="KR-1.1 over time""#).unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert!(
        chart.contains(r#"<g clip-path="url(#plot-KR-1-1)">"#),
        "{chart}"
    );
    assert!(
        chart.contains(r#"data-clipped="true">↑ projected 2950"#),
        "{chart}"
    );
    // The axis is not stretched to 3000: its highest label stays near the data and target.
    let labels: Vec<f64> = chart
        .split(r#"text-anchor="end">"#)
        .skip(1)
        .filter_map(|t| t[..t.find('<').unwrap()].parse().ok())
        .collect();
    assert!(labels.iter().all(|v| *v <= 400.0), "{labels:?}");
}

#[test]
fn fifty_key_results_stay_readable() {
    let mut okrs = String::from("scope: org\nobjectives:\n");
    for o in 1..=10 {
        okrs.push_str(&format!(
            "  - objective_id: OBJ-{o}\n    objective: Objective {o}\n    key_results:\n"
        ));
        for k in 1..=5 {
            okrs.push_str(&format!(
                "      - kr_id: KR-{o}.{k}\n        description: A fairly long description of key result {o}.{k} that a person wrote\n        metric_key: manual.m{o}_{k}\n        baseline: 0\n        target: 10\n        owner_id: owner-{k}\n"
            ));
        }
    }
    let repo = setup(&okrs);
    let html = report(&repo);
    check_well_formed(&html);
    assert_eq!(html.matches(r#"<tr class="kr-row""#).count(), 50);
    assert_eq!(html.matches(r#"<tr class="obj""#).count(), 10);
    // One line per KR: the description is cut by CSS, not wrapped.
    assert!(html.contains("table.summary .desc{max-width:300px;white-space:nowrap"));
}

#[test]
fn proposals_show_the_change_and_the_proposer() {
    let repo = measured_example();
    repo.ok(&[
        "okr",
        "propose",
        "--set",
        "KR-1.1.target=120",
        "--reason",
        "more tests",
    ]);
    let html = report(&repo);
    let table = &html[html.find(r#"<table class="list proposals">"#).unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(
        table.contains("<li>set KR-1.1.target = 120</li>"),
        "{table}"
    );
    assert!(table.contains("<td>alice@example.com</td>"), "{table}");
    assert!(table.contains("<td>more tests</td>"), "{table}");
    assert!(table.contains(" UTC</td>"), "{table}");
}

#[test]
fn runs_show_plan_krs_counts_and_the_failure() {
    let repo = setup(OKRS);
    let run = serde_json::json!({
        "schema_version": 1, "run_id": "run-20260107-1", "plan_id": "plan-20260107-9",
        "plan_path": "plans/2026-01-07/plan-20260107-9.json", "adapter": "codex",
        "status": "failed", "started_at": "2026-01-07T10:00:00Z", "finished_at": "2026-01-07T11:00:00Z",
        "duration_ms": 1000, "parallel": 1, "timeout_secs": 1800, "base": null,
        "tasks": [
            {"task_id": "T1", "kr_id": "KR-1.1", "title": "write tests", "status": "passed", "duration_ms": 10, "agent": "codex"},
            {"task_id": "T2", "kr_id": "KR-1.2", "title": "cache", "status": "failed", "duration_ms": 10, "agent": "codex", "reason": "cargo test failed"}
        ]
    });
    commit_files(
        &repo,
        &[("runs/run-20260107-1/result.json".into(), run.to_string())],
    );
    let html = report(&repo);
    let table = &html[html.find(r#"<table class="list runs">"#).unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(
        table.contains(r#"<td class="id">plan-20260107-9</td>"#),
        "{table}"
    );
    assert!(table.contains("<td>KR-1.1, KR-1.2</td>"), "{table}");
    assert!(
        table.contains(r#"<td class="num">1</td><td class="num">1</td>"#),
        "{table}"
    );
    assert!(table.contains("T2: cargo test failed"), "{table}");
    assert!(table.contains("<td>2026-01-07 10:00 UTC</td>"), "{table}");
}
