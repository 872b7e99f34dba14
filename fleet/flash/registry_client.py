"""What ``fleet flash`` needs from the fleet registry, and its HTTP client.

:class:`Registry` is the small protocol the technician's flow is written
against: read a work order (its kit), provision a node within it (node id,
key, config), read a node's ``last_seen``, wait for its first hello after the
reset, mark it installed. :class:`HttpRegistry` speaks the fleet API (it is the
one client of these calls; tools and tests use it too):

- ``GET /api/v1/work-orders/{id}`` -> the work order;
- ``POST /api/v1/work-orders/{id}/provision`` -> node id, key (returned once),
  node config;
- ``GET /api/v1/nodes/{id}`` -> the node, with ``last_seen``;
- ``POST /api/v1/nodes/{id}/installed``.

A :class:`Provisioned` never shows its key in ``repr`` or errors.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

API = "/api/v1"
# where the fleet CLI and fleet flash find the API and the token
TOKEN_ENV = "FLEET_TOKEN"  # noqa: S105 - a variable's name
TOKEN_FILE_ENV = "FLEET_TOKEN_FILE"  # noqa: S105 - a variable's name
URL_ENV = "FLEET_API_URL"
DEFAULT_URL = "http://127.0.0.1:8700"


class RegistryError(Exception):
    """The registry refused or could not be reached; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = "", *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status


class HelloTimeout(RegistryError):
    """The node did not say hello within the time allowed."""


@dataclass(frozen=True)
class Provisioned:
    """A node's identity from the registry. The key is secret: not in repr."""

    node_id: str
    key: bytes = field(repr=False)
    config: dict[str, Any]
    board_file: dict[str, Any] | None = None
    provisioned_at: str | None = None


class Registry(Protocol):
    """The registry as the flashing flow uses it."""

    def work_order(self, work_order: str) -> Mapping[str, Any]:
        """The work order's record (its ``kit``, ``district``, ``state``, ...)."""
        ...

    def provision(self, work_order: str, request: Mapping[str, Any]) -> Provisioned:
        """A new node for ``work_order`` (node id, key, config)."""
        ...

    def last_seen(self, node_id: str) -> object:
        """The node's ``last_seen`` as the registry reports it (None: never)."""
        ...

    def wait_first_hello(
        self, node_id: str, *, previous: object, timeout: float, poll: float = 0.5
    ) -> Mapping[str, Any]:
        """Wait until ``last_seen`` differs from ``previous``; the node's record."""
        ...

    def mark_installed(self, node_id: str, details: Mapping[str, Any]) -> None:
        """Record that the node is installed and talking."""
        ...


def decode_key(value: object) -> bytes:
    """A key from the API: hex (64 digits), or base64; raises ValueError (no key in it)."""
    if not isinstance(value, str) or not value:
        raise ValueError("the key is missing or not a string")
    text = value.strip()
    try:
        if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
            key = bytes.fromhex(text)
        else:
            key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=False)
    except (ValueError, binascii.Error):
        raise ValueError("the key is neither hex nor base64") from None
    if len(key) < 16:
        raise ValueError(f"the key is {len(key)} bytes, at least 16 are needed")
    return key


def parse_provisioned(doc: object) -> Provisioned:
    """The provision answer: ``{"node": {"id", "provisioned_at"...}, "key", "config"}``."""
    if not isinstance(doc, dict):
        raise RegistryError("the provision answer is not a JSON object")
    record = doc.get("node")
    record = record if isinstance(record, dict) else {}
    node = record.get("id", doc.get("node_id"))
    if not isinstance(node, str) or not node:
        raise RegistryError("the provision answer has no node_id")
    try:
        key = decode_key(doc.get("key"))
    except ValueError as e:
        raise RegistryError(f"the provision answer for node {node}: {e}") from None
    config = doc.get("config")
    if not isinstance(config, dict):
        raise RegistryError(f"the provision answer for node {node} has no config object")
    board_file = doc.get("board_file")
    at = record.get("provisioned_at")
    return Provisioned(
        node,
        key,
        config,
        board_file if isinstance(board_file, dict) else None,
        at if isinstance(at, str) else None,
    )


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def is_new_hello(node: Mapping[str, Any], previous: object) -> bool:
    """The node's ``last_seen`` moved past ``previous`` (read before the reset) and is
    not older than its ``provisioned_at``."""
    seen = node.get("last_seen")
    if seen is None or seen == previous:
        return False
    seen_t, prov_t = _when(seen), _when(node.get("provisioned_at"))
    return not (seen_t is not None and prov_t is not None and seen_t < prov_t)


class HttpRegistry:
    """The fleet API over HTTP with a bearer token."""

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 15.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(
                f"bad fleet API address {base_url!r}",
                f"give --api http(s)://HOST:PORT (or set {URL_ENV})",
            )
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, what: str
    ) -> Any:
        url = self.base + API + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) only
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise self._http_error(e, what) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RegistryError(
                f"cannot reach the fleet API at {self.base} ({reason}) while {what}",
                f"check the network and the address (--api, or {URL_ENV}); rerun when it "
                "answers: the flash resumes",
            ) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise RegistryError(
                f"the fleet API at {self.base} answered {what} with something that is not JSON"
            ) from None

    def _http_error(self, e: urllib.error.HTTPError, what: str) -> RegistryError:
        detail = ""
        try:
            doc = json.loads(e.read() or b"null")
            if isinstance(doc, dict):
                d = doc.get("detail", doc.get("error", doc.get("message", "")))
                detail = d if isinstance(d, str) else json.dumps(d)[:300]
        except (ValueError, OSError):
            pass
        text = f"the fleet API refused {what}: HTTP {e.code}" + (f" ({detail})" if detail else "")
        hints = {
            401: f"the token was not accepted: check --token-file, {TOKEN_ENV}, {TOKEN_FILE_ENV}",
            403: "your token may not do this: a technician token for this work order is needed",
            404: "check the work order or node id",
            409: "the registry's state conflicts: see the detail above",
        }
        return RegistryError(text, hints.get(e.code, ""), status=e.code)

    def work_order(self, work_order: str) -> Mapping[str, Any]:
        wo = urllib.parse.quote(work_order, safe="")
        doc = self._request("GET", f"/work-orders/{wo}", what=f"reading work order {work_order}")
        if not isinstance(doc, dict):
            raise RegistryError(
                f"the fleet API's record of work order {work_order} is not an object"
            )
        return doc

    def provision(self, work_order: str, request: Mapping[str, Any]) -> Provisioned:
        wo = urllib.parse.quote(work_order, safe="")
        doc = self._request(
            "POST",
            f"/work-orders/{wo}/provision",
            request,
            what=f"provisioning a node for work order {work_order}",
        )
        return parse_provisioned(doc)

    def node(self, node_id: str) -> dict[str, Any]:
        nid = urllib.parse.quote(node_id, safe="")
        doc = self._request("GET", f"/nodes/{nid}", what=f"reading node {node_id}")
        if not isinstance(doc, dict):
            raise RegistryError(f"the fleet API's record of node {node_id} is not an object")
        return doc

    def last_seen(self, node_id: str) -> object:
        return self.node(node_id).get("last_seen")

    def wait_first_hello(
        self, node_id: str, *, previous: object, timeout: float, poll: float = 0.5
    ) -> Mapping[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            doc = self.node(node_id)
            if is_new_hello(doc, previous):
                return doc
            if time.monotonic() >= deadline:
                raise HelloTimeout(
                    f"node {node_id} did not say hello to its edge agent within {timeout:g} s",
                    "check that the node's edge agent runs and is reachable from the node "
                    "(fleet discover), and the node's power and antenna; rerun the same command "
                    "to wait again (verified files are not rewritten)",
                )
            time.sleep(poll)

    def mark_installed(self, node_id: str, details: Mapping[str, Any]) -> None:
        nid = urllib.parse.quote(node_id, safe="")
        self._request(
            "POST", f"/nodes/{nid}/installed", details, what=f"marking node {node_id} installed"
        )
