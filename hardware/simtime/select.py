# mypy: ignore-errors
# Shadow `select` module: poll() timeouts in simulated milliseconds, file
# descriptors polled by the real poll (idle costs nothing), simulated devices
# and pin interrupts serviced while waiting. See simclock.Poll.

import simclock

POLLIN = simclock.POLLIN
POLLOUT = simclock.POLLOUT
POLLERR = simclock.POLLERR
POLLHUP = simclock.POLLHUP


def poll():
    return simclock.Poll()
