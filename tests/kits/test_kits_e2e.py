"""End to end on the real MicroPython unix port: the kits write through the
real Recorder into a FlashQueue on littlefs (a RAM block device), and the
queued messages - decoded here with cbor2 - carry the alarms and readings
with the wire protocol's keys and SenML's labels, units and scales."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import cbor2
import kit_support as K
import pytest

from firmware.wire import protocol as P

MP = pytest.mark.micropython
BN, BT, N, U, V, VB = -2, -3, 0, 1, 2, 4


def _messages(res: dict[str, Any]) -> list[dict[int, Any]]:
    return [cbor2.loads(bytes.fromhex(h)) for _, h in res["queued"]]


def _records(pack: list[dict[int, Any]]) -> list[tuple[str, str, Any]]:
    out = []
    for rec in pack:
        value = rec[VB] if VB in rec else rec[V]
        out.append((rec[N], rec.get(U, ""), value))
    return out


@pytest.fixture(scope="module")
def e2e(kit_runner: Any) -> dict[str, dict[str, Any]]:
    cases = [
        K.case("hydrant", "hydrant.water_hammer", e2e=True),
        K.case("manhole", "manhole.cover_lifted", period_ms=300000, th=K.MANHOLE_INSTALL, e2e=True),
    ]
    return kit_runner.run(cases, timeout=60)


@MP
def test_water_hammer_alarm_and_batches_on_flash(e2e: dict[str, dict[str, Any]]) -> None:
    """The water-hammer alarm is on flash as an alarm message (kind, severity,
    idempotency key) whose SenML pack holds the burst summary in pascals under
    the node's base name; the periodic readings are batches of SenML records in
    their units (Pa, Cel as 0.01 decimals, deg, V, a boolean), alarms queued to
    go out before batches."""
    msgs = _messages(e2e["hydrant.water_hammer"])
    alarm = msgs[0]
    assert alarm[P.K_TYPE] == P.MSG_ALARM and alarm[P.K_ALARM] == "water_hammer"
    assert alarm[P.K_SEVERITY] == P.SEVERITY_WARNING
    assert isinstance(alarm[P.K_EPOCH], int) and isinstance(alarm[P.K_SEQ], int)
    pack = alarm[P.K_PACK]
    assert pack[0][BN] == "node-1:" and pack[0][BT] >= 1700000060
    recs = _records(pack)
    assert all(unit == "Pa" for _, unit, _ in recs)
    values = [v for _, _, v in recs]
    assert values[2] >= K.thresholds("hydrant")["hammer_pa"] and values[0] < values[3] < values[1]
    batches = msgs[1:]
    assert batches and all(m[P.K_TYPE] == P.MSG_BATCH for m in batches)
    readings = [r for m in batches for r in _records(m[P.K_PACK])]
    by_name: dict[str, list[tuple[str, Any]]] = {}
    for name, unit, value in readings:
        by_name.setdefault(name, []).append((unit, value))
    assert {u for u, _ in by_name["pressure"]} == {"Pa"}
    assert all(abs(v - 350000) < 3000 for _, v in by_name["pressure"])
    assert all(u == "Cel" and v == Decimal("12.00") for u, v in by_name["temp"])
    assert all(u == "V" and v == Decimal("3.600") for u, v in by_name["battery"])
    assert all(u == "deg" for u, _ in by_name["tilt"])
    assert [v for _, v in by_name["valve_open"]] == [False] * 5
    seqs = [m[P.K_SEQ] for m in msgs]
    assert len(set(seqs)) == len(seqs)


@MP
def test_cover_alarms_and_their_end_on_flash(e2e: dict[str, dict[str, Any]]) -> None:
    """The manhole's cover_open and cover_tilt alarms are alarm messages with
    their records (a boolean, a tilt in degrees with two decimals), and the
    end of each episode is a boolean reading <kind>_alarm = false in a batch."""
    msgs = _messages(e2e["manhole.cover_lifted"])
    alarms = [m for m in msgs if m[P.K_TYPE] == P.MSG_ALARM]
    assert [m[P.K_ALARM] for m in alarms] == ["cover_open", "cover_tilt"]
    assert [m[P.K_SEVERITY] for m in alarms] == [P.SEVERITY_CRITICAL, P.SEVERITY_WARNING]
    assert _records(alarms[0][P.K_PACK]) == [("cover_open", "", True)]
    [(name, unit, tilt)] = _records(alarms[1][P.K_PACK])
    assert name == "tilt" and unit == "deg" and Decimal("24.4") < tilt < Decimal("25.6")
    readings = [r for m in msgs if m[P.K_TYPE] == P.MSG_BATCH for r in _records(m[P.K_PACK])]
    ends = [(n, v) for n, _, v in readings if n.endswith("_alarm")]
    assert ends == [("cover_open_alarm", False), ("cover_tilt_alarm", False)]
    assert any(n == "level" and u == "m" for n, u, _ in readings)
    assert any(n == "h2s" and u == "/" for n, u, _ in readings)
