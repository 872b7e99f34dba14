"""The MicroPython test harness itself (tests/micropython_harness.py, tests/conftest.py)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import micropython_harness as H
import pytest

MP = pytest.mark.micropython


@MP
def test_json_in_and_out(mpy_run: Callable[..., H.MpResult]) -> None:
    """A script gets JSON on stdin and its marked JSON line is parsed (other prints are
    ignored); big integers survive both ways; it runs under the real MicroPython."""
    script = (
        "import json, sys\n"
        "d = json.loads(sys.stdin.read())\n"
        "print('noise before the result')\n"
        "out = {'twice': d['n'] * 2, 'impl': sys.implementation.name}\n"
        "print('@@RESULT@@ ' + json.dumps(out))\n"
    )
    r = mpy_run(script, input={"n": 2**70})
    assert r.output == {"twice": 2**71, "impl": "micropython"}
    assert r.returncode == 0 and r.script.startswith("<inline script")


@MP
def test_failure_names_the_script_and_shows_the_traceback(
    mpy_run: Callable[..., H.MpResult], tmp_path: Path
) -> None:
    """A script that raises makes the harness raise MicroPythonError whose message names
    the script and shows MicroPython's own traceback (file, line, exception)."""
    script = tmp_path / "boom.py"
    script.write_text("def f():\n    raise ValueError('kaput')\nf()\n")
    with pytest.raises(H.MicroPythonError) as e:
        mpy_run(script)
    text = str(e.value)
    assert "boom.py" in text and "exit code 1" in text
    assert "line 2, in f" in text and "ValueError: kaput" in text
    r = mpy_run(script, check=False, parse=False)
    assert r.returncode == 1 and "ValueError: kaput" in r.traceback()


@MP
def test_heap_is_capped(mpy_run: Callable[..., H.MpResult]) -> None:
    """heap="64k" gives MicroPython a 64 KiB heap: gc reports it, and allocating more
    fails with MemoryError (shown in the error)."""
    r = mpy_run("import gc, json\nprint(json.dumps(gc.mem_free() + gc.mem_alloc()))\n", heap="64k")
    assert 60 * 1024 <= r.output <= 64 * 1024
    with pytest.raises(H.MicroPythonError, match="MemoryError"):
        mpy_run("x = bytearray(100000)\n", heap="64k")


@MP
def test_firmware_from_source_and_from_mpy(
    mpy_run: Callable[..., H.MpResult], mpy_tree: Path
) -> None:
    """The repository root is on MicroPython's path, so `import firmware.wire.cbor` finds
    the source; with mpy=True it finds the tree compiled by mpy-cross instead (with
    31-bit small ints, as for ESP32/RP2), and no source file is in that tree."""
    script = "import json, firmware.wire.cbor as c\nprint(json.dumps(c.__file__))\n"
    assert mpy_run(script).output == str(H.REPO_ROOT / "firmware" / "wire" / "cbor.py")
    assert mpy_run(script, mpy=True).output == str(mpy_tree / "firmware" / "wire" / "cbor.mpy")
    sources = sorted(
        p.relative_to(H.REPO_ROOT).with_suffix("") for p in (H.REPO_ROOT / "firmware").rglob("*.py")
    )
    compiled = sorted(p.relative_to(mpy_tree).with_suffix("") for p in mpy_tree.rglob("*.mpy"))
    assert compiled == sources and not list(mpy_tree.rglob("*.py"))
    header = (mpy_tree / "firmware" / "wire" / "cbor.mpy").read_bytes()[:4]
    assert header[0:1] == b"M" and header[3] == 31


@MP
def test_timeout(mpy_run: Callable[..., H.MpResult]) -> None:
    """A script that never ends is stopped after `timeout` seconds with a clear error."""
    with pytest.raises(H.MicroPythonError, match=r"timed out after 0\.5 s"):
        mpy_run("while True:\n    pass\n", timeout=0.5)


@MP
def test_process_conversation(mpy_process: Callable[..., H.MicroPythonProcess]) -> None:
    """A long-lived MicroPython process answers one JSON line per request line, and ends
    cleanly when its stdin closes; a process that dies mid-conversation is reported
    with its traceback."""
    echo = (
        "import json, sys\n"
        "while True:\n"
        "    line = sys.stdin.readline()\n"
        "    if not line:\n"
        "        break\n"
        "    d = json.loads(line)\n"
        "    if d == 'die':\n"
        "        raise RuntimeError('asked to die')\n"
        "    sys.stdout.write(json.dumps([d, len(line)]) + '\\n')\n"
    )
    with mpy_process(echo) as p:
        assert p.request({"a": 1}) == [{"a": 1}, 9]
        assert p.request("x" * 5000) == ["x" * 5000, 5003]
    assert p.close() == 0
    p = mpy_process(echo)
    with pytest.raises(H.MicroPythonError, match="asked to die"):
        p.request("die")


def test_missing_micropython_fails_with_advice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a micropython command (not on PATH, not next to sys.executable) the
    harness raises MicroPythonMissing telling how to install it - the fixtures turn that
    into a test failure, never a skip."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(H.MicroPythonMissing, match="never skip"):
        H.find_micropython()


def test_parse_output() -> None:
    """The result is the last marked line; without a mark, the whole stdout is JSON."""
    assert H.parse_output('x\n@@RESULT@@ [1]\ny\n@@RESULT@@ {"a": 2}\n') == {"a": 2}
    assert H.parse_output('{"b": 3}\n') == {"b": 3}
    with pytest.raises(ValueError):
        H.parse_output("no json here")
