"""Nodes over TCP: an asyncio Protocol per connection around a :class:`NodeLink`.

A connection beyond ``max_connections`` is closed at once; one that sends no
hello within ``hello_timeout_s`` is closed; a node that does not read its acks
(the transport's write buffer fills) is not read from until it catches up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from edge_agent.ingest import Ingest, NodeLink

log = logging.getLogger("edge_agent.tcp")


class _NodeProtocol(asyncio.Protocol):
    __slots__ = ("hello_timer", "link", "server", "transport")

    def __init__(self, server: TcpIngest) -> None:
        self.server = server
        self.link: NodeLink | None = None
        self.transport: asyncio.Transport | None = None
        self.hello_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self.server
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop: no subclass
        server.accepted += 1
        if not server.ingest.accepting or len(server.ingest.links) >= server.max_connections:
            server.rejected += 1
            transport.abort()
            return
        peername = transport.get_extra_info("peername")
        peer = "%s:%d" % peername[:2] if peername else "tcp"
        self.link = NodeLink(
            ingest=server.ingest,
            peer=peer,
            kind="tcp",
            write=transport.write,
            close=transport.close,
            pause=transport.pause_reading,
            resume=transport.resume_reading,
        )
        server.ingest.opened(self.link)
        self.hello_timer = asyncio.get_running_loop().call_later(
            server.hello_timeout_s, self._hello_timeout
        )

    def _hello_timeout(self) -> None:
        self.hello_timer = None
        link = self.link
        if link is not None and not link.closed and not link.session.established:
            self.server.ingest.count_close("hello_timeout")
            link.close("no hello within the hello timeout")

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link is not None:
            self.server.ingest.feed(link, data)
            if self.hello_timer is not None and link.session.established:
                self.hello_timer.cancel()
                self.hello_timer = None

    def pause_writing(self) -> None:
        # the node does not read its acks: stop reading it until it does
        if self.link is not None and self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        link = self.link
        if link is not None and self.transport is not None and not link.paused:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.hello_timer is not None:
            self.hello_timer.cancel()
            self.hello_timer = None
        if self.link is not None:
            self.server.ingest.closed(self.link)
            self.link = None


class TcpIngest:
    """The TCP listener; an async context manager (closing stops accepting)."""

    def __init__(
        self,
        *,
        ingest: Ingest,
        host: str,
        port: int,
        max_connections: int = 10000,
        hello_timeout_s: float = 10.0,
    ) -> None:
        self.ingest = ingest
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.hello_timeout_s = hello_timeout_s
        self.accepted = 0
        self.rejected = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> TcpIngest:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _NodeProtocol(self), self.host, self.port, backlog=4096, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("listening for nodes on tcp %s:%d", self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def stop_accepting(self) -> None:
        """Close the listening socket; open connections stay."""
        if self._server is not None:
            self._server.close()

    async def aclose(self) -> None:
        """Stop accepting; safe to call twice (connections are closed by the agent)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            try:
                await asyncio.wait_for(server.wait_closed(), 5.0)
            except TimeoutError:
                pass
