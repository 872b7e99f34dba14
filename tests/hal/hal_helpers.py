"""Shared constants and types of the simulated-board tests (tests/hal)."""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Callable
from pathlib import Path

from hardware.hal.supervisor import BOOT, REPO

MP_DIR = Path(__file__).parent / "mp"
SIMTIME = REPO / "hardware" / "simtime"
RunMp = Callable[..., subprocess.CompletedProcess[str]]
BootBoard = Callable[..., subprocess.CompletedProcess[str]]

__all__ = ["BOOT", "MP_DIR", "REPO", "SIMTIME", "BootBoard", "RunMp", "child_cpu"]


def child_cpu() -> float:
    """CPU seconds used so far by waited-for children of this process."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
