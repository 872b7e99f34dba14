"""Fixtures of the kit tests: groups of cases run once per session under the
real MicroPython unix port (one process per group), results shared by tests.
A missing ``micropython`` binary FAILS the tests (never skips)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import kit_support as K  # noqa: E402


class KitRunner:
    def __init__(self, mp: Any) -> None:
        self.mp = mp

    def run(
        self, cases: list[dict[str, Any]], timeout: float = 60, heap: str = "8m"
    ) -> dict[str, dict[str, Any]]:
        """Runs the cases in one MicroPython process; results by case name."""
        r = self.mp.run(
            K.RUNNER,
            input={"cases": cases},
            heap=heap,
            timeout=timeout,
            extra_path=(str(K.SHADOW), str(K.HERE)),
        )
        results = K.parse_cases(r.stdout)
        assert r.output == len(cases) == len(results), r.describe()
        return {c["name"]: c for c in results}


@pytest.fixture(scope="session")
def kit_runner(micropython_runner: Any) -> KitRunner:
    return KitRunner(micropython_runner)
