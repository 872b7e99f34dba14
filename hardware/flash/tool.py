"""Read and write files in a flash image from CPython, through the real littlefs.

Each operation runs a short script under the real ``micropython`` binary that
opens the image with :mod:`hardware.flash.nor`, mounts it with ``vfs.VfsLfs2``
and copies files in or out (no littlefs implementation on the CPython side).
Errors raise :class:`FlashToolError` naming the image.
"""

from __future__ import annotations

import binascii
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hardware.hal.supervisor import REPO, SupervisorError, find_micropython

_PRELUDE = """
import sys, os, vfs, binascii, json
sys.path.insert(0, %(repo)r)
from hardware.flash import nor
bdev = nor.NorFlash(%(image)r, %(block_size)d)
"""

_MOUNT = """
try:
    fs = vfs.VfsLfs2(bdev)
except OSError as e:
    print("ERROR no littlefs on the image (%r): format it first" % (e,))
    sys.exit(3)
vfs.mount(fs, "/flash")
"""


class FlashToolError(RuntimeError):
    """A flash image operation failed; the message names the image."""


class FlashImage:
    """A flash image file holding littlefs, used from CPython."""

    def __init__(
        self,
        path: str | Path,
        *,
        blocks: int = 512,
        block_size: int = 4096,
        micropython: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.path = Path(path).resolve()
        self.blocks = blocks
        self.block_size = block_size
        self.timeout = timeout
        try:
            self.micropython = micropython or find_micropython()
        except SupervisorError as e:
            raise FlashToolError(f"flash image {self.path}: {e}") from None

    def _run(self, body: str) -> str:
        script = (
            _PRELUDE % {"repo": str(REPO), "image": str(self.path), "block_size": self.block_size}
            + body
        )
        fd, name = tempfile.mkstemp(suffix=".py", prefix="flashtool-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(script)
            try:
                result = subprocess.run(  # noqa: S603 (our own micropython command)
                    [self.micropython, name],
                    capture_output=True,
                    timeout=self.timeout,
                    check=False,
                    env={k: v for k, v in os.environ.items() if k != "MICROPYPATH"},
                )
            except subprocess.TimeoutExpired:
                raise FlashToolError(
                    f"flash image {self.path}: micropython took over {self.timeout} s"
                ) from None
        finally:
            os.unlink(name)
        out = result.stdout.decode("utf-8", "replace")
        if result.returncode != 0:
            err = result.stderr.decode("utf-8", "replace").strip()
            detail = "\n".join(x for x in (out.strip(), err) if x)
            raise FlashToolError(
                f"flash image {self.path}: micropython exited {result.returncode}: {detail}"
            )
        return out

    def create(self) -> None:
        """Make a blank (all 0xFF) image of ``blocks`` x ``block_size`` bytes."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("wb") as f:
            f.write(b"\xff" * (self.blocks * self.block_size))

    def format(self) -> None:
        """Create the image if missing, then make an empty littlefs on it."""
        if not self.path.exists():
            self.create()
        self._run("vfs.VfsLfs2.mkfs(bdev)\nbdev.close()\n")

    def write_files(self, files: Mapping[str, bytes | str]) -> None:
        """Write each file (path relative to /flash; parent dirs are made)."""
        payload = {
            name: binascii.hexlify(data.encode() if isinstance(data, str) else data).decode()
            for name, data in files.items()
        }
        for name in payload:
            if not name or name.startswith("/") or ".." in name.split("/"):
                raise FlashToolError(f"flash image {self.path}: bad file name {name!r}")
        body = (
            _MOUNT
            + "files = json.loads(%r)\n" % json.dumps(payload)
            + """
for name in files:
    parts = name.split("/")
    for i in range(1, len(parts)):
        try:
            os.mkdir("/flash/" + "/".join(parts[:i]))
        except OSError:
            pass
    with open("/flash/" + name, "wb") as f:
        f.write(binascii.unhexlify(files[name]))
vfs.umount("/flash")
bdev.close()
"""
        )
        self._run(body)

    def read_file(self, name: str) -> bytes:
        """The content of /flash/NAME."""
        body = _MOUNT + (
            """
try:
    with open("/flash/" + %r, "rb") as f:
        data = f.read()
except OSError as e:
    print("ERROR %%r" %% (e,))
    sys.exit(4)
print("DATA " + binascii.hexlify(data).decode())
"""
            % name
        )
        out = self._run(body)
        for line in out.splitlines():
            if line.startswith("DATA "):
                return binascii.unhexlify(line[5:])
        raise FlashToolError(f"flash image {self.path}: no data for {name!r}: {out!r}")

    def listdir(self, directory: str = "") -> list[str]:
        """Names in /flash/DIRECTORY (sorted)."""
        body = _MOUNT + (
            'print("LIST " + json.dumps(sorted(os.listdir("/flash/" + %r))))\n' % directory
        )
        out = self._run(body)
        for line in out.splitlines():
            if line.startswith("LIST "):
                names = json.loads(line[5:])
                return [str(n) for n in names]
        raise FlashToolError(f"flash image {self.path}: no listing: {out!r}")
