# mypy: ignore-errors
# ruff: noqa: PLW0603
# Simulated time for a virtual node on the MicroPython unix port.
#
# Always imported under the top-level name `simclock` (the directory
# hardware/simtime is put first on sys.path by the boot script; never import it
# as hardware.simtime.simclock, that would make a second clock).
#
# Three clocks, all derived from one real monotonic clock scaled by `speed`:
# - ticks: what time.ticks_ms() returns. It starts at the real ticks_ms() of
#   this process and runs `speed` times faster, in MicroPython's native ticks
#   period, so it stays >= the real ticks that MicroPython's C asyncio TaskQueue
#   stamps on tasks it queues without a time (see hardware/hal/README.md);
# - world time: epoch milliseconds of the simulated world (CITYNERVE_SIM_EPOCH
#   at this process's start, continuous across reboots because the supervisor
#   passes the epoch to start at);
# - node RTC: world time + an offset that set_time() changes (the welcome sets
#   the clock). time.time() and RTC.datetime() read it.
# now_ms() is the scenario clock for simulators: world ms since the scenario's
# origin (CITYNERVE_SIM_ORIGIN), continuous across reboots too.
#
# The dispatcher: waiting (time.sleep*, select.poll, machine.idle/lightsleep)
# goes through wait()/Poll.ipoll(), which sleep in real time (timeouts divided
# by speed) and run "tickers": simulated devices and pin watchers that need
# service at a simulated time or when their file descriptor is readable.

import sys


def _import_real(name):
    # The built-in module `name`, even when a shadow of it is first on sys.path
    # (or is being imported right now and sits in sys.modules).
    saved = list(sys.path)
    shadow = sys.modules.get(name)
    if shadow is not None:
        del sys.modules[name]
    sys.path.clear()
    try:
        mod = __import__(name)
    finally:
        sys.path.extend(saved)
        if shadow is not None:
            sys.modules[name] = shadow
    return mod


_rt = _import_real("time")
_rs = _import_real("select")
_os = _import_real("os")

POLLIN = _rs.POLLIN
POLLOUT = _rs.POLLOUT
POLLERR = _rs.POLLERR
POLLHUP = _rs.POLLHUP
# Real (wall) ms between re-checks of pollable objects without a file
# descriptor that could change state on their own (pure-Python streams).
SOFT_POLL_REAL_MS = 20
_STREAM_POLL = 3
_STREAM_GET_FILENO = 10


class ClockError(ValueError):
    pass


def _number(text, key, minimum):
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise ClockError("%s: expected a number, got %r" % (key, text)) from None
    if value < minimum:
        raise ClockError("%s: must be >= %s, got %r" % (key, minimum, text))
    return value


def _real_epoch_ms():
    return _rt.time_ns() // 1000000


# -- state -----------------------------------------------------------------

speed = 1
_us0 = 0  # real ticks_us at the anchor
_ticks0 = 0  # real ticks_ms at the anchor (sim ticks start here)
_epoch0 = 0  # world epoch ms at the anchor
_origin = 0  # world epoch ms of the scenario's start
_rtc_offset = 0  # node RTC - world time, ms
_tickers = []
_tickers_version = 0
_wdt_deadline = None  # scenario ms
_wdt_handler = None


def configure(speed_factor=None, epoch_ms=None, origin_ms=None, rtc_offset_ms=None):
    # (Re)anchor the clocks now. None keeps the environment's (or default) value.
    global speed, _us0, _ticks0, _epoch0, _origin, _rtc_offset
    if speed_factor is None:
        env = _os.getenv("CITYNERVE_SIM_SPEED")
        speed_factor = 1 if env is None else _number(env, "CITYNERVE_SIM_SPEED", 1)
    elif (
        not isinstance(speed_factor, (int, float))
        or isinstance(speed_factor, bool)
        or speed_factor < 1
    ):
        raise ClockError("speed: expected a number >= 1, got %r" % (speed_factor,))
    if epoch_ms is None:
        env = _os.getenv("CITYNERVE_SIM_EPOCH")
        if env is None:
            epoch_ms = _real_epoch_ms()
        else:
            epoch_ms = int(_number(env, "CITYNERVE_SIM_EPOCH", 0) * 1000)
    if origin_ms is None:
        env = _os.getenv("CITYNERVE_SIM_ORIGIN")
        origin_ms = epoch_ms if env is None else int(_number(env, "CITYNERVE_SIM_ORIGIN", 0) * 1000)
    if rtc_offset_ms is None:
        env = _os.getenv("CITYNERVE_SIM_RTC_OFFSET_MS")
        rtc_offset_ms = (
            0 if env is None else int(_number(env, "CITYNERVE_SIM_RTC_OFFSET_MS", -(1 << 62)))
        )
    speed = speed_factor
    _us0 = _rt.ticks_us()
    _ticks0 = _rt.ticks_ms()
    _epoch0 = int(epoch_ms)
    _origin = int(origin_ms)
    _rtc_offset = int(rtc_offset_ms)


def elapsed_us():
    # Simulated microseconds since the anchor.
    real = _rt.ticks_diff(_rt.ticks_us(), _us0)
    if speed == 1:
        return real
    return int(real * speed)


def elapsed_ms():
    return elapsed_us() // 1000


def ticks_ms():
    e = elapsed_us() // 1000
    if _wdt_deadline is not None:
        _check_wdt(_epoch0 - _origin + e)
    return _rt.ticks_add(_ticks0, e)


def ticks_us():
    return _rt.ticks_add(_us0, elapsed_us())


ticks_add = _rt.ticks_add
ticks_diff = _rt.ticks_diff


def world_ms():
    return _epoch0 + elapsed_us() // 1000


def now_ms():
    # Scenario time for simulators: world ms since the scenario's origin.
    now = _epoch0 - _origin + elapsed_us() // 1000
    if _wdt_deadline is not None:
        _check_wdt(now)
    return now


def epoch_ms():
    # The node's RTC, epoch milliseconds.
    return world_ms() + _rtc_offset


def epoch_us():
    return (_epoch0 + _rtc_offset) * 1000 + elapsed_us()


def set_time(epoch_s):
    # Set the node's RTC (e.g. from the edge's welcome); world time is unchanged.
    global _rtc_offset
    _rtc_offset = int(epoch_s * 1000) - world_ms()


def rtc_offset_ms():
    return _rtc_offset


def origin_ms():
    return _origin


def real_ms_for(sim_ms):
    # Real milliseconds for a simulated span (floor; 0 for spans under 1 real ms).
    if sim_ms <= 0:
        return 0
    if speed == 1:
        return int(sim_ms)
    return int(sim_ms / speed)


def real_sleep_us(us):
    if us > 0:
        _rt.sleep_us(us)


# -- watchdog ----------------------------------------------------------------


def wdt_arm(timeout_ms, handler):
    # Arm (or re-arm) the watchdog: handler() runs when now_ms() passes the
    # deadline without wdt_feed(timeout_ms).
    global _wdt_handler
    _wdt_handler = handler
    wdt_feed(timeout_ms)


def wdt_feed(timeout_ms):
    global _wdt_deadline
    _wdt_deadline = _epoch0 - _origin + elapsed_us() // 1000 + timeout_ms


def wdt_deadline():
    return _wdt_deadline


def _check_wdt(now):
    global _wdt_deadline
    if now >= _wdt_deadline:
        _wdt_deadline = None
        if _wdt_handler is not None:
            _wdt_handler()


# -- tickers -------------------------------------------------------------------
# A ticker is any object with:
#   next_ms(now) -> scenario ms when it next needs service, or None;
#   service(now) -> None (runs due work; must drain its fd when it has one);
#   fd: a file descriptor (int) whose readability also calls service(), or None.


def add_ticker(t):
    global _tickers_version
    if t not in _tickers:
        _tickers.append(t)
        _tickers_version += 1


def remove_ticker(t):
    global _tickers_version
    if t in _tickers:
        _tickers.remove(t)
        _tickers_version += 1


def service_due():
    # Runs every due ticker; returns the earliest next_ms of all (or None).
    now = now_ms()
    nxt = None
    for t in _tickers:
        due = t.next_ms(now)
        if due is not None and due <= now:
            t.service(now)
            now = now_ms()
            due = t.next_ms(now)
        if due is not None and (nxt is None or due < nxt):
            nxt = due
    if _wdt_deadline is not None and (nxt is None or _wdt_deadline < nxt):
        nxt = _wdt_deadline
    return nxt


def _fd_of(obj):
    # The file descriptor behind obj, or -1.
    if isinstance(obj, int):
        return obj
    fileno = getattr(obj, "fileno", None)
    if fileno is not None:
        try:
            fd = fileno()
            if isinstance(fd, int) and fd >= 0:
                return fd
        except (OSError, AttributeError, TypeError):
            pass
    ioctl = getattr(obj, "ioctl", None)
    if ioctl is not None:
        try:
            fd = ioctl(_STREAM_GET_FILENO, 0)
            if isinstance(fd, int) and fd >= 0:
                return fd
        except (OSError, AttributeError, TypeError):
            pass
    return -1


class Poll:
    # select.poll() replacement: timeouts are simulated ms; objects with a file
    # descriptor are polled by the real poll (no busy loop); pure-Python objects
    # (asyncio.ThreadSafeFlag, streams with an ioctl) are asked via ioctl(3).
    def __init__(self):
        self._real = _rs.poll()
        self._entries = {}  # id(obj) -> [obj, mask, fd]
        self._by_fd = {}  # fd -> entry for fd-backed user objects
        self._ticker_fds = {}  # fd -> ticker
        self._version = -1
        self._soft = 0  # entries to ask with ioctl(3): no fd, or `_sim_buffered`
        self._soft_unknown = 0  # of those, ones that may change on their own
        self.stop = None  # optional callable: ipoll returns early when it is true

    def _sync_tickers(self):
        if self._version == _tickers_version:
            return
        for fd in self._ticker_fds:
            if fd not in self._by_fd:
                self._real.unregister(fd)
        self._ticker_fds = {}
        for t in _tickers:
            fd = getattr(t, "fd", None)
            if fd is not None and fd >= 0 and fd not in self._by_fd:
                self._ticker_fds[fd] = t
                self._real.register(fd, POLLIN)
        self._version = _tickers_version

    def _recount(self):
        soft = 0
        unknown = 0
        for e in self._entries.values():
            obj = e[0]
            if getattr(obj, "_sim_buffered", False):
                soft += 1
            elif e[2] < 0:
                soft += 1
                if not (
                    getattr(obj, "_sim_wakes", False) or type(obj).__name__ == "ThreadSafeFlag"
                ):
                    unknown += 1
        self._soft = soft
        self._soft_unknown = unknown

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        e = self._entries.get(id(obj))
        if e is not None:
            self.modify(obj, eventmask)
            return
        fd = _fd_of(obj)
        if fd < 0 and getattr(obj, "ioctl", None) is None:
            raise TypeError("object with no fileno() and no ioctl() cannot be polled")
        e = [obj, eventmask, fd]
        self._entries[id(obj)] = e
        if fd >= 0:
            if fd in self._ticker_fds:
                del self._ticker_fds[fd]
                self._version = -1
            else:
                # A ticker may have it registered already.
                pass
            self._by_fd[fd] = e
            try:
                self._real.register(fd, eventmask)
            except OSError:
                self._real.modify(fd, eventmask)
        self._recount()

    def modify(self, obj, eventmask):
        e = self._entries.get(id(obj))
        if e is None:
            raise OSError(2)  # ENOENT, like the built-in poll
        e[1] = eventmask
        if e[2] >= 0:
            self._real.modify(e[2], eventmask)

    def unregister(self, obj):
        e = self._entries.pop(id(obj), None)
        if e is None:
            return
        if e[2] >= 0:
            self._by_fd.pop(e[2], None)
            self._real.unregister(e[2])
            self._version = -1
        self._recount()

    def poll(self, timeout=-1):
        return list(self.ipoll(timeout))

    def _soft_ready(self, out):
        for e in self._entries.values():
            if not e[1] or (e[2] >= 0 and not getattr(e[0], "_sim_buffered", False)):
                continue
            ioctl = getattr(e[0], "ioctl", None)
            if ioctl is None:
                continue
            try:
                ev = ioctl(_STREAM_POLL, e[1])
            except (OSError, AttributeError, TypeError):
                continue
            if isinstance(ev, int) and ev > 0:
                ev &= e[1] | POLLERR | POLLHUP
                if ev:
                    out.append((e[0], ev))

    def ipoll(self, timeout=-1, flags=0):
        if timeout is None:
            timeout = -1
        start = ticks_ms()
        while True:
            self._sync_tickers()
            nxt = service_due()
            if self.stop is not None and self.stop():
                return []
            ready = []
            if self._soft:
                self._soft_ready(ready)
            if ready:
                real_timeout = 0
            else:
                wait = -1
                if timeout >= 0:
                    wait = max(0, timeout - ticks_diff(ticks_ms(), start))
                if nxt is not None:
                    until = max(0, nxt - now_ms())
                    if wait < 0 or until < wait:
                        wait = until
                real_timeout = -1 if wait < 0 else real_ms_for(wait)
                if self._soft_unknown and (real_timeout < 0 or real_timeout > SOFT_POLL_REAL_MS):
                    real_timeout = SOFT_POLL_REAL_MS
            for fd, ev in self._real.poll(real_timeout):
                t = self._ticker_fds.get(fd)
                if t is not None:
                    t.service(now_ms())
                    continue
                e = self._by_fd.get(fd)
                if e is None:
                    continue
                for i in range(len(ready)):
                    if ready[i][0] is e[0]:
                        ready[i] = (e[0], ready[i][1] | ev)
                        break
                else:
                    ready.append((e[0], ev))
            if ready:
                if flags & 1:
                    for obj, _ev in ready:
                        self.modify(obj, 0)
                return ready
            if timeout >= 0 and ticks_diff(ticks_ms(), start) >= timeout:
                return ready


_sleeper = None


def wait(sim_ms, stop=None):
    # Block for sim_ms simulated milliseconds (< 0: until stop() is true),
    # servicing tickers (devices, pin interrupts, the watchdog) meanwhile; return
    # early when stop() becomes true.
    global _sleeper
    if _sleeper is None:
        _sleeper = Poll()
    if sim_ms == 0:
        service_due()
        return
    _sleeper.stop = stop
    try:
        _sleeper.ipoll(int(sim_ms))
    finally:
        _sleeper.stop = None


def wait_fd(obj, mask, sim_ms):
    # Wait until obj (anything select.poll accepts) has an event in mask, for at
    # most sim_ms (< 0: forever). Returns the events (0 on timeout).
    p = Poll()
    p.register(obj, mask)
    try:
        for _obj, ev in p.ipoll(sim_ms):
            return ev
        return 0
    finally:
        p.unregister(obj)


def wait_us(sim_us):
    if sim_us >= 1000:
        wait(sim_us // 1000)
        sim_us %= 1000
    if sim_us > 0:
        real_sleep_us(int(sim_us / speed))


configure()
