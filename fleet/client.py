"""A small client of the fleet API for tools (``fleet flash`` provisions through it).

    client = FleetClient("http://127.0.0.1:8700", token)
    got = client.provision(work_order=12, board="esp32c3-devkit", site="Yanping Rd 12")
    # got["node"]["id"], bytes.fromhex(got["key"]) -> cfg/key.bin, got["config"] -> cfg/node.json
    node = client.wait_first_hello(got["node"]["id"], timeout_s=120)
    client.mark_installed(got["node"]["id"])

Errors are :class:`FleetApiError` with the status, the server's message and,
for a 400, the field problems. The client never logs or prints keys.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from fleet.edge_sync import read_token


class FleetApiError(Exception):
    """The fleet API refused a request or could not be reached."""

    def __init__(
        self, message: str, *, status: int = 0, fields: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.fields = fields or []


class FleetClient:
    """Calls of the fleet API used by the technician's tools."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            transport=transport,
        )

    @classmethod
    def from_env(cls, base_url: str | None = None, token_file: Path | None = None) -> FleetClient:
        """From arguments, else ``$FLEET_API_URL`` and ``$FLEET_TOKEN`` / ``$FLEET_TOKEN_FILE``."""
        url = base_url or os.environ.get("FLEET_API_URL") or "http://127.0.0.1:8700"
        if token_file is not None:
            token = read_token(token_file)
        elif os.environ.get("FLEET_TOKEN"):
            token = os.environ["FLEET_TOKEN"]
        elif os.environ.get("FLEET_TOKEN_FILE"):
            token = read_token(Path(os.environ["FLEET_TOKEN_FILE"]))
        else:
            raise FleetApiError(
                "no fleet API token: pass --token-file or set FLEET_TOKEN or FLEET_TOKEN_FILE"
            )
        return cls(url, token)

    def __repr__(self) -> str:
        return f"FleetClient({self.base_url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> FleetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """One call; the decoded JSON answer, or FleetApiError."""
        try:
            r = self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise FleetApiError(f"fleet API {self.base_url}: {e}") from None
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"error": r.text[:200]}
            fields = body.get("fields") or []
            detail = "; ".join(
                f"{f.get('field')}: {f.get('problem')} (allowed: {f.get('allowed')})"
                for f in fields
            )
            message = f"fleet API {method} {path}: HTTP {r.status_code}: {body.get('error')}"
            raise FleetApiError(
                message + (f": {detail}" if detail else ""), status=r.status_code, fields=fields
            )
        return r.json() if r.content else None

    def me(self) -> dict[str, Any]:
        """Who the token is."""
        out: dict[str, Any] = self.request("GET", "/api/v1/me")
        return out

    def provision(self, work_order: int, *, board: str, **fields: Any) -> dict[str, Any]:
        """A node identity: ``{"node", "key" (hex, once), "config"}``; see docs/fleet.md."""
        body = {"board": board, **{k: v for k, v in fields.items() if v is not None}}
        out: dict[str, Any] = self.request(
            "POST", f"/api/v1/work-orders/{work_order}/provision", json=body
        )
        return out

    def node(self, node_id: str) -> dict[str, Any]:
        """One node."""
        out: dict[str, Any] = self.request("GET", f"/api/v1/nodes/{node_id}")
        return out

    def wait_first_hello(
        self, node_id: str, *, timeout_s: float = 120.0, poll_s: float = 0.5
    ) -> dict[str, Any]:
        """Poll the node until it has been seen since it was provisioned; the node."""
        deadline = time.monotonic() + timeout_s
        while True:
            node = self.node(node_id)
            if hello_since_provisioned(node):
                return node
            if time.monotonic() >= deadline:
                raise FleetApiError(
                    f"node {node_id}: no hello within {timeout_s:.0f} s of waiting: check that "
                    "the node reaches its edge agent and that the edge has its key "
                    "(fleet edge-sync)",
                    status=0,
                )
            time.sleep(poll_s)

    def mark_installed(self, node_id: str, install_date: str | None = None) -> dict[str, Any]:
        """Mark the node installed (409 until its first hello)."""
        body = {} if install_date is None else {"install_date": install_date}
        out: dict[str, Any] = self.request("POST", f"/api/v1/nodes/{node_id}/installed", json=body)
        return out


def hello_since_provisioned(node: dict[str, Any]) -> bool:
    """Whether the node's last_seen is set and not older than its provisioned_at."""
    seen, prov = node.get("last_seen"), node.get("provisioned_at")
    if not seen:
        return False
    if not prov:
        return True
    return _parse(seen) >= _parse(prov)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
