# Builds protocol messages the way the node does, drives a NodeSession from
# JSON operations (the vector runner's "protocol" suite, and `serve` for tests
# that talk to a node interactively). Runs under MicroPython and CPython; also
# used by tests/vectors/generate.py.

import json
import sys

from wire_json import error_json, from_json, to_json, tohex, unhex
from wire_runner import value_of, vectors, where

from firmware.wire import cbor

# --- message builders (shared with tests/vectors/generate.py) ---------------


def add_reading(pw, r):
    kind = r.get("kind", "num")
    bn = r.get("bn")
    bt = r.get("bt", 0)
    if kind == "num":
        pw.add(r["n"], r.get("u", ""), r["m"], r.get("e", 0), r["t_ms"], bn, bt)
    elif kind == "bool":
        pw.add_bool(r["n"], r["vb"], r["t_ms"], bn, bt)
    elif kind == "str":
        pw.add_string(r["n"], r["vs"], r["t_ms"], bn, bt)
    else:
        raise ValueError("unknown reading kind %r" % kind)


# A batch (or, with "alarm", an alarm) built the way the node builds it: the
# pack by PackWriter behind a reserve, the head by write_batch_head in front.
def build_pack_message(a):
    from firmware.wire import protocol as P
    from firmware.wire.senml import PackWriter

    buf = bytearray(a.get("buf_size", 2048))
    scratch = bytearray(P.BATCH_HEAD_MAX)
    pw = PackWriter(buf, P.BATCH_HEAD_MAX)
    for r in a["readings"]:
        add_reading(pw, r)
    start, end = pw.finish()
    head = P.write_batch_head(
        buf,
        start,
        scratch,
        a["epoch"],
        a["seq"],
        a.get("alarm"),
        a.get("severity", P.SEVERITY_CRITICAL),
    )
    return bytes(buf[head:end])


def build_message(recipe):
    from firmware.wire import protocol as P

    fn = recipe["fn"]
    a = recipe.get("args", {})
    if fn == "batch":
        return build_pack_message(a)
    if fn == "dumps":
        return cbor.dumps(from_json(a["value"]))
    enc = cbor.Encoder(bytearray(recipe.get("size", 1024)))
    if fn == "hello":
        P.write_hello(
            enc,
            a["node"],
            unhex(a["nonce"]),
            a["firmware"],
            a["slot"],
            a["boot"],
            a["kit"],
            a["caps"],
        )
    elif fn == "welcome":
        P.write_welcome(enc, unhex(a["nonce"]), a["time"], a["config"], a["keepalive"], a["edge"])
    elif fn == "ack":
        P.write_ack(enc, a["epoch"], a["seq"], a["result"])
    elif fn == "keepalive":
        if "time" in a:
            P.write_keepalive(enc, a["time"])
        else:
            P.write_keepalive(enc)
    elif fn == "command_result":
        P.write_command_result(enc, a["command_id"], a["result"], a.get("detail", ""))
    elif fn == "status":
        P.write_status(enc, from_json(a["health"]))
    else:
        raise ValueError("unknown message recipe %r" % fn)
    return enc.getvalue()


# A frame from the edge to the node, built with the shared frame and MAC code
# in the edge direction (the node has no encoder for this direction).
def edge_frame(key, node_nonce, edge_nonce, counter, payload, *, address=0):
    from firmware.wire import frame as F
    from firmware.wire import mac as MAC

    body_len = F.COUNTER_LEN + len(payload) + F.MAC_LEN
    buf = bytearray(F.OVERHEAD + body_len)
    p = F.write_header(buf, address, body_len)
    buf[p : p + 4] = counter.to_bytes(4, "big")
    buf[p + 4 : p + 4 + len(payload)] = payload
    mac_at = p + 4 + len(payload)
    mv = memoryview(buf)
    buf[mac_at : mac_at + F.MAC_LEN] = MAC.frame_mac(
        MAC.MacKey(key), MAC.DIR_EDGE_TO_NODE, node_nonce, edge_nonce, mv[2:6], mv[p:mac_at]
    )
    F.write_trailer(buf, body_len)
    return bytes(buf)


# --- protocol suite ----------------------------------------------------------


def check_result(msg, from_node):
    from firmware.wire import protocol as P

    try:
        return {"type": P.check_message(msg, from_node)}
    except Exception as e:
        return {"error": error_json(e)}


def suite_protocol(req, out):
    path = req["path"]
    for v in vectors(path, "messages"):
        r = {}
        try:
            r["built"] = tohex(build_message(v["recipe"]))
        except Exception as e:
            r["build_error"] = error_json(e)
        try:
            msg = cbor.loads(unhex(v["hex"]))
            r["value"] = to_json(msg)
            r["check"] = check_result(msg, v["from_node"])
        except Exception as e:
            r["decode_error"] = error_json(e)
        out.append("messages", r)
    for v in vectors(path, "mutations"):
        try:
            msg = cbor.loads(unhex(v["hex"]))
        except Exception as e:
            out.append("mutations", {"decode_error": error_json(e)})
            continue
        out.append("mutations", check_result(msg, v["from_node"]))
    d = NodeDriver()
    out.append("session", d.handle(session_init(value_of(path, "session"))))
    for step in vectors(path, "session_steps"):
        out.append("session", d.handle(step["op"]))
    out.append("session", d.handle({"op": "state"}))


# --- a NodeSession driven by JSON operations -------------------------------


def event_json(event):
    name, value = event
    if name == "error":
        return [name, error_json(value)]
    return [name, to_json(value)]


def session_init(spec):
    return {
        "op": "init",
        "node_id": spec["node_id"],
        "key": spec["key"],
        "nonce": spec["node_nonce"],
        "address": spec.get("address", 0),
    }


class NodeDriver:
    def __init__(self):
        self.sess = None

    def handle(self, op):
        try:
            return self._handle(op)
        except Exception as e:
            return {"error": error_json(e)}

    def _handle(self, op):
        name = op["op"]
        if name == "where":
            return where()
        if name == "init":
            from firmware.wire.frame import MAX_BODY
            from firmware.wire.node_session import NodeSession

            self.sess = NodeSession(
                op["node_id"],
                unhex(op["key"]),
                unhex(op["nonce"]),
                op.get("address", 0),
                op.get("max_body", MAX_BODY),
            )
            return {}
        s = self.sess
        if name == "hello":
            return {
                "frame": tohex(
                    s.hello(op["firmware"], op["slot"], op["boot"], op["kit"], op["caps"])
                )
            }
        if name == "feed":
            data = unhex(op["data"])
            chunk = op.get("chunk", 0) or len(data) or 1
            events = []
            for i in range(0, len(data), chunk):
                for event in s.feed(data[i : i + chunk]):
                    events.append(event_json(event))
            return {"events": events}
        if name == "send":
            payload = unhex(op["payload"]) if "payload" in op else build_message(op["message"])
            return {"frame": tohex(s.send(payload))}
        if name == "keepalive":
            return {"frame": tohex(s.keepalive())}
        if name == "status":
            return {"frame": tohex(s.status(from_json(op["health"])))}
        if name == "command_result":
            return {
                "frame": tohex(
                    s.command_result(op["command_id"], op["result"], op.get("detail", ""))
                )
            }
        if name == "close":
            s.close()
            return {}
        if name == "state":
            return {
                "state": s.state,
                "tx_counter": s.tx_counter,
                "rx_counter": s.rx_counter,
                "edge_nonce": tohex(s.edge_nonce),
                "edge_id": s.edge_id,
                "edge_time": s.edge_time,
                "config_version": s.config_version,
                "keepalive_s": s.keepalive_s,
            }
        raise ValueError("unknown op %r" % name)


# One JSON request per stdin line, one JSON reply per stdout line.
def serve():
    d = NodeDriver()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        line = line.strip()
        if not line:
            continue
        sys.stdout.write(json.dumps(d.handle(json.loads(line))) + "\n")
