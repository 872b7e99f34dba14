"""The edge agent's side of the node wire protocol (transport-free).

Constants and message shapes live in :mod:`firmware.wire.protocol`; this package
holds the edge's session state machine and its fast host-side verification.
"""

from edge_agent.protocol.errors import EdgeProtocolError
from edge_agent.protocol.session import (
    Alarm,
    Batch,
    CommandResult,
    EdgeSession,
    Event,
    Hello,
    Keepalive,
    OtaMessage,
    Refused,
    Status,
)

__all__ = [
    "Alarm",
    "Batch",
    "CommandResult",
    "EdgeProtocolError",
    "EdgeSession",
    "Event",
    "Hello",
    "Keepalive",
    "OtaMessage",
    "Refused",
    "Status",
]
