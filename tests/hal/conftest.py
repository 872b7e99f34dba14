"""Helpers for the simulated-board tests: the real micropython binary and boot."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hal_helpers import BOOT, MP_DIR, REPO, SIMTIME, BootBoard, RunMp

from hardware.hal.supervisor import find_micropython


@pytest.fixture(scope="session")
def micropython() -> str:
    return find_micropython()


@pytest.fixture
def run_mp(micropython: str, tmp_path: Path) -> RunMp:
    """Run MicroPython code with the shadow time/select first on the path."""

    def run(
        code: str, *, env: dict[str, str] | None = None, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        script = tmp_path / "script.py"
        script.write_text(code)
        full = dict(os.environ)
        full["MICROPYPATH"] = f"{SIMTIME}:{REPO}:{MP_DIR}:.frozen"
        full.update(env or {})
        return subprocess.run(
            [micropython, str(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full,
            check=False,
            cwd=tmp_path,
        )

    return run


@pytest.fixture
def boot_board(micropython: str, tmp_path: Path) -> BootBoard:
    """Write firmware module `app` and a config, run boot.py once."""

    def run(
        app: str,
        config: dict[str, object] | None = None,
        *,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        fw = tmp_path / "fw"
        fw.mkdir(exist_ok=True)
        (fw / "app.py").write_text(app)
        cfg: dict[str, object] = {
            "entry": "app",
            "paths": [str(fw), str(MP_DIR)],
            "flash": {"image": str(tmp_path / "flash.img"), "blocks": 32},
        }
        cfg.update(config or {})
        path = tmp_path / "board.json"
        path.write_text(json.dumps(cfg))
        full = {k: v for k, v in os.environ.items() if not k.startswith("CITYNERVE_")}
        full.pop("MICROPYPATH", None)
        full.update(env or {})
        return subprocess.run(
            [micropython, str(BOOT), str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full,
            check=False,
            cwd=tmp_path,
        )

    return run
