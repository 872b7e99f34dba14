"""The node's provisioned files (firmware/app/config.py: cfg/node.json, cfg/key.bin,
cfg/board.json) with garbage in them: every case is refused with a ConfigError that
names the file and what was wrong, never any other exception, and a whole config
passes. The same cases run in CPython and in the real MicroPython, from source and
from .mpy (tests/mp/config_cases.py)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from micropython_harness import MP_DIR
from wire_support import ALL_RUNTIMES

GOOD: dict[str, Any] = {
    "format": 1,
    "node_id": "ja-hyd-000001",
    "kit": "hydrant",
    "edge": {"tcp": ["10.0.0.2:7700"]},
}


def patched(**changes: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is ...:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


# (config, what the message must say)
CHECK_CASES: list[tuple[Any, str]] = [
    ([], "cfg/node.json: must be a JSON object"),
    ("node", "must be a JSON object"),
    (patched(format=...), "format None, this firmware reads 1"),
    (patched(format=2), "format 2, this firmware reads 1"),
    (patched(node_id=...), "missing key 'node_id'"),
    (patched(node_id=7), "'node_id' has the wrong type"),
    (patched(node_id=""), "'node_id' must be 1..64 characters"),
    (patched(node_id="n" * 65), "'node_id' must be 1..64 characters"),
    (patched(kit="toaster"), "'kit' must be one of elevator, hydrant, manhole, got 'toaster'"),
    (patched(edge=...), "missing key 'edge'"),
    (patched(edge=[]), "'edge' has the wrong type"),
    (patched(edge={}), "'edge' needs 'tcp' or 'serial'"),
    (patched(edge={"tcp": []}), "'edge.tcp' must be a non-empty list"),
    (patched(edge={"tcp": "10.0.0.2:7700"}), "'edge.tcp' must be a non-empty list"),
    (patched(edge={"tcp": ["nohost"]}), "'edge.tcp' entry 'nohost' is not HOST:PORT"),
    (patched(edge={"tcp": ["h:70000"]}), "'edge.tcp' entry 'h:70000' is not HOST:PORT"),
    (patched(edge={"tcp": [":7700"]}), "is not HOST:PORT"),
    (patched(edge={"serial": {"uart": "1"}}), "'edge.serial' needs an integer 'uart'"),
    (patched(power="solar"), "'power' must be 'mains' or 'battery'"),
    (patched(sample_s=0), "'sample_s' must be a positive integer"),
    (patched(sample_s=True), "'sample_s' must be a positive integer"),
    (patched(batch_readings="16"), "'batch_readings' must be a positive integer"),
    (patched(thresholds=[]), "'thresholds' must be an object"),
    (patched(thresholds={"nope": 1}), "unknown threshold 'nope' for kit hydrant"),
    (patched(thresholds={"tilt_cdeg": 1.5}), "threshold 'tilt_cdeg' must be an integer"),
    (patched(thresholds={"tilt_cdeg": True}), "threshold 'tilt_cdeg' must be an integer"),
]

KEY = "11" * 32
BOARD = json.dumps({"format": 1, "board": "esp32c3-devkitm-1", "kit": "hydrant"})
NODE = json.dumps(GOOD)
# (node.json, key.bin as hex, board.json, what the message must say)
LOAD_CASES: list[tuple[str | None, str | None, str | None, str]] = [
    (None, KEY, BOARD, "cfg/node.json: missing (the node is not provisioned)"),
    ("{", KEY, BOARD, "cfg/node.json: not valid JSON"),
    ("\xff\xfe", KEY, BOARD, "cfg/node.json: not valid JSON"),
    (NODE, None, BOARD, "cfg/key.bin: missing"),
    (NODE, "11" * 8, BOARD, "cfg/key.bin: key is 8 bytes, needs at least 16"),
    (NODE, KEY, None, "cfg/board.json: missing"),
    (NODE, KEY, "[]", "cfg/board.json: must be the board file for kit hydrant"),
    (
        NODE,
        KEY,
        json.dumps({"format": 1, "board": "x", "kit": "manhole"}),
        "cfg/board.json: must be the board file for kit hydrant",
    ),
    (
        NODE,
        KEY,
        json.dumps({"format": 1, "board": "x", "kit": "hydrant", "deep_wake": "ext0"}),
        "cfg/board.json: 'deep_wake' must be one of pin_irq, esp32_gpio, got 'ext0'",
    ),
]


def run_cases(runtime: str, request: pytest.FixtureRequest, scratch: Path) -> dict[str, Any]:
    req = {
        "check": [c for c, _ in CHECK_CASES] + [GOOD],
        "load": [{"node": n, "key_hex": k, "board": b} for n, k, b, _ in LOAD_CASES]
        + [{"node": NODE, "key_hex": KEY, "board": BOARD}],
        "dir": str(scratch),
    }
    if runtime == "cpython":
        sys.path.insert(0, str(MP_DIR))
        try:
            import config_cases
        finally:
            sys.path.remove(str(MP_DIR))
        return json.loads(json.dumps(config_cases.run(req)))
    mpy_run = request.getfixturevalue("mpy_run")
    result = mpy_run(
        "import config_cases\nconfig_cases.main()\n",
        input=req,
        mpy=runtime == "micropython-mpy",
    )
    return dict(result.output)


@pytest.mark.parametrize("runtime", ALL_RUNTIMES)
def test_garbage_config_is_refused_naming_file_and_key(
    runtime: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    out = run_cases(runtime, request, tmp_path)
    implementation, source = out["where"]
    assert implementation == ("cpython" if runtime == "cpython" else "micropython")
    assert source.endswith(".mpy" if runtime == "micropython-mpy" else ".py"), source
    *bad, good = out["check"]
    for (cfg, want), got in zip(CHECK_CASES, bad, strict=True):
        assert got.startswith("ConfigError: ") and want in got, (cfg, got)
    assert good == "ok"
    *bad, good = out["load"]
    for (_n, _k, _b, want), got in zip(LOAD_CASES, bad, strict=True):
        assert got.startswith("ConfigError: ") and want in got, got
    assert good == "ok"
