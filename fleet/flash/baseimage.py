"""The optional first step for a blank board: install MicroPython itself.

- ESP32-C3: ``esptool`` writes the MicroPython image (``.bin``) at offset 0 over
  the same serial port, erasing the flash first (``--erase-all``).
- Raspberry Pi Pico W: the board in BOOTSEL mode shows up as a USB drive
  (``RPI-RP2``, with ``INFO_UF2.TXT``); copying the ``.uf2`` file onto it
  installs MicroPython and the board restarts.

:func:`plan` checks the image file and says what would run (the command, or
the copy); :func:`run` carries it out. ``fleet flash --micropython-image FILE
--dry-run`` prints the plan and stops.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ESP_IMAGE_MAGIC = 0xE9
UF2_MAGIC = (0x0A324655, 0x9E5D5157)
# board -> (chip for esptool, flash offset) or "uf2"
TARGETS: dict[str, tuple[str, str] | str] = {
    "esp32c3-devkitm-1": ("esp32c3", "0x0"),
    "pico-w": "uf2",
}
UF2_LABEL = "RPI-RP2"


class BaseImageError(Exception):
    """The base image cannot be installed; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Plan:
    """What installing the base image means for this board."""

    board: str
    image: Path
    command: list[str] | None = None  # esptool
    copy_to: Path | None = None  # UF2 drive

    def describe(self) -> str:
        if self.command is not None:
            return shlex.join(self.command)
        return f"cp {shlex.quote(str(self.image))} {shlex.quote(str(self.copy_to))}/"


def _check_image(board: str, image: Path, kind: str) -> None:
    try:
        head = image.read_bytes()[:8]
    except OSError as e:
        raise BaseImageError(
            f"MicroPython image {image}: {e.strerror}",
            "download the board's MicroPython firmware and pass its path",
        ) from None
    if kind == "uf2":
        ok = (
            len(head) == 8
            and (
                int.from_bytes(head[:4], "little"),
                int.from_bytes(head[4:8], "little"),
            )
            == UF2_MAGIC
        )
        want = "a .uf2 file"
    else:
        ok = len(head) > 0 and head[0] == ESP_IMAGE_MAGIC
        want = "an ESP32 firmware .bin (starting with 0xE9)"
    if not ok:
        raise BaseImageError(
            f"MicroPython image {image} is not {want} for a {board}",
            f"use the MicroPython firmware made for the {board}",
        )


def find_uf2_drive(search: list[Path] | None = None) -> Path | None:
    """The mounted ``RPI-RP2`` drive of a Pico in BOOTSEL mode, if any."""
    user = getpass.getuser()
    candidates = search or [
        Path("/media") / user / UF2_LABEL,
        Path("/run/media") / user / UF2_LABEL,
        Path("/media") / UF2_LABEL,
        Path("/mnt") / UF2_LABEL,
        Path("/Volumes") / UF2_LABEL,
    ]
    for path in candidates:
        if is_uf2_drive(path):
            return path
    return None


def is_uf2_drive(path: Path) -> bool:
    info = path / "INFO_UF2.TXT"
    try:
        return info.is_file() and "RP2" in info.read_text(errors="replace")
    except OSError:
        return False


def plan(
    board: str, image: Path, port: str, *, uf2_drive: Path | None = None, baud: int = 460800
) -> Plan:
    """What would install ``image`` on ``board``; BaseImageError when it cannot."""
    target = TARGETS.get(board)
    if target is None:
        raise BaseImageError(
            f"no base-image step for board {board}",
            f"boards with one: {', '.join(TARGETS)}",
        )
    if target == "uf2":
        _check_image(board, image, "uf2")
        drive = uf2_drive or find_uf2_drive()
        if drive is None or not is_uf2_drive(drive):
            where = f" at {drive}" if drive is not None else ""
            raise BaseImageError(
                f"no Pico in BOOTSEL mode found (no {UF2_LABEL} drive with INFO_UF2.TXT{where})",
                "hold the BOOTSEL button while plugging the Pico W in, wait for the RPI-RP2 "
                "drive to appear (or pass it with --uf2-drive), then retry",
            )
        return Plan(board, image, copy_to=drive)
    assert isinstance(target, tuple)
    chip, offset = target
    _check_image(board, image, "esp")
    command = [
        sys.executable,
        "-m",
        "esptool",
        "--chip",
        chip,
        "--port",
        port,
        "--baud",
        str(baud),
        "write_flash",
        "--erase-all",
        offset,
        str(image),
    ]
    return Plan(board, image, command=command)


def run(p: Plan, *, port: str, wait_s: float = 30.0) -> None:
    """Install the base image, then wait for the board's serial port to come back."""
    if p.command is not None:
        try:
            import esptool  # type: ignore[import-not-found]  # noqa: F401, PLC0415
        except ImportError:
            raise BaseImageError(
                "esptool is not installed", "pip install esptool, then retry"
            ) from None
        done = subprocess.run(p.command, check=False)  # noqa: S603 - our own command line
        if done.returncode != 0:
            raise BaseImageError(
                f"esptool failed (exit status {done.returncode}) writing {p.image} on {port}",
                "hold the board's BOOT button while pressing RESET (download mode) and retry; "
                "see esptool's message above",
            )
    else:
        assert p.copy_to is not None
        target = p.copy_to / p.image.name
        try:
            shutil.copyfile(p.image, target)
            with contextlib.suppress(OSError):  # a drive that is going away
                fd = os.open(target, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        except OSError as e:
            raise BaseImageError(
                f"copying {p.image} to {p.copy_to} failed: {e.strerror}",
                "check that the RPI-RP2 drive is mounted and writable, then retry",
            ) from None
    deadline = time.monotonic() + wait_s
    while not os.path.exists(port):
        if time.monotonic() > deadline:
            raise BaseImageError(
                f"{port} did not come back within {wait_s:g} s after installing MicroPython",
                "unplug and plug the board in again, then rerun without --micropython-image",
            )
        time.sleep(0.2)
    time.sleep(1.0)  # let MicroPython boot to its REPL
