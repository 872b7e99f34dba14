"""Edge ingest benchmark: N node connections -> edge agent -> a real Mosquitto.

    .venv/bin/python benchmarks/edge_ingest.py [--connections 2000] [--seconds 10]

Phases, each against a fresh agent process (`edge-agent run`) and journal:
  1. ingest_only  - mqtt.enabled = false: frames, auth, dedup, journal, ack
  2. full         - the same plus the uplink into a private Mosquitto
  3. latency      - full path at a fixed offered rate (--rate, default 10,000 batches/s)
  4. clients      - QoS 1 publish rate of aiomqtt, paho (one thread) and the agent's
                    own publisher against the same broker (why the uplink is what it is)

The load generator runs in another process (this file with --loadgen). It
does the handshake with the firmware's NodeSession, then frames pre-encoded
20-reading packs itself (HMAC via CPython's hmac), verifies every ack's MAC,
and reports its own CPU use so it is never the bound unknowingly.

The last line is one JSON object: batches_per_s, readings_per_s, ack_p50_ms,
ack_p99_ms, rss_mb, ratio_vs_ingest_only (and the details).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware.wire.frame import COUNTER_LEN, MAC_LEN, crc8  # noqa: E402
from firmware.wire.mac import DIR_EDGE_TO_NODE, DIR_NODE_TO_EDGE, DOMAIN  # noqa: E402
from firmware.wire.node_session import NodeSession  # noqa: E402
from hardware.virtual_node import build_batch, demo_key  # noqa: E402

READINGS = 20
EPOCH = 1
VARIANTS = 4  # distinct packs per node


# --- load generator (runs in its own process) --------------------------------


def _uint(n: int) -> bytes:
    if n < 24:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x18, n))
    if n < 0x10000:
        return b"\x19" + n.to_bytes(2, "big")
    return b"\x1a" + n.to_bytes(4, "big")


class Conn(asyncio.Protocol):
    """One virtual node: NodeSession handshake, then a fast framing path."""

    def __init__(self, gen: LoadGen, index: int) -> None:
        self.gen = gen
        self.node_id = f"ja-hyd-{index:06d}"
        self.key = demo_key(self.node_id)
        self.session = NodeSession(self.node_id, self.key, os.urandom(16))
        rng = random.Random(index)
        # pre-encoded packs (the message's last item, key 23), used in turn: new
        # readings and base time in each, as a node's successive batches have
        self.pack_tails = []
        for k in range(VARIANTS):
            message = build_batch(
                self.node_id, EPOCH, 0, base_time=1_790_000_000 + 60 * k, readings=READINGS, rng=rng
            )
            self.pack_tails.append(
                message[
                    message.index(
                        b"\x17\x98" if READINGS >= 24 else bytes((0x17, 0x80 | READINGS))
                    ) :
                ]
            )
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.buf = bytearray()
        self.seq = 0
        self.sent: dict[int, float] = {}
        self.established = False
        self.tx = None
        self.rx = None
        self.rx_counter = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(bytes(self.session.hello("bench-1.0", "a", 1, "hydrant", [])))  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.established:
            for name, _value in self.session.feed(data):
                if name == "welcome":
                    s = self.session
                    self.tx = hmac.new(self.key, digestmod=hashlib.sha256)
                    self.tx.update(
                        DOMAIN + bytes((DIR_NODE_TO_EDGE,)) + s.node_nonce + s.edge_nonce
                    )
                    self.rx = hmac.new(self.key, digestmod=hashlib.sha256)
                    self.rx.update(
                        DOMAIN + bytes((DIR_EDGE_TO_NODE,)) + s.node_nonce + s.edge_nonce
                    )
                    self.established = True
                    if not self.ready.done():
                        self.ready.set_result(None)
                elif name == "error":
                    self.gen.errors += 1
            return
        buf = self.buf
        buf += data
        pos = 0
        now = time.perf_counter()
        while len(buf) - pos >= 11:
            body_len = (buf[pos + 4] << 8) | buf[pos + 5]
            end = pos + 7 + body_len + 4
            if len(buf) < end:
                break
            body = bytes(buf[pos + 7 : pos + 7 + body_len])
            mac = self.rx.copy()  # type: ignore[union-attr]
            mac.update(bytes(buf[pos + 2 : pos + 6]))
            mac.update(body[:-MAC_LEN])
            if not hmac.compare_digest(mac.digest()[:MAC_LEN], body[-MAC_LEN:]):
                self.gen.errors += 1
            else:
                msg = body[COUNTER_LEN:-MAC_LEN]
                # ack: {0: 5, 10: epoch, 11: seq, 12: result}
                if msg[1:3] == b"\x00\x05":
                    seq = _decode_seq(msg)
                    t = self.sent.pop(seq, None)
                    if t is not None:
                        self.gen.acked(now - t)
                        self.gen.on_ack(self)
            pos = end
        del buf[:pos]

    def send_batch(self) -> None:
        seq = self.seq
        self.seq += 1
        tail = self.pack_tails[seq % VARIANTS]
        message = b"\xa4\x00\x03\x0a" + _uint(EPOCH) + b"\x0b" + _uint(seq) + tail
        counter = self.session.tx_counter
        self.session.tx_counter = counter + 1
        body_len = COUNTER_LEN + len(message) + MAC_LEN
        head = bytes((0xC3, 0x4E, 1, 0, body_len >> 8, body_len & 0xFF))
        head += bytes((crc8(head[2:6]),))
        ctr = counter.to_bytes(4, "big")
        mac = self.tx.copy()  # type: ignore[union-attr]
        mac.update(head[2:6])
        mac.update(ctr)
        mac.update(message)
        frame = head + ctr + message + mac.digest()[:MAC_LEN]
        frame += struct.pack(">I", zlib.crc32(frame))
        self.sent[seq] = time.perf_counter()
        self.transport.write(frame)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.gen.stopping:
            self.gen.lost += 1


def _decode_seq(msg: bytes) -> int:
    # {0:5, 10:epoch, 11:seq, 12:result}: skip 0x0a and the epoch, read after 0x0b
    i = 3
    assert msg[i] == 0x0A
    i += 1
    i += _skip_uint(msg, i)
    assert msg[i] == 0x0B
    i += 1
    ai = msg[i] & 0x1F
    if ai < 24:
        return ai
    n = 1 << (ai - 24)
    return int.from_bytes(msg[i + 1 : i + 1 + n], "big")


def _skip_uint(msg: bytes, i: int) -> int:
    ai = msg[i] & 0x1F
    return 1 if ai < 24 else 1 + (1 << (ai - 24))


class LoadGen:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.acks = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.lost = 0
        self.stopping = False
        self.measuring = False
        self.conns: list[Conn] = []

    def acked(self, latency: float) -> None:
        self.acks += 1
        if self.measuring:
            self.latencies.append(latency)

    def on_ack(self, conn: Conn) -> None:
        if self.args.window and not self.stopping:
            conn.send_batch()

    async def run(self) -> dict[str, object]:
        args = self.args
        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(200)

        async def connect(i: int) -> None:
            async with sem:
                _, conn = await loop.create_connection(lambda: Conn(self, i), args.host, args.port)
                await asyncio.wait_for(conn.ready, 30)
                self.conns.append(conn)

        await asyncio.gather(*(connect(i) for i in range(args.connections)))
        cpu0 = time.process_time()
        if args.window:
            for conn in self.conns:
                for _ in range(args.window):
                    conn.send_batch()
        if args.window:
            await asyncio.sleep(args.warmup)
        else:  # the latency phase warms up at its rate too, not idle
            await self._offer(args.rate, args.warmup)
        self.measuring = True
        acks0, cpu1, t0 = self.acks, time.process_time(), time.perf_counter()
        print(json.dumps({"event": "measuring"}), flush=True)
        if args.window:
            await asyncio.sleep(args.seconds)
        else:
            await self._offer(args.rate, args.seconds)
        t1, acks1, cpu2 = time.perf_counter(), self.acks, time.process_time()
        self.measuring = False
        self.stopping = True
        await asyncio.sleep(0.5)
        lat = sorted(self.latencies)
        elapsed = t1 - t0

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else -1.0

        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.close()
        return {
            "connections": len(self.conns),
            "acks": acks1 - acks0,
            "seconds": round(elapsed, 3),
            "acks_per_s": round((acks1 - acks0) / elapsed, 1),
            "ack_p50_ms": pct(0.50),
            "ack_p99_ms": pct(0.99),
            "loadgen_cpu_pct": round(100 * (cpu2 - cpu1) / elapsed, 1),
            "loadgen_setup_cpu_s": round(cpu0, 2),
            "errors": self.errors,
            "lost_connections": self.lost,
        }

    async def _offer(self, rate: float, seconds: float) -> None:
        """Send `rate` batches/s spread over every connection, in 5 ms ticks."""
        tick = 0.005
        per_tick = rate * tick
        owed = 0.0
        i = 0
        conns = self.conns
        start = time.perf_counter()
        n = 0
        while (now := time.perf_counter()) - start < seconds:
            owed = rate * (now - start) - n
            k = int(owed)
            for _ in range(k):
                conns[i].send_batch()
                i = (i + 1) % len(conns)
            n += k
            await asyncio.sleep(tick)
        _ = per_tick


def loadgen_main(args: argparse.Namespace) -> None:
    import uvloop

    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    result = uvloop.run(LoadGen(args).run())
    print(json.dumps({"event": "result", **result}), flush=True)


# --- orchestration ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    def __init__(self, work: Path) -> None:
        self.port = free_port()
        conf = work / "mosquitto.conf"
        (work / "mq").mkdir()
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {work / 'mq'}/\nmax_queued_messages 0\n"
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def cpu_s(self) -> float:
        return _proc_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_keys(path: Path, n: int) -> None:
    nodes = {f"ja-hyd-{i:06d}": {"key": demo_key(f"ja-hyd-{i:06d}").hex()} for i in range(n)}
    path.write_text(json.dumps({"nodes": nodes}))
    path.chmod(0o600)


class Agent:
    def __init__(self, work: Path, name: str, *, mqtt_port: int | None, keys: Path) -> None:
        self.dir = work / name
        self.dir.mkdir()
        self.port = free_port()
        self.metrics_port = free_port()
        config = self.dir / "edge.toml"
        config.write_text(
            f'[edge]\nid = "bench-{name}"\ndistrict = "bench"\nstate_dir = "{self.dir}"\n'
            f'[keys]\nfile = "{keys}"\n'
            f'[tcp]\nhost = "127.0.0.1"\nport = {self.port}\nmax_connections = 20000\n'
            f"[mqtt]\nenabled = {'true' if mqtt_port else 'false'}\nport = {mqtt_port or 1883}\n"
            f"max_inflight = 2000\n"
            f"[metrics]\nport = {self.metrics_port}\n[discovery]\nenabled = false\n"
            '[log]\nlevel = "warning"\n'
        )
        self.log = (self.dir / "agent.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(config)],
            stderr=self.log,
            cwd=ROOT,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"agent did not start: {(self.dir / 'agent.log').read_text()[-2000:]}")

    def metric(self, name: str) -> float:
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10)
            .read()
            .decode()
        )
        total = 0.0
        for line in text.splitlines():
            if line.startswith("citynerve_edge_" + name) and not line.startswith("#"):
                key = line.split(" ")[0].split("{")[0]
                if key == "citynerve_edge_" + name:
                    total += float(line.split(" ")[1])
        return total

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_loadgen(
    agent: Agent, args: argparse.Namespace, *, window: int, rate: float, seconds: float, during=None
) -> dict:  # type: ignore[no-untyped-def]
    cmd = [
        sys.executable, __file__, "--loadgen", "--host", "127.0.0.1", "--port", str(agent.port),
        "--connections", str(args.connections), "--seconds", str(seconds), "--window", str(window),
        "--rate", str(rate), "--warmup", str(args.warmup),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    result: dict = {}
    marks: dict = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        msg = json.loads(line)
        if msg["event"] == "measuring":
            marks["t0"] = time.perf_counter()
            marks["agent_cpu0"] = _proc_cpu(agent.proc.pid)
            if during:
                marks.update(during("start"))
        elif msg["event"] == "result":
            result = msg
    proc.wait()
    result.pop("event", None)
    if "t0" in marks:
        elapsed = result["seconds"]
        result["agent_cpu_pct"] = round(
            100 * (_proc_cpu(agent.proc.pid) - marks["agent_cpu0"]) / elapsed, 1
        )
        if during:
            result.update(during("end", marks))
    result["rss_mb"] = round(_rss_mb(agent.proc.pid), 1)
    return result


def compare_clients(port: int, n: int = 20000) -> dict[str, float]:
    """QoS 1 publishes per second of each client library (500-byte payloads)."""
    import logging

    payload = os.urandom(500)
    out: dict[str, float] = {}
    quiet = logging.getLogger("bench.aiomqtt")
    quiet.setLevel(logging.ERROR)

    async def with_aiomqtt(inflight: int) -> float:
        import aiomqtt

        async with aiomqtt.Client(
            "127.0.0.1",
            port,
            max_inflight_messages=inflight,
            max_queued_outgoing_messages=n,
            logger=quiet,  # it warns on every call once many are pending
        ) as c:
            sem = asyncio.Semaphore(inflight)

            async def one(i: int) -> None:
                async with sem:
                    await c.publish(f"bench/aiomqtt/{i % 100}", payload, qos=1)

            t = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return n / (time.perf_counter() - t)

    def with_paho() -> float:
        import threading

        import paho.mqtt.client as mqtt

        done = threading.Event()
        count = [0]
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)

        def on_publish(*_a: object) -> None:
            count[0] += 1
            if count[0] == n:
                done.set()

        c.on_publish = on_publish
        c.connect("127.0.0.1", port)
        c.loop_start()
        t = time.perf_counter()
        for i in range(n):
            c.publish(f"bench/paho/{i % 100}", payload, qos=1)
        done.wait(120)
        rate = n / (time.perf_counter() - t)
        c.loop_stop()
        c.disconnect()
        return rate

    async def with_native() -> float:
        from edge_agent.uplink.mqtt import MqttUplink

        up = MqttUplink(host="127.0.0.1", port=port, client_id="bench-native")
        got = [0]
        done = asyncio.Event()
        sent = [0]
        window = 1000

        def on_ack(_pid: int) -> None:
            got[0] += 1
            if got[0] == n:
                done.set()
            elif sent[0] < n and sent[0] - got[0] < window // 2:
                refill()

        def refill() -> None:
            while sent[0] < n and sent[0] - got[0] < window:
                up.publish(f"bench/native/{sent[0] % 100}".encode(), payload)
                sent[0] += 1
            up.flush()

        up.on_ack = on_ack
        async with up:
            while not up.connected:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            t = time.perf_counter()
            refill()
            await asyncio.wait_for(done.wait(), 120)
            return n / (time.perf_counter() - t)

    import uvloop

    out["aiomqtt_100_inflight_msg_per_s"] = round(uvloop.run(with_aiomqtt(100)))
    out["aiomqtt_1000_inflight_msg_per_s"] = round(uvloop.run(with_aiomqtt(1000)))
    out["paho_thread_msg_per_s"] = round(with_paho())
    out["native_msg_per_s"] = round(uvloop.run(with_native()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of load before each measurement"
    )
    parser.add_argument("--window", type=int, default=2, help="batches in flight per connection")
    parser.add_argument(
        "--rate", type=float, default=10000.0, help="offered batches/s of the latency phase"
    )
    parser.add_argument("--skip-clients", action="store_true")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main(args)
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    keys = work / "keys.json"
    write_keys(keys, args.connections)
    broker = Mosquitto(work)
    report: dict[str, object] = {"connections": args.connections, "readings_per_batch": READINGS}
    try:
        agent = Agent(work, "ingest", mqtt_port=None, keys=keys)
        try:
            ingest = run_loadgen(agent, args, window=args.window, rate=0, seconds=args.seconds)
        finally:
            agent.stop()
        print(json.dumps({"phase": "ingest_only", **ingest}), flush=True)

        agent = Agent(work, "full", mqtt_port=broker.port, keys=keys)

        def during(what: str, marks: dict | None = None) -> dict:  # type: ignore[type-arg]
            if what == "start":
                return {
                    "pub0": agent.metric("published_total"),
                    "bcpu0": broker.cpu_s(),
                    "tp0": time.perf_counter(),
                }
            assert marks is not None
            elapsed = time.perf_counter() - marks["tp0"]
            return {
                "published_per_s": round(
                    (agent.metric("published_total") - marks["pub0"]) / elapsed, 1
                ),
                "broker_cpu_pct": round(100 * (broker.cpu_s() - marks["bcpu0"]) / elapsed, 1),
            }

        try:
            full = run_loadgen(
                agent, args, window=args.window, rate=0, seconds=args.seconds, during=during
            )
            deadline = time.time() + 120
            while agent.metric("journal_rows") > 0 and time.time() < deadline:
                time.sleep(0.2)
            full["journal_rows_after_drain"] = agent.metric("journal_rows")
        finally:
            agent.stop()
        print(json.dumps({"phase": "full", **full}), flush=True)

        agent = Agent(work, "latency", mqtt_port=broker.port, keys=keys)
        try:
            latency = run_loadgen(
                agent, args, window=0, rate=args.rate, seconds=args.seconds, during=during
            )
        finally:
            agent.stop()
        print(json.dumps({"phase": "latency", **latency}), flush=True)
        clients = {} if args.skip_clients else compare_clients(broker.port)
        if clients:
            print(json.dumps({"phase": "clients", **clients}), flush=True)
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    e2e = min(full["acks_per_s"], full.get("published_per_s", 0.0))  # type: ignore[type-var]
    report.update(
        batches_per_s=e2e,
        readings_per_s=round(e2e * READINGS),  # type: ignore[operator]
        ack_p50_ms=latency["ack_p50_ms"],
        ack_p99_ms=latency["ack_p99_ms"],
        ack_rate_offered=args.rate,
        ack_rate_achieved=latency["acks_per_s"],
        rss_mb=max(full["rss_mb"], latency["rss_mb"]),  # type: ignore[type-var]
        ingest_only_batches_per_s=ingest["acks_per_s"],
        ratio_vs_ingest_only=round(e2e / ingest["acks_per_s"], 3),  # type: ignore[operator]
        loadgen_cpu_pct=full["loadgen_cpu_pct"],
        agent_cpu_pct=full["agent_cpu_pct"],
        broker_cpu_pct=full.get("broker_cpu_pct"),
        **clients,
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
