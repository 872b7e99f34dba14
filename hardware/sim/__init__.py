# Register-level simulators of the chips the CityNerve drivers talk to.
#
# Plain Python that runs under MicroPython (unix port 1.29) and CPython 3.11
# alike: no typing, no dataclasses, no floats in outputs; one chip per module.
# Simulated time comes from a `clock` callable returning milliseconds (int);
# physical inputs come from a `world` object (see world.py).
