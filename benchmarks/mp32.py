"""A 32-bit MicroPython for heap figures a board would see.

The unix port installed for the tests is a 64-bit build. The webassembly port of the
same MicroPython release, published on npm, is a 32-bit build that loads the same
.mpy files and has ``vfs.VfsRom``: ``benchmarks/mp32_import.mjs`` imports a node's app
slot in it, from .mpy files and from a ROMFS image. This module installs the package
(pinned, into ``.venv/npm``) and runs that probe.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "@micropython/micropython-webassembly-pyscript"
VERSION = "1.29.0-6"  # the release of the unix port (1.29.0): the same .mpy version
PREFIX = ROOT / ".venv" / "npm"
PROBE = Path(__file__).resolve().parent / "mp32_import.mjs"


class Mp32Error(RuntimeError):
    """The 32-bit MicroPython could not be installed or run."""


def package_dir() -> Path:
    """The installed package's directory, installing it with npm when missing."""
    pkg = PREFIX / "node_modules" / PACKAGE
    manifest = pkg / "package.json"
    if manifest.exists() and json.loads(manifest.read_text())["version"] == VERSION:
        return pkg
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise Mp32Error(
            "the 32-bit heap figures need Node.js and npm (Debian: apt-get install -y nodejs npm)"
        )
    PREFIX.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [npm, "install", "--prefix", str(PREFIX), "--no-save", f"{PACKAGE}@{VERSION}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if run.returncode != 0 or not manifest.exists():
        raise Mp32Error(f"npm install {PACKAGE}@{VERSION} failed: {run.stderr.strip()[-800:]}")
    return pkg


def import_heap(slot: Path, image: Path, kit: str, mode: str) -> dict[str, int]:
    """Heap (live bytes, and bytes of new qstr pools) the kit's app takes once imported
    on the 32-bit MicroPython: ``mode`` "mpy" from the slot's files, "romfs" from the
    image (the image buffer left out)."""
    node = shutil.which("node")
    if node is None:
        raise Mp32Error("node (Node.js) is not on PATH: apt-get install -y nodejs")
    run = subprocess.run(
        [node, str(PROBE), str(package_dir()), str(slot), str(image), kit, mode],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    lines = [x for x in run.stdout.splitlines() if x.startswith("@@IMPORT@@ ")]
    if run.returncode != 0 or not lines:
        raise Mp32Error(
            f"32-bit import probe ({kit}, {mode}) failed with exit status {run.returncode}: "
            f"{(run.stdout + run.stderr).strip()[-1500:]}"
        )
    record = json.loads(lines[0].split(" ", 1)[1])
    if record["maxsize"] != 2**31 - 1:
        raise Mp32Error(f"{PACKAGE}@{VERSION} is not a 32-bit build (maxsize {record['maxsize']})")
    return {"bytes": int(record["bytes"]), "qstr_bytes": int(record["qstr_bytes"])}
