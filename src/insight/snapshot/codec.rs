//! A snapshot as JSON: the wire structures, and histograms in HDR histogram's V2 deflate
//! serialization, base64-encoded. Histogram bytes are checked before HDR's decoder sees them:
//! the decompressed size, the header's range and precision, and each encoded count.

use std::io::{Cursor, Read};
use std::time::{Duration, SystemTime};

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::guard::{GuardEventKind, GuardReason};
use crate::insight::breakdown::{Breakdown, ValueState, DIGITS as BREAKDOWN_DIGITS};
use crate::insight::collector::InsightOptions;
use crate::insight::guard_marks::GuardMark;
use crate::insight::latency::{LatencyHistogram, HIGHEST_NANOS};
use crate::insight::paired::{PairedRatios, HIGHEST as HIGHEST_RATIO};
use crate::insight::report::{MismatchSample, ShapeEntry};
use crate::insight::snapshot::noise::NoiseCounts;
use crate::insight::snapshot::{
    CandidateSnapshot, GroupSnapshot, Limits, Snapshot, SnapshotError, SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
};

/// The first four bytes of HDR's V2 serialization, and of its deflated form.
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9304 | 0x10;
/// The V2 header: cookie, payload length, normalizing offset, digits, lowest, highest, ratio.
const V2_HEADER: usize = 40;

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    version: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    format: String,
    version: u32,
    experiment: String,
    started_at: SystemTime,
    generated_at: SystemTime,
    runs: u64,
    untracked_candidate_results: u64,
    limits: WireLimits,
    timeline_interval_nanos: u64,
    control_latency: WireLatency,
    candidates: Vec<WireCandidate>,
    noise: Option<WireNoise>,
    guard_events: Vec<WireGuardMark>,
    guard_events_dropped: u64,
    breakdown_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireLimits {
    max_candidates: usize,
    max_groups: usize,
    samples_per_group: usize,
    max_timeline_points: usize,
    breakdown_tracked: usize,
    max_value_chars: usize,
    significant_digits: u8,
}

#[derive(Serialize, Deserialize)]
struct WireLatency {
    max_nanos: u64,
    histogram: String,
}

#[derive(Serialize, Deserialize)]
struct WireCounts {
    matched: u64,
    mismatched: u64,
    ignored: u64,
    noise: u64,
    errors: u64,
    timeouts: u64,
}

#[derive(Serialize, Deserialize)]
pub(super) struct WireCandidate {
    name: String,
    runs: u64,
    counts: WireCounts,
    latency: WireLatency,
    paired_ratios: String,
    breakdown: Option<WireBreakdown>,
    pub(super) groups: Vec<WireGroup>,
    ungrouped_mismatches: u64,
    timeline: Vec<[u64; 2]>,
}

#[derive(Serialize, Deserialize)]
struct WireBreakdown {
    values: Vec<WireValue>,
    other: Option<WireValue>,
}

#[derive(Serialize, Deserialize)]
struct WireValue {
    value: String,
    runs: u64,
    counts: WireCounts,
    latency: WireLatency,
}

#[derive(Serialize, Deserialize)]
pub(super) struct WireGroup {
    shape: Vec<ShapeEntry>,
    keys: Vec<Vec<String>>,
    count: u64,
    first_seen: SystemTime,
    last_seen: SystemTime,
    samples: Vec<MismatchSample>,
}

#[derive(Serialize, Deserialize)]
struct WireNoise {
    relative_threshold: f64,
    absolute_threshold: f64,
    comparisons: u64,
    calibrations: u64,
    paths: Vec<WirePath>,
}

#[derive(Serialize, Deserialize)]
struct WirePath {
    path: String,
    raw: u64,
    noise: u64,
}

#[derive(Serialize, Deserialize)]
struct WireGuardMark {
    at: SystemTime,
    candidate: String,
    event: String,
    reason: String,
    observed: f64,
    threshold: f64,
    runs: u64,
}

fn counts_to_wire(counts: [u64; 6]) -> WireCounts {
    let [matched, mismatched, ignored, noise, errors, timeouts] = counts;
    WireCounts {
        matched,
        mismatched,
        ignored,
        noise,
        errors,
        timeouts,
    }
}

fn counts_from_wire(counts: &WireCounts) -> [u64; 6] {
    [
        counts.matched,
        counts.mismatched,
        counts.ignored,
        counts.noise,
        counts.errors,
        counts.timeouts,
    ]
}

/// `histogram` in V2 deflate serialization, base64-encoded.
fn encode_histogram(
    field: &'static str,
    histogram: &Histogram<u64>,
) -> Result<String, SnapshotError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|error| SnapshotError::Histogram {
            field,
            problem: format!("{error:?}"),
        })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn encode_latency(
    field: &'static str,
    latency: &LatencyHistogram,
) -> Result<WireLatency, SnapshotError> {
    let (histogram, max) = latency.parts();
    Ok(WireLatency {
        max_nanos: max,
        histogram: encode_histogram(field, histogram)?,
    })
}

/// Decodes a histogram written by [`encode_histogram`] that must cover 1 to `high` with at
/// most `max_digits` significant digits: the bytes are checked (sizes, header, counts) before
/// HDR's decoder reads them, so that no input makes it allocate more than such a histogram or
/// fail on an arithmetic overflow.
pub(super) fn decode_histogram(
    field: &'static str,
    text: &str,
    high: u64,
    max_digits: u8,
) -> Result<Histogram<u64>, SnapshotError> {
    let bad = |problem: &str| SnapshotError::Histogram {
        field,
        problem: problem.to_owned(),
    };
    let max_digits = max_digits.clamp(1, 5);
    // The largest V2 payload of such a histogram: every count a 9-byte varint.
    let capacity = Histogram::<u64>::new_with_bounds(1, high, max_digits)
        .map_err(|_| bad("no histogram of this range"))?
        .distinct_values();
    let max_plain = V2_HEADER + 9 * capacity;
    // Deflate never grows incompressible data by much; base64 takes 4 bytes for 3.
    if text.len() > (max_plain + max_plain / 8 + 64) / 3 * 4 + 4 {
        return Err(bad("longer than any histogram of its range"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SnapshotError::Base64 { field })?;
    let word = |bytes: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if word(&bytes, 0) != Some(V2_DEFLATE_COOKIE) {
        return Err(bad("not HDR's V2 deflate serialization"));
    }
    let compressed = word(&bytes, 4).ok_or_else(|| bad("truncated"))? as usize;
    if compressed != bytes.len() - 8 {
        return Err(bad("truncated, or followed by other bytes"));
    }
    let mut plain = Vec::new();
    flate2::read::ZlibDecoder::new(&bytes[8..])
        .take(max_plain as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|_| bad("not valid deflate data"))?;
    if plain.len() > max_plain {
        return Err(bad("larger than any histogram of its range"));
    }
    let long = |at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(plain.get(at..at + 8)?.try_into().ok()?))
    };
    if word(&plain, 0) != Some(V2_COOKIE) || plain.len() < V2_HEADER {
        return Err(bad("not HDR's V2 serialization inside"));
    }
    if word(&plain, 4).map(|len| len as usize) != Some(plain.len() - V2_HEADER) {
        return Err(bad("payload length does not match"));
    }
    let digits = word(&plain, 12).unwrap_or(0);
    if !(1..=u32::from(max_digits)).contains(&digits) {
        return Err(bad("significant digits outside the insight's"));
    }
    if long(16) != Some(1) || long(24) != Some(high) {
        return Err(bad("range is not the insight's"));
    }
    // HDR's decoder negates a run of zeros: the one varint whose negation overflows is refused
    // here.
    if varints(&plain[V2_HEADER..]).any(|value| value == u64::MAX) {
        return Err(bad("a count out of range"));
    }
    let histogram: Histogram<u64> = Deserializer::new()
        .deserialize(&mut Cursor::new(&plain))
        .map_err(|error| bad(&format!("{error}")))?;
    if histogram.low() != 1 || histogram.high() != high {
        return Err(bad("range is not the insight's"));
    }
    Ok(histogram)
}

/// The varints of a V2 payload (LEB128 over at most 9 bytes, the ninth one whole); a truncated
/// last one is left out (HDR's decoder refuses it).
fn varints(payload: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let mut value = 0u64;
        for byte in 0..9 {
            let b = *payload.get(at + byte)?;
            if byte == 8 {
                value |= u64::from(b) << 56;
                at += 9;
                return Some(value);
            }
            value |= u64::from(b & 0x7f) << (7 * byte);
            if b & 0x80 == 0 {
                at += byte + 1;
                return Some(value);
            }
        }
        None
    })
}

fn decode_latency(
    field: &'static str,
    latency: &WireLatency,
    max_digits: u8,
) -> Result<LatencyHistogram, SnapshotError> {
    let histogram = decode_histogram(field, &latency.histogram, HIGHEST_NANOS, max_digits)?;
    Ok(LatencyHistogram::from_parts(histogram, latency.max_nanos))
}

fn value_to_wire(state: &ValueState) -> Result<WireValue, SnapshotError> {
    Ok(WireValue {
        value: state.value.clone(),
        runs: state.runs,
        counts: counts_to_wire(state.counts),
        latency: encode_latency("breakdown latency", &state.latency)?,
    })
}

fn value_from_wire(value: &WireValue) -> Result<ValueState, SnapshotError> {
    let mut state = ValueState::new(value.value.clone());
    state.runs = value.runs;
    state.counts = counts_from_wire(&value.counts);
    state.latency = decode_latency("breakdown latency", &value.latency, BREAKDOWN_DIGITS)?;
    Ok(state)
}

impl Snapshot {
    /// The snapshot as JSON: a `format` marker ([`SNAPSHOT_FORMAT`]), `version` 1, the
    /// experiment's name, the counts, groups and samples as they are, and each histogram in
    /// HDR histogram's V2 deflate serialization, base64-encoded. An error only when a histogram
    /// holds a count HDR's serialization cannot write (beyond `i64::MAX`).
    pub fn to_json(&self) -> Result<Vec<u8>, SnapshotError> {
        let limits = &self.limits;
        let candidates = self
            .candidates
            .iter()
            .map(|candidate| {
                Ok(WireCandidate {
                    name: candidate.name.clone(),
                    runs: candidate.runs,
                    counts: counts_to_wire(candidate.counts),
                    latency: encode_latency("candidate latency", &candidate.latency)?,
                    paired_ratios: encode_histogram("paired ratios", candidate.paired.histogram())?,
                    breakdown: match &candidate.breakdown {
                        None => None,
                        Some(breakdown) => {
                            let (values, other, _) = breakdown.parts();
                            Some(WireBreakdown {
                                values: values
                                    .iter()
                                    .map(value_to_wire)
                                    .collect::<Result<_, _>>()?,
                                other: other.map(value_to_wire).transpose()?,
                            })
                        }
                    },
                    groups: candidate
                        .groups
                        .iter()
                        .map(|group| WireGroup {
                            shape: group.shape.clone(),
                            keys: group.keys.clone(),
                            count: group.count,
                            first_seen: group.first_seen,
                            last_seen: group.last_seen,
                            samples: group.samples.clone(),
                        })
                        .collect(),
                    ungrouped_mismatches: candidate.ungrouped,
                    timeline: candidate.timeline.iter().map(|&(r, m)| [r, m]).collect(),
                })
            })
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        let wire = Wire {
            format: SNAPSHOT_FORMAT.to_owned(),
            version: SNAPSHOT_VERSION,
            experiment: self.experiment.clone(),
            started_at: self.started_at,
            generated_at: self.generated_at,
            runs: self.runs,
            untracked_candidate_results: self.untracked,
            limits: WireLimits {
                max_candidates: limits.max_candidates,
                max_groups: limits.max_groups,
                samples_per_group: limits.samples_per_group,
                max_timeline_points: limits.max_timeline_points,
                breakdown_tracked: limits.breakdown_tracked,
                max_value_chars: limits.max_value_chars,
                significant_digits: limits.significant_digits,
            },
            timeline_interval_nanos: u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX),
            control_latency: encode_latency("control latency", &self.control)?,
            candidates,
            noise: self.noise.as_ref().map(|noise| WireNoise {
                relative_threshold: noise.relative_threshold,
                absolute_threshold: noise.absolute_threshold,
                comparisons: noise.comparisons,
                calibrations: noise.calibrations,
                paths: noise
                    .paths
                    .iter()
                    .map(|(path, &(raw, noise))| WirePath {
                        path: path.clone(),
                        raw,
                        noise,
                    })
                    .collect(),
            }),
            guard_events: self
                .guard_events
                .iter()
                .map(|mark| WireGuardMark {
                    at: mark.at,
                    candidate: mark.candidate.clone(),
                    event: mark.event.to_owned(),
                    reason: mark.reason.to_owned(),
                    observed: mark.observed,
                    threshold: mark.threshold,
                    runs: mark.runs,
                })
                .collect(),
            guard_events_dropped: self.guard_events_dropped,
            breakdown_key: self.breakdown_key.clone(),
        };
        Ok(serde_json::to_vec(&wire)?)
    }

    /// Decodes a snapshot written by [`to_json`](Self::to_json), checking it against the
    /// default [`InsightOptions`]' caps; see [`from_json_with`](Self::from_json_with).
    pub fn from_json(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        Self::from_json_with(bytes, &InsightOptions::default())
    }

    /// Decodes a snapshot written by [`to_json`](Self::to_json) by an insight whose caps are at
    /// most those of `options` (candidates, groups, samples per group, timeline points,
    /// breakdown values, value length, significant digits). Refused, with the matching
    /// [`SnapshotError`]: another format or version, bad JSON, bad base64, histogram bytes
    /// that are not a histogram of the insight's range and precision, more of anything than
    /// those caps allow, and counts that do not add up.
    pub fn from_json_with(
        bytes: &[u8],
        options: &InsightOptions,
    ) -> Result<Snapshot, SnapshotError> {
        let header: Header = serde_json::from_slice(bytes)?;
        match header.format.as_deref() {
            Some(SNAPSHOT_FORMAT) => {}
            found => {
                return Err(SnapshotError::Format {
                    found: crate::text::capped(found.unwrap_or("(none)"), 64),
                })
            }
        }
        match header.version {
            Some(version) if version == u64::from(SNAPSHOT_VERSION) => {}
            found => {
                return Err(SnapshotError::UnsupportedVersion {
                    found: found.unwrap_or(0),
                    supported: SNAPSHOT_VERSION,
                })
            }
        }
        let wire: Wire = serde_json::from_slice(bytes)?;
        let caps = Limits::of(options);
        let limits = Limits {
            max_candidates: wire.limits.max_candidates,
            max_groups: wire.limits.max_groups,
            samples_per_group: wire.limits.samples_per_group,
            max_timeline_points: wire.limits.max_timeline_points,
            breakdown_tracked: wire.limits.breakdown_tracked,
            max_value_chars: wire.limits.max_value_chars,
            significant_digits: wire.limits.significant_digits,
        };
        super::check::limits_within(&limits, &caps)?;
        super::check::wire_sizes(&wire.experiment, &wire.candidates, &limits)?;
        let digits = limits.significant_digits;
        let control = decode_latency("control latency", &wire.control_latency, digits)?;
        let candidates = wire
            .candidates
            .into_iter()
            .map(|candidate| {
                let breakdown = match &candidate.breakdown {
                    None => None,
                    Some(breakdown) => {
                        if breakdown.values.len() > limits.breakdown_tracked {
                            return Err(SnapshotError::Invalid(String::from(
                                "more breakdown values than the insight tracks",
                            )));
                        }
                        let values = breakdown
                            .values
                            .iter()
                            .map(value_from_wire)
                            .collect::<Result<Vec<_>, _>>()?;
                        let other = breakdown.other.as_ref().map(value_from_wire).transpose()?;
                        Some(Breakdown::from_parts(
                            values,
                            other,
                            limits.breakdown_tracked,
                        ))
                    }
                };
                Ok(CandidateSnapshot {
                    latency: decode_latency("candidate latency", &candidate.latency, digits)?,
                    paired: PairedRatios::from_histogram(decode_histogram(
                        "paired ratios",
                        &candidate.paired_ratios,
                        HIGHEST_RATIO,
                        3,
                    )?),
                    breakdown,
                    name: candidate.name,
                    runs: candidate.runs,
                    counts: counts_from_wire(&candidate.counts),
                    groups: candidate
                        .groups
                        .into_iter()
                        .map(|group| GroupSnapshot {
                            shape: group.shape,
                            keys: group.keys,
                            count: group.count,
                            first_seen: group.first_seen,
                            last_seen: group.last_seen,
                            samples: group.samples,
                        })
                        .collect(),
                    ungrouped: candidate.ungrouped_mismatches,
                    timeline: candidate.timeline.iter().map(|&[r, m]| (r, m)).collect(),
                })
            })
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        let noise = match wire.noise {
            None => None,
            Some(noise) => {
                if noise.paths.len() > super::MAX_NOISE_PATHS {
                    return Err(SnapshotError::Invalid(format!(
                        "more than {} noise paths",
                        super::MAX_NOISE_PATHS
                    )));
                }
                let thresholds = [noise.relative_threshold, noise.absolute_threshold];
                if !thresholds.iter().all(|t| (0.0..=1.0).contains(t)) {
                    return Err(SnapshotError::Invalid(String::from(
                        "noise thresholds outside 0 to 1",
                    )));
                }
                let mut paths = std::collections::BTreeMap::new();
                for path in noise.paths {
                    if path.path.len() > crate::noise::MAX_PATH_TEXT + 8 {
                        return Err(SnapshotError::Invalid(String::from(
                            "a noise path too long",
                        )));
                    }
                    if paths.insert(path.path, (path.raw, path.noise)).is_some() {
                        return Err(SnapshotError::Invalid(String::from("a noise path twice")));
                    }
                }
                Some(NoiseCounts {
                    relative_threshold: noise.relative_threshold,
                    absolute_threshold: noise.absolute_threshold,
                    comparisons: noise.comparisons,
                    calibrations: noise.calibrations,
                    paths,
                })
            }
        };
        if wire.guard_events.len() > crate::insight::guard_marks::MAX_GUARD_MARKS {
            return Err(SnapshotError::Invalid(String::from(
                "more guard events than kept",
            )));
        }
        let guard_events = wire
            .guard_events
            .into_iter()
            .map(|mark| {
                let event = [GuardEventKind::Tripped, GuardEventKind::Rearmed]
                    .into_iter()
                    .map(GuardEventKind::as_str)
                    .find(|known| *known == mark.event);
                let reason = [
                    GuardReason::ErrorRate,
                    GuardReason::TimeoutRate,
                    GuardReason::MismatchRate,
                    GuardReason::ShedRate,
                    GuardReason::Latency,
                    GuardReason::Manual,
                    GuardReason::ProbePassed,
                ]
                .into_iter()
                .map(GuardReason::as_str)
                .find(|known| *known == mark.reason);
                match (event, reason) {
                    (Some(event), Some(reason)) if mark.candidate.len() <= 512 => Ok(GuardMark {
                        at: mark.at,
                        candidate: mark.candidate,
                        event,
                        reason,
                        observed: mark.observed,
                        threshold: mark.threshold,
                        runs: mark.runs,
                    }),
                    _ => Err(SnapshotError::Invalid(String::from(
                        "an unknown guard event",
                    ))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let snapshot = Snapshot {
            experiment: wire.experiment,
            started_at: wire.started_at,
            generated_at: wire.generated_at,
            runs: wire.runs,
            untracked: wire.untracked_candidate_results,
            control,
            candidates,
            noise,
            interval: Duration::from_nanos(wire.timeline_interval_nanos.max(1)),
            guard_events,
            guard_events_dropped: wire.guard_events_dropped,
            breakdown_key: wire.breakdown_key,
            limits,
        };
        super::check::consistent(&snapshot)?;
        Ok(snapshot)
    }
}

impl Limits {
    /// The caps of `options`, as an insight made with them applies them.
    pub(crate) fn of(options: &InsightOptions) -> Self {
        Limits {
            max_candidates: options.max_candidates.max(1),
            max_groups: options.max_groups.max(1),
            samples_per_group: options.samples_per_group,
            max_timeline_points: options.max_timeline_points.max(1),
            breakdown_tracked: options.breakdown_values.max(1).saturating_mul(2),
            max_value_chars: options.max_value_chars,
            significant_digits: options.significant_digits.clamp(1, 5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// `plain` (V2 bytes) deflated and framed as HDR's V2 deflate serialization, in base64.
    fn framed(plain: &[u8]) -> String {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(plain).unwrap();
        let compressed = encoder.finish().unwrap();
        let mut bytes = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        bytes.extend((compressed.len() as u32).to_be_bytes());
        bytes.extend(compressed);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn header(payload_len: u32, digits: u32, high: u64) -> Vec<u8> {
        let mut plain = V2_COOKIE.to_be_bytes().to_vec();
        plain.extend(payload_len.to_be_bytes());
        plain.extend(0u32.to_be_bytes());
        plain.extend(digits.to_be_bytes());
        plain.extend(1u64.to_be_bytes());
        plain.extend(high.to_be_bytes());
        plain.extend(1.0f64.to_be_bytes());
        plain
    }

    #[test]
    fn a_histogram_round_trips() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, HIGHEST_NANOS, 3).unwrap();
        for value in [1, 10, 1_000, 1_000_000, HIGHEST_NANOS] {
            histogram.record(value).unwrap();
        }
        let text = encode_histogram("test", &histogram).unwrap();
        let decoded = decode_histogram("test", &text, HIGHEST_NANOS, 3).unwrap();
        assert_eq!(decoded, histogram);
        // Fewer digits allowed than it has: refused.
        assert!(decode_histogram("test", &text, HIGHEST_NANOS, 2).is_err());
        // Another range expected: refused.
        assert!(decode_histogram("test", &text, HIGHEST_RATIO, 3).is_err());
    }

    #[test]
    fn a_count_whose_negation_overflows_is_refused_not_a_panic() {
        // One varint of u64::MAX: HDR's decoder would negate i64::MIN.
        let payload = [0xff; 9];
        let mut plain = header(payload.len() as u32, 3, HIGHEST_NANOS);
        plain.extend(payload);
        let error = decode_histogram("test", &framed(&plain), HIGHEST_NANOS, 3).unwrap_err();
        assert!(error.to_string().contains("out of range"), "{error}");
    }

    #[test]
    fn a_payload_length_beyond_the_bytes_is_refused_before_anything_is_allocated() {
        // Claims 4 GiB of payload in a few bytes.
        let plain = header(u32::MAX, 3, HIGHEST_NANOS);
        let error = decode_histogram("test", &framed(&plain), HIGHEST_NANOS, 3).unwrap_err();
        assert!(error.to_string().contains("payload length"), "{error}");
        // A bomb: far more zeros than any histogram of the range holds.
        let mut plain = header(0, 3, HIGHEST_NANOS);
        plain.extend(vec![0u8; 2_000_000]);
        let error = decode_histogram("test", &framed(&plain), HIGHEST_NANOS, 3).unwrap_err();
        assert!(error.to_string().contains("larger"), "{error}");
        // An absurd range or precision.
        let plain = header(0, 5, u64::MAX / 2);
        assert!(decode_histogram("test", &framed(&plain), HIGHEST_NANOS, 3).is_err());
        let plain = header(0, 0, HIGHEST_NANOS);
        assert!(decode_histogram("test", &framed(&plain), HIGHEST_NANOS, 3).is_err());
    }

    #[test]
    fn the_varint_scanner_reads_hdr_varints() {
        let values: Vec<u64> = varints(&[
            0x01, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ])
        .collect();
        assert_eq!(values, [1, 128, u64::MAX]);
        assert_eq!(
            varints(&[0x80]).count(),
            0,
            "a truncated varint is left out"
        );
    }
}
