"""Edge side: keep the edge agent's keys file in step with the fleet.

Runs beside ``edge-agent`` (``fleet edge-sync``, or :class:`EdgeSync` from
code). It pulls ``GET /api/v1/edge/keys`` with the edge's token (role
``edge``, bound to the edge's district), checks the answer with the edge
agent's own parser (:func:`edge_agent.keys.parse_keys`) and replaces the keys
file atomically with mode 0600; the edge agent notices the change and reloads
(closing the connections of revoked nodes). A pull sends ``If-None-Match``, so
an unchanged district costs a 304. With a broker given, the fleet's key notices
(``{prefix}/{district}/fleet/keys``) trigger a pull at once. A failed pull
leaves the file as it was (the edge keeps the keys it has) and is retried with
backoff.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.keys import KeysError, parse_keys
from fleet.notify import keys_topic
from fleet.secrets import write_private

log = logging.getLogger("fleet.edge_sync")


class SyncError(Exception):
    """A pull failed; the message says why (the keys file is left as it was)."""


@dataclass(frozen=True, slots=True)
class PullResult:
    """What one pull did."""

    changed: bool
    nodes: int
    revoked: int

    def __str__(self) -> str:
        if not self.changed:
            return "unchanged"
        return f"written: {self.nodes} nodes ({self.revoked} revoked)"


def read_token(path: Path) -> str:
    """The token in ``path`` (which the group or others must not be able to read)."""
    try:
        st = path.stat()
        if st.st_mode & 0o077:
            raise SyncError(
                f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets others read the token; "
                f"allowed: 0600 (chmod 600 {path})"
            )
        token = path.read_text().strip()
    except OSError as e:
        raise SyncError(f"{path}: cannot read the token: {e.strerror or e}") from None
    if not token:
        raise SyncError(f"{path}: empty")
    return token


class EdgeSync:
    """Pulls a district's node keys into an edge agent's keys file."""

    def __init__(
        self,
        *,
        api: str,
        token: str,
        keys_file: Path,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api = api.rstrip("/")
        self.keys_file = keys_file
        self.etag: str | None = None
        self.pulls = 0
        self.errors = 0
        self._http = httpx.Client(
            base_url=self.api,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            transport=transport,
        )
        self._wake = threading.Event()
        self._stop = threading.Event()

    @classmethod
    def from_token_file(cls, *, api: str, token_file: Path, keys_file: Path) -> EdgeSync:
        """An EdgeSync with the token read from a private file."""
        return cls(api=api, token=read_token(token_file), keys_file=keys_file)

    def __repr__(self) -> str:
        return f"EdgeSync({self.api!r}, keys_file={str(self.keys_file)!r})"

    def pull(self) -> PullResult:
        """Pull once; write the keys file when the keys changed."""
        self.pulls += 1
        headers = {}
        if self.etag and self.keys_file.exists():
            headers["If-None-Match"] = self.etag
        try:
            r = self._http.get("/api/v1/edge/keys", headers=headers)
        except httpx.HTTPError as e:
            self.errors += 1
            raise SyncError(f"{self.api}: cannot pull keys: {e}") from None
        if r.status_code == 304:
            return PullResult(False, 0, 0)
        if r.status_code != 200:
            self.errors += 1
            raise SyncError(f"{self.api}: key pull refused: HTTP {r.status_code}: {_message(r)}")
        try:
            doc = r.json()
            nodes = doc["nodes"]
            text = json.dumps({"nodes": nodes}, sort_keys=True, indent=1)
            parsed = parse_keys(text, f"{self.api}/api/v1/edge/keys")
        except (ValueError, KeyError, TypeError, KeysError) as e:
            self.errors += 1
            raise SyncError(f"{self.api}: the keys answer is not a keys file: {e}") from None
        write_private(self.keys_file, (text + "\n").encode())
        self.etag = r.headers.get("ETag")
        revoked = sum(1 for k in parsed.values() if k.revoked)
        log.info(
            "keys file %s written: %d nodes, %d revoked",
            self.keys_file,
            len(parsed),
            revoked,
            extra={"nodes": len(parsed), "revoked": revoked},
        )
        return PullResult(True, len(parsed), revoked)

    def notice(self) -> None:
        """Pull at the next opportunity (a key notice arrived)."""
        self._wake.set()

    def stop(self) -> None:
        """End :meth:`run`."""
        self._stop.set()
        self._wake.set()

    def run(
        self,
        *,
        interval_s: float = 30.0,
        mqtt_host: str | None = None,
        mqtt_port: int = 1883,
        prefix: str = "citynerve",
        district: str | None = None,
        max_backoff_s: float = 300.0,
    ) -> None:
        """Pull every ``interval_s`` and on each key notice, until :meth:`stop`."""
        client = None
        if mqtt_host:
            if not district:
                raise SyncError("key notices need the edge's district (--district)")
            client = self._subscribe(mqtt_host, mqtt_port, keys_topic(prefix, district))
        delay = interval_s
        try:
            while not self._stop.is_set():
                try:
                    self.pull()
                    delay = interval_s
                except SyncError as e:
                    log.error("%s; the keys file stays as it is", e)
                    delay = min(max(delay * 2, 1.0), max_backoff_s)
                self._wake.wait(delay)
                self._wake.clear()
        finally:
            if client is not None:
                client.disconnect()
                client.loop_stop()
            self._http.close()

    def _subscribe(self, host: str, port: int, topic: str) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"citynerve-edge-sync-{os.getpid()}"
        )

        def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
            if not rc.is_failure:
                c.subscribe(topic, qos=1)
                self._wake.set()  # notices may have been missed while away: pull now

        client.on_connect = on_connect
        client.on_message = lambda c, u, m: self.notice()
        client.reconnect_delay_set(1, 30)
        client.connect_async(host, port, keepalive=30)
        client.loop_start()
        return client

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
        return str(body.get("error", body))
    except ValueError:
        return r.text[:200]
