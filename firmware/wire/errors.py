# Errors of the wire protocol on the node side. Every error carries a short code
# for counters (its class kind + "." + code, e.g. "frame.crc"), says what was
# wrong, where (byte offset, -1 when it does not apply), the limit that was
# broken (-1 when none) and the peer (a node id or a port name, "" when unknown).


class WireError(Exception):
    kind = "wire"

    def __init__(
        self, code: str, what: str, offset: int = -1, limit: int = -1, peer: str = ""
    ) -> None:
        super().__init__(what)
        self.code = code
        self.what = what
        self.offset = offset
        self.limit = limit
        self.peer = peer

    def __str__(self) -> str:
        text = self.what
        if self.offset >= 0:
            text += " at offset %d" % self.offset
        if self.limit >= 0:
            text += " (limit %d)" % self.limit
        if self.peer:
            text += " [peer %s]" % self.peer
        return text

    # The counter name for this error, e.g. "auth.replay".
    def reason(self) -> str:
        return self.kind + "." + self.code


# Bytes that are not well-formed CBOR, or CBOR outside the wire subset.
class CborError(WireError):
    kind = "cbor"


# A frame that is truncated, oversized or fails its CRC.
class FrameError(WireError):
    kind = "frame"


# A frame whose MAC does not verify, or that is replayed, reflected or reordered.
class AuthError(WireError):
    kind = "auth"


# A well-formed, authentic message that has the wrong shape or comes at the wrong time.
class ProtocolError(WireError):
    kind = "protocol"
