# The provisioned node config (cfg/node.json, written by `fleet flash`), the
# node key (cfg/key.bin, 32 bytes) and the board file (cfg/board.json). Each
# file carries a format version. load() fills defaults for missing optional
# settings and raises ConfigError naming the file and key for anything wrong;
# the app then starts safe mode instead of guessing.

import json

from firmware.app import store

CONFIG_FORMAT = 1
CONFIG_PATH = "cfg/node.json"
KEY_PATH = "cfg/key.bin"
BOARD_PATH = "cfg/board.json"
KITS = ("elevator", "hydrant", "manhole")
# how the board arms deep-sleep wake inputs (firmware/app/duty.py)
DEEP_WAKE = ("pin_irq", "esp32_gpio")

# Defaults per kit: reading interval, readings per batch and thresholds.
DEFAULTS = {
    "elevator": {
        "power": "mains",
        "sample_s": 60,
        "batch_readings": 20,
        "thresholds": {
            "door_open_s": 60,  # door open longer than this: door_fault
            "trip_mg": 40,  # vertical acceleration off rest that starts a trip, milli-g
            "trip_ma": 2000,  # motor current that starts a trip, mA
            "trip_end_ms": 1000,  # quiet time that ends a trip
            "rough_rms_mg": 100,  # vibration RMS of a trip that counts as rough
            "estop_mg": 150,  # low-passed deceleration of an emergency stop
            "entrapment_s": 120,  # stopped between floors with the door closed
            "accel_noise_mg": 30,  # accelerometer noise at rest before it is a fault
        },
    },
    "hydrant": {
        "power": "battery",
        "sample_s": 900,
        "batch_readings": 16,
        "thresholds": {
            "pressure_low_pa": 200000,
            "hammer_pa": 250000,  # high-passed pressure swing within a burst
            "burst_ms": 500,  # pressure burst length at each wake
            "open_drop_pa": 50000,  # pressure drop that confirms an opened valve
            "open_confirm_ms": 5000,  # how long a reed wake watches for that drop
            "impact_mg": 2000,
            # activity that wakes the node between samples (ADXL345 THRESH_ACT,
            # ac-coupled): well below an impact, far above flow vibration
            "accel_wake_mg": 1000,
            "tilt_cdeg": 500,  # 5 degrees from the install baseline
            "freeze_ccel": 100,  # 1 degC
            "accel_noise_mg": 30,
            "temp_noise_ccel": 40,  # second difference of temperatures before a fault
        },
    },
    "manhole": {
        "power": "battery",
        "sample_s": 900,
        "batch_readings": 16,
        "thresholds": {
            "tilt_cdeg": 1000,
            "cover_settle_ms": 2000,  # wait after a reed wake before measuring tilt
            "sensor_height_mm": 3000,  # ultrasonic sensor above the manhole floor
            "level_high_mm": 1500,  # water level that raises overflow
            "h2s_alarm_ppb": 10000,  # 10 ppm
            # measure gas every N samples: every 30 min at sample_s 900 (the
            # module's warm-up is most of a battery manhole's charge: see
            # docs/benchmarks.md, "Energy model")
            "gas_every": 2,
            "gas_warmup_ms": 30000,  # gas module warm-up after power-on
            # activity that wakes the node between samples (a cover moved,
            # about 15 degrees of tilt or a jolt)
            "accel_wake_mg": 250,
            "accel_noise_mg": 30,
            "temp_noise_ccel": 40,
        },
    },
}


class ConfigError(Exception):
    pass


def _require(cfg, key, kind, where):
    if key not in cfg:
        raise ConfigError("%s: missing key %r" % (where, key))
    value = cfg[key]
    if kind is int and (not isinstance(value, int) or value is True or value is False):
        raise ConfigError("%s: %r must be an integer, got %r" % (where, key, value))
    if kind is not int and not isinstance(value, kind):
        raise ConfigError("%s: %r has the wrong type (%r)" % (where, key, value))
    return value


def _read(path):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except OSError:
        raise ConfigError("%s: missing (the node is not provisioned)" % path) from None
    except ValueError:
        raise ConfigError("%s: not valid JSON" % path) from None


# Validates a config dict (also used by the fleet before writing it) and
# returns it with defaults filled in.
def check(cfg, where=CONFIG_PATH):
    if not isinstance(cfg, dict):
        raise ConfigError("%s: must be a JSON object" % where)
    if cfg.get("format") != CONFIG_FORMAT:
        raise ConfigError(
            "%s: format %r, this firmware reads %d" % (where, cfg.get("format"), CONFIG_FORMAT)
        )
    node_id = _require(cfg, "node_id", str, where)
    if not 0 < len(node_id) <= 64:
        raise ConfigError("%s: 'node_id' must be 1..64 characters" % where)
    kit = _require(cfg, "kit", str, where)
    if kit not in KITS:
        raise ConfigError("%s: 'kit' must be one of %s, got %r" % (where, ", ".join(KITS), kit))
    edge = _require(cfg, "edge", dict, where)
    if "tcp" in edge:
        endpoints = edge["tcp"]
        if not isinstance(endpoints, list) or not endpoints:
            raise ConfigError("%s: 'edge.tcp' must be a non-empty list of HOST:PORT" % where)
        for ep in endpoints:
            host, _, port = str(ep).rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError("%s: 'edge.tcp' entry %r is not HOST:PORT" % (where, ep))
    elif "serial" in edge:
        serial = edge["serial"]
        if not isinstance(serial, dict) or not isinstance(serial.get("uart"), int):
            raise ConfigError("%s: 'edge.serial' needs an integer 'uart'" % where)
    else:
        raise ConfigError("%s: 'edge' needs 'tcp' or 'serial'" % where)
    defaults = DEFAULTS[kit]
    out = dict(cfg)
    for key in ("power", "sample_s", "batch_readings"):
        out.setdefault(key, defaults[key])
    if out["power"] not in ("mains", "battery"):
        raise ConfigError("%s: 'power' must be 'mains' or 'battery'" % where)
    for key in ("sample_s", "batch_readings"):
        value = out[key]
        if not isinstance(value, int) or value is True or value < 1:
            raise ConfigError("%s: %r must be a positive integer" % (where, key))
    thresholds = dict(defaults["thresholds"])
    given = out.get("thresholds", {})
    if not isinstance(given, dict):
        raise ConfigError("%s: 'thresholds' must be an object" % where)
    for key, value in given.items():
        if key not in thresholds:
            raise ConfigError("%s: unknown threshold %r for kit %s" % (where, key, kit))
        if not isinstance(value, int) or value is True:
            raise ConfigError("%s: threshold %r must be an integer" % (where, key))
        thresholds[key] = value
    out["thresholds"] = thresholds
    out.setdefault("config_version", 0)
    return out


def load():
    cfg = check(_read(CONFIG_PATH))
    try:
        with open(KEY_PATH, "rb") as f:
            key = f.read()
    except OSError:
        raise ConfigError("%s: missing (the node is not provisioned)" % KEY_PATH) from None
    if len(key) < 16:
        raise ConfigError("%s: key is %d bytes, needs at least 16" % (KEY_PATH, len(key)))
    board = _read(BOARD_PATH)
    if not isinstance(board, dict) or "board" not in board or board.get("kit") != cfg["kit"]:
        raise ConfigError(
            "%s: must be the board file for kit %s (keys 'board', 'kit')" % (BOARD_PATH, cfg["kit"])
        )
    how = board.get("deep_wake", "pin_irq")
    if how not in DEEP_WAKE:
        raise ConfigError(
            "%s: 'deep_wake' must be one of %s, got %r" % (BOARD_PATH, ", ".join(DEEP_WAKE), how)
        )
    return cfg, key, board


def save(cfg):
    store.makedirs("cfg")
    store.write_json(CONFIG_PATH, check(cfg))
