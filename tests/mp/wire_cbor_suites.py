# CBOR suites of the vector runner (see wire_runner.py): RFC 8949 Appendix A
# and malformed input. Runs under MicroPython and CPython.

from wire_json import error_json, from_json, to_json, tohex, unhex
from wire_runner import vectors

from firmware.wire import cbor


def decode_result(data):
    try:
        return {"value": to_json(cbor.loads(data))}
    except Exception as e:
        return {"error": error_json(e)}


def suite_rfc(req, out):
    path = req["path"]
    for v in vectors(path, "supported"):
        data = unhex(v["hex"])
        r = {}
        try:
            r["encoded"] = tohex(cbor.dumps(from_json(v["value"])))
        except Exception as e:
            r["encode_error"] = error_json(e)
        decoded = decode_result(data)
        r.update(decoded)
        # the decoder reads bytes, bytearray and memoryview alike
        r["views_agree"] = (
            decode_result(bytearray(data)) == decoded and decode_result(memoryview(data)) == decoded
        )
        out.append("supported", r)
    for v in vectors(path, "unsupported"):
        out.append("unsupported", decode_result(unhex(v["hex"])))


def suite_malformed(req, out):
    path = req["path"]
    for section in req.get("sections", ("decode", "decode_strict", "decode_ok", "encode")):
        for v in vectors(path, section):
            if section != "encode":
                out.append(section, decode_result(unhex(v["hex"])))
                continue
            try:
                out.append(section, {"hex": tohex(cbor.dumps(from_json(v["value"])))})
            except Exception as e:
                out.append(section, {"error": error_json(e)})
