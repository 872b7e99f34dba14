"""``fleet flash`` end to end: a blank virtual board on a pty becomes an installed
node that says hello through a real edge agent; mpremote reads what it wrote."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flash_support import Stack, VirtualBoard

from fleet.bundle import Bundle, node_files
from hardware.kits import board_file

pytestmark = pytest.mark.micropython

REPO = Path(__file__).resolve().parents[2]


def mpremote(port: str, *args: str, timeout: float = 60) -> str:
    """Run the real mpremote against the board (``resume``: no soft reset)."""
    done = subprocess.run(
        [sys.executable, "-m", "mpremote", "connect", port, "resume", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"mpremote {args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_fleet_flash_blank_board_to_installed_node(
    boards: Any, stack: Stack, elevator_bundle: Bundle, tmp_path: Path
) -> None:
    """The technician's command, as a process, against the real fleet manager:
    connect, check the board, provision within the work order (the API), copy with
    progress, verify on the board, soft reset; the key reaches the edge agent through
    ``fleet edge-sync``, the node's hello comes back through Mosquitto and the fleet's
    status ingester; marked installed. The key and the token never show in the
    output; the resume file is gone. mpremote then lists the node's files and its
    SHA-256 of each matches the bundle built for the elevator kit (``--kit``)."""
    bundle = elevator_bundle
    board: VirtualBoard = boards()
    token = tmp_path / "tech.token"
    token.write_text(stack.token + "\n")
    token.chmod(0o600)
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet.cli",
            "flash",
            "--port",
            board.port,
            "--work-order",
            stack.wo1,
            "--kit",
            "elevator",
            "--board",
            "esp32c3-devkitm-1",
            "--site",
            "Yanping Rd 12, lift 2",
            "--api",
            stack.url,
            "--token-file",
            str(token),
            "--state-dir",
            str(state),
            "--hello-timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=REPO,
        env=env,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    [node_id] = stack.provisioned()
    count = 2 * (len(bundle.files) + 1) + 2 + 3  # slots a and base, root, config
    assert f"node {node_id} installed: {count} files verified" in done.stdout
    steps = ("connecting to", "board esp32c3-devkitm-1", f"verifying {count} files", "first hello")
    for step in steps:
        assert step in done.stderr
    key = stack.fleet.key(node_id)
    assert key not in out and key.upper() not in out and stack.token not in out
    node = stack.fleet.node(node_id)
    assert node["state"] == "installed" and node["last_seen"] is not None
    assert node["firmware"] == "0.1.0" and node["slot"] == "a"
    assert node["site"] == "Yanping Rd 12, lift 2" and node["board"] == "esp32c3-devkitm-1"
    assert node["work_order"] == int(stack.wo1)
    assert stack.edge.hellos() >= 1
    assert stack.installed() == [node_id]
    assert not (state / f"{stack.wo1}.json").exists()

    # mpremote sees the node as fleet flash wrote it
    listing = mpremote(board.port, "fs", "ls", ":")
    for name in ("a/", "base/", "cfg/", "loader.py", "main.py", "flash.json"):
        assert name in listing
    assert ".part" not in listing
    assert "ze03.mpy" not in mpremote(board.port, "fs", "ls", ":a/firmware/app/drivers")
    cfg_listing = mpremote(board.port, "fs", "ls", ":cfg")
    assert "key.bin" in cfg_listing and "node.json" in cfg_listing
    node_cfg = json.loads(mpremote(board.port, "fs", "cat", ":cfg/node.json"))
    assert node_cfg["node_id"] == node_id
    expected = node_files(
        bundle,
        config=node_cfg,
        key=bytes.fromhex(key),
        board_file=board_file("esp32c3-devkitm-1", "elevator"),
    )
    sample = [
        "loader.py",
        "main.py",
        "a/manifest.json",
        "a/firmware/app/main.mpy",
        "base/firmware/wire/protocol.mpy",
        "cfg/board.json",
    ]
    text = mpremote(board.port, "fs", "sha256sum", *(f":{p}" for p in sample))
    for path in sample:
        assert hashlib.sha256(expected[path]).hexdigest() in text, path
    marker = json.loads(mpremote(board.port, "fs", "cat", ":flash.json"))
    assert marker["node_id"] == node_id and marker["manifest_sha256"] == bundle.manifest_sha256


def test_a_board_flashed_by_mpremote_is_recognised(
    boards: Any, stack: Stack, bundle: Bundle, tmp_path: Path, run_flash: Any
) -> None:
    """A board someone prepared by hand with ``mpremote fs cp`` (the loader, and the
    slot copied from a saved bundle, one file stale): fleet flash hashes what is there,
    keeps what is right, rewrites only the stale file and the rest, and installs."""
    board: VirtualBoard = boards()
    saved = bundle.save(tmp_path / "bundle")
    stale = saved / "slot" / "firmware" / "app" / "link.mpy"
    stale.write_bytes(stale.read_bytes()[:-7])
    mpremote(
        board.port,
        "fs",
        "cp",
        str(saved / "root" / "loader.py"),
        ":loader.py",
        "+",
        "fs",
        "cp",
        "-r",
        str(saved / "slot") + "/",
        ":a",
    )
    listing = mpremote(board.port, "fs", "ls", ":a/firmware/app")
    assert "link.mpy" in listing
    result = run_flash(board, kit="elevator")
    assert result.installed
    # everything mpremote wrote right (slot files, loader) was kept, not sent again
    assert result.skipped == len(bundle.files) - 1 + 1
    assert stack.state(result.node_id) == "installed"
    digest = mpremote(board.port, "fs", "sha256sum", ":a/firmware/app/link.mpy")
    assert hashlib.sha256(bundle.files["firmware/app/link.mpy"]).hexdigest() in digest
