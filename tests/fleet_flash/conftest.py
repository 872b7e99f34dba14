"""Fixtures for the ``fleet flash`` tests: the bundle, blank virtual boards, the
fleet stack (Mosquitto, edge agent, fleet API stand-in) and a flash runner."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from flash_support import Stack, VirtualBoard, fleet_stack  # noqa: E402

from fleet.bundle import Bundle, build  # noqa: E402
from fleet.flash.flow import FlashOptions, FlashResult, flash  # noqa: E402
from fleet.flash.registry_client import HttpRegistry  # noqa: E402
from fleet.flash.report import Reporter  # noqa: E402
from fleet.flash.resume import ResumeStore  # noqa: E402


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    """The firmware of this tree compiled with the real mpy-cross (once)."""
    return build()


@pytest.fixture(scope="session")
def elevator_bundle() -> Bundle:
    """The same for the elevator kit only (what ``fleet flash --kit elevator`` builds)."""
    return build(kits=["elevator"])


@pytest.fixture
def boards(tmp_path: Path) -> Iterator[Callable[..., VirtualBoard]]:
    """``boards(blocks=512, name="b")``: a started blank board, closed at teardown."""
    made: list[VirtualBoard] = []

    def make(**kw: Any) -> VirtualBoard:
        b = VirtualBoard(tmp_path, **kw)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Mosquitto, the fleet manager (API, ingester, edge-sync) and an edge agent."""
    with fleet_stack(tmp_path) as s:
        yield s


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "flash-state"


@pytest.fixture
def run_flash(stack: Any, bundle: Bundle, state_dir: Path) -> Callable[..., FlashResult]:
    """``run_flash(board, reporter=None, connect=None, bundle=None, **options)`` through
    the real flow (``bundle``: another than the all-kits one)."""
    default = bundle

    def run(
        device: VirtualBoard | None,
        *,
        reporter: Reporter | None = None,
        connect: Any = None,
        bundle: Bundle | None = None,
        **kw: Any,
    ) -> FlashResult:
        opts = FlashOptions(
            port=kw.pop("port", device.port if device is not None else ""),
            work_order=kw.pop("work_order", stack.wo1),
            api=stack.url,
            hello_timeout=kw.pop("hello_timeout", 60.0),
            **kw,
        )
        return flash(
            opts,
            bundle=bundle or default,
            registry=HttpRegistry(stack.url, stack.token),
            reporter=reporter,
            store=ResumeStore(state_dir),
            connect=connect,
        )

    return run
