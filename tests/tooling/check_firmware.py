"""Checks that the firmware package only uses what MicroPython boards provide.

Usage: check_firmware.py [--stubs DIR] [--board NAME] [--no-mypy] [PACKAGE_DIR]

PACKAGE_DIR defaults to the repository's ``firmware/``. Two checks run:

1. Source rules (``ast``), on every ``.py`` file of the package; each finding is
   reported as ``path:line: message``:
   - no ``import typing`` / ``from typing import`` (nor ``typing_extensions``):
     MicroPython has no typing module;
   - no ``assert`` statement: asserts are compiled out (``mpy-cross -O``), so a
     check that matters must raise a real error;
   - no keyword arguments to ``int.from_bytes``: MicroPython 1.29 raises
     ``TypeError: function doesn't take keyword arguments`` (checked on the
     unix port), and the board stubs do not say so (see the limits below).

2. mypy, once per board (``esp32``, ``rp2``), against that board's stubs from
   PyPI (``micropython-<board>-stubs``, installed by ``./dev setup`` into
   ``.venv/stubs/<board>`` with ``pip install --target``).

How the board check works: mypy always takes the standard library (``struct``,
``hashlib``, ``time``, ``os``, ``builtins``...) from its typeshed and never from
a stub package or MYPYPATH, so stubs installed the ordinary way cannot replace
CPython's ``hashlib`` or ``time``. The board stub packages ship their parts in
two places: ``stdlib/`` (a reduced copy of typeshed's stdlib, with VERSIONS,
from micropython-stdlib-stubs) and top-level ``.pyi`` files and packages for the
board's own modules (``machine``, ``micropython``, ``hashlib``, ``time``,
``network``, ``_mpy_shed``...). This script merges both into one typeshed-shaped
directory per board (``.venv/stubs/typeshed-<board>/stdlib`` with the board
modules added to VERSIONS) and runs mypy with ``--custom-typeshed-dir`` on it,
``--no-site-packages`` (a node has no PyPI packages) and the config in
``MYPY_CONFIG`` (strict flags for ``firmware.wire``, checked bodies elsewhere). So:
- a module that the board does not have (``argparse``, ``functools``,
  ``dataclasses``, ``cbor2``...) is an import error;
- a function or method that the board's module lacks is an error
  (``time.monotonic()``, ``hashlib.sha256().copy()``, ``struct.nonexistent``).

Limits: ``builtins``, ``os``, ``io``, ``re``, ``json``, ``asyncio`` and the other
modules under ``stdlib/`` are typeshed's CPython stubs cut down by the stub
authors, not a description of MicroPython: CPython-only methods of built-in
types (``str.casefold``, keyword arguments of ``int.from_bytes``...) and of
those modules (``os.getpid``) pass. Arguments are checked loosely where a board
stub says ``*args, **kwargs`` (``hashlib.sha256().update``). The check cannot
see what a port compiled out (e.g. a board without ``deflate``).

Not required: ``warn_return_any``, because many board functions return
``Incomplete`` (Any), e.g. ``hashlib.sha256().digest()``, and returning that
from a typed function is no portability problem; ``warn_unused_ignores``,
because one source is checked against several boards' stubs (and CPython's, by
the project's mypy run, which follows the firmware modules that host code
imports) and an ignore needed by one of them is unused in another.
"""

import argparse
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BOARDS = ("esp32", "rp2")
FORBIDDEN_MODULES = ("typing", "typing_extensions")
# Bump when the way a typeshed is assembled changes, to rebuild existing ones.
TYPESHED_LAYOUT = "1"


def _is_forbidden(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in FORBIDDEN_MODULES)


def source_findings(path: Path, shown: str) -> list[str]:
    """Return ``shown:line: message`` findings of the source rules for one file."""
    try:
        tree = ast.parse(path.read_bytes(), filename=shown)
    except SyntaxError as e:
        return ["%s:%s: syntax error: %s" % (shown, e.lineno or 0, e.msg)]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_forbidden(alias.name):
                    found.append(
                        (node.lineno, "import %s: MicroPython has no such module" % alias.name)
                    )
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and _is_forbidden(node.module):
                found.append(
                    (node.lineno, "from %s import: MicroPython has no such module" % node.module)
                )
        elif isinstance(node, ast.Assert):
            found.append(
                (node.lineno, "assert statement: asserts are compiled out, raise an error instead")
            )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "from_bytes"
            and node.keywords
        ):
            found.append(
                (
                    node.lineno,
                    "from_bytes() with keyword arguments: MicroPython takes them positionally",
                )
            )
    return ["%s:%d: %s" % (shown, line, msg) for line, msg in sorted(found)]


def check_sources(package: Path) -> list[str]:
    """Run the source rules on every ``.py`` file under ``package``."""
    findings: list[str] = []
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        findings += source_findings(path, path.relative_to(package.parent).as_posix())
    return findings


def _source_stamp(board_dir: Path) -> str:
    dists = sorted(p.name for p in board_dir.glob("*.dist-info"))
    return "\n".join([TYPESHED_LAYOUT, *dists]) + "\n"


def build_typeshed(board_dir: Path, dest: Path) -> None:
    """Assemble a typeshed for ``--custom-typeshed-dir`` from one board's stubs.

    Rebuilt only when the installed stub distributions change; files keep their
    mtimes so mypy's cache stays valid across runs.
    """
    stamp = dest / "SOURCE"
    wanted = _source_stamp(board_dir)
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(board_dir / "stdlib", tmp / "stdlib")
    versions_file = tmp / "stdlib" / "VERSIONS"
    versions = versions_file.read_text()
    known = {
        line.split(":", 1)[0].strip()
        for line in versions.splitlines()
        if ":" in line and not line.lstrip().startswith("#")
    }
    added: list[str] = []
    for entry in sorted(board_dir.iterdir()):
        if entry.name in ("stdlib", "stubs", "bin", "__pycache__") or entry.name.endswith(
            ".dist-info"
        ):
            continue
        if entry.is_file() and entry.suffix == ".pyi":
            name = entry.stem
            shutil.copy2(entry, tmp / "stdlib" / entry.name)
        elif entry.is_dir() and any(entry.rglob("*.pyi")):
            name = entry.name
            shutil.copytree(entry, tmp / "stdlib" / entry.name)
        else:
            continue
        if name not in known:
            added.append("%s: 3.0-" % name)
    versions_file.write_text(
        versions.rstrip("\n") + "\n# MicroPython board modules\n" + "\n".join(added) + "\n"
    )
    if (board_dir / "stubs").is_dir():
        shutil.copytree(board_dir / "stubs", tmp / "stubs")
    (tmp / "SOURCE").write_text(wanted)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


# The wire package is imported by host code and carries full annotations: it is
# held to the strict flags and every body is checked. The app modules run only
# on the node: their module-level code and annotated functions are checked
# against the board stubs; unannotated functions are not (mypy cannot infer
# the attribute types of code written without typing imports).
MYPY_CONFIG = """\
[mypy]
python_version = 3.11
allow_untyped_globals = True
no_implicit_optional = True
strict_equality = True
warn_redundant_casts = True
extra_checks = True

[mypy-{package}.wire.*]
check_untyped_defs = True
disallow_untyped_defs = True
disallow_incomplete_defs = True
disallow_untyped_calls = True
disallow_any_generics = True
disallow_untyped_decorators = True
no_implicit_reexport = True
warn_unreachable = True
"""


def run_mypy(package: Path, typeshed: Path, board: str) -> int:
    """Type-check ``package`` against one board's typeshed; return mypy's exit status."""
    cache = package.parent / ".mypy_cache" / ("firmware-" + board)
    cache.mkdir(parents=True, exist_ok=True)
    config = cache / "mypy.ini"
    config.write_text(MYPY_CONFIG.format(package=package.name))
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(config),
        "--custom-typeshed-dir",
        str(typeshed),
        "--no-site-packages",
        "--cache-dir",
        str(cache),
        "-p",
        package.name,
    ]
    env = dict(os.environ)
    env.pop("MYPYPATH", None)
    return subprocess.run(cmd, cwd=package.parent, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    """Run the checks; return 0 when the firmware passes them all."""
    parser = argparse.ArgumentParser(
        description="Check that the firmware only uses what MicroPython boards provide."
    )
    parser.add_argument(
        "package",
        nargs="?",
        type=Path,
        default=REPO / "firmware",
        help="the firmware package directory (default: %(default)s)",
    )
    parser.add_argument(
        "--stubs",
        type=Path,
        default=REPO / ".venv" / "stubs",
        help="where ./dev setup installed the board stubs (default: %(default)s)",
    )
    parser.add_argument(
        "--board",
        action="append",
        choices=BOARDS,
        help="check against this board only (repeatable; default: all boards)",
    )
    parser.add_argument("--no-mypy", action="store_true", help="run the source rules only")
    args = parser.parse_args(argv)
    package: Path = args.package.resolve()
    if not (package / "__init__.py").is_file():
        print("check_firmware: %s is not a package (no __init__.py)" % package, file=sys.stderr)
        return 2

    failed: list[str] = []
    findings = check_sources(package)
    if findings:
        print("\n".join(findings))
        print("check_firmware: %d source rule violation(s) in %s" % (len(findings), package.name))
        failed.append("source rules")

    if not args.no_mypy:
        for board in args.board or BOARDS:
            board_dir: Path = args.stubs / board
            if not (board_dir / "stdlib" / "VERSIONS").is_file():
                print(
                    "check_firmware: no %s stubs in %s (run ./dev setup)" % (board, board_dir),
                    file=sys.stderr,
                )
                failed.append("mypy " + board)
                continue
            typeshed = args.stubs / ("typeshed-" + board)
            build_typeshed(board_dir, typeshed)
            print(
                "check_firmware: mypy %s against the %s stubs" % (package.name, board), flush=True
            )
            if run_mypy(package, typeshed, board) != 0:
                failed.append("mypy " + board)

    if failed:
        print("check_firmware: FAILED: %s" % ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
