"""The simulators give the same bytes under MicroPython and CPython."""

from __future__ import annotations

from typing import Any

import hw_cases


def test_every_case_ran_in_both_runtimes(hw_results: dict[str, Any]) -> None:
    """Proves every case completed (no exception) under both runtimes."""
    names = [name for name, _ in hw_cases.CASES]
    for runtime, results in hw_results.items():
        assert sorted(results) == sorted(names), runtime
        errors = {k: v for k, v in results.items() if isinstance(v, dict) and "error" in v}
        assert not errors, (runtime, errors)


def test_outputs_identical_across_runtimes(hw_results: dict[str, Any]) -> None:
    """Proves each case's full output (register values, byte traces, digests)
    is identical under the real MicroPython unix port and CPython."""
    cp, mp = hw_results["cpython"], hw_results["micropython"]
    for name in cp:
        assert cp[name] == mp[name], name


def test_recorded_byte_traces_match(hw_results: dict[str, Any]) -> None:
    """Proves a recorded scenario run (every I2C transfer and 1-Wire byte of
    the hydrant kit through a water hammer; every UART byte of the manhole
    kit through the rainstorm) hashes the same in both runtimes, and is long
    enough to mean something."""
    cp, mp = hw_results["cpython"], hw_results["micropython"]
    assert cp["trace_hydrant"]["sha256"] == mp["trace_hydrant"]["sha256"]
    assert cp["trace_hydrant"]["transfers"] > 1000
    assert cp["trace_manhole"]["sha256"] == mp["trace_manhole"]["sha256"]
    assert cp["trace_manhole"]["bytes"] > 4000
    assert cp["trace_hydrant"]["first"][:3] == [["w", 0x53, "310b"], ["w", 0x53, "389f"],
                                                 ["w", 0x53, "2d08"]]  # fmt: skip
