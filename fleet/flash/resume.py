"""The technician's resume file: a provisioned node kept until it is installed.

The registry returns a node's key once. So that an interrupted flash can be
run again without provisioning a second node, ``fleet flash`` keeps what it got
(node id, key, config) in ``STATE_DIR/<work order>.json`` — a key file: mode
0600 in a 0700 directory, written under a temp name and renamed — and removes
it once the node is marked installed. The key is never printed or logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from fleet.flash.registry_client import Provisioned, decode_key

FORMAT = 1
STATE_ENV = "CITYNERVE_FLASH_STATE"


class ResumeError(Exception):
    """The resume file cannot be used; the message names it."""


def default_dir() -> Path:
    """``$CITYNERVE_FLASH_STATE``, else ``$XDG_STATE_HOME/citynerve/flash`` (~/.local/state)."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "citynerve" / "flash"


def _safe(work_order: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", work_order)[:100] or "_"


class ResumeStore:
    """Provisioned nodes waiting to be installed, one file per work order."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or default_dir()

    def path(self, work_order: str) -> Path:
        return self.dir / f"{_safe(work_order)}.json"

    def load(self, work_order: str, api: str) -> tuple[Provisioned, str] | None:
        """The node kept for ``work_order`` on the API ``api``, and its board, or None."""
        path = self.path(work_order)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ResumeError(
                f"resume file {path} can be read by other users (mode "
                f"{stat.S_IMODE(st.st_mode):o}): it holds a node key; chmod 600 it, and have "
                "the node's key replaced if others may have read it"
            )
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != FORMAT or doc.get("work_order") != work_order:
                raise ValueError("format or work order")
            if doc.get("api") != api:
                return None
            node = Provisioned(
                str(doc["node_id"]),
                decode_key(doc["key"]),
                dict(doc["config"]),
                doc.get("board_file"),
            )
            return node, str(doc["board"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ResumeError(
                f"resume file {path} is damaged ({type(e).__name__}); remove it and rerun "
                "(the registry then provisions again)"
            ) from None

    def save(self, work_order: str, api: str, node: Provisioned, board: str) -> Path:
        """Keep ``node`` (mode 0600, atomically)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(self.dir, 0o700)
        doc: dict[str, Any] = {
            "format": FORMAT,
            "work_order": work_order,
            "api": api,
            "node_id": node.node_id,
            "key": node.key.hex(),
            "config": node.config,
            "board_file": node.board_file,
            "board": board,
        }
        path = self.path(work_order)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps(doc).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return path

    def forget(self, work_order: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(work_order).unlink()
