# The node application, started by the loader from an app slot:
#   main.run(safe=False, slot="a")
#
# Mains nodes (elevators) stay connected: the link supervisor, the kit's
# watchers, the periodic sampler, status reports and the watchdog feeder run
# as asyncio tasks. Battery nodes (hydrants, manholes) run one duty cycle per
# boot (firmware/app/duty.py): handle the inputs that woke them, sample when
# due (or finish a warm-up held through the sleep), queue, connect when a
# batch is due (every `uplink_every` periods) or an alarm was raised, send,
# save state and deep-sleep; their alarm inputs wake them.
#
# Safe mode (after repeated failed boots) runs the link and status only, so the
# fleet can still reach the node and update it: always on for a mains node; a
# battery node connects once per wake, stays reachable for SAFE_WINDOW_S and
# deep-sleeps for its sample period, so that its cells last while it waits.
#
# The watchdog is fed only while both the sampler and the link supervisor have
# shown progress recently, so a hung task resets the node.

import asyncio

from firmware.app import clock
from firmware.app import config as config_mod
from firmware.app.health import Health
from firmware.app.link import Link, SerialTransport, TcpTransport
from firmware.app.queue import FlashQueue
from firmware.app.recorder import Recorder
from firmware.wire import protocol as P

FIRMWARE_VERSION = "0.1.0"
WDT_TIMEOUT_MS = 30000
STATUS_EVERY_S = 3600
CONFIRM_LOCAL_S = 300
SAFE_CONNECT_S = 60  # a battery node in safe mode tries this long to reach the edge
SAFE_WINDOW_S = 30  # then stays reachable this long per wake (commands, updates)

try:
    import machine
except ImportError:  # CPython load-generator path
    machine = None  # type: ignore[assignment]


def _reset_cause():
    if machine is None:
        return 0
    try:
        return machine.reset_cause()
    except AttributeError:
        return 0


def _woke_from_deepsleep():
    return machine is not None and _reset_cause() == getattr(machine, "DEEPSLEEP_RESET", -1)


def _loader():
    try:
        import loader  # type: ignore[import-not-found]  # at the flash root

        return loader
    except ImportError:
        return None


# The loader's boot state as this boot decided it ({} without a loader).
def _boot_state():
    loader = _loader()
    return {} if loader is None else loader.read_state()


def _confirm():
    loader = _loader()
    if loader is not None:
        loader.confirm()


# Seconds safe mode waits before it tries the app slot again (None: never).
def _safe_retry_s(state):
    loader = _loader()
    return None if loader is None else loader.safe_retry_s(state)


def restore_clock():
    # an RTC that kept running (deep sleep, soft reset) gives the wall time back
    import time

    now = time.time()
    if now > 1600000000:
        clock.set_wall(now)


def set_rtc(epoch_s):
    clock.set_wall(epoch_s)
    if machine is None:
        return
    import time

    t = time.gmtime(epoch_s)
    try:
        machine.RTC().datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))
    except (AttributeError, OSError):
        pass


def _transport(cfg, hw):
    edge = cfg["edge"]
    if "tcp" in edge:
        host, _, port = edge["tcp"][0].rpartition(":")
        return TcpTransport(host, int(port))
    serial = edge["serial"]
    uart = machine.UART(serial["uart"], baudrate=serial.get("baud", 115200), timeout=0)
    return SerialTransport(uart, "uart%d" % serial["uart"])


class Node:
    def __init__(self, cfg, key, board, slot, safe):
        self.cfg = cfg
        self.board = board
        self.slot = slot
        self.safe = safe
        self.boot_state = _boot_state()
        self.health = Health(_reset_cause(), self.boot_state.get("boots", 0))
        self.queue = FlashQueue("q")
        self.link = None
        self.recorder = Recorder(self.queue, cfg["node_id"], cfg["batch_readings"])
        self.hw = None
        self.kit = None
        self.wdt = None
        self.beats = {"sampler": clock.ticks_ms(), "link": clock.ticks_ms()}
        self.confirmed = False
        self.key = key
        self.reboot_requested = False

    def build(self):
        cfg = self.cfg
        if not self.safe:
            from firmware.app import hw as hw_mod
            from firmware.app.kits import make_kit

            self.hw = hw_mod.build(self.board)
            self.kit = make_kit(cfg["kit"], self.hw, cfg["thresholds"], self.recorder, self.health)
        caps = ["ota", "status"] if self.safe else ["ota", "status", "alarm"]
        hello = {
            "firmware": FIRMWARE_VERSION + ("-safe" if self.safe else ""),
            "slot": self.slot,
            "boot": self.health.boot,
            "kit": cfg["kit"],
            "caps": caps,
        }
        self.link = Link(
            _transport(cfg, self.hw),
            self.queue,
            cfg["node_id"],
            self.key,
            hello,
            on_command=self.command,
        )
        self.link.on_welcome = self.welcomed
        self.link.status_source = self.status
        self.recorder.on_alarm = self.link.kick

    def status(self):
        battery = -1
        if self.hw is not None:
            from firmware.app import hw as hw_mod

            battery = hw_mod.battery_mv(self.hw)
        report = self.health.report(self.queue, self.link.stats, battery)
        report["safe"] = self.safe
        report["recorded"] = self.recorder.readings
        return report

    def welcomed(self, msg):
        set_rtc(msg[P.K_TIME])

    # Commands relayed by the edge from the fleet manager.
    def command(self, name, args):
        if name == "reboot":
            self.reboot_requested = True
            return P.CMD_OK, "rebooting"
        if name == "sample":
            if self.kit is None:
                return P.CMD_FAILED, "safe mode: no sampling"
            self.kit.sample()
            self.recorder.flush()
            self.link.kick()
            return P.CMD_OK, ""
        if name == "status":
            return P.CMD_OK, str(self.status())[:250]
        return P.CMD_UNKNOWN, "unknown command %s" % name

    def beat(self, name):
        self.beats[name] = clock.ticks_ms()

    def _healthy(self):
        now = clock.ticks_ms()
        limit = max(WDT_TIMEOUT_MS, self.cfg["sample_s"] * 2000)
        return all(clock.ticks_diff(now, stamp) <= limit for stamp in self.beats.values())

    def start_watchdog(self):
        if machine is None or not hasattr(machine, "WDT"):
            return
        self.wdt = machine.WDT(timeout=WDT_TIMEOUT_MS)

    async def feed_watchdog(self):
        while True:
            if self.wdt is not None and self._healthy():
                self.wdt.feed()
            if self.reboot_requested:
                await asyncio.sleep(1)
                machine.reset()
            await asyncio.sleep(WDT_TIMEOUT_MS // 3000)

    async def sampler(self):
        period = self.cfg["sample_s"]
        while True:
            self.beat("sampler")
            if self.kit is not None:
                self.kit.sample()
            await asyncio.sleep(period)

    async def link_watch(self):
        # The link supervisor counts as alive while it is running (connected or
        # backing off). The boot is confirmed once a session reached the edge,
        # or after CONFIRM_LOCAL_S of healthy running: a mains node whose edge
        # is down has not failed its boot. A trial slot, which must prove that
        # it reaches the edge, and safe mode confirm only through the link.
        # Safe mode, once confirmed, resets after the loader's wait so that the
        # app slot gets another chance.
        started = clock.ticks_ms()
        on_trial = self.boot_state.get("trial") == self.slot
        local_ok = not self.safe and not on_trial
        retry_at = None
        while True:
            self.beat("link")
            up_s = clock.ticks_diff(clock.ticks_ms(), started) // 1000
            if not self.confirmed and (
                self.link.connected or (local_ok and up_s >= CONFIRM_LOCAL_S and self._healthy())
            ):
                self.confirmed = True
                _confirm()
                print(
                    "node: boot confirmed (%s)"
                    % ("link" if self.link.connected else "local health")
                )
                wait = _safe_retry_s(self.boot_state) if self.safe else None
                if wait is not None:
                    retry_at = up_s + wait
                    print("node: safe mode tries the app slot again in %d s" % wait)
            if retry_at is not None and up_s >= retry_at:
                self.reboot_requested = True
            await asyncio.sleep(5)

    async def run_mains(self):
        tasks = [
            asyncio.create_task(self.link.run()),
            asyncio.create_task(self.sampler()),
            asyncio.create_task(self.link_watch()),
            asyncio.create_task(self.feed_watchdog()),
        ]
        if self.kit is not None:
            tasks.append(asyncio.create_task(self.kit.watch()))
        await asyncio.gather(*tasks)

    # Safe mode on a battery node, one wake: a link session (hello and status
    # say "safe"; commands are served for SAFE_WINDOW_S), then the ms to sleep.
    # It confirms - the next wake tries the app slot again - once it reached
    # the edge and has spent the loader's retry wait in safe mode (counted in
    # sample periods); never when the app slot is bad.
    async def safe_cycle(self):
        task = asyncio.create_task(self.link.run())
        waited = 0
        while waited < SAFE_CONNECT_S and not self.link.connected:
            await asyncio.sleep(1)
            waited += 1
        if self.link.connected:
            await asyncio.sleep(SAFE_WINDOW_S)
            wait = _safe_retry_s(self.boot_state)
            spent = self.boot_state.get("safe_boots", 0) * self.cfg["sample_s"]
            if wait is not None and spent >= wait:
                self.confirmed = True
                _confirm()
                print("node: safe mode spent %d s; the next wake tries the app slot" % spent)
        self.link.stop()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return self.cfg["sample_s"] * 1000

    # One battery duty cycle (firmware/app/duty.py); returns the ms to sleep
    # and the record to keep in RTC memory.
    async def cycle(self):
        from firmware.app import duty

        out = await duty.run(self, _woke_from_deepsleep())
        if not self.confirmed:
            self.confirmed = True
            _confirm()
        return out


def run(safe=False, slot="a"):
    restore_clock()
    try:
        cfg, key, board = config_mod.load()
    except config_mod.ConfigError as e:
        # not provisioned or a broken config: nothing to sample, nobody to talk
        # to; stay at the REPL for the technician
        print("node: %s" % e)
        return
    try:
        _run(cfg, key, board, slot, safe)
    except Exception as e:
        # a crash: show it, then reset, so the loader counts a failed boot (and
        # goes to safe mode after repeated ones); a battery node would otherwise
        # sit at the REPL for good, with no watchdog running
        import sys

        if hasattr(sys, "print_exception"):
            sys.print_exception(e)
        else:
            print("node: %r" % (e,))
        if machine is None:
            raise
        machine.reset()


def _run(cfg, key, board, slot, safe):
    node = Node(cfg, key, board, slot, safe)
    node.build()
    if cfg["power"] == "mains":
        if node.kit is not None:
            node.kit.start()
        node.start_watchdog()
        asyncio.run(node.run_mains())
        return
    if safe:
        sleep_ms = asyncio.run(node.safe_cycle())
        if node.reboot_requested:
            machine.reset()  # the fleet asked for it during the window
        machine.deepsleep(sleep_ms)
        return
    from firmware.app import duty

    sleep_ms, record = asyncio.run(node.cycle())
    duty.sleep(node, sleep_ms, record)
