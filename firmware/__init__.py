# CityNerve node firmware. The same package runs on the board (MicroPython),
# on the MicroPython unix port under test, and under CPython for load generators.
