//! End to end with real services: Prometheus scraping `/metrics`, an OTLP receiver
//! (`otlp_sink.py` and, for both OTLP protocols, `otlp_receiver.py`, beside this file; both run in
//! a private network namespace, `namespace.rs`) and headless Chromium rendering the HTML report. Each
//! test prints `SKIPPED` when its service is missing, and fails instead when `CI` is set. One
//! test binary; the README's guarantee→test table names each file.

#[path = "../common/mod.rs"]
mod common;
mod http;
mod namespace;
mod prom;
/// The telemetry example's own code, run in process by `otlp_protocols_e2e`.
#[cfg(all(feature = "opentelemetry", feature = "serde"))]
#[allow(dead_code)]
#[path = "../../examples/telemetry.rs"]
mod telemetry_example;

mod dashboard_e2e;
mod otlp_e2e;
mod otlp_protocols_e2e;
mod prometheus_e2e;
mod report_browser;
