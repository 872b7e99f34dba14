# The simulated board (HAL) for the MicroPython unix port: a `machine` module,
# its device registry, the boot script and the CPython supervisor.
