# What the app needs from MicroPython that CPython spells differently, so the
# same modules run in-process under CPython (load generators). MicroPython's
# compiler folds `_NAME = const(...)` wherever const comes from.

import time

try:
    from micropython import const
except ImportError:

    def const(x):  # type: ignore[no-redef,misc]
        return x


try:
    sleep_ms = time.sleep_ms
except AttributeError:

    def sleep_ms(ms):  # type: ignore[misc]
        time.sleep(ms / 1000)


__all__ = ["const", "sleep_ms"]
