"""Prometheus text metrics and a tiny asyncio HTTP server for /metrics and /healthz."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("edge_agent.metrics")


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    inner = ",".join(
        '%s="%s"' % (n, v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
        for n, v in zip(names, values, strict=True)
    )
    return "{" + inner + "}"


def _num(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.doc, self.labelnames = name, doc, labels
        self.values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}

    def inc(self, *labels: str, value: float = 1.0) -> None:
        """Add ``value`` to the series named by ``labels``."""
        self.values[labels] = self.values.get(labels, 0.0) + value

    def get(self, *labels: str) -> float:
        """The current value of one series."""
        return self.values.get(labels, 0.0)

    def samples(self) -> Iterable[str]:
        """Text-format sample lines."""
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {_num(value)}"


class Gauge:
    """A value read from a callback at scrape time (one series, or several with labels)."""

    kind = "gauge"

    def __init__(
        self,
        name: str,
        doc: str,
        read: Callable[[], float | dict[tuple[str, ...], float]],
        labels: tuple[str, ...] = (),
        kind: str = "gauge",
    ) -> None:
        self.name, self.doc, self.labelnames, self.read = name, doc, labels, read
        self.kind = kind

    def samples(self) -> Iterable[str]:
        """Text-format sample lines."""
        value = self.read()
        if isinstance(value, dict):
            for labels, v in sorted(value.items()):
                yield f"{self.name}{_labels(self.labelnames, labels)} {_num(v)}"
        else:
            yield f"{self.name} {_num(value)}"


class Histogram:
    """Cumulative buckets, sum and count."""

    kind = "histogram"

    def __init__(self, name: str, doc: str, buckets: tuple[float, ...]) -> None:
        self.name, self.doc, self.labelnames = name, doc, ()
        self.buckets = (*sorted(buckets), math.inf)
        self.counts = [0] * len(self.buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Record one observation."""
        self.sum += value
        self.count += 1
        self.counts[bisect_left(self.buckets, value)] += 1

    def samples(self) -> Iterable[str]:
        """Text-format sample lines."""
        running = 0
        for bound, n in zip(self.buckets, self.counts, strict=True):
            running += n
            yield f'{self.name}_bucket{{le="{_num(bound)}"}} {running}'
        yield f"{self.name}_sum {_num(self.sum)}"
        yield f"{self.name}_count {self.count}"


Metric = Counter | Gauge | Histogram


class Registry:
    """Every metric of the agent, rendered in the Prometheus text format."""

    def __init__(self, prefix: str = "citynerve_edge_") -> None:
        self.prefix = prefix
        self.metrics: dict[str, Metric] = {}

    def _add(self, metric: Metric) -> Any:
        if metric.name in self.metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self.metrics[metric.name] = metric
        return metric

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        """Register a counter (``_total`` is appended to the name)."""
        return self._add(Counter(self.prefix + name + "_total", doc, labels))  # type: ignore[no-any-return]

    def gauge(
        self,
        name: str,
        doc: str,
        read: Callable[[], float | dict[tuple[str, ...], float]],
        labels: tuple[str, ...] = (),
    ) -> Gauge:
        """Register a gauge read at scrape time."""
        return self._add(Gauge(self.prefix + name, doc, read, labels))  # type: ignore[no-any-return]

    def counter_fn(
        self,
        name: str,
        doc: str,
        read: Callable[[], float | dict[tuple[str, ...], float]],
        labels: tuple[str, ...] = (),
    ) -> Gauge:
        """Register a counter whose value is read at scrape time (``_total`` appended)."""
        return self._add(Gauge(self.prefix + name + "_total", doc, read, labels, "counter"))  # type: ignore[no-any-return]

    def histogram(self, name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
        """Register a histogram."""
        return self._add(Histogram(self.prefix + name, doc, buckets))  # type: ignore[no-any-return]

    def render(self) -> str:
        """The whole registry as Prometheus text (version 0.0.4)."""
        lines: list[str] = []
        for metric in self.metrics.values():
            lines.append(f"# HELP {metric.name} {metric.doc}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            try:
                lines.extend(metric.samples())
            except Exception:  # a broken gauge must not break the scrape
                log.exception("metric %s failed", metric.name)
        return "\n".join(lines) + "\n"

    def value(self, name: str, *labels: str) -> float:
        """One series' current value (for the edge status message and tests)."""
        metric = self.metrics.get(self.prefix + name) or self.metrics[self.prefix + name + "_total"]
        if isinstance(metric, Counter):
            return metric.get(*labels)
        if isinstance(metric, Gauge):
            got = metric.read()
            return got.get(labels, 0.0) if isinstance(got, dict) else got
        return float(metric.count)


class MetricsServer:
    """Serves GET /metrics and GET /healthz; an async context manager."""

    def __init__(
        self,
        *,
        registry: Registry,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.registry = registry
        self.health = health
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> MetricsServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method != "GET":
                status, ctype, body = "405 Method Not Allowed", "text/plain", "use GET\n"
            elif path == "/metrics":
                status, ctype = "200 OK", "text/plain; version=0.0.4; charset=utf-8"
                body = self.registry.render()
            elif path == "/healthz":
                ok, detail = self.health()
                status = "200 OK" if ok else "503 Service Unavailable"
                ctype, body = "application/json", json.dumps({"ok": ok, **detail}) + "\n"
            else:
                status, ctype, body = "404 Not Found", "text/plain", "try /metrics or /healthz\n"
            data = body.encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
