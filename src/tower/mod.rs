//! A tower middleware that dark-launches whole HTTP endpoints (feature `tower`).
//!
//! [`ShadowLayer`] wraps a **primary** service (today's endpoint) and takes a **candidate**
//! service (the rewrite, a new backend). The layer is invisible (guarantee 12): the primary
//! sees each request exactly as without the layer, and the client gets the primary's
//! response exactly as without it — headers at once, body bytes as they come, streams
//! included. For a request the experiment samples in:
//!
//! * **The request body is teed, not buffered.** The primary gets the original body; a copy
//!   of its data is taken on the side *as the primary reads it*, up to
//!   [`max_request_body`](ShadowLayer::max_request_body). Nothing is read ahead of the
//!   primary, so a primary that answers without reading the body answers at once, and
//!   `Expect: 100-continue` behaves as without the layer (hyper sends `100 Continue` only when
//!   the primary polls the body).
//! * **The response body is teed, not buffered.** The client gets the primary's response the
//!   moment the primary returns it, its body forwarded frame by frame (data, trailers, size
//!   hint and end of stream unchanged) while a copy is taken on the side, up to
//!   [`max_response_body`](ShadowLayer::max_response_body). The client never waits for the
//!   copy, the comparison or the candidate.
//! * **The candidate starts when both bodies have ended.** When the primary's response body
//!   has ended (and, for a request with a body, the primary has read that body to its end),
//!   a copy of the request goes to the candidate in the background (as
//!   [`Experiment::run_detached`](crate::Experiment::run_detached) does), and the two
//!   responses are compared as [`ShadowResponse`]s — status, a configurable set of headers
//!   (default `content-type`) and the body — with the experiment's comparator, ignore rules,
//!   diff options and publishers.
//!   Only then does the run take one of the experiment's `max_in_flight` slots, so requests
//!   whose bodies are still open hold none, and a flush never waits for them. A HEAD
//!   response, whose client gets no body, is compared on status and headers, at once.
//! * **What cannot be compared is counted, never delayed.** The run then ends as
//!   [`skipped`](crate::Stats::skipped) in the experiment's stats (never as `shed`, which
//!   means over `max_in_flight`), and [`ShadowStats`] counts why: a request body over the
//!   limit (`request_oversized`; when its length is known up front the request is not even
//!   offered to the sampler), not read to its end by the time the response has ended
//!   (`request_unread`) or not within [`max_request_wait`](ShadowLayer::max_request_wait)
//!   (`request_timeouts`); a response body over the limit (`response_oversized`), dropped by
//!   the client before its end (`response_unfinished`) or not ended within
//!   [`max_response_wait`](ShadowLayer::max_response_wait) (`response_timeouts`, say a long
//!   event stream; its copy is freed at the deadline); a primary error (`primary_errors`) or
//!   a body error (`body_errors`). A request cancelled before the primary answered ends its
//!   run as `dropped`.
//! * The primary's response, its errors and its panics reach the client unchanged; the
//!   candidate adds no latency beyond a spawn. The candidate's errors, panics and timeouts
//!   (`candidate_timeout`) are recorded and never reach the client.
//! * Only safe methods (GET, HEAD, OPTIONS) are shadowed by default. A shadowed POST runs the
//!   write twice — it can charge a card twice, send two emails, insert two rows — so
//!   [`ShadowLayer::shadow_unsafe_methods`] is an explicit opt-in, meant for candidates that
//!   write nowhere (a dry-run mode, a separate database).
//! * Requests the experiment samples out are streamed to the primary untouched: nothing is
//!   copied or timed.
//! * [`ShadowLayer::key_header`] makes a header (a user id) the sampling key, so that a keyed
//!   sampler gives one user the same decision on every request and every instance; every
//!   sampler of the experiment applies.
//! * **Shadow traffic says what it is.** The candidate's copy carries a marker header
//!   ([`DEFAULT_SHADOW_MARKER`], `x-darklaunch-shadow: 1`;
//!   [`ShadowLayer::shadow_marker`], [`ShadowLayer::without_shadow_marker`]) that services
//!   behind the candidate can refuse with [`RefuseShadow`] or tag with [`is_shadow`], and
//!   the request's W3C trace context: a `traceparent` header makes the run's span, and the
//!   candidate service's own spans, children of the request's span in the same trace (see
//!   [`ShadowLayer`'s trace context](ShadowLayer#trace-context)). The primary receives
//!   neither change.
//! * The run's context has `method` and `route` (the request's path). The control's duration
//!   runs from the call of the primary to the end of its response body.
//! * Noise calibration: when the experiment
//!   [calibrates noise](crate::ExperimentBuilder::calibrate_noise), the calibrated share of
//!   shadowed GET, HEAD and OPTIONS requests is also sent a second time to the **primary**
//!   (a clone of it, in the background, after the client has its response), and the primary's
//!   two answers teach the experiment which response fields are nondeterministic — Diffy's
//!   primary/secondary pair, in process. Other methods are never sent to the primary twice.
//!
//! Compare bodies byte for byte (the default `PartialEq`) or as JSON with
//! [`ShadowResponse::json_compare`], whose ignore paths address the serialized response:
//! `$.status`, `$.headers.content-type`, `$.body.…`.
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use bytes::Bytes;
//! use darklaunch::diff::DiffOptions;
//! use darklaunch::publish::Recorder;
//! use darklaunch::tower::{ShadowBody, ShadowLayer, ShadowResponse};
//! use darklaunch::Experiment;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = DiffOptions::new().try_ignore_path("$.body.generated_at")?;
//! let recorder = Recorder::new();
//! let experiment = Experiment::builder("price-endpoint-v2")
//!     .compare(ShadowResponse::json_compare(options.clone()))
//!     .diff(options)
//!     .candidate_timeout(Duration::from_millis(200))
//!     .publisher(recorder.clone())
//!     .build()?;
//!
//! let primary = service_fn(|_req: Request<ShadowBody<Full<Bytes>>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
//!         r#"{"price":12,"generated_at":1}"#,
//!     ))))
//! });
//! let candidate = service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
//!         r#"{"price":13,"generated_at":2}"#,
//!     ))))
//! });
//! let layer = ShadowLayer::new(experiment.clone(), candidate);
//! let service = layer.layer(primary);
//!
//! let request = Request::get("/price/7").body(Full::new(Bytes::new()))?;
//! let response = service.oneshot(request).await?;
//! let body = response.into_body().collect().await?.to_bytes();
//! assert_eq!(&body[..], br#"{"price":12,"generated_at":1}"#); // always the primary's
//!
//! experiment.flush(Duration::from_secs(5)).await;
//! let result = &recorder.results()[0];
//! let diff = result.candidates()[0].diff().unwrap();
//! assert_eq!(diff.paths().collect::<Vec<_>>(), ["$.body.price"]);
//! assert_eq!(result.context().get("route").unwrap().to_string(), "/price/7");
//! assert_eq!(layer.stats().shadowed, 1);
//! # Ok(())
//! # }
//! ```

mod body;
mod comparison;
mod future;
mod guard;
mod layer;
mod propagation;
mod response;
mod service;
mod stats;
#[cfg(test)]
mod tests;

pub use body::ShadowBody;
pub use future::ShadowFuture;
pub use guard::{is_shadow, RefuseShadow, RefuseShadowFuture, RefuseShadowService};
pub use layer::{
    ShadowExperiment, ShadowLayer, DEFAULT_MAX_REQUEST_BODY, DEFAULT_MAX_REQUEST_WAIT,
    DEFAULT_MAX_RESPONSE_BODY, DEFAULT_MAX_RESPONSE_WAIT,
};
pub use propagation::DEFAULT_SHADOW_MARKER;
pub use response::{ShadowError, ShadowResponse};
pub use service::ShadowService;
pub use stats::ShadowStats;
