# Small files that must survive a power cut at any instant: written to a temp
# name, flushed, closed, then renamed over the old one (a rename is atomic on
# littlefs), so a reader finds the old content or the new, never a mix. Each
# record starts with a format version.

import json
import os

FORMAT = 1


def exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def write_bytes(path: str, data: bytes | bytearray | memoryview) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def write_json(path, record):
    record["format"] = FORMAT
    write_bytes(path, json.dumps(record).encode())


# The record at path, or None when it is missing, unreadable or of another
# format (callers then start from defaults and count the event).
def read_json(path):
    try:
        with open(path, "rb") as f:
            record = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return None
    return record


# Removes temp files a power cut left behind in a directory.
def sweep(directory: str) -> int:
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if name.endswith(".tmp"):
            remove(directory + "/" + name)
            removed += 1
    return removed


def makedirs(path: str) -> None:
    current = "/" if path.startswith("/") else ""
    for part in path.strip("/").split("/"):
        current += part
        try:
            os.mkdir(current)
        except OSError:
            pass
        current += "/"
