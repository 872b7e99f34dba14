"""The edge agent's configuration: a TOML file read into frozen dataclasses.

Every setting has a type, a default, a one-line description and the values it
allows; :func:`load_config` collects *all* problems of a file before it fails,
each with its key path (``mqtt.port``), what was found and what is allowed.
``edge-agent check-config FILE`` prints them; :func:`describe` renders the
reference table that docs/edge-agent.md carries.
"""

from __future__ import annotations

import dataclasses
import difflib
import socket
import tomllib
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints


def _s(
    default: Any,
    doc: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A documented setting: default, description and allowed range or choices."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "choices": choices}
    if isinstance(default, list | tuple):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class EdgeSection:
    """Who this agent is."""

    id: str = _s("", "edge agent id (MQTT topics, welcome, zeroconf); empty: the host name")
    district: str = _s("default", "district name, the second level of every MQTT topic")
    keepalive_s: int = _s(60, "keepalive interval told to nodes in the welcome", lo=5, hi=3600)
    state_dir: str = _s("/var/lib/citynerve-edge", "directory for the journal")


@dataclass(frozen=True, slots=True)
class KeysSection:
    """Where node keys come from."""

    file: str = _s("/etc/citynerve/edge-keys.json", "node keys file (JSON, mode 0600)")
    poll_s: float = _s(2.0, "how often the keys file is checked for changes", lo=0.05, hi=3600)


@dataclass(frozen=True, slots=True)
class TcpSection:
    """The TCP listener for nodes."""

    enabled: bool = _s(True, "accept nodes over TCP")
    host: str = _s("0.0.0.0", "listen address")  # noqa: S104 - the edge serves its LAN
    port: int = _s(7300, "listen port (0: any free port)", lo=0, hi=65535)
    max_connections: int = _s(10000, "connections beyond this are closed at once", lo=1, hi=10**6)
    hello_timeout_s: float = _s(10.0, "a connection without a hello is closed after", lo=0.1)
    max_pending: int = _s(
        64, "batches of one connection awaiting their commit before reading pauses", lo=1, hi=4096
    )
    max_frame: int = _s(4096, "largest frame body accepted (bytes)", lo=21, hi=4096)


@dataclass(frozen=True, slots=True)
class SerialPort:
    """One point-to-point serial line (an entry of ``[[serial]]``)."""

    device: str = _s("", "serial device, e.g. /dev/ttyUSB0 (required)")
    baudrate: int = _s(115200, "line speed", lo=300, hi=4_000_000)


@dataclass(frozen=True, slots=True)
class JournalSection:
    """The durable journal (SQLite, WAL, synchronous=FULL)."""

    path: str = _s("journal.sqlite", "journal file, relative to edge.state_dir")
    disk_budget_mb: float = _s(1024.0, "journaled payload allowed on disk (MiB)", lo=0.01)
    when_full: str = _s(
        "drop_oldest_periodic",
        "periodic readings when the budget is reached: drop the oldest unsent ones, "
        "or refuse new ones (the node keeps them and retries)",
        choices=("drop_oldest_periodic", "refuse_new"),
    )
    alarm_reserve_mb: float = _s(
        64.0, "extra room above the budget that only alarms may use (MiB)", lo=0.0
    )
    group_max: int = _s(2000, "most batches in one group commit", lo=1, hi=100000)
    checkpoint_s: float = _s(
        0.5, "how often published rows are trimmed and dedup state saved", lo=0.01, hi=60
    )
    dedup_epochs: int = _s(4, "idempotency epochs remembered per node", lo=1, hi=64)
    dedup_ranges: int = _s(256, "seq ranges remembered per node and epoch", lo=1, hi=65536)


@dataclass(frozen=True, slots=True)
class MqttSection:
    """The uplink to the city platform's broker."""

    enabled: bool = _s(True, "forward to MQTT (false: ingest and journal only)")
    host: str = _s("127.0.0.1", "broker host")
    port: int = _s(1883, "broker port", lo=1, hi=65535)
    client_id: str = _s("", "MQTT client id; empty: citynerve-edge-<edge.id>")
    username: str = _s("", "user name; empty: none")
    password_file: str = _s("", "file holding the password; empty: none")
    tls: bool = _s(False, "connect with TLS")
    ca_file: str = _s("", "CA bundle for TLS; empty: the system's")
    cert_file: str = _s("", "client certificate for TLS; empty: none")
    key_file: str = _s("", "client key for TLS; empty: none")
    keepalive_s: int = _s(30, "MQTT keepalive", lo=5, hi=65535)
    connect_timeout_s: float = _s(10.0, "give up a connection attempt after", lo=0.1)
    prefix: str = _s("citynerve", "first level of every topic")
    format: str = _s("cbor", "payload encoding of readings and alarms", choices=("cbor", "json"))
    max_inflight: int = _s(1000, "QoS 1 publishes awaiting PUBACK", lo=1, hi=60000)
    backlog_rate: float = _s(
        5000.0, "backlog messages per second, interleaved with live data (0: no limit)", lo=0
    )
    live_queue: int = _s(20000, "live messages held in memory; more go via the journal", lo=1)
    reconnect_min_s: float = _s(0.5, "first reconnect delay (doubles, jittered)", lo=0.01)
    reconnect_max_s: float = _s(30.0, "largest reconnect delay", lo=0.01)
    status_interval_s: float = _s(30.0, "how often the edge status (counters) is published", lo=1)


@dataclass(frozen=True, slots=True)
class PresenceSection:
    """Node presence."""

    grace: float = _s(2.5, "a node is offline after this many keepalive intervals", lo=1, hi=100)
    sleep_grace: float = _s(
        1.5, "a sleeping node is offline after this many of its own intervals", lo=1, hi=100
    )


@dataclass(frozen=True, slots=True)
class MetricsSection:
    """The /metrics and /healthz HTTP endpoint."""

    enabled: bool = _s(True, "serve /metrics (Prometheus text) and /healthz")
    host: str = _s("127.0.0.1", "listen address")
    port: int = _s(9308, "listen port (0: any free port)", lo=0, hi=65535)


@dataclass(frozen=True, slots=True)
class DiscoverySection:
    """Zeroconf (mDNS/DNS-SD) advertisement as _citynerve-edge._tcp."""

    enabled: bool = _s(True, "advertise the TCP listener")
    interfaces: tuple[str, ...] = _s([], "addresses to advertise on; empty: all")


@dataclass(frozen=True, slots=True)
class LogSection:
    """JSON-lines logging to stderr."""

    level: str = _s("info", "log level", choices=("debug", "info", "warning", "error"))
    refused_interval_s: float = _s(
        60.0, "a refused frame is logged at most once per node and reason in", lo=0
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration."""

    edge: EdgeSection = field(default_factory=EdgeSection)
    keys: KeysSection = field(default_factory=KeysSection)
    tcp: TcpSection = field(default_factory=TcpSection)
    serial: tuple[SerialPort, ...] = ()
    journal: JournalSection = field(default_factory=JournalSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    presence: PresenceSection = field(default_factory=PresenceSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    discovery: DiscoverySection = field(default_factory=DiscoverySection)
    log: LogSection = field(default_factory=LogSection)

    @property
    def edge_id(self) -> str:
        """The configured id, or the host name."""
        return self.edge.id or socket.gethostname()

    @property
    def journal_path(self) -> Path:
        """The journal file (relative paths are under edge.state_dir)."""
        return Path(self.edge.state_dir) / self.journal.path

    @property
    def client_id(self) -> str:
        """The MQTT client id."""
        return self.mqtt.client_id or f"citynerve-edge-{self.edge_id}"


class ConfigError(Exception):
    """A configuration file is unreadable or invalid; ``problems`` lists every finding."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the configuration:\n{lines}")


_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _allowed(f: dataclasses.Field[Any], kind: Any) -> str:
    meta = f.metadata
    if meta.get("choices"):
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    text = _TYPE_NAMES.get(kind, "a list of strings")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        text += f" from {_n(lo)} to {_n(hi)}"
    elif lo is not None:
        text += f" of at least {_n(lo)}"
    return text


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _check_value(path: str, f: dataclasses.Field[Any], kind: Any, value: Any) -> list[str]:
    allowed = _allowed(f, kind)
    shown = repr(value) if not isinstance(value, dict) else "a table"
    bad = [f"{path}: got {shown}, allowed: {allowed}"]
    if kind is bool:
        return [] if isinstance(value, bool) else bad
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            return bad
    elif kind is float:
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:  # noqa: PLR0124 - NaN
            return bad
    elif kind is str:
        if not isinstance(value, str):
            return bad
        if f.metadata.get("choices") and value not in f.metadata["choices"]:
            return bad
        return []
    else:  # tuple[str, ...]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return bad
        return []
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return bad
    return []


def _close_match(key: str, known: list[str]) -> str:
    match = difflib.get_close_matches(key, known, 1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _section(cls: type[Any], path: str, table: Any, problems: list[str]) -> Any:
    if not isinstance(table, dict):
        problems.append(f"{path}: must be a table ([{path}]), got {table!r}")
        return cls()
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        f = fields.get(key)
        if f is None:
            problems.append(
                f"{path}.{key}: unknown setting{_close_match(key, list(fields))}; "
                f"allowed: {', '.join(fields)}"
            )
            continue
        found = _check_value(f"{path}.{key}", f, hints[key], value)
        problems.extend(found)
        if not found:
            values[key] = tuple(value) if isinstance(value, list) else value
            if hints[key] is float:
                values[key] = float(value)
    return cls(**values)


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Build a :class:`Config` from parsed TOML; :class:`ConfigError` lists every problem."""
    problems: list[str] = []
    sections: dict[str, Any] = {}
    hints = get_type_hints(Config)
    for key, value in data.items():
        if key not in hints:
            problems.append(
                f"{key}: unknown section{_close_match(key, list(hints))}; "
                f"allowed: {', '.join(hints)}"
            )
        elif key == "serial":
            if not isinstance(value, list):
                problems.append("serial: must be an array of tables ([[serial]]), got a table")
                continue
            ports = []
            for i, entry in enumerate(value):
                port = _section(SerialPort, f"serial[{i}]", entry, problems)
                if isinstance(entry, dict) and not port.device:
                    problems.append(f"serial[{i}].device: missing; allowed: a device path")
                ports.append(port)
            sections[key] = tuple(ports)
        else:
            sections[key] = _section(hints[key], key, value, problems)
    config = Config(**sections)
    if config.mqtt.reconnect_max_s < config.mqtt.reconnect_min_s:
        problems.append(
            f"mqtt.reconnect_max_s: {config.mqtt.reconnect_max_s:g} is below "
            f"mqtt.reconnect_min_s {config.mqtt.reconnect_min_s:g}; allowed: at least that"
        )
    devices = [p.device for p in config.serial]
    for dup in sorted({d for d in devices if devices.count(d) > 1}):
        problems.append(f"serial: device {dup!r} is listed twice; allowed: each device once")
    if not config.mqtt.prefix or any(c in config.mqtt.prefix for c in "#+"):
        problems.append(
            f"mqtt.prefix: got {config.mqtt.prefix!r}, allowed: a non-empty topic without # or +"
        )
    for name, value in (("edge.district", config.edge.district), ("edge.id", config.edge.id)):
        if any(c in value for c in "/#+"):
            problems.append(f"{name}: got {value!r}, allowed: text without /, # or +")
    if problems:
        raise ConfigError(source, problems)
    return config


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML file; raise :class:`ConfigError` with every problem."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(source, [f"cannot read the file: {e.strerror or e}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(source, [f"not UTF-8 text at byte offset {e.start}"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [f"not valid TOML: {e}"]) from None
    return parse_config(data, source)


def _type_name(kind: Any) -> str:
    if get_origin(kind) in (tuple, Union, types.UnionType):
        return "list of strings" if str in get_args(kind) else str(kind)
    return {bool: "bool", int: "int", float: "float", str: "string"}[kind]


def describe() -> Iterator[tuple[str, str, str, str]]:
    """Every setting as (key path, type, default, description and allowed values)."""
    for name, kind in get_type_hints(Config).items():
        cls = SerialPort if name == "serial" else kind
        section = "[[serial]]" if name == "serial" else name
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            default: Any = f.default
            if default is dataclasses.MISSING:
                default = f.default_factory()  # type: ignore[operator]
            shown = (
                "[]"
                if default == ()
                else str(default).lower()
                if isinstance(default, bool)
                else repr(default)
            )
            text = f.metadata["doc"]
            if f.metadata.get("choices") or f.metadata.get("lo") is not None:
                text += f"; allowed: {_allowed(f, hints[f.name])}"
            yield f"{section}.{f.name}", _type_name(hints[f.name]), shown, text
