#!/usr/bin/env python3
"""A real OTLP/HTTP receiver for tests/e2e/otlp_e2e.rs, built on `oteltest` (PyPI).

`oteltest.sink.HttpSink` accepts OTLP/HTTP (protobuf or JSON) on /v1/traces, /v1/metrics and
/v1/logs and hands each decoded `ExportTraceServiceRequest` to a listener. The listener here
writes every received span as one JSON line to `--out`:

    {"name": ..., "trace_id": ..., "span_id": ..., "scope": ...,
     "trace_id_hex": ..., "span_id_hex": ..., "parent_span_id_hex": ...,
     "start_unix_nano": ..., "end_unix_nano": ...,
     "resource": {key: value}, "attributes": {key: value},
     "events": [{"name": ..., "attributes": {key: value}}]}

Attribute values are plain JSON (strings, numbers, booleans, lists, objects), not OTLP
`AnyValue` wrappers.

HttpSink listens on all interfaces, so the test runs this script inside its own network
namespace (`unshare -n`). The script exits when its standard input closes, so it never outlives
the test process that started it.

Usage: otlp_sink.py --out FILE [--port 4318]
"""

import argparse
import base64
import json
import logging
import os
import sys
import threading

from google.protobuf.json_format import MessageToDict
from oteltest.sink import HttpSink


def plain(any_value):
    """Turns an OTLP AnyValue (as MessageToDict renders it) into a plain JSON value."""
    if not any_value:
        return None
    if "stringValue" in any_value:
        return any_value["stringValue"]
    if "boolValue" in any_value:
        return any_value["boolValue"]
    if "intValue" in any_value:
        return int(any_value["intValue"])  # int64 is rendered as a string
    if "doubleValue" in any_value:
        return float(any_value["doubleValue"])
    if "bytesValue" in any_value:
        return any_value["bytesValue"]
    if "arrayValue" in any_value:
        return [plain(v) for v in any_value["arrayValue"].get("values", [])]
    if "kvlistValue" in any_value:
        return attributes(any_value["kvlistValue"].get("values", []))
    return None


def hex_id(encoded):
    """A trace or span id (base64 in MessageToDict's rendering) as lowercase hex; "" if absent."""
    return base64.b64decode(encoded).hex() if encoded else ""


def attributes(key_values):
    return {kv["key"]: plain(kv.get("value")) for kv in key_values}


class SpanLines:
    """The listener HttpSink calls: appends one JSON line per received span."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.out = open(path, "a", encoding="utf-8")

    def handle_trace(self, request, headers):
        lines = []
        for resource_spans in MessageToDict(request).get("resourceSpans", []):
            resource = attributes(resource_spans.get("resource", {}).get("attributes", []))
            for scope_spans in resource_spans.get("scopeSpans", []):
                scope = scope_spans.get("scope", {}).get("name")
                for span in scope_spans.get("spans", []):
                    record = {
                        "name": span.get("name"),
                        "trace_id": span.get("traceId"),
                        "span_id": span.get("spanId"),
                        "trace_id_hex": hex_id(span.get("traceId")),
                        "span_id_hex": hex_id(span.get("spanId")),
                        "parent_span_id_hex": hex_id(span.get("parentSpanId")),
                        "start_unix_nano": int(span.get("startTimeUnixNano", 0)),
                        "end_unix_nano": int(span.get("endTimeUnixNano", 0)),
                        "scope": scope,
                        "resource": resource,
                        "attributes": attributes(span.get("attributes", [])),
                        "events": [
                            {
                                "name": event.get("name"),
                                "attributes": attributes(event.get("attributes", [])),
                            }
                            for event in span.get("events", [])
                        ],
                    }
                    lines.append(json.dumps(record, sort_keys=True))
        with self.lock:
            for line in lines:
                self.out.write(line + "\n")
            self.out.flush()
            os.fsync(self.out.fileno())
        print(f"otlp_sink: received {len(lines)} span(s)", file=sys.stderr, flush=True)

    def handle_metrics(self, request, headers):
        pass

    def handle_logs(self, request, headers):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="file the span lines are appended to")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    sink = HttpSink(SpanLines(args.out), logging.getLogger("otlp_sink"), port=args.port)
    sink.start()
    print(f"otlp_sink: listening on port {args.port}", file=sys.stderr, flush=True)
    # Serve until the parent closes our stdin (or dies); the server thread is a daemon.
    sys.stdin.buffer.read()


if __name__ == "__main__":
    main()
