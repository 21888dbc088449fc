//! Shared by the end-to-end tests that use a real Prometheus server (`prometheus_e2e`,
//! `dashboard_e2e`): a service instance serving `/metrics` through `opentelemetry-prometheus`,
//! and a Prometheus server scraping such instances (optionally evaluating rule files), read
//! through its HTTP query API.

#![cfg(feature = "opentelemetry")]

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{self, Server};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prometheus::{Encoder, TextEncoder};
use serde_json::Value;

/// Where Debian's `prometheus` package puts the server.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// One series' labels.
pub type Labels = BTreeMap<String, String>;

/// One service instance: its own meter provider, registry and `/metrics` endpoint.
pub struct Instance {
    pub provider: SdkMeterProvider,
    pub server: Server,
}

impl Instance {
    pub fn start(runtime: &tokio::runtime::Runtime) -> Self {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .expect("prometheus exporter");
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let server = runtime
            .block_on(http::serve(move |method, target| {
                if method != "GET" || target.split('?').next() != Some("/metrics") {
                    return (404, "text/plain".into(), b"not found\n".to_vec());
                }
                let encoder = TextEncoder::new();
                let mut body = Vec::new();
                match encoder.encode(&registry.gather(), &mut body) {
                    Ok(()) => (200, encoder.format_type().to_string(), body),
                    Err(error) => (500, "text/plain".into(), error.to_string().into_bytes()),
                }
            }))
            .expect("metrics server");
        Self { provider, server }
    }
}

/// A Prometheus server and its temporary directory, killed and removed when dropped (also
/// when the test fails). Scrapes and evaluates rules every second.
pub struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

impl PrometheusServer {
    /// Scrapes `targets`; evaluates no rules.
    pub fn start(targets: &[SocketAddr]) -> Self {
        Self::start_with_rules(targets, &[])
    }

    /// Scrapes `targets` and evaluates the rule files `rules`.
    pub fn start_with_rules(targets: &[SocketAddr], rules: &[&Path]) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "darklaunch-prometheus-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(dir.join("data")).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let rule_files: Vec<String> = rules
            .iter()
            .map(|path| format!("'{}'", path.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: [{}]\n\
             scrape_configs:\n  - job_name: darklaunch\n    static_configs:\n      \
             - targets: [{}]\n",
            rule_files.join(", "),
            targets.join(", ")
        );
        fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = http::free_port().expect("a free port");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        Self { child, dir, addr }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    pub fn get(&self, target: &str) -> std::io::Result<http::Response> {
        http::get(self.addr, target, Duration::from_secs(5))
    }

    /// `GET target` as JSON, `data` of a `success` answer.
    pub fn api(&self, target: &str) -> Result<Value, String> {
        let response = self.get(target).map_err(|e| e.to_string())?;
        let json: Value = serde_json::from_str(&response.body)
            .map_err(|e| format!("{e}: {} {}", response.status, response.body))?;
        if json["status"] != "success" {
            return Err(response.body);
        }
        Ok(json["data"].clone())
    }

    pub fn wait_ready(&mut self, deadline: Instant) {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            if let Ok(response) = self.get("/-/ready") {
                if response.status == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready in time:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs an instant query; returns `data.result`.
    pub fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let data = self.api(&format!(
            "/api/v1/query?query={}",
            http::encode_component(promql)
        ))?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// Each series of an instant vector as (its labels, its value).
    pub fn vector(&self, promql: &str) -> Result<BTreeMap<Labels, f64>, String> {
        self.query(promql)?
            .into_iter()
            .map(|series| {
                let labels = series["metric"]
                    .as_object()
                    .ok_or("no labels")?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                // Prometheus writes values as strings: "0.25", "NaN", "+Inf".
                let value = series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .ok_or("no value")?;
                Ok((labels, value))
            })
            .collect()
    }

    /// Polls `promql` until it returns `expected` or the deadline passes.
    pub fn wait_for(&self, promql: &str, expected: &BTreeMap<Labels, f64>, deadline: Instant) {
        loop {
            let got = self.vector(promql);
            if got.as_ref() == Ok(expected) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{promql}\n  expected {expected:?}\n  got {got:?}\n{}",
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The scrape targets' state and the server's log, for a failure message.
    pub fn diagnostics(&self) -> String {
        let targets = self
            .get("/api/v1/targets")
            .map(|r| r.body)
            .unwrap_or_default();
        format!("targets: {targets}\nlog:\n{}", self.log())
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
