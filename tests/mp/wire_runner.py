# Runs the wire-protocol test vectors with the firmware's own code and prints
# the results as JSON. Written in the subset of Python that MicroPython and
# CPython both run: pytest runs it in-process under CPython (run(request)) and
# as a script under the real `micropython` binary, and compares both outputs
# with the checked-in vectors (tests/vectors/*.json).
#
# The tests compile tests/mp to .mpy and start it with a two-line script
# (conftest.RUNNER_BOOT: `import wire_runner; wire_runner.main()`):
#   stdin: one JSON request         -> one suite, its result after MARK
#   argv[1] == "serve"              -> a NodeSession driven by JSON lines on
#                                      stdin, one reply line per request line
#
# A request is {"suite": name, ...}; see SUITES at the end (the suites live in
# wire_cbor_suites.py, wire_node.py and wire_link_suites.py). Every firmware
# exception is reported as data (wire_json.error_json), never raised, so one
# bad vector never hides the others. Results are streamed (Streamer) because
# a 64 KiB heap cannot hold them all.

import json
import sys

from firmware.wire import cbor

MARK = "@@RESULT@@ "


# The vector files hold one vector per line (generate.py writes them so), which
# lets a 64 KiB MicroPython heap read them a line at a time:
#   {
#    "name": <one-line value>,
#    "list": [
#     <one vector>,
#     ...
#    ]
#   }
def _strip(line):
    s = line.strip()
    if s.endswith(","):
        s = s[:-1]
    return s


# The vectors of one top-level list, one at a time.
def vectors(path, name):
    prefix = ' "%s": [' % name
    inside = False
    with open(path) as f:
        for line in f:
            if not inside:
                if line.startswith(prefix):
                    inside = True
                continue
            s = _strip(line)
            if s.startswith("]"):
                return
            yield json.loads(s)
    if not inside:
        raise KeyError("%s has no list %r" % (path, name))


# A top-level value written on one line.
def value_of(path, name):
    prefix = ' "%s": ' % name
    with open(path) as f:
        for line in f:
            if line.startswith(prefix):
                return json.loads(_strip(line[len(prefix) :]))
    raise KeyError("%s has no value %r" % (path, name))


def where():
    return {"cbor": cbor.__file__, "implementation": sys.implementation.name}


# Results go out as they are made (a 64 KiB heap cannot hold them all): put()
# writes one key, append() adds to the list under a key (one list at a time).
class Collector:
    def __init__(self):
        self.result = {}

    def put(self, key, value):
        self.result[key] = value

    def append(self, key, value):
        if key not in self.result:
            self.result[key] = []
        self.result[key].append(value)

    def close(self):
        return self.result


class Streamer:
    def __init__(self, stream):
        self.w = stream.write
        self.w(MARK + "{")
        self.first = True
        self.open_list = None

    def _key(self, key):
        if self.open_list is not None:
            self.w("]")
            self.open_list = None
        self.w(("" if self.first else ", ") + json.dumps(key) + ": ")
        self.first = False

    def put(self, key, value):
        self._key(key)
        self.w(json.dumps(value))

    def append(self, key, value):
        if self.open_list != key:
            self._key(key)
            self.w("[")
            self.open_list = key
            self.w(json.dumps(value))
        else:
            self.w(", " + json.dumps(value))

    def close(self):
        if self.open_list is not None:
            self.w("]")
        self.w("}\n")


# suite name -> (module, function), imported only when asked for, so that a
# small heap holds only what one suite needs
SUITES = {
    "rfc": ("wire_cbor_suites", "suite_rfc"),
    "malformed": ("wire_cbor_suites", "suite_malformed"),
    "protocol": ("wire_node", "suite_protocol"),
    "frames": ("wire_link_suites", "suite_frames"),
    "mac": ("wire_link_suites", "suite_mac"),
    "misc": ("wire_link_suites", "suite_misc"),
}


def _run(req, out):
    out.put("where", where())
    module, name = SUITES[req["suite"]]
    getattr(__import__(module), name)(req, out)
    return out.close()


# In-process (CPython): the result as one dict.
def run(req):
    return _run(req, Collector())


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        __import__("wire_node").serve()
        return
    req = json.loads(sys.stdin.read())
    _run(req, Streamer(sys.stdout))


if __name__ == "__main__":
    main()
