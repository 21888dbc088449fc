//! The HTML report in a real browser: headless Chromium loads a report built from real runs,
//! the page's own check script records that both SVG charts have rendered series (seen in the
//! dumped DOM), and a screenshot shows the series colours.
//!
//! Needs `chromium` (or `chromium-browser`, or the path in `CHROMIUM`). Without it the test
//! prints that it skipped, unless `CI` is set: then it fails.
#![cfg(feature = "insight")]

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use darklaunch::diff::DiffOptions;
use darklaunch::insight::{Insight, InsightOptions, ReleaseStatus};
use darklaunch::Experiment;
use serde::Serialize;

/// The control's series colour in the charts (`#1c7ed6`).
const CONTROL_RGB: [u8; 3] = [0x1c, 0x7e, 0xd6];
/// The first candidate's series colour in the charts (`#e8590c`).
const CANDIDATE_RGB: [u8; 3] = [0xe8, 0x59, 0x0c];
/// The screenshot's size.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 2400;
/// The longest a browser invocation may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Line {
    sku: String,
    quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
struct Invoice {
    customer: u64,
    total_cents: u64,
    currency: &'static str,
    lines: Vec<Line>,
}

fn invoice(n: u64) -> Invoice {
    Invoice {
        customer: n % 50,
        total_cents: 1_000 + n * 7,
        currency: "EUR",
        lines: vec![
            Line {
                sku: format!("sku-{}", n % 13),
                quantity: (n % 4) as u32 + 1,
            },
            Line {
                sku: String::from("shipping"),
                quantity: 1,
            },
        ],
    }
}

/// The rewrite: off by one cent on one input in 25, and a lower-case currency on one in 97;
/// a little slower than the control throughout.
fn invoice_v2(n: u64) -> Invoice {
    let mut spin = 0u64;
    for i in 0..3_000u64 {
        spin = std::hint::black_box(spin.wrapping_add(i));
    }
    std::hint::black_box(spin);
    let mut invoice = invoice(n);
    if n % 25 == 3 {
        invoice.total_cents += 1;
    }
    if n % 97 == 5 {
        invoice.currency = "eur";
    }
    invoice
}

/// A report of 3,000 runs spread over a few dozen milliseconds.
fn report_with_data() -> darklaunch::insight::Report {
    let mut options = InsightOptions::default();
    options.timeline_interval = Duration::from_millis(2);
    let insight = Insight::with_options(options);
    let experiment: Experiment<Invoice> = Experiment::builder("invoice-v2")
        .diff(DiffOptions::new())
        .publisher(insight.clone())
        .build()
        .expect("a valid experiment");
    for n in 0..3_000u64 {
        experiment
            .trial()
            .context("customer", n % 50)
            .context("region", if n % 2 == 0 { "eu-west" } else { "eu-north" })
            .control(|| invoice(n))
            .candidate("v2", || invoice_v2(n))
            .run();
        if n % 100 == 99 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let report = insight.report();
    assert_eq!(report.candidates.len(), 1);
    assert_eq!(report.candidates[0].verdict.status, ReleaseStatus::NotSafe);
    assert!(report.candidates[0].groups.len() >= 2);
    report
}

/// `CHROMIUM`, else `chromium` or `chromium-browser` on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM").filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        ["chromium", "chromium-browser"]
            .iter()
            .map(|name| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// A fresh directory under the system temp dir.
fn fresh_dir(label: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("darklaunch-{label}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// What one browser run printed.
struct BrowserRun {
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs Chromium headless with the common flags plus `extra`, killing it after
/// `BROWSER_TIMEOUT`. Panics (with its stderr) if it fails or hangs.
fn run_chromium(chromium: &Path, profile: &Path, extra: &[String]) -> BrowserRun {
    let started = Instant::now();
    let mut child = Command::new(chromium)
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
            &format!("--window-size={WIDTH},{HEIGHT}"),
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("could not start {}: {error}", chromium.display()));
    // Drain both pipes on threads so a large DOM cannot fill a pipe and stall the browser;
    // read them with a deadline, since a killed browser's helpers may keep a pipe open.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < BROWSER_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(error) => panic!("waiting for chromium: {error}"),
        }
    };
    let stdout = stdout
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    let stderr = stderr
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    let elapsed = started.elapsed();
    match status {
        None => panic!(
            "chromium {extra:?} did not finish within {BROWSER_TIMEOUT:?} and was killed\n--- stderr ---\n{stderr}"
        ),
        Some(status) if !status.success() => panic!(
            "chromium {extra:?} failed with {status}\n--- stderr ---\n{stderr}\n--- stdout (first 2000 bytes) ---\n{}",
            stdout.chars().take(2000).collect::<String>()
        ),
        Some(_) => BrowserRun {
            stdout,
            stderr,
            elapsed,
        },
    }
}

/// Reads `pipe` to its end on a thread; the text arrives on the returned channel.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    receiver
}

/// The decimal number right after `marker` in `text`.
fn number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The contents of the `#render-check` element the page's script adds.
fn render_check(dom: &str) -> Option<&str> {
    let start = dom.find("id=\"render-check\"")?;
    let rest = &dom[start..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find("</div>")?;
    Some(&rest[open..open + close])
}

/// An 8-bit RGB(A) screenshot: width, height and RGB triples.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|error| panic!("no screenshot at {}: {error}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|error| panic!("{} is not a PNG: {error}", path.display()));
    let size = reader
        .output_buffer_size()
        .expect("a screenshot small enough to decode");
    let mut buffer = vec![0; size];
    let info = reader
        .next_frame(&mut buffer)
        .unwrap_or_else(|error| panic!("{} does not decode: {error}", path.display()));
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let pixels = buffer[..info.buffer_size()]
        .chunks_exact(info.line_size)
        .flat_map(|row| {
            row.chunks_exact(channels)
                .take(info.width as usize)
                .map(|pixel| [pixel[0], pixel[1], pixel[2]])
        })
        .collect();
    (info.width, info.height, pixels)
}

/// Pixels within `tolerance` of `colour` on every channel.
fn count_close(pixels: &[[u8; 3]], colour: [u8; 3], tolerance: u8) -> usize {
    pixels
        .iter()
        .filter(|pixel| {
            pixel
                .iter()
                .zip(colour)
                .all(|(&channel, target)| channel.abs_diff(target) <= tolerance)
        })
        .count()
}

#[test]
fn the_html_report_renders_its_charts_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        common::skip_or_fail(
            "report_browser",
            "chromium is missing (apt-get install chromium, or set CHROMIUM=/path/to/chromium); \
             the HTML report was not checked in a browser",
        );
        return;
    };

    let started = Instant::now();
    let report = report_with_data();
    let candidate = &report.candidates[0];
    let dir = fresh_dir("report-browser");
    let html_path = dir.join("report.html");
    report.write_html(&html_path).expect("write the report");
    let html_path = html_path
        .canonicalize()
        .expect("an absolute path to the report");
    let page = std::fs::read_to_string(&html_path).expect("read the report back");
    // Absolute and protocol-relative URLs (`//host/x` in src, href, url(..) or an import).
    let refers_to_network = [
        "http://",
        "https://",
        "src=\"//",
        "href=\"//",
        "src='//",
        "href='//",
        "url(//",
        "url(\"//",
        "url('//",
        "@import \"//",
        "@import '//",
    ]
    .iter()
    .any(|needle| page.contains(needle));
    assert!(!refers_to_network, "the page refers to the network");
    let url = format!("file://{}", html_path.display());
    let png_path = dir.join("report.png");
    eprintln!("report: {}", html_path.display());

    // (a) A screenshot of the first 1280×2400 pixels.
    let shot = run_chromium(
        &chromium,
        &dir.join("profile-screenshot"),
        &[format!("--screenshot={}", png_path.display()), url.clone()],
    );
    eprintln!(
        "screenshot: {} ({} ms)",
        png_path.display(),
        shot.elapsed.as_millis()
    );

    // (b) The DOM after load, with the page's check script's findings.
    let dump = run_chromium(
        &chromium,
        &dir.join("profile-dom"),
        &[
            String::from("--virtual-time-budget=5000"),
            String::from("--dump-dom"),
            url,
        ],
    );
    let dom = &dump.stdout;
    let context = || {
        format!(
            "--- render check ---\n{:?}\n--- chromium stderr ---\n{}",
            render_check(dom),
            dump.stderr
        )
    };
    assert!(
        dom.contains("<svg class=\"chart\""),
        "no chart in the dumped DOM ({} bytes)\n{}",
        dom.len(),
        context()
    );
    assert_eq!(
        number_after(dom, "data-charts-rendered=\""),
        Some(2),
        "the page's script did not record two rendered charts\n{}",
        context()
    );
    let check = render_check(dom).unwrap_or_else(|| panic!("no #render-check\n{}", context()));
    let latency_series = number_after(check, "latency=");
    let rate_series = number_after(check, "mismatch-rate=");
    assert_eq!(
        latency_series,
        Some(2),
        "latency chart: control and v2 should both render ({check})\n{}",
        context()
    );
    assert!(
        rate_series >= Some(1),
        "mismatch-rate chart: v2 should render ({check})\n{}",
        context()
    );
    assert!(dom.contains("data-series=\"control\""));
    assert!(dom.contains("data-series=\"v2\""));
    // The verdict and the defects' paths.
    assert!(
        dom.contains("v2 is not safe to release"),
        "no verdict in the DOM; the report says: {}",
        candidate.verdict.summary
    );
    assert!(dom.contains("status-not_safe"));
    assert!(dom.contains("<code>$.total_cents</code>"));
    assert!(dom.contains("<code>$.currency</code>"));
    assert!(dom.contains("region=eu-"));

    // The screenshot: a PNG of the requested width showing both series colours.
    let (width, height, pixels) = decode_png(&png_path);
    assert_eq!(width, WIDTH, "screenshot width");
    assert!(height > 0 && pixels.len() == (width * height) as usize);
    let first = pixels[0];
    assert!(
        pixels.iter().any(|pixel| *pixel != first),
        "the screenshot is one colour"
    );
    let control_pixels = count_close(&pixels, CONTROL_RGB, 8);
    let candidate_pixels = count_close(&pixels, CANDIDATE_RGB, 8);
    eprintln!(
        "screenshot {width}×{height}: {control_pixels} control-coloured and \
         {candidate_pixels} v2-coloured pixels; render check: {check}; total {} ms",
        started.elapsed().as_millis()
    );
    assert!(
        control_pixels >= 200,
        "only {control_pixels} pixels of the control colour in {}",
        png_path.display()
    );
    assert!(
        candidate_pixels >= 200,
        "only {candidate_pixels} pixels of the candidate colour in {}",
        png_path.display()
    );

    // The browser profiles are large and of no further use; the page and the PNG stay.
    let _ = std::fs::remove_dir_all(dir.join("profile-screenshot"));
    let _ = std::fs::remove_dir_all(dir.join("profile-dom"));
}

/// The same report served live (`insight::live::ReportService` mounted in axum on 127.0.0.1)
/// renders its charts in headless Chromium loaded over HTTP.
#[cfg(feature = "tower")]
#[test]
fn the_live_report_renders_in_headless_chromium_over_http() {
    let Some(chromium) = find_chromium() else {
        common::skip_or_fail(
            "report_browser (live)",
            "chromium is missing (apt-get install chromium, or set CHROMIUM=/path/to/chromium); \
             the live report was not checked in a browser",
        );
        return;
    };
    let insight: Insight<Invoice> = Insight::new();
    let experiment: Experiment<Invoice> = Experiment::builder("live-browser")
        .publisher(insight.clone())
        .build()
        .unwrap();
    for n in 0..400 {
        experiment
            .trial()
            .control(|| invoice(n))
            .candidate("v2", || invoice_v2(n))
            .run();
    }
    let service = darklaunch::insight::live::ReportService::new(insight);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((
            std::net::Ipv4Addr::LOCALHOST,
            0,
        )))
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().nest_service("/darklaunch", service);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = fresh_dir("live-report-browser");
    let dump = run_chromium(
        &chromium,
        &dir.join("profile-dom"),
        &[
            String::from("--virtual-time-budget=5000"),
            String::from("--dump-dom"),
            format!("http://{addr}/darklaunch/"),
        ],
    );
    let dom = &dump.stdout;
    assert!(
        dom.contains("live-browser") && dom.contains("<svg class=\"chart\""),
        "the live report did not load ({} bytes)\n{}",
        dom.len(),
        dump.stderr
    );
    assert_eq!(
        number_after(dom, "data-charts-rendered=\""),
        Some(2),
        "the live page's script did not record two rendered charts\n{}",
        dump.stderr
    );
}
