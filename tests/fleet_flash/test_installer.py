"""The on-device installer (fleet/flash/device/installer.py) on its own, under the
real MicroPython on littlefs (a small simulated NOR chip) and under CPython: whole
or absent files, verification by reading back, flash full, copies, wipe. And the
release bundle: manifest, save/load with tamper detection, the node layout."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.bundle import BASE, SLOT, Bundle, BundleError, build, node_files
from fleet.flash import device_code
from fleet.flash.device import installer
from hardware.hal.supervisor import find_micropython

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, os, vfs, json
sys.path.insert(0, %(repo)r)
from hardware.flash import nor
nor.create(%(image)r, %(blocks)d, 4096)
bdev = nor.NorFlash(%(image)r, 4096, %(blocks)d)
vfs.VfsLfs2.mkfs(bdev)
vfs.mount(vfs.VfsLfs2(bdev), "/flash")
os.chdir("/flash")
"""

BODY = """
I = _cn
out = {}
import binascii, hashlib
def sha(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()
data = bytes(range(256)) * 20
I["begin"]("a/x/f.bin")
for i in range(0, len(data), 1000):
    I["put"](binascii.b2a_base64(data[i:i+1000]).strip())
out["done"] = I["done"]("a/x/f.bin", len(data), sha(data))
out["copy"] = I["copy"]("a/x/f.bin", "base/x/f.bin", len(data), sha(data))
out["verify_ok"] = I["verify"]({"a/x/f.bin": [len(data), sha(data)], "nope": [1, "00"]})
I["begin"]("a/y.bin")
I["put_raw"](b"hello")
try:
    I["done"]("a/y.bin", 5, "00" * 32)
    out["mismatch"] = None
except ValueError as e:
    out["mismatch"] = str(e)
out["after_mismatch"] = [I["hash_file"]("a/y.bin"), I["hash_file"]("a/y.bin.part")]
I["begin"]("big.bin")
try:
    while True:
        I["put_raw"](b"x" * 4096)
except OSError as e:
    out["full"] = e.errno
out["parts"] = I["parts"]()
out["big"] = I["hash_file"]("big.bin")
out["json"] = I["write_json"]("flash.json", {"node_id": "n1"})
out["info"] = I["info"]()
out["wiped"] = I["wipe"](["a", "base", "flash.json"])
out["left"] = sorted(os.listdir("/flash"))
print("RESULT" + json.dumps(out))
"""


def test_installer_on_littlefs_under_micropython(tmp_path: Path) -> None:
    """Chunks reach the flash whole (hash read back from flash), a file that does not
    match is never renamed into place, flash full raises ENOSPC and leaves no
    partial file, copies verify their source, wipe removes trees."""
    script = tmp_path / "run.py"
    script.write_text(
        SCRIPT % {"repo": str(REPO), "image": str(tmp_path / "f.img"), "blocks": 24}
        + device_code.load_code("/flash")
        + BODY
    )
    done = subprocess.run(
        [find_micropython(), str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    data = bytes(range(256)) * 20
    want = [len(data), hashlib.sha256(data).hexdigest()]
    assert out["done"] == want and out["copy"] == want
    assert out["verify_ok"] == [["nope", "missing"]]
    assert out["mismatch"].startswith("mismatch a/y.bin: received 5 bytes")
    assert out["after_mismatch"] == [None, None]
    assert out["full"] == 28
    assert out["parts"] == [] and out["big"] is None
    assert out["json"][0] == len(json.dumps({"node_id": "n1"}))
    info = out["info"]
    assert info["root"] == "/flash" and info["hashlib"] is True
    assert info["marker"] == {"node_id": "n1"}
    assert info["fs"]["bsize"] == 4096 and info["fs"]["blocks"] == 24
    assert out["wiped"] == 3
    assert out["left"] == []


def test_installer_under_cpython(tmp_path: Path) -> None:
    """The same module runs under CPython (as the firmware's load generators do)."""
    installer.use(str(tmp_path))
    data = b"firmware" * 1000
    installer.begin("a/firmware/x.mpy")
    installer.put_raw(data[:3000])
    installer.put_raw(data[3000:])
    got = installer.done("a/firmware/x.mpy", len(data), hashlib.sha256(data).hexdigest())
    assert got == [len(data), hashlib.sha256(data).hexdigest()]
    assert (tmp_path / "a/firmware/x.mpy").read_bytes() == data
    assert installer.parts() == []
    with pytest.raises(ValueError, match="mismatch"):
        installer.copy("a/firmware/x.mpy", "b/x.mpy", len(data), "0" * 64)
    assert installer.wipe(["a"]) == 1


def test_installer_source_sent_to_the_board_is_the_module() -> None:
    src = device_code.installer_source()
    assert "def begin(path):" in src and "#" not in src.split("\n", 1)[0]
    compile(src, "installer", "exec")
    assert device_code.call("put", "QUJD") == "print(repr(_cn['put']('QUJD')))"


# -- the bundle ---------------------------------------------------------------------------


def test_bundle_manifest_and_node_layout(bundle: Bundle) -> None:
    """Every firmware file is .mpy from mpy-cross (v6, 31-bit small ints) with its size
    and SHA-256 in the manifest; a node gets slot a, base, loader and config."""
    doc = bundle.manifest
    assert doc["format"] == 1 and doc["micropython"]["mpy"] == 6
    assert set(doc["boards"]) == {"esp32c3-devkitm-1", "pico-w"}
    for name, data in bundle.files.items():
        assert name.endswith(".mpy") and data[:4] == b"M\x06\x00\x1f"
        assert doc["files"][name] == {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    assert set(doc["root"]) == {"loader.py", "main.py"}
    assert doc["kits"] == ["elevator", "hydrant", "manhole"] == bundle.kits
    files = node_files(
        bundle, config={"node_id": "n", "kit": "hydrant"}, key=b"k" * 32, board_file={"x": 1}
    )
    assert list(files)[-3:] == ["cfg/board.json", "cfg/key.bin", "cfg/node.json"]
    assert files[f"{SLOT}/manifest.json"] == files[f"{BASE}/manifest.json"]
    assert json.loads(files[f"{SLOT}/manifest.json"]) == doc


def test_bundle_save_load_and_tampering(bundle: Bundle, tmp_path: Path) -> None:
    saved = bundle.save(tmp_path / "b")
    again = Bundle.load(saved)
    assert again.files == bundle.files and again.root == bundle.root
    assert again.manifest_sha256 == bundle.manifest_sha256
    victim = saved / "slot" / "firmware" / "app" / "main.mpy"
    victim.write_bytes(victim.read_bytes() + b"\x00")
    with pytest.raises(BundleError, match=r"slot/firmware/app/main\.mpy does not match"):
        Bundle.load(saved)
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        Bundle.load(tmp_path)
    with pytest.raises(BundleError, match="unknown board"):
        build(boards=["arduino-uno"], firmware={})


def test_a_kit_bundle_holds_what_its_kit_imports_and_nothing_of_the_others(
    bundle: Bundle,
) -> None:
    """A hydrant bundle: the app core, the wire modules, the hydrant kit with the drivers
    and detectors it imports; no elevator or manhole module, no level or gas driver. The
    all-kits bundle holds every firmware module (none is unreachable), the loader
    excepted (it lives at the root)."""
    hydrant = build(kits=["hydrant"])
    assert hydrant.kits == ["hydrant"] and hydrant.manifest["kits"] == ["hydrant"]
    names = set(hydrant.files)
    for needed in (
        "firmware/__init__.mpy",
        "firmware/app/main.mpy",
        "firmware/app/kits/__init__.mpy",
        "firmware/app/kits/hydrant.mpy",
        "firmware/app/kits/analog.mpy",
        "firmware/app/drivers/ads1115.mpy",
        "firmware/app/detect/burst.mpy",
        "firmware/wire/node_session.mpy",
    ):
        assert needed in names, needed
    for foreign in (
        "firmware/app/kits/elevator.mpy",
        "firmware/app/kits/manhole.mpy",
        "firmware/app/drivers/a02yyuw.mpy",
        "firmware/app/drivers/ze03.mpy",
    ):
        assert foreign not in names, foreign
    assert names < set(bundle.files)
    for name, data in hydrant.files.items():
        assert bundle.files[name] == data
    sources = {
        str(p.relative_to(REPO).with_suffix(".mpy"))
        for p in (REPO / "firmware").rglob("*.py")
        if p.name != "loader.py" or p.parent.name != "firmware"
    }
    assert set(bundle.files) == sources


def test_a_kit_bundle_refuses_another_kits_node(tmp_path: Path) -> None:
    """node_files of a hydrant bundle for a manhole node, an unknown kit, and the kit
    list of a bundle saved before bundles named their kits (every kit)."""
    hydrant = build(kits=["hydrant"])
    with pytest.raises(
        BundleError, match=r"holds the code of the hydrant kit\(s\), not of 'manhole'"
    ):
        node_files(hydrant, config={"kit": "manhole"}, key=b"k" * 32, board_file={})
    with pytest.raises(BundleError, match=r"unknown kit\(s\) lift \(known: elevator, hydrant"):
        build(kits=["lift"])
    old = Bundle(hydrant.version, hydrant.files, hydrant.root, dict(hydrant.manifest))
    del old.manifest["kits"]
    assert old.kits == ["elevator", "hydrant", "manhole"]


def test_cli_runs_standalone() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fleet.flash", "discover", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0 and "_citynerve-edge._tcp" in done.stdout
