"""The code ``fleet flash`` runs on the board, as text for the raw REPL.

The installer itself is a real module, :mod:`fleet.flash.device.installer`,
written in the Python subset MicroPython and CPython share, so the firmware can
run the same file for OTA updates. Here it is turned into the text sent over
the raw REPL: comments and blank lines dropped, executed into a namespace dict
on the board (``_cn``) so it leaves the REPL's globals alone. :func:`call`
makes the text of one call whose result the board prints with ``repr``.
"""

from __future__ import annotations

import io
import tokenize
from functools import lru_cache
from pathlib import Path

INSTALLER = Path(__file__).resolve().parent / "device" / "installer.py"
NAMESPACE = "_cn"


@lru_cache(maxsize=1)
def installer_source() -> str:
    """The installer's source without comments and blank lines (smaller to send)."""
    text = INSTALLER.read_text()
    out: list[str] = []
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    comments = {tok.start[0] for tok in tokens if tok.type == tokenize.COMMENT}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if number in comments and stripped.startswith("#"):
            continue
        out.append(line.rstrip())
    return "\n".join(out) + "\n"


def load_code(root: str | None = None) -> str:
    """Code that defines the installer on the board (and selects ``root``)."""
    # an installer left loaded by an interrupted run may hold a file open: close it
    # now, not in a garbage-collector finaliser later
    code = (
        f"try:\n    {NAMESPACE}['_abort']()\nexcept Exception:\n    pass\n"
        f"{NAMESPACE} = {{'__name__': 'installer'}}\nexec({installer_source()!r}, {NAMESPACE})\n"
    )
    if root is not None:
        code += f"{NAMESPACE}['use']({root!r})\n"
    return code


def call(name: str, *args: object) -> str:
    """Code that calls installer function ``name`` and prints the result's repr."""
    rendered = ", ".join(_literal(a) for a in args)
    return f"print(repr({NAMESPACE}[{name!r}]({rendered})))"


def _literal(value: object) -> str:
    if value is None or isinstance(value, bool | int | str | bytes):
        return repr(value)
    if isinstance(value, list | tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"[{inner}]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items())
        return f"{{{inner}}}"
    raise TypeError(f"cannot send {type(value).__name__} to the board")


LOADED_CHECK = f"print('{NAMESPACE}' in globals())"
