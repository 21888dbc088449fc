//! The insight served live (features `insight` and `tower`): the HTML report, the report as
//! JSON and a verdict document per candidate, from a tower [`Service`](tower::Service) the application mounts
//! on its own server.
//!
//! | path (under where it is mounted) | answer |
//! |---|---|
//! | `/` | the HTML report |
//! | `/report.json` | the [`Report`](crate::insight::Report), serialized |
//! | `/snapshot.json` | the insight's mergeable [`Snapshot`](crate::insight::Snapshot) ([`Snapshot::to_json`](crate::insight::Snapshot::to_json)): it carries the report's samples, so it is behind the same token |
//! | `/verdict/{candidate}` | the candidate's [`VerdictDocument`], always `200 OK` (for Argo Rollouts' web metric provider and dashboards) |
//! | `/gate/{candidate}` | the same document, with a status code that gates: `200` when *safe*, `412 Precondition Failed` when *not safe*, `425 Too Early` when *inconclusive* (a Flagger webhook passes on 2xx only) |
//!
//! An unknown candidate is `404` with a JSON error; a method other than GET or HEAD is `405`.
//! Every answer is `Cache-Control: no-store`.
//!
//! **Who may look.** The report shows production values (after `clean` and redaction); the
//! verdict documents only numbers and states. The service binds no socket: mount it on an
//! internal listener, or behind the application's authentication, and/or require a bearer
//! token ([`bearer_token`](ReportService::bearer_token), compared in constant time): without
//! the right `Authorization: Bearer …` every path answers `401`.
//!
//! ```
//! use darklaunch::insight::live::ReportService;
//! use darklaunch::insight::Insight;
//! use darklaunch::Experiment;
//! use http::Request;
//! use http_body_util::{BodyExt, Empty};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let insight: Insight<u64> = Insight::new();
//! let experiment: Experiment<u64> = Experiment::builder("checkout-v2")
//!     .publisher(insight.clone())
//!     .build()
//!     .unwrap();
//! experiment.run(|| 1, || 1);
//! // In axum: Router::new().nest_service("/darklaunch", service)
//! let service = ReportService::new(insight).bearer_token("s3cret");
//! let request = Request::get("/gate/candidate")
//!     .header("authorization", "Bearer s3cret")
//!     .body(Empty::<bytes::Bytes>::new())
//!     .unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 425); // one run: inconclusive
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(document["result"], "inconclusive");
//! # }
//! ```

mod document;

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use subtle::ConstantTimeEq;

use crate::insight::{Insight, ReleaseStatus};

pub use document::{LatencyDocument, RateDocument, VerdictDocument};

/// Serves an [`Insight`] live; see the [module docs](self). Cheap to clone.
pub struct ReportService<T, E = Infallible> {
    insight: Insight<T, E>,
    token: Option<Arc<[u8]>>,
}

impl<T, E> ReportService<T, E> {
    /// Serves `insight`, to anyone who can reach where it is mounted.
    pub fn new(insight: Insight<T, E>) -> Self {
        Self {
            insight,
            token: None,
        }
    }

    /// Requires `Authorization: Bearer <token>` on every request (compared in constant time).
    pub fn bearer_token(mut self, token: impl AsRef<[u8]>) -> Self {
        self.token = Some(Arc::from(token.as_ref()));
        self
    }

    fn authorized<B>(&self, request: &Request<B>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        else {
            return false;
        };
        bool::from(given.ct_eq(token))
    }

    fn answer<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if !self.authorized(request) {
            // No body: nothing about the experiment for whoever lacks the token.
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"darklaunch\""),
            );
            return response;
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = json(
                StatusCode::METHOD_NOT_ALLOWED,
                error("only GET and HEAD are served"),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let path = request.uri().path();
        let mut response = if path.ends_with("/report.json") {
            match serde_json::to_vec(&self.insight.report()) {
                Ok(body) => json(StatusCode::OK, body),
                Err(_) => json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error("the report could not be serialized"),
                ),
            }
        } else if path.ends_with("/snapshot.json") {
            match self.insight.snapshot().to_json() {
                Ok(body) => json(StatusCode::OK, body),
                Err(_) => json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error("the snapshot could not be serialized"),
                ),
            }
        } else if let Some(candidate) = segment_after(path, "/verdict/") {
            self.verdict(&candidate, false)
        } else if let Some(candidate) = segment_after(path, "/gate/") {
            self.verdict(&candidate, true)
        } else if path.is_empty() || path.ends_with('/') {
            let mut response =
                Response::new(Full::new(Bytes::from(self.insight.report().to_html())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        } else {
            json(
                StatusCode::NOT_FOUND,
                error(
                    "no such page: try /, /report.json, /snapshot.json, /verdict/{candidate} or /gate/{candidate}",
                ),
            )
        };
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if request.method() == Method::HEAD {
            *response.body_mut() = Full::new(Bytes::new());
        }
        response
    }

    fn verdict(&self, candidate: &str, gate: bool) -> Response<Full<Bytes>> {
        let report = self.insight.report();
        let Some(found) = report.candidates.iter().find(|c| c.name == candidate) else {
            return json(
                StatusCode::NOT_FOUND,
                error("no such candidate in this experiment"),
            );
        };
        let document = VerdictDocument::of(&report, found);
        let status = match (gate, document.result) {
            (false, _) | (true, ReleaseStatus::Safe) => StatusCode::OK,
            (true, ReleaseStatus::NotSafe) => StatusCode::PRECONDITION_FAILED,
            (true, ReleaseStatus::Inconclusive) => StatusCode::TOO_EARLY,
        };
        match serde_json::to_vec(&document) {
            Ok(body) => json(status, body),
            Err(_) => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                error("the verdict could not be serialized"),
            ),
        }
    }
}

/// The percent-decoded path segment after `marker`, if the path has one.
fn segment_after(path: &str, marker: &str) -> Option<String> {
    let (_, rest) = path.rsplit_once(marker)?;
    let segment = rest.trim_end_matches('/');
    (!segment.is_empty() && !segment.contains('/')).then(|| percent_decode(segment))
}

/// `%XX` escapes decoded (a candidate's name may hold any character); bad escapes kept as
/// they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[index], hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                index += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default()
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl<T, E> Clone for ReportService<T, E> {
    fn clone(&self) -> Self {
        Self {
            insight: self.insight.clone(),
            token: self.token.clone(),
        }
    }
}

impl<T, E> std::fmt::Debug for ReportService<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportService")
            .field("bearer_token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl<T, E, B> tower::Service<Request<B>> for ReportService<T, E> {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        std::future::ready(Ok(self.answer(&request)))
    }
}
