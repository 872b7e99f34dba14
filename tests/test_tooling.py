"""Tests of the project tooling: the ./dev script, the firmware check and the CLI stubs."""

import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "dev"
CHECK_FIRMWARE = ROOT / "tests" / "tooling" / "check_firmware.py"
STUBS = ROOT / ".venv" / "stubs"
COMMANDS = ("setup", "test", "demo", "fmt")

needs_stubs = pytest.mark.skipif(
    not all((STUBS / board / "stdlib" / "VERSIONS").is_file() for board in ("esp32", "rp2")),
    reason="board stubs not installed (run ./dev setup)",
)


def run(
    cmd: list[str], *, cwd: Path = ROOT, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def check_firmware(package: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, str(CHECK_FIRMWARE), *args, str(package)], timeout=120)


def make_package(root: Path, files: dict[str, str]) -> Path:
    """Write a firmware-like package under root and return its directory."""
    package = root / "firmware"
    (package / "wire").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "wire" / "__init__.py").write_text("")
    for name, text in files.items():
        (package / name).write_text(textwrap.dedent(text))
    return package


def console_script(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found, f"console script {name!r} not installed (run ./dev setup)"
    return found


# ./dev


def test_dev_unknown_command_prints_usage_and_fails() -> None:
    result = run([str(DEV), "no-such-command"], cwd=ROOT / "tests")
    assert result.returncode == 2
    assert "unknown command no-such-command" in result.stderr
    assert "usage: ./dev COMMAND" in result.stderr
    for command in COMMANDS:
        assert f"\n  {command} " in result.stderr, command


def test_dev_without_command_prints_usage_and_fails() -> None:
    result = run([str(DEV)])
    assert result.returncode == 2
    assert "usage: ./dev COMMAND" in result.stderr


def test_dev_help_lists_commands() -> None:
    result = run([str(DEV), "help"])
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert f"\n  {command} " in result.stdout, command


def test_dev_and_ci_scripts_are_executable_bash() -> None:
    for script in (DEV, ROOT / ".ci" / "run"):
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script
        assert "set -euo pipefail" in text, script
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("exec ./dev test")


# tests/tooling/check_firmware.py


def test_check_firmware_flags_typing_imports_and_asserts(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "wire/bad.py": """\
                import struct
                import typing
                from typing import Any


                def f(b: bytes) -> int:
                    assert b, "empty"
                    return int.from_bytes(b, byteorder="big")
                """,
            "ok.py": "X = 1\n",
        },
    )
    result = check_firmware(package, "--no-mypy")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "firmware/wire/bad.py:2: import typing: MicroPython has no such module" in lines
    assert "firmware/wire/bad.py:3: from typing import: MicroPython has no such module" in lines
    assert any(line.startswith("firmware/wire/bad.py:7: assert statement") for line in lines)
    assert any(
        line.startswith("firmware/wire/bad.py:8: from_bytes() with keyword") for line in lines
    )
    assert "ok.py" not in result.stdout
    assert "FAILED: source rules" in result.stderr


def test_check_firmware_reports_syntax_errors_with_location(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"broken.py": "def f(:\n"})
    result = check_firmware(package, "--no-mypy")
    assert result.returncode == 1
    assert "firmware/broken.py:1: syntax error" in result.stdout


def test_check_firmware_refuses_a_directory_that_is_no_package(tmp_path: Path) -> None:
    result = check_firmware(tmp_path, "--no-mypy")
    assert result.returncode == 2
    assert "not a package" in result.stderr


@needs_stubs
def test_check_firmware_catches_cpython_only_apis(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "wire/cpython.py": """\
                import hashlib
                import time


                def digest_twice(data: bytes) -> None:
                    h = hashlib.sha256(data)
                    h.copy()
                    time.monotonic()


                import functools
                """,
        },
    )
    result = check_firmware(package)
    assert result.returncode == 1
    for board in ("esp32", "rp2"):
        assert f"mypy firmware against the {board} stubs" in result.stdout
    out = result.stdout
    assert 'firmware/wire/cpython.py:7: error: "sha256" has no attribute "copy"' in out
    assert 'firmware/wire/cpython.py:8: error: Module has no attribute "monotonic"' in out
    assert "firmware/wire/cpython.py:11: error: Cannot find implementation" in out
    assert "FAILED: mypy esp32, mypy rp2" in result.stderr


@needs_stubs
def test_check_firmware_accepts_micropython_code(tmp_path: Path) -> None:
    package = make_package(
        tmp_path,
        {
            "wire/node.py": """\
                import hashlib
                import struct
                import time

                import machine
                from micropython import const

                PERIOD_MS = const(500)


                def stamp(buf: bytearray, pin: machine.Pin) -> int:
                    struct.pack_into(">I", buf, 0, time.ticks_ms())
                    hashlib.sha256(buf)
                    return time.ticks_diff(time.ticks_ms(), PERIOD_MS) + pin.value()
                """,
        },
    )
    result = check_firmware(package)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_stubs
def test_check_firmware_passes_on_the_real_firmware() -> None:
    result = check_firmware(ROOT / "firmware")
    assert result.returncode == 0, result.stdout + result.stderr


# console scripts


@pytest.mark.parametrize("name", ["fleet", "edge-agent"])
def test_cli_version(name: str) -> None:
    expected = f"{name} {version('citynerve')}"
    for args in (["--version"], ["version"]):
        result = run([console_script(name), *args], timeout=20)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected


@pytest.mark.parametrize("name", ["fleet", "edge-agent"])
@pytest.mark.parametrize("args", [["--no-such-option"], ["no-such-command"], []])
def test_cli_rejects_garbage_with_usage(name: str, args: list[str]) -> None:
    result = run([console_script(name), *args], timeout=20)
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: {name} ")
    assert f"{name}: error:" in result.stderr
