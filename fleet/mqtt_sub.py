"""A purpose-built MQTT 3.1.1 subscriber for the status ingester (one thread, blocking socket).

It does what the ingester needs and no more: CONNECT (clean session), SUBSCRIBE
at QoS 1, PUBLISH in (QoS 0 and 1), PUBACKs written in one ``sendall`` per
received chunk *after* the chunk's messages were handed over, PINGREQ on idle,
reconnect with capped jittered backoff. Every complete packet in a received
chunk is parsed in one pass and the messages go to ``on_messages`` as one
list: a few microseconds of Python per message instead of the ~100 µs a
general client spends (paho at QoS 1 tops out near 10,000 msg/s on these
machines; docs/benchmarks.md). The edge agent's uplink publisher is built the
same way.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence

from edge_agent.uplink.packets import (
    CONNACK_CODES,
    PINGREQ,
    MqttError,
    connect_packet,
    read_length,
    subscribe_packet,
)

log = logging.getLogger("fleet.mqtt")

MAX_PACKET = 1 << 20  # a status document is a few hundred bytes


def parse(buf: bytearray) -> tuple[list[tuple[str, bytes]], bytes, list[tuple[int, bytes]], int]:
    """Complete packets at the head of ``buf``: (messages, PUBACK bytes, other packets
    as (type, body), bytes consumed). Raises MqttError on a malformed packet."""
    messages: list[tuple[str, bytes]] = []
    acks = bytearray()
    other: list[tuple[int, bytes]] = []
    pos = 0
    end = len(buf)
    while pos + 2 <= end:
        kind = buf[pos]
        got = read_length(buf, pos + 1, end)
        if got is None:
            return messages, bytes(acks), other, pos
        length, i = got
        if length > MAX_PACKET:
            raise MqttError(f"packet of {length} bytes (the limit is {MAX_PACKET})")
        stop = i + length
        if stop > end:
            break
        if kind >> 4 == 3:  # PUBLISH
            qos = (kind >> 1) & 3
            tlen = (buf[i] << 8) | buf[i + 1]
            t_end = i + 2 + tlen
            topic = buf[i + 2 : t_end].decode("utf-8", "replace")
            if qos:
                acks += b"\x40\x02"
                acks += buf[t_end : t_end + 2]
                t_end += 2
            if t_end > stop:
                raise MqttError("PUBLISH shorter than its topic")
            messages.append((topic, bytes(buf[t_end:stop])))
        else:
            other.append((kind >> 4, bytes(buf[i:stop])))
        pos = stop
    return messages, bytes(acks), other, pos


class MqttSubscriber:
    """Subscribes and hands received messages over in lists, in its own thread."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        topics: Sequence[tuple[str, int]],
        on_messages: Callable[[list[tuple[str, bytes]]], None],
        client_id: str,
        keepalive_s: int = 30,
        username: str = "",
        password: str = "",
        ssl_context: ssl.SSLContext | None = None,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.topics = list(topics)
        self.on_messages = on_messages
        self.client_id = client_id
        self.keepalive_s = keepalive_s
        self.username, self.password = username, password
        self.ssl_context = ssl_context
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.connected = threading.Event()
        self.connects = 0
        self.received = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect and receive in a thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="fleet-mqtt", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Disconnect and end the thread."""
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.sendall(b"\xe0\x00")
            except OSError:
                pass
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        delay = self.reconnect_min_s
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._session()
            except (OSError, MqttError) as e:
                self.last_error = str(e) or type(e).__name__
                if not self._stop.is_set():
                    log.warning(
                        "mqtt %s:%d: %s; reconnecting", self.host, self.port, self.last_error
                    )
            finally:
                self.connected.clear()
                sock, self._sock = self._sock, None
                if sock is not None:
                    sock.close()
            if time.monotonic() - started > 10:
                delay = self.reconnect_min_s
            if self._stop.wait(random.uniform(delay / 2, delay)):
                return
            delay = min(delay * 2, self.reconnect_max_s)

    def _session(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=10)
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(
            connect_packet(
                client_id=self.client_id,
                keepalive_s=self.keepalive_s,
                username=self.username,
                password=self.password,
            )
        )
        buf = bytearray()
        sock.settimeout(max(1.0, self.keepalive_s / 2))
        subscribed = False
        last_tx = time.monotonic()
        while not self._stop.is_set():
            try:
                data = sock.recv(1 << 18)
            except TimeoutError:
                if time.monotonic() - last_tx >= self.keepalive_s / 2:
                    sock.sendall(PINGREQ)
                    last_tx = time.monotonic()
                continue
            if not data:
                raise MqttError("the broker closed the connection")
            buf += data
            messages, acks, other, used = parse(buf)
            del buf[:used]
            for ptype, body in other:
                if ptype == 2:  # CONNACK
                    code = body[1] if len(body) == 2 else -1
                    if code != 0:
                        raise MqttError(
                            f"broker refused the connection: {CONNACK_CODES.get(code, code)}"
                        )
                    sock.sendall(subscribe_packet(1, self.topics))
                elif ptype == 9:  # SUBACK
                    if any(b == 0x80 for b in body[2:]):
                        raise MqttError(f"broker refused the subscription to {self.topics}")
                    subscribed = True
                    self.connects += 1
                    self.connected.set()
                    log.info("mqtt %s:%d: subscribed to %s", self.host, self.port, self.topics)
            if messages:
                self.received += len(messages)
                try:
                    self.on_messages(messages)
                except Exception:  # a bug downstream must not stop the subscription
                    log.exception("the message handler failed on %d messages", len(messages))
            if acks:  # acknowledged once handed over
                sock.sendall(acks)
                last_tx = time.monotonic()
            elif not subscribed and time.monotonic() - last_tx > 10:
                raise MqttError("no CONNACK/SUBACK within 10 s")
