# The JSON convention of the wire test vectors, in the subset of Python that
# both MicroPython and CPython run (this module is imported by the vector
# runner under both runtimes and by the CPython tests).
#
# A CBOR value is written in JSON as:
#   null, true, false, integers (any size), text   -> themselves
#   arrays                                           -> JSON arrays
#   byte strings    {"$bytes": "<lowercase hex>"}
#   tags            {"$tag": [<tag number>, <value>]}
#   maps            {"$map": [[<key>, <value>], ...]}   pairs in the order of
#                   their encoded keys (RFC 8949 section 4.2.1), so a decoded
#                   map prints the same in both runtimes
#   floats          {"$float": "<repr>"} (only in inputs the encoder must refuse)
# Text is stored as UTF-8 in the JSON files (not as \u escapes: MicroPython's
# json module does not join UTF-16 surrogate pairs).

import binascii

from firmware.wire.cbor import Tag, dumps


def unhex(text):
    return binascii.unhexlify(text)


def tohex(data):
    return binascii.hexlify(bytes(data)).decode()


def from_json(j):
    if isinstance(j, list):
        return [from_json(x) for x in j]
    if isinstance(j, dict):
        if "$bytes" in j:
            return unhex(j["$bytes"])
        if "$tag" in j:
            return Tag(j["$tag"][0], from_json(j["$tag"][1]))
        if "$map" in j:
            out = {}
            for pair in j["$map"]:
                out[from_json(pair[0])] = from_json(pair[1])
            return out
        if "$float" in j:
            return float(j["$float"])
        raise ValueError("unknown JSON convention object %r" % (j,))
    return j


def _first(triple):
    return triple[0]


def to_json(v):
    if v is None or v is True or v is False:
        return v
    if isinstance(v, (int, str)):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$bytes": tohex(v)}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, Tag):
        return {"$tag": [v.tag, to_json(v.value)]}
    if isinstance(v, dict):
        triples = [(dumps(k), k, val) for k, val in v.items()]
        triples.sort(key=_first)
        return {"$map": [[to_json(t[1]), to_json(t[2])] for t in triples]}
    if isinstance(v, float):
        return {"$float": repr(v)}
    raise TypeError("no JSON convention for %s" % type(v).__name__)


# A WireError (or any other exception) as a JSON object.
def error_json(e):
    out = {"type": type(e).__name__, "what": str(e)}
    code = getattr(e, "code", None)
    if code is not None:
        out["code"] = code
        out["kind"] = e.kind
        out["offset"] = e.offset
        out["limit"] = e.limit
        out["peer"] = e.peer
    return out
