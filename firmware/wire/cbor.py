# CBOR (RFC 8949) for the node: a deterministic encoder that writes into a
# caller-owned bytearray (no allocation per item on the hot path) and a small
# bounded decoder for what a node receives.
#
# The wire subset: unsigned and negative integers in -2**64 .. 2**64-1, byte and
# text strings, arrays, maps, tags, false, true and null - all definite length.
# Floats are never sent (boards have 32-bit floats, the unix port 64-bit ones, so
# the bytes would differ): values travel as integers or decimal fractions (tag 4).
# The encoder follows the core deterministic rules of RFC 8949 section 4.2.1:
# shortest arguments, definite lengths, map keys sorted by their encoded bytes.

import struct

try:
    from micropython import const
except ImportError:

    def const(x: int) -> int:  # type: ignore[misc]
        return x


from firmware.wire.errors import CborError

MAJOR_UINT = const(0)
MAJOR_NEGINT = const(1)
MAJOR_BYTES = const(2)
MAJOR_TEXT = const(3)
MAJOR_ARRAY = const(4)
MAJOR_MAP = const(5)
MAJOR_TAG = const(6)
MAJOR_SIMPLE = const(7)

TAG_DECIMAL_FRACTION = const(4)

_FALSE = const(0xF4)
_TRUE = const(0xF5)
_NULL = const(0xF6)
_UNDEFINED = const(0xF7)
_BREAK = const(0xFF)

# A decoded message never nests deeper than this (a SenML pack inside a message
# is three levels deep); deeper input is refused before it can exhaust the stack.
MAX_DEPTH = const(16)

_UINT64_END = 0x10000000000000000
_NEG_UINT64_END = -0x10000000000000000


# A tagged item the decoder does not interpret (tag number and content).
class Tag:
    def __init__(self, tag: int, value: object) -> None:
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tag) and other.tag == self.tag and other.value == self.value

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((self.tag, repr(self.value)))

    def __repr__(self) -> str:
        return "Tag(%d, %r)" % (self.tag, self.value)


# Writes CBOR items into buf from offset 0; `pos` is the end of what is written.
# Raises CborError("overflow") instead of growing the buffer.
class Encoder:
    # start: where items begin in buf (a frame can encode its message in place).
    def __init__(self, buf: bytearray, start: int = 0) -> None:
        self.buf = buf
        self.start = start
        self.pos = start

    def reset(self) -> None:
        self.pos = self.start

    def view(self) -> memoryview:
        return memoryview(self.buf)[self.start : self.pos]

    def getvalue(self) -> bytes:
        return bytes(self.buf[self.start : self.pos])

    def _room(self, n: int) -> int:
        pos = self.pos
        if pos + n > len(self.buf):
            raise CborError(
                "overflow",
                "encoded item needs %d more bytes than the buffer holds"
                % (pos + n - len(self.buf)),
                pos,
                len(self.buf),
            )
        self.pos = pos + n
        return pos

    # Writes a major type with its argument in the shortest form.
    def head(self, major: int, n: int) -> None:
        mt = major << 5
        if n < 24:
            self.buf[self._room(1)] = mt | n
        elif n < 0x100:
            p = self._room(2)
            self.buf[p] = mt | 24
            self.buf[p + 1] = n
        elif n < 0x10000:
            struct.pack_into(">BH", self.buf, self._room(3), mt | 25, n)
        elif n < 0x100000000:
            struct.pack_into(">BI", self.buf, self._room(5), mt | 26, n)
        elif n < _UINT64_END:
            struct.pack_into(">BQ", self.buf, self._room(9), mt | 27, n)
        else:
            raise CborError("int_range", "argument %d does not fit in 64 bits" % n, self.pos)

    def integer(self, n: int) -> None:
        if n >= 0:
            self.head(MAJOR_UINT, n)
        elif n >= _NEG_UINT64_END:
            self.head(MAJOR_NEGINT, -1 - n)
        else:
            raise CborError("int_range", "integer %d is below -2**64" % n, self.pos)

    def bstr(self, b: bytes | bytearray | memoryview) -> None:
        n = len(b)
        self.head(MAJOR_BYTES, n)
        p = self._room(n)
        self.buf[p : p + n] = b

    # Text given as str, or as bytes already UTF-8 encoded (saves an allocation).
    def tstr(self, s: str | bytes) -> None:
        b = s.encode() if isinstance(s, str) else s
        n = len(b)
        self.head(MAJOR_TEXT, n)
        p = self._room(n)
        self.buf[p : p + n] = b

    def array(self, count: int) -> None:
        self.head(MAJOR_ARRAY, count)

    def map(self, count: int) -> None:
        self.head(MAJOR_MAP, count)

    def tag(self, number: int) -> None:
        self.head(MAJOR_TAG, number)

    # A decimal fraction mantissa * 10**exponent (RFC 8949 section 3.4.4).
    def decimal(self, mantissa: int, exponent: int) -> None:
        self.head(MAJOR_TAG, TAG_DECIMAL_FRACTION)
        self.head(MAJOR_ARRAY, 2)
        self.integer(exponent)
        self.integer(mantissa)

    def boolean(self, v: bool) -> None:
        self.buf[self._room(1)] = _TRUE if v else _FALSE

    def null(self) -> None:
        self.buf[self._room(1)] = _NULL

    # Any supported value; maps are written in deterministic key order.
    def value(self, v: object, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise CborError("depth", "value nests deeper than allowed", self.pos, MAX_DEPTH)
        if v is None:
            self.null()
        elif v is True or v is False:
            self.boolean(v)
        elif isinstance(v, int):
            self.integer(v)
        elif isinstance(v, str):
            self.tstr(v)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            self.bstr(v)
        elif isinstance(v, (list, tuple)):
            self.array(len(v))
            for item in v:
                self.value(item, depth + 1)
        elif isinstance(v, dict):
            self.map(len(v))
            pairs = [(dumps(k), val) for k, val in v.items()]
            pairs.sort(key=_first)
            for encoded_key, val in pairs:
                p = self._room(len(encoded_key))
                self.buf[p : p + len(encoded_key)] = encoded_key
                self.value(val, depth + 1)
        elif isinstance(v, Tag):
            self.tag(v.tag)
            self.value(v.value, depth + 1)
        elif isinstance(v, float):
            raise CborError(
                "float", "floats are not on the wire: scale the value to an integer", self.pos
            )
        else:
            raise CborError("type", "cannot encode a %s" % type(v).__name__, self.pos)


def _first(pair: tuple[bytes, object]) -> bytes:
    return pair[0]


# Encodes one value deterministically into new bytes (allocates; for messages
# that are not on the per-sample path).
def dumps(v: object, size: int = 64) -> bytes:
    while True:
        enc = Encoder(bytearray(size))
        try:
            enc.value(v)
            return enc.getvalue()
        except CborError as e:
            if e.code != "overflow" or size >= 1 << 20:
                raise
            size *= 4


# Decodes exactly one item from data[start:end]; refuses trailing bytes,
# indefinite lengths, floats, reserved encodings and nesting beyond max_depth.
def loads(data: bytes | bytearray | memoryview, max_depth: int = MAX_DEPTH) -> object:
    dec = Decoder(data, max_depth)
    value = dec.item(0)
    if dec.pos != len(dec.data):
        raise CborError(
            "trailing",
            "%d bytes follow the CBOR item" % (len(dec.data) - dec.pos),
            dec.pos,
        )
    return value


class Decoder:
    def __init__(self, data: bytes | bytearray | memoryview, max_depth: int = MAX_DEPTH) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def _need(self, n: int, what: str) -> int:
        pos = self.pos
        if n > len(self.data) - pos:
            raise CborError(
                "truncated",
                "%s needs %d bytes but only %d remain" % (what, n, len(self.data) - pos),
                pos,
                len(self.data),
            )
        self.pos = pos + n
        return pos

    # Reads an initial byte and its argument; returns (major, additional info, argument).
    def _head(self) -> tuple[int, int, int]:
        start = self.pos
        ib = self.data[self._need(1, "item head")]
        major = ib >> 5
        ai = ib & 0x1F
        if ai < 24:
            return major, ai, ai
        if ai == 24:
            return major, ai, self.data[self._need(1, "1-byte argument")]
        if ai == 25:
            return (
                major,
                ai,
                struct.unpack_from(">H", self.data, self._need(2, "2-byte argument"))[0],
            )
        if ai == 26:
            return (
                major,
                ai,
                struct.unpack_from(">I", self.data, self._need(4, "4-byte argument"))[0],
            )
        if ai == 27:
            return (
                major,
                ai,
                struct.unpack_from(">Q", self.data, self._need(8, "8-byte argument"))[0],
            )
        if ai == 31:
            if major == MAJOR_SIMPLE:
                raise CborError("break", "unexpected break code 0xff", start)
            if major in (MAJOR_UINT, MAJOR_NEGINT, MAJOR_TAG):
                raise CborError(
                    "malformed",
                    "additional information 31 is not well-formed for major type %d" % major,
                    start,
                )
            raise CborError(
                "indefinite",
                "indefinite-length items are not allowed on the wire (major type %d)" % major,
                start,
            )
        raise CborError(
            "malformed", "reserved additional information %d is not well-formed" % ai, start
        )

    def item(self, depth: int) -> object:
        if depth > self.max_depth:
            raise CborError("depth", "CBOR nests deeper than allowed", self.pos, self.max_depth)
        start = self.pos
        major, ai, n = self._head()
        if major == MAJOR_UINT:
            return n
        if major == MAJOR_NEGINT:
            return -1 - n
        if major == MAJOR_BYTES:
            p = self._need(n, "byte string")
            return bytes(self.data[p : p + n])
        if major == MAJOR_TEXT:
            p = self._need(n, "text string")
            raw = bytes(self.data[p : p + n])
            try:
                text = str(raw, "utf-8")
            except UnicodeError:
                raise CborError("utf8", "text string is not valid UTF-8", start) from None
            # MicroPython accepts overlong forms, surrogates and code points above
            # U+10FFFF; CPython and cbor2 do not. Check non-ASCII text strictly.
            if len(text) != n and not utf8_strict(raw):
                raise CborError("utf8", "text string is not valid UTF-8", start)
            return text
        if major == MAJOR_ARRAY:
            if n > len(self.data) - self.pos:
                raise CborError(
                    "truncated",
                    "array declares %d items but only %d bytes remain"
                    % (n, len(self.data) - self.pos),
                    start,
                    len(self.data),
                )
            return [self.item(depth + 1) for _ in range(n)]
        if major == MAJOR_MAP:
            if 2 * n > len(self.data) - self.pos:
                raise CborError(
                    "truncated",
                    "map declares %d pairs but only %d bytes remain"
                    % (n, len(self.data) - self.pos),
                    start,
                    len(self.data),
                )
            out = {}
            for _ in range(n):
                key_at = self.pos
                key = self.item(depth + 1)
                if isinstance(key, (list, dict)):
                    raise CborError("key", "map key must not be an array or a map", key_at)
                if key in out:
                    raise CborError("duplicate", "duplicate map key %r" % (key,), key_at)
                out[key] = self.item(depth + 1)
            return out
        if major == MAJOR_TAG:
            return Tag(n, self.item(depth + 1))
        # major type 7: simple values and floats
        if ai >= 25:
            raise CborError(
                "float", "floats are not part of the wire subset (scale to an integer)", start
            )
        if ai == 24 and n < 32:
            raise CborError(
                "malformed", "simple value %d in two bytes is not well-formed" % n, start
            )
        if n == 20:
            return False
        if n == 21:
            return True
        if n == 22:
            return None
        raise CborError("simple", "simple value %d is outside the wire subset" % n, start)


# RFC 3629 well-formed UTF-8: no overlong forms, no surrogates (U+D800..DFFF),
# nothing above U+10FFFF.
def utf8_strict(b: bytes) -> bool:
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            size, lo, hi = 2, 0x80, 0xBF
        elif c == 0xE0:
            size, lo, hi = 3, 0xA0, 0xBF
        elif 0xE1 <= c <= 0xEC or 0xEE <= c <= 0xEF:
            size, lo, hi = 3, 0x80, 0xBF
        elif c == 0xED:
            size, lo, hi = 3, 0x80, 0x9F
        elif c == 0xF0:
            size, lo, hi = 4, 0x90, 0xBF
        elif 0xF1 <= c <= 0xF3:
            size, lo, hi = 4, 0x80, 0xBF
        elif c == 0xF4:
            size, lo, hi = 4, 0x80, 0x8F
        else:
            return False
        if i + size > n or not lo <= b[i + 1] <= hi:
            return False
        for j in range(i + 2, i + size):
            if not 0x80 <= b[j] <= 0xBF:
                return False
        i += size
    return True
