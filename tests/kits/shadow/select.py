# Shadow `select` for the kit tests under MicroPython: asyncio's wait for I/O
# becomes a wait in virtual time (tests/kits/vclock.py). Objects registered
# here (asyncio.ThreadSafeFlag) are asked through ioctl(MP_STREAM_POLL) if
# they are ready; pin interrupts fired on the way can make them ready.

import vclock

POLLIN = 1
POLLOUT = 4
POLLERR = 8
POLLHUP = 16
_STREAM_POLL = 3


class _Poll:
    def __init__(self):
        self.objs = []
        self.masks = []

    def register(self, obj, mask=POLLIN | POLLOUT):
        if obj in self.objs:
            self.masks[self.objs.index(obj)] = mask
        else:
            self.objs.append(obj)
            self.masks.append(mask)

    def modify(self, obj, mask):
        self.register(obj, mask)

    def unregister(self, obj):
        if obj in self.objs:
            i = self.objs.index(obj)
            self.objs.pop(i)
            self.masks.pop(i)

    def _ready(self):
        out = []
        for i in range(len(self.objs)):
            obj = self.objs[i]
            ev = obj.ioctl(_STREAM_POLL, self.masks[i])
            if ev:
                out.append((obj, ev))
        return out

    def ipoll(self, timeout=-1, flags=0):
        ready = self._ready()
        if ready or timeout == 0:
            return ready
        target = None if timeout < 0 else vclock.now[0] + timeout
        vclock.run_until(target, self._ready)
        return self._ready()

    def poll(self, timeout=-1):
        return self.ipoll(timeout)


def poll():
    return _Poll()
