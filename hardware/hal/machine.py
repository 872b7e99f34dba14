# mypy: ignore-errors
# ruff: noqa: PLW0603
# A `machine` module for the MicroPython unix port: the simulated board.
#
# The boot script (hardware/hal/boot.py) imports it as the top-level module
# `machine` with this directory first on sys.path: a machine.py on sys.path wins
# over the built-in `machine` (it is an extensible built-in, like time and
# select), so the firmware's `import machine` gets this module. Never import it
# as hardware.hal.machine (that would be a second board).
#
# API-compatible with the ESP32/RP2 ports for what the firmware uses: Pin (with
# irq), ADC, I2C/SoftI2C, UART, WDT, RTC, reset_cause, reset, soft_reset,
# deepsleep, lightsleep, wake_reason, unique_id, freq, idle, disable_irq,
# enable_irq; the built-in's PinBase, Signal, mem8/16/32, time_pulse_us.
# Simulated hardware comes from hardware.hal.registry; time from simclock.
#
# Board events end the process with a distinctive status (hardware/hal/codes.py)
# after writing an exit record to the state file; the supervisor restarts the
# process with the matching reset cause.

import io
import json
import socket
import termios
import time

import simclock

from hardware.hal import codes, registry

_builtin = simclock._import_real("machine")
PinBase = _builtin.PinBase
Signal = _builtin.Signal
mem8 = _builtin.mem8
mem16 = _builtin.mem16
mem32 = _builtin.mem32
time_pulse_us = _builtin.time_pulse_us
_os = simclock._os

PWRON_RESET = codes.PWRON_RESET
HARD_RESET = codes.HARD_RESET
WDT_RESET = codes.WDT_RESET
DEEPSLEEP_RESET = codes.DEEPSLEEP_RESET
SOFT_RESET = codes.SOFT_RESET
PIN_WAKE = codes.PIN_WAKE
EXT1_WAKE = codes.EXT1_WAKE
TIMER_WAKE = codes.TIMER_WAKE
IDLE = 1
SLEEP = 2
DEEPSLEEP = 4

_EAGAIN = 11
_ENODEV = 19
_EINVAL = 22

# -- the state file: RTC memory, RTC offset, exit records -------------------

_state = None


def _state_path():
    return registry.config.get("state")


def _load_state():
    global _state
    if _state is None:
        _state = {}
        path = _state_path()
        if path:
            try:
                with open(path) as f:
                    data = json.load(f)
                if isinstance(data, dict):
                    _state = data
            except (OSError, ValueError):
                pass
    return _state


def _save_state():
    path = _state_path()
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(_load_state(), f)
    _os.rename(tmp, path)


def _exit(code, cause, **fields):
    # Ends the board process: exit record, message, SystemExit(code).
    st = _load_state()
    rec = {
        "cause": cause,
        "code": code,
        "world_ms": simclock.world_ms(),
        "rtc_offset_ms": simclock.rtc_offset_ms(),
    }
    for k, v in fields.items():
        rec[k] = v
    st["exit"] = rec
    # pads held through a deep sleep (Pin(..., hold=True)); any other event
    # lets them go
    held = [[p.id, p.pad] for p in _pins.values() if p.hold and p.mode in (Pin.OUT, Pin.OPEN_DRAIN)]
    if registry.config.get("deep_wake") == "esp32_gpio" and not deep_sleep_hold[0]:
        # an ESP32-C3 holds its digital (non-RTC) pads through a deep sleep
        # only after esp32.gpio_deep_sleep_hold(True)
        rtc = registry.config.get("deep_wake_pins") or ()
        held = [h for h in held if h[0] in rtc]
    if cause == "deepsleep" and held:
        st["held"] = held
        rec["held"] = held
    else:
        st.pop("held", None)
    for hook in registry.exit_hooks:
        hook()
    st["rtc_offset_ms"] = simclock.rtc_offset_ms()
    try:
        _save_state()
    except OSError as e:
        print("machine: cannot write state file %s: %s" % (_state_path(), e))
    if _os.getenv(codes.ENV_CONSOLE):
        # Under `micropython -i` (the pty console) SystemExit from the script
        # drops into the REPL instead of ending the process: end it for real
        # (the exit record tells the supervisor what happened).
        _os.system("kill -KILL $PPID")
    raise SystemExit(code)


def _env_int(name, names, default):
    text = _os.getenv(name)
    if not text:
        return default
    if text in names:
        return names[text]
    try:
        return int(text)
    except ValueError:
        return default


def reset_cause():
    return _env_int(codes.ENV_RESET_CAUSE, codes.RESET_CAUSES, PWRON_RESET)


# State that devices powered by the battery keep while the MCU sleeps or
# resets (the chip simulators' registers: hardware/sim/attach.py); a
# power-on (a new supervisor run) clears it with the state file.
def device_state():
    return _load_state().setdefault("devices", {})


def wake_reason():
    return _env_int(codes.ENV_WAKE_REASON, {}, 0)


def reset():
    print("machine.reset()")
    _exit(codes.EXIT_HARD_RESET, "reset")


def soft_reset():
    _exit(codes.EXIT_SOFT_RESET, "soft_reset")


def unique_id():
    uid = registry.config.get("unique_id") or "a4cf12000001"
    out = bytearray(len(uid) // 2)
    for i in range(len(out)):
        out[i] = int(uid[2 * i : 2 * i + 2], 16)
    return bytes(out)


_freq = [160000000]


def freq(hz=None):
    if hz is None:
        return _freq[0]
    _freq[0] = hz
    return None


def idle():
    simclock.wait(1)


_irq_state = [1]


def disable_irq():
    was = _irq_state[0]
    _irq_state[0] = 0
    return was


def enable_irq(state=1):
    _irq_state[0] = 1 if state else 0
    if _irq_state[0]:
        _watcher.flush()


# -- Pin ------------------------------------------------------------------------


class _PinState:
    def __init__(self, pin_id):
        self.id = pin_id
        self.mode = -1
        self.pull = -1
        self.out = 0
        self.handler = None
        self.trigger = 0
        self.wake = None
        self.wake_level = None
        self.hold = False
        self.pad = 0  # the output level on the wire (out, unless held)
        self.obj = None
        self.last = None
        self.flags = 0


_pins = {}


def _pin_state(pin_id):
    st = _pins.get(pin_id)
    if st is None:
        st = _PinState(pin_id)
        _pins[pin_id] = st
    return st


class _PinIRQ:
    def __init__(self, st):
        self._st = st

    def trigger(self, value=None):
        if value is not None:
            self._st.trigger = value
        return self._st.trigger

    def flags(self):
        return self._st.flags


class Pin(PinBase):
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    ALT = 8
    ANALOG = 3 << 8
    PULL_UP = 2
    PULL_DOWN = 1
    PULL_HOLD = 4
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __init__(self, id, mode=-1, pull=-1, value=None, drive=None, alt=None, *, hold=None):  # noqa: PLR0917
        self._id = id
        self._st = _pin_state(id)
        self.init(mode, pull, value, hold=hold)

    # hold=True keeps the pad at its level through deep sleep, and while held
    # writes change only the output register (the ESP32 port's pad hold:
    # given, it is released first so that the register reaches the pad).
    def init(self, mode=-1, pull=-1, value=None, drive=None, alt=None, *, hold=None):
        st = self._st
        if mode != -1:
            st.mode = mode
        if pull != -1:
            st.pull = pull
        if value is not None:
            self._drive(value)
        if hold is not None:
            st.hold = False
            self._drive(st.out)
            st.hold = bool(hold)

    def __repr__(self):
        return "Pin(%r)" % (self._id,)

    def _input_level(self):
        st = self._st
        default = 1 if st.pull == Pin.PULL_UP else 0
        return registry.pin_level(self._id, default)

    def _drive(self, value):
        st = self._st
        st.out = 1 if value else 0
        if st.hold:
            return
        st.pad = st.out
        src = registry.pins.get(self._id)
        drive = getattr(src, "drive", None)
        if drive is not None:
            drive(st.pad, simclock.now_ms())

    def value(self, x=None):
        st = self._st
        if x is None:
            if st.mode == Pin.OUT:
                return st.pad
            level = self._input_level()
            if st.mode == Pin.OPEN_DRAIN and st.out == 0:
                return 0
            return level
        self._drive(x)
        return None

    def __call__(self, x=None):
        return self.value(x)

    def on(self):
        self._drive(1)

    def off(self):
        self._drive(0)

    high = on
    low = off

    def toggle(self):
        self._drive(0 if self._st.out else 1)

    def mode(self, mode=None):
        if mode is None:
            return self._st.mode
        self._st.mode = mode
        return None

    def pull(self, pull=None):
        if pull is None:
            return self._st.pull
        self._st.pull = pull
        return None

    def irq(self, handler=None, trigger=3, priority=1, wake=None, hard=False):
        # handler(pin) runs like a scheduled (soft) interrupt when the input
        # level changes in a direction in trigger; wake=DEEPSLEEP makes the pin
        # end a deep sleep (on the level given by trigger WAKE_LOW/WAKE_HIGH, or
        # on any change in trigger).
        st = self._st
        if wake is not None and wake & DEEPSLEEP:
            if registry.config.get("deep_wake") == "esp32_gpio":
                # the ESP32 port arms a deep-sleep wake from Pin.irq through EXT0,
                # which the ESP32-C3 does not have
                raise ValueError(
                    "Pin(%s).irq(wake=DEEPSLEEP): this chip has no EXT0 wake; "
                    "use esp32.wake_on_gpio(pins, level)" % (st.id,)
                )
            _check_deep_wake_pin(st.id)
        st.handler = handler
        st.trigger = trigger if handler is not None else 0
        st.obj = self
        st.wake = wake
        st.wake_level = {Pin.WAKE_LOW: 0, Pin.WAKE_HIGH: 1}.get(trigger)
        st.last = self._input_level()
        _watcher.update()
        return _PinIRQ(st)


class _PinWatcher:
    # A simclock ticker: fires pin interrupt handlers when an input level
    # changes. Scheduled sources (next_change_ms) are looked at exactly when
    # they change; Level sources when they are set; plain callables every
    # SAMPLE_MS simulated ms (and at least every 20 real ms).
    fd = None
    SAMPLE_MS = 10

    def __init__(self):
        self._epoch = -1
        self._pending = []
        self._watched = []
        self._last_sample = 0

    def update(self):
        self._last_sample = simclock.now_ms()
        self._watched = [st for st in _pins.values() if st.handler is not None]
        self._epoch = -1
        if self._watched:
            simclock.add_ticker(self)
        else:
            simclock.remove_ticker(self)

    def next_ms(self, now):
        if self._pending or self._epoch != registry.pin_epoch[0]:
            return now
        nxt = None
        for st in self._watched:
            src = registry.pins.get(st.id)
            if src is None or isinstance(src, (int, registry.Level)):
                continue
            nc = getattr(src, "next_change_ms", None)
            if nc is not None:
                # The first change after we last looked (it may be past now).
                due = nc(self._last_sample)
            else:
                due = self._last_sample + max(self.SAMPLE_MS, int(20 * simclock.speed))
            if due is not None and (nxt is None or due < nxt):
                nxt = due
        return nxt

    def service(self, now):
        self._epoch = registry.pin_epoch[0]
        self._last_sample = now
        for st in self._watched:
            level = registry.pin_level(st.id, 1 if st.pull == Pin.PULL_UP else 0)
            if st.last is None:
                st.last = level
                continue
            if level == st.last:
                continue
            edge = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
            st.last = level
            if st.trigger & edge:
                st.flags = edge
                self._pending.append(st)
        self.flush()

    def flush(self):
        if not _irq_state[0]:
            return
        while self._pending:
            st = self._pending.pop(0)
            if st.handler is not None:
                st.handler(st.obj)


_watcher = _PinWatcher()


def _restore_held():
    # A wake from deep sleep finds the held pads where they were left (any
    # other start finds them released).
    held = _load_state().pop("held", None)
    if reset_cause() != DEEPSLEEP_RESET or not isinstance(held, list):
        return
    for pin_id, level in held:
        st = _pin_state(pin_id)
        st.mode = Pin.OUT
        st.hold = True
        st.pad = level


_restore_held()


# -- ADC ---------------------------------------------------------------------------


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 12
    FULL_SCALE_UV = (950000, 1250000, 1750000, 3300000)

    def __init__(self, pin, atten=3):
        self._id = pin._id if isinstance(pin, Pin) else pin
        self._atten = atten

    def atten(self, atten):
        self._atten = atten

    def width(self, bits):
        pass

    def read_uv(self):
        src = registry.adcs.get(self._id)
        if src is None:
            return 0
        now = simclock.now_ms()
        if isinstance(src, int):
            uv = src
        else:
            read = getattr(src, "read_uv", None)
            uv = read(now) if read is not None else src(now)
        full = self.FULL_SCALE_UV[self._atten & 3]
        return max(0, min(int(uv), full))

    def read_u16(self):
        full = self.FULL_SCALE_UV[self._atten & 3]
        return self.read_uv() * 65535 // full

    def read(self):
        return self.read_u16() >> 4


# -- I2C -------------------------------------------------------------------------


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        self._id = id
        self.freq = freq

    def _bus(self):
        bus = registry.i2c_buses.get(self._id)
        if bus is None:
            raise OSError(_ENODEV)
        return bus

    def init(self, *, scl=None, sda=None, freq=400000):
        self.freq = freq

    def deinit(self):
        pass

    def scan(self):
        bus = registry.i2c_buses.get(self._id)
        return [] if bus is None else list(bus.scan())

    def writeto(self, addr, buf, stop=True):
        return self._bus().writeto(addr, buf, stop)

    def readfrom_into(self, addr, buf, stop=True):
        self._bus().readfrom_into(addr, buf, stop)

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)

    def writevto(self, addr, vector, stop=True):
        bus = self._bus()
        if hasattr(bus, "writevto"):
            return bus.writevto(addr, vector, stop)
        data = bytearray()
        for b in vector:
            data.extend(b)
        return bus.writeto(addr, data, stop)

    def _memaddr(self, memaddr, addrsize):
        n = addrsize // 8
        out = bytearray(n)
        for i in range(n):
            out[i] = (memaddr >> (8 * (n - 1 - i))) & 0xFF
        return out

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        bus = self._bus()
        if hasattr(bus, "readfrom_mem_into"):
            bus.readfrom_mem_into(addr, memaddr, buf, addrsize=addrsize)
            return
        bus.writeto(addr, self._memaddr(memaddr, addrsize), False)
        bus.readfrom_into(addr, buf, True)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf, addrsize=addrsize)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        bus = self._bus()
        if hasattr(bus, "writeto_mem"):
            bus.writeto_mem(addr, memaddr, buf, addrsize=addrsize)
            return
        data = self._memaddr(memaddr, addrsize)
        data.extend(buf)
        bus.writeto(addr, data, True)


SoftI2C = I2C


# -- UART ------------------------------------------------------------------------

_pair_count = [0]


def _socketpair():
    # A connected pair of AF_UNIX stream sockets (MicroPython has no
    # socket.socketpair): listen on a unique abstract address, connect, accept.
    _pair_count[0] += 1
    name = b"citynerve-uart-%d-%s" % (_pair_count[0], _hex(_os.urandom(6)))
    addr = b"\x01\x00\x00" + name  # sockaddr_un, abstract namespace
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lst.bind(addr)
        lst.listen(1)
        a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        a.connect(addr)
        b, _peer = lst.accept()
    finally:
        lst.close()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def _hex(data):
    return "".join("%02x" % x for x in data).encode()


def _sock_read(sock, n):
    # Up to n bytes without blocking; b"" when nothing is there.
    try:
        data = sock.recv(n)
    except OSError as e:
        if e.args and e.args[0] == _EAGAIN:
            return b""
        raise
    return data


class _DevicePump:
    # Ticker driving an in-process UART device through the far end of the pair.
    POLL_MS = 20

    def __init__(self, device, end):
        self.device = device
        self.end = end
        self.fd = end.fileno()
        self.overflows = 0
        self._out = b""
        self._last = simclock.now_ms()
        self._wrote = False

    def next_ms(self, now):
        if self._out or self._wrote:
            return now
        nm = getattr(self.device, "next_ms", None)
        if nm is not None:
            return nm(now)
        return self._last + max(self.POLL_MS, int(10 * simclock.speed))

    def service(self, now):
        self._wrote = False
        while True:
            data = _sock_read(self.end, 512)
            if not data:
                break
            self.device.write(data)
        self._last = now
        out = self.device.poll(now)
        if out:
            self._out += out
        if self._out:
            try:
                n = self.end.write(self._out)
            except OSError:
                n = 0
            n = n or 0
            self._out = self._out[n:]
            if len(self._out) > 4096:
                self.overflows += len(self._out) - 4096
                self._out = self._out[-4096:]

    def close(self):
        simclock.remove_ticker(self)
        self.end.close()


class _Channel:
    # The MCU end of one UART: a socket (or tty) plus, for an in-process
    # device, the pump on the far end.
    def __init__(self, uart_id):
        target = registry.uarts.get(uart_id)
        self.pump = None
        self.sock = None
        self.file = None
        if target is None or not isinstance(target, str):
            self.sock, far = _socketpair()
            if target is None:
                target = _NoDevice()
            self.pump = _DevicePump(target, far)
            simclock.add_ticker(self.pump)
        else:
            kind = registry.parse_address(target)
            if kind[0] == 0:
                self._open_tty(kind[1])
            else:
                self.sock = self._connect(target, kind)
        self.fd = self.sock.fileno() if self.sock is not None else self.file.fileno()

    def _connect(self, target, kind):
        if kind[0] == 1:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            addr = b"\x01\x00" + kind[1].encode() + b"\x00"
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            addr = socket.getaddrinfo(kind[1], kind[2])[0][-1]
        try:
            s.connect(addr)
        except OSError as e:
            s.close()
            raise OSError(e.args[0], "UART link %s: cannot connect" % target) from None
        s.setblocking(False)
        return s

    def _open_tty(self, path):
        self.file = open(path, "r+b")  # noqa: SIM115 (open while the UART is)
        fd = self.file.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        cc = attrs[6]
        cc[6] = 0  # VMIN: reads return what is there, possibly nothing
        cc[5] = 0  # VTIME
        termios.tcsetattr(fd, termios.TCSANOW, attrs)

    def read_avail(self, n):
        if self.pump is not None:
            self.pump.service(simclock.now_ms())
        if self.sock is not None:
            return _sock_read(self.sock, n)
        return self.file.read(n) or b""

    def write(self, buf):
        mv = memoryview(buf)
        done = 0
        while done < len(mv):
            if self.sock is not None:
                try:
                    n = self.sock.write(mv[done:])
                except OSError as e:
                    if not (e.args and e.args[0] == _EAGAIN):
                        raise
                    n = None
            else:
                n = self.file.write(mv[done:])
            if n:
                done += n
                continue
            simclock.wait_fd(self.fd, simclock.POLLOUT, 1000)
        if self.pump is not None:
            self.pump._wrote = True
        return done

    def close(self):
        if self.pump is not None:
            self.pump.close()
        if self.sock is not None:
            self.sock.close()
        if self.file is not None:
            self.file.close()


class _NoDevice:
    # Nothing wired to the UART: writes vanish, nothing is received.
    def poll(self, now):
        return b""

    def write(self, data):
        pass

    def next_ms(self, now):
        return None


_channels = {}


class UART(io.IOBase):
    # Backed by a real file descriptor: asyncio.StreamReader(uart) waits in
    # poll() on it without burning CPU. Bytes read from the fd but not yet
    # consumed stay in self._rx; select (shadow) asks ioctl(3) about those.
    INV_TX = 1
    INV_RX = 2
    RTS = 1
    CTS = 2
    _sim_buffered = True

    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, **kw):
        self._id = id
        ch = _channels.get(id)
        if ch is None:
            ch = _Channel(id)
            _channels[id] = ch
        self._ch = ch
        self._rx = b""
        self.init(baudrate, bits, parity, stop, **kw)

    def init(
        self,
        baudrate=9600,
        bits=8,
        parity=None,
        stop=1,
        *,
        tx=None,
        rx=None,
        timeout=0,
        timeout_char=0,
        rxbuf=256,
        txbuf=256,
        flow=0,
        invert=0,
        rts=None,
        cts=None,
    ):
        self.baudrate = baudrate
        self.bits = bits
        self.parity = parity
        self.stop = stop
        self.timeout = timeout
        self.timeout_char = timeout_char
        self.rxbuf = max(rxbuf, 32)
        # a UART shared by several sensors through pin re-routing (ESP32-C3):
        # tell the in-process device which pins are connected now
        pump = self._ch.pump
        if pump is not None and hasattr(pump.device, "route"):
            pump.device.route(tx, rx)

    def deinit(self):
        ch = _channels.pop(self._id, None)
        if ch is not None:
            ch.close()

    def __repr__(self):
        return "UART(%r, baudrate=%d)" % (self._id, self.baudrate)

    def fileno(self):
        return self._ch.fd

    def _fill(self):
        room = self.rxbuf - len(self._rx)
        if room > 0:
            data = self._ch.read_avail(room)
            if data:
                self._rx += data

    def _wait(self, want, timeout):
        # Fill until `want` bytes are buffered or `timeout` simulated ms pass.
        self._fill()
        if len(self._rx) >= want or timeout <= 0:
            return
        deadline = simclock.ticks_add(simclock.ticks_ms(), timeout)
        while len(self._rx) < want:
            left = simclock.ticks_diff(deadline, simclock.ticks_ms())
            if left <= 0:
                return
            simclock.wait_fd(self._ch.fd, simclock.POLLIN, left)
            self._fill()

    def any(self):
        self._fill()
        return len(self._rx)

    def read(self, nbytes=None):
        self._wait(1 if nbytes is None else nbytes, self.timeout)
        if not self._rx:
            return None
        if nbytes is None or nbytes >= len(self._rx):
            data = self._rx
            self._rx = b""
        else:
            data = self._rx[:nbytes]
            self._rx = self._rx[nbytes:]
        return data

    def readinto(self, buf, nbytes=None):
        n = len(buf) if nbytes is None else min(nbytes, len(buf))
        data = self.read(n)
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def readline(self):
        deadline = simclock.ticks_add(simclock.ticks_ms(), self.timeout)
        while True:
            self._fill()
            i = self._rx.find(b"\n")
            if i >= 0:
                data = self._rx[: i + 1]
                self._rx = self._rx[i + 1 :]
                return data
            left = simclock.ticks_diff(deadline, simclock.ticks_ms())
            if left <= 0 or len(self._rx) >= self.rxbuf:
                break
            simclock.wait_fd(self._ch.fd, simclock.POLLIN, left)
        if not self._rx:
            return None
        data = self._rx
        self._rx = b""
        return data

    def write(self, buf):
        return self._ch.write(buf)

    def flush(self):
        pass

    def txdone(self):
        return True

    def sendbreak(self):
        pass

    def ioctl(self, req, arg):
        if req == 10:  # MP_STREAM_GET_FILENO
            return self._ch.fd
        if req == 3:  # MP_STREAM_POLL: bytes already buffered here
            if self._rx and arg & simclock.POLLIN:
                return simclock.POLLIN
            return 0
        if req == 4:  # MP_STREAM_CLOSE
            return 0
        return -1


# -- WDT ---------------------------------------------------------------------------


def _wdt_expired():
    print("WDT RESET")
    _exit(codes.EXIT_WDT, "wdt")


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("WDT timeout must be >= 1 ms")
        self.timeout = timeout
        simclock.wdt_arm(timeout, _wdt_expired)

    def feed(self):
        simclock.wdt_feed(self.timeout)


# -- RTC --------------------------------------------------------------------------

RTC_MEMORY_SIZE = 2048


class RTC:
    def __init__(self, id=0):
        pass

    def init(self, datetime=None):
        if datetime is not None:
            self.datetime(datetime)

    def datetime(self, dt=None):
        if dt is None:
            us = simclock.epoch_us()
            t = time.gmtime(us // 1000000)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], us % 1000000)
        secs = time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        sub = dt[7] if len(dt) > 7 else 0
        simclock.set_time(secs + sub / 1000000)
        st = _load_state()
        st["rtc_offset_ms"] = simclock.rtc_offset_ms()
        _save_state()
        return None

    def memory(self, data=None):
        st = _load_state()
        if data is None:
            text = st.get("rtc_memory", "")
            try:
                return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2))
            except ValueError:
                return b""
        if len(data) > RTC_MEMORY_SIZE:
            raise ValueError("RTC memory holds %d bytes" % RTC_MEMORY_SIZE)
        st["rtc_memory"] = _hex(data).decode()
        _save_state()
        return None


# -- sleep ------------------------------------------------------------------------


# Deep-sleep wakes armed through the `esp32` module (hardware/hal/esp32.py):
# {pin id: level} of the last esp32.wake_on_gpio(), and whether
# esp32.gpio_deep_sleep_hold(True) keeps held digital pads through a deep sleep.
gpio_wake = {}
deep_sleep_hold = [False]


def _check_deep_wake_pin(pin_id):
    capable = registry.config.get("deep_wake_pins")
    if capable is not None and pin_id not in capable:
        raise ValueError(
            "Pin(%s) cannot wake the chip from deep sleep (pins that can: %s)"
            % (pin_id, ", ".join(str(p) for p in capable))
        )


def _wake_pins():
    # {pin: level} from the config, esp32.wake_on_gpio() and pins whose irq
    # has wake=DEEPSLEEP.
    out = {}
    cfg = registry.config.get("wake_pins") or {}
    for pin, level in cfg.items():
        out[pin] = level
    for pin, level in gpio_wake.items():
        out[pin] = level
    for st in _pins.values():
        if st.wake is not None and st.wake & DEEPSLEEP:
            if st.wake_level is not None:
                out[st.id] = st.wake_level
            else:
                out[st.id] = 0 if (st.last if st.last is not None else 0) else 1
    return out


def _first_wake(now, until):
    # (ms, pin) of the first wake-pin level in [now, until], else (until, None).
    best = until
    who = None
    pins = _wake_pins()
    for pin in pins:
        level = pins[pin]
        src = registry.pins.get(pin)
        if src is None:
            continue
        t = now
        steps = 0
        while t is not None and t <= best and steps < 10000:
            if registry.level_of(src, t) == level:
                if t < best or who is None:
                    best = t
                    who = pin
                break
            nc = getattr(src, "next_change_ms", None)
            if nc is None:
                if isinstance(src, (int, registry.Level)):
                    break
                t += 1000
            else:
                t = nc(t)
            steps += 1
    return best, who


def deepsleep(ms=None):
    # Ends the process (exit 18); the supervisor restarts it after `ms`
    # simulated ms (or when a wake pin reaches its level) with
    # reset_cause() == DEEPSLEEP_RESET and wake_reason() TIMER_WAKE/PIN_WAKE.
    now = simclock.now_ms()
    limit = now + (ms if ms is not None and ms > 0 else 1 << 40)
    at, pin = _first_wake(now, limit)
    reason = TIMER_WAKE if pin is None else PIN_WAKE
    _exit(
        codes.EXIT_DEEPSLEEP,
        "deepsleep",
        sleep_ms=ms,
        # scenario time + origin: however long finding the wake took
        wake_world_ms=at + simclock.origin_ms(),
        wake_reason=reason,
        wake_pin=pin,
    )


def lightsleep(ms=None):
    # Waits `ms` simulated ms (forever if None) or until a wake pin reaches its
    # level (the first time it does, from the pin sources' schedules); pin
    # interrupts run meanwhile, as on a board.
    now = simclock.now_ms()
    forever = ms is None or ms < 0
    at, pin = _first_wake(now, now + (1 << 40 if forever else ms))
    if pin is None and forever:
        simclock.wait(-1)
    elif at > simclock.now_ms():
        simclock.wait(at - simclock.now_ms())
