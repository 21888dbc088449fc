//! What the candidate's copy of a request says about itself: the request's W3C trace context
//! (so the candidate's spans join the request's trace) and the shadow marker (so services
//! behind the candidate can refuse or tag shadow calls). The primary's request is never
//! touched.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::trace::TraceParent;

/// The header the shadow layer puts on the candidate's copy of each request, and its value:
/// `x-darklaunch-shadow: 1` (in the spirit of Envoy's `-shadow` host suffix). Services behind
/// the candidate (payments, analytics, e-mail) can refuse marked calls with
/// [`RefuseShadow`](super::RefuseShadow) or tag them with [`is_shadow`](super::is_shadow).
/// [`ShadowLayer::shadow_marker`](super::ShadowLayer::shadow_marker) sets another marker,
/// [`ShadowLayer::without_shadow_marker`](super::ShadowLayer::without_shadow_marker) none.
///
/// ```
/// use darklaunch::tower::DEFAULT_SHADOW_MARKER;
/// use http::header::{HeaderName, HeaderValue};
///
/// let (name, value) = DEFAULT_SHADOW_MARKER;
/// assert_eq!((name, value), ("x-darklaunch-shadow", "1"));
/// let name = HeaderName::from_static(name);
/// let value = HeaderValue::from_static(value);
/// # let _ = (name, value);
/// ```
pub const DEFAULT_SHADOW_MARKER: (&str, &str) = ("x-darklaunch-shadow", "1");

/// The W3C trace context headers.
pub(super) const TRACEPARENT: &str = "traceparent";
pub(super) const TRACESTATE: &str = "tracestate";

/// The longest `traceparent` header value read; a longer one is ignored unread. (Version `00`
/// is 55 bytes; later versions may append fields, within the recommendation's bounds.)
const MAX_TRACEPARENT_HEADER: usize = 512;

/// The default marker as header parts.
pub(super) fn default_marker() -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(DEFAULT_SHADOW_MARKER.0),
        HeaderValue::from_static(DEFAULT_SHADOW_MARKER.1),
    )
}

/// The parent a request's `traceparent` header names; `None` when there is none, when there
/// are several (the recommendation allows one), or when it is malformed or over
/// [`MAX_TRACEPARENT_HEADER`] bytes (then it is not even scanned). Never fails.
pub(super) fn request_parent(headers: &HeaderMap) -> Option<TraceParent> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let value = values.next()?;
    if values.next().is_some() || value.len() > MAX_TRACEPARENT_HEADER {
        return None;
    }
    value.to_str().ok()?.parse().ok()
}

/// Turns a copy of the request's headers into the candidate's:
///
/// * with a run `parent`, `traceparent` names it (one value, replacing the request's); the
///   request's `tracestate` is kept when the request's own `traceparent` is in the same trace,
///   and dropped otherwise (it describes another trace, or a context that could not be read);
/// * without one, `traceparent` and `tracestate` stay as the request had them;
/// * the `marker`, if any, is set (replacing any value the request had under that name).
pub(super) fn shadow_headers(
    headers: &mut HeaderMap,
    parent: Option<&TraceParent>,
    marker: Option<&(HeaderName, HeaderValue)>,
) {
    if let Some(parent) = parent {
        // The text of a trace parent is 55 characters of hex digits and dashes: always valid.
        if let Ok(value) = HeaderValue::try_from(parent.to_string()) {
            let same_trace = request_parent(headers)
                .is_some_and(|requested| requested.trace_id() == parent.trace_id());
            if !same_trace {
                headers.remove(TRACESTATE);
            }
            headers.insert(TRACEPARENT, value);
        }
    }
    if let Some((name, value)) = marker {
        headers.insert(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const OTHER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    #[test]
    fn a_well_formed_traceparent_is_read() {
        let parent = request_parent(&headers(&[("traceparent", PARENT.as_bytes())])).unwrap();
        assert_eq!(parent.to_string(), PARENT);
        assert!(parent.is_remote());
        // Surrounding spaces are allowed by the recommendation (and hyper trims them anyway).
        let spaced = format!(" {PARENT}\t");
        assert!(request_parent(&headers(&[("traceparent", spaced.as_bytes())])).is_some());
    }

    #[test]
    fn malformed_missing_repeated_or_huge_traceparents_are_ignored() {
        let huge = format!("{PARENT}-{}", "a".repeat(64 * 1024));
        let cases: Vec<HeaderMap> = vec![
            HeaderMap::new(),
            headers(&[("traceparent", b"")]),
            headers(&[("traceparent", b"not a trace context")]),
            headers(&[("traceparent", PARENT.to_uppercase().as_bytes())]),
            headers(&[("traceparent", &PARENT.as_bytes()[..54])]),
            headers(&[(
                "traceparent",
                b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            )]),
            headers(&[("traceparent", b"\xff\xfe\x80 obs-text")]),
            headers(&[("traceparent", huge.as_bytes())]),
            headers(&[
                ("traceparent", PARENT.as_bytes()),
                ("traceparent", OTHER.as_bytes()),
            ]),
            // Another header's value is not a trace context.
            headers(&[("x-traceparent", PARENT.as_bytes())]),
        ];
        for map in cases {
            assert_eq!(request_parent(&map), None, "{map:?}");
        }
    }

    #[test]
    fn the_runs_parent_replaces_the_traceparent_and_keeps_the_traces_state() {
        let parent: TraceParent = PARENT.parse().unwrap();
        let mut map = headers(&[
            ("traceparent", PARENT.as_bytes()),
            ("tracestate", b"congo=t61rcWkgMzE"),
            ("accept", b"application/json"),
        ]);
        shadow_headers(&mut map, Some(&parent), None);
        assert_eq!(map["traceparent"], PARENT);
        assert_eq!(map["tracestate"], "congo=t61rcWkgMzE");
        assert_eq!(map["accept"], "application/json");
        assert_eq!(map.len(), 3);

        // A closer parent in the same trace (a server span): its id, the same state.
        let closer = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01";
        let span: TraceParent = closer.parse().unwrap();
        let mut map = headers(&[
            ("traceparent", PARENT.as_bytes()),
            ("tracestate", b"congo=t61rcWkgMzE"),
        ]);
        shadow_headers(&mut map, Some(&span), None);
        assert_eq!(map["traceparent"], closer);
        assert_eq!(map["tracestate"], "congo=t61rcWkgMzE");
    }

    #[test]
    fn another_traces_state_is_dropped_with_its_traceparent() {
        let parent: TraceParent = PARENT.parse().unwrap();
        for request in [
            headers(&[("traceparent", OTHER.as_bytes()), ("tracestate", b"a=1")]),
            headers(&[("traceparent", b"garbage"), ("tracestate", b"a=1")]),
            headers(&[
                ("traceparent", PARENT.as_bytes()),
                ("traceparent", PARENT.as_bytes()),
                ("tracestate", b"a=1"),
            ]),
            headers(&[("tracestate", b"a=1")]),
        ] {
            let mut map = request.clone();
            shadow_headers(&mut map, Some(&parent), None);
            assert_eq!(
                map.get_all("traceparent").iter().collect::<Vec<_>>(),
                [PARENT],
                "{request:?}"
            );
            assert!(map.get("tracestate").is_none(), "{request:?}");
        }
    }

    #[test]
    fn without_a_parent_the_trace_context_is_forwarded_unchanged() {
        let request = headers(&[
            ("traceparent", b"garbage"),
            ("traceparent", OTHER.as_bytes()),
            ("tracestate", b"a=1"),
        ]);
        let mut map = request.clone();
        shadow_headers(&mut map, None, None);
        assert_eq!(map, request);
    }

    #[test]
    fn the_marker_is_set_replacing_the_requests_own() {
        let marker = default_marker();
        let mut map = HeaderMap::new();
        shadow_headers(&mut map, None, Some(&marker));
        assert_eq!(map["x-darklaunch-shadow"], "1");
        assert_eq!(map.len(), 1);

        let mut map = headers(&[
            ("x-darklaunch-shadow", b"0"),
            ("x-darklaunch-shadow", b"no"),
        ]);
        shadow_headers(&mut map, None, Some(&marker));
        assert_eq!(
            map.get_all("x-darklaunch-shadow")
                .iter()
                .collect::<Vec<_>>(),
            ["1"]
        );

        let custom = (
            HeaderName::from_static("x-traffic"),
            HeaderValue::from_static("shadow"),
        );
        let mut map = HeaderMap::new();
        shadow_headers(&mut map, None, Some(&custom));
        assert_eq!(map["x-traffic"], "shadow");
        assert!(map.get("x-darklaunch-shadow").is_none());
    }
}
