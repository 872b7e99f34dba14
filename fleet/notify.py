"""Revocation and key-change notices to edge agents over MQTT.

After a node's key changes (provisioned, re-provisioned, revoked, moved to
another district) the fleet publishes ``{prefix}/{district}/fleet/keys``
(QoS 1, not retained) with ``{"changed": [node ids], "at": epoch seconds}``.
``fleet edge-sync`` subscribes and pulls the district's keys at once; the
periodic pull remains the fallback when a notice is lost.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger("fleet.notify")


def keys_topic(prefix: str, district: str) -> str:
    """Where a district's key notices go."""
    return f"{prefix.rstrip('/')}/{district}/fleet/keys"


class MqttNotifier:
    """Publishes key notices (a paho client with its own network thread)."""

    def __init__(self, *, host: str, port: int = 1883, prefix: str = "citynerve") -> None:
        self.prefix = prefix
        self.published = 0
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"citynerve-fleet-notify-{id(self):x}"
        )
        self._client.reconnect_delay_set(1, 30)
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def keys_changed(self, district: str, node_ids: Sequence[str]) -> None:
        """Tell the district's edges to pull keys now."""
        payload = json.dumps({"changed": list(node_ids), "at": round(time.time(), 3)})
        self._client.publish(keys_topic(self.prefix, district), payload, qos=1)
        self.published += 1

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()
