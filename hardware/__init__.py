"""CityNerve hardware: board pin maps, sensor kits and register-level chip simulators.

The simulators run under MicroPython as well as CPython, so this package imports
nothing at the top level.
"""
