# The virtual node's configuration: parsing and validation.
#
# Plain Python for MicroPython (the boot script) and CPython (the supervisor).
# A config is a JSON object:
#   entry      module the boot script imports to run the firmware ("main")
#   call       optional function of that module to call after importing it
#   paths      directories put first on sys.path for the firmware ([])
#   cwd        working directory after mounting ("/flash"; without flash "",
#              which keeps the current one)
#   board, kit, scenario, node   free-form names, readable by setup hooks
#   flash      {"image": PATH, "blocks": N, "block_size": N,
#               "format": "never" | "if_blank" | "always"}; absent: no flash
#   state      file for RTC memory, RTC offset and exit records
#              (default: the flash image + ".state.json")
#   speed      simulated time factor, >= 1 (1)
#   epoch      world epoch seconds at this start (default: wall time now)
#   origin     world epoch seconds of the scenario's start (default: epoch)
#   unique_id  hex bytes machine.unique_id() returns
#   wake_pins  {PIN: LEVEL}: pins that end a deep sleep at that level
#   deep_wake  how the firmware arms deep-sleep wake pins, as on the board:
#              "pin_irq" (Pin.irq(wake=machine.DEEPSLEEP), the default) or
#              "esp32_gpio" (an ESP32-C3: an `esp32` module with wake_on_gpio
#              and gpio_deep_sleep_hold; Pin.irq cannot arm a deep-sleep wake)
#   deep_wake_pins  the pins that can wake the chip from deep sleep (the RTC
#              domain: on an ESP32-C3 GPIO0-5); absent: any pin
#   setup      "module:function" called as function(registry, config)
#   i2c        {BUS: {"factory": "module:callable", "args": {...}}}
#   uart       {ID: {"factory": ..., "args": ...} | {"path": "unix:/p" | "tcp:host:port"}}
#   pins       {PIN: {"level": 0|1} | {"factory": ..., "args": ...}}
#   adc        {PIN: {"uv": MICROVOLTS} | {"factory": ..., "args": ...}}
# Pin and bus ids are JSON strings; all-digit ones become ints ("4" -> 4).

import json

KEYS = (
    "entry",
    "call",
    "paths",
    "cwd",
    "board",
    "kit",
    "scenario",
    "node",
    "flash",
    "state",
    "speed",
    "epoch",
    "origin",
    "unique_id",
    "wake_pins",
    "deep_wake",
    "deep_wake_pins",
    "setup",
    "i2c",
    "uart",
    "pins",
    "adc",
)
FLASH_KEYS = ("image", "blocks", "block_size", "format")
FORMATS = ("never", "if_blank", "always")
DEEP_WAKE = ("pin_irq", "esp32_gpio")


class ConfigError(ValueError):
    pass


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fail(key: str, what: str, value: object) -> ConfigError:
    return ConfigError("config key %r: expected %s, got %r" % (key, what, value))


def _str(cfg: dict[str, object], key: str, default: str | None) -> str | None:
    v = cfg.get(key, default)
    if v is not None and not isinstance(v, str):
        raise _fail(key, "a string", v)
    return v


def _ident(key: str, text: str) -> int | str:
    if not text:
        raise _fail(key, "a non-empty id", text)
    return int(text) if text.isdigit() else text


def _ref(key: str, v: object) -> str:
    if not isinstance(v, str) or v.count(":") != 1 or v.startswith(":") or v.endswith(":"):
        raise _fail(key, 'a "module:name" reference', v)
    return v


def _devices(cfg: dict[str, object], key: str, plain: tuple[str, ...]) -> dict[object, object]:
    # Validates {ID: spec} where spec has "factory" (+ "args") or one of plain.
    v = cfg.get(key, {})
    if not isinstance(v, dict):
        raise _fail(key, "an object mapping ids to device specs", v)
    out: dict[object, object] = {}
    for ident, spec in v.items():
        where = "%s.%s" % (key, ident)
        if not isinstance(spec, dict):
            raise _fail(where, "an object", spec)
        if "factory" in spec:
            _ref(where + ".factory", spec["factory"])
            args = spec.get("args", {})
            if not isinstance(args, dict):
                raise _fail(where + ".args", "an object of keyword arguments", args)
            for name in spec:
                if name not in ("factory", "args"):
                    raise _fail(where + "." + str(name), "no such key (factory, args)", spec[name])
        else:
            found = [p for p in plain if p in spec]
            if len(found) != 1 or len(spec) != 1:
                raise _fail(where, "one of factory, " + ", ".join(plain), spec)
            value = spec[found[0]]
            if found[0] == "path":
                if not isinstance(value, str) or not value:
                    raise _fail(where + ".path", "a socket or pty path", value)
            elif found[0] == "level":
                if value not in (0, 1) or isinstance(value, bool):
                    raise _fail(where + ".level", "0 or 1", value)
            elif not _is_int(value) or value < 0:
                raise _fail(where + "." + found[0], "a whole number >= 0", value)
        out[_ident(where, str(ident))] = spec
    return out


def validate(cfg: object) -> dict[str, object]:
    # Returns a normalised copy of cfg; raises ConfigError naming the bad key.
    if not isinstance(cfg, dict):
        raise ConfigError("config: expected a JSON object, got %r" % (cfg,))
    for key in cfg:
        if key not in KEYS:
            raise ConfigError("config key %r: unknown (known: %s)" % (key, ", ".join(KEYS)))
    out: dict[str, object] = {}
    out["entry"] = _str(cfg, "entry", "main")
    if not out["entry"]:
        raise _fail("entry", "a module name", out["entry"])
    out["call"] = _str(cfg, "call", None)
    out["cwd"] = _str(cfg, "cwd", "/flash" if cfg.get("flash") is not None else "")
    for key in ("board", "kit", "scenario", "node"):
        out[key] = _str(cfg, key, None)
    paths = cfg.get("paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise _fail("paths", "a list of directory strings", paths)
    out["paths"] = list(paths)
    flash = cfg.get("flash")
    if flash is not None:
        if not isinstance(flash, dict):
            raise _fail("flash", "an object with image, blocks, block_size, format", flash)
        for key in flash:
            if key not in FLASH_KEYS:
                raise _fail("flash." + str(key), "no such key (%s)" % ", ".join(FLASH_KEYS), key)
        image = flash.get("image")
        if not isinstance(image, str) or not image:
            raise _fail("flash.image", "the image file's path", image)
        blocks = flash.get("blocks")
        if blocks is not None and (not _is_int(blocks) or blocks < 2):
            raise _fail("flash.blocks", "a whole number >= 2", blocks)
        size = flash.get("block_size", 4096)
        if not _is_int(size) or size < 128 or size & (size - 1):
            raise _fail("flash.block_size", "a power of two >= 128", size)
        fmt = flash.get("format", "if_blank")
        if fmt not in FORMATS:
            raise _fail("flash.format", "one of " + ", ".join(FORMATS), fmt)
        out["flash"] = {"image": image, "blocks": blocks, "block_size": size, "format": fmt}
        default_state: str | None = image + ".state.json"
    else:
        out["flash"] = None
        default_state = None
    out["state"] = _str(cfg, "state", default_state)
    speed = cfg.get("speed", 1)
    if not _is_number(speed) or speed < 1:
        raise _fail("speed", "a number >= 1", speed)
    out["speed"] = speed
    for key in ("epoch", "origin"):
        v = cfg.get(key)
        if v is not None and (not _is_number(v) or v < 0):
            raise _fail(key, "epoch seconds >= 0", v)
        out[key] = v
    uid = cfg.get("unique_id", "a4cf12000001")
    if not isinstance(uid, str) or len(uid) % 2 or not uid:
        raise _fail("unique_id", "an even-length hex string", uid)
    try:
        int(uid, 16)
    except ValueError:
        raise _fail("unique_id", "an even-length hex string", uid) from None
    out["unique_id"] = uid
    wake = cfg.get("wake_pins", {})
    if not isinstance(wake, dict):
        raise _fail("wake_pins", "an object mapping pins to wake levels", wake)
    wake_out: dict[object, int] = {}
    for pin, level in wake.items():
        if level not in (0, 1) or isinstance(level, bool):
            raise _fail("wake_pins." + str(pin), "0 or 1", level)
        wake_out[_ident("wake_pins", str(pin))] = level
    out["wake_pins"] = wake_out
    how = cfg.get("deep_wake", "pin_irq")
    if how not in DEEP_WAKE:
        raise _fail("deep_wake", "one of " + ", ".join(DEEP_WAKE), how)
    out["deep_wake"] = how
    capable = cfg.get("deep_wake_pins")
    if capable is not None:
        if not isinstance(capable, list) or not all(_is_int(p) and p >= 0 for p in capable):
            raise _fail("deep_wake_pins", "a list of pin numbers", capable)
        capable = list(capable)
    out["deep_wake_pins"] = capable
    setup = cfg.get("setup")
    out["setup"] = None if setup is None else _ref("setup", setup)
    out["i2c"] = _devices(cfg, "i2c", ())
    out["uart"] = _devices(cfg, "uart", ("path",))
    out["pins"] = _devices(cfg, "pins", ("level",))
    out["adc"] = _devices(cfg, "adc", ("uv",))
    return out


def load(path: str) -> dict[str, object]:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError("config file %s: cannot read (%s)" % (path, e)) from None
    try:
        cfg = json.loads(text)
    except ValueError as e:
        raise ConfigError("config file %s: not valid JSON (%s)" % (path, e)) from None
    return validate(cfg)
