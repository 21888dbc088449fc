//! Prometheus's HTTP API (`/api/v1/query`, `/api/v1/label/__name__/values`): a small blocking
//! client with timeouts and a cap on what it reads, and a parser that turns any answer — an
//! error document, HTML from a proxy, NaN samples, a body cut short — into a result or a
//! [`FleetError`], never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::error::FleetError;

/// The most of a response body read (8 MiB): a darklaunch verdict needs a few series; an
/// answer larger than this is refused rather than held.
pub const MAX_BODY: u64 = 8 * 1024 * 1024;

/// The tool's HTTP client (plain HTTP, no TLS): every request gives up after `timeout`, an
/// HTTP error status is an answer to look at rather than an error, and redirects are followed
/// only when `follow_redirects` (snapshot fetches do not follow them: a bearer token goes only
/// where it was meant to).
pub(crate) fn http_agent(timeout: Duration, follow_redirects: bool) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("darklaunch-fleet/", env!("CARGO_PKG_VERSION")));
    if !follow_redirects {
        config = config.max_redirects(0);
    }
    config.build().into()
}

/// One series of an instant vector: its labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` is absent after an aggregation).
    pub labels: BTreeMap<String, String>,
    /// Its value (may be NaN or infinite: Prometheus writes those as `"NaN"`, `"+Inf"`).
    pub value: f64,
}

impl Sample {
    /// The label `name`, or "" when the series has none (as PromQL treats a missing label).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// What the verdict needs of Prometheus; [`HttpPrometheus`] is the real one, tests may stand
/// in their own.
pub trait PrometheusApi {
    /// The server's address, for messages.
    fn url(&self) -> &str;
    /// Runs an instant query that must return a vector; returns its series and Prometheus's
    /// warnings.
    fn query(&self, promql: &str) -> Result<(Vec<Sample>, Vec<String>), FleetError>;
    /// Whether Prometheus has any series of `metric` stored, at any time.
    fn has_metric(&self, metric: &str) -> Result<bool, FleetError>;
}

/// A Prometheus server over plain HTTP (`http://`).
#[derive(Debug)]
pub struct HttpPrometheus {
    base: String,
    agent: ureq::Agent,
    max_body: u64,
}

impl HttpPrometheus {
    /// A client of the server at `url` (a base URL such as `http://127.0.0.1:9090`, or one
    /// with a path prefix such as `http://proxy/prometheus`), giving up on a request after
    /// `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, FleetError> {
        let base = url.trim_end_matches('/').to_owned();
        let Some(rest) = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
        else {
            return Err(FleetError::Usage(format!(
                "--prometheus {url:?}: give an http:// URL, e.g. http://127.0.0.1:9090"
            )));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(FleetError::Usage(format!(
                "--prometheus {url:?}: the URL has no host"
            )));
        }
        if base.starts_with("https://") {
            return Err(FleetError::Usage(format!(
                "--prometheus {url:?}: https is not supported yet; reach Prometheus over \
                 plain http (in the cluster, or through a port-forward)"
            )));
        }
        if url.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FleetError::Usage(format!(
                "--prometheus {url:?}: give the server's base URL, without a query, fragment or \
                 spaces"
            )));
        }
        let agent = http_agent(timeout, true);
        Ok(Self {
            base,
            agent,
            max_body: MAX_BODY,
        })
    }

    /// Reads at most `max_body` bytes of each response (default [`MAX_BODY`]).
    pub fn with_max_body(mut self, max_body: u64) -> Self {
        self.max_body = max_body;
        self
    }

    /// `GET base + path` with `params`: the status and the body, capped.
    fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<(u16, String), FleetError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        for (key, value) in params {
            request = request.query(*key, *value);
        }
        let mut response = request
            .call()
            .map_err(|error| self.transport(&url, error))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_body)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|error| match error {
                ureq::Error::BodyExceedsLimit(_) => FleetError::Prometheus {
                    request: url.clone(),
                    detail: format!("the answer is larger than {} bytes; refused", self.max_body),
                },
                ureq::Error::Timeout(_) => FleetError::Unreachable {
                    url: url.clone(),
                    detail: String::from("timed out reading the answer"),
                },
                other => FleetError::Prometheus {
                    request: url.clone(),
                    detail: format!("the answer could not be read: {other}"),
                },
            })?;
        Ok((status, body))
    }

    /// A transport failure: unreachable, unless the server answered something that is not
    /// HTTP.
    fn transport(&self, url: &str, error: ureq::Error) -> FleetError {
        match error {
            ureq::Error::Protocol(_) | ureq::Error::TooManyRedirects => FleetError::Prometheus {
                request: url.to_owned(),
                detail: format!("not a usable HTTP answer: {error}"),
            },
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                FleetError::Usage(format!("--prometheus {:?}: {error}", self.base))
            }
            ureq::Error::Timeout(_) => FleetError::Unreachable {
                url: url.to_owned(),
                detail: String::from("timed out (see --timeout)"),
            },
            ureq::Error::HostNotFound => FleetError::Unreachable {
                url: url.to_owned(),
                detail: String::from("unknown host"),
            },
            other => FleetError::Unreachable {
                url: url.to_owned(),
                detail: other.to_string(),
            },
        }
    }
}

impl PrometheusApi for HttpPrometheus {
    fn url(&self) -> &str {
        &self.base
    }

    fn query(&self, promql: &str) -> Result<(Vec<Sample>, Vec<String>), FleetError> {
        let (status, body) = self.get("/api/v1/query", &[("query", promql)])?;
        parse_vector(status, &body).map_err(|detail| FleetError::Prometheus {
            request: format!("query {promql}"),
            detail,
        })
    }

    fn has_metric(&self, metric: &str) -> Result<bool, FleetError> {
        let (status, body) = self.get("/api/v1/label/__name__/values", &[("match[]", metric)])?;
        parse_label_values(status, &body)
            .map(|names| names.iter().any(|name| name == metric))
            .map_err(|detail| FleetError::Prometheus {
                request: format!("the names of metric {metric}"),
                detail,
            })
    }
}

/// The envelope of every API answer.
#[derive(Deserialize)]
struct Envelope {
    status: Option<String>,
    #[serde(default)]
    data: serde_json::Value,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct VectorData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<VectorSample>,
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (serde_json::Value, String),
}

/// The most of a body quoted in a message.
const QUOTED: usize = 200;

/// `text` cut to [`QUOTED`] bytes on a character boundary, control characters escaped.
pub(crate) fn excerpt(text: &str) -> String {
    let mut end = text.len().min(QUOTED);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = text[..end]
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if end < text.len() {
        out.push('…');
    }
    out
}

/// Checks the envelope: `data` on success, else what went wrong.
fn envelope(status: u16, body: &str) -> Result<(serde_json::Value, Vec<String>), String> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|error| {
        let hint = if status == 404 {
            " (is --prometheus Prometheus's base URL?)"
        } else {
            ""
        };
        if body.trim().is_empty() {
            format!("HTTP {status} with an empty body, not a Prometheus API answer{hint}")
        } else {
            format!(
                "HTTP {status}, not a Prometheus API answer{hint} ({error}): {}",
                excerpt(body)
            )
        }
    })?;
    match envelope.status.as_deref() {
        Some("success") => {}
        Some("error") => {
            return Err(format!(
                "HTTP {status}, {}: {}",
                envelope.error_type.as_deref().unwrap_or("error"),
                excerpt(envelope.error.as_deref().unwrap_or("no message"))
            ))
        }
        other => {
            return Err(format!(
                "HTTP {status}, status {:?} is neither success nor error: {}",
                other.map(excerpt),
                excerpt(body)
            ))
        }
    }
    if !(200..300).contains(&status) {
        return Err(format!(
            "HTTP {status} with a success document: {}",
            excerpt(body)
        ));
    }
    let warnings = envelope
        .warnings
        .iter()
        .map(|w| excerpt(w.as_str().unwrap_or(&w.to_string())))
        .collect();
    Ok((envelope.data, warnings))
}

/// Parses a sample value as Prometheus writes it: a decimal, `NaN`, `+Inf` or `-Inf`.
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => {
            let value = text.parse::<f64>().ok()?;
            // Rust also reads "inf" and "nan" in other spellings; Prometheus never writes them.
            (text
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)))
            .then_some(value)
        }
    }
}

/// Parses the answer of an instant query (HTTP `status` and `body`) that must be a vector.
pub fn parse_vector(status: u16, body: &str) -> Result<(Vec<Sample>, Vec<String>), String> {
    let (data, warnings) = envelope(status, body)?;
    let data: VectorData = serde_json::from_value(data)
        .map_err(|error| format!("the result is not an instant vector: {error}"))?;
    if data.result_type != "vector" {
        return Err(format!(
            "the result is a {}, not a vector",
            excerpt(&data.result_type)
        ));
    }
    let samples = data
        .result
        .into_iter()
        .map(|sample| {
            let value = parse_value(&sample.value.1)
                .ok_or_else(|| format!("{:?} is not a sample value", excerpt(&sample.value.1)))?;
            Ok(Sample {
                labels: sample.metric,
                value,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((samples, warnings))
}

/// Parses the answer of `/api/v1/label/<name>/values`.
pub fn parse_label_values(status: u16, body: &str) -> Result<Vec<String>, String> {
    let (data, _) = envelope(status, body)?;
    serde_json::from_value(data).map_err(|error| format!("not a list of label values: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OK: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"candidate":"v2","outcome":"match"},"value":[1700000000.5,"140"]},
        {"metric":{"outcome":"shed"},"value":[1700000000.5,"1"]},
        {"metric":{"candidate":"v2","outcome":"mismatch"},"value":[1700000000.5,"NaN"]},
        {"metric":{"le":"+Inf"},"value":[1700000000,"+Inf"]}
    ]},"warnings":["partial data"]}"#;

    #[test]
    fn a_vector_parses_with_its_labels_values_and_warnings() {
        let (samples, warnings) = parse_vector(200, OK).unwrap();
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].label("candidate"), "v2");
        assert_eq!(samples[0].value, 140.0);
        assert_eq!(samples[1].label("candidate"), "");
        assert!(samples[2].value.is_nan());
        assert_eq!(samples[3].value, f64::INFINITY);
        assert_eq!(warnings, ["partial data"]);
        let (empty, _) = parse_vector(
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        )
        .unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn odd_answers_are_errors_that_say_what_came() {
        let cases = [
            (
                400,
                r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
                "bad_data: parse error at char 5",
            ),
            (
                503,
                "<html><body>Service Unavailable</body></html>",
                "not a Prometheus API answer",
            ),
            (200, "", "not a Prometheus API answer"),
            (
                200,
                r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}"#,
                "not an instant vector",
            ),
            (
                200,
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
                "a matrix, not a vector",
            ),
            (
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}"#,
                "is not a sample value",
            ),
            (
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"inf"]}]}}"#,
                "is not a sample value",
            ),
            (
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}"#,
                "not an instant vector",
            ),
            (200, r#"{"status":"pending"}"#, "neither success nor error"),
            (200, r#"[1,2,3]"#, "not a Prometheus API answer"),
            (
                500,
                r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
                "HTTP 500 with a success document",
            ),
        ];
        for (status, body, expected) in cases {
            let error = parse_vector(status, body).unwrap_err();
            assert!(error.contains(expected), "{body}: {error}");
        }
        assert_eq!(
            parse_label_values(200, r#"{"status":"success","data":["a","b"]}"#).unwrap(),
            ["a", "b"]
        );
        assert!(parse_label_values(200, r#"{"status":"success","data":{"x":1}}"#).is_err());
    }

    #[test]
    fn quoted_bodies_are_cut_and_escaped() {
        let body = format!("\u{1b}[31m{}", "é".repeat(1000));
        let error = parse_vector(502, &body).unwrap_err();
        assert!(error.len() < 400, "{error}");
        assert!(!error.contains('\u{1b}'), "{error}");
        assert!(error.ends_with('…'));
    }

    #[test]
    fn bad_urls_are_usage_errors() {
        for url in [
            "127.0.0.1:9090",
            "ftp://x",
            "http://",
            "http://x?y=1",
            "http://a b",
            "",
        ] {
            let error = HttpPrometheus::new(url, Duration::from_secs(1)).unwrap_err();
            assert!(matches!(error, FleetError::Usage(_)), "{url}: {error:?}");
        }
        let client = HttpPrometheus::new("http://127.0.0.1:9090/", Duration::from_secs(1)).unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:9090");
    }

    /// A one-shot server on 127.0.0.1 that reads a request and answers `reply` (raw bytes),
    /// or holds the connection open without answering when `reply` is `None`.
    fn serve_once(reply: Option<Vec<u8>>) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                match reply {
                    Some(reply) => {
                        let _ = stream.write_all(&reply);
                    }
                    None => std::thread::sleep(Duration::from_secs(3)),
                }
            }
        });
        format!("http://{addr}")
    }

    fn http(status: &str, body: &[u8]) -> Vec<u8> {
        let mut reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(body);
        reply
    }

    #[test]
    fn the_client_reads_answers_and_errors() {
        let ok = serve_once(Some(http("200 OK", OK.as_bytes())));
        let client = HttpPrometheus::new(&ok, Duration::from_secs(5)).unwrap();
        let (samples, warnings) = client.query("up").unwrap();
        assert_eq!((samples.len(), warnings.len()), (4, 1));

        let rejected = serve_once(Some(http(
            "400 Bad Request",
            br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error"}"#,
        )));
        let error = HttpPrometheus::new(&rejected, Duration::from_secs(5))
            .unwrap()
            .query("up{")
            .unwrap_err();
        assert!(matches!(error, FleetError::Prometheus { .. }), "{error:?}");
        assert!(
            error.to_string().contains("bad_data: 1:5: parse error"),
            "{error}"
        );

        // Bodies beyond the cap are refused, not held.
        let huge = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[]}},"pad":"{}"}}"#,
            "x".repeat(64 * 1024)
        );
        let big = serve_once(Some(http("200 OK", huge.as_bytes())));
        let error = HttpPrometheus::new(&big, Duration::from_secs(5))
            .unwrap()
            .with_max_body(16 * 1024)
            .query("up")
            .unwrap_err();
        assert!(
            error.to_string().contains("larger than 16384 bytes"),
            "{error}"
        );

        // Not HTTP at all.
        let garbage = serve_once(Some(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()));
        let error = HttpPrometheus::new(&garbage, Duration::from_secs(5))
            .unwrap()
            .query("up")
            .unwrap_err();
        assert_eq!(
            error.exit(),
            crate::exit::Exit::PrometheusError,
            "{error:?}"
        );

        // A server that never answers: a timeout, which is unreachable.
        let silent = serve_once(None);
        let error = HttpPrometheus::new(&silent, Duration::from_millis(300))
            .unwrap()
            .query("up")
            .unwrap_err();
        assert_eq!(error.exit(), crate::exit::Exit::Unreachable, "{error:?}");
        assert!(error.to_string().contains("timed out"), "{error}");

        // Nobody listening.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error =
            HttpPrometheus::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2))
                .unwrap()
                .has_metric("darklaunch_runs_total")
                .unwrap_err();
        assert_eq!(error.exit(), crate::exit::Exit::Unreachable, "{error:?}");

        let names = serve_once(Some(http(
            "200 OK",
            br#"{"status":"success","data":["darklaunch_runs_total"]}"#,
        )));
        assert!(HttpPrometheus::new(&names, Duration::from_secs(5))
            .unwrap()
            .has_metric("darklaunch_runs_total")
            .unwrap());
        let empty = serve_once(Some(http("404 Not Found", b"")));
        let error = HttpPrometheus::new(&empty, Duration::from_secs(5))
            .unwrap()
            .query("up")
            .unwrap_err();
        assert!(
            error.to_string().contains("HTTP 404 with an empty body"),
            "{error}"
        );
        assert!(error.to_string().contains("base URL"), "{error}");
    }

    /// Prometheus's JSON for `samples`.
    fn render(samples: &[(BTreeMap<String, String>, f64)]) -> String {
        let result: Vec<serde_json::Value> = samples
            .iter()
            .map(|(labels, value)| {
                let text = if value.is_nan() {
                    "NaN".to_string()
                } else if *value == f64::INFINITY {
                    "+Inf".to_string()
                } else if *value == f64::NEG_INFINITY {
                    "-Inf".to_string()
                } else {
                    format!("{value}")
                };
                serde_json::json!({"metric": labels, "value": [1_700_000_000.123, text]})
            })
            .collect();
        serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
            .to_string()
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            (0u64..1_000_000).prop_map(|v| v as f64),
        ]
    }

    proptest! {
        /// Whatever labels and values Prometheus sends, they come back as sent.
        #[test]
        fn vectors_round_trip(
            samples in proptest::collection::vec(
                (proptest::collection::btree_map("[a-z_]{1,8}", any::<String>(), 0..4), value()),
                0..8,
            ),
        ) {
            let (parsed, warnings) = parse_vector(200, &render(&samples)).unwrap();
            prop_assert!(warnings.is_empty());
            prop_assert_eq!(parsed.len(), samples.len());
            for (got, (labels, value)) in parsed.iter().zip(&samples) {
                prop_assert_eq!(&got.labels, labels);
                prop_assert!(got.value == *value || (got.value.is_nan() && value.is_nan()));
            }
        }

        /// Any body at all, any status: an answer or an error, never a panic.
        #[test]
        fn any_body_is_answered(status in any::<u16>(), body in any::<String>()) {
            let _ = parse_vector(status, &body);
            let _ = parse_label_values(status, &body);
        }

        /// Bodies that are almost right: a valid answer cut short, or with a byte changed.
        #[test]
        fn damaged_answers_never_panic(cut in 0usize..400, at in 0usize..400, byte in any::<u8>()) {
            let mut bytes = OK.as_bytes().to_vec();
            let at = at.min(bytes.len() - 1);
            bytes[at] = byte;
            let damaged = String::from_utf8_lossy(&bytes).into_owned();
            let _ = parse_vector(200, &damaged);
            let cut = cut.min(OK.len());
            let _ = parse_vector(200, &OK[..cut]);
        }
    }
}
