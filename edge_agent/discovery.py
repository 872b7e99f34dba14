"""Zeroconf (mDNS/DNS-SD) advertisement: ``_citynerve-edge._tcp`` with TXT edge, district, proto."""

from __future__ import annotations

import asyncio
import logging
import socket

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from edge_agent.tasks import stop_task
from firmware.wire.protocol import PROTOCOL_VERSION

log = logging.getLogger("edge_agent.discovery")

SERVICE_TYPE = "_citynerve-edge._tcp.local."


def service_info(
    *, edge_id: str, district: str, port: int, addresses: list[str], host: str
) -> ServiceInfo:
    """The DNS-SD record of this edge."""
    return ServiceInfo(
        SERVICE_TYPE,
        f"{edge_id}.{SERVICE_TYPE}",
        port=port,
        properties={"edge": edge_id, "district": district, "proto": str(PROTOCOL_VERSION)},
        server=f"{host}.local.",
        parsed_addresses=addresses,
    )


def _local_addresses() -> list[str]:
    try:
        found = {
            info[4][0]
            for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
            if isinstance(info[4][0], str)
        }
    except OSError:
        found = set()
    return sorted(found) or ["127.0.0.1"]


class Advertiser:
    """Registers the service while the agent runs; an async context manager."""

    def __init__(
        self, *, edge_id: str, district: str, port: int, interfaces: tuple[str, ...] = ()
    ) -> None:
        self.edge_id = edge_id
        self.district = district
        self.port = port
        self.interfaces = interfaces
        self.registered = asyncio.Event()
        self._zc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None
        self._task: asyncio.Task[None] | None = None

    async def _register(self) -> None:
        addresses = list(self.interfaces) or _local_addresses()
        host = socket.gethostname().split(".")[0] or "citynerve-edge"
        self._zc = AsyncZeroconf(
            interfaces=list(self.interfaces) or None,  # type: ignore[arg-type]
            ip_version=IPVersion.V4Only,
        )
        self._info = service_info(
            edge_id=self.edge_id,
            district=self.district,
            port=self.port,
            addresses=addresses,
            host=host,
        )
        try:
            await self._zc.async_register_service(self._info, allow_name_change=True)
        except Exception as e:  # zeroconf raises its own error family
            log.error("zeroconf registration failed: %s", e)
            return
        self.registered.set()
        log.info("advertised %s on %s", self._info.name, ", ".join(addresses))

    async def __aenter__(self) -> Advertiser:
        self._task = asyncio.create_task(self._register(), name="zeroconf")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Unregister and close; safe to call twice."""
        task, self._task = self._task, None
        await stop_task(task)
        zc, self._zc = self._zc, None
        if zc is not None:
            try:
                if self.registered.is_set() and self._info is not None:
                    await asyncio.wait_for(zc.async_unregister_service(self._info), 3.0)
            except Exception as e:  # best effort on the way out
                log.debug("zeroconf unregister failed: %s", e)
            await zc.async_close()
