# The loader: the small program a node boots into (installed as /loader.py,
# started by a two-line /main.py). It is never replaced blindly: an update
# replaces an app slot, never this file. It owns the boot state:
#
#   boots     boots counted since provisioning
#   failures  consecutive boots that did not confirm (crash before confirm, or a
#             watchdog reset); a wake from deep sleep is not a failure
#   active    the confirmed app slot, "a" or "b"
#   trial     a freshly installed slot on probation, or None
#   tries     boots of the trial slot so far
#   bad       slots that failed their trial (an update will not be retried)
#   running   set at every boot, cleared by confirm()
#   verified  slots whose files were checked against their manifest since they
#             were installed (a failed boot checks the slot again)
#   retries   times safe mode was entered since the app last confirmed (sets
#             how long safe mode waits before it tries the app slot again)
#   safe_boots  boots in a row in safe mode (a battery node in safe mode wakes
#             once per period: its wait is counted in these)
#
# Flash layout (paths relative to the filesystem root):
#   main.py, loader.py   this loader
#   base/firmware/...    the base image: wire protocol, link, queue and safe mode;
#                        replaced only together with the loader by a technician
#   a/firmware/...       app slot A (a complete firmware package + manifest.json
#                        with every file's size and SHA-256)
#   b/firmware/...       app slot B
#   cfg/                 provisioned config, key and board file (format versioned)
#   q/                   the reading queue
#   boot.json            this state
#
# Boot: a trial slot runs at most TRIAL_TRIES times without confirming, then
# the loader rolls back to the active slot. After SAFE_AFTER failed boots in a
# row the node starts safe mode from base/ (link and update only), which works
# even when the active slot is broken. An app slot that cannot be imported also
# falls back to safe mode.
#
# Before a slot runs for the first time after its install, and after a failed
# boot, the loader checks every file of the slot against the slot's manifest
# (a truncated .mpy would make the import hang, not fail). A trial slot that
# fails the check is rolled back at once; an active slot that fails it is
# marked bad and the node starts safe mode. Safe mode is not for good: once it
# has reached the edge it tries the app slot again after safe_retry_s(), unless
# that slot is bad (then only an update brings the app back).

import os
import sys
from binascii import hexlify

try:
    import json
except ImportError:
    import ujson as json  # type: ignore[no-redef]

try:
    import hashlib
except ImportError:
    import uhashlib as hashlib  # type: ignore[no-redef]

STATE = "boot.json"
FORMAT = 1
SAFE_AFTER = 3
TRIAL_TRIES = 2
MANIFEST = "manifest.json"
SAFE_RETRY_FIRST_S = 3600
SAFE_RETRY_MAX_S = 86400

# machine.reset_cause() values differ by port; the loader only needs to know
# whether this boot is a wake from deep sleep or a watchdog reset.
try:
    import machine

    _DEEPSLEEP = getattr(machine, "DEEPSLEEP_RESET", -1)
    _WDT = getattr(machine, "WDT_RESET", -2)

    def _reset_cause() -> int:
        return machine.reset_cause()

except (ImportError, AttributeError):
    _DEEPSLEEP = -1
    _WDT = -2

    def _reset_cause() -> int:
        return 0


def _default() -> dict:  # type: ignore[type-arg]
    return {
        "format": FORMAT,
        "boots": 0,
        "failures": 0,
        "active": "a",
        "trial": None,
        "tries": 0,
        "bad": [],
        "running": False,
        "safe": False,
        "slot": "a",
        "verified": [],
        "retries": 0,
        "safe_boots": 0,
    }


_SLOTS = ("a", "b")


# Whether a field of boot.json holds what the loader can use: the slot names
# where a slot is named, else a value of its default's kind (counts >= 0).
def _field_ok(name: str, value: object, default: object) -> bool:
    if name == "slot":
        return value in ("a", "b", "base")
    if name in ("active", "trial"):
        return value in _SLOTS or (value is None and default is None)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if isinstance(default, list):
        return isinstance(value, list) and all(v in _SLOTS for v in value)
    return True


# The boot state; defaults when boot.json is missing, unreadable or of another
# format. A field that is missing (an older loader wrote it) takes its default;
# one that holds garbage too, and then every slot is checked against its
# manifest again before it runs (nothing in a damaged state is trusted).
def read_state(root: str = "") -> dict:  # type: ignore[type-arg]
    try:
        with open(root + STATE) as f:
            state = json.loads(f.read())
    except (OSError, ValueError):
        return _default()
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        return _default()
    damaged = []
    for name, value in _default().items():
        if name not in state:
            state[name] = value
        elif not _field_ok(name, state[name], value):
            damaged.append(name)
            state[name] = value
    if damaged:
        print("loader: %s%s had garbage in %s: reset" % (root, STATE, ", ".join(sorted(damaged))))
        state["verified"] = []
    return state


def write_state(state: dict, root: str = "") -> None:  # type: ignore[type-arg]
    tmp = root + STATE + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(state))
    os.rename(tmp, root + STATE)


# Decides what this boot runs; records it. Returns (slot or "base", safe).
def decide(state: dict, cause: int) -> tuple:  # type: ignore[type-arg]
    state["boots"] += 1
    if cause == _WDT or (state["running"] and cause != _DEEPSLEEP):
        state["failures"] += 1
    state["running"] = True
    trial = state["trial"]
    if trial is not None:
        if state["tries"] >= TRIAL_TRIES:
            # the update never confirmed: roll back
            state["bad"].append(trial)
            state["trial"] = None
            state["tries"] = 0
            state["failures"] = 0
        else:
            state["tries"] += 1
            state["slot"] = trial
            state["safe"] = False
            return trial, False
    if state["failures"] >= SAFE_AFTER:
        return decide_safe(state)
    state["slot"] = state["active"]
    state["safe"] = False
    return state["active"], False


# Called by the app once it is healthy (sampling and a link session worked):
# clears the failure count, and makes a trial slot the active one.
def confirm(root: str = "") -> None:
    state = read_state(root)
    state["running"] = False
    state["failures"] = 0
    if not state["safe"]:
        state["retries"] = 0
    if state["trial"] is not None and state["slot"] == state["trial"]:
        state["active"] = state["trial"]
        state["trial"] = None
        state["tries"] = 0
    write_state(state, root)


# Marks a freshly installed and verified slot for a trial boot.
def set_trial(slot: str, root: str = "") -> None:
    state = read_state(root)
    state["trial"] = slot
    state["tries"] = 0
    if slot in state["bad"]:
        state["bad"].remove(slot)
    if slot in state["verified"]:
        state["verified"].remove(slot)
    write_state(state, root)


# How long safe mode runs before it resets to try the app slot again (seconds,
# doubling with every entry into safe mode, at most a day), or None when the
# active slot is bad and only an update can bring the app back; from a state
# read by read_state().
def safe_retry_s(state: dict) -> int | None:  # type: ignore[type-arg]
    if state["active"] in state["bad"]:
        return None
    return min(SAFE_RETRY_FIRST_S << max(0, state["retries"] - 1), SAFE_RETRY_MAX_S)


# Checks every file of a slot against the slot's manifest (size, SHA-256).
# Returns None when the slot is whole, else what is wrong (the first bad file).
def check_slot(slot: str, root: str = "") -> str | None:
    prefix = root + slot + "/"
    try:
        with open(prefix + MANIFEST) as f:
            files = json.loads(f.read())["files"]
        entries = [(name, files[name]["size"], files[name]["sha256"]) for name in files]
    except (OSError, ValueError, KeyError, TypeError):
        return "%s%s is missing or unreadable" % (prefix, MANIFEST)
    files = None
    buf = bytearray(512)
    view = memoryview(buf)
    for name, size, digest in entries:
        h = hashlib.sha256()
        got = 0
        try:
            with open(prefix + name, "rb") as f:
                while True:
                    n = f.readinto(buf)
                    if not n:
                        break
                    h.update(view[:n])
                    got += n
        except OSError:
            return "%s%s is missing" % (prefix, name)
        if got != size:
            return "%s%s has %d bytes, the manifest says %d" % (prefix, name, got, size)
        if hexlify(h.digest()).decode() != digest:
            return "%s%s does not match its SHA-256 in the manifest" % (prefix, name)
    return None


# Checks the slot this boot is about to run when it has not been checked since
# its install or the last boot failed; on a bad slot changes the decision the
# way decide() would (roll a trial back, else safe mode). Returns (slot, safe).
def verify(state: dict, slot: str, safe: bool, root: str = "") -> tuple:  # type: ignore[type-arg]
    while not safe and (slot not in state["verified"] or state["failures"]):
        why = check_slot(slot, root)
        if why is None:
            if slot not in state["verified"]:
                state["verified"].append(slot)
            break
        print("loader: slot %s is broken: %s" % (slot, why))
        if slot in state["verified"]:
            state["verified"].remove(slot)
        state["bad"].append(slot)
        if state["trial"] == slot:
            state["trial"] = None
            state["tries"] = 0
            slot = state["active"]
            if slot not in state["bad"]:
                state["slot"] = slot
                continue
        state["failures"] = SAFE_AFTER
        slot, safe = decide_safe(state)
    return slot, safe


def decide_safe(state: dict) -> tuple:  # type: ignore[type-arg]
    if state["safe"]:
        state["safe_boots"] += 1
    else:
        state["retries"] += 1
        state["safe_boots"] = 1
    state["slot"] = "base"
    state["safe"] = True
    return "base", True


def _start(slot: str, safe: bool) -> None:
    path = "base" if slot == "base" else slot
    sys.path.insert(0, path)
    try:
        from firmware.app import main  # type: ignore[attr-defined]  # from the chosen slot
    except ImportError:
        raise
    except Exception as e:
        # a corrupt file (SyntaxError, ValueError "incompatible .mpy file") or a
        # module failing while it loads: the slot cannot start either
        raise ImportError("%s: %r" % (path, e)) from None

    main.run(safe=safe, slot=slot)


def boot() -> None:
    state = read_state()
    slot, safe = decide(state, _reset_cause())
    slot, safe = verify(state, slot, safe)
    write_state(state)
    try:
        _start(slot, safe)
    except ImportError as e:
        # the slot is broken (missing or corrupt files): count it and go to safe mode
        print("loader: slot %s does not start: %s" % (slot, e))
        state["failures"] = SAFE_AFTER
        if slot in state["verified"]:
            state["verified"].remove(slot)
        decide_safe(state)
        write_state(state)
        sys.path.pop(0)
        for name in list(sys.modules):
            if name.startswith("firmware"):
                del sys.modules[name]
        _start("base", True)
