# The node's link to its edge agent, over TCP or a serial line, with the same
# frames. One supervisor task owns the link state (as in mqtt_as): it opens the
# transport, runs the handshake, starts the sender, receiver and keepalive
# tasks, and on any failure cancels them all, closes the transport and waits a
# capped, jittered backoff before the next attempt. Items stay in the flash
# queue until their authenticated ack: after an outage the backlog goes out
# again in order (alarms first).

import asyncio
import os
import random

from firmware.app import clock
from firmware.wire import protocol as P
from firmware.wire.errors import WireError
from firmware.wire.node_session import NodeSession

try:
    from micropython import const
except ImportError:

    def const(x: int) -> int:  # type: ignore[misc]
        return x


_READ_CHUNK = const(256)


# TCP transport. The edge address is resolved once and kept: no DNS look-ups
# while the network is down; it is resolved again only after resolve_after
# failed connects in a row (the edge may have moved).
class TcpTransport:
    def __init__(self, host: str, port: int, resolve_after: int = 5):
        self.host = host
        self.port = port
        self.resolve_after = resolve_after
        self.address = None
        self.failures = 0
        self.writer = None

    def name(self):
        return "tcp:%s:%d" % (self.host, self.port)

    async def open(self):
        if self.address is None or self.failures >= self.resolve_after:
            self.address = _resolve(self.host, self.port)
            self.failures = 0
        # counted as failed until the session is up(): MicroPython's
        # open_connection returns before the connect completes, and a refused
        # connect only shows at the first read or write
        self.failures += 1
        reader, writer = await asyncio.open_connection(self.address, self.port)
        self.writer = writer
        return reader, writer

    # The edge welcomed the node: the address works.
    def up(self):
        self.failures = 0

    async def close(self):
        writer = self.writer
        self.writer = None
        if writer is not None:
            try:
                writer.close()
                await writer.wait_closed()
            except (OSError, AttributeError):
                pass


# The IPv4 address of host as a dotted quad (an IP literal is returned as is).
def _resolve(host: str, port: int):
    parts = host.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return host
    import socket

    addr = socket.getaddrinfo(host, port)[0][-1]
    if isinstance(addr, tuple):
        return addr[0]
    # the unix port returns a raw struct sockaddr_in: family, port, address
    return "%d.%d.%d.%d" % (addr[4], addr[5], addr[6], addr[7])


# A serial line (UART/RS-485, point-to-point): a stream object with read/write
# that asyncio can wait on (a machine.UART on the board).
class SerialTransport:
    def __init__(self, uart, label="uart"):
        self.uart = uart
        self.label = label

    def name(self):
        return "serial:" + self.label

    async def open(self):
        return asyncio.StreamReader(self.uart), asyncio.StreamWriter(self.uart, {})

    async def close(self):
        pass


class LinkStats:
    def __init__(self):
        self.connects = 0
        self.failures = 0
        self.frames_out = 0
        self.acks = 0
        self.errors = {}

    def error(self, reason: str):
        self.errors[reason] = self.errors.get(reason, 0) + 1


class Link:
    # transport: TcpTransport or SerialTransport; queue: a FlashQueue; hello:
    # firmware, slot, boot, kit, caps; on_command(name, args) -> (result, detail).
    def __init__(
        self,
        transport,
        queue,
        node_id,
        key,
        hello,
        window=4,
        ack_timeout_s=20,
        backoff_min_ms=1000,
        backoff_max_ms=60000,
        max_body=1024,
        on_command=None,
    ):
        self.transport = transport
        self.queue = queue
        self.node_id = node_id
        self.key = key
        self.hello = hello
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.backoff_min_ms = backoff_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.max_body = max_body
        self.on_command = on_command
        self.on_welcome = None  # on_welcome(msg): e.g. set the RTC
        self.status_source = None  # status_source() -> health dict, sent after welcome
        self.status_every_s = 3600
        self.stats = LinkStats()
        self.connected = False
        self.keepalive_s = 60
        self.config_version = 0
        self._wake = asyncio.Event()
        self._buf = bytearray(max_body)
        self._inflight = []
        self._session = None
        self._reader = None
        self._writer = None
        self._done = None
        self._failure = None
        self._stop = False
        self._status_at = 0

    # A new item is in the queue: send it now.
    def kick(self):
        self._wake.set()

    def stop(self):
        self._stop = True
        self._wake.set()

    # The supervisor: runs until stop(); never raises for link failures.
    async def run(self):
        backoff = self.backoff_min_ms
        while not self._stop:
            established = False
            try:
                established = await self._connect()
                await self._serve(None)
            except (OSError, WireError, asyncio.TimeoutError) as e:
                self._count(e)
            except asyncio.CancelledError:
                await self._close()
                raise
            await self._close()
            if self._stop:
                break
            if established:
                backoff = self.backoff_min_ms
            # full jitter between half and all of the current backoff
            delay = backoff // 2 + (random.getrandbits(16) * (backoff // 2)) // 65536
            backoff = min(backoff * 2, self.backoff_max_ms)
            await asyncio.sleep(delay / 1000)

    # One connection for a battery node: connect, send until the queue is empty
    # (or deadline_s passes), disconnect. Returns True when everything was acked.
    async def drain(self, deadline_s: int):
        try:
            await asyncio.wait_for(self._drain(), deadline_s)
        except (OSError, WireError, asyncio.TimeoutError) as e:
            self._count(e)
        await self._close()
        return self.queue.depth() == 0

    async def _drain(self):
        await self._connect()
        await self._serve(True)

    def _count(self, e):
        self.stats.failures += 1
        if isinstance(e, WireError):
            self.stats.error(e.reason())
        elif isinstance(e, OSError):
            self.stats.error("os.%d" % (e.args[0] if e.args else 0))
        else:
            self.stats.error("timeout")

    async def _close(self):
        self.connected = False
        self._inflight = []
        self._session = None
        self._writer = None
        await self.transport.close()

    async def _write(self, frame: memoryview):
        self._writer.write(frame)
        await self._writer.drain()
        self.stats.frames_out += 1

    async def _connect(self):
        reader, writer = await self.transport.open()
        self._reader = reader
        self._writer = writer
        session = NodeSession(self.node_id, self.key, os.urandom(P.NONCE_LEN), 0, self.max_body)
        self._session = session
        self.stats.connects += 1
        h = self.hello
        await self._write(
            session.hello(h["firmware"], h["slot"], h["boot"], h["kit"], h.get("caps", ()))
        )
        while True:
            data = await asyncio.wait_for(reader.read(_READ_CHUNK), self.ack_timeout_s)
            if not data:
                raise OSError(104)  # ECONNRESET: the edge closed
            for name, value in session.feed(data):
                if name == "welcome":
                    clock.set_wall(value[P.K_TIME])
                    if self.on_welcome is not None:
                        self.on_welcome(value)
                    self.keepalive_s = value[P.K_KEEPALIVE] or 60
                    self.config_version = value[P.K_CONFIG]
                    self.connected = True
                    up = getattr(self.transport, "up", None)
                    if up is not None:
                        up()
                    await self._send_status()
                    return True
                if name == "error":
                    self.stats.error(value.reason())
                    raise value

    # Runs sender, receiver and keepalive until one fails (or, with drain set,
    # until the queue is empty); cancels the others.
    async def _serve(self, drain):
        self._done = asyncio.Event()
        self._failure = None
        tasks = [
            asyncio.create_task(self._guard(self._receiver())),
            asyncio.create_task(self._guard(self._sender(drain))),
            asyncio.create_task(self._guard(self._keepalive())),
        ]
        await self._done.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._failure is not None:
            raise self._failure

    async def _guard(self, coro):
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if self._failure is None:
                self._failure = e
        self._done.set()

    async def _receiver(self):
        session = self._session
        while True:
            data = await self._reader.read(_READ_CHUNK)
            if not data:
                raise OSError(104)
            for name, value in session.feed(data):
                if name == "ack":
                    self.stats.acks += 1
                    epoch = value[P.K_EPOCH]
                    seq = value[P.K_SEQ]
                    rejected = value[P.K_RESULT] == P.ACK_REJECTED
                    self.queue.ack(epoch, seq, rejected)
                    self._forget(epoch, seq)
                    self._wake.set()
                elif name == "command":
                    await self._command(value)
                elif name == "keepalive":
                    if value.get(P.K_TIME):
                        clock.set_wall(value[P.K_TIME])
                elif name == "error":
                    self.stats.error(value.reason())
                    if value.kind == "auth":
                        raise value

    def _forget(self, epoch: int, seq: int):
        suffix = "%08x%08x" % (epoch, seq)
        for i in range(len(self._inflight)):
            if self._inflight[i].endswith(suffix):
                self._inflight.pop(i)
                return

    async def _command(self, msg):
        result = P.CMD_UNKNOWN
        detail = ""
        if self.on_command is not None:
            try:
                result, detail = self.on_command(msg[P.K_COMMAND], msg[P.K_ARGS])
            except Exception as e:
                result, detail = P.CMD_FAILED, str(e)[:200]
        await self._write(self._session.command_result(msg[P.K_COMMAND_ID], result, detail))

    async def _sender(self, drain):
        queue = self.queue
        while True:
            self._wake.clear()
            heads = queue.head(self.window)
            if drain and not heads:
                return
            sent = False
            for path in heads:
                if path in self._inflight:
                    continue
                try:
                    n = queue.read_into(path, self._buf)
                except OSError:
                    continue  # acked and deleted meanwhile
                self._inflight.append(path)
                await self._write(self._session.send(memoryview(self._buf)[:n]))
                sent = True
            if not sent:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.ack_timeout_s)
                except asyncio.TimeoutError:
                    if self._inflight:
                        # no ack in time: the connection is presumed dead
                        raise
                    continue

    async def _send_status(self):
        if self.status_source is not None:
            await self._write(self._session.status(self.status_source()))
            self._status_at = clock.ticks_ms()

    async def _keepalive(self):
        while True:
            await asyncio.sleep(max(1, self.keepalive_s // 2))
            if clock.ticks_diff(clock.ticks_ms(), self._status_at) >= self.status_every_s * 1000:
                await self._send_status()
            else:
                await self._write(self._session.keepalive())
