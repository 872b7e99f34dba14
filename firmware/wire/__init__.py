# The node <-> edge wire protocol: one home for its constants and shapes.
# Every module in this package runs unmodified under MicroPython and CPython.
