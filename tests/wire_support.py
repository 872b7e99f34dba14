"""Shared constants of the wire-protocol tests (imported by tests/conftest.py and the
test modules; test modules must not import conftest, of which there are several)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from micropython_harness import MP_DIR, TESTS_DIR

VECTORS = TESTS_DIR / "vectors"
WIRE_RUNNER = MP_DIR / "wire_runner.py"
#: boots the compiled runner (a script in tests/mp itself would import the .py
#: files beside it instead of the compiled helpers)
RUNNER_BOOT = "import wire_runner\nwire_runner.main()\n"

MP = pytest.mark.micropython
#: every runtime the vector runner runs in
ALL_RUNTIMES = [
    "cpython",
    pytest.param("micropython", marks=MP),
    pytest.param("micropython-mpy", marks=MP),
]


def run_in_cpython(req: dict[str, Any]) -> Any:
    """The vector runner in this interpreter, its result passed through JSON exactly as
    MicroPython's would be."""
    import wire_runner

    return json.loads(json.dumps(wire_runner.run(req)))
