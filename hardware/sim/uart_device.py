# Base of the transport-free UART sensor simulators: the chip emits frames
# at simulated times; poll(now_ms) returns the bytes it sent since the last
# poll, and write(data) takes the bytes the node sent. Whoever owns the
# wire (a HAL UART backed by a pty or socketpair, a test) moves the bytes.
#
# Periodic output is scheduled at power-on + startup_ms + k * period_ms.
# After a long gap only the newest `backlog` frames are produced (a real
# UART receive buffer would have overflowed long before): max_frames_lost
# counts the frames skipped that way.

from hardware.sim.errors import FaultMixin
from hardware.sim.xorshift import XorShift32

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hardware.sim.world import World


class UartDevice(FaultMixin):
    BAUD = 9600

    def __init__(
        self,
        clock: "Callable[[], int]",
        world: "World",
        period_ms: int,
        startup_ms: int,
        seed: int,
    ) -> None:
        self.clock = clock
        self.world = world
        self.period_ms = period_ms
        self.startup_ms = startup_ms
        self.faults: set[str] = set()
        self.rng = XorShift32(seed)
        self.backlog = 32
        self.frames_skipped = 0
        self.frames_sent = 0
        self.pending: list[tuple[int, bytes]] = []  # (time, bytes) answers scheduled by write()
        self.powered = False
        self.next_ms = 0
        self.power(True)

    def power(self, on: bool, now_ms: int | None = None) -> None:
        # Switch the module's supply (a load switch on a battery node).
        now = self.clock() if now_ms is None else now_ms
        if on and not self.powered:
            self.on_power_up(now)
            self.next_ms = now + self.startup_ms + self.period_ms
        if not on:
            self.pending = []
        self.powered = on

    def on_power_up(self, now_ms: int) -> None:
        pass

    def periodic(self) -> bool:
        return True

    def frame(self, t_ms: int) -> bytes:
        return b""

    def noise_bytes(self) -> bytes:
        # 1..3 garbage bytes between frames when the "noise" fault is on.
        if "noise" not in self.faults:
            return b""
        n = 1 + self.rng.below(3)
        return bytes(self.rng.below(256) for _ in range(n))

    def poll(self, now_ms: int | None = None) -> bytes:
        now = self.clock() if now_ms is None else now_ms
        if not self.powered:
            return b""
        events: list[tuple[int, bytes | None]] = []
        if self.periodic() and now >= self.next_ms:
            due = (now - self.next_ms) // self.period_ms + 1
            skip = due - self.backlog if due > self.backlog else 0
            self.frames_skipped += skip
            t = self.next_ms + skip * self.period_ms
            while t <= now:
                events.append((t, None))
                t += self.period_ms
            self.next_ms = t
        elif not self.periodic() and now >= self.next_ms:
            self.next_ms = now - (now - self.next_ms) % self.period_ms + self.period_ms
        keep: list[tuple[int, bytes]] = []
        for ev in self.pending:
            if ev[0] <= now:
                events.append(ev)
            else:
                keep.append(ev)
        self.pending = keep
        events.sort(key=lambda e: e[0])
        out = bytearray()
        for t, data in events:
            if "silence" in self.faults or "no_answer" in self.faults:
                continue
            out += self.noise_bytes()
            out += self.frame(t) if data is None else data
            self.frames_sent += 1
        return bytes(out)

    def write(self, data: bytes) -> None:
        pass
