"""Nodes on point-to-point serial lines (UART, RS-485), via pyserial-asyncio-fast.

The line carries the same frames as TCP. Corrupt bytes are counted and
skipped (the frame reader resynchronises); an authentication or protocol
refusal resets the line's session so a node that rebooted can say hello
again. A port that cannot be opened or fails is retried every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import serial
import serial_asyncio_fast

from edge_agent.ingest import Ingest, NodeLink
from edge_agent.tasks import stop_task

log = logging.getLogger("edge_agent.serial")


class _LineProtocol(asyncio.Protocol):
    def __init__(self, port: SerialIngest) -> None:
        self.port = port
        self.link: NodeLink | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        port = self.port
        self.link = NodeLink(
            ingest=port.ingest,
            peer=port.device,
            kind="serial",
            write=transport.write,  # type: ignore[attr-defined]
            close=lambda: None,
        )
        port.ingest.opened(self.link)

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.link.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.port.ingest.closed(self.link)
            self.link = None
        if not self.lost.done():
            self.lost.set_result(None)


class SerialIngest:
    """One serial line; an async context manager that keeps the port open."""

    def __init__(
        self, *, ingest: Ingest, device: str, baudrate: int = 115200, retry_s: float = 3.0
    ) -> None:
        self.ingest = ingest
        self.device = device
        self.baudrate = baudrate
        self.retry_s = retry_s
        self.opened = asyncio.Event()
        self.open_errors = 0
        self._transport: Any = None
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                transport, proto = await serial_asyncio_fast.create_serial_connection(
                    loop, lambda: _LineProtocol(self), self.device, baudrate=self.baudrate
                )
            except (OSError, serial.SerialException) as e:
                self.open_errors += 1
                log.error(
                    "cannot open serial port %s: %s; retrying in %g s",
                    self.device,
                    e,
                    self.retry_s,
                    extra={"device": self.device},
                )
                await asyncio.sleep(self.retry_s)
                continue
            self._transport = transport
            self.opened.set()
            log.info("listening for nodes on serial %s at %d baud", self.device, self.baudrate)
            assert isinstance(proto, _LineProtocol)
            await proto.lost
            self._transport = None
            self.opened.clear()
            log.warning("serial port %s closed; reopening", self.device)
            await asyncio.sleep(self.retry_s)

    async def __aenter__(self) -> SerialIngest:
        self._task = asyncio.create_task(self._run(), name=f"serial-{self.device}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the port and stop; safe to call twice."""
        task, self._task = self._task, None
        await stop_task(task)
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
            await asyncio.sleep(0)
