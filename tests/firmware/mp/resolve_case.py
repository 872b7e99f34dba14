# The TCP transport resolves the edge's name once and keeps the address: no
# look-ups while the edge is unreachable, a new look-up only after
# resolve_after failed connects in a row, and none after a session worked.
# Real MicroPython asyncio sockets against loopback. stdin: {"closed": PORT,
# "open": PORT (a listener that accepts and closes), "attempts": N}.
import asyncio
import json
import sys

from firmware.app import link

REQ = json.loads(sys.stdin.read())
looked_up = []
_real = link._resolve


def counting(host, port):
    looked_up.append(host)
    return _real(host, port)


link._resolve = counting


async def attempts(transport, n):
    errors = []
    for _ in range(n):
        try:
            _reader, writer = await transport.open()
            writer.write(b"x" * 64)
            await writer.drain()
            await asyncio.sleep_ms(20)
            writer.write(b"x" * 64)
            await writer.drain()
            errors.append(0)
        except OSError as e:
            errors.append(e.args[0])
        await transport.close()
    return errors


async def main():
    t = link.TcpTransport("localhost", REQ["closed"])
    out = {"errors": await attempts(t, REQ["attempts"])}
    out["lookups"] = len(looked_up)
    out["address"] = t.address
    t.up()  # what the link calls when the edge welcomes the node
    out["failures_after_up"] = t.failures
    return out


print("@@RESULT@@ " + json.dumps(asyncio.run(main())))
