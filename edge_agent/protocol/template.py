"""Pack templates: re-checking a node's SenML pack shape without decoding it.

A node sends the same pack shape batch after batch: the same record count,
labels, names and units, numbers of the same width; only the numbers change.
Once a pack has passed the full check (cbor2 decode and ``check_pack``), its
:class:`PackTemplate` accepts every later pack that differs from it only in
the *argument bytes* of number values: one comparison of two integers built
from the bytes instead of a decode that creates about a hundred objects.

What a template lets vary, and why the result still passes the full check:

- a record value that is an integer (major type 0 or 1): its head byte stays,
  so the width and sign stay, and any argument bytes are a valid integer; a
  one-byte integer (0..23, -1..-24) may vary within 0..15, 16..23, -1..-16 or
  -17..-24 (the head bits that say "immediate" stay);
- the mantissa of a decimal fraction (tag 4, ``[exponent, mantissa]``) that is
  a record value, the same way (the exponent stays: a huge one fails to decode);
- a boolean record value may flip (``vb``).

Everything else (array and map heads, labels, text and byte strings, tags, the
exponent) must be byte-identical, and the length must be equal, so the decoded
pack has the same records with the same labels and value types: no float can
appear and the record count is the template's. A pack with any other value
kind gets no template (the full check runs every time).
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.wire.senml import LABELS, MAX_RECORDS

# every SenML label is an integer in -24..23: one CBOR byte
_LABEL_BYTES = frozenset(label if label >= 0 else 0x20 | (-1 - label) for label in LABELS)
_WIDTHS = {24: 1, 25: 2, 26: 4, 27: 8}
_ZEROS = bytes(8)


class _Unusual(Exception):
    """The pack holds something a template does not cover."""


@dataclass(frozen=True, slots=True)
class PackTemplate:
    """Accepts the packs that differ from a checked one only in number values."""

    length: int
    mask: int  # little-endian: 0xff for bytes that must match, fewer bits for numbers
    masked: int  # the checked pack's bytes under ``mask``
    records: int

    def records_if_match(self, pack: bytes) -> int:
        """The pack's record count when it fits the template, else 0."""
        if len(pack) == self.length and int.from_bytes(pack, "little") & self.mask == self.masked:
            return self.records
        return 0


def _head(pack: bytes, i: int) -> tuple[int, int, int]:
    """(major type, argument, offset after the head) of the item at ``i``.

    Raises IndexError past the end and _Unusual for an indefinite length or a
    reserved head: both mean "no template".
    """
    byte = pack[i]
    info = byte & 0x1F
    if info < 24:
        return byte >> 5, info, i + 1
    width = _WIDTHS.get(info)
    if width is None:
        raise _Unusual
    return byte >> 5, int.from_bytes(pack[i + 1 : i + 1 + width], "big"), i + 1 + width


def _let_vary(pack: bytes, keep: bytearray, i: int, end: int) -> None:
    """Let the integer whose head is at ``i`` and that ends at ``end`` vary (module text)."""
    if end == i + 1:
        keep[i] = 0xF0 if pack[i] & 0x1F < 0x10 else 0xF8
    else:
        keep[i + 1 : end] = _ZEROS[: end - i - 1]


def learn(pack: bytes) -> PackTemplate | None:
    """The template of a pack that passed the full check, or None for an unusual pack."""
    keep = bytearray(b"\xff" * len(pack))
    labels = _LABEL_BYTES
    try:
        major, records, i = _head(pack, 0)
        if major != 4 or not 0 < records <= MAX_RECORDS:
            return None
        for _ in range(records):
            major, pairs, i = _head(pack, i)
            if major != 5:
                return None
            for _ in range(pairs):
                if pack[i] not in labels:
                    return None
                i += 1
                first = pack[i]
                major, arg, end = _head(pack, i)
                if major <= 1:
                    _let_vary(pack, keep, i, end)
                elif major <= 3:  # byte and text strings stay as they are
                    end += arg
                elif first == 0xC4 and pack[end] == 0x82:  # decimal fraction
                    major, _, end = _head(pack, end + 1)  # the exponent stays
                    at = end
                    major2, _, end = _head(pack, at)
                    if major > 1 or major2 > 1:
                        return None
                    _let_vary(pack, keep, at, end)
                elif first in (0xF4, 0xF5):
                    keep[i] = 0xFE
                elif first != 0xF6:  # null stays; any other kind: no template
                    return None
                i = end
    except (IndexError, _Unusual):
        return None
    if i != len(pack):
        return None
    mask = int.from_bytes(keep, "little")
    return PackTemplate(len(pack), mask, int.from_bytes(pack, "little") & mask, records)
