# Frames: the same bytes on TCP and on a serial line.
#
#   offset  size  field
#   0       2     sync 0xC3 0x4E
#   2       1     version (1)
#   3       1     bus address (0 on TCP and point-to-point serial; the node's
#                 address on a multi-drop RS-485 bus polled by the edge)
#   4       2     body length L, big-endian, MIN_BODY..max_body
#   6       1     CRC-8 (poly 0x07, init 0) of bytes 2..5
#   7       L     body: counter (4, big-endian) | CBOR message | MAC (16)
#   7+L     4     CRC-32 (binascii.crc32) of bytes 0..7+L-1, big-endian
#
# The header CRC lets a receiver refuse a corrupt length at once instead of
# waiting for bytes that will never come; the length is checked against the
# receiver's limit before anything is buffered for it. After any error the
# receiver resumes its search for a sync one byte after the failed frame start,
# so it resynchronises after garbage, flipped bits or dropped bytes.

import binascii
import struct

try:
    from micropython import const
except ImportError:

    def const(x: int) -> int:  # type: ignore[misc]
        return x


from firmware.wire.errors import FrameError

SYNC0 = const(0xC3)
SYNC1 = const(0x4E)
FRAME_VERSION = const(1)
HEADER_LEN = const(7)
TRAILER_LEN = const(4)
OVERHEAD = const(11)
COUNTER_LEN = const(4)
MAC_LEN = const(16)
MIN_BODY = const(21)  # counter + at least one CBOR byte + MAC
MAX_BODY = const(4096)  # the largest body any receiver must accept
NODE_MAX_BODY = const(1024)  # what a node sends and receives (its buffers)


def _crc8_table() -> bytes:
    table = bytearray(256)
    for i in range(256):
        c = i
        for _ in range(8):
            c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        table[i] = c
    return bytes(table)


_CRC8 = _crc8_table()


def crc8(data: bytes | bytearray | memoryview) -> int:
    c = 0
    for b in data:
        c = _CRC8[c ^ b]
    return c


# Writes a frame header for a body of body_len bytes at buf[0:7]; the body goes
# at buf[7:7+body_len]. Returns the body offset.
def write_header(buf: bytearray, address: int, body_len: int) -> int:
    if body_len < MIN_BODY or body_len > MAX_BODY:
        raise FrameError("length", "body of %d bytes is out of range" % body_len, 4, MAX_BODY)
    buf[0] = SYNC0
    buf[1] = SYNC1
    buf[2] = FRAME_VERSION
    buf[3] = address
    buf[4] = body_len >> 8
    buf[5] = body_len & 0xFF
    buf[6] = crc8(memoryview(buf)[2:6])
    return HEADER_LEN


# Writes the CRC-32 after a body of body_len bytes; returns the frame length.
def write_trailer(buf: bytearray, body_len: int) -> int:
    end = HEADER_LEN + body_len
    struct.pack_into(">I", buf, end, binascii.crc32(memoryview(buf)[:end]) & 0xFFFFFFFF)
    return end + TRAILER_LEN


# Finds frames in a byte stream. Bytes go in through feed() (or space() +
# commit() to read straight into the buffer); next_frame() returns the body of
# the next good frame as a memoryview into the buffer (valid until the next
# feed/commit), None when more bytes are needed, or raises FrameError for bytes
# it had to discard (then call it again). `address` and `header` describe the
# frame last returned.
class FrameReader:
    def __init__(self, max_body: int = MAX_BODY, peer: str = "") -> None:
        if max_body < MIN_BODY or max_body > MAX_BODY:
            raise ValueError("max_body must be %d..%d" % (MIN_BODY, MAX_BODY))
        self.max_body = max_body
        self.peer = peer
        self.buf = bytearray(OVERHEAD + max_body)
        self.mv = memoryview(self.buf)
        self.start = 0
        self.end = 0
        self.consumed = 0  # stream offset of buf[0], for error offsets
        self.address = 0
        self.header = self.mv[2:6]
        self.discarded = 0  # bytes dropped while resynchronising (total)

    def _compact(self) -> None:
        if self.start:
            n = self.end - self.start
            self.buf[:n] = self.mv[self.start : self.end]
            self.consumed += self.start
            self.start = 0
            self.end = n

    # Free space to read into (compacts first).
    def space(self) -> memoryview:
        self._compact()
        return self.mv[self.end :]

    def commit(self, n: int) -> None:
        self.end += n

    # Copies as much of data as fits; returns how many bytes were taken.
    def feed(self, data: bytes | bytearray | memoryview) -> int:
        room = self.space()
        n = min(len(room), len(data))
        room[:n] = data[:n] if n < len(data) else data
        self.end += n
        return n

    def pending(self) -> int:
        return self.end - self.start

    def _error(self, code: str, what: str, at: int, limit: int = -1) -> FrameError:
        return FrameError(code, what, self.consumed + at, limit, self.peer)

    def next_frame(self) -> memoryview | None:
        buf = self.buf
        start = self.start
        end = self.end
        # hunt for the sync pair (a lone SYNC0 at the end may be its first half)
        i = start
        while i < end:
            if buf[i] == SYNC0 and (i + 1 == end or buf[i + 1] == SYNC1):
                break
            i += 1
        if i > start:
            self.start = i
            self.discarded += i - start
            raise self._error(
                "garbage", "%d bytes before a frame sync discarded" % (i - start), start
            )
        if end - start < HEADER_LEN:
            return None
        if (
            buf[start + 2] != FRAME_VERSION
            or crc8(self.mv[start + 2 : start + 6]) != buf[start + 6]
        ):
            self.start = start + 1
            self.discarded += 1
            if buf[start + 6] == crc8(self.mv[start + 2 : start + 6]):
                raise self._error(
                    "version", "frame version %d is not supported" % buf[start + 2], start + 2, 1
                )
            raise self._error("header", "frame header CRC mismatch", start + 6)
        body_len = (buf[start + 4] << 8) | buf[start + 5]
        if body_len > self.max_body or body_len < MIN_BODY:
            self.start = start + 1
            self.discarded += 1
            raise self._error(
                "length",
                "frame declares a body of %d bytes (allowed %d..%d)"
                % (body_len, MIN_BODY, self.max_body),
                start + 4,
                self.max_body,
            )
        total = HEADER_LEN + body_len + TRAILER_LEN
        if end - start < total:
            return None
        crc_at = start + HEADER_LEN + body_len
        got = struct.unpack_from(">I", buf, crc_at)[0]
        if binascii.crc32(self.mv[start:crc_at]) & 0xFFFFFFFF != got:
            self.start = start + 1
            self.discarded += 1
            raise self._error("crc", "frame CRC-32 mismatch", crc_at)
        self.start = start + total
        self.address = buf[start + 3]
        self.header = self.mv[start + 2 : start + 6]
        return self.mv[start + HEADER_LEN : crc_at]
