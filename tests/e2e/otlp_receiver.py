#!/usr/bin/env python3
"""A real OTLP receiver on both protocols for tests/e2e/otlp_protocols_e2e.rs, built on
`oteltest` (PyPI): `oteltest.sink.GrpcSink` (OTLP/gRPC) and `oteltest.sink.HttpSink`
(OTLP/HTTP, protobuf or JSON), the servers behind `otelsink`.

Every span and every metric received is written as one JSON line to `--out`, tagged with the
transport it came over:

    {"kind": "span", "transport": "grpc" | "http", "name": ..., "resource": {...},
     "scope": ..., "attributes": {...}, "events": [...]}
    {"kind": "metric", "transport": "grpc" | "http", "name": ..., "resource": {...},
     "scope": ..., "points": N}

Both sinks listen on all interfaces, so the test runs this script inside its own network
namespace (`unshare -n`). The script exits when its standard input closes.

Usage: otlp_receiver.py --out FILE [--grpc-port 4317] [--http-port 4318]
"""

import argparse
import json
import logging
import os
import sys
import threading

from google.protobuf.json_format import MessageToDict
from oteltest.sink import GrpcSink, HttpSink

# The span conversion of the HTTP-only sink beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_sink import attributes  # noqa: E402


class Lines:
    """Appends JSON lines to one file, from both servers' threads."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.out = open(path, "a", encoding="utf-8")

    def write(self, records):
        with self.lock:
            for record in records:
                self.out.write(json.dumps(record, sort_keys=True) + "\n")
            self.out.flush()
            os.fsync(self.out.fileno())


class Listener:
    """The request handler one sink calls; tags what it receives with its transport."""

    def __init__(self, lines, transport):
        self.lines = lines
        self.transport = transport

    def handle_trace(self, request, headers):
        records = []
        for resource_spans in MessageToDict(request).get("resourceSpans", []):
            resource = attributes(resource_spans.get("resource", {}).get("attributes", []))
            for scope_spans in resource_spans.get("scopeSpans", []):
                scope = scope_spans.get("scope", {}).get("name")
                for span in scope_spans.get("spans", []):
                    records.append({
                        "kind": "span",
                        "transport": self.transport,
                        "name": span.get("name"),
                        "scope": scope,
                        "resource": resource,
                        "attributes": attributes(span.get("attributes", [])),
                        "events": [e.get("name") for e in span.get("events", [])],
                    })
        self.lines.write(records)
        print(f"otlp_receiver: {self.transport}: {len(records)} span(s)", file=sys.stderr, flush=True)

    def handle_metrics(self, request, headers):
        records = []
        for resource_metrics in MessageToDict(request).get("resourceMetrics", []):
            resource = attributes(resource_metrics.get("resource", {}).get("attributes", []))
            for scope_metrics in resource_metrics.get("scopeMetrics", []):
                scope = scope_metrics.get("scope", {}).get("name")
                for metric in scope_metrics.get("metrics", []):
                    data = next((v for k, v in metric.items() if isinstance(v, dict)), {})
                    records.append({
                        "kind": "metric",
                        "transport": self.transport,
                        "name": metric.get("name"),
                        "scope": scope,
                        "resource": resource,
                        "points": len(data.get("dataPoints", [])),
                    })
        self.lines.write(records)
        print(f"otlp_receiver: {self.transport}: {len(records)} metric(s)", file=sys.stderr, flush=True)

    def handle_logs(self, request, headers):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="file the JSON lines are appended to")
    parser.add_argument("--grpc-port", type=int, default=4317)
    parser.add_argument("--http-port", type=int, default=4318)
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    logger = logging.getLogger("otlp_receiver")
    lines = Lines(args.out)
    grpc_sink = GrpcSink(Listener(lines, "grpc"), logger, port=args.grpc_port)
    grpc_sink.start()
    http_sink = HttpSink(Listener(lines, "http"), logger, port=args.http_port)
    http_sink.start()
    print(
        f"otlp_receiver: listening on {args.grpc_port} (grpc) and {args.http_port} (http)",
        file=sys.stderr,
        flush=True,
    )
    sys.stdin.buffer.read()
    grpc_sink.stop()


if __name__ == "__main__":
    main()
