"""The simulated NOR flash chip and littlefs on it (real MicroPython, real littlefs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hal_helpers import MP_DIR, REPO, RunMp

from hardware.flash import nor
from hardware.flash.tool import FlashImage, FlashToolError

pytestmark = pytest.mark.micropython


def test_nor_semantics_under_cpython(tmp_path: Path) -> None:
    """Erase gives 0xFF, a write only clears bits (AND), a bit-setting write is
    counted, counters and wear add up, and a power cut tears the n-th write then
    fails every later one with EIO until power_on()."""
    img = tmp_path / "nor.img"
    nor.create(str(img), 4, 512)
    assert img.read_bytes() == b"\xff" * 2048
    chip = nor.NorFlash(str(img), 512)
    assert (chip.ioctl(4, 0), chip.ioctl(5, 0)) == (4, 512)
    chip.writeblocks(1, bytearray(b"\x0f\xf0"), 10)
    chip.writeblocks(1, bytearray(b"\x0f\x30"), 10)  # clears bits only: fine
    assert chip.bad_writes == 0
    chip.writeblocks(1, bytearray(b"\xf1\xff"), 10)  # would set bits of 0x0f
    assert chip.bad_writes == 1
    buf = bytearray(2)
    chip.readblocks(1, buf, 10)
    assert bytes(buf) == bytes([0x0F & 0xF1, 0x30])
    chip.ioctl(6, 1)
    chip.readblocks(1, buf, 10)
    assert bytes(buf) == b"\xff\xff"
    assert (chip.writes, chip.erases, chip.wear) == (3, 1, [0, 1, 0, 0])

    chip.cut_after_writes(2)
    chip.writeblocks(2, bytearray(8), 0)  # 1st: lands whole
    with pytest.raises(OSError) as cut:
        chip.writeblocks(2, bytearray(16), 8)  # 2nd: half lands, then power is gone
    assert cut.value.args[0] == 5
    with pytest.raises(OSError):
        chip.ioctl(6, 3)
    with pytest.raises(OSError):
        chip.writeblocks(3, bytearray(1), 0)
    raw = img.read_bytes()[2 * 512 : 2 * 512 + 32]
    assert raw == b"\x00" * 8 + b"\x00" * 8 + b"\xff" * 16
    assert chip.stats()["cuts"] == 1
    chip.power_on()
    chip.writeblocks(3, bytearray(1), 0)
    with pytest.raises(OSError) as bad:
        chip.readblocks(4, buf, 0)
    assert bad.value.args[0] == 22
    chip.close()


def test_nor_semantics_under_micropython(run_mp: RunMp, tmp_path: Path) -> None:
    """The same chip under the real MicroPython: AND semantics, torn erase keeps
    the unerased tail, quiet mode returns -EIO instead of raising."""
    result = run_mp(
        f"""
from hardware.flash import nor
nor.create("{tmp_path}/m.img", 4, 256)
c = nor.NorFlash("{tmp_path}/m.img", 256, quiet=True)
c.writeblocks(0, bytearray(b"\\x3c" * 256), 0)
c.writeblocks(0, bytearray(b"\\xc3" * 4), 0)
b = bytearray(4); c.readblocks(0, b, 0)
print("and", b == bytearray(4), c.bad_writes)
c.cut_after_writes(1, 100)
print("torn", c.ioctl(6, 0))
c.power_on(); c.readblocks(0, b, 96); print("head", list(b))
c.readblocks(0, b, 100); print("tail", list(b))
"""
    )
    assert result.returncode == 0, result.stderr
    assert "and True 1" in result.stdout
    assert "torn -5" in result.stdout
    assert "head [255, 255, 255, 255]" in result.stdout
    assert "tail [60, 60, 60, 60]" in result.stdout


@pytest.mark.parametrize("mode", ["quiet", "raise"])
def test_power_cut_at_every_write(micropython: str, tmp_path: Path, mode: str) -> None:
    """A power cut at every write/erase index of (a) writing a new file, (b)
    rewriting two files by write-temp-then-rename, (c) appending: littlefs
    remounts every time, each file holds its old or its new content (never a
    mix; the second rename never lands before the first), the filesystem takes
    new writes, and littlefs never programs unerased flash. quiet: cuts that land
    half, nothing, or all but one byte; raise: the chip raises OSError(EIO)."""
    import subprocess

    result = subprocess.run(
        [micropython, str(MP_DIR / "powercut.py"), str(REPO), str(tmp_path), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.stdout.rstrip().endswith("OK")
    assert {r["scenario"] for r in rows} == {"new_file", "rename", "append"}
    for r in rows:
        # Every write index up to the completing run was cut once.
        assert r["cuts"] == r["ops"] >= 10, r


def test_flash_tool_round_trip(tmp_path: Path) -> None:
    """FlashImage formats an image and copies files in and out through the real
    littlefs; errors name the image."""
    image = FlashImage(tmp_path / "node.img", blocks=32)
    image.format()
    image.write_files({"config.json": '{"a": 1}', "lib/blob.bin": bytes(range(256))})
    assert image.listdir() == ["config.json", "lib"]
    assert image.listdir("lib") == ["blob.bin"]
    assert image.read_file("lib/blob.bin") == bytes(range(256))
    with pytest.raises(FlashToolError, match=r"node\.img.*OSError\(2"):
        image.read_file("missing")
    blank = FlashImage(tmp_path / "blank.img", blocks=32)
    blank.create()
    with pytest.raises(FlashToolError, match=r"blank\.img.*no littlefs"):
        blank.listdir()
