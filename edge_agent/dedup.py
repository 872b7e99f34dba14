"""Which idempotency keys (node, epoch, seq) the edge already holds.

Per node and epoch the seen sequence numbers are kept as sorted disjoint
ranges ``[lo, hi]``: a node sends its queue in seq order (an alarm may jump
ahead), so a node needs one or a few ranges however long it runs. Memory is
bounded by ``max_epochs`` per node and ``max_ranges`` per epoch; when a bound
is hit the *oldest* knowledge is forgotten (an old resend is then accepted
again and the platform drops it by its key: a duplicate, never a loss).

State is saved per node as a compact blob (:meth:`DedupIndex.encode_node`)
by the journal's checkpoint, which commits the blobs before it trims the
published rows they cover, so every key the edge ever acknowledged is either
still in the journal or in a saved blob.
"""

from __future__ import annotations

import struct
from bisect import bisect_right

_TRIPLE = struct.Struct(">QQQ")


class DedupIndex:
    """Seen idempotency keys, by node and epoch."""

    def __init__(self, *, max_epochs: int = 4, max_ranges: int = 256) -> None:
        self.max_epochs = max_epochs
        self.max_ranges = max_ranges
        self._nodes: dict[str, dict[int, list[list[int]]]] = {}
        self.dirty: set[str] = set()
        self.forgotten = 0

    def __len__(self) -> int:
        return len(self._nodes)

    def seen(self, node: str, epoch: int, seq: int) -> bool:
        """Whether (node, epoch, seq) was added before."""
        epochs = self._nodes.get(node)
        if epochs is None:
            return False
        ranges = epochs.get(epoch)
        if not ranges:
            return False
        last = ranges[-1]
        if seq > last[1]:
            return False
        if seq >= last[0]:
            return True
        i = bisect_right(ranges, [seq, 1 << 65]) - 1
        return i >= 0 and ranges[i][1] >= seq

    def add(self, node: str, epoch: int, seq: int) -> None:
        """Record a key (a no-op when it is already known)."""
        epochs = self._nodes.get(node)
        if epochs is None:
            epochs = self._nodes[node] = {}
        ranges = epochs.get(epoch)
        if ranges is None:
            ranges = epochs[epoch] = []
            if len(epochs) > self.max_epochs:
                oldest = min(epochs)
                self.forgotten += len(epochs.pop(oldest))
                if oldest == epoch:
                    return
        self.dirty.add(node)
        if ranges:
            last = ranges[-1]
            if seq == last[1] + 1:
                last[1] = seq
                return
            if last[0] <= seq <= last[1]:
                return
        i = bisect_right(ranges, [seq, 1 << 65]) - 1
        if i >= 0 and ranges[i][0] <= seq <= ranges[i][1]:
            return
        left = i >= 0 and ranges[i][1] + 1 == seq
        right = i + 1 < len(ranges) and ranges[i + 1][0] - 1 == seq
        if left and right:
            ranges[i][1] = ranges[i + 1][1]
            del ranges[i + 1]
        elif left:
            ranges[i][1] = seq
        elif right:
            ranges[i + 1][0] = seq
        else:
            ranges.insert(i + 1, [seq, seq])
            if len(ranges) > self.max_ranges:
                del ranges[0]
                self.forgotten += 1

    def ranges(self, node: str) -> dict[int, list[tuple[int, int]]]:
        """A copy of a node's ranges (for tests and diagnostics)."""
        return {e: [(lo, hi) for lo, hi in r] for e, r in self._nodes.get(node, {}).items()}

    def encode_node(self, node: str) -> bytes:
        """A node's ranges as (epoch, lo, hi) triples of 64-bit big-endian integers."""
        epochs = self._nodes.get(node)
        if epochs and len(epochs) == 1:  # the common case, at every checkpoint
            ((epoch, ranges),) = epochs.items()
            if len(ranges) == 1:
                return _TRIPLE.pack(epoch, ranges[0][0], ranges[0][1])
        out = bytearray()
        for epoch, ranges in sorted(self._nodes.get(node, {}).items()):
            for lo, hi in ranges:
                out += _TRIPLE.pack(epoch, lo, hi)
        return bytes(out)

    def load_node(self, node: str, blob: bytes) -> None:
        """Merge a saved blob of :meth:`encode_node` back in."""
        if len(blob) % _TRIPLE.size:
            raise ValueError(f"dedup blob of node {node!r} has {len(blob)} bytes, not triples")
        epochs = self._nodes.setdefault(node, {})
        for epoch, lo, hi in _TRIPLE.iter_unpack(blob):
            if lo > hi:
                raise ValueError(f"dedup blob of node {node!r} has a range {lo}..{hi}")
            epochs.setdefault(epoch, []).append([lo, hi])
        for epoch, ranges in epochs.items():
            ranges.sort()
            merged: list[list[int]] = []
            for lo, hi in ranges:
                if merged and lo <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], hi)
                else:
                    merged.append([lo, hi])
            epochs[epoch] = merged[-self.max_ranges :]
        for epoch in sorted(epochs)[: -self.max_epochs]:
            del epochs[epoch]

    def take_dirty(self) -> dict[str, bytes]:
        """The encoded state of every node changed since the last call."""
        dirty, self.dirty = self.dirty, set()
        return {node: self.encode_node(node) for node in dirty}
