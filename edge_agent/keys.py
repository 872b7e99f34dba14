"""Node keys: a JSON file (mode 0600) that the fleet manager writes.

    {"nodes": {"ja-hyd-000001": {"key": "<hex, at least 16 bytes>",
                                 "sleep_s": 900,      # optional: a battery node's
                                                      # reporting interval
                                 "revoked": false}}}  # optional

The store refuses a file that the group or others may read, and every problem
names the file, the node and the field. It reloads when the file changes
(mtime, size or inode: an editor's rename counts) or on SIGHUP; a bad reload
keeps the keys in force and is logged and counted. Nodes whose key changed or
was revoked or removed are reported to ``on_change`` so their open connections
are closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.tasks import stop_task
from firmware.wire.mac import KEY_MIN
from firmware.wire.protocol import MAX_TEXT

log = logging.getLogger("edge_agent.keys")


class KeysError(Exception):
    """The keys file cannot be used; the message says why and where."""


@dataclass(frozen=True, slots=True)
class NodeKey:
    """One node's entry."""

    key: bytes
    sleep_s: int = 0
    revoked: bool = False


def parse_keys(text: str, source: str) -> dict[str, NodeKey]:
    """Parse and validate the keys file's text; raise :class:`KeysError` listing the problems."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise KeysError(
            f"{source}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno} "
            f"(offset {e.pos})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise KeysError(f'{source}: expected an object {{"nodes": {{NODE_ID: {{"key": HEX}}}}}}')
    problems: list[str] = []
    nodes: dict[str, NodeKey] = {}
    for node_id, entry in data["nodes"].items():
        where = f"nodes[{node_id!r}]"
        if not node_id or len(node_id) > MAX_TEXT:
            problems.append(f"{where}: node id must be 1..{MAX_TEXT} characters")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be an object with a key")
            continue
        problems.extend(
            f"{where}.{k}: unknown field; allowed: key, sleep_s, revoked"
            for k in entry
            if k not in ("key", "sleep_s", "revoked")
        )
        key = _hex_key(entry.get("key"), where, problems)
        sleep_s = entry.get("sleep_s", 0)
        if not isinstance(sleep_s, int) or isinstance(sleep_s, bool) or not 0 <= sleep_s <= 10**7:
            problems.append(f"{where}.sleep_s: got {sleep_s!r}, allowed: seconds 0..10000000")
            sleep_s = 0
        revoked = entry.get("revoked", False)
        if not isinstance(revoked, bool):
            problems.append(f"{where}.revoked: got {revoked!r}, allowed: true or false")
        if key is not None:
            nodes[node_id] = NodeKey(key, sleep_s, revoked is True)
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise KeysError(f"{source}: {len(problems)} problem(s):\n{shown}{more}")
    return nodes


def _hex_key(value: Any, where: str, problems: list[str]) -> bytes | None:
    if not isinstance(value, str):
        problems.append(f"{where}.key: missing or not a string; allowed: hex of >= {KEY_MIN} bytes")
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        problems.append(f"{where}.key: not hexadecimal")
        return None
    if len(key) < KEY_MIN:
        problems.append(f"{where}.key: {len(key)} bytes, allowed: at least {KEY_MIN}")
        return None
    return key


def read_keys(path: Path) -> tuple[dict[str, NodeKey], tuple[int, int, int]]:
    """Check the keys file's permissions and read it; return the keys and its identity."""
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            if st.st_mode & 0o077:
                raise KeysError(
                    f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets the group or others read "
                    f"node keys; allowed: 0600 or stricter (chmod 600 {path})"
                )
            raw = f.read()
    except OSError as e:
        raise KeysError(f"{path}: cannot read the keys file: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise KeysError(f"{path}: not UTF-8 text at byte offset {e.start}") from None
    return parse_keys(text, str(path)), (st.st_mtime_ns, st.st_size, st.st_ino)


class KeyStore:
    """Node keys in force, reloaded on change; an async context manager owning its poll task."""

    def __init__(
        self,
        *,
        path: Path,
        poll_s: float = 2.0,
        on_change: Callable[[set[str]], None] | None = None,
    ) -> None:
        self.path = path
        self.poll_s = poll_s
        self.on_change = on_change
        self.nodes, self._ident = read_keys(path)
        self.reloads = 0
        self.reload_errors = 0
        self._task: asyncio.Task[None] | None = None

    def lookup(self, node_id: str) -> bytes | None:
        """The key of a node that may connect, else None (unknown or revoked)."""
        entry = self.nodes.get(node_id)
        return None if entry is None or entry.revoked else entry.key

    def sleep_s(self, node_id: str) -> int:
        """A battery node's own reporting interval, 0 for nodes that stay connected."""
        entry = self.nodes.get(node_id)
        return entry.sleep_s if entry else 0

    def reload(self) -> bool:
        """Re-read the file now; on success swap the keys in and report the changes."""
        try:
            nodes, ident = read_keys(self.path)
        except KeysError as e:
            self.reload_errors += 1
            log.error("keys reload failed; the previous keys stay in force: %s", e)
            return False
        old = self.nodes
        changed = {
            n
            for n, entry in old.items()
            if (new := nodes.get(n)) is None or new.revoked or new.key != entry.key
        }
        self.nodes, self._ident = nodes, ident
        self.reloads += 1
        log.info(
            "keys reloaded: %d nodes, %d changed or revoked",
            len(nodes),
            len(changed),
            extra={"nodes": len(nodes), "changed": len(changed)},
        )
        if changed and self.on_change:
            self.on_change(changed)
        return True

    def changed_on_disk(self) -> bool:
        """Whether the file's mtime, size or inode differ from the loaded one."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_mtime_ns, st.st_size, st.st_ino) != self._ident

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if self.changed_on_disk():
                self.reload()

    async def __aenter__(self) -> KeyStore:
        self._task = asyncio.create_task(self._poll(), name="keys-poll")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop polling; safe to call twice."""
        task, self._task = self._task, None
        await stop_task(task)
