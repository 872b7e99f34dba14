# Deterministic pseudo-random numbers that give the same sequence under
# MicroPython and CPython: Marsaglia's xorshift32 (shifts 13, 17, 5).

MASK32 = 0xFFFFFFFF


def step(x: int) -> int:
    # One xorshift32 step on a non-zero 32-bit state.
    x ^= (x << 13) & MASK32
    x ^= x >> 17
    x ^= (x << 5) & MASK32
    return x & MASK32


def mix(seed: int, n: int) -> int:
    # A stateless 32-bit hash of (seed, n): noise that depends only on the
    # time it is asked for, not on how often or in which order it is asked.
    x = (seed * 0x9E3779B1 + n * 0x85EBCA6B + 0x27D4EB2F) & MASK32
    if x == 0:
        x = 0x6D2B79F5
    x = step(step(x))
    return step(x ^ ((n >> 32) & MASK32))


class XorShift32:
    # A stream of 32-bit values; seed 0 is replaced by a fixed non-zero value.
    def __init__(self, seed: int = 2463534242) -> None:
        seed &= MASK32
        self.state = seed if seed else 2463534242

    def next(self) -> int:
        self.state = step(self.state)
        return self.state

    def below(self, n: int) -> int:
        # An integer in [0, n).
        return self.next() % n

    def signed(self, amplitude: int) -> int:
        # An integer in [-amplitude, amplitude].
        if amplitude <= 0:
            return 0
        return self.next() % (2 * amplitude + 1) - amplitude
