"""MQTT topic tree and payloads (docs/mqtt.md is the integrator's reference).

    {prefix}/{district}/{kit}/{node}/readings        periodic SenML packs (QoS 1)
    {prefix}/{district}/alarms/{kit}/{node}/{kind}   alarms, SenML packs (QoS 1)
    {prefix}/{district}/{kit}/{node}/presence        online/asleep/offline (retained)
    {prefix}/{district}/{kit}/{node}/status          hello facts and health (retained)
    {prefix}/{district}/edges/{edge}/presence        online/offline, last will (retained)
    {prefix}/{district}/edges/{edge}/status          edge counters, drops (retained)

Readings and alarms are the node's own SenML pack, byte for byte, with text
labels added to its first record: ``ik`` (the idempotency key
``node/epoch/seq``) and, for alarms, ``alarm`` and ``severity``. In CBOR this
is a splice, not a re-encoding; SenML JSON (RFC 8428 §5) is the option.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import cbor2

from edge_agent.journal import ALARM, Entry

_BAD = str.maketrans({"/": "_", "+": "_", "#": "_", "\x00": "_"})
_JSON_LABELS = {
    -1: "bver",
    -2: "bn",
    -3: "bt",
    -4: "bu",
    -5: "bv",
    -6: "bs",
    0: "n",
    1: "u",
    2: "v",
    3: "vs",
    4: "vb",
    5: "s",
    6: "t",
    7: "ut",
    8: "vd",
}
_IK = cbor2.dumps("ik")
_ALARM = cbor2.dumps("alarm")
_SEVERITY = cbor2.dumps("severity")


def level(text: str) -> str:
    """One topic level: '/', '+', '#' and NUL become '_' (a node cannot inject levels)."""
    return text.translate(_BAD) or "_"


def idempotency_key(node: str, epoch: int, seq: int) -> str:
    """The key every reading and alarm message carries."""
    return f"{node}/{epoch}/{seq}"


def _tstr(text: str) -> bytes:
    data = text.encode()
    n = len(data)
    if n < 24:
        return bytes((0x60 | n,)) + data
    if n < 0x100:
        return bytes((0x78, n)) + data
    return bytes((0x79, n >> 8, n & 0xFF)) + data


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()
    return value


class Topics:
    """Builds topics (cached per node) and payloads for one edge."""

    def __init__(self, *, prefix: str, district: str, edge_id: str, fmt: str = "cbor") -> None:
        self.base = f"{prefix}/{level(district)}"
        self.edge_id = edge_id
        self.json = fmt == "json"
        self._readings: dict[tuple[str, str], bytes] = {}

    # --- topics ---------------------------------------------------------------

    def readings(self, kit: str, node: str) -> bytes:
        """Topic of a node's periodic readings."""
        key = (kit, node)
        topic = self._readings.get(key)
        if topic is None:
            if len(self._readings) > 200_000:
                self._readings.clear()
            topic = self._readings[key] = (
                f"{self.base}/{level(kit)}/{level(node)}/readings".encode()
            )
        return topic

    def alarm(self, kit: str, node: str, kind: str) -> bytes:
        """Topic of one alarm."""
        return f"{self.base}/alarms/{level(kit)}/{level(node)}/{level(kind)}".encode()

    def node_presence(self, kit: str, node: str) -> bytes:
        """Retained presence of a node."""
        return f"{self.base}/{level(kit)}/{level(node)}/presence".encode()

    def node_status(self, kit: str, node: str) -> bytes:
        """Retained status of a node (hello facts, health)."""
        return f"{self.base}/{level(kit)}/{level(node)}/status".encode()

    def edge_presence(self) -> bytes:
        """Retained presence of this edge (its last will says offline)."""
        return f"{self.base}/edges/{level(self.edge_id)}/presence".encode()

    def edge_status(self) -> bytes:
        """Retained status of this edge (counters, drops)."""
        return f"{self.base}/edges/{level(self.edge_id)}/status".encode()

    def entry_topic(self, entry: Entry) -> bytes:
        """Topic of a journaled batch or alarm."""
        if entry.cls == ALARM:
            return self.alarm(entry.kit, entry.node, entry.kind)
        return self.readings(entry.kit, entry.node)

    # --- payloads -------------------------------------------------------------

    def entry_payload(self, entry: Entry) -> bytes:
        """The pack with its idempotency key (and alarm fields), in the configured format."""
        ik = idempotency_key(entry.node, entry.epoch, entry.seq)
        if self.json:
            return self._json_pack(entry, ik)
        pack = entry.pack
        head = pack[0]
        at = 1 if 0x81 <= head <= 0x97 else 2 if head == 0x98 else 3
        extra = 1 if entry.cls != ALARM else 3
        first = pack[at]
        if 0xA0 <= first < 0xB8 and (first & 0x1F) + extra < 24:
            fields = [pack[:at], bytes((first + extra,)), _IK, _tstr(ik)]
            if extra == 3:
                fields += [_ALARM, _tstr(entry.kind), _SEVERITY, cbor2.dumps(entry.severity)]
            fields.append(pack[at + 1 :])
            return b"".join(fields)
        records = cbor2.loads(pack)  # a first record too large to splice: re-encode
        records[0]["ik"] = ik
        if entry.cls == ALARM:
            records[0]["alarm"] = entry.kind
            records[0]["severity"] = entry.severity
        return cbor2.dumps(records)

    def _json_pack(self, entry: Entry, ik: str) -> bytes:
        records = [
            {_JSON_LABELS.get(k, str(k)): _json_value(v) for k, v in rec.items()}
            for rec in cbor2.loads(entry.pack)
        ]
        records[0]["ik"] = ik
        if entry.cls == ALARM:
            records[0]["alarm"] = entry.kind
            records[0]["severity"] = entry.severity
        return json.dumps(records, separators=(",", ":")).encode()

    def document(self, doc: dict[str, Any]) -> bytes:
        """A presence or status document in the configured format."""
        if self.json:
            return json.dumps(doc, separators=(",", ":"), default=str).encode()
        return cbor2.dumps(doc)
