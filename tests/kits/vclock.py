# Virtual time for the kit tests, in the subset of Python both runtimes run.
#
# The clock stands still until someone waits: sleep_ms()/advance() move it at
# once (so a simulated hour takes the CPU time its work needs, nothing more),
# and on the way they fire the "hooks" - simulated pins whose interrupt is
# armed - at the exact millisecond of each edge, as a board would.
#
# ticks start ahead of the real ticks of the process (MicroPython's C task
# queue stamps tasks it queues without a time with the real ticks: those must
# never lie in the virtual future). scenario_ms() is the world's time:
# milliseconds since set_origin().

now = [0]
origin = [0]
hooks = []
waits = [0]  # how many times time moved (a cheap progress counter)


def init(real_ticks):
    now[0] = real_ticks + 10000000
    origin[0] = now[0]


def set_origin():
    origin[0] = now[0]


def ticks_ms():
    return now[0]


def ticks_us():
    return now[0] * 1000


def ticks_diff(a, b):
    return a - b


def ticks_add(a, b):
    return a + b


def scenario_ms():
    return now[0] - origin[0]


def to_ticks(scenario):
    return origin[0] + scenario


def add_hook(h):
    if h not in hooks:
        hooks.append(h)


def remove_hook(h):
    if h in hooks:
        hooks.remove(h)


def _next(limit):
    best = None
    which = None
    for h in hooks:
        t = h.next_event(now[0])
        if t is not None and t <= limit and (best is None or t < best):
            best = t
            which = h
    return best, which


# Moves the clock to `target` ticks (None: to the next event), firing hooks
# on the way; stops early after a hook fired when stop() says so. Returns
# True when it stopped early.
def run_until(target, stop=None):
    waits[0] += 1
    while True:
        limit = target if target is not None else now[0] + 10**12
        t, h = _next(limit)
        if h is None:
            if target is None:
                raise RuntimeError("virtual clock: waiting forever with nothing to wake it")
            now[0] = max(now[0], target)
            return False
        now[0] = t
        h.fire(t)
        if stop is not None and stop():
            return True


def sleep_ms(ms):
    if ms > 0:
        if hooks:
            run_until(now[0] + ms)
        else:
            now[0] += ms  # nothing can fire: no allocation (see test_kits_alloc)


def sleep_us(us):
    sleep_ms((us + 999) // 1000)


def sleep(s):
    sleep_ms(int(s * 1000))


# Under CPython: put the virtual clock into the real time module before the
# firmware imports it (firmware.app.clock and compat read these names).
def patch_cpython_time():
    import time as real

    init(int(real.monotonic() * 1000))
    real.ticks_ms = ticks_ms
    real.ticks_us = ticks_us
    real.ticks_diff = ticks_diff
    real.ticks_add = ticks_add
    real.sleep_ms = sleep_ms
    real.sleep_us = sleep_us
