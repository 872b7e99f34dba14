"""The MQTT publisher against a real Mosquitto, and the zeroconf advertisement on loopback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from edge_helpers import Broker, make_config
from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from edge_agent.discovery import SERVICE_TYPE
from edge_agent.uplink.mqtt import MqttUplink


async def _until(pred: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_publishes_are_acked_and_the_will_fires_on_a_lost_connection(
    live_broker: Broker, subscriber_factory: Any
) -> None:
    sub = subscriber_factory("uplink-t/#")
    up = MqttUplink(
        host="127.0.0.1",
        port=live_broker.port,
        client_id="uplink-test",
        will=(b"uplink-t/edge/presence", b"offline"),
        birth=(b"uplink-t/edge/presence", b"online"),
    )
    acked: list[int] = []
    up.on_ack = acked.append
    async with up:
        await _until(lambda: up.connected)
        pids = [up.publish(f"uplink-t/data/{i}".encode(), bytes([i]) * 300) for i in range(200)]
        up.flush()
        await _until(lambda: set(acked) >= set(pids))
        assert len(set(pids)) == 200
        await sub.wait(lambda m: "/data/" in m.topic, 200)
        assert up._proto is not None and up._proto.transport is not None
        up._proto.transport.abort()  # as if the edge died: no DISCONNECT
        got = await sub.wait(lambda m: m.payload == b"offline", 1)
        assert got[0].topic == "uplink-t/edge/presence"
        await _until(lambda: up.connected and up.connects == 2)  # reconnected
        await sub.wait(lambda m: m.payload == b"online", 2)
    # a clean stop publishes the offline presence itself
    await sub.wait(lambda m: m.payload == b"offline", 2)


async def test_reconnect_backoff_is_capped_and_recovers(live_broker: Broker) -> None:
    up = MqttUplink(
        host="127.0.0.1",
        port=live_broker.port,
        client_id="uplink-backoff",
        reconnect_min_s=0.02,
        reconnect_max_s=0.2,
    )
    async with up:
        await _until(lambda: up.connected)
        live_broker.stop()
        await _until(lambda: not up.connected)
        failures = up.connect_failures
        await asyncio.sleep(1.5)
        # doubling from 0.02 s capped at 0.2 s: at least 1.5 / 0.2 further attempts
        assert up.connect_failures - failures >= 7
        assert "refused" in up.last_error.lower() or "connect" in up.last_error.lower()
        live_broker.start()
        started = time.monotonic()
        await _until(lambda: up.connected, 5)
        assert time.monotonic() - started < 1.0


async def test_the_agent_advertises_itself_with_zeroconf_on_loopback(
    tmp_path: Path, keys: Path, agent_factory: Any
) -> None:
    config = make_config(
        tmp_path, broker=None, keys=keys, discovery={"enabled": True, "interfaces": ["127.0.0.1"]}
    )
    agent = await agent_factory(config)
    assert agent.advertiser is not None
    await asyncio.wait_for(agent.advertiser.registered.wait(), 10)
    zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    found: list[str] = []

    def on_change(zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        if state_change is ServiceStateChange.Added:
            found.append(name)

    browser = AsyncServiceBrowser(zc.zeroconf, [SERVICE_TYPE], handlers=[on_change])
    try:
        await _until(lambda: "edge-t._citynerve-edge._tcp.local." in found, 10)
        info = AsyncServiceInfo(SERVICE_TYPE, "edge-t._citynerve-edge._tcp.local.")
        assert await info.async_request(zc.zeroconf, 3000)
        assert info.port == agent.tcp.port
        assert info.properties == {b"edge": b"edge-t", b"district": b"jingan", b"proto": b"1"}
        assert "127.0.0.1" in info.parsed_addresses()
    finally:
        await browser.async_cancel()
        await zc.async_close()
