"""The ``fleet flash`` and ``fleet discover`` command lines: bad arguments exit 2
with a clear message; the blank-board step up to the command it would run;
discovery of a real edge agent over zeroconf on loopback."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from flash_support import EdgeThread

from fleet import cli as fleet_cli
from fleet.flash import baseimage
from fleet.flash import cli as flash_cli

GOOD = ["flash", "--port", "/dev/ttyUSB0", "--work-order", "12", "--api", "http://127.0.0.1:9"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = fleet_cli.main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_fleet_command_has_flash_and_discover(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "flash" in out and "discover" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flash"], "the following arguments are required: --port, --work-order"),
        (["flash", "--work-order", "12"], "required: --port"),
        (GOOD[:3], "required: --work-order"),
        ([*GOOD, "--baud", "fast"], "--baud: expected a baud rate, got 'fast'"),
        ([*GOOD, "--baud", "12"], "--baud: expected 300..4000000, got 12"),
        ([*GOOD, "--hello-timeout", "-5"], "expected 0 < seconds <= 86400"),
        ([*GOOD, "--hello-timeout", "soon"], "--hello-timeout: expected seconds, got 'soon'"),
        ([*GOOD, "--kit", "lift"], "invalid choice: 'lift'"),
        ([*GOOD, "--board", "arduino"], "invalid choice: 'arduino'"),
        ([*GOOD, "--reset", "kick"], "invalid choice: 'kick'"),
        (["flash", "--port", "", "--work-order", "12"], "the serial port is empty"),
        (["flash", "--port", "/dev/x", "--work-order", "12/../3"], "--work-order must be"),
        ([*GOOD, "--node", "a b"], "--node must be"),
        ([*GOOD[:5], "--api", "ftp://x"], "--api: expected http(s)://HOST[:PORT]"),
        ([*GOOD, "--uf2-drive", "/tmp"], "--uf2-drive goes with --micropython-image"),
        ([*GOOD, "--micropython-image", "x.bin"], "--micropython-image needs --board"),
        ([*GOOD, "--bundle", "/nonexistent/bundle"], "--bundle /nonexistent/bundle: not a dir"),
        ([*GOOD, "--token-file", "/nonexistent/token"], "--token-file /nonexistent/token"),
        ([*GOOD], "no token: give --token-file PATH, or set FLEET_TOKEN or FLEET_TOKEN_FILE"),
        ([*GOOD, "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["discover", "--timeout", "0"], "--timeout: expected 0 < seconds <= 86400"),
        (["discover", "--timeout", "x"], "--timeout: expected seconds, got 'x'"),
    ],
)
def test_garbage_arguments_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("FLEET_TOKEN", "FLEET_TOKEN_FILE", "FLEET_API_URL"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(argv, capsys)
    assert code == 2, err
    assert message in err
    assert "usage: fleet" in err


def test_a_token_file_others_can_read_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("secret-token\n")
    token.chmod(0o644)
    code, out, err = run([*GOOD, "--token-file", str(token)], capsys)
    assert code == 2
    assert "lets others read your token; chmod 600" in err
    assert "secret-token" not in out + err


def test_a_port_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 1 with the port named and what to do (no device, nothing provisioned)."""
    token = tmp_path / "token"
    token.write_text("t")
    token.chmod(0o600)
    bundle_dir = _tiny_bundle(tmp_path)
    argv = [
        "flash",
        "--port",
        "/dev/ttyNOPE7",
        "--work-order",
        "12",
        "--api",
        "http://127.0.0.1:9",
        "--token-file",
        str(token),
        "--bundle",
        str(bundle_dir),
        "--quiet",
    ]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert "/dev/ttyNOPE7: no such port" in err
    assert "what to do: plug the USB cable" in err


def test_a_port_that_is_not_a_serial_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    token.chmod(0o600)
    plain = tmp_path / "not-a-tty"
    plain.write_text("")
    argv = [*GOOD, "--token-file", str(token), "--bundle", str(_tiny_bundle(tmp_path))]
    argv[2] = str(plain)
    code, _, err = run([*argv, "--quiet"], capsys)
    assert code == 1
    assert f"{plain}: not a serial port" in err


def _tiny_bundle(tmp_path: Path) -> Path:
    from fleet.bundle import build

    return build(firmware={"firmware/__init__.mpy": b"M\x06\x00\x1f"}).save(tmp_path / "tiny")


# -- the blank-board step -------------------------------------------------------------------


def test_esp32_base_image_dry_run_prints_the_esptool_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "ESP32_GENERIC_C3-v1.29.0.bin"
    image.write_bytes(b"\xe9\x03\x02\x20" + bytes(60))
    argv = [
        *GOOD,
        "--board",
        "esp32c3-devkitm-1",
        "--micropython-image",
        str(image),
        "--bundle",
        str(_tiny_bundle(tmp_path)),
        "--dry-run",
    ]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    line = out.splitlines()[0]
    assert line.startswith("would run: ")
    assert line.endswith(
        "-m esptool --chip esp32c3 --port /dev/ttyUSB0 --baud 460800 write_flash "
        f"--erase-all 0x0 {image}"
    )
    assert "would install bundle 0.1.0" in out


def test_pico_base_image_dry_run_prints_the_uf2_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "RPI_PICO_W-v1.29.0.uf2"
    image.write_bytes(struct.pack("<II", *baseimage.UF2_MAGIC) + bytes(504))
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\n")
    argv = [
        *GOOD,
        "--board",
        "pico-w",
        "--micropython-image",
        str(image),
        "--uf2-drive",
        str(drive),
        "--bundle",
        str(_tiny_bundle(tmp_path)),
        "--dry-run",
    ]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert out.splitlines()[0] == f"would run: cp {image} {drive}/"
    # and the copy itself, onto the (stand-in) drive
    step = baseimage.plan("pico-w", image, "/dev/null", uf2_drive=drive)
    baseimage.run(step, port="/dev/null", wait_s=1)
    assert (drive / image.name).read_bytes() == image.read_bytes()


@pytest.mark.parametrize(
    ("board", "content", "extra", "message"),
    [
        ("esp32c3-devkitm-1", b"UF2\n", [], "is not an ESP32 firmware .bin"),
        ("pico-w", b"\xe9" + bytes(20), ["--uf2-drive", "DRIVE"], "is not a .uf2 file"),
        ("pico-w", struct.pack("<II", *baseimage.UF2_MAGIC), [], "no Pico in BOOTSEL mode"),
    ],
)
def test_bad_base_image_or_no_bootsel_drive(  # noqa: PLR0917 - parametrized
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    board: str,
    content: bytes,
    extra: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(baseimage, "find_uf2_drive", lambda search=None: None)
    image = tmp_path / "image"
    image.write_bytes(content)
    drive = tmp_path / "drive"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text("Model: Raspberry Pi RP2\n")
    extra = [str(drive) if x == "DRIVE" else x for x in extra]
    argv = [*GOOD, "--board", board, "--micropython-image", str(image), *extra, "--dry-run"]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert message in err and "what to do:" in err


# -- discover -------------------------------------------------------------------------------


@pytest.mark.micropython
def test_discover_lists_a_running_edge_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real edge agent advertising on loopback is found with its id, district,
    protocol and TCP port; the table names it too."""
    edge = EdgeThread(tmp_path, tmp_path / "keys.json", mqtt_port=None, discovery=True)
    try:
        code = flash_cli.main(["discover", "--interface", "127.0.0.1", "--json", "--timeout", "3"])
        found: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
        code_table = flash_cli.main(["discover", "--interface", "127.0.0.1", "--timeout", "2"])
        table = capsys.readouterr().out
    finally:
        edge.stop()
    assert code == 0 and code_table == 0
    mine = [e for e in found if e["edge"] == "edge-test-1"]
    assert len(mine) == 1
    assert mine[0]["district"] == "testdistrict"
    assert mine[0]["protocol"] == "1"
    assert mine[0]["port"] == edge.port
    assert "127.0.0.1" in mine[0]["addresses"]
    assert "edge-test-1" in table and f"127.0.0.1:{edge.port}" in table


def test_discover_with_no_edge_says_what_to_check(capsys: pytest.CaptureFixture[str]) -> None:
    code = flash_cli.main(["discover", "--interface", "127.0.0.1", "--timeout", "0.5"])
    err = capsys.readouterr().err
    assert code == 1
    assert "no edge agents answered within 0.5 s" in err and "what to do:" in err
