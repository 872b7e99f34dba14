# mypy: ignore-errors
# ruff: noqa: PLW0603, SIM115
# The node's installer: writes files into a node's filesystem so that a file
# is whole or absent, and verifies them by hashing what is on flash.
#
# Plain Python for MicroPython and CPython. `fleet flash` sends this source to
# the board over the raw REPL and calls its functions (the host never writes a
# file itself); the OTA work runs the same module from the firmware with chunks
# from the edge. Only os, sys, json, binascii and hashlib are used.
#
#   use(root)              the filesystem root ("/", "/flash", "" = the cwd)
#   info()                 board, MicroPython, free space, what is installed
#   begin(path)            open PATH.part for writing (parent dirs made)
#   put(b64) / put_raw(b)  append a chunk (base64 text or bytes)
#   done(path, size, sha)  close, hash PATH.part on flash, rename to PATH
#   copy(src, dst, size, sha)  the same from a file already on flash
#   hashes(paths)          {path: [size, sha256 hex] or None}
#   verify(entries)        [[path, why], ...] for files that do not match
#   write_json(path, obj)  a small file, atomically (temp + rename)
#   remove(paths) / wipe(dirs)
#
# Errors: OSError from the filesystem passes through (errno 28 = flash full;
# the partial file is removed first); a verification failure raises
# ValueError("mismatch PATH: ...").

import binascii
import json
import os
import sys

try:
    import hashlib
except ImportError:  # pragma: no cover - every CityNerve board has hashlib
    hashlib = None

FORMAT = 1
PART = ".part"
MARKER = "flash.json"
CHUNK = 1024
_DIR = 0x4000

_prefix = ""
_w = {"f": None, "path": None, "h": None, "n": 0}


def use(root):
    global _prefix
    if root in ("", "."):
        _prefix = ""
    elif root.endswith("/"):
        _prefix = root
    else:
        _prefix = root + "/"
    return _prefix


def _p(path):
    return _prefix + path


def _is_dir(full):
    try:
        return os.stat(full)[0] & _DIR != 0
    except OSError:
        return False


def _exists(full):
    try:
        os.stat(full)
        return True
    except OSError:
        return False


def _makedirs(path):
    # the parent directories of PATH (relative to the root)
    parts = path.split("/")[:-1]
    cur = ""
    for part in parts:
        cur = cur + part if not cur else cur + "/" + part
        if not _is_dir(_p(cur)):
            os.mkdir(_p(cur))


def _unlink(full):
    try:
        os.remove(full)
    except OSError:
        pass


def _rename(src, dst):
    try:
        os.rename(src, dst)
    except OSError:
        # FAT does not rename over an existing file
        if not _exists(dst):
            raise
        os.remove(dst)
        os.rename(src, dst)


def _hex(digest):
    return binascii.hexlify(digest).decode()


def _hash_full(full):
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    mv = memoryview(buf)
    n = 0
    with open(full, "rb") as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            h.update(mv[:k])
            n += k
    return [n, _hex(h.digest())]


def hash_file(path):
    if not _exists(_p(path)) or _is_dir(_p(path)):
        return None
    return _hash_full(_p(path))


def hashes(paths):
    out = {}
    for path in paths:
        out[path] = hash_file(path)
    return out


def _read_json(path):
    try:
        with open(_p(path)) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def _root_default():
    # a pyboard and the unix port's virtual boards keep the flash at /flash
    if _is_dir("/flash"):
        return "/flash"
    return "/"


def info():
    impl = sys.implementation
    d = {
        "platform": sys.platform,
        "version": list(impl.version[:3]),
        "release": ".".join(str(x) for x in impl.version[:3]),
        "machine": getattr(impl, "_machine", ""),
        "mpy": getattr(impl, "_mpy", None),
        "cwd": os.getcwd(),
        "root": _root_default(),
        "virtual": None,
        "hashlib": hashlib is not None,
    }
    if len(impl.version) > 3 and impl.version[3]:
        d["release"] += "-" + str(impl.version[3])
    try:
        u = os.uname()
        d["machine"] = u.machine
        d["release"] = u.release
    except AttributeError:
        pass
    reg = sys.modules.get("hardware.hal.registry")
    if reg is not None:
        d["virtual"] = reg.config.get("board")
    if not _prefix:
        use(d["root"])
    try:
        st = os.statvfs(_prefix or ".")
        d["fs"] = {"bsize": st[0], "blocks": st[2], "free": st[4] * st[0]}
    except (OSError, AttributeError):
        d["fs"] = None
    node = _read_json("cfg/node.json")
    d["node"] = node.get("node_id") if isinstance(node, dict) else None
    d["kit"] = node.get("kit") if isinstance(node, dict) else None
    d["marker"] = _read_json(MARKER)
    d["slots"] = {}
    for slot in ("a", "b", "base"):
        m = _read_json(slot + "/manifest.json")
        if isinstance(m, dict):
            d["slots"][slot] = m.get("version")
        elif _is_dir(_p(slot)):
            d["slots"][slot] = ""
    d["loader"] = _exists(_p("loader.py"))
    d["main"] = _exists(_p("main.py"))
    return d


def free():
    st = os.statvfs(_prefix or ".")
    return st[4] * st[0]


def _abort():
    f = _w["f"]
    if f is not None:
        try:
            f.close()
        except OSError:
            pass
        _unlink(_p(_w["path"] + PART))
    _w["f"] = None
    _w["path"] = None


def begin(path):
    _abort()
    _makedirs(path)
    part = _p(path + PART)
    _unlink(part)
    _w["f"] = open(part, "wb")
    _w["path"] = path
    _w["h"] = hashlib.sha256()
    _w["n"] = 0
    return part


def put_raw(data):
    if _w["f"] is None:
        raise ValueError("put without begin")
    try:
        _w["f"].write(data)
    except OSError:
        _abort()
        raise
    _w["h"].update(data)
    _w["n"] += len(data)
    return _w["n"]


def put(b64):
    return put_raw(binascii.a2b_base64(b64))


def _finish(path, size, sha):
    # PATH.part is closed: hash what is on flash, then rename into place
    part = _p(path + PART)
    got = _hash_full(part)
    if got[0] != size or got[1] != sha:
        _unlink(part)
        raise ValueError(
            "mismatch %s: wrote %d bytes sha256 %s, expected %d bytes %s"
            % (path, got[0], got[1], size, sha)
        )
    _rename(part, _p(path))
    return got


def done(path, size, sha):
    if _w["f"] is None or _w["path"] != path:
        raise ValueError("done(%r) without begin" % path)
    f = _w["f"]
    _w["f"] = None
    try:
        f.close()
    except OSError:
        _unlink(_p(path + PART))
        raise
    got = _hex(_w["h"].digest())  # once: a MicroPython hash is final after digest()
    if _w["n"] != size or got != sha:
        _unlink(_p(path + PART))
        raise ValueError(
            "mismatch %s: received %d bytes sha256 %s, expected %d bytes %s"
            % (path, _w["n"], got, size, sha)
        )
    return _finish(path, size, sha)


def copy(src, dst, size, sha):
    got = hash_file(src)
    if got is None or got[0] != size or got[1] != sha:
        raise ValueError("mismatch %s: cannot copy to %s (%r)" % (src, dst, got))
    begin(dst)
    buf = bytearray(CHUNK)
    mv = memoryview(buf)
    with open(_p(src), "rb") as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            put_raw(mv[:k])
    return done(dst, size, sha)


def verify(entries):
    bad = []
    for path in entries:
        want = entries[path]
        got = hash_file(path)
        if got is None:
            bad.append([path, "missing"])
        elif got[0] != want[0] or got[1] != want[1]:
            bad.append([path, "%d bytes sha256 %s" % (got[0], got[1])])
    return bad


def write_json(path, obj):
    data = json.dumps(obj).encode()
    h = hashlib.sha256(data)
    begin(path)
    put_raw(data)
    return done(path, len(data), _hex(h.digest()))


def remove(paths):
    n = 0
    for path in paths:
        if _exists(_p(path)):
            os.remove(_p(path))
            n += 1
    return n


def _rmtree(full):
    n = 0
    for entry in os.listdir(full):
        sub = full + "/" + entry
        if _is_dir(sub):
            n += _rmtree(sub)
        else:
            os.remove(sub)
            n += 1
    os.rmdir(full)
    return n


def wipe(dirs):
    n = 0
    for d in dirs:
        full = _p(d)
        if _is_dir(full):
            n += _rmtree(full)
        elif _exists(full):
            os.remove(full)
            n += 1
    return n


def parts():
    # leftover PATH.part files of an interrupted install, anywhere under the root
    out = []

    def walk(rel):
        full = _p(rel) if rel else (_prefix or ".")
        for entry in os.listdir(full):
            sub = rel + "/" + entry if rel else entry
            if _is_dir(_p(sub)):
                walk(sub)
            elif entry.endswith(PART):
                out.append(sub)

    walk("")
    return out
