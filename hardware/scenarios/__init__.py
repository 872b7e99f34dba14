# World scenarios as data: each kit module defines SCENARIOS, a dict of
# scenario name -> a function that builds the scenario dict (the format is
# described in hardware/sim/world.py), so a node's heap only holds the one
# it runs. Names are stable identifiers "<kit>.<case>". Plain Python that
# MicroPython and CPython both import; the builders only assemble lists of
# integer points.

KITS = ("elevator", "hydrant", "manhole")


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Builder = Callable[[], dict[str, Any]]


def table(kit: str) -> "dict[str, Builder]":
    # The SCENARIOS of one kit: name -> builder (module imported on first use).
    if kit == "elevator":
        from hardware.scenarios import elevator  # noqa: PLC0415

        return elevator.SCENARIOS
    if kit == "hydrant":
        from hardware.scenarios import hydrant  # noqa: PLC0415

        return hydrant.SCENARIOS
    if kit == "manhole":
        from hardware.scenarios import manhole  # noqa: PLC0415

        return manhole.SCENARIOS
    raise ValueError("unknown kit %r" % kit)


def get(name: str) -> "dict[str, Any]":
    # A freshly built scenario dict (callers may keep or modify it).
    t = table(name.split(".", 1)[0])
    if name not in t:
        raise ValueError("unknown scenario %r" % name)
    return t[name]()


def names(kit: str | None = None) -> list[str]:
    out: list[str] = []
    for k in KITS:
        if kit is None or k == kit:
            out.extend(sorted(table(k)))
    return out
