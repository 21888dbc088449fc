//! What a shadow layer compares: a response's status, selected headers and body, and what a
//! candidate's failure is recorded as.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName};
use http::StatusCode;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::diff::DiffOptions;

/// What is compared of an HTTP response: the status, the selected headers and the body.
///
/// Serialized (for diffs and publishers) as `{"status": 200, "headers": {"content-type":
/// "…"}, "body": …}`, the body as parsed JSON when it is JSON, as text otherwise; so diff and
/// ignore paths read `$.status`, `$.headers.content-type`, `$.body.items[0].price`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowResponse {
    /// The status code.
    pub status: StatusCode,
    /// The compared headers only (see [`ShadowLayer::compare_headers`](super::ShadowLayer::compare_headers)).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl ShadowResponse {
    /// Captures a response's status, the headers named in `names`, and `body`.
    pub fn capture(
        status: StatusCode,
        headers: &HeaderMap,
        names: &[HeaderName],
        body: Bytes,
    ) -> Self {
        let mut selected = HeaderMap::new();
        for name in names {
            for value in headers.get_all(name) {
                selected.append(name.clone(), value.clone());
            }
        }
        Self {
            status,
            headers: selected,
            body,
        }
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether two responses are equal as JSON: statuses, compared headers and bodies (parsed
    /// as JSON where they are JSON, as text otherwise) have no difference outside `options`'
    /// ignore paths (and within its float tolerance). Paths address the serialized response:
    /// `$.body.timestamp`.
    pub fn json_equal(control: &Self, candidate: &Self, options: &DiffOptions) -> bool {
        if control == candidate {
            return true;
        }
        crate::diff::same(control, candidate, options)
    }

    /// A comparator for [`ExperimentBuilder::compare`](crate::ExperimentBuilder::compare) that
    /// applies [`json_equal`](Self::json_equal) with `options`. Give the same options to
    /// [`ExperimentBuilder::diff`](crate::ExperimentBuilder::diff) to see the differing paths.
    pub fn json_compare(
        options: DiffOptions,
    ) -> impl Fn(&Self, &Self) -> bool + Send + Sync + 'static {
        move |control, candidate| Self::json_equal(control, candidate, &options)
    }
}

impl Serialize for ShadowResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Headers<'a>(&'a HeaderMap);
        impl Serialize for Headers<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.keys_len()))?;
                for name in self.0.keys() {
                    let values: Vec<String> = self
                        .0
                        .get_all(name)
                        .iter()
                        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                        .collect();
                    map.serialize_entry(name.as_str(), &values.join(", "))?;
                }
                map.end()
            }
        }
        let mut state = serializer.serialize_struct("ShadowResponse", 3)?;
        state.serialize_field("status", &self.status.as_u16())?;
        state.serialize_field("headers", &Headers(&self.headers))?;
        match self.body_json() {
            Some(json) => state.serialize_field("body", &json)?,
            None => state.serialize_field("body", &String::from_utf8_lossy(&self.body))?,
        }
        state.end()
    }
}

/// Why the candidate gave no response to compare.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShadowError {
    /// `service` (the candidate service returned an error) or `body` (its response body
    /// failed or was over the response limit).
    pub kind: &'static str,
    /// The error's text.
    pub message: String,
}

impl fmt::Display for ShadowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ShadowError {}
