"""The A02YYUW and ZE03 UART simulators, in both runtimes (``hw``)."""

from __future__ import annotations

from typing import Any

from hardware.sim import ze03


def test_a02yyuw_frames(hw: dict[str, Any]) -> None:
    """Proves FF H L SUM frames with SUM = (FF + H + L) & FF, the first 300 ms
    after power-up plus one period, then one every 100 ms; 0 inside the 30 mm
    blind zone and beyond 4500 mm; node writes ignored; the RX pin level
    recorded; nothing while unpowered; a long gap yields only the newest 32
    frames and counts the skipped ones."""
    r = hw["a02yyuw"]
    assert r["at_0"] == r["before_first"] == ""
    assert r["first"] == "ff04d2d5"  # 1234 mm
    assert r["to_1000"] == [[1234] * 6, 0]
    assert r["processed"] is False
    assert r["blind"] == 0
    assert r["far"] == 0
    assert r["off"] == r["just_on"] == ""
    assert r["first_after_on"] == 4
    assert r["backlog_frames"] == 32
    assert r["skipped"] == 36000 - 32 + 13


def test_a02yyuw_faults(hw: dict[str, Any]) -> None:
    """Proves bad checksums, silence, garbage bytes between frames (a
    resynchronising parser still gets every frame) and out-of-range values."""
    r = hw["a02yyuw"]
    assert r["bad_checksum"] == "ff05dce1ff05dce1"  # SUM is 0xE0 for 1500 mm
    assert r["silence"] == ""
    assert r["noise_len"] > 40
    assert r["noise_parsed"] == [1500] * 10
    assert r["out_of_range"] == "ff271036"  # 10000 mm


def test_ze03_checksum_of_the_literal_commands() -> None:
    """Proves the checksum function reproduces the datasheet commands' last
    byte: FF 01 78 04 ... 83, FF 01 78 03 ... 84, FF 01 86 ... 79."""
    assert ze03.checksum(bytes.fromhex("ff0178040000000083")) == 0x83
    assert ze03.checksum(bytes.fromhex("ff0178030000000084")) == 0x84
    assert ze03.checksum(bytes.fromhex("ff0186000000000079")) == 0x79
    assert ze03.CMD_QA.hex() == "ff0178040000000083"
    assert ze03.CMD_READ.hex() == "ff0186000000000079"


def test_ze03_modes(hw: dict[str, Any]) -> None:
    """Proves active upload (FF 03 03 01 CH CL 03 E8 CS every second, 0.1 ppm
    units), the read command answered 20 ms later with FF 86 CH CL 00 00 CH CL
    CS, the switch to Q&A (split writes, garbage before it) silencing the
    periodic frames, bad-checksum commands ignored, clipping at the full
    range, the switch back to active, and a power cycle restoring active mode."""
    r = hw["ze03"]
    assert r["cmd_checksums"] == r["cmd_last"]
    assert r["before_1s"] == ""
    assert r["active"] == "ff030301000a03e804ff030301001403e8faff030301001e03e8f0"
    assert r["read_in_active"] == "ff86001e0000001e3e"
    assert r["qa_silent"] == ""
    assert r["qa_19ms"] == ""
    assert r["qa_answer"] == "ff86003c0000003c02"  # 6.0 ppm at 6020 ms
    assert r["bad_command"] == ""
    assert r["clipped"] == "ff8603e8000003e8a4"
    assert r["back_active"].startswith("ff030301")
    assert r["after_power_cycle"].startswith("ff030301")
    for name in ("active", "qa_answer", "clipped"):
        frame = bytes.fromhex(r[name][-18:])
        assert ze03.valid(frame), name


def test_ze03_faults(hw: dict[str, Any]) -> None:
    """Proves bad checksums, no answer, garbage bytes before a frame, and
    saturation at the full range."""
    r = hw["ze03"]
    assert not ze03.valid(bytes.fromhex(r["bad_checksum"]))
    assert r["bad_checksum"][:16] == "ff86003d0000003d"
    assert r["no_answer"] == ""
    assert r["noise"].endswith("ff86003f0000003ffc")
    assert len(r["noise"]) > 18
    assert r["saturate"] == "ff8603e8000003e8a4"


def test_ze03_warmup(hw: dict[str, Any]) -> None:
    """Proves the gas module's warm-up (an assumption of the simulator, see
    hardware/sim/ze03.py): 10 ppm reads 0 at power-on, half after 15 s, the
    full 10.0 ppm from WARMUP_MS (30 s) on; the power-on time and the mode
    survive state()/load() (a deep sleep of the board with the switch held),
    and a power cycle starts the warm-up again."""
    r = hw["ze03_warmup"]
    assert r["warmup_ms"] == ze03.WARMUP_MS == 30000
    values = [int(f[4:8], 16) for f in r["reads"]]
    assert values == [0, 50, 100, 100]
    assert int(r["after_load"][4:8], 16) == 100
    assert int(r["after_power_cycle"][4:8], 16) == 0
