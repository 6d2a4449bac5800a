//! The report in a real browser: Debian's chromium, driven headless through chromedriver
//! (WebDriver), loads report.html from its folder as a person double-clicking it would
//! (file://). Every figure must render with a size, nothing may fail to load, the console must
//! stay free of errors, and a full-page screenshot is kept under the test's output folder.
//!
//! `DEPTHLAB_REPORT=DIR/report.html cargo test --test report_browser` checks and shoots that
//! report instead of a tiny suite's.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (.ci/run installs them); without them the
//! test says so and passes, except under CI, where it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    // It says when it listens.
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while out.read_line(&mut line).unwrap() > 0 && !line.contains("started successfully") {
        line.clear();
    }
    Driver { child, url: format!("http://127.0.0.1:{port}") }
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut resp = match body {
        Some(b) => agent.post(url).header("Content-Type", "application/json").send(b.to_string()),
        None if method == "DELETE" => agent.delete(url).call(),
        None => agent.get(url).call(),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let text = resp.body_mut().with_config().limit(200 << 20).read_to_string().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(v["value"]["error"].is_null(), "{method} {url}: {text:.2000}");
    v["value"].clone()
}

/// A tiny suite's report (two claims: tables, line plots, bands).
fn tiny_report(dir: &Path) -> PathBuf {
    let out = dir.join("suite");
    let o = Command::new(env!("CARGO_BIN_EXE_depthlab"))
        .args(["reproduce", "C4", "C5", "--scale", "tiny", "--out", out.to_str().unwrap()])
        .env("CI", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("report.html")
}

#[test]
fn the_report_renders_in_chromium_with_every_figure_and_no_errors() {
    if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must test the report in chromium: install chromium and chromium-driver"
        );
        eprintln!("skipped: {CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // DEPTHLAB_REPORT names a report to look at instead (a whole quick suite's, say).
    let report = std::env::var_os("DEPTHLAB_REPORT").map_or_else(|| tiny_report(tmp.path()), PathBuf::from);
    let html = std::fs::read_to_string(&report).unwrap();
    let figures_in_html = html.matches("<figure>").count();
    assert!(figures_in_html >= 4, "{figures_in_html} figures");

    let d = start_driver();
    let profile = tmp.path().join("profile");
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1200,900", format!("--user-data-dir={}", profile.display())]
        },
        "goog:loggingPrefs": {"browser": "ALL"}
    }}});
    let session = call("POST", &format!("{}/session", d.url), Some(caps));
    let s = format!("{}/session/{}", d.url, session["sessionId"].as_str().unwrap());
    let file_url = format!("file://{}", report.canonicalize().unwrap().display());
    call("POST", &format!("{s}/url"), Some(json!({"url": file_url})));

    // Each figure's drawing has a size on the page; no image is broken; every resource loaded.
    let check = r#"
        const figs = [...document.querySelectorAll('figure')];
        const sizes = figs.map(f => { const g = f.querySelector('svg'); if (!g) return [0, 0];
            const r = g.getBoundingClientRect(); return [r.width, r.height, g.querySelectorAll('path,line,polyline,rect,circle,text').length]; });
        const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
        const failed = performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name);
        return {figures: figs.length, sizes, broken, failed, title: document.title,
                badges: document.querySelectorAll('.badge').length, height: document.documentElement.scrollHeight};
    "#;
    let r = call("POST", &format!("{s}/execute/sync"), Some(json!({"script": check, "args": []})));
    assert_eq!(r["figures"].as_u64(), Some(figures_in_html as u64), "{r}");
    for (i, sz) in r["sizes"].as_array().unwrap().iter().enumerate() {
        let (w, h, marks) = (sz[0].as_f64().unwrap(), sz[1].as_f64().unwrap(), sz[2].as_u64().unwrap_or(0));
        assert!(w > 300.0 && h > 150.0 && marks > 10, "figure {i} did not render: {w} x {h}, {marks} marks");
    }
    assert!(r["broken"].as_array().unwrap().is_empty(), "broken images: {}", r["broken"]);
    assert!(r["failed"].as_array().unwrap().is_empty(), "resources that failed: {}", r["failed"]);
    assert!(r["title"].as_str().unwrap().contains("claims"), "{r}");
    assert!(r["badges"].as_u64().unwrap() >= 4, "{r}");

    let logs = call("POST", &format!("{s}/se/log"), Some(json!({"type": "browser"})));
    let errors: Vec<&Value> = logs.as_array().unwrap().iter().filter(|l| l["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // The whole page, for a person to look at.
    let height = r["height"].as_u64().unwrap().clamp(900, 16000);
    call("POST", &format!("{s}/window/rect"), Some(json!({"width": 1200, "height": height})));
    let png = call("GET", &format!("{s}/screenshot"), None);
    let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    std::fs::write(&shot, &bytes).unwrap();
    eprintln!("screenshot: {} ({} bytes)", shot.display(), bytes.len());
    call("DELETE", &s, None);
}
