# mypy: ignore-errors
# ruff: noqa: PLC0415, E402
# Boot a virtual node on the MicroPython unix port:
#
#   micropython hardware/hal/boot.py CONFIG.json
#
# 1. installs the shadow modules: hardware/simtime's time, select (and the
#    simclock behind them) and hardware/hal's machine (and, on an ESP32-C3
#    board, its esp32), each imported once with
#    its directory first on sys.path and then cached in sys.modules (the
#    directories are taken off sys.path again, so a firmware boot.py or config.py
#    is never shadowed by this directory);
# 2. validates the config (a bad key ends the process with status 2 and a
#    message naming the key);
# 3. configures simulated time (speed, epoch, origin, the RTC offset kept in the
#    state file), mounts the flash image at /flash (littlefs), chdirs;
# 4. attaches the configured devices to hardware.hal.registry and calls the
#    config's setup hook;
# 5. imports the firmware entry module (and calls `call` if given).
# Board events (WDT, deepsleep, reset) end the process with the status in
# hardware/hal/codes.py.

import sys


def _dirname(path):
    i = path.rfind("/")
    if i < 0:
        return "."
    return path[:i] or "/"


def _abspath(path, cwd):
    if path.startswith("/"):
        return path
    if path in ("", "."):
        return cwd
    return cwd.rstrip("/") + "/" + path


_script = sys.argv[0] if sys.argv else "hardware/hal/boot.py"
import os

_cwd0 = os.getcwd()
HAL = _abspath(_dirname(_script), _cwd0)
REPO = _dirname(_dirname(HAL))
SIMTIME = REPO + "/hardware/simtime"

# The script's own directory is sys.path[0]: take it off (it holds boot.py,
# config.py... which must not shadow the firmware's modules).
while HAL in sys.path or _dirname(_script) in sys.path:
    if HAL in sys.path:
        sys.path.remove(HAL)
    else:
        sys.path.remove(_dirname(_script))
if REPO not in sys.path:
    sys.path.append(REPO)

sys.path.insert(0, SIMTIME)
import select  # noqa: F401  (the shadow must be cached now, while SIMTIME is on the path)
import time

import simclock

sys.path.remove(SIMTIME)
if getattr(time, "__file__", "").find("simtime") < 0:
    raise ImportError("boot: the shadow time module did not load (got %r)" % (time,))

from hardware.hal import codes, registry
from hardware.hal import config as _config


def _die(msg, code):
    sys.stderr.write("boot: %s\n" % msg)
    sys.exit(code)


def _resolve(ref):
    mod_name, _sep, attr = ref.partition(":")
    mod = __import__(mod_name)
    for part in mod_name.split(".")[1:]:
        mod = getattr(mod, part)
    return getattr(mod, attr)


def _make(spec, what):
    try:
        factory = _resolve(spec["factory"])
        args = spec.get("args") or {}
        return factory(**args)
    except Exception as e:
        _die("%s: cannot make the device %r: %r" % (what, spec["factory"], e), codes.EXIT_CONFIG)


def _attach(cfg):
    for bus_id, spec in cfg["i2c"].items():
        registry.attach_i2c(bus_id, _make(spec, "i2c.%s" % bus_id))
    for uart_id, spec in cfg["uart"].items():
        if "path" in spec:
            registry.attach_uart(uart_id, spec["path"])
        else:
            registry.attach_uart(uart_id, _make(spec, "uart.%s" % uart_id))
    for pin_id, spec in cfg["pins"].items():
        if "level" in spec:
            registry.attach_pin(pin_id, registry.Level(spec["level"]))
        else:
            registry.attach_pin(pin_id, _make(spec, "pins.%s" % pin_id))
    for pin_id, spec in cfg["adc"].items():
        if "uv" in spec:
            registry.attach_adc(pin_id, spec["uv"])
        else:
            registry.attach_adc(pin_id, _make(spec, "adc.%s" % pin_id))


def _mount(cfg):
    flash = cfg["flash"]
    if flash is None:
        return None
    from hardware.flash import mount, nor

    image = _abspath(flash["image"], _cwd0)
    try:
        os.stat(image)
    except OSError:
        nor.create(image, flash["blocks"] or nor.BLOCKS, flash["block_size"])
    bdev = nor.NorFlash(image, flash["block_size"], flash["blocks"])
    if flash["format"] == "always":
        mount.format(bdev)
    try:
        mount.mount(bdev, format_if_blank=flash["format"] != "never")
    except OSError as e:
        _die("flash image %s: cannot mount littlefs (%r)" % (image, e), codes.EXIT_CONFIG)
    return bdev


def main(argv):
    if len(argv) != 2:
        _die("usage: micropython hardware/hal/boot.py CONFIG.json", codes.EXIT_CONFIG)
    try:
        cfg = _config.load(argv[1])
    except _config.ConfigError as e:
        _die(str(e), codes.EXIT_CONFIG)
    if cfg["state"]:
        cfg["state"] = _abspath(cfg["state"], _cwd0)
    registry.config.update(cfg)
    epoch_ms = None if cfg["epoch"] is None else int(cfg["epoch"] * 1000)
    origin_ms = None if cfg["origin"] is None else int(cfg["origin"] * 1000)
    # Environment (set by the supervisor for each restart) wins over the file.
    speed = None if os.getenv(codes.ENV_SPEED) else cfg["speed"]
    if os.getenv(codes.ENV_EPOCH):
        epoch_ms = None
    if os.getenv(codes.ENV_ORIGIN):
        origin_ms = None
    rtc_offset = None
    if cfg["state"]:
        import json

        try:
            with open(cfg["state"]) as f:
                st = json.load(f)
            rtc_offset = int(st.get("rtc_offset_ms", 0))
        except (OSError, ValueError, AttributeError, TypeError):
            rtc_offset = None
    simclock.configure(speed, epoch_ms, origin_ms, rtc_offset)
    paths = [_abspath(p, _cwd0) for p in cfg["paths"]]
    bdev = _mount(cfg)
    if cfg["cwd"]:
        try:
            os.chdir(cfg["cwd"])
        except OSError as e:
            _die("config key 'cwd': cannot chdir to %r (%r)" % (cfg["cwd"], e), codes.EXIT_CONFIG)
    sys.path.insert(0, HAL)
    import machine

    if cfg["deep_wake"] == "esp32_gpio":
        import esp32  # noqa: F401 - an ESP32's own module, cached for the firmware
    sys.path.remove(HAL)
    if not getattr(machine, "__file__", "").startswith(HAL):
        _die("the simulated machine module did not load (got %r)" % (machine,), codes.EXIT_CONFIG)
    # As on a board, the working directory (the flash) is on the path too.
    if "" not in sys.path:
        sys.path.insert(0, "")
    for p in reversed(paths):
        sys.path.insert(0, p)
    _attach(cfg)
    if cfg["setup"]:
        _resolve(cfg["setup"])(registry, cfg)
    # Start the clocks again now: the firmware starts at the epoch it was
    # given, however long (in real ms, times the speed) booting took.
    simclock.configure(speed, epoch_ms, origin_ms, rtc_offset)
    if os.getenv(codes.ENV_NO_MAIN):
        return
    try:
        mod = __import__(cfg["entry"])
        for part in cfg["entry"].split(".")[1:]:
            mod = getattr(mod, part)
        if cfg["call"]:
            getattr(mod, cfg["call"])()
    finally:
        if bdev is not None:
            bdev.ioctl(3, 0)


main(sys.argv)
