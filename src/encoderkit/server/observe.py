"""What a server tells its operator: Prometheus metrics (``/metrics``) and one structured access-log line
per request (JSON: time, request id, client, method, route, status, bytes out, duration; never a request
body, a query string or a header value)."""

from __future__ import annotations

import json
import logging
import sys
import time

ACCESS_LOGGER = "encoderkit.access"


class Metrics:
    """Request counts and latencies per route, model batch sizes, queue depth, in-flight requests. Each
    app has its own registry (several servers in one process do not share counters)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("encoderkit_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "encoderkit_request_seconds",
            "Time to answer a request",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.rejected = Counter(
            "encoderkit_rejected", "Requests refused before any work (limits, auth, host)", ["reason"], registry=r
        )
        self.in_flight = Gauge("encoderkit_requests_in_flight", "Requests being processed", registry=r)
        self.batch_items = Histogram(
            "encoderkit_batch_size",
            "Texts per encoder forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.batch_jobs = Histogram(
            "encoderkit_batch_requests", "Requests merged into one forward pass", buckets=(1, 2, 4, 8, 16, 32, 64), registry=r
        )
        self.batch_seconds = Histogram(
            "encoderkit_batch_seconds",
            "Time of one batched forward pass",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
            registry=r,
        )
        self.queue_depth = Gauge("encoderkit_queue_depth", "Requests waiting for the encoder", registry=r)
        self.connections = Gauge("encoderkit_open_connections", "Open HTTP connections", registry=r)
        self.generation = Gauge("encoderkit_index_generation", "Committed generation being served", registry=r)
        self.documents = Gauge("encoderkit_index_documents", "Documents in the served generation", registry=r)

    def on_batch(self, items: int, jobs: int, tokens: int, seconds: float) -> None:
        self.batch_items.observe(items)
        self.batch_jobs.observe(jobs)
        self.batch_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, the message, and any ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        else:
            out["msg"] = record.getMessage()
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=True)


def configure_logging(level: str = "info", stream=None) -> None:
    """Server logs as JSON lines on stderr; uvicorn's own access log is replaced by ours."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    for name in ("encoderkit", "uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.propagate = False
        lg.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("uvicorn.error").setLevel("WARNING")  # "Started server process ..." chatter off


def access_log(fields: dict) -> None:
    logging.getLogger(ACCESS_LOGGER).info("", extra={"fields": fields})
