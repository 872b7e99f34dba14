"""CPython side of the kit tests: board files, thresholds, cases and runners.

A case is a JSON dict that ``kit_runner.py`` runs in MicroPython (the shadow
``time``/``select`` of ``tests/kits/shadow`` first on the module path, so the
firmware runs in virtual time) or, for the cross-runtime checks, in CPython.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from firmware.app.config import DEFAULTS
from hardware.kits import board_file

__all__ = ["board_file"]
from hardware.scenarios import get as get_scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNNER = HERE / "kit_runner.py"
SHADOW = HERE / "shadow"
CASE_MARK = "@@CASE@@ "
C3 = "esp32c3-devkitm-1"
PICO = "pico-w"

# Thresholds this work proposes for config.DEFAULTS (see the report); the
# tests run with the current defaults overlaid with these.
PROPOSED: dict[str, dict[str, int]] = {
    "elevator": {"rough_rms_mg": 100, "trip_ma": 2000, "estop_mg": 150, "trip_end_ms": 1000},
    "hydrant": {"pressure_low_pa": 200000, "burst_ms": 500, "open_drop_pa": 50000},
    "manhole": {"gas_every": 1, "gas_warmup_ms": 30000},
}
# Install geometry of the scenarios' manhole (hardware/scenarios/manhole.py).
MANHOLE_INSTALL = {"sensor_height_mm": 2850, "level_high_mm": 2450}


def thresholds(kit: str, **extra: int) -> dict[str, int]:
    t = dict(DEFAULTS[kit]["thresholds"])
    t.update(PROPOSED[kit])
    t.update(extra)
    return t


def case(
    kit: str,
    scenario: str | dict[str, Any],
    *,
    board: str = C3,
    mode: str | None = None,
    period_ms: int = 60000,
    duration_ms: int | None = None,
    faults: tuple[str, ...] = (),
    th: dict[str, int] | None = None,
    name: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    scen = get_scenario(scenario) if isinstance(scenario, str) else scenario
    c: dict[str, Any] = {
        "name": name or scen["name"],
        "board": board_file(board, kit),
        "scenario": scenario,
        "mode": mode or ("mains_async" if kit == "elevator" else "battery"),
        "thresholds": thresholds(kit, **(th or {})),
        "period_ms": period_ms,
        "duration_ms": duration_ms or scen["duration_ms"],
        "faults": list(faults),
    }
    c.update(extra)
    return c


def scenario(name: str) -> dict[str, Any]:
    """A scenario dict (a copy the test may edit)."""
    return copy.deepcopy(get_scenario(name))


def run_cpython(cases: list[dict[str, Any]], timeout: float = 60) -> list[dict[str, Any]]:
    """Runs the cases in a CPython subprocess (the virtual clock is patched
    into its time module, which must not happen inside pytest)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(RUNNER)],
        input=json.dumps({"cases": cases}).encode(),
        capture_output=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
        check=False,
    )
    out = proc.stdout.decode()
    results = parse_cases(out)
    if proc.returncode != 0 or len(results) != len(cases):
        raise AssertionError(f"kit_runner under CPython failed:\n{out}\n{proc.stderr.decode()}")
    return results


def parse_cases(stdout: str) -> list[dict[str, Any]]:
    """The per-case results a kit_runner printed."""
    n = len(CASE_MARK)
    return [json.loads(ln[n:]) for ln in stdout.splitlines() if ln.startswith(CASE_MARK)]


# --- result helpers -------------------------------------------------------------


def alarms(res: dict[str, Any], kind: str | None = None) -> list[list[Any]]:
    return [a for a in res["alarms"] if kind is None or a[1] == kind]


def kinds(res: dict[str, Any]) -> list[str]:
    return [a[1] for a in res["alarms"]]


def readings(res: dict[str, Any], name: str) -> list[list[Any]]:
    return [r for r in res["readings"] if r[1] == name]


def total(res: dict[str, Any], name: str) -> int:
    return sum(r[2] for r in readings(res, name))


def record(alarm: list[Any], name: str) -> Any:
    for n, v in alarm[3]:
        if n == name:
            return v
    raise KeyError(name)
