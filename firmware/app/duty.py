# The battery duty cycle (hydrant, manhole): one run per boot, a deep sleep
# between runs (a wake from deep sleep is a boot on the ESP32).
#
# Before each sleep the node keeps a small record in RTC memory (it survives
# deep sleep and resets, not a power cut):
#   "due"   RTC ms at which the next sample is due (the timer wake)
#   "warm"  RTC ms at which a part that warms up with its load switch held
#           through the sleep (the manhole's gas module) is ready, when one is
#   "lv"    the level of each wake input at the time the node went to sleep
#   "na"    the wake inputs that sleep could not arm, when there were any
# A run reads the wake inputs, starts the kit, then handles in this order:
# each wake input whose level changed (kit.on_wake: an alarm input woke the
# node), the end of a warm-up (kit.resume), a due sample (kit.sample). A run
# that only handled inputs sleeps again until the next due time: wakes keep
# their cadence however often inputs wake the node. RTC ms are used only across the sleep itself
# (nothing sets the clock then); within a run the node counts ticks.
#
# Wake inputs are armed on the level opposite to the one they have when the
# node goes to sleep, so each change wakes it once (a valve opening and
# later shutting) and a held input never wakes it again and again; a latched
# interrupt line (the accelerometer's INT1, cleared by the kit's sleep()) is
# inactive then and so is armed on its active level. Where one level arms all
# the wake pins (an ESP32-C3's esp32.wake_on_gpio), the accelerometer's INT1
# is turned active at the level the reed needs. An input that cannot be armed
# is kept in the record ("na") and reported as a health fault ("wake") by
# the next run. A kit that starts a warm-up
# asks for a run after it (kit.warming()): with its switch held (kit.held)
# the node deep-sleeps through it; where pins cannot be held (RP2), or for
# less than MIN_SLEEP_MS, it light-sleeps. The next run tells the kit how
# long the held warm-up still has to go (kit.warm(ms)).
#
# Uplink: a connection when alarms are waiting (at once, also in the middle
# of a warm-up), at the first boot, and at the end of every `uplink_every`
# sample periods (after the period's warm-up reading, if any).

import json

from firmware.app import clock, store
from firmware.app.compat import sleep_ms

try:
    import machine
except ImportError:  # CPython load-generator path
    machine = None  # type: ignore[assignment]

KIT_STATE = "state/kit.json"
SLACK_MS = 500  # a timer wake within this of its due time is that wake
MIN_SLEEP_MS = 2000  # a shorter wait is not worth a deep sleep (boot time)
DRAIN_S = 60


def record():
    # The record the last run left in RTC memory ({} when none).
    try:
        data = machine.RTC().memory()
        rec = json.loads(data) if data else {}
    except (AttributeError, ValueError, TypeError, OSError):
        return {}
    return rec if isinstance(rec, dict) else {}


def keep(rec):
    try:
        machine.RTC().memory(json.dumps(rec).encode())
    except (AttributeError, ValueError, TypeError, OSError):
        pass


def _left(rec, key, now, limit):
    # ms from now until rec[key] (RTC ms), or -1 when there is none or it is
    # further away than any sleep the node takes (a record that cannot be).
    t = rec.get(key)
    if not isinstance(t, int) or t - now > limit:
        return -1
    return max(0, t - now)


# (gpio name, Pin) of the inputs that may end a deep sleep.
def wake_inputs(hw):
    out = []
    if hw is None:
        return out
    for name, gpio in hw["board"].get("gpio", {}).items():
        if gpio.get("dir") == "in" and gpio.get("wake"):
            pin = hw["pins"].get(gpio.get("signal") or name)
            if pin is not None:
                out.append((name, pin))
    return out


def changed(hw, levels):
    if not isinstance(levels, dict):
        return []
    return [name for name, pin in wake_inputs(hw) if name in levels and pin.value() != levels[name]]


# Arms each wake input on the level opposite to its present one, the board's
# way (its board file's "deep_wake"); returns (the present levels, the names
# of the inputs it could not arm).
def arm(hw, kit=None):
    inputs = wake_inputs(hw)
    if hw is not None and hw["board"].get("deep_wake") == "esp32_gpio":
        return _arm_gpio(inputs, kit)
    levels = {}
    missed = []
    for name, pin in inputs:
        level = pin.value()
        levels[name] = level
        trigger = getattr(machine.Pin, "WAKE_HIGH" if level == 0 else "WAKE_LOW", None)
        try:
            pin.irq(trigger=trigger, wake=machine.DEEPSLEEP)
        except (AttributeError, TypeError, ValueError, OSError):
            missed.append(name)
    return levels, missed


# An ESP32-C3 arms its wake pins with esp32.wake_on_gpio, one level for all:
# the level the fixed inputs (reeds) need, the first one's when they differ
# (the others are not armed); inputs whose active level the kit sets (the
# accelerometer's INT1) are turned to that level first.
def _arm_gpio(inputs, kit):
    settable = kit.wake_settable() if kit is not None else ()
    want = -1
    missed = []
    for name, pin in inputs:
        if name not in settable:
            need = 1 - pin.value()
            if want < 0:
                want = need
            elif need != want:
                missed.append(name)
    if want < 0:
        want = 1
    if settable:
        kit.wake_active(want)
    levels = {}
    pins = []
    for name, pin in inputs:
        levels[name] = pin.value()
        if name not in missed:
            pins.append(pin)
    try:
        import esp32  # type: ignore[import-not-found]

        esp32.wake_on_gpio(tuple(pins), esp32.WAKEUP_ANY_HIGH if want else esp32.WAKEUP_ALL_LOW)
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        missed = [name for name, _pin in inputs]
    return levels, missed


def nap(ms):
    if ms <= 0:
        return
    try:
        machine.lightsleep(ms)
    except (AttributeError, OSError):
        sleep_ms(ms)


# Finishes a warm-up the node will not sleep through (it is over or nearly,
# or the switch cannot be held): waits for it, then the kit's resume().
def finish_warmup(node):
    kit = node.kit
    left = kit.warming()
    if left < 0 or (kit.held and left >= MIN_SLEEP_MS):
        return
    nap(left)
    kit.resume()
    node.recorder.flush()


# One run; returns (ms to sleep, the RTC record to keep, without "lv").
async def run(node, woke):
    started = clock.ticks_ms()
    rec = record() if woke else {}
    now = clock.rtc_ms()
    period = node.cfg["sample_s"] * 1000
    due_in = _left(rec, "due", now, period)
    sampled = due_in < 0 or due_in <= SLACK_MS
    state = store.read_json(KIT_STATE)
    if not isinstance(state, dict):
        state = {}  # none yet, or not this firmware's
    wakes = state.get("wakes", 0)
    if not isinstance(wakes, int) or wakes < 0:
        wakes = 0
    kit = node.kit
    missed = rec.get("na")
    if isinstance(missed, list) and missed:
        # inputs the last sleep could not arm: their changes are seen only at
        # timer wakes
        node.health.fault("wake", "not armed: " + " ".join(sorted(str(m) for m in missed)))
    if kit is not None:
        # the inputs first: starting the kit clears a latched interrupt
        woken = changed(node.hw, rec.get("lv"))
        kit.restore(state.get("kit", {}))
        kit.start()
        warm_in = _left(rec, "warm", now, period)
        if warm_in >= 0:
            kit.warm(warm_in)
        for name in woken:
            kit.on_wake(name)
        finish_warmup(node)
        if sampled:
            kit.sample()
            finish_warmup(node)
        node.recorder.flush()
    if sampled:
        wakes += 1
    waiting = kit is not None and kit.warming() >= 0
    due = len(node.queue.alarms) > 0 or not woke
    due = due or (not waiting and wakes >= node.cfg.get("uplink_every", 1))
    if due and node.queue.depth():
        if await node.link.drain(DRAIN_S):
            wakes = 0
    elif due:
        wakes = 0
    saved = {"wakes": wakes}
    if kit is not None:
        finish_warmup(node)
        saved["kit"] = kit.state()
    store.makedirs("state")
    store.write_json(KIT_STATE, saved)
    took = clock.ticks_diff(clock.ticks_ms(), started)
    next_due = max(1000, (period if sampled else due_in) - took)
    now = clock.rtc_ms()
    out = {"due": now + next_due}
    left = -1 if kit is None else kit.warming()
    if left >= 0:
        out["warm"] = now + left
        return min(next_due, left), out
    return next_due, out


# Puts the chips to sleep, arms the wake inputs, keeps the record, sleeps.
def sleep(node, ms, rec):
    if node.kit is not None:
        node.kit.sleep()
    rec["lv"], missed = arm(node.hw, node.kit)
    if missed:
        rec["na"] = missed
    keep(rec)
    try:
        import esp32  # type: ignore[import-not-found]

        esp32.gpio_deep_sleep_hold(True)
    except (ImportError, AttributeError):
        pass
    machine.deepsleep(ms)
