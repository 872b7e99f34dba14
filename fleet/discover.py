"""``fleet discover``: the edge agents on the local network, found with zeroconf.

Edge agents advertise ``_citynerve-edge._tcp.local.`` (``edge_agent/discovery.py``)
with TXT records ``edge`` (id), ``district`` and ``proto`` (wire protocol
version). :func:`discover` browses for ``timeout`` seconds and resolves every
service found: id, district, protocol, addresses and port.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

SERVICE_TYPE = "_citynerve-edge._tcp.local."


class DiscoverError(Exception):
    """Browsing failed (no usable network interface)."""


@dataclass(frozen=True)
class EdgeInfo:
    """One edge agent as advertised."""

    name: str
    edge: str
    district: str
    protocol: str
    addresses: list[str]
    port: int
    host: str

    def endpoints(self) -> list[str]:
        return [f"{a}:{self.port}" for a in self.addresses]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _text(props: dict[bytes, bytes | None], key: str) -> str:
    value = props.get(key.encode())
    return value.decode("utf-8", "replace") if value is not None else ""


class _Listener(ServiceListener):
    def __init__(self) -> None:
        self.names: list[str] = []
        self.lock = threading.Lock()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        with self.lock:
            if name not in self.names:
                self.names.append(name)

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.add_service(zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        with self.lock:
            if name in self.names:
                self.names.remove(name)


def discover(timeout: float = 3.0, interfaces: list[str] | None = None) -> list[EdgeInfo]:
    """Edge agents that answer within ``timeout`` seconds, sorted by district and id."""
    try:
        zc = Zeroconf(
            interfaces=interfaces or None,  # type: ignore[arg-type]
            ip_version=IPVersion.V4Only,
        )
    except OSError as e:
        raise DiscoverError(f"cannot browse with zeroconf: {e}") from None
    listener = _Listener()
    found: dict[str, EdgeInfo] = {}
    try:
        browser = ServiceBrowser(zc, SERVICE_TYPE, listener=listener)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with listener.lock:
                pending = [n for n in listener.names if n not in found]
            for name in pending:
                left = max(0.2, deadline - time.monotonic())
                info = zc.get_service_info(SERVICE_TYPE, name, timeout=int(min(left, 3.0) * 1000))
                if info is None or info.port is None:
                    continue
                props = info.properties or {}
                found[name] = EdgeInfo(
                    name=name,
                    edge=_text(props, "edge") or name.split(".")[0],
                    district=_text(props, "district"),
                    protocol=_text(props, "proto"),
                    addresses=sorted(info.parsed_addresses()),
                    port=int(info.port),
                    host=(info.server or "").rstrip("."),
                )
            time.sleep(0.05)
        browser.cancel()
    finally:
        zc.close()
    return sorted(found.values(), key=lambda e: (e.district, e.edge))
