# Runs firmware.app.config on garbage, the same cases in CPython and MicroPython
# (tests/test_firmware_config.py). A request is
#   {"check": [CONFIG, ...],
#    "load": [{"node": TEXT|null, "key_hex": HEX|null, "board": TEXT|null}, ...],
#    "dir": a scratch directory}
# and the result has one outcome per case (and "where": the implementation and the
# file config was imported from): "ok", or "ConfigError: message", or the
# name of any other exception (a bug: garbage must only ever give ConfigError).
import binascii
import json
import os
import sys

from firmware.app import config


def _outcome(fn, *args):
    try:
        fn(*args)
    except config.ConfigError as e:
        return "ConfigError: %s" % e
    except Exception as e:
        return "%s: %s" % (type(e).__name__, e)
    return "ok"


def _write(path, data):
    if data is None:
        try:
            os.remove(path)
        except OSError:
            pass
        return
    with open(path, "wb") as f:
        f.write(data)


def _load_case(case):
    _write(config.CONFIG_PATH, None if case["node"] is None else case["node"].encode())
    key = case["key_hex"]
    _write(config.KEY_PATH, None if key is None else binascii.unhexlify(key))
    _write(config.BOARD_PATH, None if case["board"] is None else case["board"].encode())
    return _outcome(config.load)


def run(req):
    out = {"check": [_outcome(config.check, c) for c in req["check"]], "load": []}
    out["where"] = [sys.implementation.name, getattr(config, "__file__", "")]
    here = os.getcwd()
    os.chdir(req["dir"])
    try:
        try:
            os.mkdir("cfg")
        except OSError:
            pass
        out["load"] = [_load_case(c) for c in req["load"]]
    finally:
        os.chdir(here)
    return out


def main():
    req = json.loads(sys.stdin.read())
    print("@@RESULT@@ " + json.dumps(run(req)))
