# A node's link under the real MicroPython on the simulated board: the
# firmware's FlashQueue on littlefs and its Link supervisor (TcpTransport, or
# SerialTransport on a HAL UART attached to a pty), started by
# hardware/hal/boot.py with this module as the entry. Parameters come from the
# JSON file named by $FWTEST_LINK:
#   node, key (hex), tcp [host, port] or uart (id), batches, alarms (queued
#   before the link starts), window, ack_timeout_s, backoff_min_ms,
#   backoff_max_ms, deadline_s
# Prints one "@@EV@@ " JSON line per event as it happens (connect attempts,
# sessions, items read for sending, acks and deletions) and "@@RESULT@@ " JSON at the end.
import asyncio
import json
import os
import sys

import fwflash
import machine

from firmware.app import clock
from firmware.app.link import Link, SerialTransport, TcpTransport
from firmware.app.queue import FlashQueue

with open(os.getenv("FWTEST_LINK")) as _f:
    CFG = json.loads(_f.read())


def event(kind, **fields):
    fields["ev"] = kind
    fields["t"] = clock.ticks_ms()
    sys.stdout.write("@@EV@@ " + json.dumps(fields) + "\n")


class LoggedQueue(FlashQueue):
    def read_into(self, path, buf):
        event("send", name=path.split("/")[-1])
        return FlashQueue.read_into(self, path, buf)

    def ack(self, epoch, seq, rejected=False):
        found = FlashQueue.ack(self, epoch, seq, rejected)
        event("ack", epoch=epoch, seq=seq, deleted=found, depth=self.depth())
        return found


class LoggedLink(Link):
    # connect: an attempt starts; welcome: the session is up; connect_failed:
    # the attempt failed before the welcome; session_end: a session ended.
    async def _connect(self):
        event("connect")
        try:
            up = await Link._connect(self)
        except Exception as e:
            event("connect_failed", error=repr(e))
            raise
        event("welcome")
        return up

    async def _serve(self, drain):
        try:
            await Link._serve(self, drain)
        finally:
            event("session_end")


def fill(q):
    for i in range(CFG.get("batches", 0) + CFG.get("alarms", 0)):
        alarm = i < CFG.get("alarms", 0)
        epoch, seq = q.reserve()
        q.put(seq, fwflash.message(CFG["node"], epoch, seq, alarm), alarm)


async def main():
    q = LoggedQueue("q")
    fill(q)
    event("filled", epoch=q.epoch, depth=q.depth(), head=[p.split("/")[-1] for p in q.head(1000)])
    if "tcp" in CFG:
        inner = TcpTransport(CFG["tcp"][0], CFG["tcp"][1])
    else:
        inner = SerialTransport(machine.UART(CFG["uart_id"], baudrate=115200, timeout=0), "link")
    hello = {"firmware": "0.1.0-test", "slot": "a", "boot": 1, "kit": "hydrant", "caps": []}
    link = LoggedLink(
        inner,
        q,
        CFG["node"],
        bytes.fromhex(CFG["key"]),
        hello,
        window=CFG.get("window", 4),
        ack_timeout_s=CFG.get("ack_timeout_s", 2),
        backoff_min_ms=CFG.get("backoff_min_ms", 100),
        backoff_max_ms=CFG.get("backoff_max_ms", 800),
    )
    task = asyncio.create_task(link.run())
    deadline = clock.ticks_add(clock.ticks_ms(), CFG.get("deadline_s", 60) * 1000)
    while q.depth() and clock.ticks_diff(deadline, clock.ticks_ms()) > 0:
        await asyncio.sleep_ms(50)
    link.stop()
    await asyncio.sleep_ms(50)
    task.cancel()
    stats = link.stats
    return {
        "depth": q.depth(),
        "files": sorted(n for n in os.listdir("q") if n != "state.json"),
        "connects": stats.connects,
        "failures": stats.failures,
        "acks": stats.acks,
        "errors": stats.errors,
        "frames_out": stats.frames_out,
    }


result = asyncio.run(main())
print("@@RESULT@@ " + json.dumps(result))
