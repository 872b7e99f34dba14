"""The edge side's one exception base for bad bytes from a node."""

from __future__ import annotations

from firmware.wire.errors import WireError


class EdgeProtocolError(WireError):
    """A node's bytes were refused by the edge.

    ``reason()`` gives the counter name (``frame.crc``, ``auth.replay``,
    ``auth.unknown_node``, ``protocol.field`` ...); ``str()`` says what was wrong,
    where (offset), the limit and the peer.
    """

    kind = "edge"

    def __init__(  # noqa: PLR0917 - the WireError signature plus the kind
        self, kind: str, code: str, what: str, offset: int = -1, limit: int = -1, peer: str = ""
    ) -> None:
        super().__init__(code, what, offset, limit, peer)
        self.kind = kind

    @classmethod
    def wrap(cls, error: WireError, peer: str) -> EdgeProtocolError:
        """Re-raise a shared-module error as the edge's own, naming the peer."""
        if isinstance(error, EdgeProtocolError):
            if not error.peer:
                error.peer = peer
            return error
        return cls(error.kind, error.code, error.what, error.offset, error.limit, peer)
