"""The agent in-process with real parts: TCP nodes (NodeSession), SQLite journal, Mosquitto."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import cbor2
import pytest
from edge_helpers import Broker, Node, batch_message, make_config, write_keys

from edge_agent.agent import EdgeAgent
from firmware.wire import protocol as P

NODES = [f"ja-hyd-{i:06d}" for i in range(8)]


def tcp_port(agent: EdgeAgent) -> int:
    assert agent.tcp is not None
    return agent.tcp.port


def ik_of(records: list[dict[Any, Any]]) -> str:
    return str(records[0]["ik"])


async def wait_for(pred: Any, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_batches_reach_the_platform_with_their_key_and_presence(
    tmp_path: Path, keys: Path, live_broker: Broker, agent_factory: Any, subscriber_factory: Any
) -> None:
    """Three nodes, five batches each: acked after commit, published once with the key."""
    config = make_config(tmp_path, broker=live_broker, keys=keys)
    prefix = config.mqtt.prefix
    sub = subscriber_factory(f"{prefix}/#")
    agent = await agent_factory(config)
    nodes = [await Node(n, tcp_port(agent)).connect() for n in NODES[:3]]
    for node in nodes:
        for seq in range(5):
            assert await node.batch(seq) == P.ACK_STORED
    readings = await sub.wait(lambda m: m.topic.endswith("/readings"), 15)
    assert len(readings) == 15
    seen = {ik_of(m.records()) for m in readings}
    assert seen == {f"{n}/1/{s}" for n in NODES[:3] for s in range(5)}
    message = next(m for m in readings if m.topic == f"{prefix}/jingan/hydrant/{NODES[0]}/readings")
    records = message.records()
    original = cbor2.loads(batch_message(NODES[0], 1, int(ik_of(records).split("/")[2])))[P.K_PACK]
    assert [{k: v for k, v in r.items() if k != "ik"} for r in records] == original
    assert not message.retain
    presence = await sub.wait(lambda m: m.topic.endswith(f"{NODES[1]}/presence"))
    doc = presence[-1].doc()
    assert doc["state"] == "online" and doc["firmware"] == "fw-1.0" and doc["edge"] == "edge-t"
    status = (await sub.wait(lambda m: m.topic.endswith(f"{NODES[1]}/status")))[-1].doc()
    assert (status["slot"], status["boot"], status["kit"]) == ("a", 3, "hydrant")
    late = subscriber_factory(f"{prefix}/jingan/+/+/presence")  # retained: a new subscriber
    edge = await late.wait(lambda m: m.topic == f"{prefix}/jingan/edges/edge-t/presence")
    assert edge[-1].doc()["state"] == "online" and edge[-1].retain
    assert len(await late.wait(lambda m: m.retain and "/hydrant/" in m.topic, 3)) == 3
    await wait_for(lambda: agent.journal.rows == 0)  # trimmed after PUBACK
    for node in nodes:
        await node.close()


async def test_a_resent_batch_is_acked_as_duplicate_and_published_once(
    tmp_path: Path, keys: Path, live_broker: Broker, agent_factory: Any, subscriber_factory: Any
) -> None:
    """Lost ack, resend on a new connection: ACK_DUPLICATE; the platform sees the key once."""
    config = make_config(tmp_path, broker=live_broker, keys=keys)
    sub = subscriber_factory(f"{config.mqtt.prefix}/+/+/+/readings")
    agent = await agent_factory(config)
    node = await Node(NODES[0], tcp_port(agent)).connect()
    assert await node.batch(7) == P.ACK_STORED
    node.send(batch_message(NODES[0], 1, 7))  # same connection, pending or committed
    await node.close()
    again = await Node(NODES[0], tcp_port(agent)).connect()
    assert await again.batch(7) == P.ACK_DUPLICATE
    assert await again.batch(8) == P.ACK_STORED
    await sub.wait(lambda m: True, 2)
    await asyncio.sleep(0.3)
    keys_seen = [ik_of(m.records()) for m in sub.where(lambda m: True)]
    assert sorted(keys_seen) == [f"{NODES[0]}/1/7", f"{NODES[0]}/1/8"]
    assert agent.ingest.duplicates >= 1
    await again.close()


async def test_alarms_preempt_the_backlog_after_an_outage(
    tmp_path: Path, keys: Path, live_broker: Broker, agent_factory: Any, subscriber_factory: Any
) -> None:
    """Batches journaled during a broker outage, then an alarm: the alarm is published first."""
    config = make_config(tmp_path, broker=live_broker, keys=keys, mqtt={"backlog_rate": 200.0})
    prefix = config.mqtt.prefix
    sub = subscriber_factory(f"{prefix}/#", client_id="sub-preempt")
    agent = await agent_factory(config)
    assert agent.uplink is not None
    await wait_for(lambda: agent.uplink is not None and agent.uplink.connected)
    live_broker.stop()
    await wait_for(lambda: agent.uplink is not None and not agent.uplink.connected)
    node = await Node(NODES[0], tcp_port(agent)).connect()
    for seq in range(150):
        await node.batch(seq, wait=False)
    await node.until(lambda: len(node.acks) == 150)
    assert await node.alarm(150, "entrapment") == P.ACK_STORED
    live_broker.start()
    got = await sub.wait(lambda m: "/readings" in m.topic or "/alarms/" in m.topic, 151, 30)
    order = [m.topic for m in got if "/readings" in m.topic or "/alarms/" in m.topic]
    alarm_at = order.index(f"{prefix}/jingan/alarms/hydrant/{NODES[0]}/entrapment")
    assert alarm_at < 5, order[:10]
    alarm = next(m for m in got if "/alarms/" in m.topic).records()
    assert alarm[0]["alarm"] == "entrapment" and alarm[0]["severity"] == 2
    assert ik_of(alarm) == f"{NODES[0]}/1/150"
    await node.close()


async def test_broker_stop_and_restart_lose_nothing(
    tmp_path: Path, keys: Path, live_broker: Broker, agent_factory: Any, subscriber_factory: Any
) -> None:
    """Nodes keep sending while the broker is down; every acked batch arrives afterwards."""
    config = make_config(tmp_path, broker=live_broker, keys=keys, mqtt={"live_queue": 50})
    sub = subscriber_factory(f"{config.mqtt.prefix}/+/+/+/readings", client_id="sub-restart")
    agent = await agent_factory(config)
    nodes = [await Node(n, tcp_port(agent)).connect() for n in NODES[:4]]
    sent = 0
    for round_ in range(3):
        for node in nodes:
            for seq in range(round_ * 40, round_ * 40 + 40):
                await node.batch(seq, wait=False)
                sent += 1
        if round_ == 0:
            live_broker.stop()
        if round_ == 1:
            live_broker.start()
        await asyncio.sleep(0.3)
    for node in nodes:
        await node.until(lambda n=node: len(n.acks) == 120, 20)
    got = await sub.wait(lambda m: True, sent, 40)
    assert {ik_of(m.records()) for m in got} == {
        f"{n}/1/{s}" for n in NODES[:4] for s in range(120)
    }
    await wait_for(lambda: agent.journal.rows == 0, 10)
    for node in nodes:
        await node.close()


async def test_journal_survives_agent_restart_and_resumes(
    tmp_path: Path, keys: Path, live_broker: Broker, subscriber_factory: Any
) -> None:
    """Batches journaled while the uplink is down are published by the next run."""
    dead = Broker.__new__(Broker)
    dead.port = 1  # nothing listens there
    config = make_config(tmp_path, broker=dead, keys=keys)
    async with EdgeAgent(config=config) as agent:
        node = await Node(NODES[2], tcp_port(agent)).connect()
        for seq in range(30):
            await node.batch(seq, wait=False)
        await node.until(lambda: len(node.acks) == 30)
        await node.close()
        assert agent.journal.rows == 30
    sub = subscriber_factory(f"{config.mqtt.prefix}/#")
    config2 = make_config(
        tmp_path, broker=live_broker, keys=keys, mqtt={"prefix": config.mqtt.prefix}
    )
    async with EdgeAgent(config=config2) as agent2:
        got = await sub.wait(lambda m: m.topic.endswith("/readings"), 30, 20)
        assert {ik_of(m.records()) for m in got} == {f"{NODES[2]}/1/{s}" for s in range(30)}
        await wait_for(lambda: agent2.journal.rows == 0)


@pytest.mark.parametrize("policy", ["refuse_new", "drop_oldest_periodic"])
async def test_disk_budget_policies_never_drop_alarms(
    tmp_path: Path, keys: Path, live_broker: Broker, subscriber_factory: Any, policy: str
) -> None:
    """Budget of ~20 batches with the broker away: refuse (close) or drop oldest; alarms kept."""
    dead = Broker.__new__(Broker)
    dead.port = 1
    budget = {"disk_budget_mb": 0.012, "alarm_reserve_mb": 0.01, "when_full": policy}
    config = make_config(tmp_path, broker=dead, keys=keys, journal=budget)
    async with EdgeAgent(config=config) as agent:
        node = await Node(NODES[3], tcp_port(agent)).connect()
        acked = 0
        for seq in range(40):
            node.send(batch_message(NODES[3], 1, seq))
            try:
                await node.until(lambda s=seq: (1, s) in node.acks, 5)
                acked += 1
            except ConnectionError:
                break
        if policy == "refuse_new":
            assert 10 < acked < 40
            assert agent.ingest.refused_full[0] == 1
            assert agent.ingest.closed_links.get("journal_full") == 1
            node = await Node(NODES[3], tcp_port(agent)).connect()
        else:
            assert acked == 40
            assert (
                agent.dropped.batches >= 15 and agent.dropped.readings == 20 * agent.dropped.batches
            )
            assert agent.journal.bytes <= agent.journal.budget + 600
        for seq in range(100, 104):  # alarms use the reserve
            assert await node.alarm(seq) == P.ACK_STORED
        rows = agent.journal.rows
        await node.close()
    sub = subscriber_factory(f"{config.mqtt.prefix}/#")
    config2 = make_config(
        tmp_path,
        broker=live_broker,
        keys=keys,
        mqtt={"prefix": config.mqtt.prefix},
        journal={**budget, "disk_budget_mb": 10.0},
    )
    async with EdgeAgent(config=config2):
        got = await sub.wait(lambda m: "/readings" in m.topic or "/alarms/" in m.topic, rows, 20)
        alarms = {ik_of(m.records()) for m in got if "/alarms/" in m.topic}
        assert alarms == {f"{NODES[3]}/1/{s}" for s in range(100, 104)}
        batches = sorted(
            int(ik_of(m.records()).split("/")[2]) for m in got if "/readings" in m.topic
        )
        if policy == "drop_oldest_periodic":
            assert batches == list(range(40 - len(batches), 40))  # the newest survived
        else:
            assert batches == list(range(len(batches)))


async def test_a_slow_subscriber_does_not_slow_the_nodes(
    tmp_path: Path, keys: Path, live_broker: Broker, agent_factory: Any, subscriber_factory: Any
) -> None:
    """A subscriber taking 10 ms per message: acks stay fast, everything arrives."""
    config = make_config(tmp_path, broker=live_broker, keys=keys)
    slow = subscriber_factory(f"{config.mqtt.prefix}/+/+/+/readings", delay_s=0.01)
    agent = await agent_factory(config)
    node = await Node(NODES[4], tcp_port(agent)).connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for seq in range(200):
        await node.batch(seq, wait=False)
    await node.until(lambda: len(node.acks) == 200, 10)
    assert loop.time() - started < 3.0  # not 200 x 10 ms
    got = await slow.wait(lambda m: True, 200, 30)
    assert len({ik_of(m.records()) for m in got}) == 200
    await node.close()


async def test_json_payloads_are_senml_json_with_the_key(
    tmp_path: Path, keys: Path, live_broker: Broker, agent_factory: Any, subscriber_factory: Any
) -> None:
    """mqtt.format = json: RFC 8428 JSON labels, decimal values as numbers, ik included."""
    config = make_config(tmp_path, broker=live_broker, keys=keys, mqtt={"format": "json"})
    sub = subscriber_factory(f"{config.mqtt.prefix}/#")
    agent = await agent_factory(config)
    node = await Node(NODES[5], tcp_port(agent)).connect()
    await node.batch(3)
    (msg,) = await sub.wait(lambda m: m.topic.endswith("/readings"))
    records = json.loads(msg.payload)
    assert records[0]["bn"] == f"{NODES[5]}:" and records[0]["n"] == "temp"
    assert records[0]["u"] == "Cel" and isinstance(records[0]["v"], float)
    assert records[0]["ik"] == f"{NODES[5]}/1/3"
    assert records[1]["n"] == "pressure" and isinstance(records[1]["v"], int)
    presence = (await sub.wait(lambda m: m.topic.endswith("/presence")))[0]
    assert json.loads(presence.payload)["state"] in ("online", "offline")
    await node.close()


async def test_metrics_and_healthz(tmp_path: Path, keys: Path, agent_factory: Any) -> None:
    """Prometheus text with the documented series; /healthz JSON; 404 and 405."""
    agent = await agent_factory(make_config(tmp_path, broker=None, keys=keys))
    node = await Node(NODES[0], tcp_port(agent)).connect()
    await node.batch(1)
    assert agent.metrics is not None
    base = f"http://127.0.0.1:{agent.metrics.port}"

    def get(path: str, method: str = "GET") -> tuple[int, str]:
        request = urllib.request.Request(base + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    status, text = await asyncio.to_thread(get, "/metrics")
    assert status == 200
    for series in (
        "citynerve_edge_connections 1",
        'citynerve_edge_frames_total{type="batch"} 1',
        'citynerve_edge_stored_total{class="periodic"} 1',
        "citynerve_edge_journal_rows 1",
        "citynerve_edge_journal_oldest_age_seconds",
        "# TYPE citynerve_edge_publish_latency_seconds histogram",
    ):
        assert series in text, series
    status, body = await asyncio.to_thread(get, "/healthz")
    assert status == 200 and json.loads(body)["ok"] is True
    assert (await asyncio.to_thread(get, "/nope"))[0] == 404
    assert (await asyncio.to_thread(get, "/metrics", "POST"))[0] == 405
    await node.close()


async def test_silent_and_garbage_connections_are_closed_without_stalling_others(
    tmp_path: Path, keys: Path, agent_factory: Any
) -> None:
    """No hello: closed after hello_timeout_s. Garbage, unknown node, bad MAC: refused by reason."""
    agent = await agent_factory(make_config(tmp_path, broker=None, keys=keys))
    port = tcp_port(agent)
    good = await Node(NODES[0], port).connect()
    silent_r, silent_w = await asyncio.open_connection("127.0.0.1", port)
    garbage_r, garbage_w = await asyncio.open_connection("127.0.0.1", port)
    garbage_w.write(b"GET / HTTP/1.0\r\n\r\n" * 3)
    assert await asyncio.wait_for(garbage_r.read(), 5) == b""
    stranger = Node("ja-hyd-999999", port)
    with pytest.raises(ConnectionError):
        await stranger.connect()
    forger = Node(NODES[1], port, key=bytes(32))
    with pytest.raises(ConnectionError):
        await forger.connect()
    assert await good.batch(1) == P.ACK_STORED  # unaffected meanwhile
    assert await asyncio.wait_for(silent_r.read(), 5) == b""  # hello timeout
    refused = agent.ingest.refused
    assert refused.get("frame.garbage", 0) >= 1
    assert refused.get("auth.unknown_node") == 1
    assert refused.get("auth.mac") == 1
    assert agent.ingest.closed_links.get("hello_timeout") == 1
    assert await good.batch(2) == P.ACK_STORED
    for w in (silent_w, garbage_w):
        w.close()
    await good.close()


async def test_keys_file_edited_while_nodes_are_connected(
    tmp_path: Path, keys: Path, agent_factory: Any
) -> None:
    """Revoke closes the node and refuses it; rotate closes and the new key works; others stay."""
    agent = await agent_factory(make_config(tmp_path, broker=None, keys=keys))
    port = tcp_port(agent)
    revoked, rotated, steady = [await Node(n, port).connect() for n in NODES[:3]]
    for n in (revoked, rotated, steady):
        assert await n.batch(1) == P.ACK_STORED
    new_key = bytes(range(100, 132))
    doc = json.loads(keys.read_text())  # noqa: ASYNC240 - a small local file
    doc["nodes"][NODES[0]]["revoked"] = True
    doc["nodes"][NODES[1]]["key"] = new_key.hex()
    doc["nodes"]["ja-new-000001"] = {"key": bytes(range(32)).hex()}
    keys.with_suffix(".new").write_text(json.dumps(doc))
    keys.with_suffix(".new").chmod(0o600)
    keys.with_suffix(".new").replace(keys)
    for n in (revoked, rotated):
        with pytest.raises(ConnectionError):
            await n.until(lambda: False, 5)
    assert await steady.batch(2) == P.ACK_STORED
    with pytest.raises(ConnectionError):
        await Node(NODES[0], port).connect()
    with pytest.raises(ConnectionError):
        await Node(NODES[1], port).connect()  # old key
    fresh = await Node(NODES[1], port, key=new_key).connect()
    assert await fresh.batch(1) == P.ACK_DUPLICATE  # dedup survives the rotation
    newcomer = await Node("ja-new-000001", port, key=bytes(range(32))).connect()
    assert await newcomer.batch(1) == P.ACK_STORED
    assert agent.keys.reloads == 1
    assert agent.ingest.closed_links.get("key_changed") == 2
    # a broken edit keeps the keys in force
    keys.write_text("{not json")  # noqa: ASYNC240
    await wait_for(lambda: agent.keys.reload_errors >= 1, 5)
    assert agent.keys.lookup(NODES[2]) is not None
    for n in (steady, fresh, newcomer):
        await n.close()


async def test_presence_offline_after_the_window_and_asleep_for_sleepers(
    tmp_path: Path, live_broker: Broker, agent_factory: Any, subscriber_factory: Any
) -> None:
    """A mains node goes offline after the keepalive window; a sleeper is asleep, then offline."""
    keys = write_keys(tmp_path / "keys.json", {NODES[0]: {}, NODES[1]: {"sleep_s": 2}})
    config = make_config(
        tmp_path, broker=live_broker, keys=keys, presence={"grace": 1.0, "sleep_grace": 1.0}
    )
    sub = subscriber_factory(f"{config.mqtt.prefix}/+/+/+/presence")
    agent = await agent_factory(config)
    mains = await Node(NODES[0], tcp_port(agent)).connect()
    sleeper = await Node(NODES[1], tcp_port(agent)).connect()
    await sleeper.batch(1)
    await sleeper.close()

    def states(node: str) -> list[str]:
        return [m.doc()["state"] for m in sub.where(lambda m: f"/{node}/" in m.topic)]

    await wait_for(lambda: states(NODES[1])[-1:] == ["asleep"], 5)
    await wait_for(lambda: states(NODES[1])[-1:] == ["offline"], 6)
    # the mains node sends nothing: disconnected after the window, then offline
    with pytest.raises(ConnectionError):
        await mains.until(lambda: False, 9)
    await wait_for(lambda: states(NODES[0])[-1:] == ["offline"], 3)
    assert states(NODES[0])[0] == "online"
    assert agent.ingest.closed_links.get("keepalive_missed") == 1
    retained = [m for m in sub.where(lambda m: True) if m.retain]
    assert retained == [] or all(m.topic.endswith("/presence") for m in retained)
