"""Fixtures of the firmware tests (real MicroPython, real littlefs, the real edge agent).

``fw_mp``     runs a script of tests/firmware/mp under MicroPython with that directory
              and the repository on the module path; returns the parsed result.
``broker``    a private Mosquitto for the module (the edge tests' helper).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent / "edge"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from edge_helpers import Broker  # noqa: E402
from fw_helpers import MP  # noqa: E402
from micropython_harness import MicroPython  # noqa: E402


@pytest.fixture
def fw_mp(micropython_runner: MicroPython) -> Callable[..., Any]:
    """fw_mp(script_name, request, heap="256k", timeout=60) -> the script's JSON result."""

    def run(script: str, request: Any, *, heap: str = "256k", timeout: float = 60.0) -> Any:
        result = micropython_runner.run(
            MP / script, heap=heap, input=request, timeout=timeout, extra_path=(str(MP),)
        )
        return result.output

    return run


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A private Mosquitto (persistence on, no queue limit) on a free loopback port."""
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    yield b
    b.stop()
