"""The uplink to the city platform: one small interface, and the forwarder above it.

:class:`Uplink` is what the forwarder needs from an MQTT client: QoS 1
publishes identified by a token (the packet id), an ``on_ack`` callback per
PUBACK, ``on_connected``/``on_disconnected`` callbacks, and a ``flush`` that
sends what :meth:`Uplink.publish` queued. :class:`edge_agent.uplink.mqtt.MqttUplink`
is the implementation (a purpose-built MQTT 3.1.1 publisher: see
docs/benchmarks.md for why not aiomqtt or paho).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Uplink(Protocol):
    """What the forwarder needs from an MQTT client."""

    connected: bool
    on_connected: Callable[[], None]
    on_disconnected: Callable[[str], None]
    on_ack: Callable[[int], None]

    @property
    def stopping(self) -> bool:
        """Whether the uplink is being closed on purpose."""
        ...

    def publish(self, topic: bytes, payload: bytes, *, retain: bool = False) -> int:
        """Queue a QoS 1 publish; return its token (reported to ``on_ack`` on PUBACK)."""
        ...

    def flush(self) -> None:
        """Send everything queued by :meth:`publish`."""
        ...
