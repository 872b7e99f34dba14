"""Code that runs on the node: the installer (MicroPython and CPython)."""
